//! Relay integration tests: the real server on a real port, a real SQLite store, and a mock
//! Anthropic upstream with scripted faults.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support code outside #[test] fns
#![allow(
    clippy::disallowed_methods,
    reason = "test tasks are joined or dropped by their test"
)]
mod admin_api;
mod aliases;
mod bedrock;
mod connections;
mod console;
mod console_e2e;
mod cross;
mod durability;
mod fault_matrix;
mod gemini;
mod health;
mod oauth;
mod openai;
mod policy;
mod proxies;
mod support;
mod truthful;

use futures_util::StreamExt;
use std::time::Duration;
use support::{
    AccountSpec, TestApp, body, eventually, read_until_error, send_status, session_body,
};
use switchyard_core::AccountStatus;
use switchyard_store::AccountState;
use switchyard_store::coord::Scope;
use switchyard_testkit::{
    Chunking, Fault, MockUpstream, MockUsage, anthropic_stream_bytes, bodies,
};

const MODEL: &str = "claude-sonnet-4-20250514";

#[tokio::test]
async fn stream_passes_through_byte_exact_and_usage_is_recorded() {
    let mock = MockUpstream::start().await;
    let usage = MockUsage {
        input: 120,
        output: 45,
        cache_creation_5m: 30,
        cache_creation_1h: 20,
        cache_read: 400,
        reasoning: 0,
    };
    mock.set_usage(usage);
    mock.set_chunking(Chunking::EveryNBytes(3));
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;

    let resp = app
        .http
        .post(format!("{}/v1/messages?beta=true", app.url))
        .header("authorization", format!("Bearer {}", app.key))
        .header("anthropic-version", "2023-06-01")
        .header("accept-encoding", "gzip, br")
        .header("cookie", "session=secret")
        .json(&body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let got = resp.bytes().await.unwrap();
    let expected = anthropic_stream_bytes(MODEL, &usage, bodies::DEFAULT_DELTAS);
    assert_eq!(
        got.as_ref(),
        expected.as_slice(),
        "stream must be forwarded byte for byte"
    );

    let upstream = mock.last_request().unwrap();
    assert_eq!(upstream.path, "/v1/messages?beta=true");
    assert_eq!(upstream.header("x-api-key"), Some("sk-ant-a"));
    assert_eq!(
        upstream.header("authorization"),
        None,
        "client credentials never forwarded"
    );
    assert_eq!(upstream.header("cookie"), None);
    assert_eq!(upstream.header("accept-encoding"), Some("identity"));
    assert_eq!(upstream.header("anthropic-version"), Some("2023-06-01"));

    let records = app.usage(1).await;
    let r = &records[0];
    assert_eq!(r.status, 200);
    assert!(r.stream);
    assert_eq!(r.usage.input_tokens, 120);
    assert_eq!(r.usage.output_tokens, 45);
    assert_eq!(r.usage.cache_creation_5m_tokens, 30);
    assert_eq!(r.usage.cache_creation_1h_tokens, 20);
    assert_eq!(r.usage.cache_read_tokens, 400);
    assert_eq!(r.api_key_id, Some(app.key_id));
    assert_eq!(r.requested_model.as_deref(), Some(MODEL));
    assert_eq!(r.error_kind, None);
    assert_eq!(r.attempts, 1);
    assert!(r.ttfb_ms.is_some());
    // claude-sonnet-4: $3/M in, $15/M out, 5m write 3.75, 1h write 6, read 0.3
    let expected_cost = 120.0 * 3e-6 + 45.0 * 15e-6 + 30.0 * 3.75e-6 + 20.0 * 6e-6 + 400.0 * 0.3e-6;
    assert!(
        (r.cost_usd.unwrap() - expected_cost).abs() < 1e-9,
        "cost {:?}",
        r.cost_usd
    );
    app.stop().await;
}

#[tokio::test]
async fn non_streaming_response_and_unknown_model_gets_null_cost() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    let resp = app.messages(body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert_eq!(
        text,
        bodies::anthropic_message_json(MODEL, &MockUsage::default(), bodies::DEFAULT_DELTAS)
    );

    let mut unknown = body(false);
    unknown["model"] = "claude-unreleased-9".into();
    assert_eq!(send_status(app.messages(unknown)).await, 200);
    let records = app.usage(2).await;
    assert_eq!(records[0].usage.input_tokens, 16);
    assert!(records[0].cost_usd.unwrap() > 0.0);
    assert_eq!(
        records[1].cost_usd, None,
        "an unpriced model is null, never 0"
    );
    assert_eq!(records[1].usage.output_tokens, 38);
    app.stop().await;
}

#[tokio::test]
async fn rate_limited_account_fails_over_and_cools_until_reset() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec {
        priority: 1,
        ..AccountSpec::claude("first", "sk-ant-first")
    })
    .await;
    app.add_account(AccountSpec {
        priority: 2,
        ..AccountSpec::claude("second", "sk-ant-second")
    })
    .await;
    let reset = chrono::Utc::now().timestamp() as u64 + 600;
    mock.push_for("sk-ant-first", Fault::rate_limited(reset));

    let resp = app.messages(body(true)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap();
    assert_eq!(mock.count_for("sk-ant-first"), 1);
    assert_eq!(mock.count_for("sk-ant-second"), 1);

    // The first account now cools until the reset the upstream announced.
    let first = app
        .state
        .snapshot
        .load()
        .accounts
        .iter()
        .find(|a| a.name == "first")
        .cloned()
        .unwrap();
    assert_eq!(first.status, AccountStatus::Cooling);
    assert_eq!(first.status_until.unwrap().timestamp() as u64, reset);

    // Later requests skip it without asking it again.
    for _ in 0..3 {
        assert_eq!(send_status(app.messages(body(false))).await, 200);
    }
    assert_eq!(mock.count_for("sk-ant-first"), 1);
    let records = app.usage(4).await;
    assert_eq!(records[0].attempts, 2);
    assert_eq!(records[0].status, 200);
    // The state reached the store too.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.account("first").await.status, AccountStatus::Cooling);
    app.stop().await;
}

