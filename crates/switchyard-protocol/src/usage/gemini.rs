//! Gemini tap (public API and the Code Assist `v1internal` wrapper).

use super::{StreamError, count, non_empty};
use crate::sse::SseEvent;
use memchr::memmem;
use serde::Deserialize;
use serde_json::Value;
use switchyard_core::TokenUsage;

/// `usageMetadata`: `promptTokenCount` includes `cachedContentTokenCount`; billed output is
/// candidates plus thoughts.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GeminiUsage {
    #[serde(default, deserialize_with = "count")]
    prompt_token_count: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    cached_content_token_count: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    candidates_token_count: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    thoughts_token_count: Option<u64>,
}

impl GeminiUsage {
    pub(crate) fn normalise(&self) -> TokenUsage {
        let prompt = self.prompt_token_count.unwrap_or(0);
        let cached = self.cached_content_token_count.unwrap_or(0).min(prompt);
        let thoughts = self.thoughts_token_count.unwrap_or(0);
        TokenUsage {
            input_tokens: prompt - cached,
            output_tokens: self.candidates_token_count.unwrap_or(0) + thoughts,
            cache_creation_5m_tokens: 0,
            cache_creation_1h_tokens: 0,
            cache_read_tokens: cached,
            reasoning_tokens: thoughts,
        }
    }
}

/// One Gemini response (stream chunk or whole body). Candidates are deliberately not
/// deserialised: only their finish reason matters, and that is found by a substring check.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GeminiResponse {
    pub(crate) usage_metadata: Option<GeminiUsage>,
    pub(crate) model_version: Option<String>,
    pub(crate) response_id: Option<String>,
    /// Code Assist wraps the public response as `{"response":{…},"traceId":…}`.
    pub(crate) response: Option<Box<GeminiResponse>>,
    error: Option<Value>,
}

impl GeminiResponse {
    /// The public-API response, whether or not it came wrapped by Code Assist.
    pub(crate) fn unwrapped(self) -> GeminiResponse {
        match self.response {
            Some(inner) => inner.unwrapped(),
            None => self,
        }
    }
}

/// Tap for Gemini `streamGenerateContent?alt=sse` streams.
///
/// Each chunk's `usageMetadata` is cumulative, so the last one wins. Gemini streams have no
/// end marker; `completed` is set once a chunk carries a `finishReason`.
#[derive(Debug, Clone, Default)]
pub struct GeminiTap {
    usage: Option<TokenUsage>,
    model: Option<String>,
    response_id: Option<String>,
    completed: bool,
    stream_error: Option<StreamError>,
}

impl GeminiTap {
    pub fn on_event(&mut self, event: &SseEvent<'_>) {
        let bytes = event.data.as_bytes();
        if memmem::find(bytes, b"\"finishReason\"").is_some() {
            self.completed = true;
        }
        // Chunks that carry nothing we need (rare: Gemini puts usage on every chunk) skip the
        // parse.
        let wanted = memmem::find(bytes, b"\"usageMetadata\"").is_some()
            || memmem::find(bytes, b"\"error\"").is_some()
            || (self.model.is_none() && memmem::find(bytes, b"\"modelVersion\"").is_some());
        if !wanted {
            return;
        }
        let Ok(chunk) = serde_json::from_str::<GeminiResponse>(event.data) else {
            return;
        };
        let error = chunk.error.clone();
        let chunk = chunk.unwrapped();
        if let Some(usage) = chunk.usage_metadata {
            self.usage = Some(usage.normalise());
        }
        if let Some(model) = non_empty(chunk.model_version) {
            self.model = Some(model);
        }
        if self.response_id.is_none() {
            self.response_id = non_empty(chunk.response_id);
        }
        if let Some(error) = error.or(chunk.error).filter(|e| !e.is_null()) {
            self.stream_error = Some(StreamError::from_value(&error));
        }
    }

    pub fn usage(&self) -> Option<TokenUsage> {
        self.usage
    }

    /// `modelVersion`, e.g. `gemini-2.5-flash`.
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    pub fn completed(&self) -> bool {
        self.completed
    }

    pub fn stream_error(&self) -> Option<&StreamError> {
        self.stream_error.as_ref()
    }

    /// `responseId`.
    pub fn response_id(&self) -> Option<&str> {
        self.response_id.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::StreamTap;
    use switchyard_core::Dialect;

    const CHUNK: &str = "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Olá!\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 11,\"candidatesTokenCount\": 14,\"totalTokenCount\": 49,\"promptTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": 11}],\"thoughtsTokenCount\": 24},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"6wcJab6wEJucz7IP3f6J4Qk\"}";

    fn run(stream: &str) -> StreamTap {
        let mut tap = StreamTap::new(Dialect::Gemini);
        for c in stream.as_bytes().chunks(7) {
            tap.feed(c);
        }
        tap.finish();
        tap
    }

    fn expected() -> TokenUsage {
        TokenUsage {
            input_tokens: 11,
            output_tokens: 38,
            reasoning_tokens: 24,
            ..TokenUsage::default()
        }
    }

    #[test]
    fn doc_example_crlf() {
        let tap = run(&format!("data: {CHUNK}\r\n\r\n"));
        assert_eq!(tap.usage(), Some(expected()));
        assert_eq!(tap.model(), Some("gemini-2.5-flash"));
        assert_eq!(tap.response_id(), Some("6wcJab6wEJucz7IP3f6J4Qk"));
        assert!(tap.completed());
    }

    #[test]
    fn code_assist_wrapper_and_last_wins() {
        let first = "{\"response\":{\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":11,\"candidatesTokenCount\":1}},\"traceId\":\"t\"}";
        let tap = run(&format!(
            "data: {first}\r\n\r\ndata: {{\"response\":{CHUNK},\"traceId\":\"t\"}}\r\n\r\n"
        ));
        assert_eq!(tap.usage(), Some(expected()));
        assert_eq!(tap.model(), Some("gemini-2.5-flash"));
    }

    #[test]
    fn cached_content_is_cache_read() {
        let tap = run(
            "data: {\"usageMetadata\":{\"promptTokenCount\":100,\"cachedContentTokenCount\":80,\"candidatesTokenCount\":2}}\n\n",
        );
        let usage = tap.usage().unwrap();
        assert_eq!(
            (
                usage.input_tokens,
                usage.cache_read_tokens,
                usage.output_tokens
            ),
            (20, 80, 2)
        );
        assert!(!tap.completed());
    }

    #[test]
    fn error_chunk() {
        let tap = run(
            "data: {\"error\":{\"code\":429,\"message\":\"quota\",\"status\":\"RESOURCE_EXHAUSTED\"}}\n\n",
        );
        let err = tap.stream_error().unwrap();
        assert_eq!(
            (err.error_type.as_str(), err.message.as_str()),
            ("RESOURCE_EXHAUSTED", "quota")
        );
    }
}
