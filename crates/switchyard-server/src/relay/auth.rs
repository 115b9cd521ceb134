//! Phases 2 and 3: authenticate the Switchyard API key (in memory, by hash) and admit the
//! request under the key's policy. Refusals are answered in the client's dialect.

use axum::http::HeaderMap;
use axum::response::Response;
use chrono::Utc;
use std::sync::Arc;
use switchyard_core::Dialect;
use switchyard_core::account::model_listed;
use switchyard_core::key::{KeyStatus, hash};
use switchyard_store::coord::Slot;

use super::reply;
use crate::state::{AppState, KeyEntry};

/// The key as the client sent it: `x-api-key`, `Authorization: Bearer`, `x-goog-api-key`
/// or `?key=`.
pub fn presented_key<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<&'a str> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    header("x-api-key")
        .or_else(|| {
            header("authorization").and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
        })
        .or_else(|| header("x-goog-api-key"))
        .or_else(|| query?.split('&').find_map(|pair| pair.strip_prefix("key=")))
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

pub fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    dialect: Dialect,
) -> Result<Arc<KeyEntry>, Response> {
    let Some(presented) = presented_key(headers, query) else {
        return Err(reply::error(
            dialect,
            401,
            None,
            "missing API key (send it as x-api-key or Authorization: Bearer)",
        ));
    };
    state
        .snapshot
        .load()
        .keys
        .get(&hash(presented))
        .cloned()
        .ok_or_else(|| reply::error(dialect, 401, None, "invalid API key"))
}

/// Key status, expiry, owner, allowed clients, and a concurrency slot held for the whole
/// request (released when the returned slot is dropped).
pub fn admit(
    state: &AppState,
    entry: &KeyEntry,
    headers: &HeaderMap,
    dialect: Dialect,
) -> Result<Slot, Response> {
    let key = &entry.key;
    if key.status != KeyStatus::Active {
        return Err(reply::error(dialect, 401, None, "API key has been revoked"));
    }
    if key.expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(reply::error(dialect, 401, None, "API key has expired"));
    }
    if !entry.user_active {
        return Err(reply::error(
            dialect,
            403,
            None,
            "the owner of this API key is disabled",
        ));
    }
    if !key.allowed_clients.is_empty() {
        let ua = headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !key.allowed_clients.iter().any(|c| client_matches(c, ua)) {
            return Err(reply::error(
                dialect,
                403,
                None,
                "this API key may not be used from this client",
            ));
        }
    }
    state
        .key_slots
        .try_acquire(key.id, key.concurrency_limit)
        .ok_or_else(|| {
            reply::error(
                dialect,
                429,
                None,
                &format!(
                    "this API key allows {} concurrent requests",
                    key.concurrency_limit
                ),
            )
        })
}

pub fn admit_model(entry: &KeyEntry, model: &str, dialect: Dialect) -> Result<(), Response> {
    let allowed = &entry.key.allowed_models;
    if allowed.is_empty() || model_listed(allowed, model) {
        return Ok(());
    }
    Err(reply::error(
        dialect,
        403,
        None,
        &format!("this API key may not use model `{model}`"),
    ))
}

/// Known client names, or a user-agent prefix.
fn client_matches(client: &str, user_agent: &str) -> bool {
    match client {
        "claude-code" => user_agent.starts_with("claude-cli/"),
        "codex-cli" => {
            user_agent.starts_with("codex_cli_rs/")
                || user_agent.starts_with("codex_exec/")
                || user_agent.starts_with("codex_vscode/")
        }
        "gemini-cli" => user_agent.contains("GeminiCLI"),
        prefix => user_agent.starts_with(prefix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn key_sources() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_key(&h, Some("a=1&key=sk-sy-q")), Some("sk-sy-q"));
        h.insert("authorization", HeaderValue::from_static("Bearer sk-sy-b"));
        assert_eq!(presented_key(&h, None), Some("sk-sy-b"));
        h.insert("x-api-key", HeaderValue::from_static("sk-sy-x"));
        assert_eq!(presented_key(&h, None), Some("sk-sy-x"));
    }

    #[test]
    fn clients() {
        assert!(client_matches(
            "claude-code",
            "claude-cli/2.1.3 (external, cli)"
        ));
        assert!(!client_matches("claude-code", "curl/8"));
        assert!(client_matches("codex-cli", "codex_exec/0.169.0 (x)"));
    }
}
