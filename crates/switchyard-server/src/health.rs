//! `/healthz` (the process answers), `/readyz` (the store answers and usage reaches it; a
//! Redis that does not answer is reported but keeps the instance ready, since requests still
//! flow: ADR 0015), `/metrics`.

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
        Ok(Ok(())) => {
            let redis = match state.coord.shared_side() {
                None => String::new(),
                Some(shared) => match shared.ping().await {
                    Ok(_) => "redis: ok\n".into(),
                    Err(e) => format!(
                        "redis: degraded for {}s, coordinating alone ({e})\n",
                        shared.status().degraded_seconds
                    ),
                },
            };
            (StatusCode::OK, format!("ready\n{redis}")).into_response()
        }
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
    crate::metrics::coordination(state.coord.shared_status().as_ref());
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
