//! Deterministic response bodies in the shapes documented in
//! `docs/upstream-protocols.md` (§1 Anthropic, §2 Responses, §3 Chat Completions).
//!
//! Everything here is a pure function of its arguments, so tests can compute the exact bytes the
//! mock sends and assert byte-exact passthrough.

use bytes::Bytes;

/// Token counts the mock reports.
///
/// `input` is *uncached* input (Anthropic semantics). For the OpenAI dialects the mock reports
/// `prompt_tokens`/`input_tokens = input + cache_read` with `cached_tokens = cache_read`, and
/// `output_tokens` = `output` with `reasoning_tokens = reasoning` (keep `reasoning <= output`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MockUsage {
    pub input: u64,
    pub output: u64,
    pub cache_creation_5m: u64,
    pub cache_creation_1h: u64,
    pub cache_read: u64,
    /// Only used by the OpenAI dialects (part of `output`).
    pub reasoning: u64,
}

impl Default for MockUsage {
    fn default() -> Self {
        Self {
            input: 16,
            output: 38,
            cache_creation_5m: 0,
            cache_creation_1h: 0,
            cache_read: 0,
            reasoning: 0,
        }
    }
}

/// Default number of text deltas per stream.
pub const DEFAULT_DELTAS: usize = 6;

/// Fixed `created` timestamp used in OpenAI bodies (keeps bodies deterministic).
const CREATED: u64 = 1_759_350_264;

/// Text pieces cycled through by the deltas: multi-byte UTF-8 (2, 3 and 4 bytes) on purpose.
const PIECES: &[&str] = &[
    "Olá", "! Café", " ☕", " e", " pão", " 🍞", "?", " Até", " já", ",", " ação", " 😀",
];

/// The text of delta `i`.
pub fn delta_text(i: usize) -> &'static str {
    PIECES[i % PIECES.len()]
}

/// The full text produced by `deltas` deltas (what a non-stream response contains).
pub fn full_text(deltas: usize) -> String {
    (0..deltas).map(delta_text).collect()
}

/// JSON string literal (with quotes) for `s`.
fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

/// Inserts `pad` spaces before the final `}` of a JSON object, like the real Anthropic API.
fn padded(mut json: String, pad: usize) -> String {
    if json.ends_with('}') {
        json.pop();
        json.extend(std::iter::repeat_n(' ', pad));
        json.push('}');
    }
    json
}

