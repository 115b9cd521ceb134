//! Chat Completions streams as neutral events.
//!
//! Chat has no block boundaries: a tool call begins with a delta that carries its `id`, and
//! ends when another begins or the choice finishes. OpenAI sends one call's argument deltas
//! before the next call's; a delta for a call that was already closed cannot be placed in an
//! Anthropic or Responses stream any more and is counted in [`ChatDecoder::late`] instead.

use serde_json::Value;

use super::super::event::Event;
use super::{opt, s, stream_error};
use crate::convert::ir::StopReason;
use crate::convert::response::from_chat_finish;
use crate::sse::SseEvent;

#[derive(Debug, Default)]
pub(crate) struct ChatDecoder {
    /// The `index` of the tool call whose deltas are being passed on.
    current: Option<u64>,
    /// Indices of calls seen so far.
    seen: Vec<u64>,
    /// Argument deltas that arrived for a call already closed.
    pub(crate) late: u64,
}

impl ChatDecoder {
    pub(super) fn decode(&mut self, ev: &SseEvent<'_>, out: &mut Vec<Event>) {
        let data = ev.data.trim();
        if data == "[DONE]" {
            out.push(Event::Done);
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            return;
        };
        if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
            let code = e
                .get("code")
                .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_owned));
            out.push(stream_error(
                s(e, "type"),
                code.as_deref().unwrap_or_default(),
                s(e, "message"),
            ));
            return;
        }
        out.push(Event::Meta {
            id: opt(&v, "id"),
            model: opt(&v, "model"),
        });
        let Some(choice) = v.get("choices").and_then(|c| c.get(0)) else {
            return;
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        for key in ["reasoning_content", "reasoning"] {
            if let Some(t) = delta.get(key).and_then(Value::as_str) {
                out.push(Event::Thinking(t.to_owned()));
                break;
            }
        }
        for key in ["content", "refusal"] {
            if let Some(t) = delta.get(key).and_then(Value::as_str) {
                out.push(Event::Text(t.to_owned()));
            }
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
            let f = call.get("function").unwrap_or(&Value::Null);
            if !self.seen.contains(&index) {
                self.seen.push(index);
                self.current = Some(index);
                out.push(Event::ToolStart {
                    id: opt(call, "id").unwrap_or_else(|| format!("call_{index}")),
                    name: s(f, "name").to_owned(),
                });
            }
            if let Some(args) = f.get("arguments").and_then(Value::as_str) {
                if self.current == Some(index) {
                    out.push(Event::Args(args.to_owned()));
                } else if !args.is_empty() {
                    self.late += 1;
                }
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            let reason = if self.seen.is_empty() {
                from_chat_finish(reason)
            } else {
                // Some OpenAI-compatible servers say `stop` after tool calls.
                match from_chat_finish(reason) {
                    StopReason::EndTurn => StopReason::ToolUse,
                    other => other,
                }
            };
            self.current = None;
            out.push(Event::BlockEnd);
            out.push(Event::Stop {
                reason,
                sequence: None,
            });
        }
    }
}
