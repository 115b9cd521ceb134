//! What makes a stream valid for each client dialect, checked event by event, and what the
//! client ends up reading from it (text, reasoning, tool calls, usage).

use serde_json::Value;
use switchyard_core::Dialect;

use crate::sse::SseDecoder;

/// What a client reads from a valid stream.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Summary {
    pub text: String,
    pub thinking: String,
    /// Tool calls in order: name and parsed arguments.
    pub tools: Vec<(String, Value)>,
    /// How many events carried the final usage.
    pub usage_events: usize,
    /// The stream ended with the dialect's error signal instead of its normal end.
    pub error: bool,
    /// The usage the client was told (parsed back with the relay's own readers).
    pub usage: Option<Value>,
}

fn events(bytes: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut d = SseDecoder::new();
    d.feed(bytes, &mut |e| {
        out.push((e.event.to_owned(), e.data.to_owned()))
    });
    d.finish(&mut |e| out.push((e.event.to_owned(), format!("TRUNCATED {}", e.data))));
    out
}

fn json(data: &str) -> Result<Value, String> {
    serde_json::from_str(data).map_err(|e| format!("not JSON ({e}): {data}"))
}

fn args(text: &str) -> Result<Value, String> {
    if text.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    let v: Value = serde_json::from_str(text)
        .map_err(|e| format!("tool arguments do not parse ({e}): {text}"))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(format!("tool arguments are not an object: {text}"))
    }
}

/// Checks a client stream; `chat_usage` says whether a Chat client asked for the usage chunk.
pub(crate) fn validate(client: Dialect, bytes: &[u8], chat_usage: bool) -> Result<Summary, String> {
    let s = match client {
        Dialect::Anthropic => anthropic(bytes)?,
        Dialect::OpenaiChat => chat(bytes, chat_usage)?,
        Dialect::OpenaiResponses => responses(bytes)?,
        Dialect::Gemini => gemini(bytes)?,
    };
    if !s.error && s.usage_events != usize::from(client != Dialect::OpenaiChat || chat_usage) {
        return Err(format!("usage reported {} times", s.usage_events));
    }
    Ok(s)
}

fn anthropic(bytes: &[u8]) -> Result<Summary, String> {
    let mut s = Summary::default();
    let mut started = false;
    let mut ended = false;
    let mut next = 0u64;
    let mut open: Option<(String, String, String)> = None; // kind, tool name, args
    for (name, data) in events(bytes) {
        if ended {
            return Err(format!("`{name}` after the end"));
        }
        let v = json(&data)?;
        if v["type"] != name.as_str() {
            return Err(format!("event `{name}` carries type {}", v["type"]));
        }
        match name.as_str() {
            "message_start" if !started => started = true,
            _ if !started && name != "error" => {
                return Err(format!("`{name}` before message_start"));
            }
            "content_block_start" => {
                if open.is_some() || v["index"] != next {
                    return Err(format!(
                        "block {} starts while another is open or out of order",
                        v["index"]
                    ));
                }
                let b = &v["content_block"];
                let kind = b["type"].as_str().unwrap_or_default().to_owned();
                if !matches!(
                    kind.as_str(),
                    "text" | "thinking" | "tool_use" | "redacted_thinking"
                ) {
                    return Err(format!("unknown block {kind}"));
                }
                if kind == "tool_use"
                    && (b["id"].as_str().is_none_or(str::is_empty) || b["name"].as_str().is_none())
                {
                    return Err("tool_use block without id or name".into());
                }
                let tool = b["name"].as_str().unwrap_or_default().to_owned();
                open = Some((kind, tool, String::new()));
            }
            "content_block_delta" => {
                let Some((kind, _, buf)) = &mut open else {
                    return Err("delta outside a block".into());
                };
                if v["index"] != next {
                    return Err("delta for another block".into());
                }
                let d = &v["delta"];
                match (kind.as_str(), d["type"].as_str().unwrap_or_default()) {
                    ("text", "text_delta") => {
                        s.text.push_str(d["text"].as_str().unwrap_or_default())
                    }
                    ("thinking", "thinking_delta") => s
                        .thinking
                        .push_str(d["thinking"].as_str().unwrap_or_default()),
                    ("thinking", "signature_delta") => {}
                    ("tool_use", "input_json_delta") => {
                        buf.push_str(d["partial_json"].as_str().unwrap_or_default())
                    }
                    (k, t) => return Err(format!("{t} inside a {k} block")),
                }
            }
            "content_block_stop" => {
                let Some((kind, tool, buf)) = open.take() else {
                    return Err("stop without an open block".into());
                };
                if v["index"] != next {
                    return Err("stop for another block".into());
                }
                if kind == "tool_use" {
                    s.tools.push((tool, args(&buf)?));
                }
                next += 1;
            }
            "message_delta" => {
                if open.is_some() {
                    return Err("message_delta with a block open".into());
                }
                if !v["usage"].is_object() || v["delta"]["stop_reason"].as_str().is_none() {
                    return Err("message_delta without usage or stop reason".into());
                }
                s.usage_events += 1;
                s.usage = Some(v["usage"].clone());
            }
            "message_stop" => {
                if s.usage_events != 1 {
                    return Err("message_stop without one message_delta".into());
                }
                ended = true;
            }
            "error" => {
                s.error = true;
                ended = true;
            }
            "ping" => {}
            other => return Err(format!("unexpected `{other}`")),
        }
    }
    if !ended {
        return Err("no message_stop or error at the end".into());
    }
    Ok(s)
}

