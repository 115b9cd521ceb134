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
}
