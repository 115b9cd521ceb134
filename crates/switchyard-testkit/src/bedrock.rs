//! The AWS Bedrock runtime mock (Anthropic models through `InvokeModel`).
//!
//! | endpoint | answer |
//! |---|---|
//! | `POST /model/{modelId}/invoke` | an Anthropic Message JSON (`id: msg_bdrk_…`, usage) |
//! | `POST /model/{modelId}/invoke-with-response-stream` | `application/vnd.amazon.eventstream` frames: one `chunk` event per Anthropic event (`{"bytes":"<base64>","p":"<padding>"}`), usage in `message_start`/`message_delta`, `amazon-bedrock-invocationMetrics` on `message_stop` |
//!
//! The frames are built by this module's own encoder (both CRC32s via `crc32fast`), independent
//! of `switchyard_protocol::eventstream`, so the relay's decoder is tested against a second
//! implementation of the format.
//!
//! Requests are checked the way Bedrock would check them, so an adapter bug fails loudly:
//! - **Authentication:** either `Authorization: Bearer <Bedrock API key>` (any non-empty token),
//!   or a SigV4 `Authorization` that is *structurally* valid (algorithm `AWS4-HMAC-SHA256`,
//!   `Credential=AKID/YYYYMMDD/region/bedrock/aws4_request`, `SignedHeaders` sorted and lower-case
//!   with `host` and `x-amz-date`, every signed header present, `x-amz-date` on the credential's
//!   day, a 64-hex signature, `x-amz-security-token` signed when sent). The signature itself is not
//!   recomputed (the mock has no secret). Otherwise 403 with Bedrock's error shape.
//! - **Body:** a JSON object with `"anthropic_version":"bedrock-2023-05-31"` and neither `model`
//!   nor `stream` (400 `ValidationException` otherwise).
//!
//! The credential used for fault queues and counts ([`MockUpstream::push_for`],
//! [`MockUpstream::count_for`]) is the Bearer token or the SigV4 access key id; the parsed SigV4
//! header of a recorded request is [`RecordedRequest::sigv4`].
//!
//! Scripted faults map onto Bedrock's behaviour: a status fault answers that status with
//! `{"message":…}` and `x-amzn-ErrorType` (429 → `ThrottlingException`, "Too many requests"),
//! keeping the fault's other headers except `anthropic-*` ones (a body that already is
//! `{"message":…}` and an `x-amzn-ErrorType` header in the fault are used as given);
//! [`Fault::ErrorEventAfter200`] ends a stream with a `serviceUnavailableException` frame after
//! one delta; [`Fault::bedrock_exception`] scripts any exception frame after N events.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::post;
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use tokio::sync::watch;

use super::{
    Config, Endpoint, MAX_BODY, RecordedRequest, Reply, Shared, build, plain, plan, stream_body,
};
use crate::bodies::{self, MockUsage};
use crate::fault::Fault;
use crate::mock::MockUpstream;

const EVENTSTREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";
const ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";
/// Marker header names of a scripted exception frame: invalid as HTTP header names, so no real
/// status fault can carry them.
const EXCEPTION_MARKER: &str = ":bedrock-exception";
const AFTER_MARKER: &str = ":after-events";

/// The Bedrock routes, merged into the mock's router.
pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/model/{model_id}/invoke",
            post(|State(s): State<Arc<Shared>>, req: Request| invoke(s, req, false)),
        )
        .route(
            "/model/{model_id}/invoke-with-response-stream",
            post(|State(s): State<Arc<Shared>>, req: Request| invoke(s, req, true)),
        )
}

impl Fault {
    /// A Bedrock stream that carries `after_events` Anthropic events and then an exception frame
    /// (`:exception-type` = `exception_type`, e.g. `throttlingException`, payload
    /// `{"message":…}`). A non-stream `invoke` answers the matching HTTP error instead. Other
    /// endpoints treat it as a 200 status fault with `message` as the body.
    pub fn bedrock_exception(
        after_events: usize,
        exception_type: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Fault::Status {
            status: 200,
            headers: vec![
                (EXCEPTION_MARKER.to_owned(), exception_type.into()),
                (AFTER_MARKER.to_owned(), after_events.to_string()),
            ],
            body: message.into(),
        }
    }

    /// [`Fault::bedrock_exception`] with `throttlingException` "Too many tokens, please wait
    /// before trying again."
    pub fn bedrock_throttling_after(after_events: usize) -> Self {
        Self::bedrock_exception(
            after_events,
            "throttlingException",
            "Too many tokens, please wait before trying again.",
        )
    }
}