#[tokio::test]
async fn overload_and_server_errors_fail_over_and_client_errors_do_not() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    for (name, key) in [("a", "sk-ant-a"), ("b", "sk-ant-b"), ("c", "sk-ant-c")] {
        app.add_account(AccountSpec::claude(name, key)).await;
    }
    mock.push(Fault::overloaded());
    mock.push(Fault::server_error());
    let resp = app.messages(body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(mock.request_count(), 3);
    let records = app.usage(1).await;
    assert_eq!(records[0].attempts, 3);

    // A 400 is about the request: forwarded as is, no other account tried.
    let app2_mock = MockUpstream::start().await;
    let app2 = TestApp::start(&app2_mock).await;
    app2.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    app2.add_account(AccountSpec::claude("b", "sk-ant-b")).await;
    let bad = bodies::anthropic_error_json("invalid_request_error", "max_tokens: field required");
    app2_mock.push(Fault::status(400, bad.clone()));
    let resp = app2.messages(body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.text().await.unwrap(), bad);
    assert_eq!(app2_mock.request_count(), 1);
    let snap = app2.state.snapshot.load();
    assert!(
        snap.accounts
            .iter()
            .all(|a| a.status == AccountStatus::Active)
    );
    app.stop().await;
    app2.stop().await;
}

