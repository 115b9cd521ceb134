//! Usage from non-streaming JSON response bodies.

use super::anthropic::AnthropicUsage;
use super::gemini::GeminiResponse;
use super::non_empty;
use super::openai::{ChatChunk, ResponseObject};
use serde::Deserialize;
use switchyard_core::{Dialect, TokenUsage};

/// What a non-streaming response says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyInfo {
    /// Normalised usage; `None` if the body had none.
    pub usage: Option<TokenUsage>,
    /// The model the upstream reports.
    pub model: Option<String>,
    /// `msg_…`, `resp_…`, `chatcmpl-…` or Gemini `responseId`.
    pub response_id: Option<String>,
}

#[derive(Deserialize)]
struct AnthropicMessage {
    id: Option<String>,
    model: Option<String>,
    usage: Option<AnthropicUsage>,
}

/// Reads usage, model and id from a complete JSON response body of `dialect`.
///
/// Returns `None` when the body is not JSON of the expected shape (an HTML error page from a
/// proxy, say). Gemini bodies may be a single response, the Code Assist wrapper, or — when a
/// stream was requested without `alt=sse` — a JSON array of chunks, where the last usage wins.
pub fn usage_from_body(dialect: Dialect, body: &[u8]) -> Option<BodyInfo> {
    match dialect {
        Dialect::Anthropic => {
            let m: AnthropicMessage = serde_json::from_slice(body).ok()?;
            Some(BodyInfo {
                usage: m.usage.map(|u| u.normalise()),
                model: non_empty(m.model),
                response_id: non_empty(m.id),
            })
        }
        Dialect::OpenaiResponses => {
            let r: ResponseObject = serde_json::from_slice(body).ok()?;
            Some(BodyInfo {
                usage: r.usage.map(|u| u.normalise()),
                model: non_empty(r.model),
                response_id: non_empty(r.id),
            })
        }
        Dialect::OpenaiChat => {
            let c: ChatChunk = serde_json::from_slice(body).ok()?;
            Some(BodyInfo {
                usage: c.usage.map(|u| u.normalise()),
                model: non_empty(c.model),
                response_id: non_empty(c.id),
            })
        }
        Dialect::Gemini => {
            let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
            let chunks: Vec<GeminiResponse> = if *first == b'[' {
                match serde_json::from_slice(body) {
                    Ok(chunks) => chunks,
                    // A streamed array cut off mid-way: bill the elements that did arrive.
                    Err(_) => return salvage_gemini_array(body),
                }
            } else {
                vec![serde_json::from_slice(body).ok()?]
            };
            let mut info = BodyInfo::default();
            for chunk in chunks {
                let chunk = chunk.unwrapped();
                if let Some(usage) = chunk.usage_metadata {
                    info.usage = Some(usage.normalise());
                }
                if let Some(model) = non_empty(chunk.model_version) {
                    info.model = Some(model);
                }
                if info.response_id.is_none() {
                    info.response_id = non_empty(chunk.response_id);
                }
            }
            Some(info)
        }
    }
}

/// Usage from the complete elements of a truncated Gemini JSON array; `None` when no element
/// said anything (the body was not such an array after all).
fn salvage_gemini_array(body: &[u8]) -> Option<BodyInfo> {
    let mut tap = super::GeminiArrayTap::new();
    tap.feed(body);
    tap.finish();
    let info = BodyInfo {
        usage: tap.usage(),
        model: tap.model().map(str::to_owned),
        response_id: tap.response_id().map(str::to_owned),
    };
    (info != BodyInfo::default()).then_some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_message() {
        let body = r#"{"id":"msg_01P9","type":"message","role":"assistant","model":"claude-sonnet-4-20250514",
 "content":[{"type":"text","text":"Olá!"}],"stop_reason":"end_turn","stop_sequence":null,
 "usage":{"input_tokens":16,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,
  "cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},
  "output_tokens":50,"service_tier":"standard"}}"#;
        let info = usage_from_body(Dialect::Anthropic, body.as_bytes()).unwrap();
        assert_eq!(
            info,
            BodyInfo {
                usage: Some(TokenUsage {
                    input_tokens: 16,
                    output_tokens: 50,
                    ..TokenUsage::default()
                }),
                model: Some("claude-sonnet-4-20250514".into()),
                response_id: Some("msg_01P9".into()),
            }
        );
    }

    #[test]
    fn responses_object() {
        let body = br#"{"id":"resp_1","object":"response","model":"gpt-5","output":[],"usage":{"input_tokens":19,"input_tokens_details":{"cached_tokens":4},"output_tokens":72,"output_tokens_details":{"reasoning_tokens":64},"total_tokens":91}}"#;
        let info = usage_from_body(Dialect::OpenaiResponses, body).unwrap();
        let u = info.usage.unwrap();
        assert_eq!(
            (
                u.input_tokens,
                u.cache_read_tokens,
                u.output_tokens,
                u.reasoning_tokens
            ),
            (15, 4, 72, 64)
        );
        assert_eq!(info.response_id.as_deref(), Some("resp_1"));
    }

    #[test]
    fn chat_completion() {
        let body = br#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-5-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":19,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens":76,"completion_tokens_details":{"reasoning_tokens":64},"total_tokens":95}}"#;
        let info = usage_from_body(Dialect::OpenaiChat, body).unwrap();
        assert_eq!(
            info.usage,
            Some(TokenUsage {
                input_tokens: 19,
                output_tokens: 76,
                reasoning_tokens: 64,
                ..TokenUsage::default()
            })
        );
        assert_eq!(info.model.as_deref(), Some("gpt-5-mini"));
    }

    #[test]
    fn gemini_plain_wrapped_and_array() {
        let plain = r#"{"candidates":[],"usageMetadata":{"promptTokenCount":11,"candidatesTokenCount":14,"thoughtsTokenCount":24},"modelVersion":"gemini-2.5-flash","responseId":"r1"}"#;
        let expected = TokenUsage {
            input_tokens: 11,
            output_tokens: 38,
            reasoning_tokens: 24,
            ..TokenUsage::default()
        };
        for body in [
            plain.to_owned(),
            format!("{{\"response\":{plain},\"traceId\":\"x\"}}"),
            format!("[{{\"usageMetadata\":{{\"promptTokenCount\":11}}}},\n{plain}]"),
        ] {
            let info = usage_from_body(Dialect::Gemini, body.as_bytes()).unwrap();
            assert_eq!(info.usage, Some(expected));
            assert_eq!(info.model.as_deref(), Some("gemini-2.5-flash"));
            assert_eq!(info.response_id.as_deref(), Some("r1"));
        }
    }

    #[test]
    fn gemini_truncated_array_is_salvaged() {
        let body = br#"[{"usageMetadata":{"promptTokenCount":11,"candidatesTokenCount":3},"modelVersion":"gemini-2.5-flash"}
,
{"candidates":[{"content":{"parts":[{"text":"cut"#;
        let info = usage_from_body(Dialect::Gemini, body).unwrap();
        assert_eq!(info.usage.map(|u| u.output_tokens), Some(3));
        assert_eq!(info.model.as_deref(), Some("gemini-2.5-flash"));
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(usage_from_body(Dialect::Anthropic, b"<html>"), None);
        assert_eq!(usage_from_body(Dialect::Gemini, b""), None);
    }
}
