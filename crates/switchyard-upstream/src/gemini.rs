//! The `gemini` (Google OAuth, served through Code Assist) and `gemini-api` (API key for the
//! public Gemini API) adapters.
//!
//! | client surface | `gemini-api` account | `gemini` account |
//! |---|---|---|
//! | public `models/{m}:{action}` | passthrough to `{gemini_api}/v1beta/models/{m}:{action}`, `x-goog-api-key` | wrapped for `{code_assist}/v1internal:{action}`, Bearer; answer unwrapped ([`ResponseShape`]) |
//! | Code Assist `v1internal:{method}` | not served | passthrough, Bearer, `project` replaced by the account's |
//!
//! A `gemini` account needs a Code Assist project: the operator's `extra.project`, else the one
//! `loadCodeAssist` reports (onboarding the free tier first when there is none, as Gemini CLI
//! does), cached per account by [`CodeAssistProjects`].

use bytes::Bytes;
use chrono::Duration as ChronoDuration;
use http::HeaderMap;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use switchyard_core::Secret;
use switchyard_core::account::{Account, AccountId, AccountKind};
use switchyard_protocol::code_assist;
use switchyard_protocol::gemini::{GeminiAction, GeminiSurface, wants_sse};
use switchyard_protocol::{
    CodeAssistBodyUnwrap, CodeAssistSseToJsonArray, CodeAssistSseToPublic, StreamTransform,
    json_edit,
};

use crate::adapter::{AdapterError, ClientRequest, Grant, Prepared, Reshape};
use crate::client::UpstreamHosts;
use crate::headers::{forwardable, forwardable_query};
use crate::tokens::{GrantEncoding, OAuthClient};

/// Gemini CLI's OAuth client id, from `packages/core/src/code_assist/oauth2.ts` in
/// google-gemini/gemini-cli (`OAUTH_CLIENT_ID`). Tokens a user obtained by logging in with
/// Gemini CLI can only be refreshed with this client. An account's `extra.client_id` overrides it.
pub const GEMINI_CLI_OAUTH_CLIENT_ID: &str =
    "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com";

/// The matching secret, from the same file (`OAUTH_CLIENT_SECRET`). Google issues installed
/// apps a secret that is not secret (the file says so, citing Google's installed-app OAuth
/// docs); it is public. An account's `credentials.client_secret` overrides it.
pub const GEMINI_CLI_OAUTH_CLIENT_SECRET: &str = "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";

/// The client metadata Gemini CLI sends to `loadCodeAssist` and `onboardUser`.
const CLIENT_METADATA: &str =
    r#"{"ideType":"IDE_UNSPECIFIED","platform":"PLATFORM_UNSPECIFIED","pluginType":"GEMINI"}"#;
/// The tier Gemini CLI onboards a user without a Google Cloud project into.
const FREE_TIER: &str = "free-tier";
/// Gemini CLI polls an unfinished onboarding every 5 s; the relay gives up after a minute,
/// because a request is waiting on it.
const ONBOARD_POLL_INTERVAL: Duration = Duration::from_secs(5);
const ONBOARD_MAX_POLLS: u32 = 12;
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// The refresh client for a `gemini` account: Google's token endpoint, form-encoded grant with
/// a client secret. The account's `extra.client_id` and `credentials.client_secret` win; Gemini
/// CLI's secret is used only with Gemini CLI's client id (a custom client without a secret is
/// a public client and sends none).
pub fn oauth_client(account: &Account, hosts: &UpstreamHosts) -> OAuthClient {
    let client_id = account
        .extra
        .get("client_id")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(GEMINI_CLI_OAUTH_CLIENT_ID)
        .to_owned();
    let client_secret = account
        .credentials
        .client_secret
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            (client_id == GEMINI_CLI_OAUTH_CLIENT_ID)
                .then(|| Secret::new(GEMINI_CLI_OAUTH_CLIENT_SECRET))
        });
    OAuthClient {
        token_url: format!("{}/token", hosts.google_oauth.trim_end_matches('/')),
        client_id,
        extra: Vec::new(),
        grant: GrantEncoding::Form { client_secret },
    }
}

/// The Code Assist project an operator pinned on the account (`extra.project`), which wins
/// over discovery.
pub fn operator_project(account: &Account) -> Option<String> {
    account
        .extra
        .get("project")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// What one client request asks for, as `switchyard_protocol::inspect_gemini` read it.
#[derive(Debug, Clone, Copy)]
pub struct GeminiTarget<'a> {
    pub surface: GeminiSurface,
    pub action: &'a GeminiAction,
    /// The model to send upstream (after the account's model mapping).
    pub model: Option<&'a str>,
    /// The client's query string (`alt=sse`, maybe Switchyard's own `key=`, dropped here).
    pub query: Option<&'a str>,
}

/// What the relay must do to the upstream answer before the client sees it. Applies to a 2xx
/// answer only: error bodies are Google-shaped on both surfaces and pass unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseShape {
    /// Forward unchanged.
    Passthrough,
    /// Code Assist SSE → public SSE ([`CodeAssistSseToPublic`]).
    UnwrapSse,
    /// Code Assist SSE → public streamed JSON array ([`CodeAssistSseToJsonArray`]).
    UnwrapSseToJsonArray,
    /// Whole Code Assist body → public body ([`CodeAssistBodyUnwrap`]).
    UnwrapBody,
}

impl ResponseShape {
    /// The transform to run on the forwarded bytes, if any. The usage tap keeps reading the
    /// upstream bytes: it understands the wrapped shape.
    pub fn transform(self) -> Option<Box<dyn StreamTransform>> {
        match self {
            ResponseShape::Passthrough => None,
            ResponseShape::UnwrapSse => Some(Box::new(CodeAssistSseToPublic::new())),
            ResponseShape::UnwrapSseToJsonArray => Some(Box::new(CodeAssistSseToJsonArray::new())),
            ResponseShape::UnwrapBody => Some(Box::new(CodeAssistBodyUnwrap::new())),
        }
    }
}

/// How the upstream answers, so the relay picks the usage tap and the response headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFraming {
    /// One JSON body (`TapMode::json(Dialect::Gemini)`).
    Json,
    /// SSE, events ending in CRLF CRLF (`TapMode::sse(Dialect::Gemini)`).
    Sse,
    /// A streamed JSON array (`switchyard_protocol::GeminiArrayTap`).
    JsonArray,
}

