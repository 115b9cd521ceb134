//! Code Assist (`cloudcode-pa.googleapis.com/v1internal:*`, what Gemini CLI's Google login talks
//! to) versus the public Gemini API (`/v1beta/models/{model}:*`).
//!
//! A `gemini` (Google OAuth) account can serve only Code Assist, so a public-API request routed to
//! one is wrapped on the way up and its answer unwrapped on the way down:
//!
//! | public API | Code Assist |
//! |---|---|
//! | request body `{…}` | `{"model":…,"project":…,"user_prompt_id":…,"request":{…}}` |
//! | countTokens `{"contents":[…]}` | `{"request":{"model":"models/…","contents":[…]}}` |
//! | response / SSE event `{…}` | `{"response":{…},"traceId":…}` |
//! | countTokens answer `{"totalTokens":N}` | the same (not wrapped) |
//!
//! The client's body is embedded as raw bytes and the inner response is cut out as raw bytes:
//! nothing is re-serialised, so numbers, key order and unknown fields survive exactly.
//!
//! Streams: Switchyard always asks Code Assist for `alt=sse` and produces whichever form the
//! client asked for from it — SSE events ([`CodeAssistSseToPublic`]) or the streamed JSON array
//! a public `streamGenerateContent` without `alt=sse` returns ([`CodeAssistSseToJsonArray`]).
//! One upstream framing means one decoder to trust (Gemini CLI itself only uses `alt=sse`), and
//! SSE events arrive whole, which the array form needs to place its commas. A non-stream body is
//! unwrapped by [`CodeAssistBodyUnwrap`], so every case plugs into the passthrough body through
//! the same [`StreamTransform`] trait.
//!
//! Output events end in CRLF CRLF like Google's own, and nothing else is ever added: Gemini
//! CLI's stream parser throws on anything but `data:` and blank lines.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use switchyard_core::Dialect;

use crate::errors::error_body;
use crate::inspect::InspectError;
use crate::json_edit;
use crate::sse::{SseDecoder, SseEvent};
use crate::transform::StreamTransform;

/// Default bound on one upstream event held while it is unwrapped. Events carry one chunk of a
/// response; inline image data is the only thing that makes them large, and a few MiB of base64
/// is already a big image.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 32 * 1024 * 1024;

/// Default bound on a non-stream body held for unwrapping.
pub const DEFAULT_MAX_BODY_SIZE: usize = 64 * 1024 * 1024;

/// Wraps a public-API `generateContent`/`streamGenerateContent` body for Code Assist. `body`
/// must be a JSON object; it becomes `request` byte for byte (surrounding whitespace aside).
pub fn wrap_request(
    body: &[u8],
    model: &str,
    project: &str,
    user_prompt_id: &str,
) -> Result<Vec<u8>, InspectError> {
    let inner = object_bytes(body)?;
    let model = quote(model);
    let project = quote(project);
    let prompt_id = quote(user_prompt_id);
    let mut out = Vec::with_capacity(inner.len() + model.len() + project.len() + 64);
    out.extend_from_slice(b"{\"model\":");
    out.extend_from_slice(model.as_bytes());
    out.extend_from_slice(b",\"project\":");
    out.extend_from_slice(project.as_bytes());
    out.extend_from_slice(b",\"user_prompt_id\":");
    out.extend_from_slice(prompt_id.as_bytes());
    out.extend_from_slice(b",\"request\":");
    out.extend_from_slice(inner);
    out.push(b'}');
    Ok(out)
}

