//! The neutral form every conversion passes through: a client body is read into these types and
//! the target body is written from them, so each dialect needs one reader and one writer instead
//! of one converter per pair (ADR 0010).
//!
//! The types hold only what at least two dialects can express. Anything a reader meets that has
//! no place here is refused (or, when the caller allows it, recorded as dropped) by the reader,
//! so a writer never has to guess what was lost.

use serde_json::Value;
use switchyard_core::TokenUsage;

use super::signature::Signature;

/// A generation request in neutral form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// The model to ask for; `None` when the dialect carries it outside the body (Gemini URL).
    pub model: Option<String>,
    /// System prompt texts, in order (Anthropic `system`, Chat `system`/`developer` messages at
    /// the head, Responses `instructions`, Gemini `systemInstruction`).
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    /// `Some(false)` when the client asked for at most one tool call per turn.
    pub parallel_tool_calls: Option<bool>,
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub stop: Vec<String>,
    pub reasoning: Option<Reasoning>,
    pub output: Option<OutputFormat>,
    pub stream: bool,
    /// An end-user identifier (Anthropic `metadata.user_id`, OpenAI `user`); never affects the
    /// answer, carried where the target has a place for it.
    pub user: Option<String>,
    /// Tools the client declared as free-form (Responses `custom` tools, e.g. Codex's
    /// `apply_patch`): sent to other targets as a function taking one string, `input`, and
    /// shown back to the client as free-form calls.
    pub freeform_tools: Vec<String>,
}

/// Who speaks a turn. Tool results travel as [`Part::ToolResult`] inside `User` turns, the
/// Anthropic and Gemini way; Chat and Responses writers split them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A system turn inside the conversation (Claude Code's `role: "system"` message, a Chat
    /// `system`/`developer` message after the first user turn).
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    /// An image or document.
    Media(Media),
    ToolCall(ToolCall),
    ToolResult(ToolResult),
    /// Model reasoning shown to the client, with the provider's proof when it gave one.
    Thinking {
        text: String,
        signature: Option<Signature>,
    },
    /// Reasoning the provider returned only in encrypted form (Anthropic `redacted_thinking`).
    RedactedThinking(Signature),
}

/// Media by value or by reference. A URL is never fetched here (no I/O in this crate): a writer
/// whose target needs bytes reports it with [`super::ConvertError::NeedsFetch`].
#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    /// MIME type (`image/png`, `application/pdf`); may be unknown for a URL.
    pub media_type: Option<String>,
    pub source: MediaSource,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MediaSource {
    /// Standard base64 without a `data:` prefix.
    Base64(String),
    Url(String),
}

impl Media {
    pub fn is_image(&self) -> bool {
        self.media_type
            .as_deref()
            .is_none_or(|t| t.starts_with("image/"))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The parsed arguments object.
    pub arguments: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The id of the call this answers.
    pub call_id: String,
    /// The called function's name when the dialect says it (Gemini needs it; the others are
    /// looked up from the call).
    pub name: Option<String>,
    /// Text and media; most dialects take only text, see each writer.
    pub content: Vec<Part>,
    pub is_error: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments, as the client gave it; writers trim it for their target.
    pub parameters: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
    /// Some tool must be called.
    Required,
    /// This tool must be called.
    Tool(String),
}

/// How much the model should think. Dialects speak either a token budget (Anthropic, Gemini
/// 2.5) or an effort level (OpenAI, Gemini 3); [`super::reasoning`] maps one onto the other.
#[derive(Debug, Clone, PartialEq)]
pub enum Reasoning {
    /// Reasoning off (Anthropic `disabled`, effort `none`, Gemini budget 0).
    Off,
    /// The provider decides (Anthropic `adaptive`, Gemini budget -1); `effort` when also given.
    Dynamic {
        effort: Option<Effort>,
    },
    Budget(u64),
    Effort(Effort),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effort {
    Minimal,
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OutputFormat {
    /// Any JSON object (Chat `json_object`, Gemini `responseMimeType` without a schema).
    JsonObject,
    JsonSchema {
        name: Option<String>,
        schema: Value,
        strict: Option<bool>,
    },
}

/// A whole (non-streaming) answer in neutral form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    pub id: Option<String>,
    pub model: Option<String>,
    /// Text, thinking and tool calls, in the order the model produced them.
    pub parts: Vec<Part>,
    pub stop: StopReason,
    /// The stop sequence that ended the answer, when one did and the upstream says which.
    pub stop_sequence: Option<String>,
    /// What the upstream billed, normalised (see [`TokenUsage`]).
    pub usage: Option<TokenUsage>,
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StopReason {
    #[default]
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
    /// Safety or content filtering, or a refusal.
    ContentFilter,
    /// The provider paused a long turn (Anthropic `pause_turn`).
    Pause,
}
