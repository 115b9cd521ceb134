//! Drives `MockUpstream` with a hand-written HTTP/1.1 client over a plain TCP socket.

// Test-only helpers below: a malformed response should fail the test loudly.
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "test tasks are joined by the test"
)]

mod common;
use common::post;

use std::time::{Duration, Instant};

use switchyard_testkit::bodies::{self, DEFAULT_DELTAS};
use switchyard_testkit::{Chunking, Fault, MockUpstream, MockUsage, anthropic_stream_bytes};

const STREAM_BODY: &str = r#"{"model":"claude-test-1","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

#[tokio::test]
async fn default_stream_is_exact_and_request_is_recorded() {
    let mock = MockUpstream::start().await;
    let resp = post(
        mock.addr(),
        "/v1/messages?beta=true",
        &[
            ("x-api-key", "sk-ant-a"),
            ("Anthropic-Version", "2023-06-01"),
        ],
        STREAM_BODY,
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert!(resp.complete);
    let expected = anthropic_stream_bytes("claude-test-1", &MockUsage::default(), DEFAULT_DELTAS);
    assert_eq!(resp.body, expected);
    let text = String::from_utf8(resp.body).unwrap();
    for needle in [
        "event: message_start\n",
        r#""model":"claude-test-1""#,
        r#""ephemeral_1h_input_tokens":0"#,
        "Olá",
        "event: ping\n",
        r#""output_tokens":38}      }"#,
        "event: message_stop\ndata: {\"type\":\"message_stop\" }\n\n",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in {text}");
    }
    assert!(text.ends_with("\n\n"));

    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/v1/messages?beta=true");
    assert_eq!(reqs[0].header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(reqs[0].headers["x-api-key"], "sk-ant-a");
    assert_eq!(reqs[0].body.as_ref(), STREAM_BODY.as_bytes());
    assert_eq!(mock.request_count(), 1);
    assert_eq!(mock.count_for("sk-ant-a"), 1);

    // Non-stream JSON, OAuth bearer credential, recording switched off.
    mock.set_recording(false);
    let resp = post(
        mock.addr(),
        "/v1/messages",
        &[("authorization", "Bearer sk-ant-oat01-x")],
        r#"{"model":"m2","messages":[]}"#,
    )
    .await;
    assert_eq!(resp.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(v["model"], "m2");
    assert_eq!(v["usage"]["output_tokens"], 38);
    assert_eq!(mock.requests().len(), 1);
    assert_eq!(mock.request_count(), 2);
    assert_eq!(mock.count_for("sk-ant-oat01-x"), 1);
}

#[tokio::test]
async fn faults_are_consumed_once_per_request() {
    let mock = MockUpstream::start().await;
    mock.push(Fault::overloaded());
    mock.push_for("sk-ant-b", Fault::rate_limited(4_000_000_000));
    assert_eq!(mock.pending_faults(), 2);

    // Account b's own fault wins over the shared queue.
    let r = post(
        mock.addr(),
        "/v1/messages",
        &[("x-api-key", "sk-ant-b")],
        STREAM_BODY,
    )
    .await;
    assert_eq!(r.status, 429);
    assert_eq!(
        r.header("anthropic-ratelimit-unified-reset"),
        Some("4000000000")
    );
    assert!(r.header("retry-after").is_some());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");

    let r = post(
        mock.addr(),
        "/v1/messages",
        &[("x-api-key", "sk-ant-a")],
        STREAM_BODY,
    )
    .await;
    assert_eq!(r.status, 529);
    for key in ["sk-ant-a", "sk-ant-b"] {
        let r = post(
            mock.addr(),
            "/v1/messages",
            &[("x-api-key", key)],
            STREAM_BODY,
        )
        .await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(mock.pending_faults(), 0);
    assert_eq!(mock.count_for("sk-ant-b"), 2);

    // OAuth: scripted failure, then rotations told apart by the counter; JSON and form bodies.
    mock.push_oauth(Fault::invalid_grant());
    let json = r#"{"grant_type":"refresh_token","refresh_token":"sk-ant-ort01-old"}"#;
    let r = post(mock.addr(), "/v1/oauth/token", &[], json).await;
    assert_eq!(r.status, 400);
    let r = post(mock.addr(), "/v1/oauth/token", &[], json).await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["access_token"], "sk-ant-oat01-mock-1");
    let r = post(
        mock.addr(),
        "/v1/oauth/token",
        &[("content-type", "application/x-www-form-urlencoded")],
        "grant_type=refresh_token&refresh_token=abc",
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["refresh_token"], "sk-ant-ort01-mock-2");
    assert_eq!(v["expires_in"], 28800);
}

#[tokio::test]
async fn stream_faults_break_or_error() {
    let mock = MockUpstream::start().await;
    let full = anthropic_stream_bytes("claude-test-1", &MockUsage::default(), DEFAULT_DELTAS);

    mock.push(Fault::DisconnectMidStream { after_events: 2 });
    let r = post(mock.addr(), "/v1/messages", &[], STREAM_BODY).await;
    assert_eq!(r.status, 200);
    assert!(!r.complete, "the chunked body must not end cleanly");
    let events = bodies::anthropic_stream_events("claude-test-1", &MockUsage::default(), 6);
    assert_eq!(r.body, [events[0].as_ref(), events[1].as_ref()].concat());

    mock.push(Fault::ErrorEventAfter200);
    let r = post(mock.addr(), "/v1/messages", &[], STREAM_BODY).await;
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).unwrap();
    assert!(text.ends_with(
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
    ));
    assert!(!text.contains("message_stop"));

    // Chunk boundaries inside lines and inside multi-byte characters; same bytes overall.
    mock.set_chunking(Chunking::EveryNBytes(3));
    let r = post(mock.addr(), "/v1/messages", &[], STREAM_BODY).await;
    assert!(r.complete);
    assert_eq!(r.body, full);
    assert_eq!(r.chunks, full.len().div_ceil(3));

    mock.set_chunking(Chunking::Whole);
    mock.push(Fault::SlowFirstByte(Duration::from_millis(150)));
    let start = Instant::now();
    let r = post(mock.addr(), "/v1/messages", &[], STREAM_BODY).await;
    assert!(start.elapsed() >= Duration::from_millis(150));
    assert_eq!((r.chunks, r.body), (1, full.clone()));

    // A stream hold splits message_start from the rest.
    mock.set_stream_hold(Duration::from_millis(150));
    let start = Instant::now();
    let r = post(mock.addr(), "/v1/messages", &[], STREAM_BODY).await;
    assert!(start.elapsed() >= Duration::from_millis(150));
    assert_eq!((r.chunks, r.body), (2, full));
}

#[tokio::test]
async fn openai_streams_follow_the_documented_shapes() {
    let mock = MockUpstream::start().await;
    let usage = MockUsage::default();
    let chat = |include: bool| {
        format!(
            r#"{{"model":"gpt-x","stream":true,"stream_options":{{"include_usage":{include}}},"messages":[]}}"#
        )
    };
    let r = post(mock.addr(), "/v1/chat/completions", &[], &chat(true)).await;
    assert_eq!(
        r.body,
        bodies::chat_stream_bytes("gpt-x", &usage, DEFAULT_DELTAS, true)
    );
    let text = String::from_utf8(r.body).unwrap();
    assert!(text.contains(r#""choices":[],"usage":{"prompt_tokens":16"#));
    assert!(text.ends_with("data: [DONE]\n\n"));
    let r = post(mock.addr(), "/chat/completions", &[], &chat(false)).await;
    assert!(!String::from_utf8(r.body).unwrap().contains("prompt_tokens"));

    // The Codex backend streams by default.
    let r = post(
        mock.addr(),
        "/backend-api/codex/responses",
        &[],
        r#"{"model":"gpt-5"}"#,
    )
    .await;
    assert_eq!(r.header("x-codex-primary-window-minutes"), Some("300"));
    assert_eq!(
        r.body,
        bodies::responses_stream_bytes("gpt-5", &usage, DEFAULT_DELTAS)
    );
    let text = String::from_utf8(r.body).unwrap();
    assert!(text.starts_with("event: response.created\n"));
    assert!(text.contains("event: response.completed\n"));
}

#[tokio::test]
async fn hanging_request_ends_on_shutdown() {
    let mock = MockUpstream::start().await;
    mock.push(Fault::Hang);
    let addr = mock.addr();
    let pending = tokio::spawn(async move { post(addr, "/v1/messages", &[], STREAM_BODY).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!pending.is_finished());
    assert_eq!(mock.request_count(), 1);
    tokio::time::timeout(Duration::from_secs(5), mock.shutdown())
        .await
        .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, 503);
}
