//! The relay pipeline. Every relay request walks these phases, in this order (DESIGN.md):
//!
//! 1. **accept** — route to a dialect and endpoint, read the body within the size limit
//!    ([`accept`]).
//! 2. **authenticate** — find the API key in memory by its hash ([`auth::authenticate`]).
//! 3. **admit** — the key's policy ([`admit`]): status, expiry, owner, dialect, rate and cost
//!    limits and concurrency before the body is read; model and client after inspection.
//! 4. **inspect** — parse only what routing needs (in each dialect module: [`anthropic`],
//!    [`openai`], [`gemini`]; the skeleton they share is [`serve`]).
//! 5. **route** — sticky binding and the scheduler's pick ([`route`]).
//! 6. **forward** — the account's credentials, and the request its kind's adapter builds
//!    (`switchyard_upstream::adapter`), sent ([`forward`]).
//! 7. **respond** — passthrough, reshaped or converted answers, error replies ([`respond`]);
//!    phases 5–7 repeat on another account until the first byte ([`failover`]).
//! 8. **settle** — usage record, account state, metrics, slots released ([`settle`]).
//!
//! [`request`] is the bottom: the endpoint, request and outcome types every phase speaks of.

pub mod accept;
pub mod account_test;
pub mod admit;
pub mod anthropic;
pub mod auth;
pub mod body;
pub mod failover;
pub mod forward;
pub mod gemini;
pub mod models;
pub mod openai;
pub mod reply;
pub mod request;
pub mod respond;
pub mod route;
pub mod self_service;
pub mod serve;
pub mod settle;

use axum::Router;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use std::sync::Arc;
use switchyard_core::Dialect;

use crate::state::AppState;
pub use accept::{Admitted, admitted};
pub use account_test::test_account;

pub fn routes() -> Router<Arc<AppState>> {
    let mut r = Router::new();
    for prefix in ["", "/claude", "/api"] {
        r = r
            .route(&format!("{prefix}/v1/messages"), post(anthropic::messages))
            .route(
                &format!("{prefix}/v1/messages/count_tokens"),
                post(anthropic::count_tokens),
            );
    }
    for path in [
        "/v1/responses",
        "/responses",
        "/openai/v1/responses",
        "/openai/responses",
    ] {
        r = r
            .route(path, post(openai::responses))
            .route(&format!("{path}/compact"), post(openai::responses_compact));
    }
    for path in [
        "/v1/chat/completions",
        "/openai/v1/chat/completions",
        "/chat/completions",
    ] {
        r = r.route(path, post(openai::chat_completions));
    }
    for path in [
        "/v1/models",
        "/claude/v1/models",
        "/api/v1/models",
        "/openai/v1/models",
    ] {
        r = r.route(path, get(models::list));
    }
    for prefix in ["/v1beta/models", "/v1/models"] {
        r = r.route(&format!("{prefix}/{{*model_action}}"), post(gemini::public));
    }
    r.route("/v1beta/models", get(models::list))
        .route("/api/self/usage", get(self_service::usage))
}

/// The dialect a request to an unknown route most likely speaks, from its headers.
fn guess_dialect(headers: &HeaderMap) -> Dialect {
    if headers.contains_key("anthropic-version") || headers.contains_key("x-api-key") {
        Dialect::Anthropic
    } else if headers.contains_key("x-goog-api-key") {
        Dialect::Gemini
    } else {
        Dialect::OpenaiChat
    }
}

/// Unknown paths get a 404 in the dialect the client most likely speaks. Code Assist paths
/// (`/v1internal:{method}`) land here because the method shares the path segment, so they
/// are dispatched from here.
pub async fn not_found(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    req: axum::extract::Request,
) -> Response {
    let path = req.uri().path();
    if path.starts_with("/v1internal:") || path.starts_with("/v1internal/") {
        if matches!(
            *req.method(),
            axum::http::Method::POST | axum::http::Method::GET
        ) {
            return gemini::code_assist(state, req).await;
        }
        let message = format!("{} is not allowed on {path}", req.method());
        return reply::error(Dialect::Gemini, 405, None, &message);
    }
    if path.starts_with(crate::admin_api::PREFIX) {
        return crate::admin_api::Problem::not_found("no such admin API path");
    }
    let message = format!("no route for {path}");
    reply::error(guess_dialect(req.headers()), 404, None, &message)
}

/// A known path with the wrong method gets a 405 in that dialect, not an empty body.
pub async fn method_not_allowed(
    headers: HeaderMap,
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> Response {
    let message = format!("{method} is not allowed on {}", uri.path());
    reply::error(guess_dialect(&headers), 405, None, &message)
}
