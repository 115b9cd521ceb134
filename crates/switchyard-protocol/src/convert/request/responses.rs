//! OpenAI Responses request bodies: read into the neutral form, written from it.
//!
//! System prompts are written as leading `developer` items rather than `instructions`, the way
//! Codex itself sends them, because the ChatGPT backend refuses `instructions` it does not
//! recognise. Bodies are written with `store: false` (nothing is kept upstream; reasoning is
//! carried in `encrypted_content` instead), so `previous_response_id` cannot be converted.

use serde_json::{Map, Value, json};
use switchyard_core::Dialect;

use super::super::fidelity::{ConvertError, Fidelity};
use super::super::ir::{
    MediaSource, Message, OutputFormat, Part, Reasoning, Request, Role, Tool, ToolCall, ToolChoice,
    ToolResult,
};
use super::super::json::{
    arguments, array, at, join, object, opt_bool, opt_f64, opt_str, opt_u64, req_str, string,
};
use super::super::reasoning::parse_effort;
use super::super::signature::Signature;
use super::chat::{effort, media_from_url, media_url, object_schema};

const INERT: [&str; 8] = [
    "store",
    "include",
    "prompt_cache_key",
    "client_metadata",
    "metadata",
    "service_tier",
    "safety_identifier",
    "truncation",
];

pub(crate) fn read(body: &Value, fx: &mut Fidelity) -> Result<Request, ConvertError> {
    let o = object(body, "")?;
    let mut req = Request::default();
    for (key, value) in o {
        match key.as_str() {
            "model" => req.model = Some(string(value, "model")?.to_owned()),
            "max_output_tokens" => req.max_tokens = opt_u64(o, key, "")?,
            "stream" => req.stream = opt_bool(o, key, "")?.unwrap_or(false),
            "temperature" => req.temperature = opt_f64(o, key, "")?,
            "top_p" => req.top_p = opt_f64(o, key, "")?,
            "user" => req.user = opt_str(o, key, "")?.map(str::to_owned),
            "parallel_tool_calls" => req.parallel_tool_calls = opt_bool(o, key, "")?,
            "instructions" => {
                if let Some(text) = opt_str(o, key, "")? {
                    req.system.push(text.to_owned());
                }
            }
            "input" => read_input(value, &mut req, fx)?,
            "tools" => {
                for (i, t) in array(value, "tools")?.iter().enumerate() {
                    let path = at("tools", i);
                    let t = object(t, &path)?;
                    match req_str(t, "type", &path)? {
                        "function" => req.tools.push(Tool {
                            name: req_str(t, "name", &path)?.to_owned(),
                            description: opt_str(t, "description", &path)?.map(str::to_owned),
                            parameters: t.get("parameters").cloned().unwrap_or(Value::Null),
                        }),
                        "custom" => {
                            let name = req_str(t, "name", &path)?.to_owned();
                            req.tools.push(freeform_tool(t, &name, &path)?);
                            req.freeform_tools.push(name);
                        }
                        "namespace" => read_namespace(t, &path, &mut req, fx)?,
                        other => fx.unsupported(
                            join(&path, "type"),
                            format!("`{other}` tools are OpenAI's own"),
                        )?,
                    }
                }
            }
            "tool_choice" => {
                req.tool_choice = Some(match value {
                    Value::String(s) => match s.as_str() {
                        "auto" => ToolChoice::Auto,
                        "none" => ToolChoice::None,
                        "required" => ToolChoice::Required,
                        other => {
                            return Err(ConvertError::invalid(key, format!("unknown `{other}`")));
                        }
                    },
                    Value::Object(c)
                        if c.get("type").and_then(Value::as_str) == Some("function") =>
                    {
                        ToolChoice::Tool(req_str(c, "name", "tool_choice")?.to_owned())
                    }
                    _ => {
                        fx.unsupported(key, "only auto, none, required or one function convert")?;
                        continue;
                    }
                });
            }
            "reasoning" => {
                let r = object(value, key)?;
                if let Some(word) = opt_str(r, "effort", key)? {
                    req.reasoning = Some(match parse_effort(word) {
                        Ok(Some(e)) => Reasoning::Effort(e),
                        Ok(None) => Reasoning::Off,
                        Err(()) => {
                            return Err(ConvertError::invalid(
                                "reasoning.effort",
                                "unknown effort",
                            ));
                        }
                    });
                }
            }
            "text" => {
                let t = object(value, key)?;
                for (k, v) in t {
                    match k.as_str() {
                        "format" => {
                            let f = object(v, "text.format")?;
                            req.output = match req_str(f, "type", "text.format")? {
                                "text" => None,
                                "json_object" => Some(OutputFormat::JsonObject),
                                "json_schema" => Some(OutputFormat::JsonSchema {
                                    name: opt_str(f, "name", "text.format")?.map(str::to_owned),
                                    schema: f.get("schema").cloned().unwrap_or(json!({})),
                                    strict: opt_bool(f, "strict", "text.format")?,
                                }),
                                other => {
                                    return Err(ConvertError::invalid(
                                        "text.format.type",
                                        format!("unknown `{other}`"),
                                    ));
                                }
                            };
                        }
                        // Verbosity only steers length; the other providers have no knob.
                        "verbosity" => fx.adapted("text.verbosity", "no equivalent upstream"),
                        other => fx.unsupported(join("text", other), "not carried")?,
                    }
                }
            }
            "previous_response_id" | "conversation" if value.is_null() => {}
            k if INERT.contains(&k) => fx.adapted(k, "no effect on another provider's answer"),
            other => fx.unsupported(other, "not carried across dialects")?,
        }
    }
    Ok(req)
}

