//! Anthropic Messages streams as neutral events.

use serde_json::Value;

use super::super::event::Event;
use super::{opt, s, stream_error};
use crate::convert::response::from_anthropic_stop;
use crate::convert::signature::{Origin, Signature};
use crate::sse::SseEvent;

pub(super) fn decode(ev: &SseEvent<'_>, out: &mut Vec<Event>) {
    let Ok(v) = serde_json::from_str::<Value>(ev.data) else {
        return;
    };
    let kind = match ev.event {
        "message" => s(&v, "type"),
        e => e,
    };
    match kind {
        "message_start" => {
            let m = v.get("message").unwrap_or(&Value::Null);
            out.push(Event::Meta {
                id: opt(m, "id"),
                model: opt(m, "model"),
            });
        }
        "content_block_start" => {
            let b = v.get("content_block").unwrap_or(&Value::Null);
            match s(b, "type") {
                "text" => out.push(Event::Text(s(b, "text").to_owned())),
                "thinking" => out.push(Event::Thinking(s(b, "thinking").to_owned())),
                "redacted_thinking" => out.push(Event::Redacted(Signature::new(
                    Origin::Anthropic,
                    s(b, "data"),
                ))),
                "tool_use" => {
                    out.push(Event::ToolStart {
                        id: s(b, "id").to_owned(),
                        name: s(b, "name").to_owned(),
                    });
                    if let Some(input) = b
                        .get("input")
                        .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
                    {
                        out.push(Event::Args(input.to_string()));
                    }
                }
                // Server tools and blocks from newer API versions have no client-side form.
                _ => {}
            }
        }
        "content_block_delta" => {
            let d = v.get("delta").unwrap_or(&Value::Null);
            match s(d, "type") {
                "text_delta" => out.push(Event::Text(s(d, "text").to_owned())),
                "thinking_delta" => out.push(Event::Thinking(s(d, "thinking").to_owned())),
                "input_json_delta" => out.push(Event::Args(s(d, "partial_json").to_owned())),
                "signature_delta" => out.push(Event::Signature(Signature::new(
                    Origin::Anthropic,
                    s(d, "signature"),
                ))),
                _ => {}
            }
        }
        "content_block_stop" => out.push(Event::BlockEnd),
        "message_delta" => {
            let d = v.get("delta").unwrap_or(&Value::Null);
            if let Some(reason) = d.get("stop_reason").and_then(Value::as_str) {
                out.push(Event::Stop {
                    reason: from_anthropic_stop(reason),
                    sequence: opt(d, "stop_sequence"),
                });
            }
        }
        "message_stop" => out.push(Event::Done),
        "error" => {
            let e = v.get("error").unwrap_or(&v);
            out.push(stream_error(s(e, "type"), "", s(e, "message")));
        }
        _ => {}
    }
}
