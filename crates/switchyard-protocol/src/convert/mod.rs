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
//! - **respond**, streams: a [`StreamConverter`] fed the upstream's bytes or decoded events,
//!   writing the client's events as they come; [`StreamConverter::fail`] ends it with the
//!   client's own error signal when the relay breaks the stream off.
//!
//! Usage is always taken from the upstream's own report, with the same readers the relay uses
//! for native traffic ([`crate::usage`]), so cost follows what the upstream billed.

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

//#[cfg(test)]
//mod tests;

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
    let out = match target {
        Dialect::Anthropic => request::anthropic::write(&req, &mut fx)?,
        Dialect::OpenaiChat => request::chat::write(&req, &mut fx)?,
        Dialect::OpenaiResponses => request::responses::write(&req, &mut fx)?,
        Dialect::Gemini => request::gemini::write(&req, &mut fx)?,
    };
    Ok(ConvertedRequest {
        body: out.to_string().into_bytes(),
        model: req.model,
        stream: req.stream,
        dropped: fx.dropped,
    })
}
