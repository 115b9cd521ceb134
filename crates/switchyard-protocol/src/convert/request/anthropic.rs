//! Anthropic Messages request bodies: read into the neutral form, written from it.

use serde_json::{Map, Value, json};

use super::super::fidelity::{ConvertError, Fidelity};
use super::super::ir::{
    Media, MediaSource, Message, OutputFormat, Part, Reasoning, Request, Role, Tool, ToolCall,
    ToolChoice, ToolResult,
};
use super::super::json::{
    array, at, join, object, opt_bool, opt_f64, opt_str, opt_u64, req_str, string,
};
use super::super::reasoning::{ANTHROPIC_MIN_BUDGET, effort_budget, parse_effort};
use super::super::schema;
use super::super::signature::Signature;
use super::{anthropic_tool_id, calls_by_id};
use switchyard_core::Dialect;

/// Fields with no effect on the answer another provider gives, left out with a note.
const INERT: [&str; 3] = ["context_management", "service_tier", "anthropic_version"];

pub(crate) fn read(body: &Value, fx: &mut Fidelity) -> Result<Request, ConvertError> {
    let o = object(body, "")?;
    let mut req = Request::default();
    for (key, value) in o {
        match key.as_str() {
            "model" => req.model = Some(string(value, "model")?.to_owned()),
            "max_tokens" => req.max_tokens = opt_u64(o, key, "")?,
            "stream" => req.stream = opt_bool(o, key, "")?.unwrap_or(false),
            "temperature" => req.temperature = opt_f64(o, key, "")?,
            "top_p" => req.top_p = opt_f64(o, key, "")?,
            "top_k" => req.top_k = opt_u64(o, key, "")?,
            "stop_sequences" => {
                req.stop = super::super::json::strings(value, "stop_sequences")?;
            }
            "system" => req.system = read_system(value, fx)?,
            "messages" => {
                for (i, m) in array(value, "messages")?.iter().enumerate() {
                    req.messages.push(read_message(m, &at("messages", i), fx)?);
                }
            }
            "tools" => {
                for (i, t) in array(value, "tools")?.iter().enumerate() {
                    let path = at("tools", i);
                    let t = object(t, &path)?;
                    cache_hint(t, fx);
                    match opt_str(t, "type", &path)? {
                        None | Some("custom") => req.tools.push(Tool {
                            name: req_str(t, "name", &path)?.to_owned(),
                            description: opt_str(t, "description", &path)?.map(str::to_owned),
                            parameters: t.get("input_schema").cloned().unwrap_or(Value::Null),
                        }),
                        Some(kind) => fx.unsupported(
                            join(&path, "type"),
                            format!("`{kind}` is an Anthropic server tool"),
                        )?,
                    }
                }
            }
            "tool_choice" => {
                let c = object(value, "tool_choice")?;
                req.tool_choice = Some(match req_str(c, "type", "tool_choice")? {
                    "auto" => ToolChoice::Auto,
                    "any" => ToolChoice::Required,
                    "none" => ToolChoice::None,
                    "tool" => ToolChoice::Tool(req_str(c, "name", "tool_choice")?.to_owned()),
                    other => {
                        return Err(ConvertError::invalid(
                            "tool_choice.type",
                            format!("unknown `{other}`"),
                        ));
                    }
                });
                if opt_bool(c, "disable_parallel_tool_use", "tool_choice")? == Some(true) {
                    req.parallel_tool_calls = Some(false);
                }
            }
            "thinking" => {
                let t = object(value, "thinking")?;
                req.reasoning = Some(match req_str(t, "type", "thinking")? {
                    "enabled" => Reasoning::Budget(
                        opt_u64(t, "budget_tokens", "thinking")?.unwrap_or(ANTHROPIC_MIN_BUDGET),
                    ),
                    "disabled" => Reasoning::Off,
                    "adaptive" => Reasoning::Dynamic { effort: None },
                    other => {
                        return Err(ConvertError::invalid(
                            "thinking.type",
                            format!("unknown `{other}`"),
                        ));
                    }
                });
            }
            "output_config" | "output_format" => read_output(key, value, &mut req, fx)?,
            "metadata" => {
                let m = object(value, "metadata")?;
                req.user = opt_str(m, "user_id", "metadata")?.map(str::to_owned);
            }
            k if INERT.contains(&k) => fx.adapted(k, "no equivalent upstream; has no effect there"),
            other => fx.unsupported(other, "not carried across dialects")?,
        }
    }
    // `output_config.effort` refines adaptive thinking.
    Ok(req)
}

