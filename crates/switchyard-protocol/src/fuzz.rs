//! Fuzz targets: one function per decoder or edit that faces untrusted bytes, each asserting
//! its invariants (a panic is a finding). The same functions run under `cargo fuzz` (the
//! `fuzz/` package, coverage-guided) and under proptest in this crate's tests, so the CI run
//! and a developer without the fuzzing toolchain exercise identical checks (ADR 0006).
//!
//! Inputs are split at a point derived from their first bytes: every stateful decoder must give
//! the same result whether its input arrives whole or in two pieces.

use serde_json::Value;
use switchyard_core::Dialect;

use crate::transform::StreamTransform;
use crate::{
    BedrockToAnthropic, ChatUsageStripper, ClientFraming, CodeAssistBodyUnwrap,
    CodeAssistSseToJsonArray, CodeAssistSseToPublic, EventStreamDecoder, SseDecoder, StreamEnd,
    StreamTap, code_assist, inspect_anthropic, inspect_chat, inspect_gemini, inspect_responses,
    json_edit, usage_from_body,
};

/// Splits `data` into (split point, payload): the first two bytes choose where to cut.
fn split(data: &[u8]) -> (usize, &[u8]) {
    let (head, payload) = data.split_at(data.len().min(2));
    let seed = head.iter().fold(0usize, |acc, b| acc * 256 + *b as usize);
    (seed % (payload.len() + 1), payload)
}

const DIALECTS: [Dialect; 4] = [
    Dialect::Anthropic,
    Dialect::OpenaiChat,
    Dialect::OpenaiResponses,
    Dialect::Gemini,
];

/// The SSE decoder: the same events whole or split, none over the size bound; the usage taps
/// never panic on what it hands them.
pub fn sse(data: &[u8]) {
    let (at, payload) = split(data);
    let decode = |chunks: &[&[u8]]| {
        let mut dec = SseDecoder::with_max_event_size(4096);
        let mut events = Vec::new();
        let mut push = |e: &crate::SseEvent<'_>| {
            events.push((e.event.to_string(), e.data.to_string(), e.truncated));
        };
        for c in chunks {
            dec.feed(c, &mut push);
        }
        dec.finish(&mut push);
        events
    };
    let whole = decode(&[payload]);
    let parts = decode(&[&payload[..at], &payload[at..]]);
    assert_eq!(whole, parts, "split at {at} changed the events");
    for (_, data, _) in &whole {
        assert!(data.len() <= 4096);
    }
    for dialect in DIALECTS {
        let mut tap = StreamTap::new(dialect);
        tap.feed(&payload[..at]);
        tap.feed(&payload[at..]);
        tap.finish();
        let _ = usage_from_body(dialect, payload);
    }
}

/// The Bedrock event-stream decoder and its Anthropic re-emission: the same frames and output
/// whole or split.
pub fn eventstream(data: &[u8]) {
    let (at, payload) = split(data);
    let frames = |chunks: &[&[u8]]| {
        let mut dec = EventStreamDecoder::with_max_frame_len(64 * 1024);
        let mut out = Vec::new();
        for c in chunks {
            dec.push(c);
            loop {
                match dec.next_frame() {
                    Ok(Some(f)) => out.push(Ok(format!("{:?}", f.event_type()))),
                    Ok(None) => break,
                    Err(e) => {
                        out.push(Err(e.to_string()));
                        break;
                    }
                }
            }
        }
        (out, dec.finish().is_ok())
    };
    let whole = frames(&[payload]);
    let parts = frames(&[&payload[..at], &payload[at..]]);
    // A decoding error may be found at a different frame count when the bytes arrive in two
    // pieces, but the frames decoded before it and the verdict must agree.
    let oks = |v: &(Vec<Result<String, String>>, bool)| {
        v.0.iter()
            .filter(|r| r.is_ok())
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(oks(&whole), oks(&parts));
    assert_eq!(whole.1, parts.1);
    let transformed = |chunks: &[&[u8]]| {
        let mut t = BedrockToAnthropic::new();
        let mut out = Vec::new();
        for c in chunks {
            t.push(c, &mut out);
        }
        t.finish(&mut out);
        out
    };
    assert_eq!(
        transformed(&[payload]),
        transformed(&[&payload[..at], &payload[at..]])
    );
}

/// Every dialect's request inspection: never a panic, and what it accepts is JSON in
/// structure. (Invalid UTF-8 inside a string it skips is accepted: the bytes pass untouched and
/// the upstream judges them.)
pub fn inspect(data: &[u8]) {
    let accepted = [
        inspect_anthropic(data).is_ok(),
        inspect_chat(data).is_ok(),
        inspect_responses(data).is_ok(),
    ];
    if accepted.iter().any(|a| *a) {
        let lossy = String::from_utf8_lossy(data);
        assert!(serde_json::from_str::<Value>(&lossy).is_ok());
    }
    for path in [
        "/v1beta/models/gemini-2.5-flash:generateContent",
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        "/v1internal:generateContent",
    ] {
        let _ = inspect_gemini(path, data);
    }
    if let Ok(path) = std::str::from_utf8(data) {
        let _ = inspect_gemini(path, b"{}");
    }
}

/// Code Assist: the request wrap yields JSON with the body as `request`; the response unwraps
/// give the same bytes whole or split.
pub fn code_assist(data: &[u8]) {
    let (at, payload) = split(data);
    if let Ok(wrapped) = code_assist::wrap_request(payload, "m", "p", "u") {
        let v: Value = serde_json::from_slice(&wrapped).unwrap_or(Value::Null);
        let inner: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
        if inner.is_object() {
            assert_eq!(v["request"], inner, "the body is the request, unchanged");
        }
    }
    let _ = code_assist::set_project(payload, "p");
    let _ = code_assist::unwrap_response_body(payload);
    fn run(t: &mut dyn StreamTransform, chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks {
            t.push(c, &mut out);
        }
        t.finish(&mut out);
        out
    }
    let halves = [&payload[..at], &payload[at..]];
    assert_eq!(
        run(
            &mut CodeAssistSseToPublic::with_max_event_size(4096),
            &[payload]
        ),
        run(
            &mut CodeAssistSseToPublic::with_max_event_size(4096),
            &halves
        )
    );
    assert_eq!(
        run(
            &mut CodeAssistSseToJsonArray::with_max_event_size(4096),
            &[payload]
        ),
        run(
            &mut CodeAssistSseToJsonArray::with_max_event_size(4096),
            &halves
        )
    );
    assert_eq!(
        run(&mut CodeAssistBodyUnwrap::new(), &[payload]),
        run(&mut CodeAssistBodyUnwrap::new(), &halves)
    );
}

/// The Chat usage strip: the same output whole or split, never more bytes than it was given,
/// and at most one event removed per usage chunk.
pub fn chat_usage_strip(data: &[u8]) {
    let (at, payload) = split(data);
    let run = |chunks: &[&[u8]]| {
        let mut s = ChatUsageStripper::with_max_held_event(1024);
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut out);
        }
        s.finish(&mut out);
        (out, s.stripped())
    };
    let whole = run(&[payload]);
    assert_eq!(whole, run(&[&payload[..at], &payload[at..]]));
    assert!(whole.0.len() <= payload.len());
}

