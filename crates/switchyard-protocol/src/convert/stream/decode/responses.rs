//! OpenAI Responses streams as neutral events.

use serde_json::Value;

use super::super::event::Event;
use super::{opt, s, stream_error};
use crate::convert::ir::StopReason;
use crate::convert::response::incomplete_reason;
use crate::convert::signature::{Origin, Signature};
use crate::sse::SseEvent;

#[derive(Debug, Default)]
pub(crate) struct ResponsesDecoder {
    saw_call: bool,
    /// Whether the open function call streamed any argument bytes.
    args_streamed: bool,
}

impl ResponsesDecoder {
    pub(super) fn decode(&mut self, ev: &SseEvent<'_>, out: &mut Vec<Event>) {
        let Ok(v) = serde_json::from_str::<Value>(ev.data) else {
            return;
        };
        let kind = match ev.event {
            "message" => s(&v, "type"),
            e => e,
        };
        match kind {
            "response.created" | "response.in_progress" => {
                let r = v.get("response").unwrap_or(&Value::Null);
                out.push(Event::Meta {
                    id: opt(r, "id"),
                    model: opt(r, "model"),
                });
            }
            "response.output_item.added" => {
                let item = v.get("item").unwrap_or(&Value::Null);
                if s(item, "type") == "function_call" {
                    self.saw_call = true;
                    self.args_streamed = false;
                    out.push(Event::ToolStart {
                        id: s(item, "call_id").to_owned(),
                        name: s(item, "name").to_owned(),
                    });
                    if let Some(args) = opt(item, "arguments") {
                        self.args_streamed = true;
                        out.push(Event::Args(args));
                    }
                }
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                out.push(Event::Text(s(&v, "delta").to_owned()));
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                out.push(Event::Thinking(s(&v, "delta").to_owned()));
            }
            "response.reasoning_summary_part.added"
                if v.get("summary_index").and_then(Value::as_u64).unwrap_or(0) > 0 =>
            {
                out.push(Event::Thinking("\n\n".to_owned()));
            }
            "response.function_call_arguments.delta" => {
                self.args_streamed = true;
                out.push(Event::Args(s(&v, "delta").to_owned()));
            }
            "response.output_item.done" => {
                let item = v.get("item").unwrap_or(&Value::Null);
                match s(item, "type") {
                    "reasoning" => {
                        if let Some(enc) = opt(item, "encrypted_content") {
                            out.push(Event::Signature(Signature {
                                origin: Origin::Responses,
                                value: enc,
                                item_id: opt(item, "id"),
                            }));
                        }
                    }
                    "function_call" if !self.args_streamed => {
                        if let Some(args) = opt(item, "arguments") {
                            out.push(Event::Args(args));
                        }
                    }
                    _ => {}
                }
                out.push(Event::BlockEnd);
            }
            "response.completed" => {
                out.push(Event::Stop {
                    reason: if self.saw_call {
                        StopReason::ToolUse
                    } else {
                        StopReason::EndTurn
                    },
                    sequence: None,
                });
                out.push(Event::Done);
            }
            "response.incomplete" => {
                let r = v.get("response").unwrap_or(&Value::Null);
                out.push(Event::Stop {
                    reason: incomplete_reason(r),
                    sequence: None,
                });
                out.push(Event::Done);
            }
            "response.failed" => {
                let e = v.pointer("/response/error").unwrap_or(&Value::Null);
                out.push(stream_error("", s(e, "code"), s(e, "message")));
            }
            "error" => {
                let e = v.get("error").filter(|e| e.is_object()).unwrap_or(&v);
                out.push(stream_error(s(e, "type"), s(e, "code"), s(e, "message")));
            }
            _ => {}
        }
    }
}