fn chat(bytes: &[u8], want_usage: bool) -> Result<Summary, String> {
    let mut s = Summary::default();
    let mut done = false;
    let mut finished = false;
    let mut tools: Vec<(String, String)> = Vec::new();
    for (name, data) in events(bytes) {
        if done || s.error {
            return Err("data after the end".into());
        }
        if name != "message" {
            return Err(format!("Chat streams have no `event:` lines (got {name})"));
        }
        if data == "[DONE]" {
            if !finished || (want_usage && s.usage_events != 1) {
                return Err("[DONE] before the finish and usage".into());
            }
            done = true;
            continue;
        }
        let v = json(&data)?;
        if v.get("error").is_some() {
            s.error = true;
            continue;
        }
        if v["object"] != "chat.completion.chunk" {
            return Err(format!("not a chunk: {data}"));
        }
        let choices = v["choices"].as_array().ok_or("no choices")?;
        if choices.is_empty() {
            if !finished || v["usage"].is_null() {
                return Err("a chunk without choices that is not the final usage chunk".into());
            }
            s.usage_events += 1;
            s.usage = Some(v["usage"].clone());
            continue;
        }
        if finished {
            return Err("a choice after the finish".into());
        }
        let c = &choices[0];
        let d = &c["delta"];
        s.text.push_str(d["content"].as_str().unwrap_or_default());
        s.thinking
            .push_str(d["reasoning_content"].as_str().unwrap_or_default());
        for call in d["tool_calls"].as_array().into_iter().flatten() {
            let index = call["index"].as_u64().ok_or("tool call without index")? as usize;
            if index == tools.len() {
                let name = call["function"]["name"].as_str().filter(|n| !n.is_empty());
                if call["id"].as_str().is_none_or(str::is_empty) || name.is_none() {
                    return Err("a new tool call without id or name".into());
                }
                tools.push((name.unwrap_or_default().to_owned(), String::new()));
            } else if index + 1 != tools.len() {
                return Err(format!("tool call index {index} out of order"));
            }
            tools[index]
                .1
                .push_str(call["function"]["arguments"].as_str().unwrap_or_default());
        }
        if !c["finish_reason"].is_null() {
            finished = true;
        }
    }
    if !done && !s.error {
        return Err("no [DONE] or error at the end".into());
    }
    // A call cut off by an error is not a call; a finished stream's calls must parse.
    for (name, a) in tools {
        match args(&a) {
            Ok(v) => s.tools.push((name, v)),
            Err(e) if !s.error => return Err(e),
            Err(_) => {}
        }
    }
    Ok(s)
}

