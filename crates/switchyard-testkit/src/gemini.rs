//! Gemini on the mock: the public API (`POST /v1beta/models/{model}:{action}`, also under
//! `/v1/`), Code Assist (`POST /v1internal:{method}`) and Google's OAuth token endpoint
//! (`POST /token`).
//!
//! | endpoint | answer |
//! |---|---|
//! | `…/models/{m}:generateContent` | one response; key in `x-goog-api-key` or `?key=`, else 403 |
//! | `…/models/{m}:streamGenerateContent?alt=sse` | SSE, events end in CRLF CRLF, cumulative `usageMetadata` |
//! | `…/models/{m}:streamGenerateContent` | the streamed JSON array form (`[`, `,\r\n`, `]` between chunks) |
//! | `…/models/{m}:countTokens` | `{"totalTokens":N}` |
//! | `/v1internal:generateContent`, `:streamGenerateContent` | the same, each response wrapped as `{"response":…,"traceId":…}`; Bearer, else 401 |
//! | `/v1internal:countTokens` | `{"totalTokens":N}` |
//! | `/v1internal:loadCodeAssist` | free tier and [`MockUpstream::set_code_assist_project`]'s project (default `mock-project`), or no project and an allowed free tier when set to `None` |
//! | `/v1internal:onboardUser` | a finished operation with project `mock-managed-project`, which `loadCodeAssist` then reports |
//! | `/v1internal:retrieveUserQuota`, `:listExperiments` | a quota bucket; no experiments |
//! | `POST /token` | form-encoded `grant_type=refresh_token` → `ya29.mock-N` (no new refresh token), counted by [`MockUpstream::google_tokens_issued`]; faults from [`MockUpstream::push_oauth`] (e.g. [`Fault::invalid_grant`]) |
//!
//! Usage comes from [`MockUsage`]: `promptTokenCount = input + cache_read`,
//! `cachedContentTokenCount = cache_read`, `thoughtsTokenCount = reasoning`,
//! `candidatesTokenCount = output - reasoning`, so the relay's normalised usage equals the
//! configured one. A request with `generationConfig.responseJsonSchema` (or `responseSchema`),
//! like Gemini CLI's model router, is answered with JSON text valid for that schema (the first
//! enum value, `1` for numbers, and so on: the router picks `flash`).
//!
//! Code Assist requests record the `project` they carry ([`MockUpstream::code_assist_projects`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::bodies::{MockUsage, delta_text, gemini_error_json};
use crate::fault::Fault;
use crate::mock::{MockUpstream, Reply};

/// What `loadCodeAssist` reports by default.
pub const MOCK_CODE_ASSIST_PROJECT: &str = "mock-project";
/// The project `onboardUser` creates.
pub const MOCK_MANAGED_PROJECT: &str = "mock-managed-project";
const RESPONSE_ID: &str = "MockGeminiResponse0000001";
const TRACE_ID: &str = "mock-trace-0001";
const DEFAULT_MODEL: &str = "gemini-2.5-pro";

/// Gemini state on the mock's shared state.
pub(crate) struct GeminiState {
    tokens_issued: AtomicU64,
    projects: Mutex<Vec<String>>,
    load_project: Mutex<Option<String>>,
}

