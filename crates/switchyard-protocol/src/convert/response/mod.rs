//! Whole (non-streaming) answers: the upstream's body read into the neutral
//! [`Response`](super::ir::Response), the client's body written from it.

mod anthropic;
mod chat;
pub(crate) mod gemini;
pub(crate) mod responses;

pub(crate) use responses::incomplete_reason;

use serde_json::Value;
use switchyard_core::{Dialect, TokenUsage};

use super::fidelity::ConvertError;
use super::ir::StopReason;

/// What the client's body needs beyond the upstream's answer.
#[derive(Debug, Clone, Default)]
pub struct ResponseOptions {
    /// Unix seconds for Chat's `created` and Responses' `created_at` (the caller's clock, so
    /// this crate stays free of I/O and tests stay exact).
    pub created: u64,
    /// The model name to show the client; `None` shows the upstream's.
    pub model: Option<String>,
    /// [`ConvertedRequest::freeform_tools`](crate::convert::ConvertedRequest::freeform_tools).
    pub freeform_tools: Vec<String>,
    /// Gemini clients of Code Assist (`v1internal`): the body wrapped as `{"response": …}`.
    pub gemini_code_assist: bool,
}

/// The client's body and what the relay records.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertedResponse {
    pub body: Vec<u8>,
    /// What the upstream billed, read as the native usage taps read it.
    pub usage: Option<TokenUsage>,
    /// The model the upstream reports.
    pub model: Option<String>,
    /// The upstream's response id.
    pub response_id: Option<String>,
}

/// Converts a successful `upstream`-dialect body into the `client`'s dialect.
pub fn convert_response(
    upstream: Dialect,
    client: Dialect,
    body: &[u8],
    options: &ResponseOptions,
) -> Result<ConvertedResponse, ConvertError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ConvertError::Upstream {
        why: format!("not JSON: {e}"),
    })?;
    let mut response = match upstream {
        Dialect::Anthropic => anthropic::read(&value)?,
        Dialect::OpenaiChat => chat::read(&value)?,
        Dialect::OpenaiResponses => responses::read(&value)?,
        Dialect::Gemini => gemini::read(&value)?,
    };
    response.usage = super::usage_map::read(upstream, body);
    let upstream_model = response.model.clone();
    if let Some(m) = &options.model {
        response.model = Some(m.clone());
    }
    let out = match client {
        Dialect::Anthropic => anthropic::write(&response),
        Dialect::OpenaiChat => chat::write(&response, options.created),
        Dialect::OpenaiResponses => {
            responses::write(&response, options.created, &options.freeform_tools)
        }
        Dialect::Gemini if options.gemini_code_assist => {
            serde_json::json!({ "response": gemini::write(&response) })
        }
        Dialect::Gemini => gemini::write(&response),
    };
    Ok(ConvertedResponse {
        body: out.to_string().into_bytes(),
        usage: response.usage,
        model: upstream_model,
        response_id: response.id,
    })
}

/// Anthropic's `stop_reason` words, which the other dialects' readers map onto.
pub(crate) fn anthropic_stop(stop: StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::ContentFilter => "refusal",
        StopReason::Pause => "pause_turn",
    }
}

pub(crate) fn chat_finish(stop: StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn | StopReason::StopSequence | StopReason::Pause => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFilter => "content_filter",
    }
}

pub(crate) fn gemini_finish(stop: StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn
        | StopReason::StopSequence
        | StopReason::Pause
        | StopReason::ToolUse => "STOP",
        StopReason::MaxTokens => "MAX_TOKENS",
        StopReason::ContentFilter => "SAFETY",
    }
}

/// Reads Chat's `finish_reason`.
pub(crate) fn from_chat_finish(word: &str) -> StopReason {
    match word {
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::ContentFilter,
        _ => StopReason::EndTurn,
    }
}

/// Reads Anthropic's `stop_reason`.
pub(crate) fn from_anthropic_stop(word: &str) -> StopReason {
    match word {
        "max_tokens" | "model_context_window_exceeded" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "tool_use" => StopReason::ToolUse,
        "refusal" => StopReason::ContentFilter,
        "pause_turn" => StopReason::Pause,
        _ => StopReason::EndTurn,
    }
}

/// Reads Gemini's `finishReason`; `saw_call` because Gemini says `STOP` after a function call.
pub(crate) fn from_gemini_finish(word: &str, saw_call: bool) -> StopReason {
    match word {
        "MAX_TOKENS" => StopReason::MaxTokens,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            StopReason::ContentFilter
        }
        _ if saw_call => StopReason::ToolUse,
        _ => StopReason::EndTurn,
    }
}