/// Wraps a public-API `countTokens` body for Code Assist, which takes
/// `{"request":{"model":"models/…","contents":[…]}}` and answers `{"totalTokens":N}`, already the
/// public shape. The public body has `contents` at the top or inside `generateContentRequest`.
pub fn wrap_count_tokens(body: &[u8], model: &str) -> Result<Vec<u8>, InspectError> {
    #[derive(Deserialize)]
    struct CountBody<'a> {
        #[serde(borrow)]
        contents: Option<&'a RawValue>,
        #[serde(borrow, rename = "generateContentRequest")]
        generate_content_request: Option<&'a RawValue>,
    }
    #[derive(Deserialize)]
    struct Inner<'a> {
        #[serde(borrow)]
        contents: Option<&'a RawValue>,
    }
    object_bytes(body)?;
    let parsed: CountBody<'_> =
        serde_json::from_slice(body).map_err(|e| InspectError::InvalidJson(e.to_string()))?;
    let contents = match (parsed.contents, parsed.generate_content_request) {
        (Some(c), _) => Some(c),
        (None, Some(g)) => serde_json::from_str::<Inner<'_>>(g.get())
            .ok()
            .and_then(|i| i.contents),
        (None, None) => None,
    }
    .ok_or(InspectError::MissingField("contents"))?;
    let model = quote(&format!("models/{}", model.trim_start_matches("models/")));
    let mut out = Vec::with_capacity(contents.get().len() + model.len() + 32);
    out.extend_from_slice(b"{\"request\":{\"model\":");
    out.extend_from_slice(model.as_bytes());
    out.extend_from_slice(b",\"contents\":");
    out.extend_from_slice(contents.get().as_bytes());
    out.extend_from_slice(b"}}");
    Ok(out)
}

/// Sets the top-level `project` of a Code Assist body (passthrough of Gemini CLI's own
/// requests): the client names whichever project the relay told it about, but the account that
/// serves the request may only use its own.
pub fn set_project(body: &[u8], project: &str) -> Result<Vec<u8>, InspectError> {
    json_edit::set_top_level(body, "project", &quote(project))
}

/// The public-API body inside a Code Assist answer: the raw bytes of `response`, or of each
/// element's `response` for a JSON array. A body without `response` (an error, a countTokens
/// answer, something unexpected) is returned unchanged.
pub fn unwrap_response_body(body: &[u8]) -> Cow<'_, [u8]> {
    match first_non_ws(body) {
        Some(b'{') => match inner_response(body) {
            Some(inner) => Cow::Borrowed(inner),
            None => Cow::Borrowed(body),
        },
        Some(b'[') => {
            let Ok(items) = serde_json::from_slice::<Vec<&RawValue>>(body) else {
                return Cow::Borrowed(body);
            };
            let mut out = Vec::with_capacity(body.len());
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let raw = item.get().as_bytes();
                out.extend_from_slice(inner_response(raw).unwrap_or(raw));
            }
            out.push(b']');
            Cow::Owned(out)
        }
        _ => Cow::Borrowed(body),
    }
}

/// The raw `response` member of a wrapped object, if it has a non-null one.
fn inner_response(json: &[u8]) -> Option<&[u8]> {
    #[derive(Deserialize)]
    struct Wrapped<'a> {
        #[serde(borrow)]
        response: Option<&'a RawValue>,
    }
    let wrapped: Wrapped<'_> = serde_json::from_slice(json).ok()?;
    let inner = wrapped.response?;
    (inner.get() != "null").then(|| inner.get().as_bytes())
}

/// Code Assist SSE → public-API SSE: every event's data is unwrapped and sent as
/// `data: {inner}\r\n\r\n`. Events without `response` (an in-stream `error`) go out as they are;
/// comments and other fields are dropped.
#[derive(Debug, Clone)]
pub struct CodeAssistSseToPublic {
    decoder: SseDecoder,
    dropped_reported: u64,
}

impl Default for CodeAssistSseToPublic {
    fn default() -> Self {
        Self::new()
    }
}

impl CodeAssistSseToPublic {
    pub fn new() -> Self {
        Self::with_max_event_size(DEFAULT_MAX_EVENT_SIZE)
    }

    /// Holds at most `max` bytes of one event; a larger event cannot be unwrapped and ends the
    /// client's stream with a Google error event instead of being silently lost.
    pub fn with_max_event_size(max: usize) -> Self {
        Self {
            decoder: SseDecoder::with_max_event_size(max),
            dropped_reported: 0,
        }
    }
}

impl StreamTransform for CodeAssistSseToPublic {
    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.decoder.feed(chunk, &mut |ev: &SseEvent<'_>| {
            write_sse_event(ev.data, out)
        });
        report_oversize(&self.decoder, &mut self.dropped_reported, out, |e, out| {
            write_sse_event(e, out)
        });
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.decoder.finish(&mut |ev: &SseEvent<'_>| {
            // The spec drops an event cut off by the end of the stream; one that is still a
            // whole JSON value is worth delivering (an upstream that forgot the blank line).
            if is_json(ev.data) {
                write_sse_event(ev.data, out);
            }
        });
    }
}

