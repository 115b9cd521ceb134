//! OpenAI Responses streams for clients: `response.created`, each output item added, filled by
//! deltas and done, then one terminal event (`response.completed`, or `response.incomplete`
//! when the answer was cut by the token limit or a filter) carrying every item and the usage.
//!
//! The finished items are kept for the terminal event, as OpenAI's own stream repeats them
//! there; the deltas still go out as they come.

use serde_json::{Value, json};
use switchyard_core::TokenUsage;

use super::super::event::{Block, Encoder, Meta, sse};
use crate::convert::ir::StopReason;
use crate::convert::response::responses::{
    freeform_input, incomplete_details, message_item, reasoning_item, status,
};
use crate::convert::signature::Signature;
use crate::convert::usage_map;

#[derive(Debug, Default)]
pub(crate) struct ResponsesEncoder {
    /// Free-form tools: their calls are `custom_tool_call` items, whose raw input is only
    /// known once the function-style arguments are complete.
    freeform: Vec<String>,
    sequence: u64,
    /// Finished output items, for the terminal event.
    items: Vec<Value>,
    open: Option<Open>,
}

#[derive(Debug)]
struct Open {
    block: Block,
    id: String,
    text: String,
    /// Reasoning: whether a summary part was announced.
    summary_open: bool,
    signature: Option<Signature>,
}

impl ResponsesEncoder {
    pub(crate) fn new(freeform: Vec<String>) -> ResponsesEncoder {
        ResponsesEncoder {
            freeform,
            ..ResponsesEncoder::default()
        }
    }

    fn emit(&mut self, out: &mut Vec<u8>, kind: &str, mut data: Value) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        sse(out, Some(kind), &data);
    }

    fn output_index(&self) -> usize {
        self.items.len()
    }

    fn response(
        meta: &Meta,
        status: &str,
        output: Vec<Value>,
        usage: Option<&TokenUsage>,
    ) -> Value {
        json!({
            "id": meta.id,
            "object": "response",
            "created_at": meta.created,
            "status": status,
            "model": meta.model,
            "output": output,
            "usage": usage.map(usage_map::responses),
        })
    }
}

impl Encoder for ResponsesEncoder {
    fn start(&mut self, meta: &Meta, out: &mut Vec<u8>) {
        let r = Self::response(meta, "in_progress", Vec::new(), None);
        self.emit(out, "response.created", json!({"response": r.clone()}));
        self.emit(out, "response.in_progress", json!({"response": r}));
    }