/// The name a tool inside a namespace goes by where names are flat: `{namespace}__{name}`,
/// the form Codex itself uses when a boundary cannot keep the split (underscores next to the
/// delimiter trimmed, as Codex does), so the model's calls come back under a name Codex knows.
pub(crate) fn flat_tool_name(namespace: &str, name: &str) -> String {
    format!(
        "{}__{}",
        namespace.trim_end_matches('_'),
        name.trim_start_matches('_')
    )
}

/// A `namespace` tool (Codex groups its sub-agent tools so): each function in it becomes a
/// function of its own under the flat name; the namespace's description goes with each.
fn read_namespace(
    t: &super::super::json::Obj,
    path: &str,
    req: &mut Request,
    fx: &mut Fidelity,
) -> Result<(), ConvertError> {
    let namespace = req_str(t, "name", path)?;
    let about = opt_str(t, "description", path)?;
    let tools_path = join(path, "tools");
    let inner = match t.get("tools") {
        Some(v) => array(v, &tools_path)?.as_slice(),
        None => &[],
    };
    for (i, tool) in inner.iter().enumerate() {
        let ipath = at(&tools_path, i);
        let tool = object(tool, &ipath)?;
        match req_str(tool, "type", &ipath)? {
            "function" => {
                let description = opt_str(tool, "description", &ipath)?;
                req.tools.push(Tool {
                    name: flat_tool_name(namespace, req_str(tool, "name", &ipath)?),
                    description: match (description, about) {
                        (Some(d), Some(a)) => Some(format!("{d}\n\n(Part of {namespace}: {a})")),
                        (d, a) => d.or(a).map(str::to_owned),
                    },
                    parameters: tool.get("parameters").cloned().unwrap_or(Value::Null),
                });
            }
            other => fx.unsupported(
                join(&ipath, "type"),
                format!("`{other}` tools inside a namespace do not convert"),
            )?,
        }
    }
    Ok(())
}

/// The one argument of a free-form tool seen as a function.
pub(crate) const FREEFORM_INPUT: &str = "input";