/// The JSON edits: on a JSON object they give a JSON object with exactly that member set or
/// gone, everything else equal.
pub fn json_edit(data: &[u8]) {
    let Ok(Value::Object(before)) = serde_json::from_slice::<Value>(data) else {
        let _ = json_edit::set_top_level(data, "model", "\"x\"");
        let _ = json_edit::remove_top_level(data, "model");
        return;
    };
    if let Ok(set) = json_edit::set_top_level(data, "model", "\"x\"") {
        let Ok(Value::Object(after)) = serde_json::from_slice::<Value>(&set) else {
            panic!("set_top_level broke the JSON");
        };
        assert_eq!(after.get("model"), Some(&Value::from("x")));
        for (k, v) in &before {
            if k != "model" {
                assert_eq!(after.get(k), Some(v));
            }
        }
    }
    if let Ok(removed) = json_edit::remove_top_level(data, "model") {
        let Ok(Value::Object(after)) = serde_json::from_slice::<Value>(&removed) else {
            panic!("remove_top_level broke the JSON");
        };
        assert!(!after.contains_key("model"));
        assert_eq!(
            after.len(),
            before.len() - usize::from(before.contains_key("model"))
        );
    }
}

/// The end-of-stream tracker: a boundary it finds inside a chunk really is one, and the
/// signal it gives after a valid array prefix closes it into valid JSON.
pub fn stream_end(data: &[u8]) {
    let (at, payload) = split(data);
    for framing in [
        ClientFraming::Sse(Dialect::Anthropic),
        ClientFraming::Sse(Dialect::OpenaiResponses),
        ClientFraming::GeminiArray,
    ] {
        let mut end = StreamEnd::new(framing);
        end.sent(&payload[..at]);
        let rest = &payload[at..];
        if let Some(n) = end.boundary_within(rest) {
            assert!(n <= rest.len());
            let mut probe = end.clone();
            probe.sent(&rest[..n]);
            assert!(probe.at_boundary());
        }
        if let Some(signal) = end.signal(crate::Break::Upstream, Some("resp_1"))
            && let ClientFraming::Sse(_) = framing
        {
            assert!(signal.ends_with(b"\n\n"));
        }
    }
    // A valid array of objects (Gemini's stream: one response object per element) cut after
    // any element takes the signal and parses. (After a scalar no boundary can be known: `1`
    // may go on as `12`.)
    if let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(payload)
        && items.iter().all(Value::is_object)
    {
        let keep = at.min(items.len());
        let mut prefix = b"[".to_vec();
        for (i, item) in items[..keep].iter().enumerate() {
            if i > 0 {
                prefix.push(b',');
            }
            prefix.extend(item.to_string().into_bytes());
        }
        let mut end = StreamEnd::new(ClientFraming::GeminiArray);
        end.sent(&prefix);
        let signal = end.signal(crate::Break::Upstream, None);
        assert!(
            signal.is_some(),
            "an array between elements takes the signal"
        );
        prefix.extend(signal.unwrap_or_default());
        let closed: Value = serde_json::from_slice(&prefix).unwrap_or(Value::Null);
        assert_eq!(closed.as_array().map(Vec::len), Some(keep + 1));
    }
}
