//! Chat Completions request bodies: read into the neutral form, written from it.

use serde_json::{Map, Value, json};

use super::super::fidelity::{ConvertError, Fidelity};
use super::super::ir::{
    Media, MediaSource, Message, OutputFormat, Part, Reasoning, Request, Role, Tool, ToolCall,
    ToolChoice, ToolResult,
};
use super::super::json::{
    arguments, array, at, data_url, join, object, opt_bool, opt_f64, opt_str, opt_u64, req_str,
    string, strings,
};
use super::super::reasoning::{budget_effort, effort_word, parse_effort};

/// Fields with no effect on the answer another provider gives, left out with a note.
const INERT: [&str; 6] = [
    "store",
    "metadata",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "stream_options",
];

pub(crate) fn read(body: &Value, fx: &mut Fidelity) -> Result<Request, ConvertError> {
    let o = object(body, "")?;
    let mut req = Request::default();
    for (key, value) in o {
        match key.as_str() {
            "model" => req.model = Some(string(value, "model")?.to_owned()),
            // `max_completion_tokens` replaced `max_tokens`; when both are sent it wins.
            "max_completion_tokens" => req.max_tokens = opt_u64(o, key, "")?.or(req.max_tokens),
            "max_tokens" => {
                if !o.contains_key("max_completion_tokens") {
                    req.max_tokens = opt_u64(o, key, "")?;
                }
            }
            "stream" => req.stream = opt_bool(o, key, "")?.unwrap_or(false),
            "temperature" => req.temperature = opt_f64(o, key, "")?,
            "top_p" => req.top_p = opt_f64(o, key, "")?,
            "stop" => req.stop = strings(value, "stop")?,
            "user" => req.user = opt_str(o, key, "")?.map(str::to_owned),
            "parallel_tool_calls" => req.parallel_tool_calls = opt_bool(o, key, "")?,
            "messages" => read_messages(value, &mut req, fx)?,
            "tools" => {
                for (i, t) in array(value, "tools")?.iter().enumerate() {
                    let path = at("tools", i);
                    let t = object(t, &path)?;
                    if opt_str(t, "type", &path)?.unwrap_or("function") != "function" {
                        fx.unsupported(join(&path, "type"), "only function tools convert")?;
                        continue;
                    }
                    let fpath = join(&path, "function");
                    let f = object(t.get("function").unwrap_or(&Value::Null), &fpath)?;
                    req.tools.push(Tool {
                        name: req_str(f, "name", &fpath)?.to_owned(),
                        description: opt_str(f, "description", &fpath)?.map(str::to_owned),
                        parameters: f.get("parameters").cloned().unwrap_or(Value::Null),
                    });
                }
            }
            "tool_choice" => req.tool_choice = Some(read_tool_choice(value)?),
            "reasoning_effort" => {
                let word = string(value, key)?;
                req.reasoning = Some(match parse_effort(word) {
                    Ok(Some(e)) => Reasoning::Effort(e),
                    Ok(None) => Reasoning::Off,
                    Err(()) => return Err(ConvertError::invalid(key, "unknown effort")),
                });
            }
            "response_format" => req.output = read_format(value, fx)?,
            "n" => {
                if opt_u64(o, key, "")?.unwrap_or(1) != 1 {
                    fx.unsupported(key, "only one choice can be converted")?;
                }
            }
            "logprobs" => {
                if opt_bool(o, key, "")? == Some(true) {
                    fx.unsupported(key, "log probabilities are not carried across dialects")?;
                }
            }
            "frequency_penalty" | "presence_penalty" => {
                if opt_f64(o, key, "")?.unwrap_or(0.0) != 0.0 {
                    fx.unsupported(key.as_str(), "no equivalent in the target")?;
                }
            }
            k if INERT.contains(&k) => fx.adapted(k, "no effect on another provider's answer"),
            other => fx.unsupported(other, "not carried across dialects")?,
        }
    }
    Ok(req)
}

fn read_tool_choice(value: &Value) -> Result<ToolChoice, ConvertError> {
    Ok(match value {
        Value::String(s) => match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => {
                return Err(ConvertError::invalid(
                    "tool_choice",
                    format!("unknown `{other}`"),
                ));
            }
        },
        Value::Object(c) => {
            let f = object(
                c.get("function").unwrap_or(&Value::Null),
                "tool_choice.function",
            )?;
            ToolChoice::Tool(req_str(f, "name", "tool_choice.function")?.to_owned())
        }
        _ => {
            return Err(ConvertError::invalid(
                "tool_choice",
                "expected a string or object",
            ));
        }
    })
}