/// A free-form (`custom`) tool as a function of one string. Its grammar, when it has one, goes
/// into the description: the other providers cannot enforce it, but the model can follow it.
fn freeform_tool(
    t: &super::super::json::Obj,
    name: &str,
    path: &str,
) -> Result<Tool, ConvertError> {
    let mut description = opt_str(t, "description", path)?
        .unwrap_or_default()
        .to_owned();
    let format = t.get("format");
    let field = |k: &str| format.and_then(|f| f.get(k)).and_then(Value::as_str);
    if let (Some(syntax), Some(definition)) = (field("syntax"), field("definition")) {
        description.push_str(&format!(
            "\n\nThe input must follow this {syntax} grammar:\n{definition}"
        ));
    }
    Ok(Tool {
        name: name.to_owned(),
        description: Some(description),
        parameters: json!({
            "type": "object",
            "properties": {FREEFORM_INPUT: {"type": "string", "description": "the raw input"}},
            "required": [FREEFORM_INPUT],
        }),
    })
}

fn read_input(value: &Value, req: &mut Request, fx: &mut Fidelity) -> Result<(), ConvertError> {
    let items = match value {
        Value::String(s) => {
            req.messages.push(Message {
                role: Role::User,
                parts: vec![Part::Text(s.clone())],
            });
            return Ok(());
        }
        other => array(other, "input")?,
    };
    let mut head = true;
    for (i, item) in items.iter().enumerate() {
        let path = at("input", i);
        let o = object(item, &path)?;
        let kind = opt_str(o, "type", &path)?.unwrap_or("message");
        match kind {
            "message" => {
                let role = req_str(o, "role", &path)?;
                let parts = read_content(o.get("content"), &join(&path, "content"), fx)?;
                match role {
                    "system" | "developer" if head => {
                        for p in parts {
                            if let Part::Text(t) = p {
                                req.system.push(t);
                            }
                        }
                    }
                    "system" | "developer" => push(req, Role::System, parts),
                    "user" => {
                        head = false;
                        push(req, Role::User, parts);
                    }
                    "assistant" => {
                        head = false;
                        push(req, Role::Assistant, parts);
                    }
                    other => {
                        return Err(ConvertError::invalid(
                            join(&path, "role"),
                            format!("unknown role `{other}`"),
                        ));
                    }
                }
            }
            "function_call" => {
                head = false;
                let name = req_str(o, "name", &path)?;
                let call = Part::ToolCall(ToolCall {
                    id: req_str(o, "call_id", &path)?.to_owned(),
                    name: match opt_str(o, "namespace", &path)? {
                        Some(namespace) => flat_tool_name(namespace, name),
                        None => name.to_owned(),
                    },
                    arguments: arguments(
                        opt_str(o, "arguments", &path)?.unwrap_or(""),
                        &join(&path, "arguments"),
                    )?,
                });
                push(req, Role::Assistant, vec![call]);
            }
            "custom_tool_call" => {
                head = false;
                let input = req_str(o, "input", &path)?;
                let call = Part::ToolCall(ToolCall {
                    id: req_str(o, "call_id", &path)?.to_owned(),
                    name: req_str(o, "name", &path)?.to_owned(),
                    arguments: json!({ FREEFORM_INPUT: input }),
                });
                push(req, Role::Assistant, vec![call]);
            }
            "function_call_output" | "custom_tool_call_output" => {
                head = false;
                let opath = join(&path, "output");
                let content = match o.get("output") {
                    Some(Value::String(s)) => vec![Part::Text(s.clone())],
                    Some(v @ Value::Array(_)) => read_content(Some(v), &opath, fx)?,
                    _ => return Err(ConvertError::invalid(opath, "expected a string or parts")),
                };
                let result = Part::ToolResult(ToolResult {
                    call_id: req_str(o, "call_id", &path)?.to_owned(),
                    name: None,
                    content,
                    is_error: false,
                });
                push(req, Role::User, vec![result]);
            }
            "reasoning" => {
                head = false;
                let mut text = String::new();
                if let Some(summary) = o.get("summary").filter(|v| !v.is_null()) {
                    for (j, s) in array(summary, &join(&path, "summary"))?.iter().enumerate() {
                        let sp = at(&join(&path, "summary"), j);
                        if !text.is_empty() {
                            text.push_str("\n\n");
                        }
                        text.push_str(req_str(object(s, &sp)?, "text", &sp)?);
                    }
                }
                let id = opt_str(o, "id", &path)?;
                let signature = opt_str(o, "encrypted_content", &path)?
                    .and_then(|e| Signature::from_client(Dialect::OpenaiResponses, e, id));
                push(
                    req,
                    Role::Assistant,
                    vec![Part::Thinking { text, signature }],
                );
            }
            other => fx.unsupported(
                join(&path, "type"),
                format!("`{other}` items do not convert"),
            )?,
        }
    }
    Ok(())
}