/// Builds the upstream request for a Gemini or Code Assist call (dispatched from
/// [`crate::adapter`]).
pub(crate) fn prepare(
    account: &Account,
    hosts: &UpstreamHosts,
    req: &ClientRequest,
    upstream_model: &str,
    grant: &Grant,
) -> Result<Prepared, AdapterError> {
    let call = req.gemini.as_ref().ok_or(AdapterError::MissingModel)?;
    let target = GeminiTarget {
        surface: call.surface,
        action: &call.action,
        model: call.has_model.then_some(upstream_model),
        query: req.query.as_deref(),
    };
    let mut prepared = build(
        account,
        hosts,
        &target,
        &req.headers,
        req.body.clone(),
        grant.bearer.as_ref(),
        grant.project.as_deref(),
        &req.request_id,
    )?;
    prepared.method = req.method.clone();
    Ok(prepared)
}

/// Builds the upstream request for a Gemini call. `bearer` is the account's OAuth access token
/// (`gemini`), `project` its Code Assist project (see [`CodeAssistProjects`]; needed by every
/// call that names one), `user_prompt_id` the id Code Assist wants on a wrapped public request
/// (the relay's request id does).
#[allow(clippy::too_many_arguments)]
fn build(
    account: &Account,
    hosts: &UpstreamHosts,
    target: &GeminiTarget<'_>,
    client_headers: &HeaderMap,
    body: Bytes,
    bearer: Option<&Secret>,
    project: Option<&str>,
    user_prompt_id: &str,
) -> Result<Prepared, AdapterError> {
    let mut headers = forwardable(client_headers);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let stream = *target.action == GeminiAction::StreamGenerateContent;
    match (account.kind, target.surface) {
        (AccountKind::GeminiApi, GeminiSurface::Public) => {
            let key = account
                .credentials
                .api_key
                .as_ref()
                .ok_or_else(|| missing_key(account))?;
            let model = target.model.ok_or(AdapterError::MissingModel)?;
            let base = base_url(account, &hosts.gemini_api);
            let base = base.strip_suffix("/v1beta").unwrap_or(base);
            let mut url = format!("{base}/v1beta/models/{model}:{}", target.action.as_str());
            if let Some(q) = forwardable_query(target.query) {
                url.push('?');
                url.push_str(&q);
            }
            insert_secret(&mut headers, "x-goog-api-key", key.expose());
            let sse = stream && wants_sse(target.query);
            Ok(gemini_prepared(
                Prepared::post(url, headers, body),
                framing(stream, sse),
                ResponseShape::Passthrough,
                sse,
            ))
        }
        (AccountKind::GeminiApi, GeminiSurface::CodeAssist) => {
            Err(AdapterError::CodeAssistNeedsOAuth)
        }
        (AccountKind::Gemini, surface) => {
            let token = bearer.ok_or_else(|| AdapterError::MissingToken(account.name.clone()))?;
            insert_secret(
                &mut headers,
                AUTHORIZATION.as_str(),
                &format!("Bearer {}", token.expose()),
            );
            let base = base_url(account, &hosts.code_assist);
            let base = base.strip_suffix("/v1internal").unwrap_or(base);
            let method_url = match target.action {
                GeminiAction::Operation(name) => format!("{base}/v1internal/{name}"),
                action => format!("{base}/v1internal:{}", action.as_str()),
            };
            let need_project =
                || project.ok_or_else(|| AdapterError::MissingProject(account.name.clone()));
            match surface {
                GeminiSurface::Public => {
                    let model = target.model.ok_or(AdapterError::MissingModel)?;
                    let (body, url) = match target.action {
                        GeminiAction::GenerateContent => (
                            code_assist::wrap_request(
                                &body,
                                model,
                                need_project()?,
                                user_prompt_id,
                            )?,
                            method_url,
                        ),
                        // Always SSE from Code Assist; the array form is made from it.
                        GeminiAction::StreamGenerateContent => (
                            code_assist::wrap_request(
                                &body,
                                model,
                                need_project()?,
                                user_prompt_id,
                            )?,
                            format!("{method_url}?alt=sse"),
                        ),
                        GeminiAction::CountTokens => {
                            (code_assist::wrap_count_tokens(&body, model)?, method_url)
                        }
                        other => {
                            return Err(AdapterError::UnsupportedAction(other.as_str().to_owned()));
                        }
                    };
                    let client_sse = stream && wants_sse(target.query);
                    let shape = match (stream, client_sse) {
                        (true, true) => ResponseShape::UnwrapSse,
                        (true, false) => ResponseShape::UnwrapSseToJsonArray,
                        (false, _) => ResponseShape::UnwrapBody,
                    };
                    Ok(gemini_prepared(
                        Prepared::post(url, headers, Bytes::from(body)),
                        framing(stream, true),
                        shape,
                        client_sse,
                    ))
                }
                GeminiSurface::CodeAssist => {
                    let body = match target.action {
                        GeminiAction::GenerateContent | GeminiAction::StreamGenerateContent => {
                            let mut edited = code_assist::set_project(&body, need_project()?)?;
                            if let Some(model) = target.model {
                                edited = json_edit::set_top_level(&edited, "model", &quote(model))?;
                            }
                            Bytes::from(edited)
                        }
                        GeminiAction::RetrieveUserQuota | GeminiAction::ListExperiments => {
                            match project {
                                Some(p) => Bytes::from(code_assist::set_project(&body, p)?),
                                None => body,
                            }
                        }
                        // countTokens names no project.
                        GeminiAction::CountTokens => body,
                        // Every other call (loadCodeAssist, onboardUser, fetchAdminControls,
                        // recordCodeAssistMetrics, …) speaks for this account: a project the
                        // client learned from another account would be refused here.
                        _ => Bytes::from(own_project(&body, project)),
                    };
                    let mut url = method_url;
                    if let Some(q) = forwardable_query(target.query) {
                        url.push('?');
                        url.push_str(&q);
                    }
                    let sse = stream && wants_sse(target.query);
                    Ok(gemini_prepared(
                        Prepared::post(url, headers, body),
                        framing(stream, sse),
                        ResponseShape::Passthrough,
                        sse,
                    ))
                }
            }
        }
        (other, _) => Err(AdapterError::WrongKind(account.name.clone(), other)),
    }
}

/// A Gemini request with the reshape its answer needs.
fn gemini_prepared(
    mut prepared: Prepared,
    framing: UpstreamFraming,
    shape: ResponseShape,
    client_sse: bool,
) -> Prepared {
    prepared.answer.reshape = Reshape::Gemini {
        framing,
        shape,
        client_sse,
    };
    prepared
}