impl Default for GeminiState {
    fn default() -> Self {
        Self {
            tokens_issued: AtomicU64::new(0),
            projects: Mutex::new(Vec::new()),
            load_project: Mutex::new(Some(MOCK_CODE_ASSIST_PROJECT.to_owned())),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MockUpstream {
    /// Access tokens issued by Google's token endpoint (`POST /token`); the n-th is
    /// `ya29.mock-n`.
    pub fn google_tokens_issued(&self) -> u64 {
        self.gemini_state().tokens_issued.load(Ordering::Relaxed)
    }

    /// The `project` of every Code Assist request that carried one, oldest first.
    pub fn code_assist_projects(&self) -> Vec<String> {
        lock(&self.gemini_state().projects).clone()
    }

    /// What `loadCodeAssist` reports as `cloudaicompanionProject`. `None`: a user who never
    /// set up Code Assist (no tier, no project; `onboardUser` then creates
    /// [`MOCK_MANAGED_PROJECT`]).
    pub fn set_code_assist_project(&self, project: Option<&str>) {
        *lock(&self.gemini_state().load_project) = project.map(str::to_owned);
    }
}

impl Fault {
    /// 429 `RESOURCE_EXHAUSTED` in Google's shape, with a `RetryInfo` delay.
    pub fn gemini_rate_limited(retry_delay_secs: u32) -> Self {
        Self::status(
            429,
            json!({"error": {
                "code": 429,
                "message": "Resource has been exhausted (e.g. check quota).",
                "status": "RESOURCE_EXHAUSTED",
                "details": [{
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": format!("{retry_delay_secs}s"),
                }],
            }})
            .to_string(),
        )
    }

    /// 503 `UNAVAILABLE` in Google's shape ("The model is overloaded").
    pub fn gemini_unavailable() -> Self {
        Self::status(
            503,
            gemini_error_json(
                503,
                "UNAVAILABLE",
                "The model is overloaded. Please try again later.",
            ),
        )
    }
}

// --- request parsing ------------------------------------------------------------------------

/// The public API key: `x-goog-api-key`, else `?key=`.
pub(crate) fn api_key(parts: &http::request::Parts) -> Option<&str> {
    parts
        .headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .or_else(|| {
            parts
                .uri
                .query()?
                .split('&')
                .find_map(|p| p.strip_prefix("key="))
                .filter(|v| !v.is_empty())
        })
}

fn wants_sse(parts: &http::request::Parts) -> bool {
    parts
        .uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "alt=sse"))
}

/// `(model, action)` from `/v1beta/models/{model}:{action}` or `/v1/models/…`.
fn public_target(path: &str) -> Option<(&str, &str)> {
    let rest = path
        .strip_prefix("/v1beta/models/")
        .or_else(|| path.strip_prefix("/v1/models/"))?;
    rest.rsplit_once(':')
}

/// The Code Assist method from `/v1internal:{method}`.
fn code_assist_method(path: &str) -> Option<&str> {
    path.strip_prefix("/v1internal:")
}

/// The response schema of a structured-output request, if any.
fn response_schema(request: &Value) -> Option<&Value> {
    let config = request.get("generationConfig")?;
    [
        "responseJsonSchema",
        "responseSchema",
        "response_json_schema",
        "response_schema",
    ]
    .iter()
    .find_map(|k| config.get(*k).filter(|v| !v.is_null()))
}

/// A value valid for a JSON Schema (or Gemini `Schema`, whose types are upper case): the first
/// enum value, the minimum or 1 for numbers, every property of an object.
pub fn value_for_schema(schema: &Value) -> Value {
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(first) = schema
            .get(key)
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return value_for_schema(first);
        }
    }
    let kind = match schema.get("type") {
        Some(Value::String(t)) => t.to_ascii_lowercase(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null")
            .to_ascii_lowercase(),
        _ if schema.get("properties").is_some() => "object".to_owned(),
        _ => "string".to_owned(),
    };
    match kind.as_str() {
        "object" => {
            let mut out = Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, prop) in props {
                    out.insert(name.clone(), value_for_schema(prop));
                }
            }
            Value::Object(out)
        }
        "array" => match schema.get("items") {
            Some(items) => Value::Array(vec![value_for_schema(items)]),
            None => Value::Array(Vec::new()),
        },
        "integer" | "number" => schema
            .get("minimum")
            .filter(|m| m.is_number())
            .cloned()
            .unwrap_or_else(|| json!(1)),
        "boolean" => Value::Bool(false),
        "null" => Value::Null,
        _ => Value::String("Simple, bounded request (MockUpstream).".to_owned()),
    }
}

// --- bodies ---------------------------------------------------------------------------------

