//! What routing needs from a request body, read without copying the body.
//!
//! Bodies are deserialised with borrowed strings and [`RawValue`] so that large fields (message
//! history, tools, images) are only skipped over, never materialised. Unknown fields, roles and
//! block types are accepted: the relay forwards the body unchanged and the upstream is the judge
//! of what it supports; we only refuse what makes routing impossible (no model).
//!
//! Session *material* is returned as text; hashing it into a session key is done by
//! `switchyard_core::session`.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Why a request body could not be inspected. The server answers it with a 400 in the client's
/// dialect, so messages are written for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("request body must be a JSON object")]
    NotAnObject,
    #[error("missing required field `{0}`")]
    MissingField(&'static str),
    #[error("field `{field}` must be {expected}")]
    InvalidField {
        field: &'static str,
        expected: &'static str,
    },
    #[error("replacement value is not valid JSON: {0}")]
    InvalidValue(String),
}

/// Routing facts of an Anthropic Messages request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnthropicRequest {
    pub model: String,
    pub stream: bool,
    /// Tagged session material (`meta:`, `cache:`, `system:` or `first:` prefix, so materials
    /// from different sources can never produce the same key), or `None` when the request has
    /// nothing that identifies a conversation.
    pub session_material: Option<String>,
}

/// Routing facts of an OpenAI Responses request. Materials are untagged; the caller decides how
/// to combine them with headers such as `session_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponsesRequest {
    pub model: String,
    pub stream: bool,
    pub prompt_cache_key: Option<String>,
    /// The `instructions` text.
    pub instructions_material: Option<String>,
    /// The text of the first input message (the whole `input` when it is a string).
    pub first_input_material: Option<String>,
    /// Continuation of an earlier response, which must go to the account that produced it.
    pub previous_response_id: Option<String>,
    /// `store`, when the body says (the ChatGPT backend needs `false`).
    pub store: Option<bool>,
}

/// Routing facts of a Chat Completions request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRequest {
    pub model: String,
    pub stream: bool,
    /// `stream_options.include_usage`; when false on a streamed request the relay adds it and
    /// strips the extra usage chunk again (see `chat_usage_strip`).
    pub include_usage: bool,
    /// `system:<system/developer text>\nuser:<first user message text>` (either part may be
    /// absent), or `None` when neither exists.
    pub session_material: Option<String>,
}

#[derive(Deserialize)]
struct AnthropicBody<'a> {
    #[serde(borrow)]
    model: Option<&'a RawValue>,
    #[serde(borrow)]
    stream: Option<&'a RawValue>,
    #[serde(borrow)]
    metadata: Option<&'a RawValue>,
    #[serde(borrow)]
    system: Option<&'a RawValue>,
    #[serde(borrow)]
    messages: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Metadata<'a> {
    #[serde(borrow)]
    user_id: Option<Cow<'a, str>>,
}

/// A content block (Anthropic system/message block, Responses content part, Chat content part).
#[derive(Deserialize)]
struct Block<'a> {
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    cache_control: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(borrow)]
    content: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ResponsesBody<'a> {
    #[serde(borrow)]
    model: Option<&'a RawValue>,
    #[serde(borrow)]
    stream: Option<&'a RawValue>,
    #[serde(borrow)]
    prompt_cache_key: Option<&'a RawValue>,
    #[serde(borrow)]
    instructions: Option<&'a RawValue>,
    #[serde(borrow)]
    input: Option<&'a RawValue>,
    #[serde(borrow)]
    previous_response_id: Option<&'a RawValue>,
    #[serde(borrow)]
    store: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ChatBody<'a> {
    #[serde(borrow)]
    model: Option<&'a RawValue>,
    #[serde(borrow)]
    stream: Option<&'a RawValue>,
    #[serde(borrow)]
    stream_options: Option<&'a RawValue>,
    #[serde(borrow)]
    messages: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct StreamOptions {
    include_usage: Option<bool>,
}

/// Inspects an Anthropic Messages request body.
///
/// Session material, first match wins: (a) the session UUID inside `metadata.user_id` (Claude
/// Code's `user_<hex>_account_<…>_session_<uuid>` form or its newer JSON-string form), because
/// it names the conversation exactly; (b) the text of system blocks carrying `cache_control`,
/// i.e. the prefix the prompt cache is keyed on; (c) all system text; (d) the first message's
/// text.
pub fn inspect_anthropic(body: &[u8]) -> Result<AnthropicRequest, InspectError> {
    let parsed: AnthropicBody<'_> = parse_object(body)?;
    let model = required_string(parsed.model, "model")?;
    let stream = optional_bool(parsed.stream, "stream")?;

    let session_material = metadata_session(parsed.metadata)
        .map(|s| format!("meta:{s}"))
        .or_else(|| {
            let system = parsed.system?;
            let (cached, all) = anthropic_system_text(system);
            match (cached, all) {
                (Some(cached), _) => Some(format!("cache:{cached}")),
                (None, Some(all)) => Some(format!("system:{all}")),
                _ => None,
            }
        })
        .or_else(|| {
            let first = first_element::<Message<'_>>(parsed.messages?)?;
            content_text(first.content?).map(|t| format!("first:{t}"))
        });

    Ok(AnthropicRequest {
        model,
        stream,
        session_material,
    })
}

