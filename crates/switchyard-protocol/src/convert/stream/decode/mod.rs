//! Upstream streams read into neutral [`Event`]s, one decoder per dialect.
//!
//! Decoders parse each event's JSON (conversion has to read every delta anyway) and never see
//! usage: the driver feeds the same events to the relay's usage tap, so a converted stream is
//! billed exactly like a native one.

mod anthropic;
mod chat;
mod gemini;
mod responses;

use switchyard_core::Dialect;

use super::event::Event;
use crate::convert::errors::ErrorClass;
use crate::sse::SseEvent;

/// One decoder per upstream dialect.
#[derive(Debug, Default)]
pub(crate) enum Decoder {
    #[default]
    Anthropic,
    Chat(chat::ChatDecoder),
    Responses(responses::ResponsesDecoder),
    Gemini(gemini::GeminiDecoder),
}

impl Decoder {
    pub(crate) fn new(upstream: Dialect) -> Decoder {
        match upstream {
            Dialect::Anthropic => Decoder::Anthropic,
            Dialect::OpenaiChat => Decoder::Chat(chat::ChatDecoder::default()),
            Dialect::OpenaiResponses => Decoder::Responses(responses::ResponsesDecoder::default()),
            Dialect::Gemini => Decoder::Gemini(gemini::GeminiDecoder::default()),
        }
    }

    pub(crate) fn decode(&mut self, ev: &SseEvent<'_>, out: &mut Vec<Event>) {
        match self {
            Decoder::Anthropic => anthropic::decode(ev, out),
            Decoder::Chat(d) => d.decode(ev, out),
            Decoder::Responses(d) => d.decode(ev, out),
            Decoder::Gemini(d) => d.decode(ev, out),
        }
    }
}

/// The class of an error met inside a stream, from its type or code words; a stream that
/// already started is past request validation, so the default is a server fault.
pub(crate) fn stream_error(kind: &str, code: &str, message: &str) -> Event {
    let class = match (kind, code) {
        ("overloaded_error" | "UNAVAILABLE", _) | (_, "server_is_overloaded") => {
            ErrorClass::Overloaded
        }
        ("rate_limit_error" | "RESOURCE_EXHAUSTED", _) | (_, "rate_limit_exceeded" | "429") => {
            ErrorClass::RateLimit
        }
        (_, "context_length_exceeded") => ErrorClass::ContextOverflow,
        ("invalid_request_error" | "INVALID_ARGUMENT", _) => ErrorClass::InvalidRequest,
        _ => ErrorClass::Server,
    };
    Event::Error {
        class,
        message: message.to_owned(),
    }
}

/// A string member, or "".
pub(crate) fn s<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
}

/// A non-empty string member.
pub(crate) fn opt(v: &serde_json::Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}
