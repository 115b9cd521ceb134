//! Property tests: whatever the upstream sends, in whatever pieces, the client receives a
//! stream that is valid for its dialect and says the same thing.
//!
//! Upstream streams are generated from arbitrary scripts (text, reasoning with or without a
//! proof, tool calls with arbitrary JSON arguments split anywhere) written in the upstream's
//! own format by the same encoders, then delivered in arbitrary byte pieces.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{Value, json};
use switchyard_core::{Dialect, TokenUsage};

use super::validity::validate;
use super::{DIALECTS, convert_stream, fixture, pairs, short};
use crate::convert::StreamConverter;
use crate::convert::errors::ErrorClass;
use crate::convert::ir::StopReason;
use crate::convert::signature::{Origin, Signature};
use crate::convert::stream::event::Event;
use crate::stream_end::Break;

#[derive(Debug, Clone)]
enum Action {
    Text(Vec<String>),
    Thinking(Vec<String>, bool),
    Tool(String, Value, Vec<usize>),
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-z \"\\\\é{}]{0,6}".prop_map(Value::String),
        any::<i32>().prop_map(|n| json!(n)),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn arguments() -> impl Strategy<Value = Value> {
    let value = leaf().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..3).prop_map(Value::Array),
            btree_map("[a-z]{1,4}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    btree_map("[a-z_]{1,6}", value, 0..4).prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        vec("[a-zA-Z é✓\n]{1,6}", 1..4).prop_map(Action::Text),
        (vec("[a-z .]{1,6}", 1..4), any::<bool>()).prop_map(|(p, s)| Action::Thinking(p, s)),
        ("[a-z_]{1,8}", arguments(), vec(any::<usize>(), 0..4))
            .prop_map(|(n, a, c)| Action::Tool(n, a, c)),
    ]
}

/// `s` cut at the given points (moved to character boundaries).
fn pieces(s: &str, cuts: &[usize]) -> Vec<String> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| c % (s.len() + 1))
        .map(|mut c| {
            while !s.is_char_boundary(c) {
                c -= 1;
            }
            c
        })
        .collect();
    points.sort_unstable();
    points.dedup();
    let mut out = Vec::new();
    let mut start = 0;
    for p in points.into_iter().chain([s.len()]) {
        if p > start {
            out.push(s[start..p].to_owned());
            start = p;
        }
    }
    out
}

fn bytes_in_pieces<'a>(b: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (b.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for p in points.into_iter().chain([b.len()]) {
        out.push(&b[start..p]);
        start = p;
    }
    out
}

struct Expected {
    text: String,
    thinking: String,
    tools: Vec<(String, Value)>,
}

fn script(up: Dialect, actions: &[Action]) -> (Vec<Event>, Expected) {
    let mut events = Vec::new();
    let mut exp = Expected {
        text: String::new(),
        thinking: String::new(),
        tools: Vec::new(),
    };
    for (i, a) in actions.iter().enumerate() {
        match a {
            Action::Text(parts) => {
                for p in parts {
                    exp.text.push_str(p);
                    events.push(Event::Text(p.clone()));
                }
            }
            Action::Thinking(parts, signed) => {
                for p in parts {
                    exp.thinking.push_str(p);
                    events.push(Event::Thinking(p.clone()));
                }
                if let (true, Some(origin)) = (*signed, Origin::of(up)) {
                    events.push(Event::Signature(Signature::new(origin, format!("sig{i}"))));
                }
                events.push(Event::BlockEnd);
            }
            Action::Tool(name, args, cuts) => {
                exp.tools.push((name.clone(), args.clone()));
                events.push(Event::ToolStart {
                    id: format!("call_{i}"),
                    name: name.clone(),
                });
                for p in pieces(&args.to_string(), cuts) {
                    events.push(Event::Args(p));
                }
                events.push(Event::BlockEnd);
            }
        }
    }
    let reason = if exp.tools.is_empty() {
        StopReason::EndTurn
    } else {
        StopReason::ToolUse
    };
    events.push(Event::Stop {
        reason,
        sequence: None,
    });
    (events, exp)
}

fn usage_for(up: Dialect) -> TokenUsage {
    let mut u = TokenUsage {
        input_tokens: 11,
        output_tokens: 40,
        cache_creation_5m_tokens: 0,
        cache_creation_1h_tokens: 0,
        cache_read_tokens: 7,
        reasoning_tokens: 9,
    };
    if up == Dialect::Anthropic {
        // Anthropic lists cache writes apart and does not report reasoning apart.
        u.cache_creation_5m_tokens = 3;
        u.cache_creation_1h_tokens = 2;
        u.reasoning_tokens = 0;
    }
    u
}