#[tokio::test]
async fn when_every_account_fails_the_client_gets_the_last_error_and_with_none_a_404() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    // No account serves the model at all: a configuration problem, not worth retrying.
    let resp = app.messages(body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(err["type"], "error");
    assert_eq!(err["error"]["type"], "not_found_error");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("model `claude-sonnet-4-20250514` is not served by any account")
    );

    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    app.add_account(AccountSpec::claude("b", "sk-ant-b")).await;
    mock.push_n(
        2,
        Fault::rate_limited(chrono::Utc::now().timestamp() as u64 + 60),
    );
    let resp = app.messages(body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["type"], "rate_limit_error");
    let records = app.usage(2).await;
    assert_eq!(records[1].status, 429);
    assert_eq!(
        records[1].error_kind.as_deref(),
        Some("upstream_rate_limited")
    );
    app.stop().await;
}

#[tokio::test]
async fn oauth_account_refreshes_once_on_401_and_persists_the_rotated_token() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::oauth(
        "max",
        "sk-ant-oat01-old",
        "sk-ant-ort01-old",
    ))
    .await;
    mock.push_for("sk-ant-oat01-old", Fault::unauthorized());

    let resp = app
        .messages(body(false))
        .header("anthropic-beta", "interleaved-thinking-2025-05-14")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(mock.tokens_issued(), 1);
    let sent = mock.last_request().unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sk-ant-oat01-mock-1")
    );
    assert_eq!(sent.header("x-api-key"), None);
    let betas = sent.header("anthropic-beta").unwrap();
    assert!(
        betas.contains("oauth-2025-04-20") && betas.contains("interleaved-thinking-2025-05-14")
    );
    let refresh = mock
        .requests()
        .into_iter()
        .find(|r| r.path_only() == "/v1/oauth/token")
        .unwrap();
    assert_eq!(refresh.json().unwrap()["refresh_token"], "sk-ant-ort01-old");

    let stored = app.account("max").await;
    assert_eq!(
        stored.credentials.access_token.unwrap().expose(),
        "sk-ant-oat01-mock-1"
    );
    assert_eq!(
        stored.credentials.refresh_token.unwrap().expose(),
        "sk-ant-ort01-mock-1"
    );
    assert_eq!(stored.status, AccountStatus::Active);
    app.stop().await;
}

#[tokio::test]
async fn expiring_token_is_refreshed_once_for_concurrent_requests() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec {
        expires_at: Some(chrono::Utc::now() + chrono::Duration::seconds(30)),
        ..AccountSpec::oauth("max", "sk-ant-oat01-old", "sk-ant-ort01-old")
    })
    .await;
    let requests = (0..8).map(|_| app.messages(body(false)).send());
    for r in futures_util::future::join_all(requests).await {
        assert_eq!(r.unwrap().status(), 200);
    }
    assert_eq!(mock.tokens_issued(), 1, "single-flight refresh");
    assert_eq!(mock.count_for("sk-ant-oat01-old"), 0);
    assert_eq!(mock.count_for("sk-ant-oat01-mock-1"), 8);
    app.stop().await;
}

