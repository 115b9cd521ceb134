//! OpenAI Responses answers: read from an upstream body, written for a client.

use serde_json::{Value, json};
use switchyard_core::Dialect;

use super::super::fidelity::ConvertError;
use super::super::ir::{Part, Response, StopReason, ToolCall};
use super::super::json::arguments;
use super::super::signature::{Origin, Signature};
use super::super::usage_map;

pub(super) fn read(v: &Value) -> Result<Response, ConvertError> {
    let output =
        v.get("output")
            .and_then(Value::as_array)
            .ok_or_else(|| ConvertError::Upstream {
                why: "a response without output".into(),
            })?;
    let mut parts = Vec::new();
    let mut saw_call = false;
    for item in output {
        let s = |k: &str| item.get(k).and_then(Value::as_str);
        match s("type") {
            Some("reasoning") => parts.push(Part::Thinking {
                text: summary_text(item),
                signature: s("encrypted_content").map(|e| Signature {
                    origin: Origin::Responses,
                    value: e.to_owned(),
                    item_id: s("id").map(str::to_owned),
                }),
            }),
            Some("message") => {
                for c in item
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let text = c
                        .get("text")
                        .or_else(|| c.get("refusal"))
                        .and_then(Value::as_str);
                    if let Some(t) = text {
                        parts.push(Part::Text(t.to_owned()));
                    }
                }
            }
            Some("function_call") => {
                saw_call = true;
                parts.push(Part::ToolCall(ToolCall {
                    id: s("call_id").unwrap_or_default().to_owned(),
                    name: s("name").unwrap_or_default().to_owned(),
                    arguments: arguments(s("arguments").unwrap_or_default(), "output")
                        .map_err(|e| ConvertError::Upstream { why: e.to_string() })?,
                }));
            }
            _ => {}
        }
    }
    let stop = match v.get("status").and_then(Value::as_str) {
        Some("incomplete") => incomplete_reason(v),
        _ if saw_call => StopReason::ToolUse,
        _ => StopReason::EndTurn,
    };
    Ok(Response {
        id: v.get("id").and_then(Value::as_str).map(str::to_owned),
        model: v.get("model").and_then(Value::as_str).map(str::to_owned),
        parts,
        stop,
        stop_sequence: None,
        usage: None,
    })
}

/// `incomplete_details.reason` of an incomplete response.
pub(crate) fn incomplete_reason(v: &Value) -> StopReason {
    match v
        .pointer("/incomplete_details/reason")
        .and_then(Value::as_str)
    {
        Some("content_filter") => StopReason::ContentFilter,
        _ => StopReason::MaxTokens,
    }
}

fn summary_text(item: &Value) -> String {
    let texts: Vec<&str> = item
        .get("summary")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("text").and_then(Value::as_str))
        .collect();
    texts.join("\n\n")
}

pub(super) fn write(r: &Response, created: u64, freeform: &[String]) -> Value {
    let id = r.id.clone().unwrap_or_else(|| "resp_switchyard".into());
    let mut output = Vec::new();
    let mut texts: Vec<Value> = Vec::new();
    for (i, p) in r.parts.iter().enumerate() {
        if !matches!(p, Part::Text(_)) && !texts.is_empty() {
            output.push(message_item(
                &format!("msg_{i}"),
                std::mem::take(&mut texts),
            ));
        }
        match p {
            Part::Text(t) => {
                texts.push(json!({"type": "output_text", "text": t, "annotations": []}))
            }
            Part::Thinking { text, signature } => {
                output.push(reasoning_item(&format!("rs_{i}"), text, signature.as_ref()));
            }
            Part::RedactedThinking(sig) => {
                output.push(reasoning_item(&format!("rs_{i}"), "", Some(sig)));
            }
            Part::ToolCall(c) if freeform.contains(&c.name) => output.push(json!({
                "id": format!("ctc_{i}"),
                "type": "custom_tool_call",
                "status": "completed",
                "call_id": c.id,
                "name": c.name,
                "input": freeform_input(&c.arguments),
            })),
            Part::ToolCall(c) => output.push(json!({
                "id": format!("fc_{i}"),
                "type": "function_call",
                "status": "completed",
                "call_id": c.id,
                "name": c.name,
                "arguments": c.arguments.to_string(),
            })),
            Part::Media(_) | Part::ToolResult(_) => {}
        }
    }
    if !texts.is_empty() {
        output.push(message_item(&format!("msg_{}", r.parts.len()), texts));
    }
    let mut body = json!({
        "id": id,
        "object": "response",
        "created_at": created,
        "status": status(r.stop),
        "model": r.model,
        "output": output,
        "usage": r.usage.as_ref().map(usage_map::responses),
    });
    if let Some(reason) = incomplete_details(r.stop) {
        body["incomplete_details"] = json!({"reason": reason});
    }
    body
}

/// The raw input of a free-form call made through its one-string function.
pub(crate) fn freeform_input(arguments: &Value) -> String {
    match arguments.get("input") {
        Some(Value::String(s)) => s.clone(),
        _ => arguments.to_string(),
    }
}

pub(crate) fn status(stop: StopReason) -> &'static str {
    match incomplete_details(stop) {
        Some(_) => "incomplete",
        None => "completed",
    }
}

pub(crate) fn incomplete_details(stop: StopReason) -> Option<&'static str> {
    match stop {
        StopReason::MaxTokens => Some("max_output_tokens"),
        StopReason::ContentFilter => Some("content_filter"),
        _ => None,
    }
}

pub(crate) fn message_item(id: &str, content: Vec<Value>) -> Value {
    json!({"id": id, "type": "message", "status": "completed", "role": "assistant", "content": content})
}

/// A reasoning item for a Responses client; a proof from elsewhere travels tagged in
/// `encrypted_content` and the item keeps its Responses id when it has one.
pub(crate) fn reasoning_item(fallback_id: &str, text: &str, sig: Option<&Signature>) -> Value {
    let summary: Vec<Value> = if text.is_empty() {
        Vec::new()
    } else {
        vec![json!({"type": "summary_text", "text": text})]
    };
    let id = sig
        .filter(|s| s.origin == Origin::Responses)
        .and_then(|s| s.item_id.clone())
        .unwrap_or_else(|| fallback_id.to_owned());
    let mut item = json!({"id": id, "type": "reasoning", "summary": summary});
    if let Some(enc) = sig.and_then(|s| s.for_client(Dialect::OpenaiResponses)) {
        item["encrypted_content"] = json!(enc);
    }
    item
}
