//! Talking to upstream providers.
//!
//! - [`adapter`]: the seam — which account kinds serve each client API, and the one dispatch
//!   from (client API, account kind) to the adapter that builds the upstream request.
//! - [`convert`]: the converted hop (a client of one dialect, an account of another).
//! - [`client`]: one reused HTTP client per proxy configuration.
//! - [`headers`]: header hygiene shared by every adapter.
//! - [`anthropic`], [`bedrock`], [`openai`], [`gemini`]: the adapters of each account kind.
//! - [`oauth`]: signing in with a subscription (authorisation code with PKCE).
//! - [`tokens`]: OAuth access tokens, refreshed before expiry and once on 401, single-flight.
//! - [`classify`]: one classification of upstream failures that drives both failover and the
//!   account's state.
//! - [`passthrough`]: the response body type that forwards bytes untouched while a usage tap
//!   reads them.

pub mod adapter;
pub mod anthropic;
pub mod bedrock;
pub mod classify;
pub mod client;
pub mod convert;
pub mod gemini;
pub mod headers;
pub mod oauth;
pub mod openai;
pub mod passthrough;
pub mod probe;
pub mod sigv4;
pub mod tokens;

pub use classify::{Classified, Failure, StateChange};
pub use client::{ClientPool, UpstreamHosts};
pub use passthrough::{Finished, PassthroughBody, TapMode};

use switchyard_core::account::{Account, AccountKind};

/// The OAuth provider that refreshes this account's access token, if it uses one.
pub fn oauth_client_for(account: &Account, hosts: &UpstreamHosts) -> Option<tokens::OAuthClient> {
    match account.kind {
        AccountKind::ClaudeOfficial
            if account.credentials.access_token.is_some()
                || account.credentials.refresh_token.is_some() =>
        {
            Some(anthropic::oauth_client(hosts))
        }
        AccountKind::OpenaiResponses if openai::is_chatgpt_token(account) => {
            Some(openai::chatgpt_oauth_client(hosts))
        }
        AccountKind::Gemini
            if account.credentials.refresh_token.is_some()
                || account.credentials.access_token.is_some() =>
        {
            Some(gemini::oauth_client(account, hosts))
        }
        _ => None,
    }
}