fn usage_json(usage: &MockUsage, candidates: u64, thoughts: u64) -> String {
    let prompt = usage.input + usage.cache_read;
    let mut out = format!(
        r#"{{"promptTokenCount": {prompt},"candidatesTokenCount": {candidates},"totalTokenCount": {},"promptTokensDetails": [{{"modality": "TEXT","tokenCount": {prompt}}}]"#,
        prompt + candidates + thoughts
    );
    if usage.cache_read > 0 {
        out.push_str(&format!(
            r#","cachedContentTokenCount": {}"#,
            usage.cache_read
        ));
    }
    if thoughts > 0 {
        out.push_str(&format!(r#","thoughtsTokenCount": {thoughts}"#));
    }
    out.push('}');
    out
}

fn chunk_json(model: &str, text: &str, finish: bool, usage: &str) -> String {
    let finish = if finish {
        r#","finishReason": "STOP""#
    } else {
        ""
    };
    format!(
        r#"{{"candidates": [{{"content": {{"parts": [{{"text": {}}}],"role": "model"}}{finish},"index": 0}}],"usageMetadata": {usage},"modelVersion": {},"responseId": "{RESPONSE_ID}"}}"#,
        js(text),
        js(model)
    )
}

fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

fn wrap(inner: &str) -> String {
    format!(r#"{{"response": {inner},"traceId": "{TRACE_ID}"}}"#)
}

/// The text pieces of a response: the delta texts, or one JSON answer for a schema.
fn pieces(deltas: usize, schema: Option<&Value>) -> Vec<String> {
    match schema {
        Some(s) => vec![value_for_schema(s).to_string()],
        None if deltas == 0 => vec![String::new()],
        None => (0..deltas).map(|i| delta_text(i).to_owned()).collect(),
    }
}

/// The public-API response chunks (JSON objects) of a stream: usage cumulative, the last one
/// complete with `finishReason`.
pub fn gemini_chunks(model: &str, usage: &MockUsage, pieces: &[String]) -> Vec<String> {
    let thoughts = usage.reasoning;
    let candidates = usage.output.saturating_sub(usage.reasoning);
    let n = pieces.len().max(1) as u64;
    pieces
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let done = i + 1 == pieces.len();
            let so_far = if done {
                candidates
            } else {
                candidates * (i as u64 + 1) / n
            };
            chunk_json(model, text, done, &usage_json(usage, so_far, thoughts))
        })
        .collect()
}

/// The whole (non-stream) public response.
pub fn gemini_response_json(model: &str, usage: &MockUsage, pieces: &[String]) -> String {
    let text: String = pieces.concat();
    chunk_json(
        model,
        &text,
        true,
        &usage_json(
            usage,
            usage.output.saturating_sub(usage.reasoning),
            usage.reasoning,
        ),
    )
}

fn sse_events(chunks: &[String]) -> Vec<Bytes> {
    chunks
        .iter()
        .map(|c| Bytes::from(format!("data: {c}\r\n\r\n")))
        .collect()
}

/// The streamed JSON array: `[` + first, `,\r\n` + each next, then `]`.
fn array_events(chunks: &[String]) -> Vec<Bytes> {
    let mut events: Vec<Bytes> = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| Bytes::from(format!("{}{c}", if i == 0 { "[" } else { "\r\n,\r\n" })))
        .collect();
    events.push(Bytes::from_static(if chunks.is_empty() {
        b"[]"
    } else {
        b"\r\n]"
    }));
    events
}

/// The exact bytes of a default public `streamGenerateContent?alt=sse` stream.
pub fn gemini_stream_bytes(model: &str, usage: &MockUsage, deltas: usize) -> Vec<u8> {
    crate::bodies::concat(&sse_events(&gemini_chunks(
        model,
        usage,
        &pieces(deltas, None),
    )))
}

