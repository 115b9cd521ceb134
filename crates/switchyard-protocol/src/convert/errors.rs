//! Upstream errors retold in the client's dialect, keeping their meaning.
//!
//! SDKs decide from the status and type whether to retry, back off, compact the conversation or
//! give up, so the class must survive the crossing: a rate limit stays a 429, an overload stays
//! the client's "overloaded" (529 for Anthropic clients, 503 for the others), and a context
//! overflow stays recognisable — Claude Code compacts on Anthropic's "prompt is too long", the
//! OpenAI SDKs and Codex look for `context_length_exceeded`.

use serde_json::{Value, json};
use switchyard_core::Dialect;

use crate::errors::error_body_coded;

/// What kind of failure an upstream reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    InvalidRequest,
    /// The prompt (plus requested output) does not fit the model's context window.
    ContextOverflow,
    Authentication,
    Permission,
    NotFound,
    RequestTooLarge,
    RateLimit,
    /// Out of credit or over a spend cap; not worth retrying.
    Billing,
    Overloaded,
    Server,
}

/// The client's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertedError {
    pub status: u16,
    pub body: String,
    pub class: ErrorClass,
    /// The upstream's own message.
    pub message: String,
}

/// Retells an upstream error (`status` and body, any shape) in the client's dialect.
pub fn convert_error(
    upstream: Dialect,
    status: u16,
    body: &[u8],
    client: Dialect,
) -> ConvertedError {
    let (class, message) = classify(upstream, status, body);
    let (status, body) = render(client, class, &message);
    ConvertedError {
        status,
        body,
        class,
        message,
    }
}

/// The class and message of an upstream error body.
pub fn classify(upstream: Dialect, status: u16, body: &[u8]) -> (ErrorClass, String) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    // Gemini may wrap its error in an array; Code Assist and Chat put it under `error`.
    let v = match v {
        Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        other => other,
    };
    let e = v.get("error").unwrap_or(&v);
    let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
    let mut message = [
        field("message"),
        v.get("detail").and_then(Value::as_str).unwrap_or_default(),
    ]
    .into_iter()
    .find(|m| !m.is_empty())
    .map(str::to_owned)
    .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(500).collect());
    if message.is_empty() {
        message = format!("upstream answered {status}");
    }
    let kind = match upstream {
        Dialect::Gemini => field("status"),
        _ => field("type"),
    };
    let code = e
        .get("code")
        .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_owned))
        .unwrap_or_default();
    (class_of(status, kind, &code, &message), message)
}

fn class_of(status: u16, kind: &str, code: &str, message: &str) -> ErrorClass {
    let lower = message.to_ascii_lowercase();
    let overflow = code == "context_length_exceeded"
        || lower.contains("prompt is too long")
        || lower.contains("context length")
        || lower.contains("context window")
        || lower.contains("maximum context")
        || (lower.contains("input token count") && lower.contains("exceeds"));
    if overflow && matches!(status, 400 | 413) {
        return ErrorClass::ContextOverflow;
    }
    match (status, kind, code) {
        (_, "overloaded_error" | "UNAVAILABLE", _) | (503 | 529, _, _) => ErrorClass::Overloaded,
        (_, _, "insufficient_quota") | (402, _, _) | (_, "billing_error", _) => ErrorClass::Billing,
        (_, "rate_limit_error" | "RESOURCE_EXHAUSTED" | "usage_limit_reached", _) | (429, _, _) => {
            ErrorClass::RateLimit
        }
        (401, _, _) => ErrorClass::Authentication,
        (403, _, _) => ErrorClass::Permission,
        (404, _, _) => ErrorClass::NotFound,
        (413, _, _) => ErrorClass::RequestTooLarge,
        (500..=599, _, _) => ErrorClass::Server,
        _ => ErrorClass::InvalidRequest,
    }
}

/// Status and body of `class` for a `client`.
pub(crate) fn render(client: Dialect, class: ErrorClass, message: &str) -> (u16, String) {
    let status = status_for(client, class);
    let body = match client {
        Dialect::Anthropic => {
            let (kind, message) = match class {
                // Claude Code compacts on this wording.
                ErrorClass::ContextOverflow if !message.contains("prompt is too long") => (
                    "invalid_request_error",
                    format!("prompt is too long: {message}"),
                ),
                ErrorClass::Billing => ("billing_error", message.to_owned()),
                _ => (anthropic_type(class), message.to_owned()),
            };
            error_body_coded(client, status, Some(kind), None, &message)
        }
        Dialect::OpenaiChat | Dialect::OpenaiResponses => {
            let (kind, code) = match class {
                ErrorClass::ContextOverflow => {
                    ("invalid_request_error", Some("context_length_exceeded"))
                }
                ErrorClass::Billing => ("insufficient_quota", Some("insufficient_quota")),
                ErrorClass::Overloaded => ("server_error", Some("server_is_overloaded")),
                ErrorClass::RateLimit => ("rate_limit_error", Some("rate_limit_exceeded")),
                ErrorClass::Server => ("server_error", None),
                ErrorClass::Authentication => ("authentication_error", Some("invalid_api_key")),
                ErrorClass::Permission => ("permission_error", None),
                ErrorClass::NotFound => ("invalid_request_error", Some("not_found")),
                ErrorClass::InvalidRequest | ErrorClass::RequestTooLarge => {
                    ("invalid_request_error", None)
                }
            };
            error_body_coded(client, status, Some(kind), code, message)
        }
        Dialect::Gemini => error_body_coded(client, status, None, None, message),
    };
    (status, body)
}

