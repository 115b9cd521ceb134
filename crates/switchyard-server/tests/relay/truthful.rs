//! A broken upstream reaches the client as a failure, never as a complete-looking answer; and
//! failover tells an account's faults from the request's own (issue: truthful failures).

use std::time::Duration;

use futures_util::StreamExt;
use switchyard_core::AccountStatus;
use switchyard_testkit::{Chunking, Fault, MockUpstream};

use crate::support::{AccountSpec, TestApp, body, read_until_error};

fn chat_body(stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": "gpt-5-mini",
        "stream": stream,
        "messages": [{"role": "user", "content": "hi"}]
    })
}

fn responses_body(stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": "gpt-5-mini",
        "stream": stream,
        "input": "hi"
    })
}

async fn openai_app(mock: &MockUpstream) -> TestApp {
    let app = TestApp::start(mock).await;
    app.add_account(AccountSpec::openai("oa", "sk-oa", mock.url()))
        .await;
    app
}

/// The data of every SSE event in `text`, in order.
fn data_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect()
}

#[tokio::test]
async fn a_cut_chat_stream_ends_with_an_error_chunk_not_a_clean_end() {
    let mock = MockUpstream::start().await;
    let app = openai_app(&mock).await;
    mock.push(Fault::DisconnectMidStream { after_events: 3 });
    let resp = app
        .post("/v1/chat/completions", chat_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (bytes, aborted) = read_until_error(resp).await;
    let text = String::from_utf8(bytes).unwrap();
    let data = data_lines(&text);
    let last: serde_json::Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["type"], "server_error", "{text}");
    assert!(!text.contains("[DONE]"));
    assert!(aborted, "the transfer must not end cleanly");
    let r = &app.usage(1).await[0];
    assert_eq!(
        r.error_kind.as_deref(),
        Some("upstream_stream_broken+usage_estimated")
    );
    assert!(
        r.usage.output_tokens > 0 && r.usage.input_tokens > 0,
        "never 0 for generated tokens: {:?}",
        r.usage
    );
    app.stop().await;
}

#[tokio::test]
async fn a_cut_responses_stream_ends_with_response_failed() {
    let mock = MockUpstream::start().await;
    let app = openai_app(&mock).await;
    mock.push(Fault::DisconnectMidStream { after_events: 3 });
    let resp = app
        .post("/v1/responses", responses_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (bytes, aborted) = read_until_error(resp).await;
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.contains("event: response.failed\n"),
        "a Responses client needs its failure event: {text}"
    );
    let last: serde_json::Value = serde_json::from_str(data_lines(&text).last().unwrap()).unwrap();
    assert_eq!(last["type"], "response.failed");
    assert_eq!(last["response"]["status"], "failed");
    assert!(
        last["response"]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("resp_"))
    );
    assert!(aborted);
    app.stop().await;
}

#[tokio::test]
async fn a_cut_gemini_json_array_is_closed_with_an_error_element() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::gemini_api("g", "AIza-test"))
        .await;
    mock.push(Fault::DisconnectMidStream { after_events: 2 });
    let resp = app
        .http
        .post(format!(
            "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            app.url
        ))
        .header("x-goog-api-key", &app.key)
        .json(&serde_json::json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (bytes, aborted) = read_until_error(resp).await;
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)));
    let elements = v.as_array().unwrap();
    assert_eq!(elements.last().unwrap()["error"]["status"], "UNAVAILABLE");
    assert!(elements.len() >= 2, "what came before the break is kept");
    assert!(aborted);
    app.stop().await;
}

#[tokio::test]
async fn a_non_streaming_body_cut_mid_way_fails_over_to_a_healthy_account() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec {
        priority: 1,
        ..AccountSpec::claude("cut", "sk-ant-cut")
    })
    .await;
    app.add_account(AccountSpec {
        priority: 2,
        ..AccountSpec::claude("whole", "sk-ant-whole")
    })
    .await;
    mock.push_for("sk-ant-cut", Fault::DisconnectMidStream { after_events: 1 });
    let resp = app.messages(body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-attempts"], "2");
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "message", "a whole, parsable answer: {v}");
    assert_eq!(mock.count_for("sk-ant-cut"), 1);
    assert_eq!(mock.count_for("sk-ant-whole"), 1);
    let cut = app.live_account("cut");
    assert_eq!(cut.status, AccountStatus::Cooling);
    app.stop().await;
}

