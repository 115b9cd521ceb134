//! Chat Completions answers: read from an upstream body, written for a client.

use serde_json::{Value, json};

use super::super::fidelity::ConvertError;
use super::super::ir::{Part, Response, StopReason, ToolCall};
use super::super::json::arguments;
use super::super::usage_map;
use super::{chat_finish, from_chat_finish};

pub(super) fn read(v: &Value) -> Result<Response, ConvertError> {
    let choice = v
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| ConvertError::Upstream {
            why: "a chat completion without choices".into(),
        })?;
    let message = choice.get("message").cloned().unwrap_or(Value::Null);
    let mut parts = Vec::new();
    for key in ["reasoning_content", "reasoning"] {
        if let Some(t) = message
            .get(key)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            parts.push(Part::Thinking {
                text: t.to_owned(),
                signature: None,
            });
            break;
        }
    }
    for key in ["content", "refusal"] {
        if let Some(t) = message
            .get(key)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            parts.push(Part::Text(t.to_owned()));
        }
    }
    for (i, c) in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let f = c.get("function").cloned().unwrap_or(Value::Null);
        let args = f
            .get("arguments")
            .and_then(Value::as_str)
            .unwrap_or_default();
        parts.push(Part::ToolCall(ToolCall {
            id: c
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| format!("call_{i}"), str::to_owned),
            name: f
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            arguments: arguments(args, "choices[0].message.tool_calls")
                .map_err(|e| ConvertError::Upstream { why: e.to_string() })?,
        }));
    }
    let refused = message
        .get("refusal")
        .and_then(Value::as_str)
        .is_some_and(|r| !r.is_empty());
    Ok(Response {
        id: v.get("id").and_then(Value::as_str).map(str::to_owned),
        model: v.get("model").and_then(Value::as_str).map(str::to_owned),
        parts,
        stop: match choice.get("finish_reason").and_then(Value::as_str) {
            _ if refused => StopReason::ContentFilter,
            Some(word) => from_chat_finish(word),
            None => StopReason::EndTurn,
        },
        stop_sequence: None,
        usage: None,
    })
}

pub(super) fn write(r: &Response, created: u64) -> Value {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for p in &r.parts {
        match p {
            Part::Text(t) => text.push_str(t),
            Part::Thinking { text: t, .. } => reasoning.push_str(t),
            Part::ToolCall(c) => calls.push(json!({
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments.to_string()},
            })),
            Part::RedactedThinking(_) | Part::Media(_) | Part::ToolResult(_) => {}
        }
    }
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) },
    });
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    let mut body = json!({
        "id": r.id.clone().unwrap_or_else(|| "chatcmpl-switchyard".into()),
        "object": "chat.completion",
        "created": created,
        "model": r.model,
        "choices": [{"index": 0, "message": message, "finish_reason": chat_finish(r.stop)}],
    });
    if let Some(u) = &r.usage {
        body["usage"] = usage_map::chat(u);
    }
    body
}
