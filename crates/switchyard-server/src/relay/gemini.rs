//! The Gemini dialect: the public API (`/v1beta/models/{model}:{action}`, also under `/v1`,
//! which google-genai uses) and the Code Assist surface Gemini CLI's Google login speaks
//! (`/v1internal:{method}`).
//!
//! Public requests are served by `gemini-api` accounts (passed through) and by Google-login
//! `gemini` accounts (wrapped into Code Assist form, the answer unwrapped). Code Assist
//! requests are served by `gemini` accounts only, with the account's own project.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::Response;
use std::sync::Arc;
use switchyard_protocol::inspect_gemini;
use switchyard_upstream::adapter::{Api, GeminiCall};

use super::Admitted;
use super::request::{Endpoint, Inspected};
use super::serve::{Received, relay_admitted, serve};
use crate::state::AppState;

const PUBLIC: Api = Api::Gemini;
const CODE_ASSIST: Api = Api::CodeAssist;

const fn endpoint(name: &'static str, api: Api) -> Endpoint {
    Endpoint::new(api, name)
}

static GENERATE: Endpoint = endpoint("generateContent", PUBLIC);
static STREAM: Endpoint = endpoint("streamGenerateContent", PUBLIC);
static COUNT: Endpoint = endpoint("countTokens", PUBLIC);
static PUBLIC_OTHER: Endpoint = endpoint("other", PUBLIC);
static CA_GENERATE: Endpoint = endpoint("v1internal:generateContent", CODE_ASSIST);
static CA_STREAM: Endpoint = endpoint("v1internal:streamGenerateContent", CODE_ASSIST);
static CA_COUNT: Endpoint = endpoint("v1internal:countTokens", CODE_ASSIST);
static CA_LOAD: Endpoint = endpoint("v1internal:loadCodeAssist", CODE_ASSIST);
static CA_ONBOARD: Endpoint = endpoint("v1internal:onboardUser", CODE_ASSIST);
static CA_QUOTA: Endpoint = endpoint("v1internal:retrieveUserQuota", CODE_ASSIST);
static CA_EXPERIMENTS: Endpoint = endpoint("v1internal:listExperiments", CODE_ASSIST);
static CA_OTHER: Endpoint = endpoint("v1internal:other", CODE_ASSIST);

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
    let endpoint = endpoint_for(req.uri().path());
    serve(state, endpoint, req, inspect).await
}

/// `POST /v1internal:{method}` (routed from the fallback: the method is part of the segment).
pub async fn code_assist(state: Arc<AppState>, req: Request) -> Response {
    let endpoint = endpoint_for(req.uri().path());
    serve(state, endpoint, req, inspect).await
}

/// Relays an admitted request for `path` (the account test's way in).
pub async fn relay_path(state: Arc<AppState>, path: &str, admitted: Admitted) -> Response {
    relay_admitted(state, endpoint_for(path), admitted, inspect).await
}

/// Phase 4 for both surfaces.
pub fn inspect(r: Received) -> Result<Inspected, String> {
    let info = inspect_gemini(r.parts.uri.path(), &r.body).map_err(|e| e.to_string())?;
    // Code Assist reads (operation polling, settings) are GETs; every other call is a POST.
    let method = if r.parts.method == Method::GET {
        Method::GET
    } else {
        Method::POST
    };
    let names_model = info.model.is_some();
    // Account-level Code Assist calls (loadCodeAssist, …) name no model.
    let mut client = r.into_client(info.model.unwrap_or_default(), info.stream);
    client.method = method;
    client.gemini = Some(GeminiCall {
        surface: info.surface,
        action: info.action,
        has_model: names_model,
    });
    Ok(Inspected {
        client,
        session_material: info.session_material,
        previous_response_id: None,
        names_model,
        judge_body: true,
    })
}