fn read_output(
    key: &str,
    value: &Value,
    req: &mut Request,
    fx: &mut Fidelity,
) -> Result<(), ConvertError> {
    let o = object(value, key)?;
    let format = if key == "output_format" {
        Some(value)
    } else {
        o.get("format")
    };
    if key == "output_config" {
        for k in o.keys() {
            if !matches!(k.as_str(), "format" | "effort") {
                fx.unsupported(join(key, k), "not carried across dialects")?;
            }
        }
        if let Some(word) = opt_str(o, "effort", key)? {
            let effort = parse_effort(word)
                .map_err(|()| ConvertError::invalid(join(key, "effort"), "unknown effort"))?;
            req.reasoning = match (req.reasoning.take(), effort) {
                (Some(Reasoning::Budget(b)), _) => Some(Reasoning::Budget(b)),
                (Some(Reasoning::Off), _) => Some(Reasoning::Off),
                (_, effort) => Some(Reasoning::Dynamic { effort }),
            };
        }
    }
    if let Some(f) = format.filter(|f| !f.is_null()) {
        let path = if key == "output_format" {
            key.to_owned()
        } else {
            join(key, "format")
        };
        let f = object(f, &path)?;
        match req_str(f, "type", &path)? {
            "json_schema" => {
                req.output = Some(OutputFormat::JsonSchema {
                    name: None,
                    schema: f.get("schema").cloned().unwrap_or(Value::Null),
                    strict: Some(true),
                });
            }
            other => fx.unsupported(join(&path, "type"), format!("unknown format `{other}`"))?,
        }
    }
    Ok(())
}

/// Cache breakpoints only steer Anthropic's prompt cache; the other providers cache on their
/// own, so the hint is left out (noted once).
fn cache_hint(o: &Map<String, Value>, fx: &mut Fidelity) {
    if o.contains_key("cache_control") {
        fx.adapted(
            "cache_control",
            "prompt caching is automatic upstream; hints left out",
        );
    }
}

fn read_system(value: &Value, fx: &mut Fidelity) -> Result<Vec<String>, ConvertError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(blocks) => blocks
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let path = at("system", i);
                let b = object(b, &path)?;
                cache_hint(b, fx);
                Ok(req_str(b, "text", &path)?.to_owned())
            })
            .collect(),
        _ => Err(ConvertError::invalid(
            "system",
            "expected a string or blocks",
        )),
    }
}

fn read_message(m: &Value, path: &str, fx: &mut Fidelity) -> Result<Message, ConvertError> {
    let o = object(m, path)?;
    let role = match req_str(o, "role", path)? {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "system" => Role::System,
        other => {
            return Err(ConvertError::invalid(
                join(path, "role"),
                format!("unknown role `{other}`"),
            ));
        }
    };
    let content_path = join(path, "content");
    let parts = match o.get("content") {
        Some(Value::String(s)) => vec![Part::Text(s.clone())],
        Some(Value::Array(blocks)) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (i, b) in blocks.iter().enumerate() {
                if let Some(p) = read_block(b, &at(&content_path, i), fx)? {
                    parts.push(p);
                }
            }
            parts
        }
        _ => {
            return Err(ConvertError::invalid(
                content_path,
                "expected a string or blocks",
            ));
        }
    };
    Ok(Message { role, parts })
}

