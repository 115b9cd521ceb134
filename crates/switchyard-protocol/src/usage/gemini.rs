//! Gemini tap (public API and the Code Assist `v1internal` wrapper).

use super::{StreamError, count, non_empty};
use crate::sse::SseEvent;
use memchr::memmem;
use serde::Deserialize;
use serde_json::Value;
use switchyard_core::TokenUsage;

/// `usageMetadata`: `promptTokenCount` includes `cachedContentTokenCount`; billed output is
/// candidates plus thoughts. The four classes stay apart in [`TokenUsage`]: prompt minus cached
/// is `input_tokens`, cached is `cache_read_tokens`, thoughts are `reasoning_tokens`, and
/// candidates are `output_tokens - reasoning_tokens`.
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
    /// Tokens of tool results (e.g. search grounding) fed back to the model: counted in
    /// `totalTokenCount` but not in `promptTokenCount`, and billed as input.
    #[serde(default, deserialize_with = "count")]
    tool_use_prompt_token_count: Option<u64>,
}

impl GeminiUsage {
    pub(crate) fn normalise(&self) -> TokenUsage {
        let prompt = self.prompt_token_count.unwrap_or(0);
        let cached = self.cached_content_token_count.unwrap_or(0).min(prompt);
        let thoughts = self.thoughts_token_count.unwrap_or(0);
        let tool_use = self.tool_use_prompt_token_count.unwrap_or(0);
        TokenUsage {
            input_tokens: prompt - cached + tool_use,
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
        self.on_json(event.data.as_bytes());
    }

    /// Observes one response object (an SSE event's data or one element of a streamed JSON
    /// array), wrapped by Code Assist or not.
    pub fn on_json(&mut self, bytes: &[u8]) {
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
        let Ok(chunk) = serde_json::from_slice::<GeminiResponse>(bytes) else {
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

/// Default bound on one element of a streamed JSON array held for parsing (see
/// [`GeminiArrayTap`]).
pub const DEFAULT_MAX_ARRAY_ELEMENT: usize = 8 * 1024 * 1024;

/// Tap for the streamed JSON-array form of `streamGenerateContent` (no `alt=sse`):
/// `[{…}\r\n,\r\n{…}\r\n]`, split anywhere. Each top-level object is parsed as soon as it
/// closes, exactly like an SSE event, so a broken stream is still billed for the elements it
/// delivered. A single object (a non-stream body) is read the same way.
///
/// The scanner tracks only nesting depth and string state, and holds one element at a time (at
/// most `max_element` bytes; a larger element is skipped and counted).
#[derive(Debug, Clone)]
pub struct GeminiArrayTap {
    tap: GeminiTap,
    element: Vec<u8>,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// The current element outgrew the bound: track its structure but keep none of it.
    skipping: bool,
    max_element: usize,
    dropped_oversize: u64,
}

impl Default for GeminiArrayTap {
    fn default() -> Self {
        Self::new()
    }
}

impl GeminiArrayTap {
    pub fn new() -> Self {
        Self::with_max_element(DEFAULT_MAX_ARRAY_ELEMENT)
    }

    pub fn with_max_element(max_element: usize) -> Self {
        Self {
            tap: GeminiTap::default(),
            element: Vec::new(),
            depth: 0,
            in_string: false,
            escaped: false,
            skipping: false,
            max_element,
            dropped_oversize: 0,
        }
    }

    /// Observes one body chunk (split anywhere).
    pub fn feed(&mut self, bytes: &[u8]) {
        let mut start = None;
        for (i, &b) in bytes.iter().enumerate() {
            if self.depth == 0 {
                // Between elements: `[`, `,`, `]` and whitespace carry nothing.
                if b == b'{' {
                    self.depth = 1;
                    start = Some(i);
                }
                continue;
            }
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        self.keep(&bytes[start.unwrap_or(0)..=i]);
                        start = None;
                        self.complete();
                    }
                }
                _ => {}
            }
        }
        if self.depth > 0 {
            self.keep(&bytes[start.unwrap_or(0)..]);
        }
    }

    /// Ends the body. An element cut off by the end cannot be parsed and is dropped.
    pub fn finish(&mut self) {
        self.element.clear();
        self.depth = 0;
        self.in_string = false;
        self.escaped = false;
        self.skipping = false;
    }

    fn keep(&mut self, part: &[u8]) {
        if self.skipping {
            return;
        }
        if self.element.len().saturating_add(part.len()) > self.max_element {
            self.element.clear();
            self.skipping = true;
            self.dropped_oversize += 1;
            return;
        }
        self.element.extend_from_slice(part);
    }

    fn complete(&mut self) {
        if !self.skipping {
            self.tap.on_json(&self.element);
        }
        self.skipping = false;
        self.element.clear();
        if self.element.capacity() > 64 * 1024 {
            self.element.shrink_to(64 * 1024);
        }
    }

    /// How many elements were skipped for exceeding the size bound.
    pub fn dropped_oversize(&self) -> u64 {
        self.dropped_oversize
    }

    /// The tap the elements were fed to (usage, model, completion, errors, response id).
    pub fn tap(&self) -> &GeminiTap {
        &self.tap
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

    #[test]
    fn tool_use_prompt_is_input() {
        let tap = run(
            "data: {\"usageMetadata\":{\"promptTokenCount\":10,\"cachedContentTokenCount\":4,\"toolUsePromptTokenCount\":5,\"candidatesTokenCount\":2,\"thoughtsTokenCount\":3}}\r\n\r\n",
        );
        let usage = tap.usage().unwrap();
        assert_eq!(
            (
                usage.input_tokens,
                usage.cache_read_tokens,
                usage.output_tokens,
                usage.reasoning_tokens
            ),
            (11, 4, 5, 3)
        );
    }

    fn array_stream(wrap: bool) -> String {
        let first = "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a ] } \\\" {\"}]}}],\"usageMetadata\":{\"promptTokenCount\":11,\"candidatesTokenCount\":1}}";
        let (first, last) = if wrap {
            (
                format!("{{\"response\":{first},\"traceId\":\"t\"}}"),
                format!("{{\"response\":{CHUNK},\"traceId\":\"t\"}}"),
            )
        } else {
            (first.to_owned(), CHUNK.to_owned())
        };
        format!("[{first}\r\n,\r\n{last}\r\n]")
    }

    #[test]
    fn json_array_every_split() {
        for wrap in [false, true] {
            let body = array_stream(wrap);
            let bytes = body.as_bytes();
            for split in 0..=bytes.len() {
                let mut tap = GeminiArrayTap::new();
                tap.feed(&bytes[..split]);
                tap.feed(&bytes[split..]);
                tap.finish();
                assert_eq!(tap.usage(), Some(expected()), "split {split}");
                assert_eq!(tap.model(), Some("gemini-2.5-flash"));
                assert_eq!(tap.response_id(), Some("6wcJab6wEJucz7IP3f6J4Qk"));
                assert!(tap.completed());
            }
        }
    }

    #[test]
    fn json_array_cut_off_keeps_what_arrived() {
        let body = array_stream(false);
        let cut = &body.as_bytes()[..body.len() - 30];
        let mut tap = GeminiArrayTap::new();
        for c in cut.chunks(5) {
            tap.feed(c);
        }
        tap.finish();
        assert_eq!(tap.usage().map(|u| u.output_tokens), Some(1));
        assert!(!tap.completed());
    }

    #[test]
    fn json_array_oversize_element_is_skipped() {
        let body = format!("[{{\"x\":\"{}\"}},{CHUNK}]", "y".repeat(100));
        let mut tap = GeminiArrayTap::with_max_element(64);
        for c in body.as_bytes().chunks(9) {
            tap.feed(c);
        }
        // Both elements are over 64 bytes.
        assert_eq!(tap.dropped_oversize(), 2);
        assert_eq!(tap.usage(), None);
        let mut tap = GeminiArrayTap::with_max_element(CHUNK.len());
        tap.feed(body.as_bytes());
        assert_eq!(tap.dropped_oversize(), 0);
        assert_eq!(tap.usage(), Some(expected()));
        let body = format!("[{{\"x\":\"{}\"}},{CHUNK}]", "y".repeat(CHUNK.len()));
        let mut tap = GeminiArrayTap::with_max_element(CHUNK.len());
        for c in body.as_bytes().chunks(9) {
            tap.feed(c);
        }
        assert_eq!(tap.dropped_oversize(), 1);
        assert_eq!(tap.usage(), Some(expected()));
    }

    #[test]
    fn json_array_error_element() {
        let mut tap = GeminiArrayTap::new();
        tap.feed(b"[{\"error\":{\"code\":503,\"message\":\"busy\",\"status\":\"UNAVAILABLE\"}}]");
        assert_eq!(
            tap.stream_error().map(|e| e.error_type.as_str()),
            Some("UNAVAILABLE")
        );
    }

    proptest::proptest! {
        #[test]
        fn json_array_no_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128), split in 0usize..129) {
            let split = split.min(body.len());
            let mut tap = GeminiArrayTap::with_max_element(16);
            tap.feed(&body[..split]);
            tap.feed(&body[split..]);
            tap.finish();
            let _ = tap.usage();
        }
    }
}
