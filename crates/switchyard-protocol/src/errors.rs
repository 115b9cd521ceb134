//! Error bodies for every dialect — the one place they are shaped.
//!
//! Clients parse errors with their own SDK, so a refusal by the relay (bad key, no account
//! available, policy limit) must look like an error from the provider the client thinks it is
//! talking to, with a type that SDK maps to the right exception and retry behaviour.

use serde::Serialize;
use switchyard_core::Dialect;

#[derive(Serialize)]
struct AnthropicError<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: AnthropicErrorInner<'a>,
}

#[derive(Serialize)]
struct AnthropicErrorInner<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct OpenaiError<'a> {
    error: OpenaiErrorInner<'a>,
}

#[derive(Serialize)]
struct OpenaiErrorInner<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

#[derive(Serialize)]
struct GeminiError<'a> {
    error: GeminiErrorInner<'a>,
}

#[derive(Serialize)]
struct GeminiErrorInner<'a> {
    code: u16,
    message: &'a str,
    status: &'a str,
}

/// The error body for `status` in `dialect`, with the error type derived from the status.
pub fn error_body(dialect: Dialect, status: u16, message: &str) -> String {
    error_body_typed(dialect, status, None, message)
}

/// Like [`error_body`], but `error_type` (when given) overrides the derived type: Anthropic
/// `error.type`, OpenAI `error.type`, Gemini `error.status`. The OpenAI `code` is still derived
/// from the status.
pub fn error_body_typed(
    dialect: Dialect,
    status: u16,
    error_type: Option<&str>,
    message: &str,
) -> String {
    error_body_coded(dialect, status, error_type, None, message)
}

/// Like [`error_body_typed`], and `code` (when given) overrides the derived OpenAI `code`
/// (e.g. `context_length_exceeded`, which clients key on); other dialects have no code field.
pub fn error_body_coded(
    dialect: Dialect,
    status: u16,
    error_type: Option<&str>,
    code: Option<&str>,
    message: &str,
) -> String {
    let result = match dialect {
        Dialect::Anthropic => serde_json::to_string(&AnthropicError {
            kind: "error",
            error: AnthropicErrorInner {
                kind: error_type.unwrap_or_else(|| anthropic_type(status)),
                message,
            },
        }),
        Dialect::OpenaiChat | Dialect::OpenaiResponses => {
            let (kind, derived) = openai_type(status);
            serde_json::to_string(&OpenaiError {
                error: OpenaiErrorInner {
                    message,
                    kind: error_type.unwrap_or(kind),
                    param: None,
                    code: code.or(derived),
                },
            })
        }
        Dialect::Gemini => serde_json::to_string(&GeminiError {
            error: GeminiErrorInner {
                code: status,
                message,
                status: error_type.unwrap_or_else(|| gemini_status(status)),
            },
        }),
    };
    // Serialising these plain structs cannot fail; keep a valid body even if it somehow did.
    result.unwrap_or_else(|_| {
        String::from(r#"{"error":{"message":"internal error","type":"api_error"}}"#)
    })
}

/// Anthropic's documented status → `error.type` table. 503 and 529 are `overloaded_error`
/// (SDKs retry those with backoff); other 5xx are `api_error`.
fn anthropic_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        409 => "conflict_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

/// OpenAI `(type, code)`; SDKs branch on the status, but dashboards and users read these.
fn openai_type(status: u16) -> (&'static str, Option<&'static str>) {
    match status {
        401 => ("authentication_error", Some("invalid_api_key")),
        403 => ("permission_error", None),
        404 => ("invalid_request_error", Some("not_found")),
        429 => ("rate_limit_error", Some("rate_limit_exceeded")),
        503 | 529 => ("server_error", Some("service_unavailable")),
        500..=599 => ("server_error", None),
        _ => ("invalid_request_error", None),
    }
}

/// Google RPC status names as Google maps them from HTTP statuses.
fn gemini_status(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        501 => "UNIMPLEMENTED",
        502 | 503 | 529 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        500..=599 => "INTERNAL",
        _ => "INVALID_ARGUMENT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn parsed(dialect: Dialect, status: u16, message: &str) -> Value {
        serde_json::from_str(&error_body(dialect, status, message)).unwrap()
    }

    #[test]
    fn anthropic_shapes() {
        assert_eq!(
            error_body(Dialect::Anthropic, 429, "slow"),
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}"#
        );
        for (status, kind) in [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (413, "request_too_large"),
            (500, "api_error"),
            (502, "api_error"),
            (503, "overloaded_error"),
            (504, "api_error"),
            (529, "overloaded_error"),
        ] {
            assert_eq!(
                parsed(Dialect::Anthropic, status, "m")["error"]["type"],
                kind,
                "{status}"
            );
        }
    }

    #[test]
    fn openai_shapes() {
        assert_eq!(
            parsed(Dialect::OpenaiChat, 401, "bad key"),
            json!({"error":{"message":"bad key","type":"authentication_error","param":null,"code":"invalid_api_key"}})
        );
        let v = parsed(Dialect::OpenaiResponses, 429, "m");
        assert_eq!(
            (v["error"]["type"].as_str(), v["error"]["code"].as_str()),
            (Some("rate_limit_error"), Some("rate_limit_exceeded"))
        );
        let v = parsed(Dialect::OpenaiChat, 503, "m");
        assert_eq!(
            (v["error"]["type"].as_str(), v["error"]["code"].as_str()),
            (Some("server_error"), Some("service_unavailable"))
        );
        assert_eq!(
            parsed(Dialect::OpenaiChat, 400, "m")["error"]["code"],
            Value::Null
        );
    }

    #[test]
    fn gemini_shapes() {
        assert_eq!(
            parsed(Dialect::Gemini, 429, "quota"),
            json!({"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}})
        );
        for (status, name) in [
            (400, "INVALID_ARGUMENT"),
            (401, "UNAUTHENTICATED"),
            (403, "PERMISSION_DENIED"),
            (404, "NOT_FOUND"),
            (500, "INTERNAL"),
            (503, "UNAVAILABLE"),
        ] {
            assert_eq!(
                parsed(Dialect::Gemini, status, "m")["error"]["status"],
                name
            );
        }
    }

    #[test]
    fn override_and_escaping() {
        let message = "quote \" backslash \\ newline \n tab \t ctrl \u{1} unicode é";
        for dialect in [
            Dialect::Anthropic,
            Dialect::OpenaiChat,
            Dialect::OpenaiResponses,
            Dialect::Gemini,
        ] {
            let body = error_body_typed(dialect, 400, Some("custom_type"), message);
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["error"]["message"], message);
            let kind = if dialect == Dialect::Gemini {
                &v["error"]["status"]
            } else {
                &v["error"]["type"]
            };
            assert_eq!(kind, "custom_type");
        }
    }
}