fn responses(bytes: &[u8]) -> Result<Summary, String> {
    let mut s = Summary::default();
    let mut ended = false;
    let mut items = 0u64;
    let mut open: Option<(String, String, String)> = None; // id, type, accumulated
    for (seq, (name, data)) in (0u64..).zip(events(bytes)) {
        if ended {
            return Err(format!("`{name}` after the end"));
        }
        let v = json(&data)?;
        if v["type"] != name.as_str() {
            return Err(format!("event `{name}` carries type {}", v["type"]));
        }
        if v["sequence_number"] != seq {
            return Err(format!(
                "sequence {} where {seq} was due",
                v["sequence_number"]
            ));
        }
        if seq == 0 && name != "response.created" && name != "response.failed" {
            return Err("the first event is not response.created".into());
        }
        let same_item = |open: &Option<(String, String, String)>| -> Result<(), String> {
            match open {
                Some((id, _, _)) if v["item_id"] == id.as_str() && v["output_index"] == items => {
                    Ok(())
                }
                _ => Err(format!("`{name}` for an item that is not open")),
            }
        };
        match name.as_str() {
            "response.created" | "response.in_progress" => {}
            "response.output_item.added" => {
                if open.is_some() || v["output_index"] != items {
                    return Err("item added while another is open, or out of order".into());
                }
                let item = &v["item"];
                open = Some((
                    item["id"].as_str().unwrap_or_default().to_owned(),
                    item["type"].as_str().unwrap_or_default().to_owned(),
                    String::new(),
                ));
            }
            "response.content_part.added"
            | "response.content_part.done"
            | "response.reasoning_summary_part.added"
            | "response.reasoning_summary_part.done"
            | "response.output_text.done"
            | "response.reasoning_summary_text.done"
            | "response.function_call_arguments.done"
            | "response.custom_tool_call_input.done" => same_item(&open)?,
            "response.output_text.delta"
            | "response.reasoning_summary_text.delta"
            | "response.function_call_arguments.delta"
            | "response.custom_tool_call_input.delta" => {
                same_item(&open)?;
                let delta = v["delta"].as_str().unwrap_or_default();
                if let Some((_, _, acc)) = &mut open {
                    acc.push_str(delta);
                }
                match name.as_str() {
                    "response.output_text.delta" => s.text.push_str(delta),
                    "response.reasoning_summary_text.delta" => s.thinking.push_str(delta),
                    _ => {}
                }
            }
            "response.output_item.done" => {
                let Some((id, kind, acc)) = open.take() else {
                    return Err("item done without an open item".into());
                };
                let item = &v["item"];
                if item["id"] != id.as_str()
                    || item["type"] != kind.as_str()
                    || v["output_index"] != items
                {
                    return Err("item done does not match the item added".into());
                }
                match kind.as_str() {
                    "function_call" => {
                        if item["arguments"] != acc.as_str() {
                            return Err("function call arguments differ from their deltas".into());
                        }
                        s.tools.push((
                            item["name"].as_str().unwrap_or_default().to_owned(),
                            args(&acc)?,
                        ));
                    }
                    "custom_tool_call" => {
                        if item["input"] != acc.as_str() {
                            return Err("custom tool input differs from its deltas".into());
                        }
                        let input = serde_json::json!({"input": acc});
                        s.tools
                            .push((item["name"].as_str().unwrap_or_default().to_owned(), input));
                    }
                    "message" if item["content"][0]["text"] != acc.as_str() => {
                        return Err("message text differs from its deltas".into());
                    }
                    _ => {}
                }
                items += 1;
            }
            "response.completed" | "response.incomplete" => {
                if open.is_some() {
                    return Err("terminal event with an item open".into());
                }
                let r = &v["response"];
                if r["output"].as_array().map(Vec::len) != Some(items as usize)
                    || !r["usage"].is_object()
                {
                    return Err("terminal event without every item or usage".into());
                }
                s.usage_events += 1;
                s.usage = Some(r["usage"].clone());
                ended = true;
            }
            "response.failed" => {
                s.error = true;
                ended = true;
            }
            other => return Err(format!("unexpected `{other}`")),
        }
    }
    if !ended {
        return Err("no terminal event".into());
    }
    Ok(s)
}

fn gemini(bytes: &[u8]) -> Result<Summary, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    if !text.is_empty() && !text.ends_with("\r\n\r\n") {
        return Err("the stream does not end with CRLF CRLF".into());
    }
    let mut s = Summary::default();
    let mut ended = false;
    for chunk in text.split("\r\n\r\n").filter(|c| !c.is_empty()) {
        if ended {
            return Err("a chunk after the end".into());
        }
        let data = chunk
            .strip_prefix("data: ")
            .ok_or("Gemini CLI accepts only `data:` lines")?;
        if data.contains('\n') || data.contains('\r') {
            return Err("more than one line in an event".into());
        }
        let v = json(data)?;
        if v.get("error").is_some() {
            s.error = true;
            ended = true;
            continue;
        }
        let c = &v["candidates"][0];
        for p in c["content"]["parts"].as_array().into_iter().flatten() {
            if let Some(f) = p.get("functionCall") {
                if !f["args"].is_object() || f["name"].as_str().is_none() {
                    return Err("functionCall without name or object args".into());
                }
                s.tools.push((
                    f["name"].as_str().unwrap_or_default().to_owned(),
                    f["args"].clone(),
                ));
            } else if p["thought"] == true {
                s.thinking.push_str(p["text"].as_str().unwrap_or_default());
            } else {
                s.text.push_str(p["text"].as_str().unwrap_or_default());
            }
        }
        if v.get("usageMetadata").is_some() {
            if c["finishReason"].as_str().is_none() {
                return Err("usage before the finish".into());
            }
            s.usage_events += 1;
            s.usage = Some(v["usageMetadata"].clone());
            ended = true;
        }
    }
    if !ended {
        return Err("no final chunk or error".into());
    }
    Ok(s)
}