/// A SigV4 `Authorization` header, taken apart (see [`RecordedRequest::sigv4`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigV4Authorization {
    pub access_key_id: String,
    /// `YYYYMMDD` of the credential scope.
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

impl SigV4Authorization {
    /// Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`, checking the
    /// structure of each part; `Err` says what is wrong.
    pub fn parse(header: &str) -> Result<Self, String> {
        let rest = header
            .strip_prefix("AWS4-HMAC-SHA256 ")
            .ok_or("the algorithm must be AWS4-HMAC-SHA256")?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let (k, v) = part
                .trim()
                .split_once('=')
                .ok_or_else(|| format!("`{}` is not key=value", part.trim()))?;
            match k {
                "Credential" => credential = Some(v),
                "SignedHeaders" => signed = Some(v),
                "Signature" => signature = Some(v),
                other => return Err(format!("unknown authorization field `{other}`")),
            }
        }
        let credential = credential.ok_or("Credential is missing")?;
        let scope: Vec<&str> = credential.split('/').collect();
        let [akid, date, region, service, terminator] = scope[..] else {
            return Err("Credential must be AKID/date/region/service/aws4_request".to_owned());
        };
        if akid.is_empty() || region.is_empty() {
            return Err("Credential has an empty access key id or region".to_owned());
        }
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("Credential date `{date}` is not YYYYMMDD"));
        }
        if terminator != "aws4_request" {
            return Err("Credential scope must end in aws4_request".to_owned());
        }
        let signed_headers: Vec<String> = signed
            .ok_or("SignedHeaders is missing")?
            .split(';')
            .map(str::to_owned)
            .collect();
        let mut sorted = signed_headers.clone();
        sorted.sort();
        sorted.dedup();
        if sorted != signed_headers
            || signed_headers
                .iter()
                .any(|h| h.is_empty() || h.bytes().any(|b| b.is_ascii_uppercase()))
        {
            return Err("SignedHeaders must be lower-case, sorted and unique".to_owned());
        }
        let signature = signature.ok_or("Signature is missing")?;
        if signature.len() != 64
            || !signature
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err("Signature must be 64 lower-case hex digits".to_owned());
        }
        Ok(Self {
            access_key_id: akid.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
            signed_headers,
            signature: signature.to_owned(),
        })
    }
}

impl RecordedRequest {
    /// The request's SigV4 `Authorization` header, parsed (`None` without one or when it is not
    /// structurally valid).
    pub fn sigv4(&self) -> Option<SigV4Authorization> {
        SigV4Authorization::parse(self.header("authorization")?).ok()
    }

    /// The Bedrock model id of a `/model/{id}/…` request, percent-decoded.
    pub fn bedrock_model_id(&self) -> Option<String> {
        model_id_from_path(self.path_only())
    }
}

impl MockUpstream {
    /// The Anthropic events (JSON, one per Bedrock `chunk`) of a default Bedrock stream for
    /// `model_id`: what the relay's transform must turn into `event: {type}\ndata: {json}\n\n`.
    pub fn bedrock_stream_events(model_id: &str, usage: &MockUsage, deltas: usize) -> Vec<String> {
        stream_events(&anthropic_model(model_id), usage, deltas)
    }

    /// The Anthropic SSE a client should receive for a default Bedrock stream.
    pub fn bedrock_anthropic_sse(model_id: &str, usage: &MockUsage, deltas: usize) -> String {
        Self::bedrock_stream_events(model_id, usage, deltas)
            .iter()
            .map(|e| format!("event: {}\ndata: {e}\n\n", event_type(e)))
            .collect()
    }

    /// The exact event-stream bytes of a default Bedrock stream.
    pub fn bedrock_stream_bytes(model_id: &str, usage: &MockUsage, deltas: usize) -> Vec<u8> {
        let frames = chunk_frames(&Self::bedrock_stream_events(model_id, usage, deltas));
        bodies::concat(&frames)
    }

    /// The non-stream `invoke` answer for `model_id`.
    pub fn bedrock_message_json(model_id: &str, usage: &MockUsage, deltas: usize) -> String {
        message_json(&anthropic_model(model_id), usage, deltas)
    }
}

