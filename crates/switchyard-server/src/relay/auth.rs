//! Phase 2, authenticate: find the Switchyard API key in memory by its hash. Refusals are
//! answered in the client's dialect.

use axum::http::HeaderMap;
use axum::response::Response;
use std::sync::Arc;
use switchyard_core::Dialect;
use switchyard_core::key::hash;

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
}