fn sse(event: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

fn data_only(data: &str) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

// ---------------------------------------------------------------------------------------------
// Anthropic Messages
// ---------------------------------------------------------------------------------------------

/// The events (one `Bytes` per SSE event) of a default Anthropic stream.
pub fn anthropic_stream_events(model: &str, usage: &MockUsage, deltas: usize) -> Vec<Bytes> {
    let model = js(model);
    let cache_creation = usage.cache_creation_5m + usage.cache_creation_1h;
    let mut events = Vec::with_capacity(deltas + 6);
    events.push(sse(
        "message_start",
        &padded(
            format!(
                concat!(
                    r#"{{"type":"message_start","message":{{"id":"msg_01MockUpstreamStream00001","#,
                    r#""type":"message","role":"assistant","model":{},"content":[],"#,
                    r#""stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":{},"#,
                    r#""cache_creation_input_tokens":{},"cache_read_input_tokens":{},"#,
                    r#""cache_creation":{{"ephemeral_5m_input_tokens":{},"#,
                    r#""ephemeral_1h_input_tokens":{}}},"output_tokens":{},"#,
                    r#""service_tier":"standard"}}}}}}"#
                ),
                model,
                usage.input,
                cache_creation,
                usage.cache_read,
                usage.cache_creation_5m,
                usage.cache_creation_1h,
                usage.output.min(1),
            ),
            15,
        ),
    ));
    events.push(sse(
        "content_block_start",
        &padded(
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#
                .to_owned(),
            10,
        ),
    ));
    let ping = sse("ping", r#"{"type": "ping"}"#);
    if deltas == 0 {
        events.push(ping.clone());
    }
    for i in 0..deltas {
        events.push(sse(
            "content_block_delta",
            &padded(
                format!(
                    r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":{}}}}}"#,
                    js(delta_text(i))
                ),
                5 + i % 4,
            ),
        ));
        if i == 0 {
            events.push(ping.clone());
        }
    }
    events.push(sse(
        "content_block_stop",
        &padded(r#"{"type":"content_block_stop","index":0}"#.to_owned(), 10),
    ));
    events.push(sse(
        "message_delta",
        &padded(
            format!(
                concat!(
                    r#"{{"type":"message_delta","delta":{{"stop_reason":"end_turn","stop_sequence":null}},"#,
                    r#""usage":{{"input_tokens":{},"cache_creation_input_tokens":{},"#,
                    r#""cache_read_input_tokens":{},"output_tokens":{}}}}}"#
                ),
                usage.input, cache_creation, usage.cache_read, usage.output
            ),
            6,
        ),
    ));
    events.push(sse(
        "message_stop",
        &padded(r#"{"type":"message_stop"}"#.to_owned(), 1),
    ));
    events
}

/// The exact bytes the mock sends for a default (fault-free, unchunked-content) Anthropic stream.
pub fn anthropic_stream_bytes(model: &str, usage: &MockUsage, deltas: usize) -> Vec<u8> {
    concat(&anthropic_stream_events(model, usage, deltas))
}

/// A 200 stream that breaks with `event: error` (overloaded) after message_start, the content
/// block start and one delta; no `message_stop` follows.
pub fn anthropic_error_stream_events(model: &str, usage: &MockUsage) -> Vec<Bytes> {
    let mut events = anthropic_stream_events(model, usage, 1);
    events.truncate(3);
    events.push(sse(
        "error",
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    ));
    events
}

/// A non-stream Anthropic message.
pub fn anthropic_message_json(model: &str, usage: &MockUsage, deltas: usize) -> String {
    format!(
        concat!(
            r#"{{"id":"msg_01MockUpstreamMessage0001","type":"message","role":"assistant","#,
            r#""model":{},"content":[{{"type":"text","text":{}}}],"stop_reason":"end_turn","#,
            r#""stop_sequence":null,"usage":{{"input_tokens":{},"cache_creation_input_tokens":{},"#,
            r#""cache_read_input_tokens":{},"cache_creation":{{"ephemeral_5m_input_tokens":{},"#,
            r#""ephemeral_1h_input_tokens":{}}},"output_tokens":{},"service_tier":"standard"}}}}"#
        ),
        js(model),
        js(&full_text(deltas)),
        usage.input,
        usage.cache_creation_5m + usage.cache_creation_1h,
        usage.cache_read,
        usage.cache_creation_5m,
        usage.cache_creation_1h,
        usage.output,
    )
}

/// An Anthropic error body.
pub fn anthropic_error_json(error_type: &str, message: &str) -> String {
    format!(
        r#"{{"type":"error","error":{{"type":{},"message":{}}},"request_id":"req_011MockUpstream"}}"#,
        js(error_type),
        js(message)
    )
}

// ---------------------------------------------------------------------------------------------
// OpenAI Responses
// ---------------------------------------------------------------------------------------------

const RESP_ID: &str = "resp_0mockupstream0000000000000001";
const RESP_ITEM: &str = "msg_0mockupstream0000000000000001";

fn responses_usage(usage: &MockUsage) -> String {
    let input = usage.input + usage.cache_read;
    format!(
        concat!(
            r#"{{"input_tokens":{},"input_tokens_details":{{"cached_tokens":{}}},"#,
            r#""output_tokens":{},"output_tokens_details":{{"reasoning_tokens":{}}},"total_tokens":{}}}"#
        ),
        input,
        usage.cache_read,
        usage.output,
        usage.reasoning,
        input + usage.output
    )
}

fn responses_item(text: &str, status: &str) -> String {
    format!(
        concat!(
            r#"{{"id":"{}","type":"message","status":"{}","content":[{{"type":"output_text","#,
            r#""annotations":[],"logprobs":[],"text":{}}}],"role":"assistant"}}"#
        ),
        RESP_ITEM,
        status,
        js(text)
    )
}

/// A Responses API `response` object. `status` is `in_progress`, `completed` or `failed`.
fn responses_object(model: &str, status: &str, output: &str, usage: &str, error: &str) -> String {
    format!(
        concat!(
            r#"{{"id":"{}","object":"response","created_at":{},"status":"{}","background":false,"#,
            r#""error":{},"incomplete_details":null,"model":{},"output":[{}],"#,
            r#""parallel_tool_calls":false,"store":false,"usage":{}}}"#
        ),
        RESP_ID,
        CREATED,
        status,
        error,
        js(model),
        output,
        usage
    )
}

fn responses_prefix(model: &str, seq: &mut u64) -> Vec<Bytes> {
    let mut events = Vec::new();
    let mut push = |event: &str, body: String| {
        let data = format!(r#"{{"type":"{event}","sequence_number":{seq},{body}"#);
        *seq += 1;
        events.push(sse(event, &data));
    };
    let in_progress = responses_object(model, "in_progress", "", "null", "null");
    push("response.created", format!(r#""response":{in_progress}}}"#));
    push(
        "response.in_progress",
        format!(r#""response":{in_progress}}}"#),
    );
    push(
        "response.output_item.added",
        format!(
            r#""output_index":0,"item":{{"id":"{RESP_ITEM}","type":"message","status":"in_progress","content":[],"role":"assistant"}}}}"#
        ),
    );
    push(
        "response.content_part.added",
        format!(
            r#""item_id":"{RESP_ITEM}","output_index":0,"content_index":0,"part":{{"type":"output_text","annotations":[],"logprobs":[],"text":""}}}}"#
        ),
    );
    events
}

fn responses_delta(i: usize, seq: &mut u64) -> Bytes {
    let data = format!(
        r#"{{"type":"response.output_text.delta","sequence_number":{seq},"item_id":"{RESP_ITEM}","output_index":0,"content_index":0,"delta":{},"logprobs":[],"obfuscation":"GnLMSVqNdN{:03}"}}"#,
        js(delta_text(i)),
        i % 1000
    );
    *seq += 1;
    sse("response.output_text.delta", &data)
}

/// The events of a default Responses API stream (no `[DONE]`, per the real API).
pub fn responses_stream_events(model: &str, usage: &MockUsage, deltas: usize) -> Vec<Bytes> {
    let mut seq = 0;
    let mut events = responses_prefix(model, &mut seq);
    for i in 0..deltas {
        events.push(responses_delta(i, &mut seq));
    }
    let text = js(&full_text(deltas));
    let mut push = |event: &str, body: String| {
        let data = format!(r#"{{"type":"{event}","sequence_number":{seq},{body}"#);
        seq += 1;
        events.push(sse(event, &data));
    };
    push(
        "response.output_text.done",
        format!(
            r#""item_id":"{RESP_ITEM}","output_index":0,"content_index":0,"text":{text},"logprobs":[]}}"#
        ),
    );
    push(
        "response.content_part.done",
        format!(
            r#""item_id":"{RESP_ITEM}","output_index":0,"content_index":0,"part":{{"type":"output_text","annotations":[],"logprobs":[],"text":{text}}}}}"#
        ),
    );
    push(
        "response.output_item.done",
        format!(
            r#""output_index":0,"item":{}}}"#,
            responses_item(&full_text(deltas), "completed")
        ),
    );
    push(
        "response.completed",
        format!(
            r#""response":{}}}"#,
            responses_completed_json(model, usage, deltas)
        ),
    );
    events
}

/// The exact bytes of a default Responses API stream.
pub fn responses_stream_bytes(model: &str, usage: &MockUsage, deltas: usize) -> Vec<u8> {
    concat(&responses_stream_events(model, usage, deltas))
}

/// A Responses stream that fails after one delta with `response.failed`.
pub fn responses_error_stream_events(model: &str) -> Vec<Bytes> {
    let mut seq = 0;
    let mut events = responses_prefix(model, &mut seq);
    events.push(responses_delta(0, &mut seq));
    let failed = responses_object(
        model,
        "failed",
        "",
        "null",
        r#"{"code":"server_error","message":"The server had an error while processing your request."}"#,
    );
    events.push(sse(
        "response.failed",
        &format!(r#"{{"type":"response.failed","sequence_number":{seq},"response":{failed}}}"#),
    ));
    events
}

/// The completed `response` object (also the non-stream body).
pub fn responses_completed_json(model: &str, usage: &MockUsage, deltas: usize) -> String {
    responses_object(
        model,
        "completed",
        &responses_item(&full_text(deltas), "completed"),
        &responses_usage(usage),
        "null",
    )
}

// ---------------------------------------------------------------------------------------------
// OpenAI Chat Completions
// ---------------------------------------------------------------------------------------------

const CHAT_ID: &str = "chatcmpl-MockUpstream0000000000000001";

fn chat_usage(usage: &MockUsage) -> String {
    let prompt = usage.input + usage.cache_read;
    format!(
        concat!(
            r#"{{"prompt_tokens":{},"prompt_tokens_details":{{"cached_tokens":{},"audio_tokens":0}},"#,
            r#""completion_tokens":{},"completion_tokens_details":{{"reasoning_tokens":{},"audio_tokens":0,"#,
            r#""accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"total_tokens":{}}}"#
        ),
        prompt,
        usage.cache_read,
        usage.output,
        usage.reasoning,
        prompt + usage.output
    )
}

fn chat_chunk(model: &str, choices: &str, usage: Option<&str>) -> Bytes {
    let usage = usage
        .map(|u| format!(r#","usage":{u}"#))
        .unwrap_or_default();
    data_only(&format!(
        r#"{{"id":"{CHAT_ID}","object":"chat.completion.chunk","created":{CREATED},"model":{},"system_fingerprint":null,"choices":[{choices}]{usage}}}"#,
        js(model)
    ))
}

fn chat_delta_choice(i: usize) -> String {
    format!(
        r#"{{"index":0,"delta":{{"content":{}}},"finish_reason":null,"logprobs":null}}"#,
        js(delta_text(i))
    )
}

const CHAT_ROLE_CHOICE: &str = r#"{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"finish_reason":null,"logprobs":null}"#;

/// The events of a default Chat Completions stream. With `include_usage`, every chunk carries
/// `"usage":null` and a final `choices: []` usage chunk precedes `data: [DONE]`.
pub fn chat_stream_events(
    model: &str,
    usage: &MockUsage,
    deltas: usize,
    include_usage: bool,
) -> Vec<Bytes> {
    let null = include_usage.then_some("null");
    let mut events = Vec::with_capacity(deltas + 4);
    events.push(chat_chunk(model, CHAT_ROLE_CHOICE, null));
    for i in 0..deltas {
        events.push(chat_chunk(model, &chat_delta_choice(i), null));
    }
    events.push(chat_chunk(
        model,
        r#"{"index":0,"delta":{},"finish_reason":"stop","logprobs":null}"#,
        null,
    ));
    if include_usage {
        events.push(chat_chunk(model, "", Some(&chat_usage(usage))));
    }
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    events
}

/// The exact bytes of a default Chat Completions stream.
pub fn chat_stream_bytes(
    model: &str,
    usage: &MockUsage,
    deltas: usize,
    include_usage: bool,
) -> Vec<u8> {
    concat(&chat_stream_events(model, usage, deltas, include_usage))
}

/// A Chat Completions stream that breaks with an in-stream error object after one delta.
pub fn chat_error_stream_events(model: &str) -> Vec<Bytes> {
    vec![
        chat_chunk(model, CHAT_ROLE_CHOICE, None),
        chat_chunk(model, &chat_delta_choice(0), None),
        data_only(&openai_error_json(
            "server_error",
            "The server had an error while processing your request.",
            None,
        )),
    ]
}

/// A non-stream Chat Completions body.
pub fn chat_completion_json(model: &str, usage: &MockUsage, deltas: usize) -> String {
    format!(
        concat!(
            r#"{{"id":"{}","object":"chat.completion","created":{},"model":{},"choices":[{{"index":0,"#,
            r#""message":{{"role":"assistant","content":{},"refusal":null,"annotations":[]}},"#,
            r#""finish_reason":"stop","logprobs":null}}],"usage":{},"system_fingerprint":null}}"#
        ),
        CHAT_ID,
        CREATED,
        js(model),
        js(&full_text(deltas)),
        chat_usage(usage)
    )
}

/// An OpenAI error body.
pub fn openai_error_json(error_type: &str, message: &str, code: Option<&str>) -> String {
    format!(
        r#"{{"error":{{"message":{},"type":{},"param":null,"code":{}}}}}"#,
        js(message),
        js(error_type),
        code.map_or_else(|| "null".to_owned(), js)
    )
}

// ---------------------------------------------------------------------------------------------
// Account health-check probes
// ---------------------------------------------------------------------------------------------

/// Seconds after "now" of `five_hour.resets_at` in the Claude OAuth usage body (~3 h).
pub const CLAUDE_FIVE_HOUR_RESET_SECS: u64 = 3 * 3600;
/// Seconds after "now" of `seven_day.resets_at` in the Claude OAuth usage body (~5 days).
pub const CLAUDE_SEVEN_DAY_RESET_SECS: u64 = 5 * 86_400;
/// Default `five_hour.utilization` (0–100) of the Claude OAuth usage body.
pub const DEFAULT_CLAUDE_FIVE_HOUR: f64 = 24.0;
/// Default `seven_day.utilization` (0–100) of the Claude OAuth usage body.
pub const DEFAULT_CLAUDE_SEVEN_DAY: f64 = 36.0;
/// Default `rate_limit.primary_window.used_percent` of the ChatGPT usage body.
pub const DEFAULT_CODEX_USED_PERCENT: f64 = 3.0;

/// `GET claude.ai/api/organizations`.
pub const CLAUDE_ORGANIZATIONS_JSON: &str =
    r#"[{"uuid":"org-uuid-1","name":"Org","capabilities":["chat","claude_pro"]}]"#;
/// `GET /v1/models` in the OpenAI shape.
pub const OPENAI_MODELS_JSON: &str =
    r#"{"object":"list","data":[{"id":"gpt-5","object":"model","created":1,"owned_by":"openai"}]}"#;
/// `GET /v1/models` in the Anthropic shape (requests with `anthropic-version`).
pub const ANTHROPIC_MODELS_JSON: &str = concat!(
    r#"{"data":[{"type":"model","id":"claude-sonnet-4-5","display_name":"Claude Sonnet 4.5","#,
    r#""created_at":"2025-09-29T00:00:00Z"}],"has_more":false,"first_id":"claude-sonnet-4-5","#,
    r#""last_id":"claude-sonnet-4-5"}"#
);
/// `GET /v1beta/models` (Gemini).
pub const GEMINI_MODELS_JSON: &str =
    r#"{"models":[{"name":"models/gemini-2.5-pro","displayName":"Gemini 2.5 Pro"}]}"#;
/// `GET chatgpt.com/backend-api/accounts/check/v4-2023-04-27`.
pub const CODEX_ACCOUNT_CHECK_JSON: &str =
    r#"{"accounts":{"acct-123":{"account":{"account_id":"acct-123","plan_type":"plus"}}}}"#;

/// A JSON number: integral values without a fraction (`3`), others as `serde_json` writes them;
/// non-finite values become `null`.
fn num(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        // Integral and in range: the cast is exact.
        (v as i64).to_string()
    } else {
        serde_json::to_string(&v).unwrap_or_else(|_| String::from("null"))
    }
}

/// A JSON float that always keeps its fraction (`24.0`), like the Claude usage endpoint.
fn float(v: f64) -> String {
    serde_json::to_string(&v).unwrap_or_else(|_| String::from("null"))
}

/// `secs` (Unix time) plus `micros` as RFC 3339 UTC with microseconds and a `+00:00` offset,
/// e.g. `2026-01-02T19:59:59.600956+00:00`.
pub fn rfc3339(secs: u64, micros: u32) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_date(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        micros.min(999_999)
    )
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01.
fn civil_date(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of each (March-based) year.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// `GET api.anthropic.com/api/oauth/usage` at Unix time `now_secs` (+ `now_micros`):
/// `five_hour` resets in [`CLAUDE_FIVE_HOUR_RESET_SECS`], `seven_day` in
/// [`CLAUDE_SEVEN_DAY_RESET_SECS`].
pub fn claude_oauth_usage_json(
    five_hour: f64,
    seven_day: f64,
    now_secs: u64,
    now_micros: u32,
) -> String {
    format!(
        concat!(
            r#"{{"five_hour":{{"utilization":{},"resets_at":"{}"}},"#,
            r#""seven_day":{{"utilization":{},"resets_at":"{}"}},"#,
            r#""seven_day_sonnet":null,"seven_day_opus":null,"#,
            r#""extra_usage":{{"is_enabled":false,"monthly_limit":null,"used_credits":null,"utilization":null}}}}"#
        ),
        float(five_hour),
        rfc3339(now_secs + CLAUDE_FIVE_HOUR_RESET_SECS, now_micros),
        float(seven_day),
        rfc3339(now_secs + CLAUDE_SEVEN_DAY_RESET_SECS, now_micros),
    )
}

/// `GET chatgpt.com/backend-api/wham/usage` at Unix time `now_secs`.
pub fn codex_usage_json(primary_used_percent: f64, now_secs: u64) -> String {
    format!(
        concat!(
            r#"{{"plan_type":"plus","rate_limit":{{"allowed":true,"limit_reached":false,"#,
            r#""primary_window":{{"used_percent":{},"limit_window_seconds":18000,"#,
            r#""reset_after_seconds":15858,"reset_at":{}}},"#,
            r#""secondary_window":{{"used_percent":10,"limit_window_seconds":604800,"#,
            r#""reset_after_seconds":500000,"reset_at":{}}}}}}}"#
        ),
        num(primary_used_percent),
        now_secs + 15_858,
        now_secs + 500_000,
    )
}

/// A Gemini (Google API) error body.
pub fn gemini_error_json(code: u16, status: &str, message: &str) -> String {
    format!(
        r#"{{"error":{{"code":{code},"message":{},"status":{}}}}}"#,
        js(message),
        js(status)
    )
}

pub(crate) fn concat(events: &[Bytes]) -> Vec<u8> {
    let mut out = Vec::with_capacity(events.iter().map(Bytes::len).sum());
    for e in events {
        out.extend_from_slice(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_lines(bytes: &[u8]) -> Vec<serde_json::Value> {
        let text = std::str::from_utf8(bytes).unwrap();
        text.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    #[test]
    fn all_bodies_are_valid_json() {
        let u = MockUsage {
            cache_read: 3,
            reasoning: 4,
            ..MockUsage::default()
        };
        let m = "model-\"x\"";
        for bytes in [
            anthropic_stream_bytes(m, &u, 13),
            concat(&anthropic_error_stream_events(m, &u)),
            responses_stream_bytes(m, &u, 13),
            concat(&responses_error_stream_events(m)),
            chat_stream_bytes(m, &u, 13, true),
            concat(&chat_error_stream_events(m)),
        ] {
            assert!(!data_lines(&bytes).is_empty());
        }
        for body in [
            anthropic_message_json(m, &u, 3),
            responses_completed_json(m, &u, 3),
            chat_completion_json(m, &u, 3),
        ] {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["model"], m);
        }
        let resp = data_lines(&responses_stream_bytes(m, &u, 2));
        for (i, ev) in resp.iter().enumerate() {
            assert_eq!(ev["sequence_number"], i as u64);
        }
        assert_eq!(
            resp.last().unwrap()["response"]["usage"]["input_tokens"],
            19
        );
        let chat = data_lines(&chat_stream_bytes(m, &u, 2, false));
        assert!(chat.iter().all(|c| c.get("usage").is_none()));
    }

    #[test]
    fn probe_bodies_are_valid_json() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(
            rfc3339(1_767_383_999, 600_956),
            "2026-01-02T19:59:59.600956+00:00"
        );
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000000+00:00");
        let claude = claude_oauth_usage_json(24.0, 36.5, 0, 0);
        assert!(claude.contains(r#""utilization":24.0,"resets_at":"1970-01-01T03:00:00"#));
        let v: serde_json::Value = serde_json::from_str(&claude).unwrap();
        assert_eq!(v["seven_day"]["utilization"], 36.5);
        assert_eq!(
            v["seven_day"]["resets_at"],
            "1970-01-06T00:00:00.000000+00:00"
        );
        let codex = codex_usage_json(3.0, 100);
        assert!(codex.contains(r#""used_percent":3,"#));
        let v: serde_json::Value = serde_json::from_str(&codex).unwrap();
        assert_eq!(v["rate_limit"]["primary_window"]["reset_at"], 15_958);
        assert_eq!(v["rate_limit"]["secondary_window"]["used_percent"], 10);
        assert!(codex_usage_json(97.5, 0).contains(r#""used_percent":97.5,"#));
        for body in [
            CLAUDE_ORGANIZATIONS_JSON,
            OPENAI_MODELS_JSON,
            ANTHROPIC_MODELS_JSON,
            GEMINI_MODELS_JSON,
            CODEX_ACCOUNT_CHECK_JSON,
            &gemini_error_json(401, "UNAUTHENTICATED", "API key not valid"),
        ] {
            serde_json::from_str::<serde_json::Value>(body).unwrap();
        }
    }
}
