//! API key policy, users and account groups, enforced in the admit and route phases, through
//! the real server against the mock upstream.

use std::time::{Duration, Instant};
use switchyard_core::key::{self, KeyPolicy, UserLimits};
use switchyard_store::NewApiKey;
use switchyard_testkit::{MockUpstream, MockUsage};

use crate::support::{AccountSpec, TestApp, body, eventually, send_json, send_status};

const MODEL: &str = "claude-sonnet-4-20250514";

impl TestApp {
    async fn set_policy(&self, policy: KeyPolicy) {
        self.store
            .set_key_policy(self.key_id, &policy)
            .await
            .unwrap();
        self.state.refresh_if_changed().await.unwrap();
    }

    /// Another key of the test user (`alice`), with `policy`.
    async fn another_key(&self, name: &str, policy: KeyPolicy) -> String {
        let user = self.store.user_by_name("alice").await.unwrap().unwrap();
        let generated = key::generate();
        self.store
            .create_key(NewApiKey {
                user_id: user.id,
                name: name.into(),
                prefix: generated.prefix,
                hash: generated.hash,
                policy,
            })
            .await
            .unwrap();
        self.state.refresh_if_changed().await.unwrap();
        generated.full
    }

    fn messages_with(&self, key: &str, body: serde_json::Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/v1/messages", self.url))
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01")
            .json(&body)
    }
}

