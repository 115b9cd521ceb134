//! The OpenAI dialects: Responses (Codex) and Chat Completions.
//!
//! `/v1/responses` draws on `openai-responses`, `openai` and `azure` accounts as one pool, so a
//! deployment whose only account is an OpenAI-compatible provider still serves Codex.

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use std::sync::Arc;
use switchyard_core::Dialect;
use switchyard_core::account::{Account, AccountKind};
use switchyard_core::session::session_key;
use switchyard_protocol::{inspect_chat, inspect_responses, json_edit};
use switchyard_upstream::openai::{OpenaiApi, is_chatgpt_token, prepare};

use super::cross;
use super::forward::{
    self, Endpoint, PrepareError, Prepared, RelayRequest, Reshape, response_binding,
};
use super::settle::refused;
use super::{Admitted, admit, admitted, new_request_id, reply};
use crate::state::AppState;

const RESPONSES_KINDS: &[AccountKind] = &[
    AccountKind::OpenaiResponses,
    AccountKind::Openai,
    AccountKind::Azure,
];
const CHAT_KINDS: &[AccountKind] = &[AccountKind::Openai, AccountKind::Azure];
/// Served through conversion (issue 18) when no OpenAI account can (Chat Completions and
/// Responses, not compaction): Anthropic API-key accounts and Claude subscriptions, spoken to
/// in Messages.
const CHAT_CONVERTED_KINDS: &[AccountKind] = &[AccountKind::ClaudeOfficial, AccountKind::Claude];

pub static RESPONSES: Endpoint = Endpoint {
    dialect: Dialect::OpenaiResponses,
    name: "responses",
    kinds: RESPONSES_KINDS,
    converted: CHAT_CONVERTED_KINDS,
};

static COMPACT: Endpoint = Endpoint {
    dialect: Dialect::OpenaiResponses,
    name: "responses_compact",
    kinds: RESPONSES_KINDS,
    converted: &[],
};

pub static CHAT: Endpoint = Endpoint {
    dialect: Dialect::OpenaiChat,
    name: "chat_completions",
    kinds: CHAT_KINDS,
    converted: CHAT_CONVERTED_KINDS,
};

pub async fn responses(State(state): State<Arc<AppState>>, req: Request) -> Response {
    serve(
        state,
        &RESPONSES,
        OpenaiApi::Responses { compact: false },
        req,
    )
    .await
}

pub async fn responses_compact(State(state): State<Arc<AppState>>, req: Request) -> Response {
    serve(state, &COMPACT, OpenaiApi::Responses { compact: true }, req).await
}

pub async fn chat_completions(State(state): State<Arc<AppState>>, req: Request) -> Response {
    serve(state, &CHAT, OpenaiApi::ChatCompletions, req).await
}

/// What inspection found, in the shape the pipeline needs.
struct Routing {
    model: String,
    stream: bool,
    session_material: Option<String>,
    previous_response_id: Option<String>,
    add_include_usage: bool,
}

async fn serve(
    state: Arc<AppState>,
    endpoint: &'static Endpoint,
    api: OpenaiApi,
    req: Request,
) -> Response {
    // authenticate, admit, accept
    match admitted(&state, req, endpoint).await {
        Ok(a) => relay_admitted(state, endpoint, api, a).await,
        Err(resp) => resp,
    }
}

/// Inspect, route, forward, respond and settle an admitted Responses or Chat request.
pub async fn relay_admitted(
    state: Arc<AppState>,
    endpoint: &'static Endpoint,
    api: OpenaiApi,
    admitted: Admitted,
) -> Response {
    let dialect = endpoint.dialect;
    let Admitted {
        parts,
        key,
        key_slot,
        body,
        upstream_query,
        started,
        // Held until the answer is on its way: the body's bytes count against the budget.
        body_room: _body_room,
    } = admitted;

    // inspect
    let routing = match inspect(api, &parts.headers, &body) {
        Ok(r) => r,
        Err(message) => {
            let resp = reply::error(dialect, 400, None, &message);
            return refused(&state, &key, endpoint, started, None, resp);
        }
    };
    if let Err(resp) = admit::admit_request(
        &state,
        &key,
        &parts.headers,
        Some(&body),
        &routing.model,
        dialect,
    ) {
        return refused(&state, &key, endpoint, started, Some(routing.model), resp);
    }
    let body = if routing.add_include_usage {
        match with_include_usage(&body) {
            Ok(b) => b,
            Err(message) => {
                let resp = reply::error(dialect, 400, None, &message);
                return refused(&state, &key, endpoint, started, Some(routing.model), resp);
            }
        }
    } else {
        body
    };
    let key_id = key.key.id;
    let relay_req = RelayRequest {
        key,
        key_slot,
        model: routing.model.clone(),
        stream: routing.stream,
        session: routing
            .session_material
            .as_deref()
            .map(|m| session_key(key_id, m)),
        pinned: routing
            .previous_response_id
            .as_deref()
            .map(|id| response_binding(key_id, id)),
        strip_chat_usage: routing.add_include_usage,
        started,
        request_id: new_request_id(),
        request_bytes: body.len(),
    };
    let client_headers = parts.headers;
    let hosts = state.hosts.clone();
    let requested = routing.model;
    let client_streams = routing.stream;
    let client_include_usage = !routing.add_include_usage;
    forward::relay(
        state,
        endpoint,
        relay_req,
        move |account, upstream_model, bearer, _project| {
            if !endpoint.kinds.contains(&account.kind) {
                return converted(
                    account,
                    &hosts,
                    dialect,
                    &requested,
                    upstream_model,
                    &body,
                    bearer,
                    client_include_usage,
                );
            }
            let mut body = upstream_body(account, api, &requested, upstream_model, &body)?;
            // The ChatGPT backend only streams: ask for a stream and gather it for the client.
            let collect_stream = !client_streams
                && matches!(api, OpenaiApi::Responses { compact: false })
                && is_chatgpt_token(account);
            if collect_stream {
                body = json_edit::set_top_level(&body, "stream", "true")
                    .map_err(|e| e.to_string())?
                    .into();
            }
            let p = prepare(
                account,
                &hosts,
                api,
                upstream_query.as_deref(),
                &client_headers,
                body,
                bearer,
            )
            .map_err(|e| e.to_string())?;
            Ok(Prepared {
                method: axum::http::Method::POST,
                url: p.url,
                headers: p.headers,
                body: p.body,
                collect_stream,
                reshape: Reshape::None,
                convert: None,
            })
        },
    )
    .await
}

