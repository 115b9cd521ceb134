//! Bedrock (Anthropic models) → Anthropic dialect: the one place where the relay must change
//! the shape of a response instead of passing bytes through.
//!
//! Bedrock's `InvokeModelWithResponseStream` answers with binary event-stream frames whose
//! `chunk` payloads are `{"bytes":"<base64 of one Anthropic stream event>","p":"<padding>"}`.
//! Anthropic clients expect Server-Sent Events, so [`BedrockToAnthropic`] decodes each frame
//! (both CRCs verified by [`crate::eventstream`]) and writes `event: {type}\ndata: {json}\n\n`,
//! where `{json}` is the decoded event byte for byte (usage, `amazon-bedrock-invocationMetrics`
//! and all): the minimum change, so usage is read from exactly what the client receives.
//!
//! Exceptions inside the stream (`:message-type` `exception`) and undecodable bytes become one
//! Anthropic `event: error`, after which nothing more is emitted — the same contract an Anthropic
//! stream has after an in-stream error. [`error_response_body`] does the same for errors Bedrock
//! returns before streaming starts.

use std::borrow::Cow;

use base64::Engine;
use serde::Deserialize;
use switchyard_core::Dialect;

use crate::errors::error_body_typed;
use crate::eventstream::{EventStreamDecoder, Frame};
use crate::transform::StreamTransform;

/// Anthropic `error.type` for a Bedrock exception name (`throttlingException`,
/// `ThrottlingException:http://…`, any case), or `None` when the name is not one Bedrock
/// documents for InvokeModel.
pub fn anthropic_error_type(exception: &str) -> Option<&'static str> {
    let name = exception
        .split(':')
        .next()
        .unwrap_or(exception)
        .trim()
        .to_ascii_lowercase();
    let name = name.strip_suffix("exception").unwrap_or(&name);
    let known: &[(&str, &'static str)] = &[
        ("throttling", "rate_limit_error"),
        ("serviceQuotaExceeded", "rate_limit_error"),
        ("validation", "invalid_request_error"),
        ("serviceUnavailable", "overloaded_error"),
        ("modelNotReady", "overloaded_error"),
        ("accessDenied", "permission_error"),
        ("resourceNotFound", "not_found_error"),
        ("unrecognizedClient", "authentication_error"),
        ("invalidSignature", "authentication_error"),
        ("incompleteSignature", "authentication_error"),
        ("missingAuthenticationToken", "authentication_error"),
        ("expiredToken", "authentication_error"),
        ("internalServer", "api_error"),
        ("modelTimeout", "api_error"),
        ("modelError", "api_error"),
        ("modelStreamError", "api_error"),
    ];
    known
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// The Anthropic error type for an exception inside a stream: the mapping of
/// [`anthropic_error_type`], and `api_error` for anything else.
pub fn stream_error_type(exception: &str) -> &'static str {
    anthropic_error_type(exception).unwrap_or("api_error")
}

#[derive(Deserialize)]
struct BedrockMessage<'a> {
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "Message")]
    message_upper: Option<Cow<'a, str>>,
}

/// The `message` (or `Message`) of a Bedrock error body, if it has one.
fn bedrock_message(body: &[u8]) -> Option<String> {
    let parsed: BedrockMessage<'_> = serde_json::from_slice(body).ok()?;
    parsed
        .message
        .or(parsed.message_upper)
        .map(Cow::into_owned)
        .filter(|m| !m.is_empty())
}

/// Longest non-JSON error text carried over into a message.
const MAX_PLAIN_MESSAGE: usize = 512;

/// The Anthropic error body for a Bedrock error returned instead of a response: `status`,
/// the `x-amzn-ErrorType` header value if any (e.g. `ThrottlingException:http://…`) and the body
/// (`{"message":…}` or `{"Message":…}`). The type comes from the exception name when Bedrock
/// gave a known one, else from the status, as Anthropic's own table maps it.
pub fn error_response_body(status: u16, error_type_header: Option<&str>, body: &[u8]) -> String {
    let error_type = error_type_header.and_then(anthropic_error_type);
    let message = bedrock_message(body).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() || text.starts_with('{') {
            format!("Bedrock returned HTTP {status}")
        } else {
            text.chars().take(MAX_PLAIN_MESSAGE).collect()
        }
    });
    error_body_typed(Dialect::Anthropic, status, error_type, &message)
}

/// Writes one Anthropic `event: error`.
fn write_error(out: &mut Vec<u8>, error_type: &str, message: &str) {
    out.extend_from_slice(b"event: error\ndata: ");
    out.extend_from_slice(
        error_body_typed(Dialect::Anthropic, 500, Some(error_type), message).as_bytes(),
    );
    out.extend_from_slice(b"\n\n");
}