/// Appends parts to the last message when it has the same role (a Responses turn is several
/// items), else starts a message.
fn push(req: &mut Request, role: Role, parts: Vec<Part>) {
    match req.messages.last_mut() {
        Some(last) if last.role == role && role != Role::System => last.parts.extend(parts),
        _ => req.messages.push(Message { role, parts }),
    }
}

fn read_content(
    content: Option<&Value>,
    path: &str,
    fx: &mut Fidelity,
) -> Result<Vec<Part>, ConvertError> {
    let items = match content {
        Some(Value::String(s)) => return Ok(vec![Part::Text(s.clone())]),
        Some(v) => array(v, path)?,
        None => return Err(ConvertError::invalid(path, "missing")),
    };
    let mut parts = Vec::new();
    for (i, p) in items.iter().enumerate() {
        let pp = at(path, i);
        let o = object(p, &pp)?;
        match req_str(o, "type", &pp)? {
            "input_text" | "output_text" => {
                parts.push(Part::Text(req_str(o, "text", &pp)?.to_owned()))
            }
            "refusal" => parts.push(Part::Text(req_str(o, "refusal", &pp)?.to_owned())),
            "input_image" => match opt_str(o, "image_url", &pp)? {
                Some(url) => parts.push(Part::Media(media_from_url(url))),
                None => fx.unsupported(pp, "uploaded file ids do not cross providers")?,
            },
            "input_file" => {
                if let Some(data) = opt_str(o, "file_data", &pp)? {
                    parts.push(Part::Media(media_from_url(data)));
                } else if let Some(url) = opt_str(o, "file_url", &pp)? {
                    let mut m = media_from_url(url);
                    m.media_type
                        .get_or_insert_with(|| "application/pdf".to_owned());
                    parts.push(Part::Media(m));
                } else {
                    fx.unsupported(pp, "uploaded file ids do not cross providers")?;
                }
            }
            other => {
                fx.unsupported(join(&pp, "type"), format!("`{other}` parts do not convert"))?
            }
        }
    }
    Ok(parts)
}

