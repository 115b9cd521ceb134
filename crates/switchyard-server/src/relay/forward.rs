//! Phase 6, forward: one attempt on the account the router picked — its credentials (the OAuth
//! access token; for a Google login, the Code Assist project), the upstream request the
//! adapter builds, sent within the first-byte timeout — and the account events its failures
//! are.

use chrono::Utc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_core::Secret;
use switchyard_core::account::{Account, AccountKind};
use switchyard_core::account_event::AccountEvent;
use switchyard_upstream::adapter::{self, AdapterError, Answer, Api, Grant, Prepared};
use switchyard_upstream::classify::{self, Classified, Cooldowns, Failure};
use switchyard_upstream::tokens::{OAuthClient, TokenError};

use super::request::RelayRequest;
use crate::state::AppState;

/// An attempt whose request is built and ready to send.
pub struct Attempt {
    pub account: Arc<Account>,
    pub upstream_model: String,
    pub http: reqwest::Client,
    /// The account's OAuth client and the token sent (for a refresh after a 401).
    pub oauth: Option<OAuthClient>,
    pub bearer: Option<Secret>,
}

/// Why an attempt was not sent.
pub enum Unsent {
    /// This account cannot take the request now (its proxy, token, project or a credential
    /// is missing; what that means for it is applied): try another.
    Skip,
    /// The account has no upstream name for the model; another may.
    Unmapped(AdapterError),
    /// The request cannot be served this way: answer the client and send nothing.
    Refuse(AdapterError),
}

/// Gets the account's credentials and builds its upstream request.
pub async fn prepare(
    state: &Arc<AppState>,
    req: &RelayRequest,
    account: Arc<Account>,
    upstream_model: String,
    first_byte_timeout: Duration,
) -> Result<(Attempt, Prepared), Unsent> {
    let http = match state.clients.get(account.proxy_url.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(account = %account.name, error = %e, "account proxy unusable");
            return Err(Unsent::Skip);
        }
    };
    let oauth = switchyard_upstream::oauth_client_for(&account, &state.hosts);
    let bearer = match &oauth {
        Some(o) => match state
            .tokens
            .access_token(&account, &http, o, None, Utc::now())
            .await
        {
            Ok(t) => Some(t),
            Err(e) => {
                token_failed(state, &account, &e);
                return Err(Unsent::Skip);
            }
        },
        None => None,
    };
    let project = match (&bearer, account.kind, req.client.api) {
        (Some(token), AccountKind::Gemini, Api::Gemini | Api::CodeAssist) => {
            Some(code_assist_project(state, &account, &http, token, first_byte_timeout).await?)
        }
        _ => None,
    };
    let grant = Grant {
        bearer: bearer.clone(),
        project,
    };
    match adapter::prepare(&req.client, &account, &upstream_model, &state.hosts, &grant) {
        Ok(p) => Ok((
            Attempt {
                account,
                upstream_model,
                http,
                oauth,
                bearer,
            },
            p,
        )),
        Err(e @ AdapterError::UnmappedModel { .. }) => {
            tracing::info!(account = %account.name, error = %e, "account cannot serve the model");
            Err(Unsent::Unmapped(e))
        }
        Err(e) if e.is_account() => {
            tracing::error!(account = %account.name, error = %e, "cannot build upstream request");
            Err(Unsent::Skip)
        }
        Err(e) => Err(Unsent::Refuse(e)),
    }
}

/// A Google-login account serves through its Code Assist project (discovered once). Discovery
/// may poll onboarding: never longer than a first byte may take.
async fn code_assist_project(
    state: &Arc<AppState>,
    account: &Account,
    http: &reqwest::Client,
    token: &Secret,
    timeout: Duration,
) -> Result<String, Unsent> {
    let found = tokio::time::timeout(
        timeout,
        state
            .projects
            .project_for(account, http, &state.hosts, token),
    )
    .await;
    match found {
        Ok(Ok(p)) => Ok(p),
        Err(_) => {
            tracing::warn!(account = %account.name, "Code Assist project discovery timed out");
            Err(Unsent::Skip)
        }
        Ok(Err(e)) => {
            tracing::warn!(account = %account.name, error = %e, "no Code Assist project");
            if e.is_permanent() {
                state.account_event(
                    account.id,
                    AccountEvent::Failed {
                        reason: format!("Code Assist project: {e}"),
                    },
                );
            }
            Err(Unsent::Skip)
        }
    }
}

