//! Gemini answers: read from an upstream body (public or Code Assist), written for a client.

use serde_json::{Value, json};
use switchyard_core::Dialect;

use super::super::fidelity::ConvertError;
use super::super::ir::{Part, Response, ToolCall};
use super::super::signature::{Origin, Signature};
use super::super::usage_map;
use super::{from_gemini_finish, gemini_finish};

/// The public response inside a Code Assist wrapper, or the body itself.
pub(crate) fn unwrap(v: &Value) -> &Value {
    match v.get("response") {
        Some(inner) if inner.is_object() => inner,
        _ => v,
    }
}

pub(super) fn read(v: &Value) -> Result<Response, ConvertError> {
    let v = unwrap(v);
    let candidate =
        v.get("candidates")
            .and_then(|c| c.get(0))
            .ok_or_else(|| ConvertError::Upstream {
                why: "a Gemini response without candidates".into(),
            })?;
    let mut parts = Vec::new();
    let mut calls = 0usize;
    for p in candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        read_part(
            p,
            &mut parts,
            &mut calls,
            v.get("responseId").and_then(Value::as_str),
        );
    }
    Ok(Response {
        id: v
            .get("responseId")
            .and_then(Value::as_str)
            .map(str::to_owned),
        model: v
            .get("modelVersion")
            .and_then(Value::as_str)
            .map(str::to_owned),
        stop: from_gemini_finish(
            candidate
                .get("finishReason")
                .and_then(Value::as_str)
                .unwrap_or("STOP"),
            calls > 0,
        ),
        parts,
        stop_sequence: None,
        usage: None,
    })
}

/// An id for a Gemini function call that came without one. Unique across turns (it carries the
/// response id), because clients pair results with calls by id over the whole history.
pub(crate) fn call_id(response_id: Option<&str>, n: usize) -> String {
    let tag: String = response_id
        .unwrap_or("gemini")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(24)
        .collect();
    format!("call_{tag}_{n}")
}

/// Reads one Gemini part into neutral parts: a signature becomes (or completes) a thinking
/// part right before the part it came with; a call without an id gets one by its order.
pub(crate) fn read_part(
    p: &Value,
    parts: &mut Vec<Part>,
    calls: &mut usize,
    response_id: Option<&str>,
) {
    let signature = p
        .get("thoughtSignature")
        .and_then(Value::as_str)
        .map(|s| Signature::new(Origin::Gemini, s));
    let text = p.get("text").and_then(Value::as_str);
    if p.get("thought").and_then(Value::as_bool) == Some(true) {
        match parts.last_mut() {
            Some(Part::Thinking {
                text: t,
                signature: s @ None,
            }) => {
                t.push_str(text.unwrap_or_default());
                *s = signature;
            }
            _ => parts.push(Part::Thinking {
                text: text.unwrap_or_default().to_owned(),
                signature,
            }),
        }
        return;
    }
    if let Some(sig) = signature {
        match parts.last_mut() {
            Some(Part::Thinking {
                signature: s @ None,
                ..
            }) => *s = Some(sig),
            _ => parts.push(Part::Thinking {
                text: String::new(),
                signature: Some(sig),
            }),
        }
    }
    if let Some(t) = text.filter(|t| !t.is_empty()) {
        match parts.last_mut() {
            Some(Part::Text(prev)) => prev.push_str(t),
            _ => parts.push(Part::Text(t.to_owned())),
        }
    } else if let Some(f) = p.get("functionCall") {
        *calls += 1;
        parts.push(Part::ToolCall(ToolCall {
            id: f
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| call_id(response_id, *calls), str::to_owned),
            name: f
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            arguments: f.get("args").cloned().unwrap_or_else(|| json!({})),
        }));
    }
}

pub(super) fn write(r: &Response) -> Value {
    // Proofs from other providers travel on thought parts, next to the text they sign (see
    // the stream encoder for why).
    let thought = |text: &str, sig: Option<String>| {
        let mut part = json!({"text": text, "thought": true});
        if let Some(s) = sig {
            part["thoughtSignature"] = json!(s);
        }
        part
    };
    let parts: Vec<Value> = r
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(json!({"text": t})),
            Part::Thinking { text, signature } => Some(thought(
                text,
                signature
                    .as_ref()
                    .and_then(|s| s.for_client(Dialect::Gemini)),
            )),
            Part::RedactedThinking(sig) => Some(thought("", sig.for_client(Dialect::Gemini))),
            Part::ToolCall(c) => {
                Some(json!({"functionCall": {"id": c.id, "name": c.name, "args": c.arguments}}))
            }
            Part::Media(_) | Part::ToolResult(_) => None,
        })
        .collect();
    let mut body = json!({
        "candidates": [{
            "content": {"role": "model", "parts": parts},
            "finishReason": gemini_finish(r.stop),
            "index": 0,
        }],
        "modelVersion": r.model,
        "responseId": r.id,
    });
    if let Some(u) = &r.usage {
        body["usageMetadata"] = usage_map::gemini(u);
    }
    body
}
