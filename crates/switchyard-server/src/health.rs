//! `/healthz` (the process answers), `/readyz` (the store answers and usage reaches it),
//! `/metrics`.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use crate::state::AppState;

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let writer = state.usage.health();
    if writer.failing() {
        // Requests are still served, but their usage only waits in memory: a balancer should
        // send new work elsewhere until the store takes writes again.
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "usage store failing: {} records waiting\n",
                state.usage.backlog()
            ),
        )
            .into_response();
    }
    match tokio::time::timeout(std::time::Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unavailable: {e}\n"),
        )
            .into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store timed out\n").into_response(),
    }
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let writer = state.usage.health();
    crate::metrics::usage_writer(
        state.usage.backlog(),
        writer.failing(),
        writer.failed_writes(),
    );
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
