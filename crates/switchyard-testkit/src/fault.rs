//! Scripted faults.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::bodies::anthropic_error_json;

/// One scripted misbehaviour, consumed by exactly one matching request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status, these headers and this body. A JSON body (starting with `{`)
    /// gets `content-type: application/json` unless `headers` sets one.
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Wait this long before sending the response head, then answer normally.
    SlowFirstByte(Duration),
    /// Answer 200 and stream `after_events` SSE events, then break the connection (the body
    /// errors, the chunked encoding is never terminated, no `message_stop`). On a non-stream
    /// request, half of the JSON body is sent before the break.
    DisconnectMidStream { after_events: usize },
    /// Answer 200 and stream `after_events` events, then send nothing more and keep the
    /// connection open (until the mock shuts down). On a non-stream request, half of the JSON
    /// body is sent before the stall.
    StallAfter { after_events: usize },
    /// Answer 200 with a stream that carries one delta and then the dialect's in-stream error
    /// (`event: error` overloaded for Anthropic, `response.failed` for Responses, a `data:`
    /// error object for Chat Completions) and ends without a terminator. Endpoints without a
    /// stream (count_tokens, OAuth) answer normally.
    ErrorEventAfter200,
    /// Accept the request and never answer (until the mock shuts down).
    Hang,
}

impl Fault {
    /// A status fault with a body and no extra headers.
    pub fn status(status: u16, body: impl Into<String>) -> Self {
        Self::Status {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// 429 `rate_limit_error` with `anthropic-ratelimit-unified-reset: <reset_epoch_secs>`,
    /// `anthropic-ratelimit-unified-status: rejected` and `retry-after` (seconds until the reset,
    /// at least 1).
    pub fn rate_limited(reset_epoch_secs: u64) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let retry_after = reset_epoch_secs.saturating_sub(now).max(1);
        Self::Status {
            status: 429,
            headers: vec![
                (
                    "anthropic-ratelimit-unified-reset".to_owned(),
                    reset_epoch_secs.to_string(),
                ),
                (
                    "anthropic-ratelimit-unified-status".to_owned(),
                    "rejected".to_owned(),
                ),
                ("retry-after".to_owned(), retry_after.to_string()),
            ],
            body: anthropic_error_json(
                "rate_limit_error",
                "This request would exceed your account's rate limit. Please try again later.",
            ),
        }
    }

    /// 529 `overloaded_error`.
    pub fn overloaded() -> Self {
        Self::status(529, anthropic_error_json("overloaded_error", "Overloaded"))
    }

    /// 500 `api_error`.
    pub fn server_error() -> Self {
        Self::status(
            500,
            anthropic_error_json("api_error", "Internal server error"),
        )
    }

    /// 401 `authentication_error`.
    pub fn unauthorized() -> Self {
        Self::status(
            401,
            anthropic_error_json("authentication_error", "invalid x-api-key"),
        )
    }

    /// 403 `permission_error` "OAuth authentication is currently not allowed for this
    /// organization." (an account to treat as banned).
    pub fn org_disabled() -> Self {
        Self::status(
            403,
            anthropic_error_json(
                "permission_error",
                "OAuth authentication is currently not allowed for this organization.",
            ),
        )
    }

    /// 400 `invalid_grant`, the OAuth token endpoint's answer to a dead refresh token.
    pub fn invalid_grant() -> Self {
        Self::status(
            400,
            r#"{"error":"invalid_grant","error_description":"Refresh token not found or invalid"}"#,
        )
    }
}