#[derive(Deserialize)]
struct ChunkPayload<'a> {
    #[serde(borrow)]
    bytes: Cow<'a, str>,
}

#[derive(Deserialize)]
struct EventType<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
}

/// An SSE event name must stay on its line; Anthropic's are lower-case words with `_`.
fn valid_event_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Why a frame could not be turned into an event.
enum FrameOutcome {
    /// Appended an SSE event (or nothing, for frames that carry none).
    Ok,
    /// The stream ends here with this Anthropic error.
    Error {
        error_type: &'static str,
        message: String,
    },
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct BedrockToAnthropic {
    decoder: EventStreamDecoder,
    /// An error event was written: nothing more is emitted.
    done: bool,
    events: u64,
}

impl BedrockToAnthropic {
    pub fn new() -> Self {
        Self::default()
    }

    /// Anthropic events written so far (the error event excluded).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Whether the stream was ended by an error event.
    pub fn ended_with_error(&self) -> bool {
        self.done
    }

    fn frame(&mut self, frame: &Frame, out: &mut Vec<u8>) -> FrameOutcome {
        match frame.message_type() {
            Some("event") => {
                if frame.event_type() != Some("chunk") {
                    // Other event types carry no Anthropic event; skip them, as an SDK would.
                    return FrameOutcome::Ok;
                }
                self.chunk(&frame.payload, out)
            }
            Some("exception") => {
                let exception = frame.exception_type().unwrap_or("unknownException");
                let message = bedrock_message(&frame.payload)
                    .unwrap_or_else(|| format!("Bedrock stream exception: {exception}"));
                FrameOutcome::Error {
                    error_type: stream_error_type(exception),
                    message,
                }
            }
            Some("error") => {
                // The transport-level error frame: code and message travel as headers.
                let code = frame.header_str(":error-code").unwrap_or("unknown");
                let message = frame
                    .header_str(":error-message")
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("Bedrock stream error: {code}"));
                FrameOutcome::Error {
                    error_type: stream_error_type(code),
                    message,
                }
            }
            _ => FrameOutcome::Ok,
        }
    }

    fn chunk(&mut self, payload: &[u8], out: &mut Vec<u8>) -> FrameOutcome {
        let malformed = |what: &str| FrameOutcome::Error {
            error_type: "api_error",
            message: format!("malformed Bedrock stream chunk: {what}"),
        };
        let Ok(chunk) = serde_json::from_slice::<ChunkPayload<'_>>(payload) else {
            return malformed("payload is not {\"bytes\":…}");
        };
        let Ok(json) = base64::engine::general_purpose::STANDARD.decode(chunk.bytes.as_bytes())
        else {
            return malformed("bytes are not base64");
        };
        let Ok(event) = serde_json::from_slice::<EventType<'_>>(&json) else {
            return malformed("event is not a JSON object with a type");
        };
        if !valid_event_name(&event.kind) {
            return malformed("event type is not a plain name");
        }
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(event.kind.as_bytes());
        out.push(b'\n');
        // JSON may contain raw line breaks only as whitespace; each line becomes its own
        // `data:` line, which SSE joins back with `\n` — still the same JSON.
        for line in json.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            for part in line.split(|b| *b == b'\r') {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(part);
                out.push(b'\n');
            }
        }
        out.push(b'\n');
        self.events += 1;
        FrameOutcome::Ok
    }
}