/// `/model/{id}/invoke…` → the percent-decoded id.
fn model_id_from_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/model/")?;
    let (raw, _) = rest.split_once('/')?;
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |c: Option<&u8>| c.and_then(|c| char::from(*c).to_digit(16));
        match (bytes[i], hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
            (b'%', Some(h), Some(l)) => {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The Anthropic model name Bedrock reports for a model id:
/// `us.anthropic.claude-sonnet-4-5-20250929-v1:0` → `claude-sonnet-4-5-20250929`.
fn anthropic_model(model_id: &str) -> String {
    let base = model_id.rsplit('/').next().unwrap_or(model_id);
    let base = match base.find("anthropic.") {
        Some(at) => &base[at + "anthropic.".len()..],
        None => base,
    };
    let base = base.split(':').next().unwrap_or(base);
    let base = match base.rsplit_once("-v") {
        Some((stem, v)) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => stem,
        _ => base,
    };
    base.to_owned()
}

fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

fn event_type(event_json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(event_json)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_default()
}

/// Latencies reported in `amazon-bedrock-invocationMetrics` (fixed: bodies stay deterministic).
const INVOCATION_LATENCY_MS: u64 = 451;
const FIRST_BYTE_LATENCY_MS: u64 = 433;

fn stream_events(model: &str, usage: &MockUsage, deltas: usize) -> Vec<String> {
    let cache_creation = usage.cache_creation_5m + usage.cache_creation_1h;
    let mut events = Vec::with_capacity(deltas + 5);
    events.push(format!(
        concat!(
            r#"{{"type":"message_start","message":{{"id":"msg_bdrk_01MockBedrockStream0001","#,
            r#""type":"message","role":"assistant","model":{},"content":[],"stop_reason":null,"#,
            r#""stop_sequence":null,"usage":{{"input_tokens":{},"cache_creation_input_tokens":{},"#,
            r#""cache_read_input_tokens":{},"output_tokens":{}}}}}}}"#
        ),
        js(model),
        usage.input,
        cache_creation,
        usage.cache_read,
        usage.output.min(1),
    ));
    events.push(
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#
            .to_owned(),
    );
    for i in 0..deltas {
        events.push(format!(
            r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":{}}}}}"#,
            js(bodies::delta_text(i))
        ));
    }
    events.push(r#"{"type":"content_block_stop","index":0}"#.to_owned());
    events.push(format!(
        concat!(
            r#"{{"type":"message_delta","delta":{{"stop_reason":"end_turn","stop_sequence":null}},"#,
            r#""usage":{{"output_tokens":{}}}}}"#
        ),
        usage.output
    ));
    events.push(format!(
        concat!(
            r#"{{"type":"message_stop","amazon-bedrock-invocationMetrics":{{"inputTokenCount":{},"#,
            r#""outputTokenCount":{},"invocationLatency":{},"firstByteLatency":{}}}}}"#
        ),
        usage.input, usage.output, INVOCATION_LATENCY_MS, FIRST_BYTE_LATENCY_MS
    ));
    events
}

fn message_json(model: &str, usage: &MockUsage, deltas: usize) -> String {
    format!(
        concat!(
            r#"{{"id":"msg_bdrk_01MockBedrockMessage001","type":"message","role":"assistant","#,
            r#""model":{},"content":[{{"type":"text","text":{}}}],"stop_reason":"end_turn","#,
            r#""stop_sequence":null,"usage":{{"input_tokens":{},"cache_creation_input_tokens":{},"#,
            r#""cache_read_input_tokens":{},"output_tokens":{}}}}}"#
        ),
        js(model),
        js(&bodies::full_text(deltas)),
        usage.input,
        usage.cache_creation_5m + usage.cache_creation_1h,
        usage.cache_read,
        usage.output,
    )
}

// --- the event-stream encoder (independent of switchyard-protocol) ---------------------------

/// One frame with string headers (type 7): prelude, prelude CRC, headers, payload, message CRC.
fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Bytes {
    let mut block = Vec::new();
    for (name, value) in headers {
        block.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        block.extend_from_slice(name.as_bytes());
        block.push(7);
        block.extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_be_bytes());
        block.extend_from_slice(value.as_bytes());
    }
    let total = 12 + block.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&u32::try_from(total).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&u32::try_from(block.len()).unwrap_or(u32::MAX).to_be_bytes());
    let mut prelude_crc = crc32fast::Hasher::new();
    prelude_crc.update(&out);
    out.extend_from_slice(&prelude_crc.finalize().to_be_bytes());
    out.extend_from_slice(&block);
    out.extend_from_slice(payload);
    let mut message_crc = crc32fast::Hasher::new();
    message_crc.update(&out);
    out.extend_from_slice(&message_crc.finalize().to_be_bytes());
    Bytes::from(out)
}

/// Padding of "random" length (1..=36, a fixed function of the event index so bytes are
/// reproducible), like Bedrock's `p` field.
fn padding(index: usize) -> &'static str {
    const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ";
    let len = 1 + (index.wrapping_mul(2_654_435_761) >> 7) % ALPHABET.len();
    &ALPHABET[..len]
}