/// The exact bytes of a default Code Assist `streamGenerateContent?alt=sse` stream.
pub fn code_assist_stream_bytes(model: &str, usage: &MockUsage, deltas: usize) -> Vec<u8> {
    let chunks: Vec<String> = gemini_chunks(model, usage, &pieces(deltas, None))
        .iter()
        .map(|c| wrap(c))
        .collect();
    crate::bodies::concat(&sse_events(&chunks))
}

fn google_error(status: StatusCode, name: &str, message: &str) -> Reply {
    Reply::Json {
        status,
        headers: Vec::new(),
        body: gemini_error_json(status.as_u16(), name, message),
    }
}

fn ok(body: String) -> Reply {
    Reply::Json {
        status: StatusCode::OK,
        headers: Vec::new(),
        body,
    }
}

fn stream_reply(chunks: &[String], sse: bool) -> Reply {
    if sse {
        Reply::Sse {
            headers: Vec::new(),
            events: sse_events(chunks),
        }
    } else {
        // The array form is JSON; `build` lets these headers override the SSE content type.
        Reply::Sse {
            headers: vec![("content-type", "application/json; charset=UTF-8".to_owned())],
            events: array_events(chunks),
        }
    }
}

fn prompt_tokens(usage: &MockUsage) -> String {
    format!(
        r#"{{"totalTokens": {},"promptTokensDetails": [{{"modality": "TEXT","tokenCount": {}}}]}}"#,
        usage.input + usage.cache_read,
        usage.input + usage.cache_read
    )
}

// --- handlers -------------------------------------------------------------------------------

/// `POST /v1beta/models/{model}:{action}` and `/v1/models/…`.
pub(crate) fn public_api(
    parts: &http::request::Parts,
    body: &[u8],
    usage: &MockUsage,
    deltas: usize,
) -> Reply {
    if api_key(parts).is_none() {
        return google_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        );
    }
    let Some((model, action)) = public_target(parts.uri.path()) else {
        return google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Not found");
    };
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "Invalid JSON payload received.",
        );
    };
    let model = if model.is_empty() {
        DEFAULT_MODEL
    } else {
        model
    };
    let pieces = pieces(deltas, response_schema(&request));
    match action {
        "generateContent" => ok(gemini_response_json(model, usage, &pieces)),
        "streamGenerateContent" => {
            stream_reply(&gemini_chunks(model, usage, &pieces), wants_sse(parts))
        }
        "countTokens" => ok(prompt_tokens(usage)),
        _ => google_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("models/{model} is not found for method {action}"),
        ),
    }
}