#[tokio::test]
async fn revoked_refresh_token_puts_the_account_in_error_and_fails_over() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec {
        priority: 1,
        ..AccountSpec::oauth("max", "sk-ant-oat01-old", "sk-ant-ort01-old")
    })
    .await;
    app.add_account(AccountSpec {
        priority: 2,
        ..AccountSpec::claude("backup", "sk-ant-backup")
    })
    .await;
    mock.push_for("sk-ant-oat01-old", Fault::unauthorized());
    mock.push_oauth(Fault::invalid_grant());
    let resp = app.messages(body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(mock.count_for("sk-ant-backup"), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let max = app.account("max").await;
    assert_eq!(max.status, AccountStatus::Error);
    assert!(max.status_reason.unwrap().contains("refresh"));
    app.stop().await;
}

#[tokio::test]
async fn a_stream_that_breaks_after_the_first_byte_ends_with_an_error_without_failover() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    app.add_account(AccountSpec::claude("b", "sk-ant-b")).await;
    mock.push(Fault::DisconnectMidStream { after_events: 3 });
    let resp = app.messages(body(true)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let (bytes, aborted) = read_until_error(resp).await;
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with("event: message_start"));
    assert!(text.ends_with("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"upstream stream ended unexpectedly\"}}\n\n"));
    assert!(
        aborted,
        "the transfer is aborted after the error event, never ended cleanly"
    );
    assert_eq!(
        mock.request_count(),
        1,
        "never fail over after the first byte"
    );
    let r = &app.usage(1).await[0];
    assert_eq!(r.error_kind.as_deref(), Some("upstream_stream_broken"));
    assert_eq!(
        r.usage.input_tokens, 16,
        "usage seen before the break is kept"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_error_event_after_200_is_forwarded_and_recorded() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    mock.push(Fault::ErrorEventAfter200);
    let resp = app.messages(body(true)).send().await.unwrap();
    let text = resp.text().await.unwrap();
    assert!(text.contains(
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\""
    ));
    assert_eq!(
        text.matches("event: error").count(),
        1,
        "no second error appended"
    );
    let r = &app.usage(1).await[0];
    assert_eq!(
        r.error_kind.as_deref(),
        Some("stream_error:overloaded_error")
    );
    app.stop().await;
}

#[tokio::test]
async fn sessions_stick_to_one_account_and_move_when_it_becomes_unusable() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    for (name, key) in [("a", "sk-ant-a"), ("b", "sk-ant-b"), ("c", "sk-ant-c")] {
        app.add_account(AccountSpec::claude(name, key)).await;
    }
    let session = "0b5e0f4e-2f7a-4c53-9d87-3d1c6ad1c001";
    for _ in 0..12 {
        assert_eq!(send_status(app.messages(session_body(session))).await, 200);
    }
    let counts = mock.credential_counts();
    assert_eq!(counts.len(), 1, "one session, one account: {counts:?}");
    let (bound_key, _) = counts.into_iter().next().unwrap();
    let bound = app
        .state
        .snapshot
        .load()
        .accounts
        .iter()
        .find(|a| a.credentials.api_key.as_ref().unwrap().expose() == bound_key)
        .cloned()
        .unwrap();

    // The bound account is disabled by an operator: the session moves, then stays put.
    app.store
        .set_account_state_by_operator(
            bound.id,
            &AccountState {
                status: AccountStatus::Disabled,
                reason: Some("operator".into()),
                until: None,
                consecutive_errors: 0,
            },
        )
        .await
        .unwrap();
    app.state.refresh_if_changed().await.unwrap();
    mock.clear_requests();
    for _ in 0..8 {
        assert_eq!(send_status(app.messages(session_body(session))).await, 200);
    }
    let counts = mock.credential_counts();
    assert_eq!(counts.len(), 1, "re-bound to one account: {counts:?}");
    assert!(!counts.contains_key(&bound_key));
    let records = app.usage(20).await;
    assert!(
        records
            .iter()
            .all(|r| r.session_hash.as_deref() == records[0].session_hash.as_deref())
    );
    app.stop().await;
}

