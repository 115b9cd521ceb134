//! Cross-dialect conversion: a client speaking one dialect served by an upstream speaking
//! another (issue 18, ADR 0010).
//!
//! Everything goes through a neutral form ([`ir`]): a client body is read into it, the target
//! body written from it; an upstream answer is read into it and the client's answer written
//! from it. Four readers and four writers per direction instead of twelve pairwise converters,
//! and one place ([`fidelity`]) that decides what happens to a field the other side cannot
//! carry: refused with a [`ConvertError`] naming it, or — when the caller allows loss — left
//! out and listed in the result.
//!
//! What the relay calls, by phase:
//! - **forward**: [`convert_request`] → the upstream body (or a 400 in the client's dialect);
//! - **respond**, whole bodies: [`convert_response`] and, for errors, [`convert_error`];
//! - **count_tokens**: [`convert_count_tokens`] and [`convert_count_tokens_response`];
//! - **respond**, streams: a [`StreamConverter`] fed the upstream's bytes or decoded events,
//!   writing the client's events as they come; [`StreamConverter::fail`] ends it with the
//!   client's own error signal when the relay breaks the stream off.
//!
//! Usage is always taken from the upstream's own report, with the same readers the relay uses
//! for native traffic ([`crate::usage`]), so cost follows what the upstream billed.

mod count_tokens;
mod errors;
mod fidelity;
pub mod ir;
mod json;
mod reasoning;
mod request;
mod response;
mod schema;
pub mod signature;
mod stream;
mod usage_map;

#[cfg(test)]
mod tests;

pub use count_tokens::{convert_count_tokens, convert_count_tokens_response};
pub use errors::{ConvertedError, ErrorClass, convert_error};
pub use fidelity::{ConvertError, Dropped};
pub use response::{ConvertedResponse, ResponseOptions, convert_response};
pub use stream::{StreamConverter, StreamOptions};

use serde_json::Value;
use switchyard_core::Dialect;

use fidelity::Fidelity;

/// What the caller knows about a request beyond its body.
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// Leave out what the target cannot carry (listed in [`ConvertedRequest::dropped`])
    /// instead of refusing the request. Set from the key's policy or a setting.
    pub lossy: bool,
    /// The model to ask the target for (after the relay's model mapping); for a Gemini client,
    /// also the model its URL named. `None` keeps the body's own.
    pub model: Option<String>,
    /// Whether to stream, when the client says so outside the body (Gemini's
    /// `streamGenerateContent`). `None` keeps the body's own `stream`.
    pub stream: Option<bool>,
}

/// An upstream request body, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertedRequest {
    pub body: Vec<u8>,
    /// The model asked for. Gemini bodies do not name it: the relay puts it in the URL.
    pub model: Option<String>,
    /// Whether the upstream was asked to stream (Gemini: use `streamGenerateContent?alt=sse`).
    pub stream: bool,
    /// Fields left out or changed, for the usage record (empty when nothing was).
    pub dropped: Vec<Dropped>,
    /// Free-form tools of a Responses client: pass them to [`ResponseOptions`] and
    /// [`StreamOptions`] so calls to them are shown as `custom_tool_call`s.
    pub freeform_tools: Vec<String>,
}

/// Converts a `client`-dialect request body into a `target`-dialect one.
///
/// Errors name the offending field; answer them with [`ConvertError::status`] and
/// [`ConvertError::body`] in the client's dialect. A `client == target` call is allowed (it
/// round-trips through the neutral form) but the relay should pass native bodies through.
pub fn convert_request(
    client: Dialect,
    target: Dialect,
    body: &[u8],
    options: &RequestOptions,
) -> Result<ConvertedRequest, ConvertError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ConvertError::invalid("", format!("the body is not JSON: {e}")))?;
    let mut fx = Fidelity::new(options.lossy, target);
    let mut req = match client {
        Dialect::Anthropic => request::anthropic::read(&value, &mut fx)?,
        Dialect::OpenaiChat => request::chat::read(&value, &mut fx)?,
        Dialect::OpenaiResponses => request::responses::read(&value, &mut fx)?,
        Dialect::Gemini => request::gemini::read(&value, options.model.as_deref(), &mut fx)?,
    };
    if let Some(model) = &options.model {
        req.model = Some(model.clone());
    }
    if let Some(stream) = options.stream {
        req.stream = stream;
    }
    let read = fx.dropped.len();
    let written = match target {
        Dialect::Anthropic => request::anthropic::write(&req, &mut fx),
        Dialect::OpenaiChat => request::chat::write(&req, &mut fx),
        Dialect::OpenaiResponses => request::responses::write(&req, &mut fx),
        Dialect::Gemini => request::gemini::write(&req, &mut fx),
    };
    let mut dropped = fx.dropped;
    for d in &mut dropped[read..] {
        d.field = client_field(client, &d.field);
    }
    let out = written.map_err(|mut e| {
        if let ConvertError::Unsupported { field, .. }
        | ConvertError::Invalid { field, .. }
        | ConvertError::NeedsFetch { field, .. } = &mut e
        {
            *field = client_field(client, field);
        }
        e
    })?;
    Ok(ConvertedRequest {
        body: out.to_string().into_bytes(),
        model: req.model,
        stream: req.stream,
        dropped,
        freeform_tools: req.freeform_tools,
    })
}

/// Writers name fields by their neutral names; a refusal must name the field as the client
/// wrote it. Turn paths (`messages[i]…`) count the conversation's turns after the system prompt.
fn client_field(client: Dialect, neutral: &str) -> String {
    let (head, rest) = match neutral.find(['.', '[']) {
        Some(i) => neutral.split_at(i),
        None => (neutral, ""),
    };
    let named = match (client, head) {
        (Dialect::Anthropic, "stop") => "stop_sequences",
        (Dialect::Anthropic, "response_format") => "output_config.format",
        (Dialect::Anthropic, "reasoning") => "thinking",
        (Dialect::Anthropic, "parallel_tool_calls") => "tool_choice.disable_parallel_tool_use",
        (Dialect::Anthropic, "user") => "metadata.user_id",
        (Dialect::OpenaiChat, "reasoning") => "reasoning_effort",
        (Dialect::OpenaiResponses, "response_format") => "text.format",
        (Dialect::OpenaiResponses, "messages") => "input",
        (Dialect::Gemini, "stop") => "generationConfig.stopSequences",
        (Dialect::Gemini, "top_k") => "generationConfig.topK",
        (Dialect::Gemini, "temperature") => "generationConfig.temperature",
        (Dialect::Gemini, "response_format") => "generationConfig.responseMimeType",
        (Dialect::Gemini, "reasoning") => "generationConfig.thinkingConfig",
        (Dialect::Gemini, "messages") => "contents",
        (Dialect::Gemini, "parallel_tool_calls") => "tools",
        (Dialect::Gemini, "user") => "labels",
        _ => head,
    };
    let rest = match client {
        Dialect::Gemini => rest.replace(".content[", ".parts["),
        _ => rest.to_owned(),
    };
    format!("{named}{rest}")
}