    fn block_start(&mut self, _: &Meta, block: &Block, out: &mut Vec<u8>) {
        let index = self.output_index();
        let (id, item) = match block {
            Block::Text => {
                let id = format!("msg_{index}");
                let item = json!({"id": id, "type": "message", "status": "in_progress", "role": "assistant", "content": []});
                (id, item)
            }
            Block::Thinking => {
                let id = format!("rs_{index}");
                (
                    id.clone(),
                    json!({"id": id, "type": "reasoning", "summary": []}),
                )
            }
            Block::Tool { id: call_id, name } if self.freeform.contains(name) => {
                let id = format!("ctc_{index}");
                let item = json!({"id": id, "type": "custom_tool_call", "status": "in_progress",
                    "call_id": call_id, "name": name, "input": ""});
                (id, item)
            }
            Block::Tool { id: call_id, name } => {
                let id = format!("fc_{index}");
                let item = json!({"id": id, "type": "function_call", "status": "in_progress",
                    "call_id": call_id, "name": name, "arguments": ""});
                (id, item)
            }
        };
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": index, "item": item}),
        );
        if *block == Block::Text {
            self.emit(out, "response.content_part.added", json!({"item_id": id, "output_index": index,
                "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}));
        }
        self.open = Some(Open {
            block: block.clone(),
            id,
            text: String::new(),
            summary_open: false,
            signature: None,
        });
    }

    fn text(&mut self, _: &Meta, text: &str, out: &mut Vec<u8>) {
        let index = self.output_index();
        let Some(open) = &mut self.open else { return };
        open.text.push_str(text);
        let id = open.id.clone();
        self.emit(
            out,
            "response.output_text.delta",
            json!({"item_id": id, "output_index": index,
            "content_index": 0, "delta": text, "logprobs": []}),
        );
    }

    fn thinking(&mut self, _: &Meta, text: &str, out: &mut Vec<u8>) {
        let index = self.output_index();
        let Some(open) = &mut self.open else { return };
        open.text.push_str(text);
        let id = open.id.clone();
        if !std::mem::replace(&mut open.summary_open, true) {
            self.emit(out, "response.reasoning_summary_part.added", json!({"item_id": id,
                "output_index": index, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}));
        }
        self.emit(
            out,
            "response.reasoning_summary_text.delta",
            json!({"item_id": id,
            "output_index": index, "summary_index": 0, "delta": text}),
        );
    }

    fn signature(&mut self, _: &Meta, sig: &Signature, _: &mut Vec<u8>) {
        if let Some(open) = &mut self.open {
            open.signature = Some(sig.clone());
        }
    }

    fn args(&mut self, _: &Meta, json: &str, out: &mut Vec<u8>) {
        let index = self.output_index();
        let Some(open) = &mut self.open else { return };
        open.text.push_str(json);
        if open.id.starts_with("ctc_") {
            return;
        }
        let id = open.id.clone();
        self.emit(
            out,
            "response.function_call_arguments.delta",
            json!({"item_id": id,
            "output_index": index, "delta": json}),
        );
    }

    fn redacted(&mut self, _: &Meta, sig: &Signature, out: &mut Vec<u8>) {
        let index = self.output_index();
        let item = reasoning_item(&format!("rs_{index}"), "", Some(sig));
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": index, "item": item}),
        );
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
        self.items.push(item);
    }

    fn block_stop(&mut self, _: &Meta, out: &mut Vec<u8>) {
        let index = self.output_index();
        let Some(open) = self.open.take() else { return };
        let id = open.id;
        let item = match open.block {
            Block::Text => {
                let part = json!({"type": "output_text", "text": open.text, "annotations": []});
                self.emit(
                    out,
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": index,
                    "content_index": 0, "text": open.text}),
                );
                self.emit(
                    out,
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": index,
                    "content_index": 0, "part": part}),
                );
                message_item(&id, vec![part])
            }
            Block::Thinking => {
                if open.summary_open {
                    self.emit(
                        out,
                        "response.reasoning_summary_text.done",
                        json!({"item_id": id,
                        "output_index": index, "summary_index": 0, "text": open.text}),
                    );
                    self.emit(
                        out,
                        "response.reasoning_summary_part.done",
                        json!({"item_id": id,
                        "output_index": index, "summary_index": 0,
                        "part": {"type": "summary_text", "text": open.text}}),
                    );
                }
                let mut item = reasoning_item(&id, &open.text, open.signature.as_ref());
                // The id was announced when the item was added; it must not change now.
                item["id"] = json!(id);
                item
            }
            Block::Tool { id: call_id, name } if id.starts_with("ctc_") => {
                let arguments: Value = serde_json::from_str(&open.text).unwrap_or(Value::Null);
                let input = freeform_input(&arguments);
                self.emit(
                    out,
                    "response.custom_tool_call_input.delta",
                    json!({"item_id": id,
                    "output_index": index, "delta": input}),
                );
                self.emit(
                    out,
                    "response.custom_tool_call_input.done",
                    json!({"item_id": id,
                    "output_index": index, "input": input}),
                );
                json!({"id": id, "type": "custom_tool_call", "status": "completed", "call_id": call_id,
                    "name": name, "input": input})
            }
            Block::Tool { id: call_id, name } => {
                self.emit(
                    out,
                    "response.function_call_arguments.done",
                    json!({"item_id": id,
                    "output_index": index, "arguments": open.text}),
                );
                json!({"id": id, "type": "function_call", "status": "completed", "call_id": call_id,
                    "name": name, "arguments": open.text})
            }
        };
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
        self.items.push(item);
    }

    fn finish(
        &mut self,
        meta: &Meta,
        stop: StopReason,
        _: Option<&str>,
        usage: &TokenUsage,
        out: &mut Vec<u8>,
    ) {
        let status = status(stop);
        let mut r = Self::response(meta, status, std::mem::take(&mut self.items), Some(usage));
        let kind = match incomplete_details(stop) {
            Some(reason) => {
                r["incomplete_details"] = json!({"reason": reason});
                "response.incomplete"
            }
            None => "response.completed",
        };
        self.emit(out, kind, json!({"response": r}));
    }

    fn sequence(&self) -> u64 {
        self.sequence
    }
}