fn chunk_frames(events: &[String]) -> Vec<Bytes> {
    let b64 = base64::engine::general_purpose::STANDARD;
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let payload = format!(
                r#"{{"bytes":"{}","p":"{}"}}"#,
                b64.encode(e.as_bytes()),
                padding(i)
            );
            frame(
                &[
                    (":event-type", "chunk"),
                    (":content-type", "application/json"),
                    (":message-type", "event"),
                ],
                payload.as_bytes(),
            )
        })
        .collect()
}

fn exception_frame(exception_type: &str, message: &str) -> Bytes {
    frame(
        &[
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        format!(r#"{{"message":{}}}"#, js(message)).as_bytes(),
    )
}

// --- the handler ------------------------------------------------------------------------------

/// Bedrock's name and message for an HTTP error status.
fn status_error(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => (
            "ValidationException",
            "Malformed input request, please reformat your input and try again.",
        ),
        401 | 403 => (
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
        ),
        404 => (
            "ResourceNotFoundException",
            "Could not resolve the foundation model from the provided model identifier.",
        ),
        408 => (
            "ModelTimeoutException",
            "Model has timed out in processing the request.",
        ),
        424 => ("ModelErrorException", "The model returned an error."),
        429 => ("ThrottlingException", "Too many requests"),
        503 | 529 => (
            "ServiceUnavailableException",
            "Bedrock is unable to process your request.",
        ),
        500..=599 => (
            "InternalServerException",
            "The server encountered an internal error while processing the request.",
        ),
        _ => ("ValidationException", "The request could not be processed."),
    }
}

/// Bedrock's name for an in-stream exception type, as it appears in `x-amzn-ErrorType`.
fn status_for_exception(exception_type: &str) -> u16 {
    match exception_type.to_ascii_lowercase().as_str() {
        "throttlingexception" => 429,
        "validationexception" => 400,
        "servicequotaexceededexception" => 400,
        "serviceunavailableexception" => 503,
        "modeltimeoutexception" => 408,
        "accessdeniedexception" => 403,
        _ => 500,
    }
}

fn request_id(shared: &Shared) -> String {
    shared.request_id()
}

fn error_response(
    shared: &Shared,
    status: u16,
    error_type: &str,
    message: &str,
    extra: &[(String, String)],
) -> Response {
    let body = format!(r#"{{"message":{}}}"#, js(message));
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    insert(h, "x-amzn-requestid", &request_id(shared));
    insert(
        h,
        "x-amzn-errortype",
        &format!("{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
    );
    for (name, value) in extra {
        insert(h, name, value);
    }
    resp
}

fn insert(h: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        h.insert(n, v);
    }
}

/// The request's credential, or the 403 Bedrock answers.
fn authenticate(headers: &HeaderMap) -> Result<String, (&'static str, String)> {
    let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err((
            "MissingAuthenticationTokenException",
            "Missing Authentication Token".to_owned(),
        ));
    };
    if let Some((scheme, token)) = auth.split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
    {
        let token = token.trim();
        return if token.is_empty() {
            Err((
                "UnrecognizedClientException",
                "The security token included in the request is invalid.".to_owned(),
            ))
        } else {
            Ok(token.to_owned())
        };
    }
    let incomplete = |m: String| ("IncompleteSignatureException", m);
    let sig = SigV4Authorization::parse(auth).map_err(incomplete)?;
    if sig.service != "bedrock" {
        return Err((
            "InvalidSignatureException",
            format!(
                "Credential should be scoped to correct service: 'bedrock', not '{}'.",
                sig.service
            ),
        ));
    }
    for required in ["host", "x-amz-date"] {
        if !sig.signed_headers.iter().any(|h| h == required) {
            return Err(incomplete(format!("'{required}' must be a signed header.")));
        }
    }
    if headers.contains_key("x-amz-security-token")
        && !sig
            .signed_headers
            .iter()
            .any(|h| h == "x-amz-security-token")
    {
        return Err(incomplete(
            "'x-amz-security-token' is sent but not signed.".to_owned(),
        ));
    }
    for name in &sig.signed_headers {
        if !headers.contains_key(name.as_str()) {
            return Err(incomplete(format!(
                "Signed header '{name}' is missing from the request."
            )));
        }
    }
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let well_formed = amz_date.len() == 16
        && amz_date.as_bytes()[8] == b'T'
        && amz_date.ends_with('Z')
        && amz_date[..8] == sig.date;
    if !well_formed {
        return Err(incomplete(format!(
            "x-amz-date '{amz_date}' is not YYYYMMDDTHHMMSSZ on the credential's date {}.",
            sig.date
        )));
    }
    Ok(sig.access_key_id)
}

/// What Bedrock refuses in an InvokeModel body.
fn validate_body(body: &[u8]) -> Result<(), String> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return Err("Malformed input request: body is not a JSON object".to_owned());
    };
    for key in ["model", "stream"] {
        if map.contains_key(key) {
            return Err(format!(
                "Malformed input request: extraneous key [{key}] is not permitted, please reformat your input and try again."
            ));
        }
    }
    match map.get("anthropic_version").and_then(|v| v.as_str()) {
        Some(ANTHROPIC_VERSION) => Ok(()),
        Some(other) => Err(format!("Invalid API version: {other}")),
        None => Err("Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again.".to_owned()),
    }
}