async fn error_message(resp: reqwest::Response) -> String {
    let v: serde_json::Value = resp.json().await.unwrap();
    v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn app_with_claude(mock: &MockUpstream) -> TestApp {
    let app = TestApp::start(mock).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    app
}

#[tokio::test]
async fn a_lifetime_from_first_use_starts_at_the_first_request() {
    let mock = MockUpstream::start().await;
    let app = app_with_claude(&mock).await;
    app.set_policy(KeyPolicy {
        expires_after_seconds: Some(2),
        ..Default::default()
    })
    .await;
    // Handed out, not used: the clock has not started.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    assert_eq!(send_status(app.messages(body(false))).await, 200);
    // The first use is stored, so a restart keeps the clock.
    let stored = eventually(Duration::from_secs(3), || async {
        app.store.find_key("test").await.unwrap().first_used_at
    })
    .await;
    assert!(stored.is_some(), "first use persisted");
    assert_eq!(send_status(app.messages(body(false))).await, 200);
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let resp = app.messages(body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error", "Anthropic error shape");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("expired"),
        "{v}"
    );

    // A fixed expiry in the past, on the OpenAI dialect: 401 in OpenAI's shape.
    app.set_policy(KeyPolicy {
        expires_at: Some(chrono::Utc::now() - chrono::Duration::seconds(1)),
        ..Default::default()
    })
    .await;
    let resp = app
        .post(
            "/v1/chat/completions",
            serde_json::json!({"model": "gpt-5", "messages": []}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("expired"));
    assert!(v.get("type").is_none(), "OpenAI shape: {v}");
    app.stop().await;
}

#[tokio::test]
async fn model_globs_and_dialects_are_enforced_with_403_naming_what_was_refused() {
    let mock = MockUpstream::start().await;
    let app = app_with_claude(&mock).await;
    app.set_policy(KeyPolicy {
        allowed_models: vec!["claude-*-4-?0250514".into(), "claude-haiku-*".into()],
        allowed_dialects: vec!["anthropic".into()],
        ..Default::default()
    })
    .await;
    assert_eq!(send_status(app.messages(body(false))).await, 200);
    let mut opus = body(false);
    opus["model"] = "claude-opus-4-1".into();
    let resp = app.messages(opus).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    assert!(error_message(resp).await.contains("claude-opus-4-1"));
    let resp = app
        .post(
            "/v1/chat/completions",
            serde_json::json!({"model": "claude-haiku-4-5", "messages": []}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(error_message(resp).await.contains("openai-chat"));
    assert_eq!(mock.request_count(), 1, "refusals never reach the upstream");
    // Refusals are recorded like any request.
    let records = app.usage(3).await;
    assert_eq!(
        records.iter().filter(|r| r.status == 403).count(),
        2,
        "{records:?}"
    );
    app.stop().await;
}

/// What Claude Code 2.1.332 sends (see docs/real-clients.md), reduced to what matters.
fn claude_code_request(app: &TestApp) -> reqwest::RequestBuilder {
    app.http
        .post(format!("{}/v1/messages?beta=true", app.url))
        .header("x-api-key", &app.key)
        .header("anthropic-version", "2023-06-01")
        .header("user-agent", "claude-cli/2.1.332 (external, sdk-cli)")
        .header("x-app", "cli")
        .header("anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14")
        .header("x-claude-code-session-id", "5f0c2a8e-7a51-4d38-9f0f-6f1d1d2a8c11")
        .header("x-stainless-lang", "js")
        .json(&serde_json::json!({
            "model": MODEL,
            "max_tokens": 64,
            "stream": false,
            "metadata": {"user_id": serde_json::json!({
                "device_id": "a".repeat(64),
                "account_uuid": "",
                "session_id": "5f0c2a8e-7a51-4d38-9f0f-6f1d1d2a8c11"
            }).to_string()},
            "system": [
                {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.332; cc_entrypoint=sdk-cli"},
                {"type": "text", "text": "You are a Claude agent, built on Anthropic's Claude Agent SDK."}
            ],
            "messages": [{"role": "user", "content": "say hi"}]
        }))
}

#[tokio::test]
async fn strict_client_detection_accepts_real_clients_and_refuses_impostors() {
    let mock = MockUpstream::start().await;
    let app = app_with_claude(&mock).await;
    app.add_account(AccountSpec::codex("codex", "sk-proj-codex"))
        .await;
    app.set_policy(KeyPolicy {
        allowed_clients: vec!["claude_code".into(), "codex_cli".into()],
        ..Default::default()
    })
    .await;

    assert_eq!(send_status(claude_code_request(&app)).await, 200);
    // A plain SDK that copies Claude Code's user-agent and nothing else.
    let resp = app
        .messages(body(false))
        .header("user-agent", "claude-cli/2.1.332 (external, sdk-cli)")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(error_message(resp).await.contains("claude_code"));
    // Not even pretending.
    let resp = app.messages(body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 403);

    // What Codex CLI 0.169.0 sends to {base}/responses.
    let codex = serde_json::json!({
        "model": "gpt-5-codex", "stream": false, "store": false,
        "input": [{"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are Codex."}]},
                  {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        "prompt_cache_key": "0199a1b2-0000-7000-8000-000000000001"
    });
    let resp = app
        .post("/v1/responses", codex.clone())
        .header(
            "user-agent",
            "codex_exec/0.169.0 (Debian 12.0.0; x86_64) xterm-256color",
        )
        .header("originator", "codex_exec")
        .header("session-id", "0199a1b2-0000-7000-8000-000000000001")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = app
        .post("/v1/responses", codex.clone())
        .header(
            "user-agent",
            "codex_exec/0.169.0 (Debian 12.0.0; x86_64) xterm-256color",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        403,
        "a Codex user-agent without Codex's headers"
    );

    // With strict detection off, the user-agent alone is enough.
    app.setting("client_detection_strict", "false").await;
    let resp = app
        .messages(body(false))
        .header("user-agent", "claude-cli/2.1.332 (external, sdk-cli)")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn over_the_concurrency_limit_requests_wait_then_get_429() {
    let mock = MockUpstream::start().await;
    let app = app_with_claude(&mock).await;
    app.set_policy(KeyPolicy {
        concurrency_limit: 1,
        ..Default::default()
    })
    .await;
    app.setting("concurrency_queue_wait_seconds", "1").await;
    mock.set_stream_hold(Duration::from_millis(2_500));

    let holder = app.messages(body(true)).send().await.unwrap();
    assert_eq!(holder.status(), 200);
    let reading = tokio::spawn(async move { holder.bytes().await.unwrap() });
    // Waits its second in the queue, then is refused.
    let started = Instant::now();
    let resp = app.messages(body(false)).send().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert!(waited >= Duration::from_millis(900), "waited {waited:?}");
    assert!(error_message(resp).await.contains("concurrency limit of 1"));
    reading.await.unwrap();

    // A slot that frees up within the wait is handed to the waiting request.
    mock.set_stream_hold(Duration::from_millis(400));
    app.setting("concurrency_queue_wait_seconds", "5").await;
    let holder = app.messages(body(true)).send().await.unwrap();
    let reading = tokio::spawn(async move { holder.bytes().await.unwrap() });
    let resp = app.messages(body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 200, "served after waiting for the slot");
    reading.await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn request_and_token_rates_per_minute() {
    let mock = MockUpstream::start().await;
    let app = app_with_claude(&mock).await;
    app.set_policy(KeyPolicy {
        rate_limit_per_minute: 2,
        ..Default::default()
    })
    .await;
    for _ in 0..2 {
        assert_eq!(send_status(app.messages(body(false))).await, 200);
    }
    let resp = app.messages(body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "retry-after {retry}");
    assert!(error_message(resp).await.contains("2 requests per minute"));

    // Tokens: the first request uses more than the budget, the next one is refused.
    let other = app
        .another_key(
            "tpm",
            KeyPolicy {
                tokens_per_minute: 100,
                ..Default::default()
            },
        )
        .await;
    mock.set_usage(MockUsage {
        input: 90,
        output: 30,
        ..Default::default()
    });
    assert_eq!(
        send_status(app.messages_with(&other, body(false))).await,
        200
    );
    let resp = app.messages_with(&other, body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    assert!(error_message(resp).await.contains("100 tokens per minute"));
    app.stop().await;
}

#[tokio::test]
async fn cost_limits_hold_under_concurrent_requests() {
    let mock = MockUpstream::start().await;
    let app = app_with_claude(&mock).await;
    // claude-sonnet-4: $3 per million input tokens, so each request costs $0.30.
    mock.set_usage(MockUsage {
        input: 100_000,
        output: 0,
        cache_creation_5m: 0,
        cache_creation_1h: 0,
        cache_read: 0,
        reasoning: 0,
    });
    mock.set_stream_hold(Duration::from_millis(150));
    let per_request = 0.30;
    let limit = 1.0;
    let concurrency = 4;
    app.set_policy(KeyPolicy {
        daily_cost_limit_usd: Some(limit),
        ..Default::default()
    })
    .await;
    let mut admitted = 0;
    let mut refused = 0;
    for _wave in 0..4 {
        let mut wave = Vec::new();
        for _ in 0..concurrency {
            let req = app.messages(body(true));
            wave.push(tokio::spawn(async move {
                let resp = req.send().await.unwrap();
                let status = resp.status().as_u16();
                let retry = resp.headers().get("retry-after").cloned();
                let text = resp.text().await.unwrap();
                (status, retry, text)
            }));
        }
        for r in wave {
            let (status, retry, text) = r.await.unwrap();
            match status {
                200 => admitted += 1,
                429 => {
                    refused += 1;
                    assert!(retry.is_some());
                    assert!(text.contains("daily cost limit of $1.00"), "{text}");
                }
                other => panic!("unexpected status {other}: {text}"),
            }
        }
    }
    let spent: f64 = app
        .usage(admitted)
        .await
        .iter()
        .filter_map(|r| r.cost_usd)
        .sum();
    assert!(refused > 0, "the limit was reached");
    assert!(
        spent <= limit + concurrency as f64 * per_request + 1e-9,
        "spent ${spent:.2}: more than the limit plus what was in flight"
    );
    assert!(
        spent >= limit,
        "spent ${spent:.2}: refused before the limit"
    );

    // The same counters, as the key holder sees them.
    let me: serde_json::Value = send_json(
        app.http
            .get(format!("{}/api/self/usage", app.url))
            .header("authorization", format!("Bearer {}", app.key)),
    )
    .await;
    assert!(
        (me["usage"]["today_usd"].as_f64().unwrap() - spent).abs() < 1e-6,
        "{me}"
    );
    assert!((me["usage"]["total_usd"].as_f64().unwrap() - spent).abs() < 1e-6);
    assert_eq!(me["limits"]["daily_cost_usd"], 1.0);
    assert_eq!(me["key"]["name"], "test");
    assert!(me["recent"].as_array().unwrap().len() >= admitted);
    assert!(
        me.to_string().find(&app.key).is_none(),
        "the key itself is never echoed"
    );
    app.stop().await;
}

#[tokio::test]
async fn cost_already_recorded_counts_after_a_restart() {
    let mock = MockUpstream::start().await;
    let app = app_with_claude(&mock).await;
    mock.set_usage(MockUsage {
        input: 100_000,
        output: 0,
        ..Default::default()
    });
    assert_eq!(send_status(app.messages(body(false))).await, 200);
    app.usage(1).await;
    // A new server on the same store starts from what is recorded.
    let limits = switchyard_server::limits::Limits::default();
    let periods = switchyard_server::limits::Periods::at(
        chrono::Utc::now(),
        chrono::FixedOffset::east_opt(0).unwrap(),
    );
    limits.seed(
        &app.store.spend(periods.day, periods.week).await.unwrap(),
        &periods,
    );
    let used = limits.used_by_key(app.key_id, chrono::Utc::now(), &periods);
    assert!((used.day_usd - 0.30).abs() < 1e-9, "{used:?}");
    assert!((used.total_usd - 0.30).abs() < 1e-9);
    app.stop().await;
}

#[tokio::test]
async fn bound_keys_route_only_to_their_account_or_group() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let a = app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    let b = app.add_account(AccountSpec::claude("b", "sk-ant-b")).await;
    let c = app.add_account(AccountSpec::claude("c", "sk-ant-c")).await;

    app.set_policy(KeyPolicy {
        bound_account_id: Some(b.id),
        ..Default::default()
    })
    .await;
    for _ in 0..6 {
        assert_eq!(send_status(app.messages(body(false))).await, 200);
    }
    assert_eq!(mock.count_for("sk-ant-b"), 6);

    let group = app.store.create_group("team", "").await.unwrap();
    app.store.add_group_member(group.id, a.id).await.unwrap();
    app.store.add_group_member(group.id, c.id).await.unwrap();
    app.set_policy(KeyPolicy {
        bound_group_id: Some(group.id),
        ..Default::default()
    })
    .await;
    mock.clear_requests();
    for _ in 0..10 {
        assert_eq!(send_status(app.messages(body(false))).await, 200);
    }
    assert_eq!(mock.count_for("sk-ant-b"), 0, "never outside the group");
    assert_eq!(mock.count_for("sk-ant-a") + mock.count_for("sk-ant-c"), 10);

    // Every group account unusable: refused, unless the key may fall back to the pool.
    for id in [a.id, c.id] {
        app.state.account_event(
            id,
            switchyard_core::account_event::AccountEvent::Failed {
                reason: "test".into(),
            },
        );
    }
    let resp = app.messages(body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    // The states reach the store in the background; the policy change below reloads the
    // snapshot from the store, so wait for them first.
    for name in ["a", "c"] {
        let stored = eventually(Duration::from_secs(5), || async {
            (app.account(name).await.status == switchyard_core::AccountStatus::Error).then_some(())
        })
        .await;
        assert!(stored.is_some(), "{name}'s state stored");
    }
    app.set_policy(KeyPolicy {
        bound_group_id: Some(group.id),
        pool_fallback: true,
        ..Default::default()
    })
    .await;
    mock.clear_requests();
    assert_eq!(send_status(app.messages(body(false))).await, 200);
    assert_eq!(mock.count_for("sk-ant-b"), 1, "served by the shared pool");
    // A bound group cannot be deleted from under its keys.
    assert!(app.store.delete_group(group.id).await.is_err());
    app.stop().await;
}

#[tokio::test]
async fn users_limits_span_their_keys_and_disabling_a_user_cuts_them_off() {
    let mock = MockUpstream::start().await;
    let app = app_with_claude(&mock).await;
    let second = app.another_key("second", KeyPolicy::default()).await;
    app.store
        .set_user_limits(
            "alice",
            &UserLimits {
                concurrency_limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    app.setting("concurrency_queue_wait_seconds", "1").await;
    mock.set_stream_hold(Duration::from_millis(2_000));
    let holder = app.messages(body(true)).send().await.unwrap();
    let reading = tokio::spawn(async move { holder.bytes().await.unwrap() });
    let resp = app
        .messages_with(&second, body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429, "the user's limit covers its other key");
    assert!(error_message(resp).await.contains("owner"));
    reading.await.unwrap();
    mock.set_stream_hold(Duration::ZERO);

    app.store
        .set_user_status("alice", "disabled")
        .await
        .unwrap();
    app.state.refresh_if_changed().await.unwrap();
    for key in [&app.key, &second] {
        let resp = app.messages_with(key, body(false)).send().await.unwrap();
        assert_eq!(resp.status(), 403);
        assert!(error_message(resp).await.contains("disabled"));
    }
    app.store.set_user_status("alice", "active").await.unwrap();
    app.state.refresh_if_changed().await.unwrap();
    assert_eq!(
        send_status(app.messages_with(&second, body(false))).await,
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn a_revoked_key_gets_401_and_still_sees_its_own_usage() {
    let mock = MockUpstream::start().await;
    let app = app_with_claude(&mock).await;
    assert_eq!(send_status(app.messages(body(false))).await, 200);
    app.store.revoke_key("test").await.unwrap();
    app.state.refresh_if_changed().await.unwrap();
    let resp = app.messages(body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(error_message(resp).await.contains("revoked"));
    let resp = app
        .http
        .get(format!("{}/api/self/usage", app.url))
        .header("x-api-key", &app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let me: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(me["key"]["status"], "revoked");
    let resp = app
        .http
        .get(format!("{}/api/self/usage", app.url))
        .header("x-api-key", "sk-sy-not-a-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn the_admin_api_changes_a_keys_policy_and_it_applies_at_once() {
    let mock = MockUpstream::start().await;
    let app = app_with_claude(&mock).await;
    let token = app.admin().await;
    let url = format!("{}/api/admin/keys/{}", app.url, app.key_id);
    let resp = app
        .http
        .patch(&url)
        .json(&serde_json::json!({"rate_limit_per_minute": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "admin credentials required");
    let resp = app
        .http
        .patch(&url)
        .bearer_auth(&token)
        .json(&serde_json::json!({"rate_limit_per_minute": 1, "allowed_models": ["claude-*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["policy"]["rate_limit_per_minute"], 1);
    assert_eq!(v["policy"]["tokens_per_minute"], 0, "other fields kept");
    assert!(!v.to_string().contains(&app.key), "the key is never shown");
    let resp = app
        .http
        .patch(&url)
        .bearer_auth(&token)
        .json(&serde_json::json!({"rpm": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422, "unknown fields are named, not ignored");
    assert!(resp.text().await.unwrap().contains("`rpm`"));
    // On the request path within a second (the snapshot poll).
    let limited = eventually(Duration::from_secs(2), || async {
        let statuses = [
            app.messages(body(false)).send().await.unwrap().status(),
            app.messages(body(false)).send().await.unwrap().status(),
        ];
        statuses
            .contains(&reqwest::StatusCode::TOO_MANY_REQUESTS)
            .then_some(())
    })
    .await;
    assert!(limited.is_some(), "the new rate limit applies");
    app.stop().await;
}

#[tokio::test]
async fn limits_hold_at_the_edges() {
    let mock = MockUpstream::start().await;
    let app = app_with_claude(&mock).await;
    mock.set_usage(MockUsage {
        input: 100_000,
        output: 0,
        ..Default::default()
    });
    app.set_policy(KeyPolicy {
        daily_cost_limit_usd: Some(10.0),
        allowed_clients: vec!["claude_code".into()],
        expires_after_seconds: Some(3600),
        ..Default::default()
    })
    .await;

    // A refused request does not start the lifetime counted from first use.
    assert_eq!(send_status(app.messages(body(false))).await, 403);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        app.store
            .find_key("test")
            .await
            .unwrap()
            .first_used_at
            .is_none()
    );

    // Claude Code's count_tokens has no metadata: its headers identify it.
    let resp = app
        .http
        .post(format!("{}/v1/messages/count_tokens?beta=true", app.url))
        .header("x-api-key", &app.key)
        .header("anthropic-version", "2023-06-01")
        .header("user-agent", "claude-cli/2.1.332 (external, sdk-cli)")
        .header("x-app", "cli")
        .json(&serde_json::json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // A model without a price cannot be held to a cost limit: refused up front.
    let unpriced = serde_json::json!({
        "model": "claude-experimental-unpriced", "max_tokens": 8,
        "metadata": {"user_id": serde_json::json!({"device_id": "d", "session_id": "s"}).to_string()},
        "system": [{"type": "text", "text": "You are a Claude agent, built on Anthropic's Claude Agent SDK."}],
        "messages": [{"role": "user", "content": "hi"}]
    });
    let resp = claude_code_request(&app)
        .json(&unpriced)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(error_message(resp).await.contains("no known price"));

    // Spend, then move the cost time zone: today's spend is recounted, not reset.
    assert_eq!(send_status(claude_code_request(&app)).await, 200);
    let today = || async {
        let me: serde_json::Value = send_json(
            app.http
                .get(format!("{}/api/self/usage", app.url))
                .header("x-api-key", &app.key),
        )
        .await;
        me["usage"]["today_usd"].as_f64().unwrap()
    };
    let spent = today().await;
    assert!(spent > 0.29, "{spent}");
    // The records must be in the store before they can be recounted.
    eventually(Duration::from_secs(5), || async {
        let n = app
            .store
            .recent_usage(100)
            .await
            .unwrap()
            .iter()
            .filter(|r| r.status == 200)
            .count();
        (n >= 2).then_some(())
    })
    .await
    .unwrap();
    app.setting("cost_limit_timezone", "+13:00").await;
    let recounted = eventually(Duration::from_secs(3), || async {
        ((today().await - spent).abs() < 1e-9).then_some(())
    })
    .await;
    assert!(
        recounted.is_some(),
        "today's spend survives a time-zone change"
    );
    app.stop().await;
}

#[tokio::test]
async fn limit_refusals_are_counted_not_written_as_usage() {
    let mock = MockUpstream::start().await;
    let app = app_with_claude(&mock).await;
    app.set_policy(KeyPolicy {
        rate_limit_per_minute: 1,
        ..Default::default()
    })
    .await;
    assert_eq!(send_status(app.messages(body(false))).await, 200);
    for _ in 0..20 {
        assert_eq!(send_status(app.messages(body(false))).await, 429);
    }
    app.usage(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.store.recent_usage(100).await.unwrap().len(), 1);
    let metrics = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("switchyard_limited_requests_total{dialect=\"anthropic\"}"))
        .expect("limited requests counted");
    // The recorder is shared by every test in this process: at least this test's 20.
    let n: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 20, "{line}");
    app.stop().await;
}