fn read_block(b: &Value, path: &str, fx: &mut Fidelity) -> Result<Option<Part>, ConvertError> {
    let o = object(b, path)?;
    cache_hint(o, fx);
    Ok(Some(match req_str(o, "type", path)? {
        "text" => Part::Text(req_str(o, "text", path)?.to_owned()),
        "image" | "document" => match read_source(o, path)? {
            Some(part) => part,
            None => {
                fx.unsupported(join(path, "source"), "this source type has no equivalent")?;
                return Ok(None);
            }
        },
        "tool_use" => Part::ToolCall(ToolCall {
            id: req_str(o, "id", path)?.to_owned(),
            name: req_str(o, "name", path)?.to_owned(),
            arguments: o.get("input").cloned().unwrap_or_else(|| json!({})),
        }),
        "tool_result" => {
            let content_path = join(path, "content");
            let content = match o.get("content") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::String(s)) => vec![Part::Text(s.clone())],
                Some(Value::Array(blocks)) => {
                    let mut parts = Vec::new();
                    for (i, b) in blocks.iter().enumerate() {
                        let p = read_block(b, &at(&content_path, i), fx)?;
                        match p {
                            Some(p @ (Part::Text(_) | Part::Media(_))) => parts.push(p),
                            Some(_) => fx.unsupported(
                                at(&content_path, i),
                                "only text and media can be a tool result",
                            )?,
                            None => {}
                        }
                    }
                    parts
                }
                Some(_) => return Err(ConvertError::invalid(content_path, "expected blocks")),
            };
            Part::ToolResult(ToolResult {
                call_id: req_str(o, "tool_use_id", path)?.to_owned(),
                name: None,
                content,
                is_error: opt_bool(o, "is_error", path)?.unwrap_or(false),
            })
        }
        "thinking" => Part::Thinking {
            text: req_str(o, "thinking", path)?.to_owned(),
            signature: opt_str(o, "signature", path)?
                .filter(|s| !s.is_empty())
                .and_then(|s| Signature::from_client(Dialect::Anthropic, s, None)),
        },
        "redacted_thinking" => {
            match Signature::from_client(Dialect::Anthropic, req_str(o, "data", path)?, None) {
                Some(sig) => Part::RedactedThinking(sig),
                None => return Ok(None),
            }
        }
        other => {
            fx.unsupported(
                join(path, "type"),
                format!("`{other}` blocks have no equivalent"),
            )?;
            return Ok(None);
        }
    }))
}

/// An image or document source; `None` for source kinds other dialects lack (file ids).
fn read_source(o: &Map<String, Value>, path: &str) -> Result<Option<Part>, ConvertError> {
    let spath = join(path, "source");
    let s = object(o.get("source").unwrap_or(&Value::Null), &spath)?;
    Ok(match req_str(s, "type", &spath)? {
        "base64" => Some(Part::Media(Media {
            media_type: opt_str(s, "media_type", &spath)?.map(str::to_owned),
            source: MediaSource::Base64(req_str(s, "data", &spath)?.to_owned()),
        })),
        "url" => Some(Part::Media(Media {
            media_type: (o.get("type").and_then(Value::as_str) == Some("document"))
                .then(|| "application/pdf".to_owned()),
            source: MediaSource::Url(req_str(s, "url", &spath)?.to_owned()),
        })),
        "text" => Some(Part::Text(req_str(s, "data", &spath)?.to_owned())),
        _ => None,
    })
}

/// The default `max_tokens` when the client gave none: Anthropic requires one, and every
/// current Claude model can write at least this much.
const DEFAULT_MAX_TOKENS: u64 = 8192;