impl StreamTransform for BedrockToAnthropic {
    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        self.decoder.push(chunk);
        loop {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => {
                    if let FrameOutcome::Error {
                        error_type,
                        message,
                    } = self.frame(&frame, out)
                    {
                        write_error(out, error_type, &message);
                        self.done = true;
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    write_error(
                        out,
                        "api_error",
                        &format!("Bedrock event stream could not be decoded: {e}"),
                    );
                    self.done = true;
                    return;
                }
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        if let Err(e) = self.decoder.finish() {
            write_error(
                out,
                "api_error",
                &format!("Bedrock event stream ended early: {e}"),
            );
            self.done = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventstream::{Header, encode_frame};
    use crate::sse::SseDecoder;
    use crate::usage::StreamTap;
    use serde_json::{Value, json};

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn chunk(event_json: &str, pad: usize) -> Vec<u8> {
        let payload =
            json!({"bytes": b64(event_json), "p": "abcdefghijklmnopqrstuvwxyz"[..pad].to_string()});
        encode_frame(
            &[
                Header::string(":event-type", "chunk"),
                Header::string(":content-type", "application/json"),
                Header::string(":message-type", "event"),
            ],
            payload.to_string().as_bytes(),
        )
        .unwrap()
    }

    fn exception(kind: &str, message: &str) -> Vec<u8> {
        encode_frame(
            &[
                Header::string(":exception-type", kind),
                Header::string(":content-type", "application/json"),
                Header::string(":message-type", "exception"),
            ],
            json!({ "message": message }).to_string().as_bytes(),
        )
        .unwrap()
    }

    /// The decoded events of a short Bedrock stream, in the shape docs/upstream-protocols.md §5
    /// describes (usage in message_start and message_delta, invocation metrics on the stop).
    const EVENTS: &[&str] = &[
        r#"{"type":"message_start","message":{"id":"msg_bdrk_01","type":"message","role":"assistant","model":"claude-3-haiku-20240307","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":16,"output_tokens":5}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Olá ☕"}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}}"#,
        r#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":16,"outputTokenCount":7,"invocationLatency":451,"firstByteLatency":433}}"#,
    ];

    fn stream() -> Vec<u8> {
        EVENTS
            .iter()
            .enumerate()
            .flat_map(|(i, e)| chunk(e, i * 4 % 26))
            .collect()
    }

    fn expected_sse() -> String {
        EVENTS
            .iter()
            .map(|e| {
                let kind = serde_json::from_str::<Value>(e).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                format!("event: {kind}\ndata: {e}\n\n")
            })
            .collect()
    }

    /// `(event, data)` of every SSE event in `bytes`.
    fn sse_events(bytes: &[u8]) -> Vec<(String, String)> {
        let mut sse = SseDecoder::new();
        let mut events = Vec::new();
        let mut on =
            |e: &crate::sse::SseEvent<'_>| events.push((e.event.to_owned(), e.data.to_owned()));
        sse.feed(bytes, &mut on);
        sse.finish(&mut on);
        events
    }

    fn run(parts: &[&[u8]]) -> String {
        let mut t = BedrockToAnthropic::new();
        let mut out = Vec::new();
        for p in parts {
            t.push(p, &mut out);
        }
        t.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn chunks_become_anthropic_sse_byte_for_byte() {
        let bytes = stream();
        assert_eq!(run(&[&bytes]), expected_sse());
    }

    #[test]
    fn every_split_point() {
        let bytes = stream();
        let expected = expected_sse();
        for at in 0..=bytes.len() {
            assert_eq!(run(&[&bytes[..at], &bytes[at..]]), expected, "split {at}");
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(run(&singles), expected);
    }

    #[test]
    fn usage_is_read_from_the_produced_sse() {
        let mut t = BedrockToAnthropic::new();
        let mut out = Vec::new();
        t.push(&stream(), &mut out);
        t.finish(&mut out);
        let mut tap = StreamTap::new(Dialect::Anthropic);
        tap.feed(&out);
        tap.finish();
        let usage = tap.usage().unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (16, 7));
        assert!(tap.completed());
        assert_eq!(tap.model(), Some("claude-3-haiku-20240307"));
        assert_eq!(t.events(), 6);
        assert!(!t.ended_with_error());
    }

    #[test]
    fn exception_frame_ends_the_stream_with_a_mapped_error() {
        for (kind, expected) in [
            ("throttlingException", "rate_limit_error"),
            ("validationException", "invalid_request_error"),
            ("serviceUnavailableException", "overloaded_error"),
            ("modelStreamErrorException", "api_error"),
            ("internalServerException", "api_error"),
            ("somethingNewException", "api_error"),
        ] {
            let mut bytes = chunk(EVENTS[0], 3);
            bytes.extend(exception(kind, "Too many tokens, please wait."));
            bytes.extend(chunk(EVENTS[1], 0)); // after the exception: never emitted
            let out = run(&[&bytes]);
            let events = sse_events(out.as_bytes());
            assert_eq!(events.len(), 2, "{kind}: {out}");
            assert_eq!(events[0].0, "message_start");
            assert_eq!(events[1].0, "error");
            let v: Value = serde_json::from_str(&events[1].1).unwrap();
            assert_eq!(
                v,
                json!({"type":"error","error":{"type":expected,"message":"Too many tokens, please wait."}})
            );
        }
    }

    #[test]
    fn decode_errors_become_one_error_event() {
        // Bad message CRC in the second frame.
        let mut bytes = chunk(EVENTS[0], 1);
        let mut second = chunk(EVENTS[1], 1);
        let n = second.len();
        second[n - 8] ^= 1;
        bytes.extend(second);
        bytes.extend(chunk(EVENTS[2], 1));
        let out = run(&[&bytes]);
        assert!(out.starts_with("event: message_start\n"));
        let error_at = out.find("event: error\n").unwrap();
        assert!(out[error_at..].contains("\"type\":\"api_error\""));
        assert!(out[error_at..].contains("CRC"));
        assert_eq!(out.matches("event: ").count(), 2);

        // Not base64, not JSON, no type, a type that would break the SSE line.
        for payload in [
            r#"{"bytes":"***"}"#.to_owned(),
            r#"{"nobytes":1}"#.to_owned(),
            json!({"bytes": b64("not json")}).to_string(),
            json!({"bytes": b64(r#"{"no":"type"}"#)}).to_string(),
            json!({"bytes": b64(r#"{"type":"a\nb"}"#)}).to_string(),
        ] {
            let frame = encode_frame(
                &[
                    Header::string(":event-type", "chunk"),
                    Header::string(":message-type", "event"),
                ],
                payload.as_bytes(),
            )
            .unwrap();
            let out = run(&[&frame]);
            assert!(out.starts_with("event: error\ndata: {"), "{payload}: {out}");
            assert_eq!(out.matches("event: ").count(), 1);
        }
    }

    #[test]
    fn truncated_stream_ends_with_an_error_event() {
        let bytes = stream();
        let out = run(&[&bytes[..bytes.len() - 3]]);
        assert!(out.ends_with("\n\n"));
        let last = out.rsplit("event: ").next().unwrap();
        assert!(last.starts_with("error\n"), "{out}");
        assert!(last.contains("ended early"));
    }

    #[test]
    fn multi_line_json_stays_valid_sse() {
        let pretty = "{\n  \"type\": \"ping\"\r\n}";
        let out = run(&[&chunk(pretty, 0)]);
        assert_eq!(
            out,
            "event: ping\ndata: {\ndata:   \"type\": \"ping\"\ndata: }\n\n"
        );
        let events = sse_events(out.as_bytes());
        let v: Value = serde_json::from_str(&events[0].1).unwrap();
        assert_eq!(v["type"], "ping");
    }

    #[test]
    fn other_frames_are_skipped() {
        let other = encode_frame(
            &[
                Header::string(":event-type", "initial-response"),
                Header::string(":message-type", "event"),
            ],
            b"{}",
        )
        .unwrap();
        let mut bytes = other;
        bytes.extend(chunk(EVENTS[3], 2));
        assert_eq!(
            run(&[&bytes]),
            format!("event: content_block_stop\ndata: {}\n\n", EVENTS[3])
        );
    }

    #[test]
    fn error_frame_headers() {
        let frame = encode_frame(
            &[
                Header::string(":message-type", "error"),
                Header::string(":error-code", "ThrottlingException"),
                Header::string(":error-message", "slow down"),
            ],
            b"",
        )
        .unwrap();
        let out = run(&[&frame]);
        assert!(out.contains(
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#
        ));
    }

    #[test]
    fn non_stream_errors() {
        let v = |s: String| serde_json::from_str::<Value>(&s).unwrap();
        assert_eq!(
            v(error_response_body(
                429,
                Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
                br#"{"message":"Too many requests, please wait before trying again."}"#
            )),
            json!({"type":"error","error":{"type":"rate_limit_error","message":"Too many requests, please wait before trying again."}})
        );
        assert_eq!(
            v(error_response_body(
                400,
                Some("ValidationException"),
                br#"{"Message":"max_tokens: field required"}"#
            ))["error"],
            json!({"type":"invalid_request_error","message":"max_tokens: field required"})
        );
        assert_eq!(
            v(error_response_body(
                503,
                Some("ServiceUnavailableException"),
                b"{}"
            ))["error"],
            json!({"type":"overloaded_error","message":"Bedrock returned HTTP 503"})
        );
        assert_eq!(
            v(error_response_body(
                403,
                Some("UnrecognizedClientException"),
                br#"{"message":"The security token included in the request is invalid."}"#
            ))["error"]["type"],
            "authentication_error"
        );
        // No header: the status decides; a plain-text body becomes the message.
        assert_eq!(
            v(error_response_body(404, None, b"Not Found"))["error"],
            json!({"type":"not_found_error","message":"Not Found"})
        );
        assert_eq!(
            v(error_response_body(500, Some("SomethingElse"), b""))["error"]["type"],
            "api_error"
        );
        assert_eq!(stream_error_type("THROTTLINGEXCEPTION"), "rate_limit_error");
    }
}
