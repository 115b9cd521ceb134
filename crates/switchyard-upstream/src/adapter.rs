//! The adapter seam (DESIGN.md, phase 6): which account kinds serve each client API, and the
//! one dispatch from (client API, account kind) to the adapter that builds the upstream request
//! and says how its answer comes back.
//!
//! The relay's dialect modules only inspect the client's request and hand it over as a
//! [`ClientRequest`]; everything an account kind needs done to it — model mapping,
//! `store:false` and stream-only collection for the ChatGPT backend, the Chat usage chunk,
//! Bedrock's body and signature, Code Assist wrapping, conversion to another dialect — happens
//! below [`prepare`]. The table is [`native_kinds`] + [`converted_kinds`]: a kind listed there
//! is served, natively or through conversion (issue 18, ADR 0010), and nothing else is.

use bytes::Bytes;
use http::{HeaderMap, Method};
use switchyard_core::account::{Account, AccountKind};
use switchyard_core::{Dialect, Secret};
use switchyard_protocol::{GeminiAction, GeminiSurface, InspectError, json_edit};

use crate::classify::{Classified, StateChange};
use crate::client::UpstreamHosts;
use crate::convert::Conversion;
use crate::gemini::{ResponseShape, UpstreamFraming};
use crate::openai::OpenaiApi;
use crate::sigv4::SigV4Error;
use crate::{anthropic, bedrock, convert, gemini, openai};

/// A client-facing API: one row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Messages,
    CountTokens,
    ChatCompletions,
    Responses,
    ResponsesCompact,
    /// The public Gemini API (`/v1beta/models/{model}:{action}`).
    Gemini,
    /// Code Assist (`/v1internal:{method}`), Gemini CLI's Google login.
    CodeAssist,
}

impl Api {
    pub const fn dialect(self) -> Dialect {
        match self {
            Api::Messages | Api::CountTokens => Dialect::Anthropic,
            Api::ChatCompletions => Dialect::OpenaiChat,
            Api::Responses | Api::ResponsesCompact => Dialect::OpenaiResponses,
            Api::Gemini | Api::CodeAssist => Dialect::Gemini,
        }
    }
}

/// The kinds that serve `api` in its own dialect. `/v1/responses` draws on `openai` and
/// `azure` accounts too, so a deployment whose only account is OpenAI-compatible serves Codex;
/// Bedrock serves Messages in the same pool as Claude accounts but has no count_tokens.
pub const fn native_kinds(api: Api) -> &'static [AccountKind] {
    use AccountKind::*;
    match api {
        Api::Messages => &[ClaudeOfficial, Claude, Bedrock],
        Api::CountTokens => &[ClaudeOfficial, Claude],
        Api::ChatCompletions => &[Openai, Azure],
        Api::Responses | Api::ResponsesCompact => &[OpenaiResponses, Openai, Azure],
        Api::Gemini => &[GeminiApi, Gemini],
        Api::CodeAssist => &[Gemini],
    }
}

/// The kinds that serve `api` through conversion, each spoken to in [`converted_api`] of its
/// kind (subject to the `cross_dialect` setting and the relay's model rules). Compaction and
/// Code Assist are served natively only: they have no counterpart elsewhere.
pub const fn converted_kinds(api: Api) -> &'static [AccountKind] {
    use AccountKind::*;
    match api {
        Api::Messages => &[Openai, Azure, OpenaiResponses, GeminiApi, Gemini],
        Api::ChatCompletions => &[
            ClaudeOfficial,
            Claude,
            Bedrock,
            OpenaiResponses,
            GeminiApi,
            Gemini,
        ],
        Api::Responses => &[ClaudeOfficial, Claude, Bedrock, GeminiApi, Gemini],
        Api::Gemini => &[
            ClaudeOfficial,
            Claude,
            Bedrock,
            Openai,
            Azure,
            OpenaiResponses,
        ],
        // Counted by the upstream's own counter (Gemini countTokens, Responses input_tokens);
        // an OpenAI Chat account has none and refuses with a 400 saying so.
        Api::CountTokens => &[Openai, Azure, OpenaiResponses, GeminiApi, Gemini],
        Api::ResponsesCompact | Api::CodeAssist => &[],
    }
}