pub(crate) fn write(req: &Request, fx: &mut Fidelity) -> Result<Value, ConvertError> {
    let mut body = Map::new();
    if let Some(model) = &req.model {
        body.insert("model".into(), json!(model));
    }
    let mut system: Vec<Value> = req
        .system
        .iter()
        .map(|t| json!({"type": "text", "text": t}))
        .collect();
    let calls = calls_by_id(&req.messages);
    let mut messages = Vec::new();
    let mut foreign_reasoning = false;
    for (i, m) in req.messages.iter().enumerate() {
        let path = at("messages", i);
        if m.role == Role::System {
            fx.adapted(
                &path,
                "a system turn inside the conversation joins the system prompt",
            );
            for p in &m.parts {
                if let Part::Text(t) = p {
                    system.push(json!({"type": "text", "text": t}));
                }
            }
            continue;
        }
        let mut content = Vec::new();
        for (j, p) in m.parts.iter().enumerate() {
            let ppath = at(&join(&path, "content"), j);
            match p {
                Part::Text(t) => content.push(json!({"type": "text", "text": t})),
                Part::Media(media) => content.push(media_block(media)),
                Part::ToolCall(c) => content.push(json!({
                    "type": "tool_use",
                    "id": anthropic_tool_id(&c.id),
                    "name": c.name,
                    "input": c.arguments,
                })),
                Part::ToolResult(r) => {
                    if !calls.contains_key(r.call_id.as_str()) && r.name.is_none() {
                        return Err(ConvertError::invalid(ppath, "answers no tool call"));
                    }
                    let inner: Vec<Value> = r
                        .content
                        .iter()
                        .filter_map(|p| match p {
                            Part::Text(t) => Some(json!({"type": "text", "text": t})),
                            Part::Media(m) => Some(media_block(m)),
                            _ => None,
                        })
                        .collect();
                    let mut block = json!({
                        "type": "tool_result",
                        "tool_use_id": anthropic_tool_id(&r.call_id),
                        "content": inner,
                    });
                    if r.is_error {
                        block["is_error"] = json!(true);
                    }
                    content.push(block);
                }
                Part::Thinking { text, signature } => match signature {
                    Some(sig) if sig.usable_by(Dialect::Anthropic) => content.push(json!({
                        "type": "thinking",
                        "thinking": text,
                        "signature": sig.value,
                    })),
                    _ => foreign_reasoning = true,
                },
                Part::RedactedThinking(sig) => {
                    if sig.usable_by(Dialect::Anthropic) {
                        content.push(json!({"type": "redacted_thinking", "data": sig.value}));
                    } else {
                        foreign_reasoning = true;
                    }
                }
            }
        }
        if content.is_empty() {
            // Anthropic refuses empty turns; a turn that only held foreign reasoning is gone.
            continue;
        }
        let role = if m.role == Role::Assistant {
            "assistant"
        } else {
            "user"
        };
        messages.push(json!({"role": role, "content": content}));
    }
    if foreign_reasoning {
        fx.adapted(
            "messages",
            "reasoning from another provider cannot be verified by Anthropic and was left out",
        );
    }
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    let mut thinking = thinking_budget(req);
    if let Some(why) = thinking.and(thinking_conflict(req, &messages)) {
        fx.adapted("reasoning", why);
        thinking = None;
    }
    let max_tokens = req.max_tokens.unwrap_or(match thinking {
        Some(b) => b + DEFAULT_MAX_TOKENS,
        None => DEFAULT_MAX_TOKENS,
    });
    if let Some(b) = thinking {
        // Anthropic wants max_tokens > budget_tokens ≥ 1024.
        if max_tokens <= ANTHROPIC_MIN_BUDGET {
            fx.adapted(
                "reasoning",
                "max tokens too small for Anthropic thinking; thinking off",
            );
            thinking = None;
        } else if b >= max_tokens {
            thinking = Some(max_tokens - 1);
        }
    }
    body.insert("max_tokens".into(), json!(max_tokens));
    body.insert("messages".into(), Value::Array(messages));
    if let Some(b) = thinking {
        body.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": b}),
        );
    }
    if let Some(t) = req.temperature {
        if thinking.is_some() && t != 1.0 {
            fx.adapted(
                "temperature",
                "Anthropic thinking requires the default temperature",
            );
        } else if t > 1.0 {
            fx.unsupported("temperature", "Anthropic accepts 0 to 1")?;
        } else {
            body.insert("temperature".into(), json!(t));
        }
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(k) = req.top_k {
        if thinking.is_some() {
            fx.adapted("top_k", "Anthropic thinking does not take top_k");
        } else {
            body.insert("top_k".into(), json!(k));
        }
    }
    if !req.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(req.stop));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut tool =
                    json!({"name": t.name, "input_schema": schema::for_anthropic(&t.parameters)});
                if let Some(d) = &t.description {
                    tool["description"] = json!(d);
                }
                tool
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    let mut choice = req.tool_choice.as_ref().map(|c| match c {
        ToolChoice::Auto => json!({"type": "auto"}),
        ToolChoice::None => json!({"type": "none"}),
        ToolChoice::Required => json!({"type": "any"}),
        ToolChoice::Tool(name) => json!({"type": "tool", "name": name}),
    });
    if req.parallel_tool_calls == Some(false) && !req.tools.is_empty() {
        let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
        c["disable_parallel_tool_use"] = json!(true);
    }
    if let Some(c) = choice {
        body.insert("tool_choice".into(), c);
    }
    match &req.output {
        None => {}
        Some(OutputFormat::JsonSchema { schema, .. }) => {
            body.insert(
                "output_config".into(),
                json!({"format": {"type": "json_schema", "schema": schema}}),
            );
        }
        Some(OutputFormat::JsonObject) => {
            fx.unsupported(
                "response_format",
                "Anthropic takes JSON output only with a schema",
            )?;
        }
    }
    if let Some(user) = &req.user {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
    }
    Ok(Value::Object(body))
}