fn read_format(value: &Value, fx: &mut Fidelity) -> Result<Option<OutputFormat>, ConvertError> {
    let f = object(value, "response_format")?;
    Ok(match req_str(f, "type", "response_format")? {
        "text" => None,
        "json_object" => Some(OutputFormat::JsonObject),
        "json_schema" => {
            let s = object(
                f.get("json_schema").unwrap_or(&Value::Null),
                "response_format.json_schema",
            )?;
            Some(OutputFormat::JsonSchema {
                name: opt_str(s, "name", "response_format.json_schema")?.map(str::to_owned),
                schema: s.get("schema").cloned().unwrap_or(json!({})),
                strict: opt_bool(s, "strict", "response_format.json_schema")?,
            })
        }
        other => {
            fx.unsupported("response_format.type", format!("unknown `{other}`"))?;
            None
        }
    })
}

fn read_messages(value: &Value, req: &mut Request, fx: &mut Fidelity) -> Result<(), ConvertError> {
    let mut head = true;
    for (i, m) in array(value, "messages")?.iter().enumerate() {
        let path = at("messages", i);
        let o = object(m, &path)?;
        let role = req_str(o, "role", &path)?;
        let cpath = join(&path, "content");
        match role {
            "system" | "developer" => {
                let text = content_text(o.get("content"), &cpath)?;
                if head {
                    req.system.push(text);
                } else {
                    req.messages.push(Message {
                        role: Role::System,
                        parts: vec![Part::Text(text)],
                    });
                }
            }
            "user" => {
                head = false;
                let parts = read_user_content(o.get("content"), &cpath, fx)?;
                req.messages.push(Message {
                    role: Role::User,
                    parts,
                });
            }
            "assistant" => {
                head = false;
                let mut parts = Vec::new();
                if let Some(Value::String(r)) = o.get("reasoning_content")
                    && !r.is_empty()
                {
                    parts.push(Part::Thinking {
                        text: r.clone(),
                        signature: None,
                    });
                }
                match o.get("content") {
                    None | Some(Value::Null) => {}
                    Some(c) => {
                        let text = content_text(Some(c), &cpath)?;
                        if !text.is_empty() {
                            parts.push(Part::Text(text));
                        }
                    }
                }
                if let Some(calls) = o.get("tool_calls").filter(|v| !v.is_null()) {
                    let tpath = join(&path, "tool_calls");
                    for (j, c) in array(calls, &tpath)?.iter().enumerate() {
                        let cp = at(&tpath, j);
                        let c = object(c, &cp)?;
                        let fp = join(&cp, "function");
                        let f = object(c.get("function").unwrap_or(&Value::Null), &fp)?;
                        parts.push(Part::ToolCall(ToolCall {
                            id: req_str(c, "id", &cp)?.to_owned(),
                            name: req_str(f, "name", &fp)?.to_owned(),
                            arguments: arguments(
                                opt_str(f, "arguments", &fp)?.unwrap_or(""),
                                &join(&fp, "arguments"),
                            )?,
                        }));
                    }
                }
                req.messages.push(Message {
                    role: Role::Assistant,
                    parts,
                });
            }
            "tool" => {
                head = false;
                let result = Part::ToolResult(ToolResult {
                    call_id: req_str(o, "tool_call_id", &path)?.to_owned(),
                    name: None,
                    content: vec![Part::Text(content_text(o.get("content"), &cpath)?)],
                    is_error: false,
                });
                // Consecutive tool messages answer one assistant turn: one user turn holds them.
                match req.messages.last_mut() {
                    Some(last)
                        if last.role == Role::User
                            && last.parts.iter().all(|p| matches!(p, Part::ToolResult(_))) =>
                    {
                        last.parts.push(result);
                    }
                    _ => req.messages.push(Message {
                        role: Role::User,
                        parts: vec![result],
                    }),
                }
            }
            other => fx.unsupported(
                join(&path, "role"),
                format!("role `{other}` does not convert"),
            )?,
        }
    }
    Ok(())
}

/// Text of a content that may be a string or text parts.
fn content_text(content: Option<&Value>, path: &str) -> Result<String, ConvertError> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (i, p) in parts.iter().enumerate() {
                let pp = at(path, i);
                let p = object(p, &pp)?;
                match req_str(p, "type", &pp)? {
                    "text" => text.push_str(req_str(p, "text", &pp)?),
                    "refusal" => text.push_str(req_str(p, "refusal", &pp)?),
                    other => {
                        return Err(ConvertError::invalid(
                            join(&pp, "type"),
                            format!("`{other}` is not allowed here"),
                        ));
                    }
                }
            }
            Ok(text)
        }
        Some(_) => Err(ConvertError::invalid(path, "expected a string or parts")),
    }
}

