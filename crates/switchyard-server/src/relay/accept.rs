//! Phase 1, accept: authenticate, admit, then read the request body (see [`super::body`]).

use axum::body::Bytes;
use axum::http::request::Parts;
use axum::response::Response;
use std::sync::Arc;

use super::admit::{self, KeySlots};
use super::request::Endpoint;
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
    /// The body's room in the shared body budget.
    pub body_room: super::body::BodyRoom,
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
    let dialect = endpoint.dialect();
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
    admit::admit_key(state, &key, dialect)
        .await
        .map_err(refuse)?;
    let key_slot = admit::concurrency(state, &key, dialect)
        .await
        .map_err(refuse)?;
    let (body, body_room) = super::body::read(
        &state.config,
        &state.body_budget,
        &parts.headers,
        body,
        dialect,
    )
    .await
    .map_err(|resp| refused(state, &key, endpoint, started, None, resp))?;
    Ok(Admitted {
        parts,
        started,
        key,
        key_slot,
        body,
        body_room,
        upstream_query: switchyard_upstream::headers::forwardable_query(query),
    })
}
