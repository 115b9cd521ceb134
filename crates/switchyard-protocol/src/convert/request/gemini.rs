//! Gemini `generateContent` request bodies: read into the neutral form, written from it.
//!
//! The model is in the URL, not the body, so the reader takes it from the caller and the writer
//! leaves it out. Code Assist bodies (`{model, project, request: {…}}`) are read through their
//! wrapper. Gemini's function calls may come without ids; the reader gives them ids in order and
//! pairs each `functionResponse` with the earliest unanswered call of the same name.

use serde_json::{Map, Value, json};
use switchyard_core::Dialect;

use super::super::fidelity::{ConvertError, Fidelity};
use super::super::ir::{
    Media, MediaSource, Message, OutputFormat, Part, Reasoning, Request, Role, Tool, ToolCall,
    ToolChoice, ToolResult,
};
use super::super::json::{
    array, at, join, object, opt_bool, opt_f64, opt_i64, opt_str, opt_u64, req_str, strings,
};
use super::super::reasoning::{budget_effort, effort_budget, parse_effort};
use super::super::schema;
use super::super::signature::Signature;

/// Google's documented value for a function call whose history did not come from Gemini
/// (another provider, or a client that lost it): it tells Gemini 3 there is no signature to
/// check, rather than pretending to be one.
pub(crate) const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

const INERT: [&str; 4] = ["safetySettings", "safety_settings", "labels", "session_id"];

/// Reads `key` in camelCase or snake_case (google-genai writes either).
fn get<'a>(o: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    o.get(camel)
        .or_else(|| o.get(snake))
        .filter(|v| !v.is_null())
}

pub(crate) fn read(
    body: &Value,
    model: Option<&str>,
    fx: &mut Fidelity,
) -> Result<Request, ConvertError> {
    let outer = object(body, "")?;
    let (o, prefix) = match outer.get("request") {
        Some(inner @ Value::Object(_)) => (object(inner, "request")?, "request"),
        _ => (outer, ""),
    };
    let mut req = Request {
        model: model.map(str::to_owned).or_else(|| {
            outer
                .get("model")
                .and_then(Value::as_str)
                .map(str::to_owned)
        }),
        ..Request::default()
    };
    for (key, value) in o {
        let path = join(prefix, key);
        match key.as_str() {
            "contents" => read_contents(value, &path, &mut req, fx)?,
            "systemInstruction" | "system_instruction" => {
                for p in parts_of(value, &path)? {
                    if let Some(t) = p.get("text").and_then(Value::as_str) {
                        req.system.push(t.to_owned());
                    }
                }
            }
            "tools" => {
                for (i, t) in array(value, &path)?.iter().enumerate() {
                    let tp = at(&path, i);
                    let t = object(t, &tp)?;
                    for (k, v) in t {
                        match k.as_str() {
                            "functionDeclarations" | "function_declarations" => {
                                for (j, d) in array(v, &join(&tp, k))?.iter().enumerate() {
                                    let dp = at(&join(&tp, k), j);
                                    let d = object(d, &dp)?;
                                    req.tools.push(Tool {
                                        name: req_str(d, "name", &dp)?.to_owned(),
                                        description: opt_str(d, "description", &dp)?
                                            .map(str::to_owned),
                                        parameters: match get(
                                            d,
                                            "parametersJsonSchema",
                                            "parameters_json_schema",
                                        ) {
                                            Some(json_schema) => json_schema.clone(),
                                            None => d
                                                .get("parameters")
                                                .map(schema::from_gemini)
                                                .unwrap_or(Value::Null),
                                        },
                                    });
                                }
                            }
                            other => fx.unsupported(
                                join(&tp, other),
                                "Google's own tools do not convert",
                            )?,
                        }
                    }
                }
            }
            "toolConfig" | "tool_config" => {
                let c = object(value, &path)?;
                if let Some(f) = get(c, "functionCallingConfig", "function_calling_config") {
                    let fp = join(&path, "functionCallingConfig");
                    let f = object(f, &fp)?;
                    let names = get(f, "allowedFunctionNames", "allowed_function_names")
                        .map(|v| strings(v, &join(&fp, "allowedFunctionNames")))
                        .transpose()?
                        .unwrap_or_default();
                    req.tool_choice = match opt_str(f, "mode", &fp)? {
                        None | Some("AUTO" | "MODE_UNSPECIFIED") => Some(ToolChoice::Auto),
                        Some("NONE") => Some(ToolChoice::None),
                        Some("ANY") if names.len() == 1 => Some(ToolChoice::Tool(names[0].clone())),
                        Some("ANY") => {
                            if names.len() > 1 {
                                fx.unsupported(
                                    join(&fp, "allowedFunctionNames"),
                                    "only one forced function converts",
                                )?;
                            }
                            Some(ToolChoice::Required)
                        }
                        Some(other) => {
                            fx.unsupported(
                                join(&fp, "mode"),
                                format!("`{other}` does not convert"),
                            )?;
                            None
                        }
                    };
                }
            }
            "generationConfig" | "generation_config" => read_config(value, &path, &mut req, fx)?,
            k if INERT.contains(&k) => fx.adapted(path, "no effect on another provider's answer"),
            _ => fx.unsupported(path, "not carried across dialects")?,
        }
    }
    Ok(req)
}