fn success_headers(shared: &Shared, usage: &MockUsage) -> Vec<(&'static str, String)> {
    vec![
        ("x-amzn-requestid", request_id(shared)),
        (
            "x-amzn-bedrock-invocation-latency",
            INVOCATION_LATENCY_MS.to_string(),
        ),
        ("x-amzn-bedrock-input-token-count", usage.input.to_string()),
        (
            "x-amzn-bedrock-output-token-count",
            usage.output.to_string(),
        ),
    ]
}

fn eventstream_response(
    shared: &Shared,
    frames: Vec<Bytes>,
    cfg: &Config,
    cut: Option<super::Cut>,
    shutdown: watch::Receiver<bool>,
) -> Response {
    let mut resp = Response::new(stream_body(plan(frames, cfg, cut), shutdown));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(EVENTSTREAM_CONTENT_TYPE),
    );
    insert(h, "x-amzn-requestid", &request_id(shared));
    insert(h, "x-amzn-bedrock-content-type", "application/json");
    resp
}

async fn invoke(shared: Arc<Shared>, req: Request, stream: bool) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body unreadable or too large",
        );
    };
    shared.total.fetch_add(1, Ordering::Relaxed);
    let cfg = shared.config();
    let auth = authenticate(&parts.headers);
    let cred = auth.as_ref().ok().map(String::as_str);
    if let Some(c) = cred {
        shared.count_credential(Endpoint::Messages, c);
    }
    if cfg.recording {
        shared.record(&parts, &body, cred);
    }
    if let Err((error_type, message)) = &auth {
        return error_response(&shared, 403, error_type, message, &[]);
    }
    let Some(model_id) = model_id_from_path(parts.uri.path()) else {
        return error_response(
            &shared,
            400,
            "ValidationException",
            "Invalid model identifier",
            &[],
        );
    };
    if let Err(message) = validate_body(&body) {
        return error_response(&shared, 400, "ValidationException", &message, &[]);
    }
    let model = anthropic_model(&model_id);
    let mut shutdown = shared.shutdown.clone();
    let mut cut = None;
    let mut frames = if stream {
        chunk_frames(&stream_events(&model, &cfg.usage, cfg.deltas))
    } else {
        Vec::new()
    };
    match shared.take_fault(Endpoint::Messages, cred) {
        Some(Fault::Status {
            status,
            headers,
            body,
        }) => {
            let marker = |name: &str| {
                headers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
            };
            if let Some(exception) = marker(EXCEPTION_MARKER) {
                if !stream {
                    let status = status_for_exception(&exception);
                    let mut name = exception.clone();
                    if let Some(first) = name.get_mut(..1) {
                        first.make_ascii_uppercase();
                    }
                    return error_response(&shared, status, &name, &body, &[]);
                }
                let after = marker(AFTER_MARKER)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0usize);
                frames.truncate(after);
                frames.push(exception_frame(&exception, &body));
                return eventstream_response(&shared, frames, &cfg, None, shutdown);
            }
            return status_fault(&shared, status, headers, &body);
        }
        Some(Fault::Hang) => {
            let _ = shutdown.wait_for(|stop| *stop).await;
            return plain(StatusCode::SERVICE_UNAVAILABLE, "mock upstream shut down");
        }
        Some(Fault::SlowFirstByte(delay)) => {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = shutdown.wait_for(|stop| *stop) => {
                    return plain(StatusCode::SERVICE_UNAVAILABLE, "mock upstream shut down");
                }
            }
        }
        Some(f @ (Fault::DisconnectMidStream { .. } | Fault::StallAfter { .. })) => {
            cut = super::Cut::of(&f)
        }
        Some(Fault::ErrorEventAfter200) if stream => {
            // message_start, content_block_start, one delta; then Bedrock's overload.
            frames.truncate(3);
            frames.push(exception_frame(
                "serviceUnavailableException",
                "Bedrock is unable to process your request.",
            ));
        }
        // Without a stream there is no in-stream error: answer normally.
        Some(Fault::ErrorEventAfter200) | None => {}
    }
    if stream {
        eventstream_response(&shared, frames, &cfg, cut, shutdown)
    } else {
        let reply = Reply::Json {
            status: StatusCode::OK,
            headers: success_headers(&shared, &cfg.usage),
            body: message_json(&model, &cfg.usage, cfg.deltas),
        };
        build(reply, &cfg, cut, shutdown)
    }
}

