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
    RequestOptions, ResponseOptions, StreamConverter, StreamOptions, convert_error,
    convert_request, convert_response,
};
use switchyard_protocol::{GeminiAction, GeminiSurface};

use crate::adapter::{self, AdapterError, Api, ClientRequest, GeminiCall, Grant, Prepared};
use crate::client::UpstreamHosts;

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
    let options = RequestOptions {
        lossy: false,
        model: Some(upstream_model.to_string()),
        stream: None,
    };
    let converted =
        convert_request(client, target.dialect(), &req.body, &options).map_err(|e| {
            tracing::info!(field = e.field(), error = %e, "request cannot be converted");
            AdapterError::Refuse {
                status: e.status(),
                body: e.body(client),
                message: e.to_string(),
            }
        })?;
    let stream = converted.stream;
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
            action: if stream {
                GeminiAction::StreamGenerateContent
            } else {
                GeminiAction::GenerateContent
            },
            has_model: true,
        }),
        request_id: req.request_id.clone(),
    };
    let mut prepared = adapter::native(&target_req, account, upstream_model, hosts, grant)?;
    prepared.answer.convert = Some(Conversion {
        client,
        upstream: target.dialect(),
        model: req.model.clone(),
        chat_include_usage: req.include_usage,
        freeform_tools: converted.freeform_tools,
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
        let options = ResponseOptions {
            created: Self::created(),
            model: Some(self.model.clone()),
            freeform_tools: self.freeform_tools.clone(),
            gemini_code_assist: false,
        };
        match convert_response(self.upstream, self.client, body, &options) {
            Ok(r) => Ok(r.body),
            Err(e) => {
                tracing::warn!(error = %e, "upstream answer could not be converted");
                Err(Unconvertible {
                    status: 502,
                    body: switchyard_protocol::error_body(
                        self.client,
                        502,
                        &format!("the upstream's answer could not be converted: {e}"),
                    ),
                })
            }
        }
    }

    /// An upstream error retold in the client's dialect, keeping its class and status family.
    pub fn error(&self, status: u16, body: &[u8]) -> (u16, String) {
        let e = convert_error(self.upstream, status, body, self.client);
        (e.status, e.body)
    }
}
