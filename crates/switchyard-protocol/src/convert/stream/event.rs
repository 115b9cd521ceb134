//! The neutral stream: what every upstream stream is read into and every client stream is
//! written from.
//!
//! Decoders may be loose about block boundaries (Chat and Gemini have none); the driver in
//! [`super`] makes the sequence well formed before an encoder sees it: at most one block open,
//! every opened block closed, the finale written once.

use switchyard_core::TokenUsage;

use super::super::errors::ErrorClass;
use super::super::ir::StopReason;
use super::super::signature::Signature;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// What the upstream says about the response (either may be absent or arrive late).
    Meta {
        id: Option<String>,
        model: Option<String>,
    },
    Text(String),
    Thinking(String),
    /// A proof for the reasoning just shown (or, outside a thinking block, for the part that
    /// follows).
    Signature(Signature),
    ToolStart {
        id: String,
        name: String,
    },
    /// A piece of the open tool call's JSON arguments.
    Args(String),
    /// Reasoning shown only in encrypted form; a block of its own.
    Redacted(Signature),
    /// The open block is complete.
    BlockEnd,
    Stop {
        reason: StopReason,
        sequence: Option<String>,
    },
    /// The upstream's normal end of stream.
    Done,
    /// The upstream reported an error inside the stream.
    Error {
        class: ErrorClass,
        message: String,
    },
}

/// The block a client stream has open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Block {
    Text,
    Thinking,
    Tool { id: String, name: String },
}

/// What an encoder knows about the response as a whole.
#[derive(Debug, Clone, Default)]
pub(crate) struct Meta {
    pub id: String,
    pub model: String,
    pub created: u64,
}

/// Writes the client's side of a converted stream. Calls arrive well formed (see the module
/// documentation); every method appends whole events to `out`.
pub(crate) trait Encoder: Send {
    fn start(&mut self, meta: &Meta, out: &mut Vec<u8>);
    fn block_start(&mut self, meta: &Meta, block: &Block, out: &mut Vec<u8>);
    fn text(&mut self, meta: &Meta, text: &str, out: &mut Vec<u8>);
    fn thinking(&mut self, meta: &Meta, text: &str, out: &mut Vec<u8>);
    /// Inside a thinking block.
    fn signature(&mut self, meta: &Meta, sig: &Signature, out: &mut Vec<u8>);
    fn args(&mut self, meta: &Meta, json: &str, out: &mut Vec<u8>);
    /// A whole redacted-reasoning block, outside any other block.
    fn redacted(&mut self, meta: &Meta, sig: &Signature, out: &mut Vec<u8>);
    fn block_stop(&mut self, meta: &Meta, out: &mut Vec<u8>);
    fn finish(
        &mut self,
        meta: &Meta,
        stop: StopReason,
        sequence: Option<&str>,
        usage: &TokenUsage,
        out: &mut Vec<u8>,
    );
    /// The sequence number the next event would carry (Responses), for error events.
    fn sequence(&self) -> u64 {
        0
    }
}

/// Appends one SSE event.
pub(crate) fn sse(out: &mut Vec<u8>, event: Option<&str>, data: &serde_json::Value) {
    if let Some(e) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(e.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}
