//! Request bodies: a reader and a writer per dialect, joined through the neutral
//! [`Request`](super::ir::Request).

pub(crate) mod anthropic;
pub(crate) mod chat;
pub(crate) mod gemini;
pub(crate) mod responses;

use std::collections::HashMap;

use super::ir::{Message, Part};

/// Tool call id → function name, over the whole history: Gemini answers a call by name, and a
/// tool result must name a call that exists.
pub(crate) fn calls_by_id(messages: &[Message]) -> HashMap<&str, &str> {
    let mut map = HashMap::new();
    for m in messages {
        for p in &m.parts {
            if let Part::ToolCall(c) = p {
                map.insert(c.id.as_str(), c.name.as_str());
            }
        }
    }
    map
}

/// Anthropic tool ids must match `^[a-zA-Z0-9_-]+$`; other dialects' ids (Gemini's free text,
/// OpenAI's) are mapped onto that alphabet the same way in calls and results, so they still
/// pair up.
pub(crate) fn anthropic_tool_id(id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        "toolu_empty".to_owned()
    } else {
        clean
    }
}