#[tokio::test]
async fn same_prompt_from_two_keys_has_different_session_hashes() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    let generated = switchyard_core::key::generate();
    let user = app.store.user_by_name("alice").await.unwrap().unwrap();
    app.store
        .create_key(switchyard_store::NewApiKey {
            user_id: user.id,
            name: "other".into(),
            prefix: generated.prefix.clone(),
            hash: generated.hash.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    app.state.refresh_if_changed().await.unwrap();
    let s = "0b5e0f4e-2f7a-4c53-9d87-3d1c6ad1c001";
    app.messages(session_body(s)).send().await.unwrap();
    app.http
        .post(format!("{}/v1/messages", app.url))
        .header("x-api-key", &generated.full)
        .json(&session_body(s))
        .send()
        .await
        .unwrap();
    let r = app.usage(2).await;
    assert!(r[0].session_hash.is_some());
    assert_ne!(r[0].session_hash, r[1].session_hash);
    app.stop().await;
}

#[tokio::test]
async fn slots_are_released_when_the_client_disconnects_mid_stream() {
    let mock = MockUpstream::start().await;
    mock.set_stream_hold(Duration::from_secs(3));
    let app = TestApp::start(&mock).await;
    let account = app
        .add_account(AccountSpec {
            max_concurrency: 1,
            ..AccountSpec::claude("a", "sk-ant-a")
        })
        .await;

    let resp = app.messages(body(true)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"event: message_start"));
    assert_eq!(app.state.coord.in_flight(Scope::Account, account.id), 1);
    // The only slot is taken: a second request finds no free account.
    let busy = app.messages(body(false)).send().await.unwrap();
    assert_eq!(busy.status(), 503);

    drop(stream);
    // The upstream is read on briefly for its usage (up to two seconds), then everything goes.
    let released = eventually(Duration::from_secs(5), || async {
        (app.state.coord.in_flight(Scope::Account, account.id) == 0
            && app.state.coord.in_flight(Scope::Key, app.key_id) == 0)
            .then_some(())
    })
    .await;
    assert!(
        released.is_some(),
        "slot released after the client went away"
    );
    let records = app.usage(2).await;
    let r = records.iter().find(|r| r.status == 200).unwrap();
    assert_eq!(r.error_kind.as_deref(), Some("client_disconnected"));
    assert_eq!(r.usage.input_tokens, 16);
    assert_eq!(send_status(app.messages(body(false))).await, 200);
    app.stop().await;
}

#[tokio::test]
async fn model_mapping_rewrites_only_the_model_and_unmapped_bodies_are_untouched() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec {
        model_map: vec![("claude-sonnet-4-20250514", "claude-opus-4-1-20250805")],
        models: vec!["claude-haiku-*".into()],
        ..AccountSpec::claude("a", "sk-ant-a")
    })
    .await;
    let raw = r#"{"model":"claude-sonnet-4-20250514",  "max_tokens":64,"messages":[{"role":"user","content":"héllo"}],"metadata":{"model":"keep"}}"#;
    let resp = app
        .http
        .post(format!("{}/v1/messages", app.url))
        .header("x-api-key", &app.key)
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let sent = mock.last_request().unwrap();
    assert_eq!(
        std::str::from_utf8(&sent.body).unwrap(),
        raw.replace(
            "\"model\":\"claude-sonnet-4-20250514\"",
            "\"model\":\"claude-opus-4-1-20250805\""
        )
    );
    let raw2 = r#"{"model":"claude-haiku-4-5","max_tokens":64,"messages":[{"role":"user","content":"x"}]}"#;
    app.http
        .post(format!("{}/v1/messages", app.url))
        .header("x-api-key", &app.key)
        .body(raw2)
        .send()
        .await
        .unwrap();
    assert_eq!(mock.last_request().unwrap().body.as_ref(), raw2.as_bytes());
    // A model neither listed nor mapped has no account: a 404 naming it.
    let raw3 = r#"{"model":"claude-3-opus","max_tokens":64,"messages":[]}"#;
    let resp = app
        .http
        .post(format!("{}/v1/messages", app.url))
        .header("x-api-key", &app.key)
        .body(raw3)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let records = app.usage(3).await;
    assert_eq!(
        records[0].upstream_model.as_deref(),
        Some("claude-opus-4-1-20250805")
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_requests_get_anthropic_errors() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    let url = format!("{}/v1/messages", app.url);

    let r = app.http.post(&url).json(&body(false)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "authentication_error");

    let r = app
        .http
        .post(&url)
        .header("x-api-key", "sk-sy-wrong")
        .json(&body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let r = app
        .http
        .post(&url)
        .header("x-api-key", &app.key)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "invalid_request_error");

    let r = app
        .http
        .post(&url)
        .header("x-api-key", &app.key)
        .body(r#"{"max_tokens":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("model"));

    let big = "x".repeat(33 * 1024 * 1024);
    let r = app
        .http
        .post(&url)
        .header("x-api-key", &app.key)
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(mock.request_count(), 0, "nothing reached the upstream");

    app.store.revoke_key(&app.key_id.to_string()).await.unwrap();
    app.state.refresh_if_changed().await.unwrap();
    let r = app.messages(body(false)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("revoked"));
    app.stop().await;
}

#[tokio::test]
async fn first_byte_timeout_fails_over() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.store
        .set_setting("first_byte_timeout_seconds", "1")
        .await
        .unwrap();
    // Non-streaming responses get their own, longer bound (their headers come at the end).
    app.store
        .set_setting("non_stream_timeout_seconds", "1")
        .await
        .unwrap();
    app.add_account(AccountSpec {
        priority: 1,
        ..AccountSpec::claude("slow", "sk-ant-slow")
    })
    .await;
    app.add_account(AccountSpec {
        priority: 2,
        ..AccountSpec::claude("fast", "sk-ant-fast")
    })
    .await;
    mock.push_for("sk-ant-slow", Fault::SlowFirstByte(Duration::from_secs(5)));
    let started = std::time::Instant::now();
    let r = app.messages(body(false)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(mock.count_for("sk-ant-fast"), 1);
    let rec = &app.usage(1).await[0];
    assert_eq!(rec.attempts, 2);
    app.stop().await;
}

#[tokio::test]
async fn count_tokens_and_models() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec {
        models: vec!["claude-sonnet-4-5".into(), "claude-haiku-*".into()],
        ..AccountSpec::claude("a", "sk-ant-a")
    })
    .await;
    let r = app
        .http
        .post(format!("{}/claude/v1/messages/count_tokens", app.url))
        .header("x-api-key", &app.key)
        .json(&serde_json::json!({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["input_tokens"], 16);
    assert_eq!(
        mock.last_request().unwrap().path,
        "/v1/messages/count_tokens"
    );

    let r = app
        .http
        .get(format!("{}/v1/models", app.url))
        .header("x-api-key", &app.key)
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"claude-sonnet-4-5"));
    assert!(ids.iter().any(|m| m.starts_with("claude-haiku-")));
    assert!(!ids.iter().any(|m| m.starts_with("claude-opus")));
    app.stop().await;
}

