//! The OpenAI dialects: Responses (Codex) and Chat Completions.

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use std::sync::Arc;
use switchyard_protocol::{inspect_chat, inspect_responses};
use switchyard_upstream::adapter::Api;

use super::request::{Endpoint, Inspected};
use super::serve::{Received, serve};
use crate::state::AppState;

pub static RESPONSES: Endpoint = Endpoint::new(Api::Responses, "responses");
static COMPACT: Endpoint = Endpoint::new(Api::ResponsesCompact, "responses_compact");
pub static CHAT: Endpoint = Endpoint::new(Api::ChatCompletions, "chat_completions");

pub async fn responses(State(state): State<Arc<AppState>>, req: Request) -> Response {
    serve(state, &RESPONSES, req, inspect).await
}

pub async fn responses_compact(State(state): State<Arc<AppState>>, req: Request) -> Response {
    serve(state, &COMPACT, req, inspect).await
}

pub async fn chat_completions(State(state): State<Arc<AppState>>, req: Request) -> Response {
    serve(state, &CHAT, req, inspect).await
}

/// Phase 4 for Responses (and compaction) and Chat Completions.
pub fn inspect(r: Received) -> Result<Inspected, String> {
    let api = r.endpoint.api;
    let headers = &r.parts.headers;
    let (model, stream, store, include_usage, session_material, previous_response_id) =
        if api == Api::ChatCompletions {
            let c = inspect_chat(&r.body).map_err(|e| e.to_string())?;
            let session = header(headers, &["x-session-id"])
                .map(|h| format!("session:{h}"))
                .or(c.session_material);
            (c.model, c.stream, None, c.include_usage, session, None)
        } else {
            let c = inspect_responses(&r.body).map_err(|e| e.to_string())?;
            // Codex sends `session_id` (older) or `session-id` (newer); others `x-session-id`.
            let session = header(headers, &["session_id", "session-id", "x-session-id"])
                .map(|h| format!("session:{h}"))
                .or_else(|| c.prompt_cache_key.map(|k| format!("cache-key:{k}")))
                .or_else(|| c.instructions_material.map(|i| format!("instructions:{i}")))
                .or_else(|| c.first_input_material.map(|f| format!("first:{f}")));
            let previous = c.previous_response_id;
            (c.model, c.stream, c.store, false, session, previous)
        };
    let mut client = r.into_client(model, stream);
    client.store = store;
    client.include_usage = include_usage;
    Ok(Inspected {
        client,
        session_material,
        previous_response_id,
        names_model: true,
        judge_body: true,
    })
}

/// The first of `names` the client sent with a non-empty value.
fn header(headers: &HeaderMap, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}