fn status_for(client: Dialect, class: ErrorClass) -> u16 {
    match class {
        ErrorClass::InvalidRequest | ErrorClass::ContextOverflow => 400,
        ErrorClass::Authentication => 401,
        ErrorClass::Permission => 403,
        ErrorClass::NotFound => 404,
        ErrorClass::RequestTooLarge => 413,
        ErrorClass::RateLimit => 429,
        ErrorClass::Billing => match client {
            Dialect::Anthropic => 402,
            _ => 429,
        },
        ErrorClass::Overloaded => match client {
            Dialect::Anthropic => 529,
            _ => 503,
        },
        ErrorClass::Server => 500,
    }
}

fn anthropic_type(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::InvalidRequest | ErrorClass::ContextOverflow => "invalid_request_error",
        ErrorClass::Authentication => "authentication_error",
        ErrorClass::Permission => "permission_error",
        ErrorClass::NotFound => "not_found_error",
        ErrorClass::RequestTooLarge => "request_too_large",
        ErrorClass::RateLimit => "rate_limit_error",
        ErrorClass::Billing => "billing_error",
        ErrorClass::Overloaded => "overloaded_error",
        ErrorClass::Server => "api_error",
    }
}

/// The client's in-stream error event for an error the upstream reported mid-stream. Written
/// only between whole events (the converter never stops inside one).
pub(crate) fn stream_event(
    client: Dialect,
    class: ErrorClass,
    message: &str,
    response_id: &str,
    sequence: u64,
) -> Vec<u8> {
    let (_, body) = render(client, class, message);
    match client {
        Dialect::Anthropic => format!("event: error\ndata: {body}\n\n").into_bytes(),
        Dialect::OpenaiChat => format!("data: {body}\n\n").into_bytes(),
        Dialect::Gemini => format!("data: {body}\r\n\r\n").into_bytes(),
        Dialect::OpenaiResponses => {
            let code = match class {
                ErrorClass::RateLimit => "rate_limit_exceeded",
                ErrorClass::ContextOverflow => "context_length_exceeded",
                ErrorClass::InvalidRequest => "invalid_request_error",
                _ => "server_error",
            };
            let failed = json!({
                "type": "response.failed",
                "sequence_number": sequence,
                "response": {
                    "id": response_id,
                    "object": "response",
                    "status": "failed",
                    "error": {"code": code, "message": message},
                    "output": [],
                    "usage": null,
                }
            });
            format!("event: response.failed\ndata: {failed}\n\n").into_bytes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(up: Dialect, status: u16, body: &str, client: Dialect) -> (u16, Value, ErrorClass) {
        let e = convert_error(up, status, body.as_bytes(), client);
        (e.status, serde_json::from_str(&e.body).unwrap(), e.class)
    }

    #[test]
    fn a_rate_limit_stays_a_rate_limit_in_every_dialect() {
        let ups = [
            (
                Dialect::Anthropic,
                r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
            ),
            (
                Dialect::OpenaiChat,
                r#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#,
            ),
            (
                Dialect::Gemini,
                r#"{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}"#,
            ),
        ];
        for (up, body) in ups {
            let (s, v, class) = convert(up, 429, body, Dialect::Anthropic);
            assert_eq!((s, class), (429, ErrorClass::RateLimit));
            assert_eq!(v["error"]["type"], "rate_limit_error");
            assert_eq!(v["error"]["message"], "slow down");
            let (s, v, _) = convert(up, 429, body, Dialect::OpenaiChat);
            assert_eq!(s, 429);
            assert_eq!(v["error"]["code"], "rate_limit_exceeded");
            let (s, v, _) = convert(up, 429, body, Dialect::Gemini);
            assert_eq!(s, 429);
            assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
        }
    }

    #[test]
    fn context_overflow_keeps_the_words_clients_look_for() {
        let openai = r#"{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
        let (s, v, class) = convert(Dialect::OpenaiChat, 400, openai, Dialect::Anthropic);
        assert_eq!((s, class), (400, ErrorClass::ContextOverflow));
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("prompt is too long")
        );
        let anthropic = r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#;
        let (_, v, _) = convert(Dialect::Anthropic, 400, anthropic, Dialect::OpenaiResponses);
        assert_eq!(v["error"]["code"], "context_length_exceeded");
        let gemini = r#"{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#;
        let (_, v, class) = convert(Dialect::Gemini, 400, gemini, Dialect::OpenaiChat);
        assert_eq!(class, ErrorClass::ContextOverflow);
        assert_eq!(v["error"]["code"], "context_length_exceeded");
    }

    #[test]
    fn overload_auth_and_bad_requests_cross_over() {
        let over = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(
            convert(Dialect::Anthropic, 529, over, Dialect::OpenaiChat).0,
            503
        );
        let gem =
            r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#;
        let (s, v, _) = convert(Dialect::Gemini, 503, gem, Dialect::Anthropic);
        assert_eq!(
            (s, v["error"]["type"].as_str()),
            (529, Some("overloaded_error"))
        );
        let auth = r#"{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        let (s, v, _) = convert(Dialect::OpenaiChat, 401, auth, Dialect::Gemini);
        assert_eq!(
            (s, v["error"]["status"].as_str()),
            (401, Some("UNAUTHENTICATED"))
        );
        let bad = r#"{"detail":"Store must be set to false"}"#;
        let (s, v, _) = convert(Dialect::OpenaiResponses, 400, bad, Dialect::Anthropic);
        assert_eq!(
            (s, v["error"]["message"].as_str()),
            (400, Some("Store must be set to false"))
        );
        let (s, _, class) = convert(
            Dialect::Anthropic,
            502,
            "<html>bad gateway</html>",
            Dialect::OpenaiChat,
        );
        assert_eq!((s, class), (500, ErrorClass::Server));
    }
}
