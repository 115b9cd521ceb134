//! OpenAI taps: Responses API and Chat Completions.

use super::{StreamError, count, effective_type, has_non_null_key, non_empty, openai_usage};
use crate::sse::SseEvent;
use serde::Deserialize;
use serde_json::Value;
use switchyard_core::TokenUsage;

/// Responses API usage: `input_tokens` includes `cached_tokens`, `output_tokens` includes
/// `reasoning_tokens`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(crate) struct ResponsesUsage {
    #[serde(default, deserialize_with = "count")]
    input_tokens: Option<u64>,
    #[serde(default)]
    input_tokens_details: Option<CachedDetails>,
    #[serde(default, deserialize_with = "count")]
    output_tokens: Option<u64>,
    #[serde(default)]
    output_tokens_details: Option<ReasoningDetails>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct CachedDetails {
    #[serde(default, deserialize_with = "count")]
    cached_tokens: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct ReasoningDetails {
    #[serde(default, deserialize_with = "count")]
    reasoning_tokens: Option<u64>,
}

impl ResponsesUsage {
    pub(crate) fn normalise(&self) -> TokenUsage {
        openai_usage(
            self.input_tokens,
            self.input_tokens_details.and_then(|d| d.cached_tokens),
            self.output_tokens,
            self.output_tokens_details.and_then(|d| d.reasoning_tokens),
        )
    }
}

/// Chat Completions usage: `prompt_tokens` includes cached, `completion_tokens` includes
/// reasoning.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(crate) struct ChatUsage {
    #[serde(default, deserialize_with = "count")]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<CachedDetails>,
    #[serde(default, deserialize_with = "count")]
    completion_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens_details: Option<ReasoningDetails>,
}

impl ChatUsage {
    pub(crate) fn normalise(&self) -> TokenUsage {
        openai_usage(
            self.prompt_tokens,
            self.prompt_tokens_details.and_then(|d| d.cached_tokens),
            self.completion_tokens,
            self.completion_tokens_details
                .and_then(|d| d.reasoning_tokens),
        )
    }
}

/// The `response` object of a Responses stream event (and the non-streaming body).
#[derive(Deserialize)]
pub(crate) struct ResponseObject {
    pub(crate) id: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) usage: Option<ResponsesUsage>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ResponseEvent {
    response: Option<ResponseObject>,
}

/// The Responses `error` event: code and message at top level (older shapes nest an `error`
/// object).
#[derive(Deserialize)]
struct ErrorEvent {
    code: Option<Value>,
    message: Option<String>,
    error: Option<Value>,
}

/// Tap for OpenAI Responses streams (api.openai.com, Azure, the ChatGPT Codex backend).
///
/// `completed` is set by `response.completed` and `response.incomplete` (the stream ended as
/// designed, e.g. at `max_output_tokens`); `response.failed` and `error` events are kept as
/// [`stream_error`](Self::stream_error). Usage from any terminal event is taken.
#[derive(Debug, Clone, Default)]
pub struct ResponsesTap {
    usage: Option<TokenUsage>,
    model: Option<String>,
    response_id: Option<String>,
    completed: bool,
    stream_error: Option<StreamError>,
}

impl ResponsesTap {
    pub fn on_event(&mut self, event: &SseEvent<'_>) {
        match effective_type(event) {
            "response.created" | "response.in_progress" | "response.queued"
                if self.response_id.is_none() || self.model.is_none() =>
            {
                self.take_response(event.data);
            }
            "response.completed" | "response.incomplete" => {
                self.take_response(event.data);
                self.completed = true;
            }
            "response.failed" => {
                let error = self.take_response(event.data);
                self.stream_error = Some(match error {
                    Some(value) => StreamError::from_value(&value),
                    None => StreamError {
                        error_type: "response.failed".to_owned(),
                        message: String::new(),
                    },
                });
            }
            "error" => {
                let parsed = serde_json::from_str::<ErrorEvent>(event.data).ok();
                self.stream_error = Some(match parsed {
                    Some(ErrorEvent {
                        error: Some(nested),
                        ..
                    }) => StreamError::from_value(&nested),
                    Some(ErrorEvent { code, message, .. }) => StreamError {
                        error_type: match code {
                            Some(Value::String(s)) if !s.is_empty() => s,
                            Some(Value::Number(n)) => n.to_string(),
                            _ => "error".to_owned(),
                        },
                        message: message.unwrap_or_default(),
                    },
                    None => StreamError {
                        error_type: "error".to_owned(),
                        message: event.data.to_owned(),
                    },
                });
            }
            _ => {}
        }
    }