/// Replaces every project a Code Assist account-level body names (`project`,
/// `cloudaicompanionProject`, `metadata.duetProject`) with the account's own, or drops them
/// when it has none yet. Bodies that are not JSON objects pass unchanged.
fn own_project(body: &[u8], project: Option<&str>) -> Vec<u8> {
    let Ok(serde_json::Value::Object(mut map)) = serde_json::from_slice(body) else {
        return body.to_vec();
    };
    let replace = |m: &mut serde_json::Map<String, serde_json::Value>, key: &str| -> bool {
        if !m.contains_key(key) {
            return false;
        }
        match project {
            Some(p) => m.insert(key.to_owned(), p.into()),
            None => m.remove(key),
        };
        true
    };
    let mut changed = replace(&mut map, "project");
    changed |= replace(&mut map, "cloudaicompanionProject");
    if let Some(serde_json::Value::Object(meta)) = map.get_mut("metadata") {
        changed |= replace(meta, "duetProject");
    }
    if !changed {
        return body.to_vec();
    }
    serde_json::to_vec(&map).unwrap_or_else(|_| body.to_vec())
}

/// The delay Google asks for in a 429 body (`google.rpc.RetryInfo.retryDelay`, e.g. `"0.97s"`
/// or `"37s"`), for the account's cool-down; Google sends no `retry-after` header.
pub fn retry_delay(body: &[u8]) -> Option<ChronoDuration> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let details = v.get("error")?.get("details")?.as_array()?;
    details.iter().find_map(|d| {
        let kind = d.get("@type")?.as_str()?;
        if !kind.ends_with("google.rpc.RetryInfo") {
            return None;
        }
        let secs: f64 = d
            .get("retryDelay")?
            .as_str()?
            .strip_suffix('s')?
            .parse()
            .ok()?;
        (secs.is_finite() && secs >= 0.0)
            .then(|| ChronoDuration::milliseconds((secs * 1000.0).ceil().min(1e12) as i64))
    })
}

fn framing(stream: bool, sse: bool) -> UpstreamFraming {
    match (stream, sse) {
        (false, _) => UpstreamFraming::Json,
        (true, true) => UpstreamFraming::Sse,
        (true, false) => UpstreamFraming::JsonArray,
    }
}

fn base_url<'a>(account: &'a Account, default: &'a str) -> &'a str {
    account
        .base_url
        .as_deref()
        .filter(|b| !b.is_empty())
        .unwrap_or(default)
        .trim_end_matches('/')
}

fn missing_key(account: &Account) -> AdapterError {
    AdapterError::MissingApiKey(account.name.clone())
}

fn insert_secret(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(mut v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        v.set_sensitive(true);
        headers.insert(name, v);
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

// --- project discovery ----------------------------------------------------------------------

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("Code Assist {method} failed: {reason}")]
    Http {
        method: &'static str,
        reason: String,
    },
    #[error("Code Assist {method} answered {status}: {message}")]
    Status {
        method: &'static str,
        status: u16,
        message: String,
    },
    #[error("Code Assist {method} answer is not understood: {reason}")]
    BadAnswer {
        method: &'static str,
        reason: String,
    },
    /// The account cannot get a project by itself: an operator must set `extra.project`
    /// (or fix the Google account).
    #[error("no Code Assist project for this account ({0}); set the account's `project`")]
    NoProject(String),
}

impl ProjectError {
    /// Failures that retrying will not fix (the account needs an operator), as opposed to
    /// network trouble and server errors. A 401 is left to the token refresh logic.
    pub fn is_permanent(&self) -> bool {
        match self {
            ProjectError::NoProject(_) => true,
            ProjectError::Status { status, .. } => matches!(status, 400 | 403 | 404),
            ProjectError::Http { .. } | ProjectError::BadAnswer { .. } => false,
        }
    }
}

/// Finds the account's Code Assist project the way Gemini CLI does: `loadCodeAssist`, and when
/// that names no project and the user has no tier yet, `onboardUser` into the default (free)
/// tier, which comes with a Google-managed project.
pub async fn discover_project(
    client: &reqwest::Client,
    hosts: &UpstreamHosts,
    access_token: &Secret,
) -> Result<String, ProjectError> {
    discover_project_at(client, &hosts.code_assist, access_token).await
}