/// The API an account kind is spoken to in when it serves another dialect's client: `openai`
/// accounts through Chat Completions, the one API every OpenAI-compatible provider has.
pub const fn converted_api(kind: AccountKind) -> Api {
    match kind {
        AccountKind::ClaudeOfficial | AccountKind::Claude | AccountKind::Bedrock => Api::Messages,
        AccountKind::Openai | AccountKind::Azure => Api::ChatCompletions,
        AccountKind::OpenaiResponses => Api::Responses,
        AccountKind::Gemini | AccountKind::GeminiApi => Api::Gemini,
    }
}

/// How an account kind serves an API, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    Native,
    /// Converted to and from this API.
    Converted(Api),
}

/// The API the upstream is spoken to in when `kind` serves `api`.
pub fn upstream_api(api: Api, kind: AccountKind) -> Option<Api> {
    match hop(api, kind)? {
        Hop::Native => Some(api),
        Hop::Converted(target) => Some(target),
    }
}

pub fn hop(api: Api, kind: AccountKind) -> Option<Hop> {
    if native_kinds(api).contains(&kind) {
        Some(Hop::Native)
    } else if converted_kinds(api).contains(&kind) {
        Some(Hop::Converted(converted_api(kind)))
    } else {
        None
    }
}

/// A Gemini call, as `inspect_gemini` read it from the path.
#[derive(Debug, Clone)]
pub struct GeminiCall {
    pub surface: GeminiSurface,
    pub action: GeminiAction,
    /// Whether the call names a model (account-level Code Assist calls do not).
    pub has_model: bool,
}

/// A client's request after inspection: what every adapter may need, parsed once.
#[derive(Debug, Clone)]
pub struct ClientRequest {
    pub api: Api,
    /// POST for every model call; GET for the few Code Assist reads Gemini CLI makes.
    pub method: Method,
    /// The client's query string, if any.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The model the client asked for.
    pub model: String,
    pub stream: bool,
    /// Responses: the body's `store`, as inspection read it.
    pub store: Option<bool>,
    /// Chat Completions: whether the client asked for the usage chunk itself.
    pub include_usage: bool,
    /// Gemini and Code Assist: the call.
    pub gemini: Option<GeminiCall>,
    /// The relay's request id (Code Assist wants one as `user_prompt_id`).
    pub request_id: String,
    /// Converting to another dialect may leave out what the target cannot carry (listed in
    /// the conversion's `dropped`) instead of refusing (the `cross_dialect_lossy` setting).
    pub lossy: bool,
}

impl ClientRequest {
    /// Makes the request ask for `model` instead (an operator's model alias resolved): the
    /// body's `model` follows, except for the public Gemini API, whose model is in the URL path
    /// the adapter builds. Only a request that used an alias pays for the edit.
    pub fn rename_model(&mut self, model: &str) -> Result<(), AdapterError> {
        if self.api != Api::Gemini {
            self.body = with_model(&self.body, &self.model, model)?;
        }
        self.model = model.to_string();
        Ok(())
    }
}

/// What an attempt obtained for its account before the request is built: the OAuth access
/// token and, for a Google login, its Code Assist project.
#[derive(Debug, Default)]
pub struct Grant {
    pub bearer: Option<Secret>,
    pub project: Option<String>,
}

/// A built upstream request and how its answer comes back.
#[derive(Debug)]
pub struct Prepared {
    pub method: Method,
    pub url: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub answer: Answer,
}