fn media_block(m: &Media) -> Value {
    let kind = if m.is_image() { "image" } else { "document" };
    let source = match &m.source {
        MediaSource::Base64(data) => json!({
            "type": "base64",
            "media_type": m.media_type.as_deref().unwrap_or("image/png"),
            "data": data,
        }),
        MediaSource::Url(url) => json!({"type": "url", "url": url}),
    };
    json!({"type": kind, "source": source})
}

/// The thinking budget the request asks for, if any.
fn thinking_budget(req: &Request) -> Option<u64> {
    match &req.reasoning {
        None | Some(Reasoning::Off) => None,
        Some(Reasoning::Budget(b)) => Some((*b).max(ANTHROPIC_MIN_BUDGET)),
        Some(Reasoning::Effort(e)) => Some(effort_budget(*e)),
        Some(Reasoning::Dynamic { effort }) => Some(effort_budget(
            effort.unwrap_or(super::super::ir::Effort::Medium),
        )),
    }
}

/// Why Anthropic would refuse thinking with this request, if it would: a forced tool choice,
/// or a tool loop whose last assistant turn does not start with signed thinking (which happens
/// whenever the history came from another provider).
fn thinking_conflict(req: &Request, messages: &[Value]) -> Option<&'static str> {
    if matches!(
        req.tool_choice,
        Some(ToolChoice::Required | ToolChoice::Tool(_))
    ) {
        return Some(
            "Anthropic thinking cannot be combined with a forced tool choice; thinking off",
        );
    }
    let last = messages.iter().rev().find(|m| m["role"] == "assistant")?;
    let blocks = last["content"].as_array()?;
    let has_tool = blocks.iter().any(|b| b["type"] == "tool_use");
    let starts_signed = blocks
        .first()
        .is_some_and(|b| b["type"] == "thinking" || b["type"] == "redacted_thinking");
    (has_tool && !starts_signed)
        .then_some("the last tool-use turn has no Anthropic-signed thinking; thinking off")
}
