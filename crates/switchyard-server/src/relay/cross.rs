//! Cross-dialect serving (issue 18, ADR 0010): which accounts of another family may serve a
//! request, and the glue between the relay and `switchyard_protocol::convert`.
//!
//! The native path never comes here: a request is converted only when the account the
//! scheduler chose speaks another dialect than the client (see [`family`]). Then the request
//! body is converted in the forward phase (a field the target cannot carry is a 400 in the
//! client's dialect, and nothing is sent upstream), the answer or stream is converted back in
//! the respond phase by a [`StreamTransform`] with the usage tap reading the upstream's own
//! bytes (so billing follows what the upstream reported), and upstream errors are retold in
//! the client's dialect keeping their class.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use switchyard_core::Dialect;
use switchyard_core::account::{Account, AccountKind};
use switchyard_core::settings::Settings;
use switchyard_protocol::StreamTransform;
use switchyard_protocol::convert::{
    ConvertedRequest, RequestOptions, ResponseOptions, StreamConverter, StreamOptions,
    convert_error, convert_request, convert_response,
};

/// The `cross_dialect` runtime setting: when accounts of another family may serve a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrossDialect {
    /// Only accounts of the client's own family (the behaviour before conversion existed).
    Off,
    /// Native accounts first; converted ones only when no native account can serve the request.
    Fallback,
    /// Native and converted accounts in one pool (priority and weight decide).
    Any,
}

impl CrossDialect {
    pub fn from_settings(settings: &Settings) -> Self {
        match settings.text_ref("cross_dialect") {
            "off" => CrossDialect::Off,
            "any" => CrossDialect::Any,
            _ => CrossDialect::Fallback,
        }
    }
}

/// The dialect an account kind is spoken to in when it serves a converted request. `openai`
/// accounts are reached through Chat Completions, the one API every OpenAI-compatible
/// provider has.
pub fn family(kind: AccountKind) -> Dialect {
    match kind {
        AccountKind::ClaudeOfficial | AccountKind::Claude | AccountKind::Bedrock => {
            Dialect::Anthropic
        }
        AccountKind::Openai | AccountKind::Azure => Dialect::OpenaiChat,
        AccountKind::OpenaiResponses => Dialect::OpenaiResponses,
        AccountKind::Gemini | AccountKind::GeminiApi => Dialect::Gemini,
    }
}

/// Whether `account` may serve `model` for a client of another family.
///
/// An account that lists no models serves any model natively, but a Claude account cannot
/// answer for `gpt-5`: across families the model must be listed or mapped explicitly, or
/// carry the family's own name prefix.
pub fn serves_converted(account: &Account, model: &str) -> bool {
    if account.model_map.contains_key(model) {
        return true;
    }
    if !account.allowed_models.is_empty() {
        return account.upstream_model(model).is_some();
    }
    let prefixes: &[&str] = match family(account.kind) {
        Dialect::Anthropic => &["claude-"],
        Dialect::OpenaiChat | Dialect::OpenaiResponses => {
            &["gpt-", "o1", "o3", "o4", "chatgpt-", "codex-"]
        }
        Dialect::Gemini => &["gemini-"],
    };
    prefixes.iter().any(|p| model.starts_with(p))
}

/// How a converted exchange is carried back to the client.
#[derive(Debug, Clone)]
pub struct Conversion {
    pub client: Dialect,
    pub upstream: Dialect,
    /// The model the client asked for, shown back to it.
    pub model: String,
    /// Chat clients: whether they asked for the usage chunk.
    pub chat_include_usage: bool,
    pub freeform_tools: Vec<String>,
}

/// Converts a client body for `account`; a refusal is the client's 400 (or 502), ready to send.
pub fn request(
    client: Dialect,
    account: &Account,
    upstream_model: &str,
    body: &[u8],
) -> Result<ConvertedRequest, Response<Body>> {
    let options = RequestOptions {
        lossy: false,
        model: Some(upstream_model.to_string()),
        stream: None,
    };
    convert_request(client, family(account.kind), body, &options).map_err(|e| {
        tracing::info!(field = e.field(), error = %e, "request cannot be converted");
        json_response(e.status(), e.body(client))
    })
}

impl Conversion {
    fn created() -> u64 {
        chrono::Utc::now().timestamp().max(0) as u64
    }

    /// The transform for a streamed answer.
    pub fn stream(&self) -> Box<dyn StreamTransform> {
        let options = StreamOptions {
            created: Self::created(),
            model: Some(self.model.clone()),
            chat_include_usage: self.chat_include_usage,
            freeform_tools: self.freeform_tools.clone(),
            gemini_code_assist: false,
        };
        Box::new(StreamConverter::new(self.upstream, self.client, &options))
    }

    /// The transform for a whole (non-streaming) answer: it gathers the upstream body and
    /// writes the client's at the end, since a JSON answer can only be converted whole.
    pub fn whole(&self) -> Box<dyn StreamTransform> {
        Box::new(WholeConverter {
            conversion: self.clone(),
            buf: Vec::new(),
        })
    }

    /// An upstream error retold in the client's dialect, keeping its class and status family.
    pub fn error(&self, status: u16, body: &[u8]) -> Response<Body> {
        let e = convert_error(self.upstream, status, body, self.client);
        json_response(e.status, e.body)
    }
}

struct WholeConverter {
    conversion: Conversion,
    buf: Vec<u8>,
}

impl StreamTransform for WholeConverter {
    fn push(&mut self, chunk: &[u8], _out: &mut Vec<u8>) {
        self.buf.extend_from_slice(chunk);
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        let c = &self.conversion;
        let options = ResponseOptions {
            created: Conversion::created(),
            model: Some(c.model.clone()),
            freeform_tools: c.freeform_tools.clone(),
            gemini_code_assist: false,
        };
        match convert_response(c.upstream, c.client, &self.buf, &options) {
            Ok(r) => out.extend_from_slice(&r.body),
            Err(e) => {
                // The status is already sent: the body at least says what went wrong, in the
                // client's own error shape.
                tracing::warn!(error = %e, "upstream answer could not be converted");
                out.extend_from_slice(e.body(c.client).as_bytes());
            }
        }
    }
}

fn json_response(status: u16, body: String) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
