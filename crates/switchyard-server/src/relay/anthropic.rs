//! The Anthropic dialect: `POST /v1/messages` and `POST /v1/messages/count_tokens`.

use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use std::sync::Arc;
use switchyard_core::Dialect;
use switchyard_core::account::{Account, AccountKind};
use switchyard_core::session::session_key;
use switchyard_protocol::{inspect_anthropic, json_edit};
use switchyard_upstream::anthropic::prepare;

use super::cross;
use super::forward::{self, Endpoint, PrepareError, Prepared, RelayRequest, Reshape};
use super::settle::refused;
use super::{Admitted, admit, admitted, new_request_id, reply};
use crate::state::AppState;

/// Bedrock accounts serve Messages in the same pool as Claude accounts.
const KINDS: &[AccountKind] = &[
    AccountKind::ClaudeOfficial,
    AccountKind::Claude,
    AccountKind::Bedrock,
];
/// Served through conversion (issue 18) when no Claude account can: OpenAI-compatible
/// accounts, spoken to in Chat Completions.
const CONVERTED_KINDS: &[AccountKind] = &[AccountKind::Openai];
/// Bedrock has no count_tokens.
const COUNT_KINDS: &[AccountKind] = &[AccountKind::ClaudeOfficial, AccountKind::Claude];

pub static MESSAGES: Endpoint = Endpoint {
    dialect: Dialect::Anthropic,
    name: "messages",
    kinds: KINDS,
    converted: CONVERTED_KINDS,
};

static COUNT_TOKENS: Endpoint = Endpoint {
    dialect: Dialect::Anthropic,
    name: "count_tokens",
    kinds: COUNT_KINDS,
    converted: &[],
};

pub async fn messages(State(state): State<Arc<AppState>>, req: Request) -> Response {
    serve(state, &MESSAGES, "/v1/messages", req).await
}

pub async fn count_tokens(State(state): State<Arc<AppState>>, req: Request) -> Response {
    serve(state, &COUNT_TOKENS, "/v1/messages/count_tokens", req).await
}

async fn serve(
    state: Arc<AppState>,
    endpoint: &'static Endpoint,
    upstream_path: &str,
    req: Request,
) -> Response {
    // authenticate, admit, accept
    match admitted(&state, req, endpoint).await {
        Ok(a) => relay_admitted(state, endpoint, upstream_path, a).await,
        Err(resp) => resp,
    }
}

/// Inspect, route, forward, respond and settle an admitted Messages request.
pub async fn relay_admitted(
    state: Arc<AppState>,
    endpoint: &'static Endpoint,
    upstream_path: &str,
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
    let info = match inspect_anthropic(&body) {
        Ok(i) => i,
        Err(e) => {
            let resp = reply::error(dialect, 400, None, &e.to_string());
            return refused(&state, &key, endpoint, started, None, resp);
        }
    };
    if let Err(resp) =
        // count_tokens carries no `metadata`: its client is judged on the headers.
        admit::admit_request(
            &state,
            &key,
            &parts.headers,
            (endpoint.name != "count_tokens").then_some(&body[..]),
            &info.model,
            dialect,
        )
    {
        return refused(&state, &key, endpoint, started, Some(info.model), resp);
    }
    let session = info
        .session_material
        .as_deref()
        .map(|m| session_key(key.key.id, m));

    let path_and_query = match &upstream_query {
        Some(q) => format!("{upstream_path}?{q}"),
        None => upstream_path.to_string(),
    };
    let relay_req = RelayRequest {
        key,
        key_slot,
        model: info.model.clone(),
        stream: info.stream,
        session,
        pinned: None,
        strip_chat_usage: false,
        started,
        request_id: new_request_id(),
        request_bytes: body.len(),
    };
    let client_headers = parts.headers;
    let hosts = state.hosts.clone();
    let requested = info.model;
    let stream = info.stream;
    forward::relay(
        state,
        endpoint,
        relay_req,
        move |account, upstream_model, bearer, _project| {
            if !endpoint.kinds.contains(&account.kind) {
                return converted(account, &hosts, &requested, upstream_model, &body, bearer);
            }
            if account.kind == AccountKind::Bedrock {
                let p = switchyard_upstream::bedrock::prepare(
                    account,
                    &hosts,
                    &client_headers,
                    body.clone(),
                    upstream_model,
                    stream,
                    chrono::Utc::now(),
                )
                .map_err(|e| e.to_string())?;
                return Ok(Prepared {
                    method: axum::http::Method::POST,
                    url: p.url,
                    headers: p.headers,
                    body: p.body,
                    collect_stream: false,
                    reshape: Reshape::Bedrock,
                    convert: None,
                });
            }
            let body = if upstream_model == requested {
                body.clone()
            } else {
                let value = serde_json::to_string(upstream_model).map_err(|e| e.to_string())?;
                json_edit::set_top_level(&body, "model", &value)
                    .map_err(|e| e.to_string())?
                    .into()
            };
            let p = prepare(
                account,
                &hosts,
                &path_and_query,
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
                collect_stream: false,
                reshape: Reshape::None,
                convert: None,
            })
        },
    )
    .await
}

/// A Messages request for an account of another family (issue 18): the body is converted (a
/// field the target cannot carry refuses the request), the client's headers stay behind (they
/// mean nothing to the other API), and the answer is converted back.
fn converted(
    account: &Account,
    hosts: &switchyard_upstream::UpstreamHosts,
    requested: &str,
    upstream_model: &str,
    body: &Bytes,
    bearer: Option<&switchyard_core::Secret>,
) -> Result<Prepared, PrepareError> {
    let client = Dialect::Anthropic;
    let upstream = cross::family(account.kind);
    if upstream != Dialect::OpenaiChat {
        return Err(PrepareError::Account(format!(
            "no conversion from {} to {}",
            client.as_str(),
            upstream.as_str()
        )));
    }
    let req =
        cross::request(client, account, upstream_model, body).map_err(PrepareError::Refuse)?;
    let p = switchyard_upstream::openai::prepare(
        account,
        hosts,
        switchyard_upstream::openai::OpenaiApi::ChatCompletions,
        None,
        &axum::http::HeaderMap::new(),
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
            chat_include_usage: false,
            freeform_tools: req.freeform_tools,
        }),
    })
}