/// Inspects an OpenAI Responses request body.
pub fn inspect_responses(body: &[u8]) -> Result<ResponsesRequest, InspectError> {
    let parsed: ResponsesBody<'_> = parse_object(body)?;
    let model = required_string(parsed.model, "model")?;
    let stream = optional_bool(parsed.stream, "stream")?;
    let prompt_cache_key = optional_string(parsed.prompt_cache_key);
    let previous_response_id = optional_string(parsed.previous_response_id);
    let store = parsed
        .store
        .and_then(|raw| serde_json::from_str::<bool>(raw.get()).ok());
    let instructions_material = optional_string(parsed.instructions);
    let first_input_material = parsed.input.and_then(|input| {
        if let Some(text) = as_string(input) {
            return non_empty(text);
        }
        let items: Vec<&RawValue> = serde_json::from_str(input.get()).ok()?;
        items.into_iter().find_map(|item| {
            let message: Message<'_> = serde_json::from_str(item.get()).ok()?;
            content_text(message.content?)
        })
    });
    Ok(ResponsesRequest {
        model,
        stream,
        prompt_cache_key,
        instructions_material,
        first_input_material,
        previous_response_id,
        store,
    })
}

/// Inspects an OpenAI Chat Completions request body.
pub fn inspect_chat(body: &[u8]) -> Result<ChatRequest, InspectError> {
    let parsed: ChatBody<'_> = parse_object(body)?;
    let model = required_string(parsed.model, "model")?;
    let stream = optional_bool(parsed.stream, "stream")?;
    let include_usage = parsed
        .stream_options
        .and_then(|raw| serde_json::from_str::<StreamOptions>(raw.get()).ok())
        .and_then(|o| o.include_usage)
        .unwrap_or(false);

    let mut system = None;
    let mut first_user = None;
    if let Some(messages) = parsed.messages
        && let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(messages.get())
    {
        for item in items {
            let Ok(message) = serde_json::from_str::<Message<'_>>(item.get()) else {
                continue;
            };
            let role = message.role.as_deref().unwrap_or("");
            let text = || message.content.and_then(content_text);
            if system.is_none() && matches!(role, "system" | "developer") {
                system = text();
            } else if role == "user" {
                first_user = text();
                break;
            }
        }
    }
    let session_material = match (system, first_user) {
        (None, None) => None,
        (system, user) => {
            let mut out = String::new();
            if let Some(s) = system {
                out.push_str("system:");
                out.push_str(&s);
            }
            if let Some(u) = user {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str("user:");
                out.push_str(&u);
            }
            Some(out)
        }
    };
    Ok(ChatRequest {
        model,
        stream,
        include_usage,
        session_material,
    })
}

pub(crate) fn parse_object<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, InspectError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(_) if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() => {
            return Err(InspectError::NotAnObject);
        }
        None => return Err(InspectError::InvalidJson("empty body".to_owned())),
        Some(_) => {}
    }
    serde_json::from_slice(body).map_err(|e| InspectError::InvalidJson(e.to_string()))
}

pub(crate) fn required_string(
    raw: Option<&RawValue>,
    field: &'static str,
) -> Result<String, InspectError> {
    let raw = raw.ok_or(InspectError::MissingField(field))?;
    if raw.get() == "null" {
        return Err(InspectError::MissingField(field));
    }
    match as_string(raw) {
        Some(s) if !s.is_empty() => Ok(s.into_owned()),
        Some(_) => Err(InspectError::InvalidField {
            field,
            expected: "a non-empty string",
        }),
        None => Err(InspectError::InvalidField {
            field,
            expected: "a string",
        }),
    }
}

fn optional_bool(raw: Option<&RawValue>, field: &'static str) -> Result<bool, InspectError> {
    match raw.map(RawValue::get) {
        None | Some("null") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(InspectError::InvalidField {
            field,
            expected: "a boolean",
        }),
    }
}

fn optional_string(raw: Option<&RawValue>) -> Option<String> {
    non_empty(as_string(raw?)?)
}

pub(crate) fn as_string(raw: &RawValue) -> Option<Cow<'_, str>> {
    serde_json::from_str::<Cow<'_, str>>(raw.get()).ok()
}