impl Prepared {
    /// A POST whose answer passes through unchanged.
    pub(crate) fn post(url: String, headers: HeaderMap, body: Bytes) -> Self {
        Prepared {
            method: Method::POST,
            url,
            headers,
            body,
            answer: Answer::default(),
        }
    }
}

/// How the upstream's answer becomes the client's (DESIGN.md, phase 7). The default passes
/// it through untouched: the native path stays byte-exact.
#[derive(Debug, Default)]
pub struct Answer {
    /// The upstream only streams but the client asked for one JSON response (the ChatGPT
    /// backend): gather the stream and answer with its final response object.
    pub collect_stream: bool,
    /// Switchyard asked for a Chat usage chunk the client did not request: strip it again.
    pub strip_chat_usage: bool,
    pub reshape: Reshape,
    /// Set when the account speaks another dialect than the client (issue 18): the answer,
    /// stream and errors are converted back.
    pub convert: Option<Conversion>,
}

/// The named transforms for upstreams that answer in another shape than the client asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reshape {
    #[default]
    None,
    /// Bedrock: the binary event-stream becomes Anthropic SSE; errors become Anthropic errors.
    Bedrock,
    /// Gemini: the upstream's framing picks the usage tap; a Code Assist answer to a public-API
    /// client is unwrapped (and re-framed as the client asked: SSE or a JSON array).
    Gemini {
        framing: UpstreamFraming,
        shape: ResponseShape,
        client_sse: bool,
    },
}