/// Cases per property: `SWITCHYARD_FUZZ_CASES` (CI sets a large number), else 96.
fn cases() -> u32 {
    std::env::var("SWITCHYARD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(96)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Every conversion of an arbitrary upstream stream, cut anywhere, is valid for the
    /// client, says the same text, reasoning and tool calls, reports usage exactly once, and
    /// does not depend on how the bytes were cut.
    #[test]
    fn converted_streams_are_valid_and_faithful(
        actions in vec(action(), 0..6),
        up in 0..4usize,
        cuts in vec(any::<usize>(), 0..12),
    ) {
        let up = DIALECTS[up];
        let (mut events, exp) = script(up, &actions);
        events.push(Event::Done);
        let usage = usage_for(up);
        let bytes = StreamConverter::render(up, events, usage);
        for client in DIALECTS.into_iter().filter(|c| *c != up) {
            let (out, conv) = convert_stream(up, client, &bytes_in_pieces(&bytes, &cuts));
            let s = validate(client, &out, true).map_err(|e| {
                TestCaseError::fail(format!("{up:?} → {client:?}: {e}\n{}", String::from_utf8_lossy(&out)))
            })?;
            prop_assert!(!s.error && conv.completed());
            prop_assert_eq!(&s.text, &exp.text);
            prop_assert_eq!(&s.thinking, &exp.thinking);
            prop_assert_eq!(&s.tools, &exp.tools);
            prop_assert_eq!(conv.usage(), Some(usage), "billing follows the upstream");
            let (whole, _) = convert_stream(up, client, &[&bytes]);
            prop_assert_eq!(out, whole, "output depends on how the upstream bytes were cut");
        }
    }

    /// An upstream error inside the stream, or an upstream that stops mid-way, ends the
    /// client's stream with exactly one error signal of its dialect and nothing after it.
    #[test]
    fn broken_streams_end_with_one_error_signal(
        actions in vec(action(), 0..4),
        up in 0..4usize,
        cut in any::<usize>(),
        kind in 0..3usize,
    ) {
        let up = DIALECTS[up];
        let (mut events, _) = script(up, &actions);
        events.pop(); // no stop: the upstream has not finished
        let class = [ErrorClass::Overloaded, ErrorClass::RateLimit, ErrorClass::Server][kind];
        events.push(Event::Error { class, message: "boom".into() });
        let with_error = StreamConverter::render(up, events.clone(), TokenUsage::default());
        events.pop();
        let cut_off = StreamConverter::render(up, events, TokenUsage::default());
        let cut_off = &cut_off[..cut % (cut_off.len() + 1)];
        for client in DIALECTS.into_iter().filter(|c| *c != up) {
            for bytes in [&with_error[..], cut_off] {
                let (out, conv) = convert_stream(up, client, &[bytes]);
                let s = validate(client, &out, true).map_err(|e| {
                    TestCaseError::fail(format!("{up:?} → {client:?}: {e}\n{}", String::from_utf8_lossy(&out)))
                })?;
                prop_assert!(s.error && !conv.completed(), "{up:?} → {client:?}");
            }
        }
    }

    /// The recorded fixtures, cut anywhere, convert exactly as when delivered whole.
    #[test]
    fn fixture_streams_do_not_depend_on_chunking(cuts in vec(any::<usize>(), 0..16)) {
        for (up, client) in pairs() {
            let bytes = fixture(&format!("stream_{}.sse", short(up)));
            let (whole, _) = convert_stream(up, client, &[&bytes]);
            let (cut, _) = convert_stream(up, client, &bytes_in_pieces(&bytes, &cuts));
            prop_assert_eq!(cut, whole);
        }
    }
}

/// The relay ending a converted stream (timeout, shutdown) gives the client its own signal
/// right after the last whole event.
#[test]
fn relay_breaks_end_with_the_clients_signal() {
    use crate::transform::StreamTransform;
    for (up, client) in pairs() {
        let bytes = fixture(&format!("stream_{}.sse", short(up)));
        let mut c = StreamConverter::new(up, client, &super::stream_options());
        let mut out = Vec::new();
        c.push(&bytes[..bytes.len() / 2], &mut out);
        c.fail(Break::IdleTimeout, &mut out);
        let s = validate(client, &out, true).unwrap_or_else(|e| {
            panic!(
                "{up:?} → {client:?}: {e}\n{}",
                String::from_utf8_lossy(&out)
            )
        });
        assert!(s.error);
        let len = out.len();
        c.fail(Break::Shutdown, &mut out);
        c.finish(&mut out);
        assert_eq!(out.len(), len, "nothing after the signal");
    }
}