    /// Records id, model and usage from an event's `response`; returns its `error`, if any.
    fn take_response(&mut self, data: &str) -> Option<Value> {
        let response = serde_json::from_str::<ResponseEvent>(data).ok()?.response?;
        if let Some(id) = non_empty(response.id) {
            self.response_id = Some(id);
        }
        if let Some(model) = non_empty(response.model) {
            self.model = Some(model);
        }
        if let Some(usage) = response.usage {
            self.usage = Some(usage.normalise());
        }
        response.error.filter(|e| !e.is_null())
    }

    pub fn usage(&self) -> Option<TokenUsage> {
        self.usage
    }

    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    pub fn completed(&self) -> bool {
        self.completed
    }

    pub fn stream_error(&self) -> Option<&StreamError> {
        self.stream_error.as_ref()
    }

    /// The `resp_…` id, which a later request's `previous_response_id` will name.
    pub fn response_id(&self) -> Option<&str> {
        self.response_id.as_deref()
    }
}

#[derive(Deserialize)]
pub(crate) struct ChatChunk {
    pub(crate) id: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) usage: Option<ChatUsage>,
    error: Option<Value>,
}

/// How many leading chunks may be parsed just to learn the model and id. Azure's first chunk
/// has empty ones; a provider that never sends them must not make us parse every chunk.
const META_PARSE_ATTEMPTS: u8 = 4;

/// Tap for Chat Completions streams.
///
/// Usage comes from the chunk whose `usage` is non-null (present only with
/// `stream_options.include_usage`); `data: [DONE]` sets `completed`; a chunk carrying `error`
/// is kept as [`stream_error`](Self::stream_error).
#[derive(Debug, Clone, Default)]
pub struct ChatTap {
    usage: Option<TokenUsage>,
    model: Option<String>,
    response_id: Option<String>,
    completed: bool,
    stream_error: Option<StreamError>,
    meta_attempts: u8,
}

