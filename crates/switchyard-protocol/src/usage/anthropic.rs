//! Anthropic Messages stream tap.

use super::{StreamError, count, effective_type};
use crate::sse::SseEvent;
use serde::Deserialize;
use serde_json::Value;
use switchyard_core::TokenUsage;

/// Raw Anthropic usage fields as they appear in `message_start`, `message_delta` and the
/// non-streaming message. Every field is optional because `message_delta` (and Bedrock) send
/// only some of them, and absent/null fields must not override earlier values.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(crate) struct AnthropicUsage {
    #[serde(default, deserialize_with = "count")]
    input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    output_tokens: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation: Option<CacheCreation>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct CacheCreation {
    #[serde(default, deserialize_with = "count")]
    ephemeral_5m_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "count")]
    ephemeral_1h_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    /// Field-by-field override with the non-null values of `newer` (the documented rule for
    /// `message_delta`, whose `output_tokens` is cumulative, not an increment).
    fn merge(&mut self, newer: &AnthropicUsage) {
        fn take(old: &mut Option<u64>, new: Option<u64>) {
            if new.is_some() {
                *old = new;
            }
        }
        take(&mut self.input_tokens, newer.input_tokens);
        take(&mut self.output_tokens, newer.output_tokens);
        take(
            &mut self.cache_creation_input_tokens,
            newer.cache_creation_input_tokens,
        );
        take(
            &mut self.cache_read_input_tokens,
            newer.cache_read_input_tokens,
        );
        if let Some(newer_cc) = newer.cache_creation {
            let cc = self
                .cache_creation
                .get_or_insert_with(CacheCreation::default);
            take(
                &mut cc.ephemeral_5m_input_tokens,
                newer_cc.ephemeral_5m_input_tokens,
            );
            take(
                &mut cc.ephemeral_1h_input_tokens,
                newer_cc.ephemeral_1h_input_tokens,
            );
        }
    }

    /// Anthropic's `input_tokens` already excludes cache reads and writes. Cache writes are
    /// split by TTL when the breakdown is present; a total without breakdown (older API
    /// versions) is billed as 5-minute writes, the TTL the API defaults to. If the breakdown
    /// sums to less than the total, the remainder is also counted as 5-minute writes so that
    /// nothing goes unbilled.
    pub(crate) fn normalise(&self) -> TokenUsage {
        let total_creation = self.cache_creation_input_tokens.unwrap_or(0);
        let (five_m, one_h) = match self.cache_creation {
            Some(cc) => {
                let five_m = cc.ephemeral_5m_input_tokens.unwrap_or(0);
                let one_h = cc.ephemeral_1h_input_tokens.unwrap_or(0);
                let rest = total_creation.saturating_sub(five_m + one_h);
                (five_m + rest, one_h)
            }
            None => (total_creation, 0),
        };
        TokenUsage {
            input_tokens: self.input_tokens.unwrap_or(0),
            output_tokens: self.output_tokens.unwrap_or(0),
            cache_creation_5m_tokens: five_m,
            cache_creation_1h_tokens: one_h,
            cache_read_tokens: self.cache_read_input_tokens.unwrap_or(0),
            reasoning_tokens: 0,
        }
    }
}

#[derive(Deserialize)]
struct MessageStart {
    message: Option<MessageHead>,
}

#[derive(Deserialize)]
struct MessageHead {
    id: Option<String>,
    model: Option<String>,
    usage: Option<AnthropicUsage>,
}

#[derive(Deserialize)]
struct MessageDelta {
    usage: Option<AnthropicUsage>,
}

#[derive(Deserialize)]
struct ErrorEvent {
    error: Option<Value>,
}

/// Tap for Anthropic Messages streams (also the re-emitted Bedrock stream).
///
/// `completed` means `message_stop` was seen; an `event: error` after a 200 is kept as
/// [`stream_error`](Self::stream_error), and the usage seen before it is still reported.
#[derive(Debug, Clone, Default)]
pub struct AnthropicTap {
    usage: Option<AnthropicUsage>,
    model: Option<String>,
    message_id: Option<String>,
    completed: bool,
    stream_error: Option<StreamError>,
}

impl AnthropicTap {
    pub fn on_event(&mut self, event: &SseEvent<'_>) {
        // Only four event types matter; content deltas (the bulk of a stream) stop here.
        match effective_type(event) {
            "message_start" => {
                let Ok(start) = serde_json::from_str::<MessageStart>(event.data) else {
                    return;
                };
                if let Some(message) = start.message {
                    self.model = message.model.or(self.model.take());
                    self.message_id = message.id.or(self.message_id.take());
                    if let Some(usage) = message.usage {
                        self.merge(&usage);
                    }
                }
            }
            "message_delta" => {
                if let Ok(MessageDelta { usage: Some(usage) }) = serde_json::from_str(event.data) {
                    self.merge(&usage);
                }
            }
            "message_stop" => self.completed = true,
            "error" => {
                let error = serde_json::from_str::<ErrorEvent>(event.data)
                    .ok()
                    .and_then(|e| e.error);
                self.stream_error = Some(match error {
                    Some(value) => StreamError::from_value(&value),
                    None => StreamError {
                        error_type: "error".to_owned(),
                        message: event.data.to_owned(),
                    },
                });
            }
            _ => {}
        }
    }