fn parts_of<'a>(content: &'a Value, path: &str) -> Result<&'a Vec<Value>, ConvertError> {
    let c = object(content, path)?;
    array(c.get("parts").unwrap_or(&Value::Null), &join(path, "parts"))
}

fn read_config(
    value: &Value,
    path: &str,
    req: &mut Request,
    fx: &mut Fidelity,
) -> Result<(), ConvertError> {
    let c = object(value, path)?;
    let mut mime = None;
    let mut schema_v = None;
    for (key, v) in c {
        let kp = join(path, key);
        match key.as_str() {
            "maxOutputTokens" | "max_output_tokens" => req.max_tokens = opt_u64(c, key, path)?,
            "temperature" => req.temperature = opt_f64(c, key, path)?,
            "topP" | "top_p" => req.top_p = opt_f64(c, key, path)?,
            "topK" | "top_k" => req.top_k = opt_f64(c, key, path)?.map(|k| k.max(0.0) as u64),
            "stopSequences" | "stop_sequences" => req.stop = strings(v, &kp)?,
            "responseMimeType" | "response_mime_type" => mime = opt_str(c, key, path)?,
            "responseSchema" | "response_schema" => schema_v = Some(schema::from_gemini(v)),
            "responseJsonSchema" | "response_json_schema" => schema_v = Some(v.clone()),
            "candidateCount" | "candidate_count" => {
                if opt_u64(c, key, path)?.unwrap_or(1) != 1 {
                    fx.unsupported(kp, "only one candidate can be converted")?;
                }
            }
            "thinkingConfig" | "thinking_config" => {
                let t = object(v, &kp)?;
                let budget =
                    opt_i64(t, "thinkingBudget", &kp)?.or(opt_i64(t, "thinking_budget", &kp)?);
                let level = get(t, "thinkingLevel", "thinking_level").and_then(Value::as_str);
                req.reasoning = match (budget, level) {
                    (Some(0), _) => Some(Reasoning::Off),
                    (Some(b), _) if b < 0 => Some(Reasoning::Dynamic { effort: None }),
                    (Some(b), _) => Some(Reasoning::Budget(b.unsigned_abs())),
                    (None, Some(word)) => match parse_effort(&word.to_ascii_lowercase()) {
                        Ok(Some(e)) => Some(Reasoning::Effort(e)),
                        _ => {
                            fx.unsupported(join(&kp, "thinkingLevel"), "unknown level")?;
                            None
                        }
                    },
                    // `includeThoughts` alone: thoughts are shown whenever the target thinks.
                    (None, None) => None,
                };
            }
            "seed" | "presencePenalty" | "frequencyPenalty" | "responseLogprobs" | "logprobs"
            | "responseModalities" | "speechConfig" | "mediaResolution" => {
                fx.unsupported(kp, "no equivalent in the target")?;
            }
            _ => fx.unsupported(kp, "not carried across dialects")?,
        }
    }
    match (mime, schema_v) {
        (Some("application/json"), Some(s)) => {
            req.output = Some(OutputFormat::JsonSchema {
                name: None,
                schema: s,
                strict: None,
            });
        }
        (Some("application/json"), None) => req.output = Some(OutputFormat::JsonObject),
        (None | Some("text/plain"), None) => {}
        (_, _) => fx.unsupported(join(path, "responseMimeType"), "only JSON output converts")?,
    }
    Ok(())
}

