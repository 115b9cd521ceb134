//! The converted hop of the adapter seam (issue 18, ADR 0010): a request for an account of
//! another family is converted to the API that account is spoken to in, built by that API's
//! native adapter, and its answer, stream and errors are converted back.
//!
//! The client's headers stay behind (they mean nothing to the other API). A field the target
//! cannot carry refuses the request with a 400 in the client's dialect, and nothing is sent.
//! The usage tap reads the upstream's own bytes, so billing follows what the upstream reported.

use http::{HeaderMap, Method};
use switchyard_core::Dialect;
use switchyard_core::account::Account;
use switchyard_protocol::StreamTransform;
use switchyard_protocol::convert::{
    ConvertError, RequestOptions, ResponseOptions, StreamConverter, StreamOptions,
    convert_count_tokens, convert_count_tokens_response, convert_error, convert_request,
    convert_response,
};
use switchyard_protocol::{GeminiAction, GeminiSurface};

use crate::adapter::{self, AdapterError, Api, ClientRequest, GeminiCall, Grant, Prepared};
use crate::client::UpstreamHosts;
use crate::openai::{self, OpenaiApi};

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
    /// A token count: the answer is the upstream counter's.
    pub count_tokens: bool,
    /// What the conversion left out (lossy) or adapted: `path (why)` each.
    pub dropped: Vec<String>,
}

/// Converts `req` for `account`, spoken to in `target`.
pub(crate) fn prepare(
    req: &ClientRequest,
    target: Api,
    account: &Account,
    upstream_model: &str,
    hosts: &UpstreamHosts,
    grant: &Grant,
) -> Result<Prepared, AdapterError> {
    let client = req.api.dialect();
    if client == Dialect::Gemini
        && req.stream
        && !switchyard_protocol::gemini::wants_sse(req.query.as_deref())
    {
        // A converted stream is written as SSE; the streamed JSON array is Gemini's own.
        let message = "a streamed request without `alt=sse` is served only by Gemini accounts; add `alt=sse` to the query";
        return Err(AdapterError::Refuse {
            status: 400,
            body: switchyard_protocol::error_body(client, 400, message),
            message: message.into(),
        });
    }
    let options = RequestOptions {
        lossy: req.lossy,
        model: Some(upstream_model.to_string()),
        // A Gemini client says it streams in the URL, not the body.
        stream: (client == Dialect::Gemini).then_some(req.stream),
    };
    let counts = req.api == Api::CountTokens;
    let converted = if counts {
        convert_count_tokens(client, target.dialect(), &req.body, &options)
    } else {
        convert_request(client, target.dialect(), &req.body, &options)
    }
    .map_err(|e| {
        tracing::info!(field = e.field(), error = %e, "request cannot be converted");
        AdapterError::Refuse {
            status: e.status(),
            body: e.body(client),
            message: e.to_string(),
        }
    })?;
    if !converted.dropped.is_empty() {
        let fields: Vec<&str> = converted.dropped.iter().map(|d| d.field.as_str()).collect();
        tracing::info!(request_id = %req.request_id, dropped = ?fields, "lossy conversion left fields out");
    }
    let stream = converted.stream && !counts;
    let target_req = ClientRequest {
        api: target,
        method: Method::POST,
        query: (target == Api::Gemini && stream).then(|| "alt=sse".to_string()),
        headers: HeaderMap::new(),
        body: converted.body.into(),
        model: upstream_model.to_string(),
        stream,
        store: None,
        // The converter asks a Chat upstream for its usage chunk itself.
        include_usage: true,
        gemini: (target == Api::Gemini).then_some(GeminiCall {
            surface: GeminiSurface::Public,
            action: match (counts, stream) {
                (true, _) => GeminiAction::CountTokens,
                (false, true) => GeminiAction::StreamGenerateContent,
                (false, false) => GeminiAction::GenerateContent,
            },
            has_model: true,
        }),
        request_id: req.request_id.clone(),
        lossy: false,
    };
    let mut prepared = if counts && target == Api::Responses {
        // The Responses API counts at its own path.
        let bearer = grant.bearer.as_ref();
        openai::prepare(
            account,
            hosts,
            OpenaiApi::InputTokens,
            &target_req,
            upstream_model,
            bearer,
        )?
    } else {
        adapter::native(&target_req, account, upstream_model, hosts, grant)?
    };
    prepared.answer.convert = Some(Conversion {
        client,
        upstream: target.dialect(),
        model: req.model.clone(),
        chat_include_usage: req.include_usage,
        freeform_tools: converted.freeform_tools,
        count_tokens: counts,
        dropped: converted
            .dropped
            .into_iter()
            .map(|d| format!("{} ({})", d.field, d.why))
            .collect(),
    });
    Ok(prepared)
}

/// A whole upstream answer that could not be converted: the client's status and error body.
#[derive(Debug)]
pub struct Unconvertible {
    pub status: u16,
    pub body: String,
}

impl Conversion {
    fn created() -> u64 {
        chrono::Utc::now().timestamp().max(0) as u64
    }

    /// The transform for a streamed answer (converted event by event, never buffered whole).
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

    /// A whole (non-streaming) answer in the client's dialect. It is converted before the
    /// client sees a byte, so a failure is still an error status, not a broken 200.
    pub fn whole(&self, body: &[u8]) -> Result<Vec<u8>, Unconvertible> {
        if self.count_tokens {
            return convert_count_tokens_response(self.upstream, self.client, body)
                .map(|(_, out)| out)
                .map_err(|e| self.unconvertible(&e));
        }
        let options = ResponseOptions {
            created: Self::created(),
            model: Some(self.model.clone()),
            freeform_tools: self.freeform_tools.clone(),
            gemini_code_assist: false,
        };
        convert_response(self.upstream, self.client, body, &options)
            .map(|r| r.body)
            .map_err(|e| self.unconvertible(&e))
    }

    fn unconvertible(&self, e: &ConvertError) -> Unconvertible {
        tracing::warn!(error = %e, "upstream answer could not be converted");
        Unconvertible {
            status: 502,
            body: switchyard_protocol::error_body(
                self.client,
                502,
                &format!("the upstream's answer could not be converted: {e}"),
            ),
        }
    }

    /// An upstream error retold in the client's dialect, keeping its class and status family.
    pub fn error(&self, status: u16, body: &[u8]) -> (u16, String) {
        let e = convert_error(self.upstream, status, body, self.client);
        (e.status, e.body)
    }
}