#[tokio::test]
async fn a_200_with_a_body_that_is_not_json_fails_over() {
    let mock = MockUpstream::start().await;
    let app = openai_app(&mock).await;
    app.add_account(AccountSpec {
        priority: 60,
        ..AccountSpec::openai("oa2", "sk-oa2", mock.url())
    })
    .await;
    mock.push_for(
        "sk-oa",
        Fault::Status {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: "<html>proxy error</html>".into(),
        },
    );
    let resp = app
        .post("/v1/chat/completions", chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(mock.count_for("sk-oa2"), 1);
    app.stop().await;
}

#[tokio::test]
async fn failover_keeps_going_while_healthy_accounts_remain() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let failing = [
        ("e500", "sk-ant-500", Fault::server_error()),
        (
            "e429",
            "sk-ant-429",
            Fault::rate_limited(chrono::Utc::now().timestamp() as u64 + 600),
        ),
        ("e401", "sk-ant-401", Fault::unauthorized()),
        ("e529", "sk-ant-529", Fault::overloaded()),
    ];
    for (i, (name, secret, fault)) in failing.into_iter().enumerate() {
        app.add_account(AccountSpec {
            priority: 1 + i as i32,
            ..AccountSpec::claude(name, secret)
        })
        .await;
        mock.push_for(secret, fault);
    }
    app.add_account(AccountSpec {
        priority: 50,
        ..AccountSpec::claude("healthy", "sk-ant-ok")
    })
    .await;
    let resp = app.messages(body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-attempts"], "5");
    let records = app.usage(1).await;
    assert_eq!(records[0].attempts, 5);
    assert_eq!(mock.count_for("sk-ant-ok"), 1);
    // The accounts that failed are out of rotation: the next request goes straight through.
    let resp = app.messages(body(false)).send().await.unwrap();
    assert_eq!(resp.headers()["x-switchyard-attempts"], "1");
    for name in ["e500", "e429", "e529"] {
        assert_eq!(
            app.live_account(name).status,
            AccountStatus::Cooling,
            "{name}"
        );
    }
    assert_eq!(app.live_account("e401").status, AccountStatus::Error);
    app.stop().await;
}

#[tokio::test]
async fn the_same_server_error_on_two_accounts_is_the_requests_fault() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    for (name, secret) in [("a", "sk-ant-a"), ("b", "sk-ant-b"), ("c", "sk-ant-c")] {
        app.add_account(AccountSpec::claude(name, secret)).await;
    }
    mock.push_n(3, Fault::server_error());
    let resp = app.messages(body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 500, "the upstream's own answer");
    assert_eq!(resp.headers()["x-switchyard-attempts"], "2");
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "api_error");
    assert_eq!(mock.request_count(), 2, "stopped after two alike failures");
    for name in ["a", "b", "c"] {
        assert_eq!(app.live_account(name).status, AccountStatus::Active);
    }
    let r = &app.usage(1).await[0];
    assert_eq!(
        r.error_kind.as_deref(),
        Some("request_fault:upstream_server_error")
    );
    // Nothing was cooled: other requests are served at once.
    mock.clear_faults();
    assert_eq!(
        app.messages(body(false)).send().await.unwrap().status(),
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn a_model_no_account_serves_is_a_non_retryable_404_naming_it() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    // Bedrock cannot count tokens: this key has no account for count_tokens at all.
    app.add_account(AccountSpec::bedrock("aws", "ABSKbedrockapikey"))
        .await;
    let resp = app
        .http
        .post(format!("{}/v1/messages/count_tokens", app.url))
        .header("x-api-key", &app.key)
        .header("anthropic-version", "2023-06-01")
        .json(&serde_json::json!({"model": "claude-sonnet-4-20250514", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        v["error"]["type"], "not_found_error",
        "never overloaded_error"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("claude-sonnet-4-20250514")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_chat_client_that_leaves_at_finish_reason_is_billed_what_the_upstream_billed() {
    let mock = MockUpstream::start().await;
    mock.set_chunk_delay(Duration::from_millis(150));
    let app = openai_app(&mock).await;
    let resp = app
        .post("/v1/chat/completions", chat_body(true))
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    let mut seen = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if seen.contains("\"finish_reason\":\"stop\"") {
            break;
        }
    }
    drop(stream);
    let r = &app.usage(1).await[0];
    assert_eq!(r.error_kind.as_deref(), Some("client_disconnected"));
    let expected = switchyard_testkit::MockUsage::default();
    assert_eq!(
        r.usage.input_tokens + r.usage.cache_read_tokens,
        expected.input + expected.cache_read
    );
    assert_eq!(r.usage.output_tokens, expected.output);
    assert!(r.cost_usd.unwrap_or(0.0) > 0.0);
    app.stop().await;
}

#[tokio::test]
async fn a_chat_client_that_did_not_ask_for_usage_gets_no_usage_fields() {
    let mock = MockUpstream::start().await;
    mock.set_chunking(Chunking::Whole);
    let app = openai_app(&mock).await;
    let text = app
        .post("/v1/chat/completions", chat_body(true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("\"usage\""), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"));
    let mock_request = mock.last_request().unwrap().json().unwrap();
    assert_eq!(
        mock_request["stream_options"]["include_usage"], true,
        "the relay still asks, to bill"
    );
    let r = &app.usage(1).await[0];
    assert!(r.usage.output_tokens > 0);
    app.stop().await;
}