pub(crate) fn write(req: &Request, fx: &mut Fidelity) -> Result<Value, ConvertError> {
    let mut body = Map::new();
    if let Some(model) = &req.model {
        body.insert("model".into(), json!(model));
    }
    let mut input: Vec<Value> = req
        .system
        .iter()
        .map(|t| message("developer", vec![json!({"type": "input_text", "text": t})]))
        .collect();
    let mut dropped_reasoning = false;
    for m in &req.messages {
        let role = match m.role {
            Role::System => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let mut content = Vec::new();
        let flush = |content: &mut Vec<Value>, input: &mut Vec<Value>| {
            if !content.is_empty() {
                input.push(message(role, std::mem::take(content)));
            }
        };
        for p in &m.parts {
            match p {
                Part::Text(t) => {
                    let kind = if m.role == Role::Assistant {
                        "output_text"
                    } else {
                        "input_text"
                    };
                    content.push(json!({"type": kind, "text": t}));
                }
                Part::Media(media) => content.push(media_part(media)),
                Part::ToolCall(c) => {
                    flush(&mut content, &mut input);
                    input.push(json!({
                        "type": "function_call",
                        "call_id": c.id,
                        "name": c.name,
                        "arguments": c.arguments.to_string(),
                    }));
                }
                Part::ToolResult(r) => {
                    flush(&mut content, &mut input);
                    let output = if r.content.iter().all(|c| matches!(c, Part::Text(_))) {
                        json!(
                            r.content
                                .iter()
                                .filter_map(|c| match c {
                                    Part::Text(t) => Some(t.as_str()),
                                    _ => None,
                                })
                                .collect::<String>()
                        )
                    } else {
                        let mut parts = Vec::new();
                        for c in &r.content {
                            match c {
                                Part::Text(t) => {
                                    parts.push(json!({"type": "input_text", "text": t}))
                                }
                                Part::Media(media) => parts.push(media_part(media)),
                                _ => {}
                            }
                        }
                        Value::Array(parts)
                    };
                    input.push(json!({"type": "function_call_output", "call_id": r.call_id, "output": output}));
                }
                Part::Thinking { text, signature } => match signature {
                    Some(sig) if sig.usable_by(Dialect::OpenaiResponses) => {
                        flush(&mut content, &mut input);
                        let summary: Vec<Value> = if text.is_empty() {
                            Vec::new()
                        } else {
                            vec![json!({"type": "summary_text", "text": text})]
                        };
                        let mut item = json!({"type": "reasoning", "summary": summary, "encrypted_content": sig.value});
                        if let Some(id) = &sig.item_id {
                            item["id"] = json!(id);
                        }
                        input.push(item);
                    }
                    _ => dropped_reasoning = true,
                },
                Part::RedactedThinking(_) => dropped_reasoning = true,
            }
        }
        flush(&mut content, &mut input);
    }
    if dropped_reasoning {
        fx.adapted(
            "messages",
            "reasoning from another provider cannot be verified by OpenAI and was left out",
        );
    }
    body.insert("input".into(), Value::Array(input));
    if let Some(n) = req.max_tokens {
        body.insert("max_output_tokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if req.top_k.is_some() {
        fx.unsupported("top_k", "the Responses API has no top_k")?;
    }
    if !req.stop.is_empty() {
        fx.unsupported("stop", "the Responses API has no stop sequences")?;
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                // `strict` defaults to true in Responses, which rejects ordinary schemas.
                let mut tool = json!({"type": "function", "name": t.name, "parameters": object_schema(&t.parameters), "strict": false});
                if let Some(d) = &t.description {
                    tool["description"] = json!(d);
                }
                tool
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
                ToolChoice::Tool(n) => json!({"type": "function", "name": n}),
            },
        );
    }
    if let Some(word) = effort(req, fx) {
        body.insert(
            "reasoning".into(),
            json!({"effort": word, "summary": "auto"}),
        );
        body.insert("include".into(), json!(["reasoning.encrypted_content"]));
    }
    match &req.output {
        None => {}
        Some(OutputFormat::JsonObject) => {
            body.insert("text".into(), json!({"format": {"type": "json_object"}}));
        }
        Some(OutputFormat::JsonSchema {
            name,
            schema,
            strict,
        }) => {
            let mut f = json!({"type": "json_schema", "name": name.as_deref().unwrap_or("response"), "schema": schema});
            if let Some(s) = strict {
                f["strict"] = json!(s);
            }
            body.insert("text".into(), json!({"format": f}));
        }
    }
    if req.user.is_some() {
        // ChatGPT accounts refuse fields they do not know; an end-user id changes no answer.
        fx.adapted("user", "left out for the Responses upstream");
    }
    body.insert("store".into(), json!(false));
    if req.stream {
        body.insert("stream".into(), json!(true));
    }
    Ok(Value::Object(body))
}

fn message(role: &str, content: Vec<Value>) -> Value {
    json!({"type": "message", "role": role, "content": content})
}

/// An image or document as a Responses input part (Responses takes both by URL and by value).
fn media_part(media: &super::super::ir::Media) -> Value {
    if media.is_image() {
        return json!({"type": "input_image", "image_url": media_url(media)});
    }
    match &media.source {
        MediaSource::Base64(_) => {
            json!({"type": "input_file", "filename": "document.pdf", "file_data": media_url(media)})
        }
        MediaSource::Url(url) => json!({"type": "input_file", "file_url": url}),
    }
}
