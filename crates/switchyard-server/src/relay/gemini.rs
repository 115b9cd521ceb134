//! The Gemini dialect: the public API (`/v1beta/models/{model}:{action}`, also under `/v1`,
//! which google-genai uses) and the Code Assist surface Gemini CLI's Google login speaks
//! (`/v1internal:{method}`).
//!
//! Public requests are served by `gemini-api` accounts (passed through) and by Google-login
//! `gemini` accounts (wrapped into Code Assist form, the answer unwrapped). Code Assist
//! requests are served by `gemini` accounts only, with the account's own project.

use axum::extract::{Request, State};
use axum::response::Response;
use std::sync::Arc;
use switchyard_core::Dialect;
use switchyard_core::account::AccountKind;
use switchyard_core::session::session_key;
use switchyard_protocol::{GeminiSurface, inspect_gemini};
use switchyard_upstream::gemini::{GeminiTarget, prepare};

use super::forward::{self, Endpoint, Prepared, RelayRequest, Reshape};
use super::settle::refused;
use super::{Admitted, admit, admitted, new_request_id, reply};
use crate::state::AppState;

const PUBLIC_KINDS: &[AccountKind] = &[AccountKind::GeminiApi, AccountKind::Gemini];
const CODE_ASSIST_KINDS: &[AccountKind] = &[AccountKind::Gemini];

const fn endpoint(name: &'static str, kinds: &'static [AccountKind]) -> Endpoint {
    Endpoint {
        dialect: Dialect::Gemini,
        name,
        kinds,
        converted: &[],
        // Chosen per response by the Gemini reshape (SSE or JSON array).
    }
}

static GENERATE: Endpoint = endpoint("generateContent", PUBLIC_KINDS);
static STREAM: Endpoint = endpoint("streamGenerateContent", PUBLIC_KINDS);
static COUNT: Endpoint = endpoint("countTokens", PUBLIC_KINDS);
static PUBLIC_OTHER: Endpoint = endpoint("other", PUBLIC_KINDS);
static CA_GENERATE: Endpoint = endpoint("v1internal:generateContent", CODE_ASSIST_KINDS);
static CA_STREAM: Endpoint = endpoint("v1internal:streamGenerateContent", CODE_ASSIST_KINDS);
static CA_COUNT: Endpoint = endpoint("v1internal:countTokens", CODE_ASSIST_KINDS);
static CA_LOAD: Endpoint = endpoint("v1internal:loadCodeAssist", CODE_ASSIST_KINDS);
static CA_ONBOARD: Endpoint = endpoint("v1internal:onboardUser", CODE_ASSIST_KINDS);
static CA_QUOTA: Endpoint = endpoint("v1internal:retrieveUserQuota", CODE_ASSIST_KINDS);
static CA_EXPERIMENTS: Endpoint = endpoint("v1internal:listExperiments", CODE_ASSIST_KINDS);
static CA_OTHER: Endpoint = endpoint("v1internal:other", CODE_ASSIST_KINDS);

/// The endpoint from the path alone (before the body is read), for admission and records.
fn endpoint_for(path: &str) -> &'static Endpoint {
    let code_assist = path.starts_with("/v1internal:") || path.starts_with("/v1internal/");
    let action = path.rsplit_once(':').map_or("", |(_, a)| a);
    match (code_assist, action) {
        (false, "generateContent") => &GENERATE,
        (false, "streamGenerateContent") => &STREAM,
        (false, "countTokens") => &COUNT,
        (false, _) => &PUBLIC_OTHER,
        (true, "generateContent") => &CA_GENERATE,
        (true, "streamGenerateContent") => &CA_STREAM,
        (true, "countTokens") => &CA_COUNT,
        (true, "loadCodeAssist") => &CA_LOAD,
        (true, "onboardUser") => &CA_ONBOARD,
        (true, "retrieveUserQuota") => &CA_QUOTA,
        (true, "listExperiments") => &CA_EXPERIMENTS,
        (true, _) => &CA_OTHER,
    }
}

/// `POST /v1beta/models/{model}:{action}` and `/v1/models/…`.
pub async fn public(State(state): State<Arc<AppState>>, req: Request) -> Response {
    serve(state, req).await
}

/// `POST /v1internal:{method}` (routed from the fallback: the method is part of the segment).
pub async fn code_assist(state: Arc<AppState>, req: Request) -> Response {
    serve(state, req).await
}

async fn serve(state: Arc<AppState>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let endpoint = endpoint_for(&path);
    // authenticate, admit, accept
    match admitted(&state, req, endpoint).await {
        Ok(a) => relay_admitted(state, &path, a).await,
        Err(resp) => resp,
    }
}

/// Inspect, route, forward, respond and settle an admitted Gemini request for `path`.
pub async fn relay_admitted(state: Arc<AppState>, path: &str, admitted: Admitted) -> Response {
    let endpoint = endpoint_for(path);
    let dialect = Dialect::Gemini;
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
    let info = match inspect_gemini(path, &body) {
        Ok(i) => i,
        Err(e) => {
            let resp = reply::error(dialect, 400, None, &e.to_string());
            return refused(&state, &key, endpoint, started, None, resp);
        }
    };
    // Account-level Code Assist calls (loadCodeAssist, …) name no model; only the client rule
    // applies to them.
    let model = info.model.clone().unwrap_or_default();
    let admission = if info.model.is_some() {
        admit::admit_request(&state, &key, &parts.headers, Some(&body), &model, dialect)
    } else {
        admit::admit_client(&state, &key, &parts.headers, Some(&body), dialect)
    };
    if let Err(resp) = admission {
        return refused(&state, &key, endpoint, started, info.model, resp);
    }
    let session = info
        .session_material
        .as_deref()
        .map(|m| session_key(key.key.id, m));
    let request_id = new_request_id();
    let relay_req = RelayRequest {
        key,
        key_slot,
        model,
        stream: info.stream,
        session,
        pinned: None,
        strip_chat_usage: false,
        started,
        request_id: request_id.clone(),
        request_bytes: body.len(),
    };
    // Code Assist reads (operation polling, settings) are GETs; every other call is a POST.
    let method = if parts.method == axum::http::Method::GET {
        axum::http::Method::GET
    } else {
        axum::http::Method::POST
    };
    let client_headers = parts.headers;
    let hosts = state.hosts.clone();
    let has_model = info.model.is_some();
    let surface: GeminiSurface = info.surface;
    let action = info.action;
    forward::relay(
        state,
        endpoint,
        relay_req,
        move |account, upstream_model, bearer, project| {
            let target = GeminiTarget {
                surface,
                action: &action,
                model: has_model.then_some(upstream_model),
                query: upstream_query.as_deref(),
            };
            let p = prepare(
                account,
                &hosts,
                &target,
                &client_headers,
                body.clone(),
                bearer,
                project,
                &request_id,
            )
            .map_err(|e| e.to_string())?;
            Ok(Prepared {
                method: method.clone(),
                url: p.request.url,
                headers: p.request.headers,
                body: p.request.body,
                collect_stream: false,
                convert: None,
                reshape: Reshape::Gemini {
                    framing: p.framing,
                    shape: p.shape,
                    client_sse: p.client_sse,
                },
            })
        },
    )
    .await
}