/// Code Assist SSE → the streamed JSON array of a public `streamGenerateContent` without
/// `alt=sse`: `[{…}\r\n,\r\n{…}\r\n]`, each element sent as soon as its event arrives.
#[derive(Debug, Clone)]
pub struct CodeAssistSseToJsonArray {
    decoder: SseDecoder,
    dropped_reported: u64,
    elements: u64,
}

impl Default for CodeAssistSseToJsonArray {
    fn default() -> Self {
        Self::new()
    }
}

impl CodeAssistSseToJsonArray {
    pub fn new() -> Self {
        Self::with_max_event_size(DEFAULT_MAX_EVENT_SIZE)
    }

    /// See [`CodeAssistSseToPublic::with_max_event_size`].
    pub fn with_max_event_size(max: usize) -> Self {
        Self {
            decoder: SseDecoder::with_max_event_size(max),
            dropped_reported: 0,
            elements: 0,
        }
    }
}

fn write_array_element(data: &str, elements: &mut u64, out: &mut Vec<u8>) {
    if !is_json(data) {
        // Not JSON: it would make the whole array unparseable for the client.
        return;
    }
    out.extend_from_slice(if *elements == 0 { b"[" } else { b"\r\n,\r\n" });
    *elements += 1;
    out.extend_from_slice(unwrap_event(data).as_bytes());
}

impl StreamTransform for CodeAssistSseToJsonArray {
    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let elements = &mut self.elements;
        self.decoder.feed(chunk, &mut |ev: &SseEvent<'_>| {
            write_array_element(ev.data, elements, out)
        });
        let elements = &mut self.elements;
        report_oversize(&self.decoder, &mut self.dropped_reported, out, |e, out| {
            write_array_element(e, elements, out)
        });
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        let elements = &mut self.elements;
        self.decoder
            .finish(&mut |ev: &SseEvent<'_>| write_array_element(ev.data, elements, out));
        if self.elements == 0 {
            out.extend_from_slice(b"[]");
        } else {
            out.extend_from_slice(b"\r\n]");
        }
        self.elements = 0;
    }
}

/// A whole non-stream Code Assist body → the public body ([`unwrap_response_body`]). The body
/// is held until the upstream ends (at most `max` bytes; beyond that it is forwarded as it came,
/// wrapped, since it can no longer be cut).
#[derive(Debug, Clone)]
pub struct CodeAssistBodyUnwrap {
    held: Vec<u8>,
    max: usize,
    overflowed: bool,
}

impl Default for CodeAssistBodyUnwrap {
    fn default() -> Self {
        Self::new()
    }
}

impl CodeAssistBodyUnwrap {
    pub fn new() -> Self {
        Self::with_max_body_size(DEFAULT_MAX_BODY_SIZE)
    }

    pub fn with_max_body_size(max: usize) -> Self {
        Self {
            held: Vec::new(),
            max,
            overflowed: false,
        }
    }
}

impl StreamTransform for CodeAssistBodyUnwrap {
    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.overflowed {
            out.extend_from_slice(chunk);
        } else if self.held.len().saturating_add(chunk.len()) > self.max {
            self.overflowed = true;
            out.append(&mut self.held);
            out.extend_from_slice(chunk);
        } else {
            self.held.extend_from_slice(chunk);
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.overflowed {
            out.extend_from_slice(&unwrap_response_body(&self.held));
        }
        self.held = Vec::new();
        self.overflowed = false;
    }
}

/// After a feed: if the decoder had to drop an event for its size, the client's stream is now
/// missing a piece, so say so in Google's error shape (once per dropped event).
fn report_oversize(
    decoder: &SseDecoder,
    reported: &mut u64,
    out: &mut Vec<u8>,
    mut write: impl FnMut(&str, &mut Vec<u8>),
) {
    while *reported < decoder.dropped_oversize() {
        *reported += 1;
        let error = error_body(
            Dialect::Gemini,
            502,
            "upstream response event exceeds the relay's size limit and was dropped",
        );
        write(&error, out);
    }
}