#[tokio::test]
async fn shutdown_flushes_usage_records() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    for _ in 0..5 {
        app.messages(body(false))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    let store = app.store.clone();
    app.stop().await;
    assert_eq!(store.recent_usage(100).await.unwrap().len(), 5);
}

/// A background write still running at shutdown finishes before the server stops instead of
/// being dropped.
#[tokio::test]
async fn shutdown_waits_for_background_tasks() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let store = app.store.clone();
    let late = store.clone();
    app.state.tasks.spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        late.set_setting("max_attempts", "3").await.unwrap();
    });
    app.stop().await;
    assert_eq!(
        store
            .settings()
            .await
            .unwrap()
            .get("max_attempts")
            .map(String::as_str),
        Some("3"),
        "the write started before shutdown was saved"
    );
}

/// A background task that would outlast the grace period (2 s in tests) does not hold
/// shutdown up.
#[tokio::test]
async fn shutdown_waits_for_background_tasks_no_longer_than_the_grace_period() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.state
        .tasks
        .spawn(tokio::time::sleep(Duration::from_secs(3600)));
    let started = std::time::Instant::now();
    app.stop().await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

#[tokio::test]
async fn operator_price_overrides_apply_to_new_requests() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    let mut b = body(false);
    b["model"] = "claude-opus-4-8".into();
    app.messages(b.clone()).send().await.unwrap();
    let price = switchyard_core::pricing::ModelPrice {
        input_cost_per_token: 5e-6,
        output_cost_per_token: 25e-6,
        cache_creation_input_token_cost: None,
        cache_creation_input_token_cost_above_1hr: None,
        cache_read_input_token_cost: None,
        output_cost_per_reasoning_token: None,
    };
    app.store
        .set_price("claude-opus-4-8", &price)
        .await
        .unwrap();
    app.state.refresh_if_changed().await.unwrap();
    app.messages(b).send().await.unwrap();
    let records = app.usage(2).await;
    assert_eq!(records[0].cost_usd, None);
    let expected = 16.0 * 5e-6 + 38.0 * 25e-6;
    assert!((records[1].cost_usd.unwrap() - expected).abs() < 1e-12);
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_leaves_before_the_response_still_gets_a_usage_record() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let account = app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    mock.push(Fault::SlowFirstByte(Duration::from_millis(800)));
    let gave_up = app
        .messages(body(true))
        .timeout(Duration::from_millis(150))
        .send()
        .await;
    assert!(gave_up.is_err());
    let r = &app.usage(1).await[0];
    assert_eq!(r.error_kind.as_deref(), Some("client_disconnected"));
    assert_eq!(r.status, 499);
    assert_eq!(r.api_key_id, Some(app.key_id));
    let released = eventually(Duration::from_secs(2), || async {
        (app.state.coord.in_flight(Scope::Account, account.id) == 0).then_some(())
    })
    .await;
    assert!(released.is_some());
    app.stop().await;
}