/// Why a sent request got no answer.
pub enum NoAnswer {
    /// The relay itself is out of resources (EMFILE…): not the account's fault, and the next
    /// account would fail the same way.
    Local(String),
    /// The upstream could not be reached or did not answer in time.
    Transport(Failure),
}

impl Attempt {
    /// Sends the request; `Ok` is any answer, whatever its status.
    pub async fn send(
        &self,
        p: Prepared,
        first_byte_timeout: Duration,
    ) -> Result<(reqwest::Response, Answer, Instant), (NoAnswer, Instant)> {
        let sent_at = Instant::now();
        let sent = tokio::time::timeout(
            first_byte_timeout,
            self.http
                .request(p.method, &p.url)
                .headers(p.headers)
                .body(p.body)
                .send(),
        )
        .await;
        let account = &self.account;
        match sent {
            Ok(Ok(r)) => Ok((r, p.answer, sent_at)),
            Ok(Err(e)) => {
                if let Some(cause) = classify::local_resource_error(&e) {
                    tracing::error!(account = %account.name, error = %cause, "relay out of local resources; no account cooled");
                    return Err((NoAnswer::Local(cause.to_string()), sent_at));
                }
                let failure = if e.is_timeout() {
                    Failure::FirstByteTimeout
                } else if e.is_connect() && account.proxy_url.is_some() {
                    Failure::Proxy
                } else {
                    Failure::Connect
                };
                tracing::warn!(account = %account.name, error = %e.without_url(), "upstream request failed");
                Err((NoAnswer::Transport(failure), sent_at))
            }
            Err(_) => {
                tracing::warn!(account = %account.name, "upstream first-byte timeout");
                Err((NoAnswer::Transport(Failure::FirstByteTimeout), sent_at))
            }
        }
    }
}

pub fn cooldowns(state: &AppState) -> Cooldowns {
    let s = &state.snapshot.load().settings;
    let secs = |n: u64| switchyard_core::time::seconds(n.min(i64::MAX as u64) as i64);
    Cooldowns {
        rate_limit: secs(s.rate_limit_cooldown_seconds),
        overload: secs(s.overload_cooldown_seconds),
        server_error: secs(s.server_error_cooldown_seconds),
    }
}

/// Applies a classification's state change to the account.
pub fn apply(state: &Arc<AppState>, account: &Account, c: &Classified) {
    if let Some(event) = c.state.event() {
        state.account_event(account.id, event);
    }
}

/// A token that cannot be obtained: a refresh token the provider rejected (or none at all)
/// needs an operator; anything else (network, timeout, 5xx, a failed save) cools the account
/// briefly, because it heals by itself.
pub fn token_failed(state: &Arc<AppState>, account: &Account, error: &TokenError) {
    tracing::warn!(account = %account.name, error = %error, "oauth token unavailable");
    let permanent = matches!(
        error,
        TokenError::NoAccessToken
            | TokenError::NoRefreshToken
            | TokenError::Rejected {
                status: 400 | 401 | 403,
                ..
            }
    );
    let reason = format!("token refresh failed: {error}");
    let event = if permanent {
        AccountEvent::Failed { reason }
    } else {
        AccountEvent::Cooled {
            until: Utc::now() + cooldowns(state).server_error,
            reason,
        }
    };
    state.account_event(account.id, event);
}

/// Transport failures classified and applied to the account.
pub fn transport_failed(state: &Arc<AppState>, account: &Account, failure: Failure) {
    apply(
        state,
        account,
        &classify::transport(failure, Utc::now(), &cooldowns(state)),
    );
}
