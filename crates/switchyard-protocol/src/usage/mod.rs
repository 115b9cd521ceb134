//! Usage extraction: side "taps" that read decoded events (or a whole non-streaming body) and
//! learn token usage, the upstream model, ids, completion and errors — without ever touching the
//! bytes that are forwarded to the client.
//!
//! Taps are written for the hot path: an event is JSON-parsed only when its type (or a cheap
//! substring check on its data) says it can carry something we need, so the bulk of a stream
//! (text deltas) costs a string comparison per event.
//!
//! Every tap normalises usage into [`TokenUsage`], where `input_tokens` excludes cache reads and
//! writes and `output_tokens` includes reasoning, so each class is billed exactly once.

mod anthropic;
mod body;
mod gemini;
mod openai;

pub use anthropic::AnthropicTap;
pub use body::{BodyInfo, usage_from_body};
pub use gemini::{DEFAULT_MAX_ARRAY_ELEMENT, GeminiArrayTap, GeminiTap};
pub use openai::{ChatTap, ResponsesTap};

use crate::sse::{SseDecoder, SseEvent};
use memchr::memmem;
use serde::de::{Deserializer, Visitor};
use serde_json::Value;
use std::fmt;
use switchyard_core::{Dialect, TokenUsage};

/// An error the upstream reported inside a stream that had already started with a 200 (or a
/// terminal failure status), kept so the usage record can say why the stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    /// The provider's error type or code, e.g. `overloaded_error`, `server_error`,
    /// `RESOURCE_EXHAUSTED`; `"error"` when the provider gave none.
    pub error_type: String,
    /// The provider's message (possibly empty).
    pub message: String,
}

impl StreamError {
    /// Reads the error shapes the four dialects use: an object with some of
    /// `type`/`status`/`code` (first present wins) and `message`, or a bare string.
    pub(crate) fn from_value(value: &Value) -> StreamError {
        match value {
            Value::Object(map) => {
                let error_type = ["type", "status", "code"]
                    .iter()
                    .find_map(|k| match map.get(*k) {
                        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                        Some(Value::Number(n)) => Some(n.to_string()),
                        _ => None,
                    })
                    .unwrap_or_else(|| "error".to_owned());
                let message = match map.get("message") {
                    Some(Value::String(s)) => s.clone(),
                    _ => String::new(),
                };
                StreamError {
                    error_type,
                    message,
                }
            }
            Value::String(s) => StreamError {
                error_type: "error".to_owned(),
                message: s.clone(),
            },
            other => StreamError {
                error_type: "error".to_owned(),
                message: other.to_string(),
            },
        }
    }
}

/// One usage tap per dialect, so callers can hold a single value whatever the upstream speaks.
#[derive(Debug, Clone)]
pub enum UsageTap {
    Anthropic(AnthropicTap),
    Responses(ResponsesTap),
    Chat(ChatTap),
    Gemini(GeminiTap),
}

impl UsageTap {
    /// The tap that understands streams of `dialect`.
    pub fn for_dialect(dialect: Dialect) -> UsageTap {
        match dialect {
            Dialect::Anthropic => UsageTap::Anthropic(AnthropicTap::default()),
            Dialect::OpenaiResponses => UsageTap::Responses(ResponsesTap::default()),
            Dialect::OpenaiChat => UsageTap::Chat(ChatTap::default()),
            Dialect::Gemini => UsageTap::Gemini(GeminiTap::default()),
        }
    }

    /// Observes one decoded event.
    pub fn on_event(&mut self, event: &SseEvent<'_>) {
        match self {
            UsageTap::Anthropic(t) => t.on_event(event),
            UsageTap::Responses(t) => t.on_event(event),
            UsageTap::Chat(t) => t.on_event(event),
            UsageTap::Gemini(t) => t.on_event(event),
        }
    }

    /// Normalised usage seen so far; `None` if the stream carried no usage at all.
    pub fn usage(&self) -> Option<TokenUsage> {
        match self {
            UsageTap::Anthropic(t) => t.usage(),
            UsageTap::Responses(t) => t.usage(),
            UsageTap::Chat(t) => t.usage(),
            UsageTap::Gemini(t) => t.usage(),
        }
    }