/// A scripted status fault in Bedrock's shape.
fn status_fault(
    shared: &Shared,
    status: u16,
    headers: Vec<(String, String)>,
    body: &str,
) -> Response {
    if (200..300).contains(&status) {
        // A scripted success (a broken body, an odd encoding) goes out exactly as given.
        return super::status_response(shared, Endpoint::Messages, status, headers, body.into());
    }
    let (mut error_type, default_message) = status_error(status);
    let given_type = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-amzn-errortype"))
        .map(|(_, v)| v.split(':').next().unwrap_or(v).to_owned());
    if let Some(t) = &given_type {
        error_type = t.as_str();
    }
    // A Bedrock-shaped body keeps its message; anything else gets Bedrock's for the status.
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .or_else(|| v.get("Message"))
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| default_message.to_owned());
    let extra: Vec<(String, String)> = headers
        .into_iter()
        .filter(|(n, _)| {
            let n = n.to_ascii_lowercase();
            !n.starts_with("anthropic-") && n != "content-type" && n != "x-amzn-errortype"
        })
        .collect();
    error_response(shared, status, error_type, &message, &extra)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MockUsage;
    use switchyard_protocol::eventstream::EventStreamDecoder;
    use switchyard_protocol::{BedrockToAnthropic, StreamTransform};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    const MODEL_ID: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    const MODEL_PATH: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0";
    const BODY: &str = r#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}"#;
    const SIGV4: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    struct Raw {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Raw {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    /// A minimal HTTP/1.1 client: one request, `connection: close`, chunked or sized body.
    async fn post(mock: &MockUpstream, path: &str, headers: &[(&str, &str)], body: &str) -> Raw {
        let addr = mock.addr();
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut req = format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = std::str::from_utf8(&raw[..end]).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect();
        let mut rest = &raw[end + 4..];
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
        let body = if chunked {
            let mut body = Vec::new();
            while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
                let size =
                    usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16)
                        .unwrap();
                if size == 0 || rest.len() < eol + 2 + size {
                    break;
                }
                body.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
                rest = &rest[eol + 2 + size + 2..];
            }
            body
        } else {
            rest.to_vec()
        };
        Raw {
            status,
            headers,
            body,
        }
    }

    fn sigv4_headers() -> Vec<(&'static str, &'static str)> {
        vec![("authorization", SIGV4), ("x-amz-date", "20250101T000000Z")]
    }

    /// Decodes with the protocol crate's decoder (the other implementation) and transforms.
    fn to_anthropic_sse(bytes: &[u8]) -> String {
        let mut t = BedrockToAnthropic::new();
        let mut out = Vec::new();
        for piece in bytes.chunks(5) {
            t.push(piece, &mut out);
        }
        t.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn frames_decode_with_the_protocol_decoder() {
        let usage = MockUsage::default();
        let bytes = MockUpstream::bedrock_stream_bytes(MODEL_ID, &usage, 3);
        let mut d = EventStreamDecoder::new();
        d.push(&bytes);
        let mut n = 0;
        let mut pads = std::collections::BTreeSet::new();
        while let Some(f) = d.next_frame().unwrap() {
            assert_eq!(f.event_type(), Some("chunk"));
            assert_eq!(f.message_type(), Some("event"));
            let v: serde_json::Value = serde_json::from_slice(&f.payload).unwrap();
            pads.insert(v["p"].as_str().unwrap().len());
            n += 1;
        }
        d.finish().unwrap();
        assert_eq!(n, 3 + 5);
        assert!(pads.len() > 3, "padding lengths vary: {pads:?}");
        assert_eq!(
            to_anthropic_sse(&bytes),
            MockUpstream::bedrock_anthropic_sse(MODEL_ID, &usage, 3)
        );
        assert!(
            MockUpstream::bedrock_anthropic_sse(MODEL_ID, &usage, 3)
                .starts_with("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_bdrk_")
        );
    }

    #[test]
    fn names_and_paths() {
        assert_eq!(anthropic_model(MODEL_ID), "claude-sonnet-4-5-20250929");
        assert_eq!(
            anthropic_model("anthropic.claude-sonnet-4-6"),
            "claude-sonnet-4-6"
        );
        assert_eq!(
            anthropic_model("us.anthropic.claude-opus-4-6-v1"),
            "claude-opus-4-6"
        );
        assert_eq!(
            model_id_from_path(&format!("/model/{MODEL_PATH}/invoke")).as_deref(),
            Some(MODEL_ID)
        );
        assert_eq!(model_id_from_path("/v1/messages"), None);
        assert!(SigV4Authorization::parse(SIGV4).is_ok());
        for bad in [
            "AWS4-HMAC-SHA1 Credential=a/20250101/r/bedrock/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/2025/r/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "AWS4-HMAC-SHA256 Credential=a/20250101/r/bedrock/aws4_request, SignedHeaders=x-amz-date;host, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "AWS4-HMAC-SHA256 Credential=a/20250101/r/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=XYZ",
        ] {
            assert!(SigV4Authorization::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn stream_with_sigv4() {
        let mock = MockUpstream::start().await;
        mock.set_chunking(crate::Chunking::EveryNBytes(7));
        let r = post(
            &mock,
            &format!("/model/{MODEL_PATH}/invoke-with-response-stream"),
            &sigv4_headers(),
            BODY,
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some(EVENTSTREAM_CONTENT_TYPE));
        let usage = MockUsage::default();
        assert_eq!(
            r.body,
            MockUpstream::bedrock_stream_bytes(MODEL_ID, &usage, bodies::DEFAULT_DELTAS)
        );
        let sse = to_anthropic_sse(&r.body);
        assert!(sse.contains("\"usage\":{\"output_tokens\":38}"));
        assert!(sse.contains("amazon-bedrock-invocationMetrics"));
        let rec = mock.last_request().unwrap();
        assert_eq!(rec.bedrock_model_id().as_deref(), Some(MODEL_ID));
        assert_eq!(rec.credential.as_deref(), Some("AKIDEXAMPLE"));
        let sig = rec.sigv4().unwrap();
        assert_eq!(
            (sig.region.as_str(), sig.service.as_str()),
            ("us-east-1", "bedrock")
        );
        assert_eq!(mock.count_for("AKIDEXAMPLE"), 1);
        assert_eq!(rec.json().unwrap()["max_tokens"], 64);
    }

    #[tokio::test]
    async fn invoke_with_bearer_key() {
        let mock = MockUpstream::start().await;
        let r = post(
            &mock,
            &format!("/model/{MODEL_PATH}/invoke"),
            &[("authorization", "Bearer bedrock-key-1")],
            BODY,
        )
        .await;
        assert_eq!(r.status, 200);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert!(v["id"].as_str().unwrap().starts_with("msg_bdrk_"));
        assert_eq!(v["model"], "claude-sonnet-4-5-20250929");
        assert_eq!(v["usage"]["input_tokens"], 16);
        assert_eq!(v["usage"]["output_tokens"], 38);
        assert_eq!(
            std::str::from_utf8(&r.body).unwrap(),
            MockUpstream::bedrock_message_json(
                MODEL_ID,
                &MockUsage::default(),
                bodies::DEFAULT_DELTAS
            )
        );
        assert_eq!(mock.count_for("bedrock-key-1"), 1);
        assert!(r.header("x-amzn-requestid").is_some());
    }

    #[tokio::test]
    async fn refusals() {
        let mock = MockUpstream::start().await;
        let path = format!("/model/{MODEL_PATH}/invoke");
        // No credential.
        let r = post(&mock, &path, &[], BODY).await;
        assert_eq!(r.status, 403);
        assert!(
            r.header("x-amzn-errortype")
                .unwrap()
                .starts_with("MissingAuthenticationTokenException")
        );
        // x-amz-date missing although signed.
        let r = post(&mock, &path, &[("authorization", SIGV4)], BODY).await;
        assert_eq!(r.status, 403);
        assert!(
            r.header("x-amzn-errortype")
                .unwrap()
                .starts_with("IncompleteSignatureException")
        );
        // Wrong service.
        let other = SIGV4.replace("/bedrock/", "/s3/");
        let r = post(
            &mock,
            &path,
            &[
                ("authorization", &other),
                ("x-amz-date", "20250101T000000Z"),
            ],
            BODY,
        )
        .await;
        assert_eq!(r.status, 403);
        // Token sent but not signed.
        let r = post(
            &mock,
            &path,
            &[
                ("authorization", SIGV4),
                ("x-amz-date", "20250101T000000Z"),
                ("x-amz-security-token", "tok"),
            ],
            BODY,
        )
        .await;
        assert_eq!(r.status, 403);
        // Body with `model` / `stream`, or without anthropic_version.
        for body in [
            r#"{"anthropic_version":"bedrock-2023-05-31","model":"x","messages":[]}"#,
            r#"{"anthropic_version":"bedrock-2023-05-31","stream":true,"messages":[]}"#,
            r#"{"messages":[]}"#,
        ] {
            let r = post(&mock, &path, &sigv4_headers(), body).await;
            assert_eq!(r.status, 400, "{body}");
            assert!(
                r.header("x-amzn-errortype")
                    .unwrap()
                    .starts_with("ValidationException")
            );
        }
        assert_eq!(mock.requests().len(), 7);
    }

    #[tokio::test]
    async fn status_faults_in_bedrock_shape() {
        let mock = MockUpstream::start().await;
        let path = format!("/model/{MODEL_PATH}/invoke-with-response-stream");
        mock.push(Fault::rate_limited(4_000_000_000));
        let r = post(&mock, &path, &sigv4_headers(), BODY).await;
        assert_eq!(r.status, 429);
        assert_eq!(
            std::str::from_utf8(&r.body).unwrap(),
            r#"{"message":"Too many requests"}"#
        );
        assert!(
            r.header("x-amzn-errortype")
                .unwrap()
                .starts_with("ThrottlingException")
        );
        assert!(r.header("retry-after").is_some());
        assert!(r.header("anthropic-ratelimit-unified-reset").is_none());

        mock.push_for(
            "AKIDEXAMPLE",
            Fault::status(400, r#"{"message":"max_tokens: Field required"}"#),
        );
        let r = post(&mock, &path, &sigv4_headers(), BODY).await;
        assert_eq!(r.status, 400);
        assert_eq!(
            std::str::from_utf8(&r.body).unwrap(),
            r#"{"message":"max_tokens: Field required"}"#
        );

        mock.push(Fault::overloaded());
        let r = post(&mock, &path, &sigv4_headers(), BODY).await;
        assert_eq!(r.status, 529);
        assert!(
            r.header("x-amzn-errortype")
                .unwrap()
                .starts_with("ServiceUnavailableException")
        );
    }

    #[tokio::test]
    async fn scripted_stream_exceptions() {
        let mock = MockUpstream::start().await;
        let stream_path = format!("/model/{MODEL_PATH}/invoke-with-response-stream");
        mock.push(Fault::bedrock_throttling_after(2));
        let r = post(&mock, &stream_path, &sigv4_headers(), BODY).await;
        assert_eq!(r.status, 200);
        let sse = to_anthropic_sse(&r.body);
        assert_eq!(sse.matches("event: ").count(), 3, "{sse}");
        assert!(sse.starts_with("event: message_start\n"));
        assert!(sse.ends_with(
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"Too many tokens, please wait before trying again.\"}}\n\n"
        ));

        mock.push(Fault::ErrorEventAfter200);
        let r = post(&mock, &stream_path, &sigv4_headers(), BODY).await;
        let sse = to_anthropic_sse(&r.body);
        assert_eq!(sse.matches("event: ").count(), 4, "{sse}");
        assert!(sse.contains("\"type\":\"overloaded_error\""));

        // The same script on a non-stream invoke: the HTTP error.
        mock.push(Fault::bedrock_throttling_after(2));
        let r = post(
            &mock,
            &format!("/model/{MODEL_PATH}/invoke"),
            &sigv4_headers(),
            BODY,
        )
        .await;
        assert_eq!(r.status, 429);
        assert!(
            r.header("x-amzn-errortype")
                .unwrap()
                .starts_with("ThrottlingException")
        );

        // A broken connection after 2 frames: the decoder sees a clean cut or a truncated frame.
        mock.push(Fault::DisconnectMidStream { after_events: 2 });
        let r = post(&mock, &stream_path, &sigv4_headers(), BODY).await;
        let sse = to_anthropic_sse(&r.body);
        assert!(sse.starts_with("event: message_start\n"));
        assert!(!sse.contains("message_stop"));
    }
}