#[tokio::test]
async fn refusals_after_authentication_are_recorded_and_keys_in_the_query_stay_here() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    // A Switchyard key sent as ?key= authenticates but never reaches the upstream.
    let r = app
        .http
        .post(format!("{}/v1/messages?beta=true&key={}", app.url, app.key))
        .json(&body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(mock.last_request().unwrap().path, "/v1/messages?beta=true");
    let r = app
        .http
        .post(format!("{}/v1/messages", app.url))
        .header("x-api-key", &app.key)
        .body("{broken")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let records = app.usage(2).await;
    assert_eq!(records[1].status, 400);
    assert_eq!(records[1].error_kind.as_deref(), Some("refused"));
    assert_eq!(records[1].api_key_id, Some(app.key_id));
    app.stop().await;
}

#[tokio::test]
async fn a_rejected_account_credential_is_not_reported_as_the_clients_bad_key() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    mock.push(Fault::unauthorized());
    let r = app.messages(body(false)).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "api_error");
    let rec = &app.usage(1).await[0];
    assert_eq!(rec.status, 502);
    assert_eq!(rec.error_kind.as_deref(), Some("upstream_unauthorized"));
    app.stop().await;
}

#[tokio::test]
async fn shutdown_ends_streams_still_open_after_the_grace_period_and_records_them() {
    let mock = MockUpstream::start().await;
    mock.set_stream_hold(Duration::from_secs(60));
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    let resp = app.messages(body(true)).send().await.unwrap();
    let reader = tokio::spawn(read_until_error(resp));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let store = app.store.clone();
    let started = std::time::Instant::now();
    app.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let (bytes, aborted) = reader.await.unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with("event: message_start"));
    assert!(
        text.ends_with("the relay is shutting down; the stream was ended\"}}\n\n"),
        "{text}"
    );
    assert!(
        text.contains("overloaded_error"),
        "clients retry it: {text}"
    );
    assert!(aborted);
    let records = store.recent_usage(10).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].error_kind.as_deref(), Some("server_shutdown"));
    assert_eq!(records[0].usage.input_tokens, 16);
}

#[tokio::test]
async fn wrong_methods_and_unknown_paths_answer_in_the_clients_dialect() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let r = app
        .http
        .get(format!("{}/v1/messages", app.url))
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["type"], "error");
    assert!(e["error"]["message"].as_str().unwrap().contains("GET"));
    let r = app
        .http
        .get(format!("{}/v1/chat/completions", app.url))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let e: serde_json::Value = r.json().await.unwrap();
    assert!(e["error"]["message"].is_string());
    let r = app
        .http
        .post(format!("{}/v1/nothing-here", app.url))
        .header("x-api-key", &app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "not_found_error");
    app.stop().await;
}