    /// The model the upstream says it used (may differ from the requested alias).
    pub fn model(&self) -> Option<&str> {
        match self {
            UsageTap::Anthropic(t) => t.model(),
            UsageTap::Responses(t) => t.model(),
            UsageTap::Chat(t) => t.model(),
            UsageTap::Gemini(t) => t.model(),
        }
    }

    /// Whether the stream reached its dialect's normal end (see each tap for what that is).
    pub fn completed(&self) -> bool {
        match self {
            UsageTap::Anthropic(t) => t.completed(),
            UsageTap::Responses(t) => t.completed(),
            UsageTap::Chat(t) => t.completed(),
            UsageTap::Gemini(t) => t.completed(),
        }
    }

    /// An error reported inside the stream, if any.
    pub fn stream_error(&self) -> Option<&StreamError> {
        match self {
            UsageTap::Anthropic(t) => t.stream_error(),
            UsageTap::Responses(t) => t.stream_error(),
            UsageTap::Chat(t) => t.stream_error(),
            UsageTap::Gemini(t) => t.stream_error(),
        }
    }

    /// The upstream's id for this response (`msg_…`, `resp_…`, `chatcmpl-…`, Gemini
    /// `responseId`). For Responses it is what a later `previous_response_id` will name.
    pub fn response_id(&self) -> Option<&str> {
        match self {
            UsageTap::Anthropic(t) => t.response_id(),
            UsageTap::Responses(t) => t.response_id(),
            UsageTap::Chat(t) => t.response_id(),
            UsageTap::Gemini(t) => t.response_id(),
        }
    }
}

/// What the relay runs on every upstream body chunk while forwarding the same bytes unchanged:
/// an SSE decoder feeding a usage tap.
#[derive(Debug, Clone)]
pub struct StreamTap {
    pub decoder: SseDecoder,
    pub tap: UsageTap,
    /// Events seen: the basis of an output estimate when the stream ends before its usage
    /// (each streamed event carries about one token of output, or a few).
    events: u64,
}

impl StreamTap {
    /// A tap for a stream in `dialect` with the default decoder bounds.
    pub fn new(dialect: Dialect) -> StreamTap {
        StreamTap {
            decoder: SseDecoder::new(),
            tap: UsageTap::for_dialect(dialect),
            events: 0,
        }
    }

    /// Observes one body chunk (split anywhere).
    pub fn feed(&mut self, bytes: &[u8]) {
        let tap = &mut self.tap;
        let events = &mut self.events;
        self.decoder.feed(bytes, &mut |ev| {
            *events += 1;
            tap.on_event(ev)
        });
    }

    /// Ends the stream: a trailing event without its blank line is still examined, so a
    /// cut-off stream is billed for what it carried.
    pub fn finish(&mut self) {
        let tap = &mut self.tap;
        let events = &mut self.events;
        self.decoder.finish(&mut |ev| {
            *events += 1;
            tap.on_event(ev)
        });
    }

    /// How many events the stream carried so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn usage(&self) -> Option<TokenUsage> {
        self.tap.usage()
    }

    pub fn model(&self) -> Option<&str> {
        self.tap.model()
    }

    pub fn completed(&self) -> bool {
        self.tap.completed()
    }

    pub fn stream_error(&self) -> Option<&StreamError> {
        self.tap.stream_error()
    }

    pub fn response_id(&self) -> Option<&str> {
        self.tap.response_id()
    }
}

/// The event's type: its `event:` name, or, for streams sent without `event:` lines (some
/// compatible relays drop them), the leading `"type"` value sniffed from the data.
pub(crate) fn effective_type<'a>(event: &SseEvent<'a>) -> &'a str {
    if event.event != "message" {
        return event.event;
    }
    sniff_type(event.data).unwrap_or("message")
}

/// Reads the value of the first `"type"` key without parsing the JSON. The providers that use
/// `type` put it first, so the first occurrence is the top-level one.
fn sniff_type(data: &str) -> Option<&str> {
    let bytes = data.as_bytes();
    let at = memmem::find(bytes, b"\"type\"")?;
    let rest = data.get(at + 6..)?.trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let end = memchr::memchr2(b'"', b'\\', rest.as_bytes())?;
    rest.get(..end)
}

