//! The OpenAI dialects through the relay: Responses (Codex) and Chat Completions.

use base64::Engine;
use std::time::Duration;
use switchyard_testkit::{
    Fault, MockUpstream, MockUsage, bodies, chat_stream_bytes, responses_stream_bytes,
};

use crate::support::{AccountSpec, TestApp, eventually, send_json};

fn responses_body(stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": "gpt-5-codex",
        "stream": stream,
        "store": false,
        "input": [{"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are Codex"}]},
                  {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        "prompt_cache_key": "7f1c0a52-6d3e-4b7a-9f00-000000000001"
    })
}

fn chat_body(stream: bool, include_usage: Option<bool>) -> serde_json::Value {
    let mut b = serde_json::json!({
        "model": "gpt-5-mini",
        "stream": stream,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    });
    if let Some(u) = include_usage {
        b["stream_options"] = serde_json::json!({"include_usage": u});
    }
    b
}

/// A ChatGPT-style access token (unsigned JWT) carrying an account id claim.
fn chatgpt_jwt() -> &'static str {
    let payload = serde_json::json!({
        "exp": chrono::Utc::now().timestamp() + 3600,
        "https://api.openai.com/auth": {"chatgpt_account_id": "acct-123", "chatgpt_plan_type": "plus"}
    });
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let token = format!(
        "eyJhbGciOiJub25lIn0.{}.c2ln",
        b64.encode(payload.to_string())
    );
    Box::leak(token.into_boxed_str())
}

#[tokio::test]
async fn a_pool_with_only_an_openai_compatible_account_serves_responses() {
    let mock = MockUpstream::start().await;
    let usage = MockUsage {
        input: 100,
        output: 50,
        cache_read: 20,
        reasoning: 10,
        ..Default::default()
    };
    mock.set_usage(usage);
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::openai(
        "compat",
        "sk-compat",
        format!("{}/v1", mock.url()),
    ))
    .await;
    let resp = app
        .post("/v1/responses", responses_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got = resp.bytes().await.unwrap();
    assert_eq!(
        got.as_ref(),
        responses_stream_bytes("gpt-5-codex", &usage, bodies::DEFAULT_DELTAS).as_slice()
    );
    let sent = mock.last_request().unwrap();
    assert_eq!(sent.path, "/v1/responses");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-compat"));
    let r = &app.usage(1).await[0];
    assert_eq!(r.dialect, "openai-responses");
    assert_eq!(r.usage.input_tokens, 100, "uncached input");
    assert_eq!(r.usage.cache_read_tokens, 20);
    assert_eq!(r.usage.output_tokens, 50);
    assert_eq!(r.usage.reasoning_tokens, 10);
    assert!(r.cost_usd.is_some());
    app.stop().await;
}

#[tokio::test]
async fn codex_sessions_stick_to_one_account_across_both_kinds() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::codex("codex-a", "sk-proj-a"))
        .await;
    app.add_account(AccountSpec::codex("codex-b", "sk-proj-b"))
        .await;
    app.add_account(AccountSpec::openai(
        "compat",
        "sk-compat",
        format!("{}/v1", mock.url()),
    ))
    .await;
    for i in 0..12 {
        let header = if i % 2 == 0 {
            "session_id"
        } else {
            "session-id"
        };
        let r = app
            .post("/v1/responses", responses_body(false))
            .header(header, "5e8c3d1a-9b7f-4e2a-8c6d-000000000042")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let counts = mock.credential_counts();
    assert_eq!(counts.len(), 1, "{counts:?}");
    app.stop().await;
}

#[tokio::test]
async fn chatgpt_accounts_get_the_backend_path_headers_and_store_false() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let token = chatgpt_jwt();
    app.add_account(AccountSpec::codex("chatgpt", token)).await;
    let mut body = responses_body(true);
    body["store"] = true.into();
    let r = app
        .post("/v1/responses", body)
        .header("originator", "codex_exec")
        .header("session-id", "5e8c3d1a-9b7f-4e2a-8c6d-000000000043")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let sent = mock.last_request().unwrap();
    assert_eq!(sent.path, "/backend-api/codex/responses");
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    assert_eq!(sent.header("chatgpt-account-id"), Some("acct-123"));
    assert_eq!(sent.header("openai-beta"), Some("responses=experimental"));
    assert_eq!(sent.header("originator"), Some("codex_exec"));
    assert_eq!(
        sent.header("session-id"),
        Some("5e8c3d1a-9b7f-4e2a-8c6d-000000000043")
    );
    assert_eq!(sent.json().unwrap()["store"], false);
    // The Codex quota headers of the answer are kept for the account.
    let id = app.account("chatgpt").await.id;
    let quota = eventually(Duration::from_secs(1), || async {
        app.store.account_quotas().await.unwrap().remove(&id)
    })
    .await
    .expect("codex usage windows stored");
    assert_eq!(quota["source"], "codex");
    assert!(quota["primary"]["used_percent"].is_number());
    let r = app
        .post("/v1/responses/compact", responses_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(
        mock.last_request().unwrap().path,
        "/backend-api/codex/responses/compact"
    );
    drop(r);
    app.stop().await;
}