/// Why an upstream request could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("account `{0}` has no API key")]
    MissingApiKey(String),
    #[error("account `{0}` has no access token")]
    MissingToken(String),
    #[error("account `{0}` has no Code Assist project")]
    MissingProject(String),
    #[error("account `{0}` lacks its `{1}` setting")]
    MissingSetting(String, &'static str),
    #[error("the request names no model")]
    MissingModel,
    #[error("account `{0}` is of kind {1}, which cannot serve this request")]
    WrongKind(String, AccountKind),
    #[error("`gemini-api` accounts cannot serve Code Assist (`v1internal`) requests")]
    CodeAssistNeedsOAuth,
    #[error("`{0}` is not available through a Google-login (Code Assist) account")]
    UnsupportedAction(String),
    #[error(
        "account `{0}` has neither a Bedrock API key nor an AWS access key id and secret access key"
    )]
    MissingAwsCredentials(String),
    #[error("account `{0}` has an invalid region `{1}` (expected e.g. us-east-1)")]
    InvalidRegion(String, String),
    #[error(transparent)]
    Sign(#[from] SigV4Error),
    /// The account has no upstream name for the model (e.g. a Claude model Bedrock has no
    /// default id for): another account may; if none can, the client is told which mapping
    /// to add.
    #[error("account `{account}` cannot map model `{model}`: {hint}")]
    UnmappedModel {
        account: String,
        model: String,
        hint: String,
    },
    /// The client's body cannot be edited as the account needs (it passed inspection, so
    /// this is rare): the request's fault, not the account's.
    #[error("the request body cannot be prepared: {0}")]
    Body(#[from] InspectError),
    /// The request cannot be served this way (a field a converted target cannot carry): the
    /// client gets this answer, in its own dialect, and nothing is sent upstream.
    #[error("the request cannot be converted: {message}")]
    Refuse {
        status: u16,
        body: String,
        message: String,
    },
}

impl AdapterError {
    /// Whether another account may build the request (a credential or mapping of this
    /// account is missing) rather than the request itself being unservable.
    pub fn is_account(&self) -> bool {
        !matches!(self, AdapterError::Body(_) | AdapterError::Refuse { .. })
    }
}

/// Builds the upstream request for `account`, which the scheduler picked for `req` with
/// `upstream_model` (the name after the account's model map).
pub fn prepare(
    req: &ClientRequest,
    account: &Account,
    upstream_model: &str,
    hosts: &UpstreamHosts,
    grant: &Grant,
) -> Result<Prepared, AdapterError> {
    match hop(req.api, account.kind) {
        Some(Hop::Native) => native(req, account, upstream_model, hosts, grant),
        Some(Hop::Converted(target)) => {
            convert::prepare(req, target, account, upstream_model, hosts, grant)
        }
        None => Err(AdapterError::WrongKind(account.name.clone(), account.kind)),
    }
}

/// The dispatch for an account that speaks the request's own dialect.
pub(crate) fn native(
    req: &ClientRequest,
    account: &Account,
    upstream_model: &str,
    hosts: &UpstreamHosts,
    grant: &Grant,
) -> Result<Prepared, AdapterError> {
    let bearer = grant.bearer.as_ref();
    match (req.api, account.kind) {
        (Api::Messages | Api::CountTokens, AccountKind::Bedrock) => {
            bedrock::prepare(account, hosts, req, upstream_model, chrono::Utc::now())
        }
        (Api::Messages | Api::CountTokens, _) => {
            let body = with_model(&req.body, &req.model, upstream_model)?;
            anthropic::prepare(account, hosts, req, body, bearer)
        }
        (Api::ChatCompletions | Api::Responses | Api::ResponsesCompact, _) => {
            let api = match req.api {
                Api::ChatCompletions => OpenaiApi::ChatCompletions,
                Api::ResponsesCompact => OpenaiApi::Responses { compact: true },
                _ => OpenaiApi::Responses { compact: false },
            };
            openai::prepare(account, hosts, api, req, upstream_model, bearer)
        }
        (Api::Gemini | Api::CodeAssist, _) => {
            gemini::prepare(account, hosts, req, upstream_model, grant)
        }
    }
}

/// The body with `model` set to `upstream_model`; untouched (no copy) when they agree.
pub(crate) fn with_model(
    body: &Bytes,
    requested: &str,
    upstream_model: &str,
) -> Result<Bytes, AdapterError> {
    if upstream_model == requested {
        return Ok(body.clone());
    }
    let value = serde_json::to_string(upstream_model)
        .map_err(|e| InspectError::InvalidValue(e.to_string()))?;
    Ok(json_edit::set_top_level(body, "model", &value)?.into())
}

/// An adapter's corrections to the classification of its upstream's refusal: Google says when
/// to retry in the body (`RetryInfo`), not in a header. Returns whether the account's Code
/// Assist project no longer answers and must be discovered again.
pub fn on_refusal(
    kind: AccountKind,
    answer: &Answer,
    status: u16,
    body: &[u8],
    classified: &mut Classified,
) -> bool {
    if matches!(answer.reshape, Reshape::Gemini { .. })
        && let StateChange::Cool { until, .. } = &mut classified.state
        && let Some(delay) = gemini::retry_delay(body)
    {
        *until = chrono::Utc::now() + switchyard_core::time::seconds(delay.num_seconds().max(1));
    }
    kind == AccountKind::Gemini
        && matches!(status, 403 | 404)
        && String::from_utf8_lossy(body).contains("project")
}

#[cfg(test)]
mod tests {
    use super::*;

    const APIS: [Api; 7] = [
        Api::Messages,
        Api::CountTokens,
        Api::ChatCompletions,
        Api::Responses,
        Api::ResponsesCompact,
        Api::Gemini,
        Api::CodeAssist,
    ];

    #[test]
    fn a_kind_serves_an_api_one_way_at_most() {
        for api in APIS {
            for kind in native_kinds(api) {
                assert!(
                    !converted_kinds(api).contains(kind),
                    "{api:?}: {kind:?} is native and converted"
                );
            }
            for kind in converted_kinds(api) {
                // A converted hop lands on an API the kind serves natively.
                let target = converted_api(*kind);
                assert_ne!(target.dialect(), api.dialect(), "{api:?}: {kind:?}");
                assert_eq!(hop(target, *kind), Some(Hop::Native), "{api:?}: {kind:?}");
            }
        }
    }
}