fn non_empty(s: Cow<'_, str>) -> Option<String> {
    (!s.is_empty()).then(|| s.into_owned())
}

/// Deserialises only the first element of a JSON array, skipping the rest unparsed into values.
fn first_element<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Option<T> {
    let items: Vec<&'a RawValue> = serde_json::from_str(raw.get()).ok()?;
    serde_json::from_str(items.first()?.get()).ok()
}

/// Text of a `content` value: a string, or the `text` of its blocks joined with `\n`.
fn content_text(raw: &RawValue) -> Option<String> {
    if let Some(s) = as_string(raw) {
        return non_empty(s);
    }
    let blocks: Vec<&RawValue> = serde_json::from_str(raw.get()).ok()?;
    let texts = blocks
        .into_iter()
        .filter_map(|b| serde_json::from_str::<Block<'_>>(b.get()).ok())
        .filter_map(|b| b.text);
    join_non_empty(texts)
}

/// (text of system blocks with `cache_control`, all system text).
fn anthropic_system_text(raw: &RawValue) -> (Option<String>, Option<String>) {
    if let Some(s) = as_string(raw) {
        return (None, non_empty(s));
    }
    let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(raw.get()) else {
        return (None, None);
    };
    let blocks: Vec<Block<'_>> = items
        .into_iter()
        .filter_map(|b| serde_json::from_str(b.get()).ok())
        .collect();
    let cached = join_non_empty(
        blocks
            .iter()
            .filter(|b| b.cache_control.is_some_and(|c| c.get() != "null"))
            .filter_map(|b| b.text.clone()),
    );
    let all = join_non_empty(blocks.iter().filter_map(|b| b.text.clone()));
    (cached, all)
}

fn join_non_empty<'a>(texts: impl Iterator<Item = Cow<'a, str>>) -> Option<String> {
    let mut out = String::new();
    for t in texts.filter(|t| !t.is_empty()) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&t);
    }
    (!out.is_empty()).then_some(out)
}

/// The session UUID from Claude Code's `metadata.user_id`.
fn metadata_session(raw: Option<&RawValue>) -> Option<String> {
    let metadata: Metadata<'_> = serde_json::from_str(raw?.get()).ok()?;
    let user_id = metadata.user_id?;
    let user_id = user_id.trim();
    if user_id.starts_with('{') {
        #[derive(Deserialize)]
        struct JsonUserId<'a> {
            #[serde(borrow)]
            session_id: Option<Cow<'a, str>>,
        }
        let parsed: JsonUserId<'_> = serde_json::from_str(user_id).ok()?;
        return non_empty(parsed.session_id?);
    }
    legacy_user_id_session(user_id).map(str::to_owned)
}