    fn merge(&mut self, usage: &AnthropicUsage) {
        self.usage
            .get_or_insert_with(AnthropicUsage::default)
            .merge(usage);
    }

    pub fn usage(&self) -> Option<TokenUsage> {
        self.usage.as_ref().map(AnthropicUsage::normalise)
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

    /// The `msg_…` id from `message_start`.
    pub fn response_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::StreamTap;
    use switchyard_core::Dialect;

    const STREAM: &str = crate::test_fixtures::ANTHROPIC;

    fn run(chunks: &[&[u8]]) -> StreamTap {
        let mut tap = StreamTap::new(Dialect::Anthropic);
        for c in chunks {
            tap.feed(c);
        }
        tap.finish();
        tap
    }

    fn expected() -> TokenUsage {
        TokenUsage {
            input_tokens: 16,
            output_tokens: 38,
            ..TokenUsage::default()
        }
    }

    #[test]
    fn doc_stream_usage_model_completion() {
        let tap = run(&[STREAM.as_bytes()]);
        assert_eq!(tap.usage(), Some(expected()));
        assert_eq!(tap.model(), Some("claude-sonnet-4-20250514"));
        assert_eq!(tap.response_id(), Some("msg_01LA"));
        assert!(tap.completed());
        assert!(tap.stream_error().is_none());
    }

    #[test]
    fn every_split_and_byte_by_byte_give_same_usage() {
        let bytes = STREAM.as_bytes();
        for split in 0..=bytes.len() {
            let (a, b) = bytes.split_at(split);
            let tap = run(&[a, b]);
            assert_eq!(tap.usage(), Some(expected()), "split at {split}");
            assert!(tap.completed());
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(run(&singles).usage(), Some(expected()));
    }

    #[test]
    fn cache_classes_and_delta_override() {
        let stream = concat!(
            "event: message_start\n",
            "data: {\"type\":\"message_start\",\"message\":{\"model\":\"m\",\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":300,\"cache_read_input_tokens\":7,\"cache_creation\":{\"ephemeral_5m_input_tokens\":100,\"ephemeral_1h_input_tokens\":200},\"output_tokens\":1}}}\n\n",
            "event: message_delta\n",
            "data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":55,\"input_tokens\":null}}\n\n",
        );
        let tap = run(&[stream.as_bytes()]);
        assert_eq!(
            tap.usage(),
            Some(TokenUsage {
                input_tokens: 10,
                output_tokens: 55,
                cache_creation_5m_tokens: 100,
                cache_creation_1h_tokens: 200,
                cache_read_tokens: 7,
                reasoning_tokens: 0,
            })
        );
        assert!(!tap.completed());
    }

    #[test]
    fn creation_total_without_breakdown_counts_as_5m() {
        let stream = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3,\"cache_creation_input_tokens\":40,\"output_tokens\":1}}}\n\n";
        let usage = run(&[stream.as_bytes()]).usage();
        assert_eq!(usage.map(|u| u.cache_creation_5m_tokens), Some(40));
    }

    #[test]
    fn error_event_after_200_keeps_partial_usage() {
        let head: String = STREAM
            .split("event: message_delta")
            .next()
            .unwrap_or("")
            .into();
        let stream = format!(
            "{head}event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}}}\n\n"
        );
        let tap = run(&[stream.as_bytes()]);
        assert_eq!(
            tap.stream_error(),
            Some(&StreamError {
                error_type: "overloaded_error".into(),
                message: "Overloaded".into()
            })
        );
        assert_eq!(
            tap.usage().map(|u| (u.input_tokens, u.output_tokens)),
            Some((16, 4))
        );
        assert!(!tap.completed());
    }

    #[test]
    fn truncated_final_delta_still_counts() {
        let cut = STREAM
            .find("event: message_stop")
            .map(|i| &STREAM[..i - 1])
            .unwrap_or(STREAM);
        // Stream cut right after the message_delta data line, before its blank line.
        let tap = run(&[cut.trim_end_matches('\n').as_bytes()]);
        assert_eq!(tap.usage().map(|u| u.output_tokens), Some(38));
    }

    #[test]
    fn stream_without_event_lines_is_understood() {
        let stripped: String = STREAM
            .lines()
            .filter(|l| !l.starts_with("event:"))
            .map(|l| format!("{l}\n"))
            .collect();
        let tap = run(&[stripped.as_bytes()]);
        assert_eq!(tap.usage(), Some(expected()));
        assert!(tap.completed());
    }
}