/// `POST /v1internal:{method}`.
pub(crate) fn code_assist(
    state: &GeminiState,
    parts: &http::request::Parts,
    body: &[u8],
    usage: &MockUsage,
    deltas: usize,
) -> Reply {
    let bearer = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.is_empty());
    if bearer.is_none() {
        return google_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        );
    }
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Some(project) = request.get("project").and_then(Value::as_str) {
        lock(&state.projects).push(project.to_owned());
    }
    if let Some(name) = parts.uri.path().strip_prefix("/v1internal/") {
        // Long-running operation polling (`GET /v1internal/operations/…`): always done.
        return ok(format!(r#"{{"name":{},"done":true}}"#, js(name)));
    }
    let method = code_assist_method(parts.uri.path()).unwrap_or("");
    match method {
        "generateContent" | "streamGenerateContent" => {
            if request.get("request").is_none_or(|r| !r.is_object()) {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "Invalid JSON payload received. Missing `request`.",
                );
            }
            let model = request
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or(DEFAULT_MODEL);
            let pieces = pieces(deltas, response_schema(&request["request"]));
            if method == "generateContent" {
                ok(wrap(&gemini_response_json(model, usage, &pieces)))
            } else {
                let chunks: Vec<String> = gemini_chunks(model, usage, &pieces)
                    .iter()
                    .map(|c| wrap(c))
                    .collect();
                stream_reply(&chunks, wants_sse(parts))
            }
        }
        "countTokens" => ok(format!(
            r#"{{"totalTokens": {}}}"#,
            usage.input + usage.cache_read
        )),
        "loadCodeAssist" => {
            let free = r#"{"id":"free-tier","name":"Gemini Code Assist for individuals","description":"Mock free tier","userDefinedCloudaicompanionProject":false,"isDefault":true}"#;
            match lock(&state.load_project).clone() {
                Some(project) => ok(format!(
                    r#"{{"currentTier":{free},"allowedTiers":[{free}],"cloudaicompanionProject":{},"gcpManaged":false}}"#,
                    js(&project)
                )),
                None => ok(format!(r#"{{"allowedTiers":[{free}]}}"#)),
            }
        }
        "onboardUser" => {
            *lock(&state.load_project) = Some(MOCK_MANAGED_PROJECT.to_owned());
            ok(format!(
                r#"{{"name":"operations/mock-onboard","done":true,"response":{{"@type":"type.googleapis.com/google.internal.cloud.code.v1internal.OnboardUserResponse","cloudaicompanionProject":{{"id":"{MOCK_MANAGED_PROJECT}","name":"Mock managed project"}}}}}}"#
            ))
        }
        "retrieveUserQuota" => ok(
            r#"{"buckets":[{"remainingAmount":"990","remainingFraction":0.99,"resetTime":"2030-01-01T00:00:00Z","tokenType":"REQUESTS","modelId":"gemini-2.5-pro"}]}"#
                .to_owned(),
        ),
        "listExperiments" => ok(r#"{"experimentIds":[],"flags":[]}"#.to_owned()),
        "getCodeAssistGlobalUserSetting" => {
            ok(r#"{"freeTierDataCollectionOptin":false}"#.to_owned())
        }
        _ => google_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("Method v1internal:{method} not found"),
        ),
    }
}

/// `ErrorEventAfter200` on a Gemini stream: one chunk, then an in-stream error object. `None`
/// for calls that do not stream (they answer normally).
pub(crate) fn error_stream(
    parts: &http::request::Parts,
    body: &[u8],
    usage: &MockUsage,
    code_assist: bool,
) -> Option<Reply> {
    let path = parts.uri.path();
    let action = if code_assist {
        code_assist_method(path)
    } else {
        public_target(path).map(|(_, a)| a)
    };
    if action != Some("streamGenerateContent") {
        return None;
    }
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let model = if code_assist {
        request
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_MODEL)
            .to_owned()
    } else {
        public_target(parts.uri.path())
            .map_or(DEFAULT_MODEL, |(m, _)| m)
            .to_owned()
    };
    let mut first = chunk_json(
        &model,
        delta_text(0),
        false,
        &usage_json(usage, 1, usage.reasoning),
    );
    if code_assist {
        first = wrap(&first);
    }
    let error = gemini_error_json(500, "INTERNAL", "An internal error has occurred.");
    let chunks = [first, error];
    Some(if wants_sse(parts) {
        Reply::Sse {
            headers: Vec::new(),
            events: sse_events(&chunks),
        }
    } else {
        // A broken array: no closing bracket.
        let mut events = array_events(&chunks);
        events.pop();
        Reply::Sse {
            headers: vec![("content-type", "application/json; charset=UTF-8".to_owned())],
            events,
        }
    })
}

/// `POST /token`: Google's refresh grant (form-encoded). No new refresh token comes back, as
/// with Google.
pub(crate) fn google_token(state: &GeminiState, body: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(body);
    let field = |name: &str| {
        text.split('&')
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
            .filter(|v| !v.is_empty())
    };
    let error = |error: &str, description: &str| Reply::Json {
        status: StatusCode::BAD_REQUEST,
        headers: Vec::new(),
        body: json!({"error": error, "error_description": description}).to_string(),
    };
    if field("grant_type") != Some("refresh_token") {
        return error(
            "unsupported_grant_type",
            "Invalid grant_type: only refresh_token is supported by the mock.",
        );
    }
    if field("refresh_token").is_none() {
        return error(
            "invalid_request",
            "Missing required parameter: refresh_token",
        );
    }
    if field("client_id").is_none() {
        return Reply::Json {
            status: StatusCode::UNAUTHORIZED,
            headers: Vec::new(),
            body: json!({"error": "invalid_client", "error_description": "The OAuth client was not found."}).to_string(),
        };
    }
    let n = state.tokens_issued.fetch_add(1, Ordering::Relaxed) + 1;
    ok(json!({
        "access_token": format!("ya29.mock-{n}"),
        "expires_in": 3599,
        "scope": "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email openid",
        "token_type": "Bearer",
        "id_token": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJtb2NrIn0.c2ln",
    })
    .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_schemas_get_valid_answers() {
        // Gemini CLI's classifier router (`classifierStrategy.ts`).
        let classifier = json!({"type":"OBJECT","properties":{
            "reasoning":{"type":"STRING","description":"…"},
            "model_choice":{"type":"STRING","enum":["flash","pro"]}},
            "required":["reasoning","model_choice"]});
        let v = value_for_schema(&classifier);
        assert_eq!(v["model_choice"], "flash");
        assert!(v["reasoning"].is_string());
        // The numerical router (`numericalClassifierStrategy.ts`), score 1–100.
        let numerical = json!({"type":"object","properties":{
            "complexity_reasoning":{"type":"string"},
            "complexity_score":{"type":"integer"}},
            "required":["complexity_reasoning","complexity_score"]});
        let v = value_for_schema(&numerical);
        assert_eq!(v["complexity_score"], 1);
        assert!(v["complexity_reasoning"].is_string());
        assert_eq!(
            value_for_schema(&json!({"type":"array","items":{"type":"boolean"}})),
            json!([false])
        );
        assert_eq!(
            value_for_schema(&json!({"type":["null","number"],"minimum":5})),
            json!(5)
        );
    }

    #[test]
    fn bodies_parse_and_add_up() {
        let usage = MockUsage {
            input: 10,
            output: 30,
            cache_read: 4,
            reasoning: 8,
            ..MockUsage::default()
        };
        let pieces = pieces(3, None);
        let chunks = gemini_chunks("gemini-2.5-pro", &usage, &pieces);
        assert_eq!(chunks.len(), 3);
        let last: Value = serde_json::from_str(&chunks[2]).unwrap();
        let u = &last["usageMetadata"];
        assert_eq!(u["promptTokenCount"], 14);
        assert_eq!(u["cachedContentTokenCount"], 4);
        assert_eq!(u["candidatesTokenCount"], 22);
        assert_eq!(u["thoughtsTokenCount"], 8);
        assert_eq!(u["totalTokenCount"], 44);
        assert_eq!(last["candidates"][0]["finishReason"], "STOP");
        let first: Value = serde_json::from_str(&chunks[0]).unwrap();
        assert!(first["candidates"][0].get("finishReason").is_none());
        assert_eq!(first["usageMetadata"]["candidatesTokenCount"], 7);
        let array = crate::bodies::concat(&array_events(&chunks));
        let v: Value = serde_json::from_slice(&array).unwrap();
        assert_eq!(v.as_array().map(Vec::len), Some(3));
        assert_eq!(crate::bodies::concat(&array_events(&[])), b"[]");
        let sse = String::from_utf8(gemini_stream_bytes("m", &usage, 2)).unwrap();
        assert_eq!(sse.matches("\r\n\r\n").count(), 2);
        let ca = String::from_utf8(code_assist_stream_bytes("m", &usage, 2)).unwrap();
        for event in ca.split("\r\n\r\n").filter(|e| !e.is_empty()) {
            let v: Value = serde_json::from_str(event.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(v["traceId"], TRACE_ID);
            assert!(v["response"]["usageMetadata"].is_object());
        }
        let whole: Value =
            serde_json::from_str(&gemini_response_json("m", &usage, &pieces)).unwrap();
        assert_eq!(
            whole["candidates"][0]["content"]["parts"][0]["text"],
            crate::bodies::full_text(3)
        );
    }
}