/// `user_<64 hex>_account_<anything>_session_<uuid>` → `<uuid>`.
fn legacy_user_id_session(user_id: &str) -> Option<&str> {
    let rest = user_id.strip_prefix("user_")?;
    let (device, rest) = rest.split_at_checked(64)?;
    if !device.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let rest = rest.strip_prefix("_account_")?;
    let at = rest.rfind("_session_")?;
    let session = &rest[at + "_session_".len()..];
    let valid = !session.is_empty() && session.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    valid.then_some(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX64: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const UUID: &str = "5f1c7c8e-1b2a-4c3d-9e8f-0a1b2c3d4e5f";

    #[test]
    fn anthropic_doc_request_with_legacy_user_id() {
        let body = format!(
            r#"{{"model":"claude-sonnet-4-20250514","max_tokens":1024,"stream":true,
 "system":[{{"type":"text","text":"You are Claude Code, Anthropic's official CLI for Claude.","cache_control":{{"type":"ephemeral"}}}}],
 "messages":[{{"role":"user","content":[{{"type":"text","text":"hi"}}]}}],
 "metadata":{{"user_id":"user_{HEX64}_account_acc-1_session_{UUID}"}}}}"#
        );
        let req = inspect_anthropic(body.as_bytes()).unwrap();
        assert_eq!(req.model, "claude-sonnet-4-20250514");
        assert!(req.stream);
        assert_eq!(req.session_material, Some(format!("meta:{UUID}")));
    }

    #[test]
    fn anthropic_json_user_id_and_empty_account() {
        let inner = format!(r#"{{"device_id":"{HEX64}","account_uuid":"","session_id":"{UUID}"}}"#);
        let body = serde_json::json!({"model":"m","metadata":{"user_id": inner}}).to_string();
        let req = inspect_anthropic(body.as_bytes()).unwrap();
        assert_eq!(req.session_material, Some(format!("meta:{UUID}")));
        assert!(!req.stream);

        let legacy = format!("user_{HEX64}_account__session_{UUID}");
        assert_eq!(legacy_user_id_session(&legacy), Some(UUID));
        assert_eq!(legacy_user_id_session("user_abc_account__session_x"), None);
    }

    #[test]
    fn anthropic_material_fallbacks() {
        let cached = br#"{"model":"m","system":[{"type":"text","text":"a"},{"type":"text","text":"b","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}]}"#;
        assert_eq!(
            inspect_anthropic(cached)
                .unwrap()
                .session_material
                .as_deref(),
            Some("cache:b")
        );
        let uncached = br#"{"model":"m","system":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"messages":[]}"#;
        assert_eq!(
            inspect_anthropic(uncached)
                .unwrap()
                .session_material
                .as_deref(),
            Some("system:a\nb")
        );
        let string_system = br#"{"model":"m","system":"sys \"quoted\""}"#;
        assert_eq!(
            inspect_anthropic(string_system)
                .unwrap()
                .session_material
                .as_deref(),
            Some("system:sys \"quoted\"")
        );
        let first = br#"{"model":"m","messages":[{"role":"system","content":"odd but accepted"},{"role":"user","content":"x"}],"unknown":{"deep":[1,2]}}"#;
        assert_eq!(
            inspect_anthropic(first)
                .unwrap()
                .session_material
                .as_deref(),
            Some("first:odd but accepted")
        );
        let blocks = br#"{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{}},{"type":"text","text":"t1"},{"type":"text","text":"t2"}]}]}"#;
        assert_eq!(
            inspect_anthropic(blocks)
                .unwrap()
                .session_material
                .as_deref(),
            Some("first:t1\nt2")
        );
        let nothing = br#"{"model":"m","messages":[]}"#;
        assert_eq!(inspect_anthropic(nothing).unwrap().session_material, None);
    }

    #[test]
    fn errors_are_clear() {
        assert_eq!(inspect_anthropic(b"[1]"), Err(InspectError::NotAnObject));
        assert_eq!(
            inspect_anthropic(b"{}"),
            Err(InspectError::MissingField("model"))
        );
        assert_eq!(
            inspect_anthropic(br#"{"model":null}"#),
            Err(InspectError::MissingField("model"))
        );
        assert!(matches!(
            inspect_anthropic(br#"{"model":5}"#),
            Err(InspectError::InvalidField { field: "model", .. })
        ));
        assert!(matches!(
            inspect_anthropic(br#"{"model":"m","stream":"yes"}"#),
            Err(InspectError::InvalidField {
                field: "stream",
                ..
            })
        ));
        assert!(matches!(
            inspect_anthropic(b"{\"model\":"),
            Err(InspectError::InvalidJson(_))
        ));
        assert!(matches!(
            inspect_chat(b""),
            Err(InspectError::InvalidJson(_))
        ));
        assert_eq!(
            InspectError::MissingField("model").to_string(),
            "missing required field `model`"
        );
    }

    #[test]
    fn responses_request() {
        let body = br#"{"model":"gpt-5","instructions":"You are Codex","input":[{"type":"reasoning","summary":[]},{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}],
 "stream":true,"store":false,"previous_response_id":null,"prompt_cache_key":"pck-1","tools":[]}"#;
        let req = inspect_responses(body).unwrap();
        assert_eq!(
            req,
            ResponsesRequest {
                model: "gpt-5".into(),
                stream: true,
                prompt_cache_key: Some("pck-1".into()),
                instructions_material: Some("You are Codex".into()),
                first_input_material: Some("hi".into()),
                previous_response_id: None,
                store: Some(false),
            }
        );
        let string_input = br#"{"model":"gpt-5","input":"hello","previous_response_id":"resp_9"}"#;
        let req = inspect_responses(string_input).unwrap();
        assert_eq!(req.first_input_material.as_deref(), Some("hello"));
        assert_eq!(req.previous_response_id.as_deref(), Some("resp_9"));
        assert_eq!(req.store, None);
        assert!(!req.stream);
    }

    #[test]
    fn chat_request() {
        let body = br#"{"model":"gpt-5-mini","messages":[{"role":"system","content":"sys"},{"role":"assistant","content":"x"},{"role":"user","content":[{"type":"text","text":"hi"}]}],
 "stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":4000}"#;
        let req = inspect_chat(body).unwrap();
        assert_eq!(
            req,
            ChatRequest {
                model: "gpt-5-mini".into(),
                stream: true,
                include_usage: true,
                session_material: Some("system:sys\nuser:hi".into()),
            }
        );
        let bare = inspect_chat(br#"{"model":"m","messages":[]}"#).unwrap();
        assert!(!bare.include_usage);
        assert_eq!(bare.session_material, None);
    }
}