fn read_user_content(
    content: Option<&Value>,
    path: &str,
    fx: &mut Fidelity,
) -> Result<Vec<Part>, ConvertError> {
    let Some(Value::Array(items)) = content else {
        return Ok(vec![Part::Text(content_text(content, path)?)]);
    };
    let mut parts = Vec::new();
    for (i, p) in items.iter().enumerate() {
        let pp = at(path, i);
        let o = object(p, &pp)?;
        match req_str(o, "type", &pp)? {
            "text" => parts.push(Part::Text(req_str(o, "text", &pp)?.to_owned())),
            "image_url" => {
                let ip = join(&pp, "image_url");
                let url = match o.get("image_url") {
                    Some(Value::String(u)) => u.as_str(),
                    Some(v) => req_str(object(v, &ip)?, "url", &ip)?,
                    None => return Err(ConvertError::invalid(ip, "missing")),
                };
                parts.push(Part::Media(media_from_url(url)));
            }
            "file" => {
                let fp = join(&pp, "file");
                let f = object(o.get("file").unwrap_or(&Value::Null), &fp)?;
                match opt_str(f, "file_data", &fp)? {
                    Some(data) => parts.push(Part::Media(media_from_url(data))),
                    None => fx.unsupported(fp, "uploaded file ids do not cross providers")?,
                }
            }
            other => {
                fx.unsupported(join(&pp, "type"), format!("`{other}` parts do not convert"))?
            }
        }
    }
    Ok(parts)
}

/// A `data:` URL becomes bytes, anything else stays a reference.
pub(crate) fn media_from_url(url: &str) -> Media {
    match data_url(url) {
        Some((media_type, data)) => Media {
            media_type: Some(media_type),
            source: MediaSource::Base64(data),
        },
        None => Media {
            media_type: None,
            source: MediaSource::Url(url.to_owned()),
        },
    }
}

/// The media as a URL (a `data:` URL for bytes).
pub(crate) fn media_url(m: &Media) -> String {
    match &m.source {
        MediaSource::Base64(data) => format!(
            "data:{};base64,{data}",
            m.media_type.as_deref().unwrap_or("image/png")
        ),
        MediaSource::Url(url) => url.clone(),
    }
}

/// Chat accepts at most four stop sequences.
const MAX_STOP: usize = 4;

