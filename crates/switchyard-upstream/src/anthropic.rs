//! The `claude` (API key) and `claude-official` (OAuth) adapters: how a client's Messages
//! request becomes an upstream request (dispatched from [`crate::adapter`]).

use bytes::Bytes;
use http::HeaderMap;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use switchyard_core::Secret;
use switchyard_core::account::{Account, AccountKind};

use crate::adapter::{AdapterError, Api, ClientRequest, Prepared};
use crate::client::UpstreamHosts;
use crate::headers::{forwardable, merge_beta};
use crate::tokens::OAuthClient;

/// Claude Code's public OAuth client id (the one its refresh grant uses).
pub const CLAUDE_OAUTH_CLIENT_ID: &str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";
/// OAuth requests must carry this beta.
pub const OAUTH_BETA: &str = "oauth-2025-04-20";
const DEFAULT_VERSION: &str = "2023-06-01";

pub fn oauth_client(hosts: &UpstreamHosts) -> OAuthClient {
    OAuthClient {
        token_url: hosts.claude_oauth_token_url.clone(),
        client_id: CLAUDE_OAUTH_CLIENT_ID.into(),
        extra: Vec::new(),
        grant: crate::tokens::GrantEncoding::Json,
    }
}

/// Builds the upstream request for `req` (Messages or count_tokens, keeping the client's query,
/// e.g. `?beta=true`); `body` already names the upstream model; `bearer` is the OAuth token
/// for `claude-official` accounts.
pub(crate) fn prepare(
    account: &Account,
    hosts: &UpstreamHosts,
    req: &ClientRequest,
    body: Bytes,
    bearer: Option<&Secret>,
) -> Result<Prepared, AdapterError> {
    let base = account
        .base_url
        .as_deref()
        .unwrap_or(&hosts.anthropic_api)
        .trim_end_matches('/');
    let path = if req.api == Api::CountTokens {
        "/v1/messages/count_tokens"
    } else {
        "/v1/messages"
    };
    let path_and_query = match req.query.as_deref() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let url = join(base, &path_and_query);
    let mut headers = forwardable(&req.headers);
    headers
        .entry(HeaderName::from_static("anthropic-version"))
        .or_insert(HeaderValue::from_static(DEFAULT_VERSION));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    match account.kind {
        AccountKind::Claude => {
            let key = account
                .credentials
                .api_key
                .as_ref()
                .ok_or_else(|| AdapterError::MissingApiKey(account.name.clone()))?;
            insert_secret(&mut headers, "x-api-key", key.expose());
        }
        AccountKind::ClaudeOfficial => {
            let token = bearer.ok_or_else(|| AdapterError::MissingToken(account.name.clone()))?;
            insert_secret(
                &mut headers,
                "authorization",
                &format!("Bearer {}", token.expose()),
            );
            merge_beta(&mut headers, &[OAUTH_BETA]);
        }
        other => return Err(AdapterError::WrongKind(account.name.clone(), other)),
    }
    Ok(Prepared::post(url, headers, body))
}

/// `base` may already end in `/v1` (a relay configured as `https://host/v1`).
fn join(base: &str, path_and_query: &str) -> String {
    match (base.strip_suffix("/v1"), path_and_query.starts_with("/v1/")) {
        (Some(stem), true) => format!("{stem}{path_and_query}"),
        _ => format!("{base}{path_and_query}"),
    }
}

fn insert_secret(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(mut v) = HeaderValue::from_str(value) {
        v.set_sensitive(true);
        headers.insert(HeaderName::from_static(name), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_base_with_or_without_v1() {
        assert_eq!(
            join("https://a.b", "/v1/messages?beta=true"),
            "https://a.b/v1/messages?beta=true"
        );
        assert_eq!(
            join("https://a.b/v1", "/v1/messages"),
            "https://a.b/v1/messages"
        );
        assert_eq!(
            join("https://a.b/api", "/v1/messages"),
            "https://a.b/api/v1/messages"
        );
    }
}