/// `data: …\r\n` for each line of the unwrapped payload, then the blank line.
fn write_sse_event(data: &str, out: &mut Vec<u8>) {
    let payload = unwrap_event(data);
    for line in payload.split('\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn unwrap_event(data: &str) -> &str {
    match inner_response(data.as_bytes()) {
        // The inner value is a sub-slice of `data`, hence valid UTF-8 at char boundaries.
        Some(inner) => std::str::from_utf8(inner).unwrap_or(data),
        None => data,
    }
}

fn is_json(data: &str) -> bool {
    serde_json::from_str::<&RawValue>(data).is_ok()
}

fn first_non_ws(body: &[u8]) -> Option<u8> {
    body.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// The body's JSON object, trimmed of surrounding whitespace, validated.
fn object_bytes(body: &[u8]) -> Result<&[u8], InspectError> {
    let raw: &RawValue = match serde_json::from_slice(body) {
        Ok(raw) => raw,
        Err(_) if first_non_ws(body).is_none() => {
            return Err(InspectError::InvalidJson("empty body".to_owned()));
        }
        Err(e) => return Err(InspectError::InvalidJson(e.to_string())),
    };
    if !raw.get().starts_with('{') {
        return Err(InspectError::NotAnObject);
    }
    Ok(raw.get().as_bytes())
}

fn quote(s: &str) -> String {
    // Serialising a &str cannot fail; the fallback keeps this function total anyway.
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::StreamTap;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    const INNER: &str = r#"{"candidates": [{"content": {"parts": [{"text": "Olá!"}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 11,"candidatesTokenCount": 14,"totalTokenCount": 49,"thoughtsTokenCount": 24},"modelVersion": "gemini-2.5-flash"}"#;
    const FIRST: &str = r#"{"candidates":[{"content":{"parts":[{"text":"Ol"}],"role":"model"}}],"usageMetadata":{"promptTokenCount":11,"candidatesTokenCount":1,"totalTokenCount":12},"modelVersion":"gemini-2.5-flash"}"#;

    fn wrapped(inner: &str) -> String {
        format!(r#"{{"response":{inner},"traceId":"abc123"}}"#)
    }

    fn upstream_stream(sep: &str) -> String {
        format!(
            "data: {}{sep}{sep}data: {}{sep}{sep}",
            wrapped(FIRST),
            wrapped(INNER)
        )
    }

    fn run(t: &mut dyn StreamTransform, input: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for c in input.chunks(chunk.max(1)) {
            t.push(c, &mut out);
        }
        t.finish(&mut out);
        out
    }

    #[test]
    fn wrap_embeds_body_verbatim() {
        let body = b"  {\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}],\"generationConfig\":{\"temperature\":1.0e0}}\n";
        let out = wrap_request(body, "gemini-2.5-pro", "proj-1", "p\"1").unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            text,
            "{\"model\":\"gemini-2.5-pro\",\"project\":\"proj-1\",\"user_prompt_id\":\"p\\\"1\",\"request\":{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}],\"generationConfig\":{\"temperature\":1.0e0}}}"
        );
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["request"]["contents"][0]["parts"][0]["text"], "hi");
        assert_eq!(
            wrap_request(b"[1]", "m", "p", "u"),
            Err(InspectError::NotAnObject)
        );
        assert!(matches!(
            wrap_request(b"{\"a\":", "m", "p", "u"),
            Err(InspectError::InvalidJson(_))
        ));
        assert!(matches!(
            wrap_request(b"  ", "m", "p", "u"),
            Err(InspectError::InvalidJson(_))
        ));
    }

    #[test]
    fn count_tokens_wrap() {
        let out = wrap_count_tokens(
            br#"{"contents":[{"parts":[{"text":"x"}]}]}"#,
            "gemini-2.5-pro",
        )
        .unwrap();
        assert_eq!(
            out,
            br#"{"request":{"model":"models/gemini-2.5-pro","contents":[{"parts":[{"text":"x"}]}]}}"#
        );
        let nested = br#"{"generateContentRequest":{"model":"models/m","contents":[]}}"#;
        assert_eq!(
            wrap_count_tokens(nested, "models/m").unwrap(),
            br#"{"request":{"model":"models/m","contents":[]}}"#
        );
        assert_eq!(
            wrap_count_tokens(b"{}", "m"),
            Err(InspectError::MissingField("contents"))
        );
    }

    #[test]
    fn project_is_set_or_replaced() {
        let body = br#"{"model":"m","project":"theirs","request":{"project":"inner"}}"#;
        assert_eq!(
            set_project(body, "mine").unwrap(),
            br#"{"model":"m","project":"mine","request":{"project":"inner"}}"#
        );
        assert_eq!(
            set_project(br#"{"model":"m"}"#, "mine").unwrap(),
            br#"{"model":"m","project":"mine"}"#
        );
    }

    #[test]
    fn unwrap_bodies() {
        assert_eq!(
            &*unwrap_response_body(wrapped(INNER).as_bytes()),
            INNER.as_bytes()
        );
        let error = br#"{"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED"}}"#;
        assert_eq!(&*unwrap_response_body(error), error);
        assert_eq!(
            &*unwrap_response_body(br#"{"totalTokens":7}"#),
            br#"{"totalTokens":7}"#
        );
        let array = format!("[{},\r\n{}]", wrapped(FIRST), wrapped(INNER));
        assert_eq!(
            &*unwrap_response_body(array.as_bytes()),
            format!("[{FIRST},{INNER}]").as_bytes()
        );
        assert_eq!(&*unwrap_response_body(b"<html>"), b"<html>");
        assert_eq!(
            &*unwrap_response_body(br#"{"response":null}"#),
            br#"{"response":null}"#
        );
    }

    #[test]
    fn sse_unwrap_every_split_and_line_ending() {
        let expected = format!("data: {FIRST}\r\n\r\ndata: {INNER}\r\n\r\n");
        for sep in ["\n", "\r\n", "\r"] {
            let input = upstream_stream(sep);
            for chunk in [1, 2, 3, 7, 64, input.len()] {
                let out = run(&mut CodeAssistSseToPublic::new(), input.as_bytes(), chunk);
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    expected,
                    "sep {sep:?} chunk {chunk}"
                );
            }
            let bytes = input.as_bytes();
            for split in 0..=bytes.len() {
                let mut t = CodeAssistSseToPublic::new();
                let mut out = Vec::new();
                t.push(&bytes[..split], &mut out);
                t.push(&bytes[split..], &mut out);
                t.finish(&mut out);
                assert_eq!(out, expected.as_bytes(), "split {split}");
            }
        }
    }

    #[test]
    fn sse_output_keeps_usage_for_the_tap() {
        let out = run(
            &mut CodeAssistSseToPublic::new(),
            upstream_stream("\r\n").as_bytes(),
            5,
        );
        let mut tap = StreamTap::new(Dialect::Gemini);
        tap.feed(&out);
        tap.finish();
        let usage = tap.usage().unwrap();
        assert_eq!(
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.reasoning_tokens
            ),
            (11, 38, 24)
        );
        assert!(tap.completed());
    }

    #[test]
    fn sse_passes_errors_drops_comments_and_keeps_multiline_data() {
        let input = concat!(
            ": keep-alive\n\n",
            "event: x\nid: 1\ndata: {\"error\":{\"code\":500,\"message\":\"m\",\"status\":\"INTERNAL\"}}\n\n",
            "data: {\"response\":\n",
            "data: {\"a\":1}}\n\n",
        );
        let out = run(&mut CodeAssistSseToPublic::new(), input.as_bytes(), 3);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "data: {\"error\":{\"code\":500,\"message\":\"m\",\"status\":\"INTERNAL\"}}\r\n\r\ndata: {\"a\":1}\r\n\r\n"
        );
    }

    #[test]
    fn sse_unterminated_last_event() {
        let input = format!("data: {}\r\n\r\ndata: {}", wrapped(FIRST), wrapped(INNER));
        let out = run(&mut CodeAssistSseToPublic::new(), input.as_bytes(), 10);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("data: {FIRST}\r\n\r\ndata: {INNER}\r\n\r\n")
        );
        let cut = format!(
            "data: {}\r\n\r\ndata: {{\"response\":{{\"cand",
            wrapped(FIRST)
        );
        let out = run(&mut CodeAssistSseToPublic::new(), cut.as_bytes(), 10);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("data: {FIRST}\r\n\r\n")
        );
    }

    #[test]
    fn oversize_event_becomes_an_error_event() {
        let big = format!("{{\"response\":{{\"text\":\"{}\"}}}}", "x".repeat(2000));
        let input = format!("data: {big}\n\ndata: {}\n\n", wrapped(FIRST));
        let out = run(
            &mut CodeAssistSseToPublic::with_max_event_size(1000),
            input.as_bytes(),
            16,
        );
        let text = String::from_utf8(out).unwrap();
        let events: Vec<&str> = text.split("\r\n\r\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), 2, "{text}");
        let error: Value = serde_json::from_str(events[0].strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(error["error"]["code"], 502);
        assert_eq!(events[1], format!("data: {FIRST}"));
    }

    #[test]
    fn json_array_form() {
        for sep in ["\n", "\r\n"] {
            let input = upstream_stream(sep);
            for chunk in [1, 4, input.len()] {
                let out = run(
                    &mut CodeAssistSseToJsonArray::new(),
                    input.as_bytes(),
                    chunk,
                );
                let text = String::from_utf8(out).unwrap();
                assert_eq!(text, format!("[{FIRST}\r\n,\r\n{INNER}\r\n]"));
                let v: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(v.as_array().unwrap().len(), 2);
                let info = crate::usage_from_body(Dialect::Gemini, text.as_bytes()).unwrap();
                assert_eq!(info.usage.unwrap().output_tokens, 38);
            }
        }
        let out = run(&mut CodeAssistSseToJsonArray::new(), b"", 1);
        assert_eq!(out, b"[]");
        let out = run(
            &mut CodeAssistSseToJsonArray::new(),
            b": c\n\ndata: nope\n\n",
            1,
        );
        assert_eq!(out, b"[]");
    }

    #[test]
    fn body_unwrap_transform() {
        let body = wrapped(INNER);
        let out = run(&mut CodeAssistBodyUnwrap::new(), body.as_bytes(), 7);
        assert_eq!(out, INNER.as_bytes());
        let out = run(
            &mut CodeAssistBodyUnwrap::with_max_body_size(10),
            body.as_bytes(),
            7,
        );
        assert_eq!(out, body.as_bytes());
        let v = json!({"error": {"code": 400}}).to_string();
        assert_eq!(
            run(&mut CodeAssistBodyUnwrap::new(), v.as_bytes(), 3),
            v.as_bytes()
        );
    }

    proptest! {
        #[test]
        fn no_panic_on_arbitrary_bytes(
            body in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..96),
                "[{}\\[\\]\":,a-z0-9 \\\\\n\r]{0,96}".prop_map(String::into_bytes),
                "(data: |: |\r|\n|\\{\"response\":|\\}|\"traceId\":\"t\"|,|x){0,24}".prop_map(String::into_bytes),
            ],
            split in any::<usize>(),
        ) {
            let _ = wrap_request(&body, "m", "p", "u");
            let _ = wrap_count_tokens(&body, "m");
            let _ = set_project(&body, "p");
            let _ = unwrap_response_body(&body);
            let split = split % (body.len() + 1);
            let transforms: [Box<dyn StreamTransform>; 3] = [
                Box::new(CodeAssistSseToPublic::with_max_event_size(32)),
                Box::new(CodeAssistSseToJsonArray::new()),
                Box::new(CodeAssistBodyUnwrap::with_max_body_size(16)),
            ];
            for mut t in transforms {
                let mut out = Vec::new();
                t.push(&body[..split], &mut out);
                t.push(&body[split..], &mut out);
                t.finish(&mut out);
            }
        }

        #[test]
        fn sse_output_is_only_data_and_blank_lines(
            events in proptest::collection::vec("[a-z0-9 ]{0,12}", 0..6),
            chunk in 1usize..9,
        ) {
            let mut input = String::new();
            for e in &events {
                input.push_str(&format!("data: {{\"response\":{{\"t\":\"{e}\"}},\"traceId\":\"x\"}}\r\n\r\n: ping\r\n\r\n"));
            }
            let out = run(&mut CodeAssistSseToPublic::new(), input.as_bytes(), chunk);
            let text = String::from_utf8(out).unwrap();
            for line in text.split("\r\n") {
                prop_assert!(line.is_empty() || line.starts_with("data: "));
            }
            let array = run(&mut CodeAssistSseToJsonArray::new(), input.as_bytes(), chunk);
            let v: Value = serde_json::from_slice(&array).unwrap();
            prop_assert_eq!(v.as_array().map(Vec::len), Some(events.len()));
        }
    }
}