fn read_contents(
    value: &Value,
    path: &str,
    req: &mut Request,
    fx: &mut Fidelity,
) -> Result<(), ConvertError> {
    // Calls not yet answered, by name, in order: ids for calls that came without one.
    let mut pending: Vec<(String, String)> = Vec::new();
    let mut next_id = 0usize;
    for (i, c) in array(value, path)?.iter().enumerate() {
        let cp = at(path, i);
        let co = object(c, &cp)?;
        let role = match opt_str(co, "role", &cp)?.unwrap_or("user") {
            "model" => Role::Assistant,
            "user" | "function" => Role::User,
            other => {
                return Err(ConvertError::invalid(
                    join(&cp, "role"),
                    format!("unknown role `{other}`"),
                ));
            }
        };
        let mut parts: Vec<Part> = Vec::new();
        for (j, p) in parts_of(c, &cp)?.iter().enumerate() {
            let pp = at(&join(&cp, "parts"), j);
            let po = object(p, &pp)?;
            let signature = get(po, "thoughtSignature", "thought_signature")
                .and_then(Value::as_str)
                .and_then(|s| Signature::from_client(Dialect::Gemini, s, None));
            let thought = opt_bool(po, "thought", &pp)?.unwrap_or(false);
            if thought {
                let text = opt_str(po, "text", &pp)?.unwrap_or_default().to_owned();
                // A run of thought parts is one block of reasoning.
                match parts.last_mut() {
                    Some(Part::Thinking {
                        text: t,
                        signature: s @ None,
                    }) => {
                        t.push_str(&text);
                        *s = signature;
                    }
                    _ => parts.push(Part::Thinking { text, signature }),
                }
                continue;
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
            if let Some(t) = po.get("text").and_then(Value::as_str) {
                parts.push(Part::Text(t.to_owned()));
            } else if let Some(d) = get(po, "inlineData", "inline_data") {
                let dp = join(&pp, "inlineData");
                let d = object(d, &dp)?;
                parts.push(Part::Media(Media {
                    media_type: get(d, "mimeType", "mime_type")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    source: MediaSource::Base64(req_str(d, "data", &dp)?.to_owned()),
                }));
            } else if let Some(d) = get(po, "fileData", "file_data") {
                let dp = join(&pp, "fileData");
                let d = object(d, &dp)?;
                let uri = get(d, "fileUri", "file_uri").and_then(Value::as_str);
                match uri.filter(|u| u.starts_with("https://") || u.starts_with("http://")) {
                    Some(url) => parts.push(Part::Media(Media {
                        media_type: get(d, "mimeType", "mime_type")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        source: MediaSource::Url(url.to_owned()),
                    })),
                    None => fx.unsupported(dp, "Google file URIs do not cross providers")?,
                }
            } else if let Some(f) = get(po, "functionCall", "function_call") {
                let fp = join(&pp, "functionCall");
                let f = object(f, &fp)?;
                let name = req_str(f, "name", &fp)?.to_owned();
                let id = match opt_str(f, "id", &fp)? {
                    Some(id) => id.to_owned(),
                    None => {
                        next_id += 1;
                        format!("call_gemini_{next_id}")
                    }
                };
                pending.push((id.clone(), name.clone()));
                parts.push(Part::ToolCall(ToolCall {
                    id,
                    name,
                    arguments: f.get("args").cloned().unwrap_or_else(|| json!({})),
                }));
            } else if let Some(f) = get(po, "functionResponse", "function_response") {
                let fp = join(&pp, "functionResponse");
                let f = object(f, &fp)?;
                let name = req_str(f, "name", &fp)?.to_owned();
                let id = match opt_str(f, "id", &fp)? {
                    Some(id) => {
                        pending.retain(|(p, _)| p != id);
                        id.to_owned()
                    }
                    None => match pending.iter().position(|(_, n)| *n == name) {
                        Some(k) => pending.remove(k).0,
                        None => {
                            return Err(ConvertError::invalid(fp, "answers no function call"));
                        }
                    },
                };
                let response = f.get("response").cloned().unwrap_or(Value::Null);
                let is_error = response.get("error").is_some() && response.get("output").is_none();
                let text = match response
                    .get("output")
                    .or_else(|| response.get("result"))
                    .or_else(|| response.get("error"))
                {
                    Some(Value::String(s))
                        if response.as_object().is_some_and(|o| o.len() == 1) =>
                    {
                        s.clone()
                    }
                    _ => response.to_string(),
                };
                parts.push(Part::ToolResult(ToolResult {
                    call_id: id,
                    name: Some(name),
                    content: vec![Part::Text(text)],
                    is_error,
                }));
            } else if po.contains_key("thoughtSignature") || po.contains_key("thought_signature") {
                // A part that only carried a signature; it is recorded above.
            } else {
                fx.unsupported(&pp, "this part kind does not convert")?;
            }
        }
        req.messages.push(Message { role, parts });
    }
    Ok(())
}

pub(crate) fn write(req: &Request, fx: &mut Fidelity) -> Result<Value, ConvertError> {
    let mut body = Map::new();
    let mut system: Vec<Value> = req.system.iter().map(|t| json!({"text": t})).collect();
    // Call id → name, as of each point in the history: ids from other providers may repeat
    // across turns, and a result answers the latest call with its id.
    let mut names = std::collections::HashMap::new();
    let mut contents = Vec::new();
    let mut dropped_reasoning = false;
    for (i, m) in req.messages.iter().enumerate() {
        let path = at("messages", i);
        if m.role == Role::System {
            fx.adapted(
                &path,
                "a system turn inside the conversation joins the system instruction",
            );
            for p in &m.parts {
                if let Part::Text(t) = p {
                    system.push(json!({"text": t}));
                }
            }
            continue;
        }
        let mut parts: Vec<Value> = Vec::new();
        let mut signature: Option<String> = None;
        let mut first_call = true;
        let mut after: Vec<Value> = Vec::new();
        for (j, p) in m.parts.iter().enumerate() {
            let pp = at(&join(&path, "content"), j);
            let mut part = match p {
                Part::Text(t) => json!({"text": t}),
                Part::Media(media) => match &media.source {
                    MediaSource::Base64(data) => json!({"inlineData": {
                        "mimeType": media.media_type.as_deref().unwrap_or("image/png"),
                        "data": data,
                    }}),
                    MediaSource::Url(url) => return Err(fx.needs_fetch(pp, url)),
                },
                Part::ToolCall(c) => {
                    names.insert(c.id.as_str(), c.name.as_str());
                    let mut part = json!({"functionCall": {"name": c.name, "args": c.arguments}});
                    if first_call && signature.is_none() && m.role == Role::Assistant {
                        signature = Some(SKIP_SIGNATURE.to_owned());
                    }
                    first_call = false;
                    if let Some(s) = signature.take() {
                        part["thoughtSignature"] = json!(s);
                    }
                    parts.push(part);
                    continue;
                }
                Part::ToolResult(r) => {
                    let name = r
                        .name
                        .as_deref()
                        .or_else(|| names.get(r.call_id.as_str()).copied())
                        .ok_or_else(|| ConvertError::invalid(&pp, "answers no tool call"))?;
                    let mut text = String::new();
                    for (k, c) in r.content.iter().enumerate() {
                        match c {
                            Part::Text(t) => text.push_str(t),
                            // A function response is JSON only: media a tool returned (Claude
                            // Code reading an image) follows it in the same turn.
                            Part::Media(Media {
                                media_type,
                                source: MediaSource::Base64(data),
                            }) => {
                                fx.adapted(
                                    at(&join(&pp, "content"), k),
                                    "media from a tool result follows the function response",
                                );
                                after.push(json!({"inlineData": {
                                    "mimeType": media_type.as_deref().unwrap_or("image/png"),
                                    "data": data,
                                }}));
                            }
                            Part::Media(Media {
                                source: MediaSource::Url(url),
                                ..
                            }) => return Err(fx.needs_fetch(at(&join(&pp, "content"), k), url)),
                            _ => fx.unsupported(
                                at(&join(&pp, "content"), k),
                                "Gemini function responses are JSON only",
                            )?,
                        }
                    }
                    let key = if r.is_error { "error" } else { "output" };
                    json!({"functionResponse": {"name": name, "response": {key: text}}})
                }
                Part::Thinking {
                    signature: Some(sig),
                    ..
                } if sig.usable_by(Dialect::Gemini) => {
                    signature = Some(sig.value.clone());
                    continue;
                }
                Part::Thinking { .. } | Part::RedactedThinking(_) => {
                    dropped_reasoning = true;
                    continue;
                }
            };
            if let Some(s) = signature.take() {
                part["thoughtSignature"] = json!(s);
            }
            parts.push(part);
            parts.append(&mut after);
        }
        if let Some(s) = signature.take() {
            parts.push(json!({"text": "", "thoughtSignature": s}));
        }
        if parts.is_empty() {
            continue;
        }
        let role = if m.role == Role::Assistant {
            "model"
        } else {
            "user"
        };
        contents.push(json!({"role": role, "parts": parts}));
    }
    if dropped_reasoning {
        fx.adapted(
            "messages",
            "reasoning from another provider cannot be verified by Gemini and was left out",
        );
    }
    body.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    if !req.tools.is_empty() {
        let decls: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut d = json!({"name": t.name});
                if let Some(desc) = &t.description {
                    d["description"] = json!(desc);
                }
                let params = schema::for_gemini(&t.parameters);
                if params
                    .get("properties")
                    .and_then(Value::as_object)
                    .is_some_and(|p| !p.is_empty())
                {
                    d["parameters"] = params;
                }
                d
            })
            .collect();
        body.insert("tools".into(), json!([{"functionDeclarations": decls}]));
        if req.parallel_tool_calls == Some(false) {
            fx.adapted(
                "parallel_tool_calls",
                "Gemini has no switch for parallel calls",
            );
        }
    }
    if let Some(c) = &req.tool_choice {
        let config = match c {
            ToolChoice::Auto => json!({"mode": "AUTO"}),
            ToolChoice::None => json!({"mode": "NONE"}),
            ToolChoice::Required => json!({"mode": "ANY"}),
            ToolChoice::Tool(n) => json!({"mode": "ANY", "allowedFunctionNames": [n]}),
        };
        body.insert(
            "toolConfig".into(),
            json!({"functionCallingConfig": config}),
        );
    }
    let mut config = Map::new();
    if let Some(n) = req.max_tokens {
        config.insert("maxOutputTokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        config.insert("topP".into(), json!(p));
    }
    if let Some(k) = req.top_k {
        config.insert("topK".into(), json!(k));
    }
    if !req.stop.is_empty() {
        config.insert("stopSequences".into(), json!(req.stop));
    }
    if let Some(r) = &req.reasoning {
        let gemini3 = req
            .model
            .as_deref()
            .is_some_and(|m| m.starts_with("gemini-3"));
        let thinking = match r {
            Reasoning::Off => json!({"thinkingBudget": 0}),
            Reasoning::Dynamic { .. } => json!({"thinkingBudget": -1, "includeThoughts": true}),
            Reasoning::Budget(b) if gemini3 => {
                json!({"thinkingLevel": level(budget_effort(*b)), "includeThoughts": true})
            }
            Reasoning::Budget(b) => json!({"thinkingBudget": b, "includeThoughts": true}),
            Reasoning::Effort(e) if gemini3 => {
                json!({"thinkingLevel": level(*e), "includeThoughts": true})
            }
            Reasoning::Effort(e) => {
                json!({"thinkingBudget": effort_budget(*e), "includeThoughts": true})
            }
        };
        config.insert("thinkingConfig".into(), thinking);
    }
    match &req.output {
        None => {}
        Some(OutputFormat::JsonObject) => {
            config.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(OutputFormat::JsonSchema { schema, .. }) => {
            config.insert("responseMimeType".into(), json!("application/json"));
            config.insert("responseJsonSchema".into(), schema.clone());
        }
    }
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    if req.user.is_some() {
        fx.adapted("user", "Gemini has no end-user field");
    }
    Ok(Value::Object(body))
}

/// Gemini 3 thinking levels: Pro knows only `low` and `high`.
fn level(effort: super::super::ir::Effort) -> &'static str {
    use super::super::ir::Effort;
    match effort {
        Effort::Minimal | Effort::Low => "low",
        Effort::Medium | Effort::High => "high",
    }
}