/// Whether `data` contains `"key"` followed by a value other than `null`. In JSON text a quote
/// that is not a string delimiter is escaped, so `"key":` cannot come from inside a string
/// value; this lets a tap skip parsing the many chunks that say `"usage":null`.
pub(crate) fn has_non_null_key(data: &str, quoted_key: &[u8]) -> bool {
    let bytes = data.as_bytes();
    memmem::find_iter(bytes, quoted_key).any(|at| {
        let rest = &bytes[at + quoted_key.len()..];
        let rest = trim_ws(rest);
        match rest.strip_prefix(b":") {
            Some(value) => !trim_ws(value).starts_with(b"null"),
            None => false,
        }
    })
}

fn trim_ws(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .unwrap_or(bytes.len());
    &bytes[start..]
}

/// Keeps a non-empty string (Azure's first chunk sends `"model":""` and `"id":""`).
pub(crate) fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// Lenient token count: providers and compatible relays have been seen sending counts as
/// floats or strings, and one odd number must not make a whole usage object unreadable.
pub(crate) fn count<'de, D>(deserializer: D) -> Result<Option<u64>, D::Error>
where
    D: Deserializer<'de>,
{
    struct CountVisitor;

    impl<'de> Visitor<'de> for CountVisitor {
        type Value = Option<u64>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a token count")
        }

        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }

        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(u64::try_from(v).unwrap_or(0)))
        }

        fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
            // `as` saturates and maps NaN to 0, which is what we want for a count.
            Ok(Some(v as u64))
        }

        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.trim().parse().ok())
        }

        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D2>(self, d: D2) -> Result<Self::Value, D2::Error>
        where
            D2: Deserializer<'de>,
        {
            d.deserialize_any(CountVisitor)
        }
    }

    deserializer.deserialize_any(CountVisitor)
}

/// OpenAI-style usage (Responses and Chat Completions share the arithmetic): the prompt count
/// includes cached tokens, the output count includes reasoning.
pub(crate) fn openai_usage(
    prompt: Option<u64>,
    cached: Option<u64>,
    output: Option<u64>,
    reasoning: Option<u64>,
) -> TokenUsage {
    let prompt = prompt.unwrap_or(0);
    let cached = cached.unwrap_or(0).min(prompt);
    TokenUsage {
        input_tokens: prompt - cached,
        output_tokens: output.unwrap_or(0),
        cache_creation_5m_tokens: 0,
        cache_creation_1h_tokens: 0,
        cache_read_tokens: cached,
        reasoning_tokens: reasoning.unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_type_reads_leading_type() {
        assert_eq!(
            sniff_type(r#"{"type": "message_stop" }"#),
            Some("message_stop")
        );
        assert_eq!(sniff_type(r#"{"x":1}"#), None);
    }

    #[test]
    fn non_null_key_detection() {
        assert!(!has_non_null_key(r#"{"usage":null}"#, b"\"usage\""));
        assert!(!has_non_null_key(r#"{"usage" : null}"#, b"\"usage\""));
        assert!(has_non_null_key(
            r#"{"usage":null,"x":{"usage": {"a":1}}}"#,
            b"\"usage\""
        ));
        assert!(!has_non_null_key(
            r#"{"text":"\"usage\": 1"}"#,
            b"\"usage\""
        ));
    }

    #[test]
    fn stream_error_shapes() {
        let v: Value =
            serde_json::json!({"code": 429, "message": "m", "status": "RESOURCE_EXHAUSTED"});
        assert_eq!(StreamError::from_value(&v).error_type, "RESOURCE_EXHAUSTED");
        let v: Value = serde_json::json!({"type": "overloaded_error", "message": "Overloaded"});
        assert_eq!(
            StreamError::from_value(&v),
            StreamError {
                error_type: "overloaded_error".into(),
                message: "Overloaded".into()
            }
        );
        let v: Value = serde_json::json!("boom");
        assert_eq!(StreamError::from_value(&v).message, "boom");
    }
}
