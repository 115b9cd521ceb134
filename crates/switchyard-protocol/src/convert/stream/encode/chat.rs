//! Chat Completions streams for clients: `chat.completion.chunk`s, the finish reason, then one
//! usage chunk (when the client asked for it) and `[DONE]`.
//!
//! Reasoning is shown as `reasoning_content` deltas, the field OpenAI-compatible servers use;
//! Chat has no field for reasoning proofs, so they are left out.

use serde_json::{Value, json};
use switchyard_core::TokenUsage;

use super::super::event::{Block, Encoder, Meta, sse};
use crate::convert::ir::StopReason;
use crate::convert::response::chat_finish;
use crate::convert::signature::Signature;
use crate::convert::usage_map;

#[derive(Debug)]
pub(crate) struct ChatEncoder {
    include_usage: bool,
    /// Index of the open tool call among this answer's calls.
    tool: Option<usize>,
    tools: usize,
}

impl ChatEncoder {
    pub(crate) fn new(include_usage: bool) -> ChatEncoder {
        ChatEncoder {
            include_usage,
            tool: None,
            tools: 0,
        }
    }

    fn chunk(meta: &Meta, delta: Value, finish: Option<&str>, out: &mut Vec<u8>) {
        sse(
            out,
            None,
            &json!({
                "id": meta.id,
                "object": "chat.completion.chunk",
                "created": meta.created,
                "model": meta.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }),
        );
    }
}

impl Encoder for ChatEncoder {
    fn start(&mut self, meta: &Meta, out: &mut Vec<u8>) {
        Self::chunk(meta, json!({"role": "assistant", "content": ""}), None, out);
    }

    fn block_start(&mut self, meta: &Meta, block: &Block, out: &mut Vec<u8>) {
        if let Block::Tool { id, name } = block {
            let index = self.tools;
            self.tools += 1;
            self.tool = Some(index);
            Self::chunk(
                meta,
                json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                None,
                out,
            );
        }
    }

    fn text(&mut self, meta: &Meta, text: &str, out: &mut Vec<u8>) {
        Self::chunk(meta, json!({"content": text}), None, out);
    }

    fn thinking(&mut self, meta: &Meta, text: &str, out: &mut Vec<u8>) {
        Self::chunk(meta, json!({"reasoning_content": text}), None, out);
    }

    fn signature(&mut self, _: &Meta, _: &Signature, _: &mut Vec<u8>) {}

    fn args(&mut self, meta: &Meta, json: &str, out: &mut Vec<u8>) {
        if let Some(index) = self.tool {
            Self::chunk(
                meta,
                json!({"tool_calls": [{"index": index, "function": {"arguments": json}}]}),
                None,
                out,
            );
        }
    }

    fn redacted(&mut self, _: &Meta, _: &Signature, _: &mut Vec<u8>) {}

    fn block_stop(&mut self, _: &Meta, _: &mut Vec<u8>) {
        self.tool = None;
    }

    fn finish(
        &mut self,
        meta: &Meta,
        stop: StopReason,
        _: Option<&str>,
        usage: &TokenUsage,
        out: &mut Vec<u8>,
    ) {
        Self::chunk(meta, json!({}), Some(chat_finish(stop)), out);
        if self.include_usage {
            sse(
                out,
                None,
                &json!({
                    "id": meta.id,
                    "object": "chat.completion.chunk",
                    "created": meta.created,
                    "model": meta.model,
                    "choices": [],
                    "usage": usage_map::chat(usage),
                }),
            );
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
}