#[tokio::test]
async fn continuations_stay_on_the_account_that_produced_the_response() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::codex("a", "sk-proj-a")).await;
    app.add_account(AccountSpec::codex("b", "sk-proj-b")).await;
    app.add_account(AccountSpec::codex("c", "sk-proj-c")).await;
    let first = app
        .post("/v1/responses", responses_body(true))
        .send()
        .await
        .unwrap();
    first.bytes().await.unwrap();
    let producer = mock.last_request().unwrap().credential.unwrap();
    mock.clear_requests();
    for i in 0..9 {
        let mut body = responses_body(false);
        body["previous_response_id"] = "resp_0mockupstream0000000000000001".into();
        body["prompt_cache_key"] = format!("different-{i}").into();
        app.post("/v1/responses", body).send().await.unwrap();
    }
    assert_eq!(
        mock.count_for(&producer),
        9,
        "{:?}",
        mock.credential_counts()
    );
    app.stop().await;
}

#[tokio::test]
async fn responses_fail_over_and_usage_limit_cools_the_account() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec {
        priority: 1,
        ..AccountSpec::codex("plus", "sk-proj-plus")
    })
    .await;
    app.add_account(AccountSpec {
        priority: 2,
        ..AccountSpec::codex("pro", "sk-proj-pro")
    })
    .await;
    mock.push_for(
        "sk-proj-plus",
        Fault::status(
            429,
            r#"{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached","plan_type":"plus","resets_in_seconds":1800}}"#,
        ),
    );
    let r = app
        .post("/v1/responses", responses_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    let plus = app
        .state
        .snapshot
        .load()
        .accounts
        .iter()
        .find(|a| a.name == "plus")
        .cloned()
        .unwrap();
    assert_eq!(plus.status, switchyard_core::AccountStatus::Cooling);
    let left = plus.status_until.unwrap() - chrono::Utc::now();
    assert!(
        left > chrono::Duration::seconds(1700) && left <= chrono::Duration::seconds(1800),
        "{left}"
    );
    app.stop().await;
}

#[tokio::test]
async fn chat_usage_chunk_requested_by_switchyard_is_hidden_from_the_client() {
    let mock = MockUpstream::start().await;
    let usage = MockUsage {
        input: 19,
        output: 76,
        reasoning: 64,
        ..Default::default()
    };
    mock.set_usage(usage);
    mock.set_chunking(switchyard_testkit::Chunking::EveryNBytes(7));
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::openai(
        "oa",
        "sk-oa",
        format!("{}/v1", mock.url()),
    ))
    .await;

    let r = app
        .post("/v1/chat/completions", chat_body(true, None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = r.bytes().await.unwrap();
    // Exactly what the upstream sends a client that did not ask for usage: no usage chunk, and
    // no `"usage":null` in every chunk (which include_usage adds).
    let expected: Vec<u8> =
        bodies::chat_stream_events("gpt-5-mini", &usage, bodies::DEFAULT_DELTAS, false)
            .into_iter()
            .flat_map(|e| e.to_vec())
            .collect();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&expected)
    );
    assert!(!String::from_utf8_lossy(&got).contains("prompt_tokens"));
    let sent = mock.last_request().unwrap().json().unwrap();
    assert_eq!(sent["stream_options"]["include_usage"], true);

    // A client that asked for usage gets exactly what upstream sent.
    let r = app
        .post("/openai/v1/chat/completions", chat_body(true, Some(true)))
        .send()
        .await
        .unwrap();
    let got = r.bytes().await.unwrap();
    assert_eq!(
        got.as_ref(),
        chat_stream_bytes("gpt-5-mini", &usage, bodies::DEFAULT_DELTAS, true).as_slice()
    );

    let records = app.usage(2).await;
    for r in &records {
        assert_eq!(r.dialect, "openai-chat");
        assert_eq!(r.usage.input_tokens, 19);
        assert_eq!(r.usage.output_tokens, 76);
        assert_eq!(r.usage.reasoning_tokens, 64);
    }
    app.stop().await;
}