/// A Chat Completions or Responses request for an account of another family (issue 18): the body is
/// converted (a field the target cannot carry refuses the request), the client's headers stay
/// behind (they mean nothing to the other API), and the answer is converted back.
#[allow(clippy::too_many_arguments)]
fn converted(
    account: &Account,
    hosts: &switchyard_upstream::UpstreamHosts,
    client: Dialect,
    requested: &str,
    upstream_model: &str,
    body: &Bytes,
    bearer: Option<&switchyard_core::Secret>,
    client_include_usage: bool,
) -> Result<Prepared, PrepareError> {
    let upstream = cross::family(account.kind);
    if upstream != Dialect::Anthropic {
        return Err(PrepareError::Account(format!(
            "no conversion from {} to {}",
            client.as_str(),
            upstream.as_str()
        )));
    }
    let req =
        cross::request(client, account, upstream_model, body).map_err(PrepareError::Refuse)?;
    let p = switchyard_upstream::anthropic::prepare(
        account,
        hosts,
        "/v1/messages",
        &HeaderMap::new(),
        req.body.into(),
        bearer,
    )
    .map_err(|e| e.to_string())?;
    Ok(Prepared {
        method: axum::http::Method::POST,
        url: p.url,
        headers: p.headers,
        body: p.body,
        collect_stream: false,
        reshape: Reshape::None,
        convert: Some(cross::Conversion {
            client,
            upstream,
            model: requested.to_string(),
            chat_include_usage: client_include_usage,
            freeform_tools: req.freeform_tools,
        }),
    })
}

fn inspect(api: OpenaiApi, headers: &HeaderMap, body: &[u8]) -> Result<Routing, String> {
    match api {
        OpenaiApi::Responses { .. } => {
            let r = inspect_responses(body).map_err(|e| e.to_string())?;
            // Codex sends `session_id` (older) or `session-id` (newer); others `x-session-id`.
            let header = ["session_id", "session-id", "x-session-id"]
                .iter()
                .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
                .filter(|v| !v.is_empty());
            let session_material = header
                .map(|h| format!("session:{h}"))
                .or_else(|| r.prompt_cache_key.map(|k| format!("cache-key:{k}")))
                .or_else(|| r.instructions_material.map(|i| format!("instructions:{i}")))
                .or_else(|| r.first_input_material.map(|f| format!("first:{f}")));
            Ok(Routing {
                model: r.model,
                stream: r.stream,
                session_material,
                previous_response_id: r.previous_response_id,
                add_include_usage: false,
            })
        }
        OpenaiApi::ChatCompletions => {
            let r = inspect_chat(body).map_err(|e| e.to_string())?;
            let header = headers
                .get("x-session-id")
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty());
            Ok(Routing {
                model: r.model,
                stream: r.stream,
                session_material: header
                    .map(|h| format!("session:{h}"))
                    .or(r.session_material),
                previous_response_id: None,
                add_include_usage: r.stream && !r.include_usage,
            })
        }
    }
}

/// Sets `stream_options.include_usage = true`, keeping any other stream options.
fn with_include_usage(body: &Bytes) -> Result<Bytes, String> {
    let existing: Option<serde_json::Value> = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("stream_options").cloned());
    let mut options = match existing {
        Some(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    options.insert("include_usage".into(), true.into());
    let raw = serde_json::to_string(&options).map_err(|e| e.to_string())?;
    json_edit::set_top_level(body, "stream_options", &raw)
        .map(Bytes::from)
        .map_err(|e| e.to_string())
}

/// The body as this account must receive it: the mapped model, and `store:false` for the
/// ChatGPT backend (which rejects anything else). Untouched when nothing applies.
fn upstream_body(
    account: &Account,
    api: OpenaiApi,
    requested: &str,
    upstream_model: &str,
    body: &Bytes,
) -> Result<Bytes, String> {
    let mut out = body.clone();
    if upstream_model != requested {
        let value = serde_json::to_string(upstream_model).map_err(|e| e.to_string())?;
        out = json_edit::set_top_level(&out, "model", &value)
            .map_err(|e| e.to_string())?
            .into();
    }
    if matches!(api, OpenaiApi::Responses { .. }) && is_chatgpt_token(account) {
        let store_is_false = serde_json::from_slice::<serde_json::Value>(&out)
            .ok()
            .and_then(|v| v.get("store").and_then(|s| s.as_bool()))
            == Some(false);
        if !store_is_false {
            out = json_edit::set_top_level(&out, "store", "false")
                .map_err(|e| e.to_string())?
                .into();
        }
    }
    Ok(out)
}
