//! Anthropic Messages streams for clients: `message_start`, numbered content blocks each
//! opened and closed, `message_delta` with the stop reason and the usage, `message_stop`.

use serde_json::json;
use switchyard_core::{Dialect, TokenUsage};

use super::super::event::{Block, Encoder, Meta, sse};
use crate::convert::ir::StopReason;
use crate::convert::request::anthropic_tool_id;
use crate::convert::response::anthropic_stop;
use crate::convert::signature::Signature;
use crate::convert::usage_map;

#[derive(Debug, Default)]
pub(crate) struct AnthropicEncoder {
    /// Index of the next (or open) content block.
    index: usize,
}

impl AnthropicEncoder {
    fn delta(&self, out: &mut Vec<u8>, delta: serde_json::Value) {
        sse(
            out,
            Some("content_block_delta"),
            &json!({"type": "content_block_delta", "index": self.index, "delta": delta}),
        );
    }
}

impl Encoder for AnthropicEncoder {
    fn start(&mut self, meta: &Meta, out: &mut Vec<u8>) {
        let message = json!({
            "id": meta.id,
            "type": "message",
            "role": "assistant",
            "model": meta.model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        });
        sse(
            out,
            Some("message_start"),
            &json!({"type": "message_start", "message": message}),
        );
    }

    fn block_start(&mut self, _: &Meta, block: &Block, out: &mut Vec<u8>) {
        let content = match block {
            Block::Text => json!({"type": "text", "text": ""}),
            Block::Thinking => json!({"type": "thinking", "thinking": "", "signature": ""}),
            Block::Tool { id, name } => {
                json!({"type": "tool_use", "id": anthropic_tool_id(id), "name": name, "input": {}})
            }
        };
        sse(
            out,
            Some("content_block_start"),
            &json!({"type": "content_block_start", "index": self.index, "content_block": content}),
        );
    }

    fn text(&mut self, _: &Meta, text: &str, out: &mut Vec<u8>) {
        self.delta(out, json!({"type": "text_delta", "text": text}));
    }

    fn thinking(&mut self, _: &Meta, text: &str, out: &mut Vec<u8>) {
        self.delta(out, json!({"type": "thinking_delta", "thinking": text}));
    }

    fn signature(&mut self, _: &Meta, sig: &Signature, out: &mut Vec<u8>) {
        if let Some(s) = sig.for_client(Dialect::Anthropic) {
            self.delta(out, json!({"type": "signature_delta", "signature": s}));
        }
    }

    fn args(&mut self, _: &Meta, json: &str, out: &mut Vec<u8>) {
        self.delta(
            out,
            json!({"type": "input_json_delta", "partial_json": json}),
        );
    }

    fn redacted(&mut self, meta: &Meta, sig: &Signature, out: &mut Vec<u8>) {
        let Some(data) = sig.for_client(Dialect::Anthropic) else {
            return;
        };
        sse(
            out,
            Some("content_block_start"),
            &json!({"type": "content_block_start", "index": self.index,
                "content_block": {"type": "redacted_thinking", "data": data}}),
        );
        self.block_stop(meta, out);
    }

    fn block_stop(&mut self, _: &Meta, out: &mut Vec<u8>) {
        sse(
            out,
            Some("content_block_stop"),
            &json!({"type": "content_block_stop", "index": self.index}),
        );
        self.index += 1;
    }

    fn finish(
        &mut self,
        _: &Meta,
        stop: StopReason,
        sequence: Option<&str>,
        usage: &TokenUsage,
        out: &mut Vec<u8>,
    ) {
        sse(
            out,
            Some("message_delta"),
            &json!({
                "type": "message_delta",
                "delta": {"stop_reason": anthropic_stop(stop), "stop_sequence": sequence},
                "usage": usage_map::anthropic(usage),
            }),
        );
        sse(out, Some("message_stop"), &json!({"type": "message_stop"}));
    }
}
