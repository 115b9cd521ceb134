//! Client streams written from neutral events, one encoder per client dialect.

mod anthropic;
mod chat;
mod gemini;
mod responses;

use switchyard_core::Dialect;

use super::event::Encoder;

/// The encoder for a client of `client`'s dialect.
pub(crate) fn for_client(client: Dialect, options: &super::StreamOptions) -> Box<dyn Encoder> {
    match client {
        Dialect::Anthropic => Box::new(anthropic::AnthropicEncoder::default()),
        Dialect::OpenaiChat => Box::new(chat::ChatEncoder::new(options.chat_include_usage)),
        Dialect::OpenaiResponses => Box::new(responses::ResponsesEncoder::new(
            options.freeform_tools.clone(),
        )),
        Dialect::Gemini => Box::new(gemini::GeminiEncoder::new(options.gemini_code_assist)),
    }
}
