//! Phase 1, accept: read the request body within the configured limit.

use axum::body::{Body, Bytes};
use axum::http::request::Parts;
use axum::response::Response;
use std::sync::Arc;
use switchyard_core::Dialect;

use super::admit::{self, KeySlots};
use super::forward::Endpoint;
use super::settle::refused;
use super::{auth, reply};
use crate::state::{AppState, KeyEntry};
use std::time::Instant;

/// A request that passed authentication and admission, with its body read.
pub struct Admitted {
    pub parts: Parts,
    /// When the request arrived (all timings are measured from here).
    pub started: Instant,
    pub key: Arc<KeyEntry>,
    /// The key's (and its owner's) concurrency slots, held until the request is settled.
    pub key_slot: KeySlots,
    pub body: Bytes,
    /// The client's query string minus Switchyard's own `key=`, for the upstream URL.
    pub upstream_query: Option<String>,
}

/// Phases 2, 3 and 1 for every dialect: authenticate and admit before reading the body, so
/// refusals are cheap, then read it within the limit.
pub async fn admitted(
    state: &Arc<AppState>,
    req: axum::extract::Request,
    endpoint: &Endpoint,
) -> Result<Admitted, Response> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let dialect = endpoint.dialect;
    if state.usage.is_saturated() {
        // Back-pressure: no new work while usage cannot be recorded.
        return Err(reply::error(
            dialect,
            503,
            None,
            "usage accounting is behind; retry shortly",
        ));
    }
    let query = parts.uri.query().map(str::to_string);
    let query = query.as_deref();
    let key = auth::authenticate(state, &parts.headers, query, dialect)?;
    // From here on the request belongs to a key: a refusal is recorded like any request,
    // except a limit's 429, which is only counted (see `metrics::LIMITED`).
    let refuse = |resp: Response| {
        if resp.status() == 429 {
            crate::metrics::limited(dialect.as_str());
            return resp;
        }
        refused(state, &key, endpoint, started, None, resp)
    };
    admit::admit_key(state, &key, dialect).map_err(refuse)?;
    let key_slot = admit::concurrency(state, &key, dialect)
        .await
        .map_err(refuse)?;
    let body = read_body(body, state.config.body_limit_bytes, dialect)
        .await
        .map_err(|resp| refused(state, &key, endpoint, started, None, resp))?;
    Ok(Admitted {
        parts,
        started,
        key,
        key_slot,
        body,
        upstream_query: switchyard_upstream::headers::forwardable_query(query),
    })
}

pub async fn read_body(body: Body, limit: usize, dialect: Dialect) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.to_string().contains("length limit"))
            || e.to_string().contains("length limit");
        if too_large {
            reply::error(
                dialect,
                413,
                None,
                &format!("request body exceeds the limit of {limit} bytes"),
            )
        } else {
            reply::error(
                dialect,
                400,
                None,
                &format!("could not read request body: {e}"),
            )
        }
    })
}
