//! Anthropic Messages answers: read from an upstream body, written for a client.

use serde_json::{Value, json};
use switchyard_core::Dialect;

use super::super::fidelity::ConvertError;
use super::super::ir::{Part, Response, ToolCall};
use super::super::signature::{Origin, Signature};
use super::super::usage_map;
use super::{anthropic_stop, from_anthropic_stop};
use crate::convert::request::anthropic_tool_id;

pub(super) fn read(v: &Value) -> Result<Response, ConvertError> {
    let blocks =
        v.get("content")
            .and_then(Value::as_array)
            .ok_or_else(|| ConvertError::Upstream {
                why: "an Anthropic message without content".into(),
            })?;
    let mut parts = Vec::new();
    for b in blocks {
        let text = |k: &str| {
            b.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        match b.get("type").and_then(Value::as_str) {
            Some("text") => parts.push(Part::Text(text("text"))),
            Some("thinking") => parts.push(Part::Thinking {
                text: text("thinking"),
                signature: Some(Signature::new(Origin::Anthropic, text("signature")))
                    .filter(|s| !s.value.is_empty()),
            }),
            Some("redacted_thinking") => {
                parts.push(Part::RedactedThinking(Signature::new(
                    Origin::Anthropic,
                    text("data"),
                )));
            }
            Some("tool_use") => parts.push(Part::ToolCall(ToolCall {
                id: text("id"),
                name: text("name"),
                arguments: b.get("input").cloned().unwrap_or_else(|| json!({})),
            })),
            // Server tool blocks and anything newer: nothing another dialect can show.
            _ => {}
        }
    }
    Ok(Response {
        id: v.get("id").and_then(Value::as_str).map(str::to_owned),
        model: v.get("model").and_then(Value::as_str).map(str::to_owned),
        parts,
        stop: v
            .get("stop_reason")
            .and_then(Value::as_str)
            .map(from_anthropic_stop)
            .unwrap_or_default(),
        stop_sequence: v
            .get("stop_sequence")
            .and_then(Value::as_str)
            .map(str::to_owned),
        usage: None,
    })
}

pub(super) fn write(r: &Response) -> Value {
    let content: Vec<Value> = r.parts.iter().filter_map(block).collect();
    json!({
        "id": r.id.clone().unwrap_or_else(|| "msg_switchyard".into()),
        "type": "message",
        "role": "assistant",
        "model": r.model,
        "content": content,
        "stop_reason": anthropic_stop(r.stop),
        "stop_sequence": r.stop_sequence,
        "usage": usage_map::anthropic(&r.usage.unwrap_or_default()),
    })
}

/// One content block for an Anthropic client.
pub(crate) fn block(p: &Part) -> Option<Value> {
    Some(match p {
        Part::Text(t) => json!({"type": "text", "text": t}),
        Part::Thinking { text, signature } => json!({
            "type": "thinking",
            "thinking": text,
            "signature": signature
                .as_ref()
                .and_then(|s| s.for_client(Dialect::Anthropic))
                .unwrap_or_default(),
        }),
        Part::RedactedThinking(sig) => json!({
            "type": "redacted_thinking",
            "data": sig.for_client(Dialect::Anthropic)?,
        }),
        Part::ToolCall(c) => json!({
            "type": "tool_use",
            "id": anthropic_tool_id(&c.id),
            "name": c.name,
            "input": c.arguments,
        }),
        Part::Media(_) | Part::ToolResult(_) => return None,
    })
}