pub(crate) fn write(req: &Request, fx: &mut Fidelity) -> Result<Value, ConvertError> {
    let mut body = Map::new();
    if let Some(model) = &req.model {
        body.insert("model".into(), json!(model));
    }
    let mut messages: Vec<Value> = req
        .system
        .iter()
        .map(|t| json!({"role": "system", "content": t}))
        .collect();
    let mut dropped_reasoning = false;
    for (i, m) in req.messages.iter().enumerate() {
        let path = at("messages", i);
        match m.role {
            Role::System => {
                let text = texts(&m.parts);
                messages.push(json!({"role": "system", "content": text}));
            }
            Role::User => {
                let mut content = Vec::new();
                for (j, p) in m.parts.iter().enumerate() {
                    let pp = at(&join(&path, "content"), j);
                    match p {
                        Part::ToolResult(r) => {
                            let mut text = String::new();
                            for (k, c) in r.content.iter().enumerate() {
                                match c {
                                    Part::Text(t) => text.push_str(t),
                                    // Tool messages are text only: an image a tool returned
                                    // goes to the model in the user turn that follows.
                                    Part::Media(media) if media.is_image() => {
                                        fx.adapted(
                                            at(&join(&pp, "content"), k),
                                            "an image from a tool result follows in a user turn",
                                        );
                                        content.push(json!({
                                            "type": "image_url",
                                            "image_url": {"url": media_url(media)},
                                        }));
                                    }
                                    _ => fx.unsupported(
                                        at(&join(&pp, "content"), k),
                                        "Chat tool results are text only",
                                    )?,
                                }
                            }
                            messages.push(json!({
                                "role": "tool",
                                "tool_call_id": r.call_id,
                                "content": text,
                            }));
                        }
                        Part::Text(t) => content.push(json!({"type": "text", "text": t})),
                        Part::Media(media) if media.is_image() => content.push(json!({
                            "type": "image_url",
                            "image_url": {"url": media_url(media)},
                        })),
                        Part::Media(media) => match &media.source {
                            MediaSource::Base64(_) => content.push(json!({
                                "type": "file",
                                "file": {"filename": "document.pdf", "file_data": media_url(media)},
                            })),
                            MediaSource::Url(url) => return Err(fx.needs_fetch(pp, url)),
                        },
                        _ => fx.unsupported(pp, "not allowed in a user turn")?,
                    }
                }
                if !content.is_empty() {
                    let content = match content.as_slice() {
                        [one] if one["type"] == "text" => one["text"].clone(),
                        _ => Value::Array(content),
                    };
                    messages.push(json!({"role": "user", "content": content}));
                }
            }
            Role::Assistant => {
                let mut text = String::new();
                let mut calls = Vec::new();
                for p in &m.parts {
                    match p {
                        Part::Text(t) => text.push_str(t),
                        Part::ToolCall(c) => calls.push(json!({
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments.to_string()},
                        })),
                        Part::Thinking { .. } | Part::RedactedThinking(_) => {
                            dropped_reasoning = true;
                        }
                        Part::Media(_) | Part::ToolResult(_) => {
                            fx.unsupported(&path, "Chat assistant turns hold text and tool calls")?;
                        }
                    }
                }
                let mut msg = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }});
                if !calls.is_empty() {
                    msg["tool_calls"] = Value::Array(calls);
                }
                messages.push(msg);
            }
        }
    }
    if dropped_reasoning {
        fx.adapted(
            "messages",
            "Chat has no field for earlier reasoning; it was left out",
        );
    }
    body.insert("messages".into(), Value::Array(messages));
    if let Some(n) = req.max_tokens {
        body.insert("max_completion_tokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if req.top_k.is_some() {
        fx.unsupported("top_k", "Chat Completions has no top_k")?;
    }
    if !req.stop.is_empty() {
        if req.stop.len() > MAX_STOP {
            fx.unsupported("stop", "Chat Completions takes at most 4 stop sequences")?;
        }
        let kept: Vec<&String> = req.stop.iter().take(MAX_STOP).collect();
        body.insert("stop".into(), json!(kept));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut f = json!({"name": t.name, "parameters": object_schema(&t.parameters)});
                if let Some(d) = &t.description {
                    f["description"] = json!(d);
                }
                json!({"type": "function", "function": f})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        if let Some(p) = req.parallel_tool_calls {
            body.insert("parallel_tool_calls".into(), json!(p));
        }
    }
    if let Some(c) = &req.tool_choice {
        body.insert(
            "tool_choice".into(),
            match c {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Tool(n) => json!({"type": "function", "function": {"name": n}}),
            },
        );
    }
    if let Some(word) = effort(req, fx) {
        body.insert("reasoning_effort".into(), json!(word));
    }
    match &req.output {
        None => {}
        Some(OutputFormat::JsonObject) => {
            body.insert("response_format".into(), json!({"type": "json_object"}));
        }
        Some(OutputFormat::JsonSchema {
            name,
            schema,
            strict,
        }) => {
            let mut s = json!({"name": name.as_deref().unwrap_or("response"), "schema": schema});
            if let Some(strict) = strict {
                s["strict"] = json!(strict);
            }
            body.insert(
                "response_format".into(),
                json!({"type": "json_schema", "json_schema": s}),
            );
        }
    }
    if let Some(u) = &req.user {
        body.insert("user".into(), json!(u));
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
        // Usage is what the relay bills from; ask for it whatever the client wanted.
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Ok(Value::Object(body))
}

/// OpenAI wants an object schema for function parameters.
pub(crate) fn object_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(_) => schema.clone(),
        _ => json!({"type": "object", "properties": {}}),
    }
}

/// The effort word for OpenAI targets. "Off" is left to the model's default: OpenAI has no
/// word for it that every model takes (`none` and `minimal` each exist on some models only,
/// and models without reasoning refuse any effort).
pub(crate) fn effort(req: &Request, fx: &mut Fidelity) -> Option<&'static str> {
    match &req.reasoning {
        None => None,
        Some(Reasoning::Off) => {
            fx.adapted(
                "reasoning",
                "reasoning off is left to the OpenAI model's default",
            );
            None
        }
        Some(Reasoning::Effort(e)) => Some(effort_word(*e)),
        Some(Reasoning::Budget(b)) => Some(effort_word(budget_effort(*b))),
        Some(Reasoning::Dynamic { effort }) => effort.map(effort_word),
    }
}

fn texts(parts: &[Part]) -> String {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}
