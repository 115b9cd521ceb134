//! Token counting across dialects: Claude Code asks `/v1/messages/count_tokens` before long
//! turns, Gemini clients ask `:countTokens`. The upstream's own counter answers where it has one
//! (Anthropic `count_tokens`, Gemini `countTokens`, OpenAI `POST /v1/responses/input_tokens`);
//! Chat Completions has none, which is a 400 naming why — never a retryable 503, since every
//! Chat account would answer the same.
//!
//! A count is taken with lossy conversion: a field that cannot be carried changes what the
//! target would generate, not how many tokens the prompt has, and what was left out is listed.

use serde_json::{Value, json};
use switchyard_core::Dialect;

use super::fidelity::ConvertError;
use super::{ConvertedRequest, RequestOptions, convert_request};

/// The body to send to the `target`'s token counter for a `client`'s counting request (the
/// same body as its generation request, minus what only generation takes).
pub fn convert_count_tokens(
    client: Dialect,
    target: Dialect,
    body: &[u8],
    options: &RequestOptions,
) -> Result<ConvertedRequest, ConvertError> {
    if target == Dialect::OpenaiChat {
        return Err(ConvertError::Unsupported {
            field: String::new(),
            target: target.as_str(),
            why: "OpenAI Chat Completions upstreams have no token counter".into(),
        });
    }
    // Gemini's countTokens may wrap the generation request.
    let unwrapped;
    let body = match (client, serde_json::from_slice::<Value>(body)) {
        (Dialect::Gemini, Ok(mut v)) if v.get("generateContentRequest").is_some() => {
            unwrapped = v["generateContentRequest"].take().to_string().into_bytes();
            &unwrapped[..]
        }
        _ => body,
    };
    let options = RequestOptions {
        lossy: true,
        stream: Some(false),
        ..options.clone()
    };
    let mut converted = convert_request(client, target, body, &options)?;
    let mut v: Value = serde_json::from_slice(&converted.body)
        .map_err(|e| ConvertError::Upstream { why: e.to_string() })?;
    let generation_only: &[&str] = match target {
        Dialect::Anthropic => &[
            "max_tokens",
            "stream",
            "stop_sequences",
            "temperature",
            "top_p",
            "top_k",
            "metadata",
        ],
        Dialect::OpenaiResponses => &[
            "stream",
            "store",
            "include",
            "max_output_tokens",
            "temperature",
            "top_p",
        ],
        _ => &[],
    };
    if let Some(o) = v.as_object_mut() {
        for k in generation_only {
            o.remove(*k);
        }
    }
    if target == Dialect::Gemini {
        let model = converted
            .model
            .clone()
            .ok_or_else(|| ConvertError::Invalid {
                field: "model".into(),
                why: "Gemini counts tokens for a named model".into(),
            })?;
        v["model"] = json!(format!("models/{model}"));
        v = json!({ "generateContentRequest": v });
    }
    converted.body = v.to_string().into_bytes();
    Ok(converted)
}

/// The upstream counter's answer, as the number and as the client's body.
pub fn convert_count_tokens_response(
    upstream: Dialect,
    client: Dialect,
    body: &[u8],
) -> Result<(u64, Vec<u8>), ConvertError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ConvertError::Upstream {
        why: format!("not JSON: {e}"),
    })?;
    let key = match upstream {
        Dialect::Gemini => "totalTokens",
        _ => "input_tokens",
    };
    let n = v
        .get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| ConvertError::Upstream {
            why: format!("no `{key}` in the token count"),
        })?;
    let out = match client {
        Dialect::Gemini => json!({"totalTokens": n}),
        Dialect::OpenaiResponses => json!({"object": "response.input_tokens", "input_tokens": n}),
        Dialect::Anthropic | Dialect::OpenaiChat => json!({"input_tokens": n}),
    };
    Ok((n, out.to_string().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claude_code_count() -> Vec<u8> {
        json!({"model": "claude-sonnet-4-5", "system": [{"type": "text", "text": "You are Claude."}],
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"name": "Read", "input_schema": {"type": "object", "properties": {"p": {"type": "string"}}}}],
            "thinking": {"type": "enabled", "budget_tokens": 2048}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn claude_code_counts_on_gemini_and_openai() {
        let options = RequestOptions {
            model: Some("gemini-2.5-pro".into()),
            ..RequestOptions::default()
        };
        let g = convert_count_tokens(
            Dialect::Anthropic,
            Dialect::Gemini,
            &claude_code_count(),
            &options,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&g.body).unwrap();
        assert_eq!(
            v["generateContentRequest"]["model"],
            "models/gemini-2.5-pro"
        );
        assert_eq!(
            v["generateContentRequest"]["contents"][0]["parts"][0]["text"],
            "hi"
        );
        let options = RequestOptions {
            model: Some("gpt-5".into()),
            ..RequestOptions::default()
        };
        let r = convert_count_tokens(
            Dialect::Anthropic,
            Dialect::OpenaiResponses,
            &claude_code_count(),
            &options,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(v.get("stream").is_none() && v.get("store").is_none());
        assert_eq!(v["model"], "gpt-5");
        let (n, body) = convert_count_tokens_response(
            Dialect::Gemini,
            Dialect::Anthropic,
            br#"{"totalTokens": 31}"#,
        )
        .unwrap();
        assert_eq!((n, body), (31, br#"{"input_tokens":31}"#.to_vec()));
    }

    #[test]
    fn chat_upstreams_have_no_counter() {
        let e = convert_count_tokens(
            Dialect::Anthropic,
            Dialect::OpenaiChat,
            &claude_code_count(),
            &RequestOptions::default(),
        )
        .unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("no token counter"));
    }

    #[test]
    fn gemini_clients_count_on_anthropic() {
        let body = json!({"generateContentRequest": {"model": "models/x", "contents": [{"role": "user", "parts": [{"text": "hi"}]}]}});
        let options = RequestOptions {
            model: Some("claude-sonnet-4-5".into()),
            ..RequestOptions::default()
        };
        let a = convert_count_tokens(
            Dialect::Gemini,
            Dialect::Anthropic,
            body.to_string().as_bytes(),
            &options,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&a.body).unwrap();
        assert!(v.get("max_tokens").is_none());
        assert_eq!(v["messages"][0]["content"][0]["text"], "hi");
        let (_, out) = convert_count_tokens_response(
            Dialect::Anthropic,
            Dialect::Gemini,
            br#"{"input_tokens":7}"#,
        )
        .unwrap();
        assert_eq!(out, br#"{"totalTokens":7}"#.to_vec());
    }
}