#[tokio::test]
async fn chat_fails_over_and_non_stream_usage_is_recorded() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec {
        priority: 1,
        ..AccountSpec::openai("a", "sk-a", format!("{}/v1", mock.url()))
    })
    .await;
    app.add_account(AccountSpec {
        priority: 2,
        ..AccountSpec::openai("b", "sk-b", format!("{}/v1", mock.url()))
    })
    .await;
    mock.push_for(
        "sk-a",
        Fault::status(500, bodies::openai_error_json("server_error", "boom", None)),
    );
    let r = app
        .post("/v1/chat/completions", chat_body(false, None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    let rec = &app.usage(1).await[0];
    assert_eq!(rec.attempts, 2);
    assert_eq!(rec.usage.output_tokens, 38);
    app.stop().await;
}

#[tokio::test]
async fn openai_clients_get_openai_errors_and_models() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let r = app
        .http
        .post(format!("{}/v1/chat/completions", app.url))
        .json(&chat_body(false, None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "authentication_error");
    let r = app
        .post("/v1/responses", responses_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "no account serves it: not worth retrying");
    let e: serde_json::Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is not served by any account")
    );
    let r = app
        .post("/v1/responses", serde_json::json!({"input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "invalid_request_error");

    app.add_account(AccountSpec {
        models: vec!["gpt-5".into(), "gpt-5-mini".into()],
        ..AccountSpec::openai("a", "sk-a", format!("{}/v1", mock.url()))
    })
    .await;
    let v: serde_json::Value = send_json(
        app.http
            .get(format!("{}/v1/models", app.url))
            .bearer_auth(&app.key),
    )
    .await;
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["gpt-5", "gpt-5-mini"]);
    app.stop().await;
}

#[tokio::test]
async fn azure_requests_use_the_deployment_path_and_api_key_header() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let mut extra = serde_json::Map::new();
    extra.insert("deployment".into(), "gpt5-prod".into());
    app.add_account(AccountSpec {
        kind: switchyard_core::AccountKind::Azure,
        base_url: Some(mock.url()),
        extra,
        ..AccountSpec::claude("az", "azure-key-123")
    })
    .await;
    let _ = app
        .post("/v1/chat/completions", chat_body(false, None))
        .send()
        .await
        .unwrap();
    let sent = mock.last_request().unwrap();
    assert_eq!(
        sent.path,
        "/openai/deployments/gpt5-prod/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(sent.header("api-key"), Some("azure-key-123"));
    assert_eq!(sent.header("authorization"), None);
    tokio::time::sleep(Duration::from_millis(10)).await;
    app.stop().await;
}

#[tokio::test]
async fn a_non_streaming_client_on_a_chatgpt_account_gets_one_json_response() {
    let mock = MockUpstream::start().await;
    let usage = MockUsage {
        input: 30,
        output: 12,
        cache_read: 10,
        reasoning: 4,
        ..Default::default()
    };
    mock.set_usage(usage);
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::codex("chatgpt", chatgpt_jwt()))
        .await;
    let r = app
        .post("/v1/responses", responses_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["usage"]["output_tokens"], 12);
    let sent = mock.last_request().unwrap().json().unwrap();
    assert_eq!(sent["stream"], true, "the backend only streams");
    assert_eq!(sent["store"], false);
    let rec = &app.usage(1).await[0];
    assert!(!rec.stream);
    assert_eq!(rec.usage.input_tokens, 30);
    assert_eq!(rec.usage.cache_read_tokens, 10);
    app.stop().await;
}

#[tokio::test]
async fn the_clients_own_openai_scoping_headers_are_not_forwarded() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::openai(
        "oa",
        "sk-oa",
        format!("{}/v1", mock.url()),
    ))
    .await;
    app.post("/v1/chat/completions", chat_body(false, None))
        .header("openai-organization", "org-client")
        .header("openai-project", "proj-client")
        .header("chatgpt-account-id", "acct-client")
        .send()
        .await
        .unwrap();
    let sent = mock.last_request().unwrap();
    assert_eq!(sent.header("openai-organization"), None);
    assert_eq!(sent.header("openai-project"), None);
    assert_eq!(sent.header("chatgpt-account-id"), None);
    app.stop().await;
}

#[tokio::test]
async fn an_expired_chatgpt_token_is_refreshed_and_the_rotation_saved() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let expired = Box::leak(
        switchyard_testkit::chatgpt_jwt("acct-old", chrono::Utc::now().timestamp() as u64 - 60)
            .into_boxed_str(),
    );
    app.add_account(AccountSpec {
        refresh_token: Some("rt-old"),
        ..AccountSpec::codex("chatgpt", expired)
    })
    .await;
    let r = app
        .post("/v1/responses", responses_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    let refresh = mock
        .requests()
        .into_iter()
        .find(|r| r.path_only() == "/oauth/token")
        .unwrap();
    let sent = refresh.json().unwrap();
    assert_eq!(sent["client_id"], "app_EMoamEEZ73f0CkXaXp7hrann");
    assert_eq!(sent["refresh_token"], "rt-old");
    let upstream = mock.last_request().unwrap();
    assert_eq!(upstream.path, "/backend-api/codex/responses");
    assert_eq!(upstream.header("chatgpt-account-id"), Some("acct-mock-1"));
    let stored = app.account("chatgpt").await;
    assert_eq!(
        stored.credentials.refresh_token.unwrap().expose(),
        "rt-mock-1"
    );
    assert!(
        stored
            .credentials
            .access_token
            .unwrap()
            .expose()
            .starts_with("eyJ")
    );

    // A 401 from the backend refreshes once more and the request still succeeds.
    let current = mock
        .last_request()
        .unwrap()
        .header("authorization")
        .unwrap()
        .trim_start_matches("Bearer ")
        .to_string();
    mock.push_for(current, Fault::unauthorized());
    let r = app
        .post("/v1/responses", responses_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    assert_eq!(mock.tokens_issued(), 2);
    assert_eq!(
        mock.last_request().unwrap().header("chatgpt-account-id"),
        Some("acct-mock-2")
    );
    app.stop().await;
}
