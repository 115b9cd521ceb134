//! Usage in each dialect's own fields, written from the neutral [`TokenUsage`].
//!
//! The relay bills from what the *upstream* reported (the converter hands that out as
//! `TokenUsage`), so these shapes only have to tell the client the truth in its own terms:
//! OpenAI and Gemini count cached and cache-written tokens inside the prompt total, Anthropic
//! lists them apart; OpenAI and Anthropic count reasoning inside output, Gemini apart.

use serde_json::{Value, json};
use switchyard_core::TokenUsage;

pub(crate) fn anthropic(u: &TokenUsage) -> Value {
    json!({
        "input_tokens": u.input_tokens,
        "cache_creation_input_tokens": u.cache_creation_5m_tokens + u.cache_creation_1h_tokens,
        "cache_read_input_tokens": u.cache_read_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": u.cache_creation_5m_tokens,
            "ephemeral_1h_input_tokens": u.cache_creation_1h_tokens,
        },
        "output_tokens": u.output_tokens,
    })
}

fn prompt_total(u: &TokenUsage) -> u64 {
    u.input_tokens + u.cache_creation_5m_tokens + u.cache_creation_1h_tokens + u.cache_read_tokens
}

pub(crate) fn chat(u: &TokenUsage) -> Value {
    json!({
        "prompt_tokens": prompt_total(u),
        "completion_tokens": u.output_tokens,
        "total_tokens": prompt_total(u) + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    })
}

pub(crate) fn responses(u: &TokenUsage) -> Value {
    json!({
        "input_tokens": prompt_total(u),
        "input_tokens_details": {"cached_tokens": u.cache_read_tokens},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": prompt_total(u) + u.output_tokens,
    })
}

pub(crate) fn gemini(u: &TokenUsage) -> Value {
    let reasoning = u.reasoning_tokens.min(u.output_tokens);
    let mut v = json!({
        "promptTokenCount": prompt_total(u),
        "candidatesTokenCount": u.output_tokens - reasoning,
        "totalTokenCount": prompt_total(u) + u.output_tokens,
    });
    if u.cache_read_tokens > 0 {
        v["cachedContentTokenCount"] = json!(u.cache_read_tokens);
    }
    if reasoning > 0 {
        v["thoughtsTokenCount"] = json!(reasoning);
    }
    v
}

/// Reads usage from a body of `dialect` with the same rules as the relay's usage taps, so a
/// converted response is billed exactly as a native one would be.
pub(crate) fn read(dialect: switchyard_core::Dialect, body: &[u8]) -> Option<TokenUsage> {
    crate::usage::usage_from_body(dialect, body).and_then(|info| info.usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::Dialect;

    /// Writing usage in a dialect and reading it back with the relay's own tap gives the same
    /// counts, in every class the dialect can express.
    #[test]
    fn every_dialect_reads_back_what_was_written() {
        let u = TokenUsage {
            input_tokens: 100,
            output_tokens: 50,
            cache_creation_5m_tokens: 0,
            cache_creation_1h_tokens: 0,
            cache_read_tokens: 30,
            reasoning_tokens: 20,
        };
        let anthropic_u = TokenUsage {
            cache_creation_5m_tokens: 7,
            cache_creation_1h_tokens: 3,
            reasoning_tokens: 0,
            ..u
        };
        let body = json!({"id": "m", "usage": anthropic(&anthropic_u)}).to_string();
        assert_eq!(read(Dialect::Anthropic, body.as_bytes()), Some(anthropic_u));
        let body = json!({"id": "c", "usage": chat(&u)}).to_string();
        assert_eq!(read(Dialect::OpenaiChat, body.as_bytes()), Some(u));
        let body = json!({"id": "r", "usage": responses(&u)}).to_string();
        assert_eq!(read(Dialect::OpenaiResponses, body.as_bytes()), Some(u));
        let body = json!({"usageMetadata": gemini(&u)}).to_string();
        assert_eq!(read(Dialect::Gemini, body.as_bytes()), Some(u));
    }
}