impl ChatTap {
    pub fn on_event(&mut self, event: &SseEvent<'_>) {
        let data = event.data.trim_ascii();
        if data == "[DONE]" {
            self.completed = true;
            return;
        }
        let wants_meta = (self.model.is_none() || self.response_id.is_none())
            && self.meta_attempts < META_PARSE_ATTEMPTS;
        let has_usage = has_non_null_key(data, b"\"usage\"");
        let has_error = has_non_null_key(data, b"\"error\"");
        if !(wants_meta || has_usage || has_error) {
            return;
        }
        if wants_meta {
            self.meta_attempts += 1;
        }
        let Ok(chunk) = serde_json::from_str::<ChatChunk>(data) else {
            return;
        };
        if let Some(model) = non_empty(chunk.model) {
            self.model = Some(model);
        }
        if self.response_id.is_none() {
            self.response_id = non_empty(chunk.id);
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage.normalise());
        }
        if let Some(error) = chunk.error.filter(|e| !e.is_null()) {
            self.stream_error = Some(StreamError::from_value(&error));
        }
    }

    pub fn usage(&self) -> Option<TokenUsage> {
        self.usage
    }

    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    pub fn completed(&self) -> bool {
        self.completed
    }

    pub fn stream_error(&self) -> Option<&StreamError> {
        self.stream_error.as_ref()
    }

    /// The `chatcmpl-…` id.
    pub fn response_id(&self) -> Option<&str> {
        self.response_id.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::CHAT;
    use crate::usage::StreamTap;
    use switchyard_core::Dialect;

    const RESPONSES: &str = concat!(
        "event: response.created\n",
        "data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_0b47\",\"object\":\"response\",\"status\":\"in_progress\",\"model\":\"gpt-5-mini\",\"output\":[],\"usage\":null}}\n\n",
        "event: response.in_progress\n",
        "data: {\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":{\"id\":\"resp_0b47\",\"object\":\"response\",\"status\":\"in_progress\",\"model\":\"gpt-5-mini\",\"output\":[],\"usage\":null}}\n\n",
        "event: response.output_text.delta\n",
        "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":6,\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"delta\":\"Olá\",\"logprobs\":[],\"obfuscation\":\"GnLMSVqNdNbj1\"}\n\n",
        "event: response.completed\n",
        "data: {\"type\":\"response.completed\",\"sequence_number\":11,\"response\":{\"id\":\"resp_0b47\",\"model\":\"gpt-5-mini\",\"status\":\"completed\",\"usage\":{\"input_tokens\":19,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":72,\"output_tokens_details\":{\"reasoning_tokens\":64},\"total_tokens\":91}}}\n\n",
    );

    fn run(dialect: Dialect, chunks: &[&[u8]]) -> StreamTap {
        let mut tap = StreamTap::new(dialect);
        for c in chunks {
            tap.feed(c);
        }
        tap.finish();
        tap
    }

    #[test]
    fn chat_doc_example() {
        let tap = run(Dialect::OpenaiChat, &[CHAT.as_bytes()]);
        assert_eq!(
            tap.usage(),
            Some(TokenUsage {
                input_tokens: 19,
                output_tokens: 76,
                reasoning_tokens: 64,
                ..TokenUsage::default()
            })
        );
        assert_eq!(tap.model(), Some("gpt-5-mini-2025-08-07"));
        assert_eq!(tap.response_id(), Some("chatcmpl-CLx1"));
        assert!(tap.completed());
        let singles: Vec<&[u8]> = CHAT.as_bytes().chunks(1).collect();
        assert_eq!(run(Dialect::OpenaiChat, &singles).usage(), tap.usage());
    }

    #[test]
    fn chat_cached_tokens_and_mid_stream_error() {
        let stream = concat!(
            "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":100,\"prompt_tokens_details\":{\"cached_tokens\":60},\"completion_tokens\":5}}\n\n",
            "data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n",
        );
        let tap = run(Dialect::OpenaiChat, &[stream.as_bytes()]);
        let usage = tap.usage().unwrap();
        assert_eq!((usage.input_tokens, usage.cache_read_tokens), (40, 60));
        assert_eq!(tap.stream_error().unwrap().error_type, "server_error");
        assert_eq!(tap.stream_error().unwrap().message, "boom");
        assert!(!tap.completed());
    }

    #[test]
    fn chat_without_usage_chunk_has_no_usage() {
        let no_usage: String = CHAT
            .split("\n\n")
            .filter(|e| !e.contains("\"prompt_tokens\""))
            .map(|e| format!("{e}\n\n"))
            .collect();
        let tap = run(Dialect::OpenaiChat, &[no_usage.as_bytes()]);
        assert_eq!(tap.usage(), None);
        assert!(tap.completed());
    }

    #[test]
    fn responses_doc_example() {
        let tap = run(Dialect::OpenaiResponses, &[RESPONSES.as_bytes()]);
        assert_eq!(
            tap.usage(),
            Some(TokenUsage {
                input_tokens: 19,
                output_tokens: 72,
                reasoning_tokens: 64,
                ..TokenUsage::default()
            })
        );
        assert_eq!(tap.response_id(), Some("resp_0b47"));
        assert_eq!(tap.model(), Some("gpt-5-mini"));
        assert!(tap.completed());
    }

    #[test]
    fn responses_cached_and_failed() {
        let stream = concat!(
            "event: response.created\n",
            "data: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"model\":\"gpt-5\",\"usage\":null}}\n\n",
            "event: response.failed\n",
            "data: {\"type\":\"response.failed\",\"sequence_number\":5,\"response\":{\"id\":\"resp_1\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"oops\"},\"usage\":{\"input_tokens\":50,\"input_tokens_details\":{\"cached_tokens\":20},\"output_tokens\":3}}}\n\n",
        );
        let tap = run(Dialect::OpenaiResponses, &[stream.as_bytes()]);
        let usage = tap.usage().unwrap();
        assert_eq!(
            (
                usage.input_tokens,
                usage.cache_read_tokens,
                usage.output_tokens
            ),
            (30, 20, 3)
        );
        assert_eq!(
            tap.stream_error(),
            Some(&StreamError {
                error_type: "server_error".into(),
                message: "oops".into()
            })
        );
        assert!(!tap.completed());
    }

    #[test]
    fn responses_error_event() {
        let stream = "event: error\ndata: {\"type\":\"error\",\"code\":\"rate_limit_exceeded\",\"message\":\"slow down\",\"param\":null,\"sequence_number\":3}\n\n";
        let tap = run(Dialect::OpenaiResponses, &[stream.as_bytes()]);
        assert_eq!(
            tap.stream_error(),
            Some(&StreamError {
                error_type: "rate_limit_exceeded".into(),
                message: "slow down".into()
            })
        );
    }
}