/// [`discover_project`] against an explicit Code Assist base URL (an account's own base URL).
pub async fn discover_project_at(
    client: &reqwest::Client,
    base: &str,
    access_token: &Secret,
) -> Result<String, ProjectError> {
    discover(client, base, access_token, ONBOARD_POLL_INTERVAL).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoadCodeAssistAnswer {
    cloudaicompanion_project: Option<Value>,
    current_tier: Option<Value>,
    #[serde(default)]
    allowed_tiers: Option<Vec<Tier>>,
    #[serde(default)]
    ineligible_tiers: Option<Vec<IneligibleTier>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Tier {
    id: Option<String>,
    #[serde(default)]
    is_default: bool,
    #[serde(default)]
    user_defined_cloudaicompanion_project: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IneligibleTier {
    reason_message: Option<String>,
}

#[derive(Deserialize)]
struct Operation {
    name: Option<String>,
    #[serde(default)]
    done: bool,
    response: Option<OnboardAnswer>,
    error: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OnboardAnswer {
    cloudaicompanion_project: Option<Value>,
}

async fn discover(
    client: &reqwest::Client,
    base: &str,
    token: &Secret,
    poll: Duration,
) -> Result<String, ProjectError> {
    let base = base.trim_end_matches('/');
    let base = base.strip_suffix("/v1internal").unwrap_or(base);
    let load_body = format!(r#"{{"metadata":{CLIENT_METADATA}}}"#);
    let load: LoadCodeAssistAnswer = call(
        "loadCodeAssist",
        post(
            client,
            &format!("{base}/v1internal:loadCodeAssist"),
            token,
            load_body,
        ),
    )
    .await?;
    if let Some(project) = project_id(load.cloudaicompanion_project.as_ref()) {
        return Ok(project);
    }
    let reasons = || {
        load.ineligible_tiers
            .iter()
            .flatten()
            .filter_map(|t| t.reason_message.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    if load.current_tier.as_ref().is_some_and(|t| !t.is_null()) {
        // Already set up, but for a tier that needs the user's own Google Cloud project.
        let why = reasons();
        return Err(ProjectError::NoProject(if why.is_empty() {
            "the account's tier needs a Google Cloud project".to_owned()
        } else {
            why
        }));
    }
    let tier = load
        .allowed_tiers
        .iter()
        .flatten()
        .find(|t| t.is_default)
        .and_then(|t| {
            t.id.clone()
                .map(|id| (id, t.user_defined_cloudaicompanion_project))
        });
    match tier {
        Some((id, user_defined)) if id == FREE_TIER && user_defined != Some(true) => {}
        Some((id, _)) => {
            return Err(ProjectError::NoProject(format!(
                "its default tier `{id}` needs a Google Cloud project"
            )));
        }
        None => {
            let why = reasons();
            return Err(ProjectError::NoProject(if why.is_empty() {
                "Code Assist offers it no tier".to_owned()
            } else {
                why
            }));
        }
    }
    // The free tier uses a Google-managed project; naming one makes onboarding fail.
    let onboard_body = format!(r#"{{"tierId":"{FREE_TIER}","metadata":{CLIENT_METADATA}}}"#);
    let mut op: Operation = call(
        "onboardUser",
        post(
            client,
            &format!("{base}/v1internal:onboardUser"),
            token,
            onboard_body,
        ),
    )
    .await?;
    let mut polls = 0;
    while !op.done {
        let Some(name) = op.name.clone().filter(|n| !n.is_empty()) else {
            return Err(ProjectError::BadAnswer {
                method: "onboardUser",
                reason: "an unfinished operation without a name".to_owned(),
            });
        };
        if polls >= ONBOARD_MAX_POLLS {
            return Err(ProjectError::Http {
                method: "onboardUser",
                reason: "onboarding did not finish in time".to_owned(),
            });
        }
        polls += 1;
        tokio::time::sleep(poll).await;
        let get = client
            .get(format!("{base}/v1internal/{name}"))
            .bearer_auth(token.expose())
            .timeout(DISCOVERY_TIMEOUT);
        op = call("onboardUser", get).await?;
    }
    if let Some(error) = op.error.filter(|e| !e.is_null()) {
        return Err(ProjectError::NoProject(format!(
            "onboarding failed: {error}"
        )));
    }
    project_id(
        op.response
            .and_then(|r| r.cloudaicompanion_project)
            .as_ref(),
    )
    .ok_or_else(|| ProjectError::NoProject("onboarding returned no project".to_owned()))
}

/// `cloudaicompanionProject` is a string in `loadCodeAssist` and `{"id":…,"name":…}` in
/// `onboardUser`; accept either in both.
fn project_id(value: Option<&Value>) -> Option<String> {
    let id = match value? {
        Value::String(s) => s.as_str(),
        Value::Object(o) => o.get("id")?.as_str()?,
        _ => return None,
    };
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_owned())
}

fn post(
    client: &reqwest::Client,
    url: &str,
    token: &Secret,
    body: String,
) -> reqwest::RequestBuilder {
    client
        .post(url)
        .bearer_auth(token.expose())
        .header(CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT_ENCODING, "identity")
        .body(body)
        .timeout(DISCOVERY_TIMEOUT)
}

async fn call<T: for<'de> Deserialize<'de>>(
    method: &'static str,
    request: reqwest::RequestBuilder,
) -> Result<T, ProjectError> {
    let http = |e: reqwest::Error| ProjectError::Http {
        method,
        reason: e.without_url().to_string(),
    };
    let resp = request.send().await.map_err(http)?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(http)?;
    if !(200..300).contains(&status) {
        let message = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("error")?.get("message")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| {
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned()
            });
        return Err(ProjectError::Status {
            method,
            status,
            message,
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| ProjectError::BadAnswer {
        method,
        reason: e.to_string(),
    })
}

/// Code Assist projects per account: the operator's `extra.project`, else discovered once and
/// kept (Gemini CLI caches it the same way), single-flight so a burst of first requests makes
/// one discovery. A change of the account's refresh token (new login) discards the entry.
#[derive(Default)]
pub struct CodeAssistProjects {
    cells: Mutex<HashMap<AccountId, Arc<tokio::sync::Mutex<Option<Discovered>>>>>,
}

#[derive(Clone)]
struct Discovered {
    project: String,
    refresh_token: Option<Secret>,
}

impl CodeAssistProjects {
    pub fn new() -> Self {
        Self::default()
    }

    fn cell(&self, id: AccountId) -> Arc<tokio::sync::Mutex<Option<Discovered>>> {
        let mut map = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(id).or_default().clone()
    }

    /// The project to use for `account`, discovering it with `access_token` if needed.
    pub async fn project_for(
        &self,
        account: &Account,
        client: &reqwest::Client,
        hosts: &UpstreamHosts,
        access_token: &Secret,
    ) -> Result<String, ProjectError> {
        if let Some(project) = operator_project(account) {
            return Ok(project);
        }
        let cell = self.cell(account.id);
        let mut held = cell.lock().await;
        if let Some(found) = held.as_ref()
            && found.refresh_token == account.credentials.refresh_token
        {
            return Ok(found.project.clone());
        }
        let base = base_url(account, &hosts.code_assist);
        let project = discover_project_at(client, base, access_token).await?;
        tracing::info!(account = %account.name, "code assist project discovered");
        *held = Some(Discovered {
            project: project.clone(),
            refresh_token: account.credentials.refresh_token.clone(),
        });
        Ok(project)
    }

    /// The cached project, without discovering (`None` also while a discovery is running).
    pub fn cached(&self, account: &Account) -> Option<String> {
        if let Some(project) = operator_project(account) {
            return Some(project);
        }
        let cell = self.cell(account.id);
        let held = cell.try_lock().ok()?;
        held.as_ref()
            .filter(|d| d.refresh_token == account.credentials.refresh_token)
            .map(|d| d.project.clone())
    }

    /// Forgets the account's project (e.g. Code Assist said the project is not usable).
    pub fn forget(&self, id: AccountId) {
        self.cells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "test tasks are joined or dropped by their test"
)]
mod tests {
    use super::*;
    use crate::tokens::{PersistCredentials, TokenError, TokenManager};
    use chrono::Utc;
    use futures_util::future::BoxFuture;
    use serde_json::json;
    use switchyard_core::account::{AccountStatus, Credentials};
    use switchyard_protocol::InspectError;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn hosts() -> UpstreamHosts {
        UpstreamHosts {
            anthropic_api: "http://anthropic".into(),
            claude_oauth_token_url: "http://claude/token".into(),
            claude_ai: "http://claude.ai".into(),
            chatgpt: "http://chatgpt".into(),
            openai_auth: "http://auth.openai".into(),
            openai_api: "http://openai".into(),
            gemini_api: "http://gla".into(),
            code_assist: "http://ca".into(),
            google_oauth: "http://goauth/".into(),
            bedrock_runtime: "http://bedrock-{region}".into(),
        }
    }

    fn account(kind: AccountKind) -> Account {
        Account {
            id: 7,
            kind,
            name: "g".into(),
            base_url: None,
            priority: 50,
            weight: 1,
            allowed_models: Vec::new(),
            model_map: Default::default(),
            max_concurrency: 0,
            proxy_url: None,
            status: AccountStatus::Active,
            status_reason: None,
            status_until: None,
            consecutive_errors: 0,
            last_check_at: None,
            last_check_result: None,
            extra: Default::default(),
            credentials: Credentials {
                api_key: Some(Secret::new("AIza-account")),
                access_token: Some(Secret::new("ya29.account")),
                refresh_token: Some(Secret::new("1//refresh")),
                ..Credentials::default()
            },
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn client_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-goog-api-key", HeaderValue::from_static("sk-sy-client"));
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer sk-sy-client"),
        );
        h.insert("accept-encoding", HeaderValue::from_static("gzip, deflate"));
        h.insert("user-agent", HeaderValue::from_static("GeminiCLI/0.9.0"));
        h.insert("content-type", HeaderValue::from_static("text/plain"));
        h
    }

    const BODY: &str = r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":4000}}"#;

    fn run(
        kind: AccountKind,
        surface: GeminiSurface,
        action: GeminiAction,
        query: Option<&str>,
        body: &str,
        project: Option<&str>,
    ) -> Result<Prepared, AdapterError> {
        let acct = account(kind);
        let bearer = Secret::new("ya29.fresh");
        build(
            &acct,
            &hosts(),
            &GeminiTarget {
                surface,
                action: &action,
                model: Some("gemini-2.5-pro"),
                query,
            },
            &client_headers(),
            Bytes::from(body.to_owned()),
            (kind == AccountKind::Gemini).then_some(&bearer),
            project,
            "prompt-1",
        )
    }

    fn parts(p: &Prepared) -> (UpstreamFraming, ResponseShape, bool) {
        match p.answer.reshape {
            Reshape::Gemini {
                framing,
                shape,
                client_sse,
            } => (framing, shape, client_sse),
            other => panic!("not a Gemini reshape: {other:?}"),
        }
    }

    fn assert_hygiene(h: &HeaderMap) {
        assert_eq!(h["accept-encoding"], "identity");
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(h["user-agent"], "GeminiCLI/0.9.0");
    }

    #[test]
    fn api_key_public_passthrough() {
        use GeminiAction::*;
        for (action, query, url, framing, client_sse) in [
            (
                GenerateContent,
                None,
                "http://gla/v1beta/models/gemini-2.5-pro:generateContent",
                UpstreamFraming::Json,
                false,
            ),
            (
                StreamGenerateContent,
                Some("alt=sse&key=sk-sy-client"),
                "http://gla/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
                UpstreamFraming::Sse,
                true,
            ),
            (
                StreamGenerateContent,
                Some("key=sk-sy-client"),
                "http://gla/v1beta/models/gemini-2.5-pro:streamGenerateContent",
                UpstreamFraming::JsonArray,
                false,
            ),
            (
                CountTokens,
                None,
                "http://gla/v1beta/models/gemini-2.5-pro:countTokens",
                UpstreamFraming::Json,
                false,
            ),
        ] {
            let p = run(
                AccountKind::GeminiApi,
                GeminiSurface::Public,
                action,
                query,
                BODY,
                None,
            )
            .unwrap();
            assert_eq!(p.url, url);
            assert_eq!(parts(&p).0, framing);
            assert_eq!(parts(&p).2, client_sse);
            assert_eq!(parts(&p).1, ResponseShape::Passthrough);
            assert!(parts(&p).1.transform().is_none());
            assert_eq!(p.body, BODY.as_bytes());
            let h = &p.headers;
            assert_hygiene(h);
            assert_eq!(h["x-goog-api-key"], "AIza-account");
            assert!(h["x-goog-api-key"].is_sensitive());
            assert!(h.get("authorization").is_none());
        }
        let mut acct = account(AccountKind::GeminiApi);
        acct.base_url = Some("https://mirror.example/v1beta/".into());
        let p = build(
            &acct,
            &hosts(),
            &GeminiTarget {
                surface: GeminiSurface::Public,
                action: &GeminiAction::GenerateContent,
                model: Some("m"),
                query: None,
            },
            &HeaderMap::new(),
            Bytes::from_static(b"{}"),
            None,
            None,
            "u",
        )
        .unwrap();
        assert_eq!(
            p.url,
            "https://mirror.example/v1beta/models/m:generateContent"
        );
    }

    #[test]
    fn api_key_accounts_refuse_code_assist() {
        let err = run(
            AccountKind::GeminiApi,
            GeminiSurface::CodeAssist,
            GeminiAction::GenerateContent,
            None,
            BODY,
            None,
        )
        .unwrap_err();
        assert!(matches!(err, AdapterError::CodeAssistNeedsOAuth));
        let mut acct = account(AccountKind::GeminiApi);
        acct.credentials.api_key = None;
        let err = build(
            &acct,
            &hosts(),
            &GeminiTarget {
                surface: GeminiSurface::Public,
                action: &GeminiAction::GenerateContent,
                model: Some("m"),
                query: None,
            },
            &HeaderMap::new(),
            Bytes::new(),
            None,
            None,
            "u",
        )
        .unwrap_err();
        assert!(matches!(err, AdapterError::MissingApiKey(_)));
    }

    #[test]
    fn oauth_public_is_wrapped_for_code_assist() {
        use GeminiAction::*;
        for (action, query, url, shape, client_sse) in [
            (
                GenerateContent,
                None,
                "http://ca/v1internal:generateContent",
                ResponseShape::UnwrapBody,
                false,
            ),
            (
                StreamGenerateContent,
                Some("alt=sse"),
                "http://ca/v1internal:streamGenerateContent?alt=sse",
                ResponseShape::UnwrapSse,
                true,
            ),
            (
                StreamGenerateContent,
                Some("key=x"),
                "http://ca/v1internal:streamGenerateContent?alt=sse",
                ResponseShape::UnwrapSseToJsonArray,
                false,
            ),
        ] {
            let stream = action == StreamGenerateContent;
            let p = run(
                AccountKind::Gemini,
                GeminiSurface::Public,
                action,
                query,
                BODY,
                Some("proj-9"),
            )
            .unwrap();
            assert_eq!(p.url, url);
            assert_eq!(parts(&p).1, shape);
            assert!(parts(&p).1.transform().is_some());
            assert_eq!(parts(&p).2, client_sse);
            assert_eq!(
                parts(&p).0,
                if stream {
                    UpstreamFraming::Sse
                } else {
                    UpstreamFraming::Json
                }
            );
            assert_eq!(
                p.body,
                format!(
                    r#"{{"model":"gemini-2.5-pro","project":"proj-9","user_prompt_id":"prompt-1","request":{BODY}}}"#
                )
                .as_bytes()
            );
            let h = &p.headers;
            assert_hygiene(h);
            assert_eq!(h["authorization"], "Bearer ya29.fresh");
            assert!(h.get("x-goog-api-key").is_none());
        }
        let p = run(
            AccountKind::Gemini,
            GeminiSurface::Public,
            CountTokens,
            None,
            r#"{"contents":[{"parts":[{"text":"x"}]}]}"#,
            None,
        )
        .unwrap();
        assert_eq!(p.url, "http://ca/v1internal:countTokens");
        assert_eq!(
            p.body,
            r#"{"request":{"model":"models/gemini-2.5-pro","contents":[{"parts":[{"text":"x"}]}]}}"#
                .as_bytes()
        );
        assert_eq!(parts(&p).1, ResponseShape::UnwrapBody);
    }

    #[test]
    fn oauth_public_errors() {
        let err = run(
            AccountKind::Gemini,
            GeminiSurface::Public,
            GeminiAction::GenerateContent,
            None,
            BODY,
            None,
        )
        .unwrap_err();
        assert!(matches!(err, AdapterError::MissingProject(_)));
        let err = run(
            AccountKind::Gemini,
            GeminiSurface::Public,
            GeminiAction::Other("embedContent".into()),
            None,
            BODY,
            Some("p"),
        )
        .unwrap_err();
        assert!(matches!(err, AdapterError::UnsupportedAction(a) if a == "embedContent"));
        let err = run(
            AccountKind::Gemini,
            GeminiSurface::Public,
            GeminiAction::GenerateContent,
            None,
            "[1]",
            Some("p"),
        )
        .unwrap_err();
        assert!(matches!(err, AdapterError::Body(InspectError::NotAnObject)));
        let acct = account(AccountKind::Gemini);
        let err = build(
            &acct,
            &hosts(),
            &GeminiTarget {
                surface: GeminiSurface::Public,
                action: &GeminiAction::GenerateContent,
                model: Some("m"),
                query: None,
            },
            &HeaderMap::new(),
            Bytes::from_static(b"{}"),
            None,
            Some("p"),
            "u",
        )
        .unwrap_err();
        assert!(matches!(err, AdapterError::MissingToken(_)));
        let err = run(
            AccountKind::Claude,
            GeminiSurface::Public,
            GeminiAction::GenerateContent,
            None,
            BODY,
            None,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            AdapterError::WrongKind(_, AccountKind::Claude)
        ));
    }

    #[test]
    fn oauth_code_assist_passthrough() {
        let ca_body = r#"{"model":"gemini-2.5-flash","project":"client-proj","user_prompt_id":"u1","request":{"contents":[],"session_id":"s"}}"#;
        let p = run(
            AccountKind::Gemini,
            GeminiSurface::CodeAssist,
            GeminiAction::StreamGenerateContent,
            Some("alt=sse&key=sk-sy-client"),
            ca_body,
            Some("acct-proj"),
        )
        .unwrap();
        assert_eq!(p.url, "http://ca/v1internal:streamGenerateContent?alt=sse");
        assert_eq!(
            p.body,
            r#"{"model":"gemini-2.5-pro","project":"acct-proj","user_prompt_id":"u1","request":{"contents":[],"session_id":"s"}}"#.as_bytes()
        );
        assert_eq!(parts(&p).0, UpstreamFraming::Sse);
        assert_eq!(parts(&p).1, ResponseShape::Passthrough);
        assert!(parts(&p).2);
        assert_eq!(p.headers["authorization"], "Bearer ya29.fresh");
        assert_hygiene(&p.headers);

        let quota = r#"{"project":"client-proj"}"#;
        let p = run(
            AccountKind::Gemini,
            GeminiSurface::CodeAssist,
            GeminiAction::RetrieveUserQuota,
            None,
            quota,
            Some("acct-proj"),
        )
        .unwrap();
        assert_eq!(p.url, "http://ca/v1internal:retrieveUserQuota");
        assert_eq!(p.body, r#"{"project":"acct-proj"}"#.as_bytes());
        assert_eq!(parts(&p).0, UpstreamFraming::Json);

        let load = r#"{"metadata":{"ideType":"IDE_UNSPECIFIED","pluginType":"GEMINI"}}"#;
        for action in [
            GeminiAction::LoadCodeAssist,
            GeminiAction::OnboardUser,
            GeminiAction::CountTokens,
            GeminiAction::Other("recordCodeAssistMetrics".into()),
        ] {
            let name = action.as_str().to_owned();
            let p = run(
                AccountKind::Gemini,
                GeminiSurface::CodeAssist,
                action,
                None,
                load,
                None,
            )
            .unwrap();
            assert_eq!(p.url, format!("http://ca/v1internal:{name}"));
            assert_eq!(p.body, load.as_bytes());
        }
        let err = run(
            AccountKind::Gemini,
            GeminiSurface::CodeAssist,
            GeminiAction::GenerateContent,
            None,
            ca_body,
            None,
        )
        .unwrap_err();
        assert!(matches!(err, AdapterError::MissingProject(_)));
    }

    #[test]
    fn oauth_client_defaults_and_overrides() {
        let acct = account(AccountKind::Gemini);
        let c = oauth_client(&acct, &hosts());
        assert_eq!(c.token_url, "http://goauth/token");
        assert_eq!(c.client_id, GEMINI_CLI_OAUTH_CLIENT_ID);
        assert_eq!(
            c.grant,
            GrantEncoding::Form {
                client_secret: Some(Secret::new(GEMINI_CLI_OAUTH_CLIENT_SECRET))
            }
        );
        let mut custom = account(AccountKind::Gemini);
        custom
            .extra
            .insert("client_id".into(), json!("123.apps.googleusercontent.com"));
        let c = oauth_client(&custom, &hosts());
        assert_eq!(c.client_id, "123.apps.googleusercontent.com");
        assert_eq!(
            c.grant,
            GrantEncoding::Form {
                client_secret: None
            }
        );
        custom.credentials.client_secret = Some(Secret::new("GOCSPX-own"));
        assert_eq!(
            oauth_client(&custom, &hosts()).grant,
            GrantEncoding::Form {
                client_secret: Some(Secret::new("GOCSPX-own"))
            }
        );
        assert!(crate::oauth_client_for(&acct, &hosts()).is_some());
        // An access token alone is used as it is; without either token there is nothing to use.
        let mut no_refresh = account(AccountKind::Gemini);
        no_refresh.credentials.refresh_token = None;
        assert!(crate::oauth_client_for(&no_refresh, &hosts()).is_some());
        no_refresh.credentials.access_token = None;
        assert!(crate::oauth_client_for(&no_refresh, &hosts()).is_none());
        assert!(crate::oauth_client_for(&account(AccountKind::GeminiApi), &hosts()).is_none());
    }

    #[test]
    fn account_level_calls_carry_the_accounts_project() {
        let body = br#"{"cloudaicompanionProject":"client-proj","metadata":{"pluginType":"GEMINI","duetProject":"client-proj"}}"#;
        let out: serde_json::Value =
            serde_json::from_slice(&own_project(body, Some("acct-proj"))).unwrap();
        assert_eq!(out["cloudaicompanionProject"], "acct-proj");
        assert_eq!(out["metadata"]["duetProject"], "acct-proj");
        assert_eq!(out["metadata"]["pluginType"], "GEMINI");
        let metrics = br#"{"project":"other-accounts","metrics":[]}"#;
        let out: serde_json::Value =
            serde_json::from_slice(&own_project(metrics, Some("acct-proj"))).unwrap();
        assert_eq!(out["project"], "acct-proj");
        // Nothing to replace: the bytes are kept as they are.
        let plain = br#"{ "metadata" : {"ideType":"IDE_UNSPECIFIED"} }"#;
        assert_eq!(own_project(plain, Some("p")), plain.to_vec());
    }

    #[test]
    fn retry_delay_from_the_body() {
        let body = br#"{"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo"},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"0.97s"}]}}"#;
        assert_eq!(retry_delay(body), Some(ChronoDuration::milliseconds(970)));
        assert_eq!(
            retry_delay(br#"{"error":{"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}"#),
            Some(ChronoDuration::seconds(37))
        );
        assert_eq!(retry_delay(br#"{"error":{"code":429}}"#), None);
        assert_eq!(retry_delay(b"nope"), None);
    }

    // --- against a local HTTP server ---------------------------------------------------------

    type Handler = Arc<dyn Fn(&Seen) -> (u16, String) + Send + Sync>;

    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        path: String,
        headers: String,
        body: String,
    }

    struct LocalServer {
        url: String,
        seen: Arc<Mutex<Vec<Seen>>>,
    }

    impl LocalServer {
        fn seen(&self) -> Vec<Seen> {
            self.seen.lock().unwrap().clone()
        }
    }

    /// A one-request-per-connection HTTP/1.1 server: enough for a token endpoint and Code
    /// Assist's discovery calls.
    async fn serve(handler: Handler) -> LocalServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let handler = handler.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        let n = sock.read(&mut chunk).await.unwrap();
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break at + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    while buf.len() < head_end + len {
                        let n = sock.read(&mut chunk).await.unwrap();
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let raw_head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                    let mut first = raw_head.lines().next().unwrap().split(' ');
                    let seen = Seen {
                        method: first.next().unwrap().to_owned(),
                        path: first.next().unwrap().to_owned(),
                        headers: head,
                        body: String::from_utf8_lossy(&buf[head_end..]).into_owned(),
                    };
                    let (status, body) = handler(&seen);
                    log.lock().unwrap().push(seen);
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        LocalServer { url, seen }
    }

    fn http_client() -> reqwest::Client {
        crate::client::install_tls_provider();
        reqwest::Client::builder().no_proxy().build().unwrap()
    }

    struct NoPersist;

    impl PersistCredentials for NoPersist {
        fn persist(&self, _: AccountId, _: Credentials) -> BoxFuture<'_, Result<(), String>> {
            Box::pin(async { Ok(()) })
        }
    }

    fn form(body: &str) -> HashMap<String, String> {
        body.split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.replace("%2F", "/").replace("%40", "@")))
            .collect()
    }

    #[tokio::test]
    async fn refresh_grant_is_form_encoded_and_keeps_the_refresh_token() {
        let server = serve(Arc::new(|seen: &Seen| {
            if form(&seen.body).get("refresh_token").map(String::as_str) == Some("1//dead") {
                return (
                    400,
                    r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#.to_owned(),
                );
            }
            (
                200,
                r#"{"access_token":"ya29.new","expires_in":3599,"scope":"s","token_type":"Bearer","id_token":"x"}"#.to_owned(),
            )
        }))
        .await;
        let mut h = hosts();
        h.google_oauth = server.url.clone();
        let mut acct = account(AccountKind::Gemini);
        acct.credentials.expires_at = Some(Utc::now() - ChronoDuration::minutes(1));
        let oauth = crate::oauth_client_for(&acct, &h).unwrap();
        let tokens = TokenManager::new(Arc::new(NoPersist));
        let http = http_client();
        let now = Utc::now();
        let token = tokens
            .access_token(&acct, &http, &oauth, None, now)
            .await
            .unwrap();
        assert_eq!(token.expose(), "ya29.new");
        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(
            (seen[0].method.as_str(), seen[0].path.as_str()),
            ("POST", "/token")
        );
        assert!(
            seen[0]
                .headers
                .contains("content-type: application/x-www-form-urlencoded")
        );
        let fields = form(&seen[0].body);
        assert_eq!(fields["grant_type"], "refresh_token");
        assert_eq!(fields["refresh_token"], "1//refresh");
        assert_eq!(fields["client_id"], GEMINI_CLI_OAUTH_CLIENT_ID);
        assert_eq!(fields["client_secret"], GEMINI_CLI_OAUTH_CLIENT_SECRET);

        // Still fresh: no second refresh. A 401 on the new token refreshes again, with the
        // original refresh token (Google sent no new one).
        let again = tokens
            .access_token(&acct, &http, &oauth, None, now)
            .await
            .unwrap();
        assert_eq!(again.expose(), "ya29.new");
        assert_eq!(server.seen().len(), 1);
        tokens
            .access_token(&acct, &http, &oauth, Some(&again), now)
            .await
            .unwrap();
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(form(&seen[1].body)["refresh_token"], "1//refresh");

        let mut dead = account(AccountKind::Gemini);
        dead.id = 8;
        dead.credentials.refresh_token = Some(Secret::new("1//dead"));
        dead.credentials.expires_at = Some(Utc::now() - ChronoDuration::minutes(1));
        let err = tokens
            .access_token(&dead, &http, &oauth, None, now)
            .await
            .unwrap_err();
        match err {
            TokenError::Rejected { status, message } => {
                assert_eq!(status, 400);
                assert!(message.contains("invalid_grant"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn discovery_reads_the_loaded_project() {
        for project in [json!("proj-a"), json!({"id": "proj-a", "name": "n"})] {
            let answer =
                json!({"currentTier": {"id": "free-tier"}, "cloudaicompanionProject": project})
                    .to_string();
            let server = serve(Arc::new(move |_: &Seen| (200, answer.clone()))).await;
            let mut h = hosts();
            h.code_assist = server.url.clone();
            let found = discover_project(&http_client(), &h, &Secret::new("ya29.t"))
                .await
                .unwrap();
            assert_eq!(found, "proj-a");
            let seen = server.seen();
            assert_eq!(seen.len(), 1);
            assert_eq!(seen[0].path, "/v1internal:loadCodeAssist");
            assert!(seen[0].headers.contains("authorization: bearer ya29.t"));
            let body: Value = serde_json::from_str(&seen[0].body).unwrap();
            assert_eq!(
                body,
                json!({"metadata":{"ideType":"IDE_UNSPECIFIED","platform":"PLATFORM_UNSPECIFIED","pluginType":"GEMINI"}})
            );
        }
    }

    #[tokio::test]
    async fn discovery_onboards_the_free_tier_and_polls() {
        let server = serve(Arc::new(|seen: &Seen| match seen.path.as_str() {
            "/v1internal:loadCodeAssist" => (
                200,
                r#"{"allowedTiers":[{"id":"legacy-tier","userDefinedCloudaicompanionProject":true},{"id":"free-tier","isDefault":true}]}"#.to_owned(),
            ),
            "/v1internal:onboardUser" => (200, r#"{"name":"operations/op-1","done":false}"#.to_owned()),
            "/v1internal/operations/op-1" => (
                200,
                r#"{"name":"operations/op-1","done":true,"response":{"cloudaicompanionProject":{"id":"managed-123","name":"m"}}}"#.to_owned(),
            ),
            _ => (404, "{}".to_owned()),
        }))
        .await;
        let found = discover(
            &http_client(),
            &format!("{}/", server.url),
            &Secret::new("ya29.t"),
            Duration::from_millis(1),
        )
        .await
        .unwrap();
        assert_eq!(found, "managed-123");
        let seen = server.seen();
        let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/v1internal:loadCodeAssist",
                "/v1internal:onboardUser",
                "/v1internal/operations/op-1"
            ]
        );
        let onboard: Value = serde_json::from_str(&seen[1].body).unwrap();
        assert_eq!(
            onboard,
            json!({"tierId":"free-tier","metadata":{"ideType":"IDE_UNSPECIFIED","platform":"PLATFORM_UNSPECIFIED","pluginType":"GEMINI"}})
        );
        assert_eq!(seen[2].method, "GET");
    }

    #[tokio::test]
    async fn discovery_failures() {
        let cases: [(u16, &str, &str); 4] = [
            (
                200,
                r#"{"currentTier":{"id":"standard-tier"}}"#,
                "needs a Google Cloud project",
            ),
            (
                200,
                r#"{"allowedTiers":[{"id":"standard-tier","isDefault":true,"userDefinedCloudaicompanionProject":true}]}"#,
                "standard-tier",
            ),
            (
                200,
                r#"{"ineligibleTiers":[{"reasonCode":"RESTRICTED_AGE","reasonMessage":"too young"}]}"#,
                "too young",
            ),
            (
                403,
                r#"{"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}}"#,
                "denied",
            ),
        ];
        for (status, answer, expect) in cases {
            let server = serve(Arc::new(move |_: &Seen| (status, answer.to_owned()))).await;
            let err = discover_project_at(&http_client(), &server.url, &Secret::new("t"))
                .await
                .unwrap_err();
            assert!(err.is_permanent(), "{err}");
            assert!(err.to_string().contains(expect), "{err}");
        }
    }

    #[tokio::test]
    async fn project_cache() {
        let server = serve(Arc::new(|_: &Seen| {
            (
                200,
                r#"{"cloudaicompanionProject":"proj-c","currentTier":{"id":"free-tier"}}"#
                    .to_owned(),
            )
        }))
        .await;
        let mut h = hosts();
        h.code_assist = server.url.clone();
        let projects = CodeAssistProjects::new();
        let http = http_client();
        let token = Secret::new("t");
        let mut acct = account(AccountKind::Gemini);
        assert_eq!(projects.cached(&acct), None);
        for _ in 0..3 {
            assert_eq!(
                projects
                    .project_for(&acct, &http, &h, &token)
                    .await
                    .unwrap(),
                "proj-c"
            );
        }
        assert_eq!(server.seen().len(), 1);
        assert_eq!(projects.cached(&acct).as_deref(), Some("proj-c"));
        // A new login (refresh token) rediscovers.
        acct.credentials.refresh_token = Some(Secret::new("1//other"));
        assert_eq!(projects.cached(&acct), None);
        projects
            .project_for(&acct, &http, &h, &token)
            .await
            .unwrap();
        assert_eq!(server.seen().len(), 2);
        projects.forget(acct.id);
        assert_eq!(projects.cached(&acct), None);
        // The operator's project wins without asking anyone.
        acct.extra.insert("project".into(), json!(" pinned "));
        assert_eq!(
            projects
                .project_for(&acct, &http, &h, &token)
                .await
                .unwrap(),
            "pinned"
        );
        assert_eq!(projects.cached(&acct).as_deref(), Some("pinned"));
        assert_eq!(server.seen().len(), 2);
    }
}
