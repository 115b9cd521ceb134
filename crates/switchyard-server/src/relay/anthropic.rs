//! The Anthropic dialect: `POST /v1/messages` and `POST /v1/messages/count_tokens`.

use axum::extract::{Request, State};
use axum::response::Response;
use std::sync::Arc;
use switchyard_protocol::inspect_anthropic;
use switchyard_upstream::adapter::Api;

use super::request::{Endpoint, Inspected};
use super::serve::{Received, serve};
use crate::state::AppState;

pub static MESSAGES: Endpoint = Endpoint::new(Api::Messages, "messages");
static COUNT_TOKENS: Endpoint = Endpoint::new(Api::CountTokens, "count_tokens");

pub async fn messages(State(state): State<Arc<AppState>>, req: Request) -> Response {
    serve(state, &MESSAGES, req, inspect).await
}

pub async fn count_tokens(State(state): State<Arc<AppState>>, req: Request) -> Response {
    serve(state, &COUNT_TOKENS, req, inspect).await
}

/// Phase 4 for Messages and count_tokens.
pub fn inspect(r: Received) -> Result<Inspected, String> {
    let info = inspect_anthropic(&r.body).map_err(|e| e.to_string())?;
    let api = r.endpoint.api;
    Ok(Inspected {
        client: r.into_client(info.model, info.stream),
        session_material: info.session_material,
        previous_response_id: None,
        names_model: true,
        // count_tokens carries no `metadata`: its client is judged on the headers.
        judge_body: api != Api::CountTokens,
    })
}
