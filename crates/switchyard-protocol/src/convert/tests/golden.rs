//! Golden fixtures: each dialect's request, answer and stream, converted to every other
//! dialect and compared with the reviewed output in `golden/`.

use serde_json::{Value, json};

use super::{CREATED, convert_stream, dir, fixture, pairs, short};
use crate::convert::{RequestOptions, ResponseOptions, convert_request, convert_response};
use switchyard_core::Dialect;

/// Compares with `golden/<name>`, or writes it when `SWITCHYARD_BLESS` is set.
fn check(name: &str, actual: &str) {
    let path = dir().join("golden").join(name);
    if std::env::var_os("SWITCHYARD_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with SWITCHYARD_BLESS=1)", path.display()));
    assert_eq!(expected, actual, "golden/{name} differs");
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap();
    s.push('\n');
    s
}

#[test]
fn requests_convert_to_every_other_dialect() {
    for (client, target) in pairs() {
        let body = fixture(&format!("request_{}.json", short(client)));
        let options = RequestOptions {
            lossy: false,
            // A Gemini client names its model in the URL.
            model: (client == Dialect::Gemini).then(|| "gemini-2.5-pro".to_owned()),
            stream: (client == Dialect::Gemini).then_some(true),
        };
        let out = convert_request(client, target, &body, &options)
            .unwrap_or_else(|e| panic!("{client:?} → {target:?}: {e}"));
        let dropped: Vec<Value> = out
            .dropped
            .iter()
            .map(|d| json!({"field": d.field, "why": d.why}))
            .collect();
        let record = json!({
            "model": out.model,
            "stream": out.stream,
            "dropped": dropped,
            "body": serde_json::from_slice::<Value>(&out.body).unwrap(),
        });
        check(
            &format!("request/{}_to_{}.json", short(client), short(target)),
            &pretty(&record),
        );
    }
}

#[test]
fn answers_convert_to_every_other_dialect() {
    for (upstream, client) in pairs() {
        let body = fixture(&format!("response_{}.json", short(upstream)));
        let options = ResponseOptions {
            created: CREATED,
            ..ResponseOptions::default()
        };
        let out = convert_response(upstream, client, &body, &options)
            .unwrap_or_else(|e| panic!("{upstream:?} → {client:?}: {e}"));
        let usage = out.usage.expect("usage");
        // Billing follows the upstream: the relay's own reading of the upstream body.
        assert_eq!(
            Some(usage),
            crate::usage_from_body(upstream, &body).and_then(|b| b.usage)
        );
        // And the client is told the same counts in its own terms.
        assert_eq!(
            crate::usage_from_body(client, &out.body).and_then(|b| b.usage),
            Some(shown(usage, client)),
            "{upstream:?} → {client:?}"
        );
        let v: Value = serde_json::from_slice(&out.body).unwrap();
        check(
            &format!("response/{}_from_{}.json", short(client), short(upstream)),
            &pretty(&v),
        );
    }
}

/// Usage as a client of `client`'s dialect can express it: Anthropic does not report
/// reasoning apart, the others fold cache writes into the prompt.
fn shown(u: switchyard_core::TokenUsage, client: Dialect) -> switchyard_core::TokenUsage {
    let writes = u.cache_creation_5m_tokens + u.cache_creation_1h_tokens;
    match client {
        Dialect::Anthropic => switchyard_core::TokenUsage {
            reasoning_tokens: 0,
            ..u
        },
        _ => switchyard_core::TokenUsage {
            input_tokens: u.input_tokens + writes,
            cache_creation_5m_tokens: 0,
            cache_creation_1h_tokens: 0,
            ..u
        },
    }
}

#[test]
fn streams_convert_to_every_other_dialect() {
    for (upstream, client) in pairs() {
        let bytes = fixture(&format!("stream_{}.sse", short(upstream)));
        let (out, converter) = convert_stream(upstream, client, &[&bytes]);
        assert!(converter.completed(), "{upstream:?} → {client:?}");
        let summary = super::validity::validate(client, &out, true).unwrap_or_else(|e| {
            panic!(
                "{upstream:?} → {client:?}: {e}\n{}",
                String::from_utf8_lossy(&out)
            )
        });
        assert_eq!(
            summary.text,
            "Olá! Reading it.".replace(
                "it.",
                if upstream == Dialect::OpenaiChat {
                    "both."
                } else {
                    "it."
                }
            )
        );
        assert!(!summary.tools.is_empty());
        assert_eq!(summary.tools[0].1, json!({"path": "README.md"}));
        let mut sse = String::from_utf8(out).unwrap();
        if !sse.ends_with('\n') {
            sse.push('\n');
        }
        check(
            &format!("stream/{}_from_{}.sse", short(client), short(upstream)),
            &sse,
        );
    }
}
