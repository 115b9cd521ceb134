//! Cross-dialect serving (issue 18): a client of one dialect served by an account of another
//! family, converted both ways, billed from the upstream's own usage.

use switchyard_testkit::{Fault, MockUpstream, MockUsage, bodies};

use crate::support::{AccountSpec, TestApp};

fn chat_body(stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": "claude-sonnet-4-5",
        "stream": stream,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "weather in Paris?"}],
        "tools": [{"type": "function", "function": {
            "name": "get_weather",
            "description": "current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        }}]
    })
}

fn usage() -> MockUsage {
    MockUsage {
        input: 120,
        output: 40,
        cache_read: 30,
        ..Default::default()
    }
}

async fn chat_to_claude() -> (MockUpstream, TestApp) {
    let mock = MockUpstream::start().await;
    mock.set_usage(usage());
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::claude("claude-key", "sk-ant-api03-x"))
        .await;
    (mock, app)
}

/// The text of a Chat Completions stream, joined from its deltas.
fn chat_stream_text(body: &str) -> String {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| {
            v.pointer("/choices/0/delta/content")
                .and_then(|c| c.as_str())
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test]
async fn a_chat_client_is_served_by_a_claude_account_when_no_openai_account_serves_the_model() {
    let (mock, app) = chat_to_claude().await;
    let resp = app
        .post("/v1/chat/completions", chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "claude-sonnet-4-5");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        bodies::full_text(bodies::DEFAULT_DELTAS)
    );
    // Cache reads are inside the prompt total for OpenAI clients.
    assert_eq!(v["usage"]["prompt_tokens"], 150);
    assert_eq!(v["usage"]["completion_tokens"], 40);

    let sent = mock.last_request().unwrap();
    assert_eq!(sent.path_only(), "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some("sk-ant-api03-x"));
    assert!(
        sent.header("authorization").is_none(),
        "client key stays behind"
    );
    let up = sent.json().unwrap();
    assert_eq!(up["model"], "claude-sonnet-4-5");
    assert!(up["system"].to_string().contains("be brief"));
    assert_eq!(up["tools"][0]["name"], "get_weather");
    assert_eq!(up["tools"][0]["input_schema"]["required"][0], "city");
    assert!(
        up.get("max_tokens").is_some(),
        "Messages requires max_tokens"
    );

    let r = &app.usage(1).await[0];
    assert_eq!(r.status, 200);
    assert_eq!(r.dialect, "openai-chat");
    assert_eq!(r.usage.input_tokens, 120);
    assert_eq!(r.usage.cache_read_tokens, 30);
    assert_eq!(r.usage.output_tokens, 40);
    assert!(
        r.cost_usd.is_some_and(|c| c > 0.0),
        "cost from the upstream's usage"
    );
}

#[tokio::test]
async fn a_chat_stream_is_converted_from_a_claude_stream_and_billed_from_it() {
    let (_mock, app) = chat_to_claude().await;
    let mut body = chat_body(true);
    body["stream_options"] = serde_json::json!({"include_usage": true});
    let resp = app.post("/v1/chat/completions", body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = resp.text().await.unwrap();
    assert!(text.contains("chat.completion.chunk"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert_eq!(
        chat_stream_text(&text),
        bodies::full_text(bodies::DEFAULT_DELTAS)
    );
    assert!(
        text.contains("\"prompt_tokens\":150"),
        "usage chunk: {text}"
    );
    assert!(
        !text.contains("message_start"),
        "no Anthropic events leak: {text}"
    );
    let r = &app.usage(1).await[0];
    assert_eq!(r.status, 200);
    assert!(r.stream);
    assert_eq!(r.usage.input_tokens, 120);
    assert_eq!(r.usage.output_tokens, 40);
    assert!(r.cost_usd.is_some_and(|c| c > 0.0));
}

#[tokio::test]
async fn a_chat_stream_without_include_usage_gets_no_usage_chunk() {
    let (_mock, app) = chat_to_claude().await;
    let text = app
        .post("/v1/chat/completions", chat_body(true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("prompt_tokens"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"));
    assert_eq!(app.usage(1).await[0].usage.output_tokens, 40);
}

#[tokio::test]
async fn a_claude_tool_call_reaches_a_chat_client_as_tool_calls() {
    let (mock, app) = chat_to_claude().await;
    let answer = serde_json::json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 50, "output_tokens": 12}
    });
    mock.push(Fault::status(200, answer.to_string()));
    let v: serde_json::Value = app
        .post("/v1/chat/completions", chat_body(false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let args: serde_json::Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, serde_json::json!({"city": "Paris"}));
    assert_eq!(app.usage(1).await[0].usage.output_tokens, 12);
}

#[tokio::test]
async fn a_claude_rate_limit_stays_a_429_in_the_openai_shape() {
    let (mock, app) = chat_to_claude().await;
    let reset = chrono::Utc::now().timestamp() as u64 + 60;
    mock.push(Fault::rate_limited(reset));
    let resp = app
        .post("/v1/chat/completions", chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(v["error"]["message"].is_string(), "{v}");
    assert!(v.get("type").is_none(), "not the Anthropic shape: {v}");
    assert_eq!(app.usage(1).await[0].status, 429);
}

#[tokio::test]
async fn an_unconvertible_field_is_a_400_naming_it_and_nothing_goes_upstream() {
    let (mock, app) = chat_to_claude().await;
    let mut body = chat_body(false);
    body["logprobs"] = serde_json::json!(true);
    let resp = app.post("/v1/chat/completions", body).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let v: serde_json::Value = resp.json().await.unwrap();
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("logprobs"), "{v}");
    assert_eq!(mock.request_count(), 0);
    let r = &app.usage(1).await[0];
    assert_eq!(r.status, 400);
    assert_eq!(r.error_kind.as_deref(), Some("not_convertible"));
    // A refused request says nothing about the account.
    assert_eq!(
        app.live_account("claude-key").status,
        switchyard_core::account::AccountStatus::Active
    );
}

#[tokio::test]
async fn a_native_account_is_preferred_and_off_restores_the_404() {
    let (mock, app) = chat_to_claude().await;
    // A Claude account does not take a model of another family it does not list.
    let mut other = chat_body(false);
    other["model"] = serde_json::json!("gpt-5-mini");
    let resp = app
        .post("/v1/chat/completions", other.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    app.setting("cross_dialect", "off").await;
    let resp = app
        .post("/v1/chat/completions", chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("claude-sonnet-4-5")
    );
    assert_eq!(mock.request_count(), 0);

    app.setting("cross_dialect", "fallback").await;
    app.add_account(AccountSpec::openai(
        "compat",
        "sk-compat",
        format!("{}/v1", mock.url()),
    ))
    .await;
    let resp = app
        .post("/v1/chat/completions", chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        mock.last_request().unwrap().path_only(),
        "/v1/chat/completions"
    );
}

#[tokio::test]
async fn a_keys_own_cross_dialect_overrides_the_setting_both_ways() {
    use switchyard_core::key::KeyPolicy;
    use switchyard_core::model_routes::CrossDialect;
    let (mock, app) = chat_to_claude().await;
    let set = |c: Option<CrossDialect>| {
        let app = &app;
        async move {
            let policy = KeyPolicy {
                cross_dialect: c,
                ..Default::default()
            };
            app.store.set_key_policy(app.key_id, &policy).await.unwrap();
            app.state.refresh_if_changed().await.unwrap();
        }
    };
    let status = || async {
        app.post("/v1/chat/completions", chat_body(false))
            .send()
            .await
            .unwrap()
            .status()
    };

    // The setting says off; this key says fallback: its Chat request reaches the Claude account.
    app.setting("cross_dialect", "off").await;
    assert_eq!(status().await, 404);
    set(Some(CrossDialect::Fallback)).await;
    assert_eq!(status().await, 200);
    assert_eq!(mock.last_request().unwrap().path_only(), "/v1/messages");

    // The setting allows conversion; this key does not.
    app.setting("cross_dialect", "any").await;
    set(Some(CrossDialect::Off)).await;
    let before = mock.request_count();
    assert_eq!(status().await, 404);
    assert_eq!(mock.request_count(), before, "nothing sent");

    // Unset again, the key follows the setting.
    set(None).await;
    assert_eq!(status().await, 200);
    app.stop().await;
}

#[test]
fn the_cross_dialect_setting_takes_only_its_three_words() {
    assert!(switchyard_core::settings::validate("cross_dialect", "sometimes").is_err());
    assert_eq!(
        switchyard_core::settings::validate("cross_dialect", "ANY").unwrap(),
        "any"
    );
}

fn claude_code_body() -> serde_json::Value {
    serde_json::json!({
        "model": "gpt-5",
        "max_tokens": 32000,
        "stream": true,
        "system": [{"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "list the files"}]}],
        "tools": [{"name": "Bash", "description": "run a command",
                   "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}],
        "metadata": {"user_id": "user_abc_account__session_0b6f"}
    })
}

#[tokio::test]
async fn claude_code_is_served_by_an_openai_chat_account_with_a_streamed_tool_call() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::openai(
        "compat",
        "sk-compat",
        format!("{}/v1", mock.url()),
    ))
    .await;
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        serde_json::json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-5",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let events = [
        chunk(
            serde_json::json!({"role": "assistant", "content": "Listing."}),
            None,
        ),
        chunk(
            serde_json::json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                "function": {"name": "Bash", "arguments": "{\"comm"}}]}),
            None,
        ),
        chunk(
            serde_json::json!({"tool_calls": [{"index": 0, "function": {"arguments": "and\":\"ls\"}"}}]}),
            None,
        ),
        chunk(serde_json::json!({}), Some("tool_calls")),
        serde_json::json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-5",
            "choices": [], "usage": {"prompt_tokens": 200, "completion_tokens": 30, "total_tokens": 230}}),
    ];
    let mut sse = String::new();
    for e in &events {
        sse.push_str(&format!("data: {e}\n\n"));
    }
    sse.push_str("data: [DONE]\n\n");
    mock.push(Fault::Status {
        status: 200,
        headers: vec![("content-type".into(), "text/event-stream".into())],
        body: sse,
    });
    let resp = app.messages(claude_code_body()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.starts_with("event: message_start"), "{text}");
    assert!(text.contains("\"type\":\"tool_use\""), "{text}");
    assert!(text.contains("\"name\":\"Bash\""), "{text}");
    assert!(text.contains("\"stop_reason\":\"tool_use\""), "{text}");
    assert!(
        text.trim_end()
            .ends_with("data: {\"type\":\"message_stop\"}"),
        "{text}"
    );
    // The tool input, joined from its deltas, is the command.
    let input: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| {
            v.pointer("/delta/partial_json")
                .and_then(|p| p.as_str())
                .map(str::to_string)
        })
        .collect();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&input).unwrap(),
        serde_json::json!({"command": "ls"})
    );

    let sent = mock.last_request().unwrap();
    assert_eq!(sent.path_only(), "/v1/chat/completions");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-compat"));
    let up = sent.json().unwrap();
    assert_eq!(up["model"], "gpt-5");
    assert_eq!(up["messages"][0]["role"], "system");
    assert_eq!(up["tools"][0]["function"]["name"], "Bash");
    assert_eq!(up["stream_options"]["include_usage"], true);

    let r = &app.usage(1).await[0];
    assert_eq!(r.status, 200);
    assert_eq!(r.dialect, "anthropic");
    assert_eq!(r.usage.input_tokens, 200);
    assert_eq!(r.usage.output_tokens, 30);
}

#[tokio::test]
async fn a_failing_native_account_fails_over_to_a_converted_one() {
    let (mock, app) = chat_to_claude().await;
    app.add_account(AccountSpec::openai(
        "compat",
        "sk-compat",
        format!("{}/v1", mock.url()),
    ))
    .await;
    mock.push(Fault::server_error());
    let resp = app
        .post("/v1/chat/completions", chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-attempts"], "2");
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    let paths: Vec<String> = mock
        .requests()
        .iter()
        .map(|r| r.path_only().to_string())
        .collect();
    assert_eq!(paths, ["/v1/chat/completions", "/v1/messages"]);
}

#[tokio::test]
async fn a_claude_stream_cut_short_ends_the_chat_stream_with_one_error_and_no_done() {
    let (mock, app) = chat_to_claude().await;
    mock.push(Fault::DisconnectMidStream { after_events: 4 });
    let resp = app
        .post("/v1/chat/completions", chat_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (bytes, _aborted) = crate::support::read_until_error(resp).await;
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains("[DONE]"), "{text}");
    assert_eq!(text.matches("\"error\"").count(), 1, "{text}");
    assert_ne!(app.usage(1).await[0].error_kind, None);
}

#[tokio::test]
async fn with_any_a_converted_account_of_a_better_tier_serves_before_a_native_one() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec {
        priority: 10,
        ..AccountSpec::claude("claude-key", "sk-ant-api03-x")
    })
    .await;
    app.add_account(AccountSpec::openai(
        "compat",
        "sk-compat",
        format!("{}/v1", mock.url()),
    ))
    .await;
    // Each request its own conversation, so no sticky binding decides for the scheduler.
    let (app, mock) = (&app, &mock);
    let send = |session: &'static str| async move {
        let resp = app
            .post("/v1/chat/completions", chat_body(false))
            .header("x-session-id", session)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        mock.last_request().unwrap().path_only().to_string()
    };
    assert_eq!(
        send("one").await,
        "/v1/chat/completions",
        "fallback: native first"
    );
    app.setting("cross_dialect", "any").await;
    assert_eq!(
        send("two").await,
        "/v1/messages",
        "any: one pool, tiers decide"
    );
}

#[tokio::test]
async fn an_openai_error_reaches_a_messages_client_in_the_anthropic_shape() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::openai(
        "compat",
        "sk-compat",
        format!("{}/v1", mock.url()),
    ))
    .await;
    mock.push(Fault::status(
        400,
        bodies::openai_error_json(
            "invalid_request_error",
            "This model's maximum context length is 128000 tokens.",
            Some("context_length_exceeded"),
        ),
    ));
    let mut body = claude_code_body();
    body["stream"] = serde_json::json!(false);
    let resp = app.messages(body).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("prompt is too long"),
        "Claude Code compacts on these words: {v}"
    );
}

#[tokio::test]
async fn a_messages_client_gets_a_whole_converted_answer_from_an_openai_account() {
    let mock = MockUpstream::start().await;
    mock.set_usage(MockUsage {
        input: 90,
        output: 25,
        ..Default::default()
    });
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::openai(
        "compat",
        "sk-compat",
        format!("{}/v1", mock.url()),
    ))
    .await;
    let mut body = claude_code_body();
    body["stream"] = serde_json::json!(false);
    let resp = app.messages(body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["model"], "gpt-5");
    assert_eq!(
        v["content"][0]["text"],
        bodies::full_text(bodies::DEFAULT_DELTAS)
    );
    let r = &app.usage(1).await[0];
    assert_eq!(r.usage.input_tokens, 90);
    assert_eq!(r.usage.output_tokens, 25);
    assert!(r.cost_usd.is_some_and(|c| c > 0.0));
}

#[tokio::test]
async fn a_chat_front_end_is_served_by_a_claude_subscription_account() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::oauth(
        "sub",
        "sk-ant-oat01-x",
        "sk-ant-ort01-x",
    ))
    .await;
    let resp = app
        .post("/v1/chat/completions", chat_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert_eq!(
        chat_stream_text(&text),
        bodies::full_text(bodies::DEFAULT_DELTAS)
    );
    let sent = mock.last_request().unwrap();
    assert_eq!(sent.path_only(), "/v1/messages");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-ant-oat01-x"));
    assert!(
        sent.header("anthropic-beta")
            .is_some_and(|b| b.contains("oauth-2025-04-20"))
    );
    assert_eq!(app.usage(1).await[0].status, 200);
}

#[tokio::test]
async fn a_responses_client_is_served_by_a_claude_account() {
    let (mock, app) = chat_to_claude().await;
    let body = serde_json::json!({
        "model": "claude-sonnet-4-5",
        "stream": true,
        "store": false,
        "instructions": "You are Codex",
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        "prompt_cache_key": "7f1c0a52-6d3e-4b7a-9f00-000000000002"
    });
    let resp = app.post("/v1/responses", body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.contains("event: response.created"), "{text}");
    assert!(text.contains("event: response.output_text.delta"), "{text}");
    assert!(text.contains("event: response.completed"), "{text}");
    let sent = mock.last_request().unwrap();
    assert_eq!(sent.path_only(), "/v1/messages");
    let up = sent.json().unwrap();
    assert!(up["system"].to_string().contains("You are Codex"));
    let r = &app.usage(1).await[0];
    assert_eq!(r.status, 200);
    assert_eq!(r.dialect, "openai-responses");
    assert_eq!(r.usage.output_tokens, 40);
}

/// A whole answer that cannot be converted is an error status in the client's dialect, not a
/// 200 whose body is an error; its usage is still recorded from what the upstream reported.
#[tokio::test]
async fn a_whole_answer_that_cannot_be_converted_is_a_502_not_a_200() {
    let (mock, app) = chat_to_claude().await;
    let answer = serde_json::json!({
        "id": "msg_02", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 50, "output_tokens": 12}
    });
    mock.push(Fault::status(200, answer.to_string()));
    let resp = app
        .post("/v1/chat/completions", chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "server_error", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be converted"),
        "{v}"
    );
    let r = &app.usage(1).await[0];
    assert_eq!(r.status, 502);
    assert_eq!(r.error_kind.as_deref(), Some("answer_not_convertible"));
    assert_eq!(r.usage.output_tokens, 12, "the upstream billed it");
}

/// The `data:` payloads of an SSE body, parsed (the Chat `[DONE]` left out).
fn sse_json(body: &str) -> Vec<serde_json::Value> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[tokio::test]
async fn an_openai_sdk_chat_stream_is_served_by_a_gemini_api_account() {
    let mock = MockUpstream::start().await;
    mock.set_usage(usage());
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::gemini_api("gem", "AIza-gemini-key"))
        .await;
    let mut body = chat_body(true);
    body["model"] = "gemini-2.5-pro".into();
    body["stream_options"] = serde_json::json!({"include_usage": true});
    let resp = app.post("/v1/chat/completions", body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = resp.text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(!chat_stream_text(&text).is_empty(), "{text}");
    let chunks = sse_json(&text);
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert!(chunks.iter().all(|c| c["model"] == "gemini-2.5-pro"));
    let usage_chunk = chunks.iter().find(|c| !c["usage"].is_null()).unwrap();
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 40);

    let sent = mock.last_request().unwrap();
    assert_eq!(
        sent.path_only(),
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent"
    );
    assert!(sent.path.contains("alt=sse"), "{}", sent.path);
    assert_eq!(sent.header("x-goog-api-key"), Some("AIza-gemini-key"));
    let up = sent.json().unwrap();
    assert!(up["contents"].is_array() && up.get("messages").is_none());
    assert_eq!(
        up["tools"][0]["functionDeclarations"][0]["name"],
        "get_weather"
    );

    let r = &app.usage(1).await[0];
    assert_eq!((r.status, r.dialect.as_str()), (200, "openai-chat"));
    assert_eq!(r.usage.output_tokens, 40, "billed from Gemini's own usage");
    app.stop().await;
}

#[tokio::test]
async fn claude_code_is_served_by_a_responses_account() {
    let mock = MockUpstream::start().await;
    mock.set_usage(usage());
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::codex("resp", "sk-proj-responses"))
        .await;
    let resp = app.messages(claude_code_body()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.starts_with("event: message_start"), "{text}");
    assert!(text.contains("\"type\":\"text_delta\""), "{text}");
    assert!(
        text.trim_end()
            .ends_with("data: {\"type\":\"message_stop\"}"),
        "{text}"
    );
    let sent = mock.last_request().unwrap();
    assert_eq!(sent.path_only(), "/v1/responses");
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sk-proj-responses")
    );
    let up = sent.json().unwrap();
    assert_eq!(up["model"], "gpt-5");
    assert!(up["input"].is_array(), "{up}");
    assert_eq!(up["tools"][0]["name"], "Bash");
    let r = &app.usage(1).await[0];
    assert_eq!((r.status, r.dialect.as_str()), (200, "anthropic"));
    assert_eq!(r.usage.output_tokens, 40);
    assert!(r.cost_usd.is_some(), "priced from the upstream's usage");
    app.stop().await;
}

#[tokio::test]
async fn a_google_genai_client_is_served_by_a_claude_account() {
    let (mock, app) = chat_to_claude().await;
    let gemini_body = serde_json::json!({
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "contents": [{"role": "user", "parts": [{"text": "hello"}]}],
        "generationConfig": {"maxOutputTokens": 256}
    });

    // Streamed, as the SDK asks (`alt=sse`).
    let resp = app
        .post(
            "/v1beta/models/claude-sonnet-4-5:streamGenerateContent?alt=sse",
            gemini_body.clone(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let chunks = sse_json(&text);
    assert!(!chunks.is_empty(), "{text}");
    let said: String = chunks
        .iter()
        .filter_map(|c| c.pointer("/candidates/0/content/parts/0/text"))
        .filter_map(|t| t.as_str())
        .collect();
    assert!(!said.is_empty(), "{text}");
    let last = chunks.last().unwrap();
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 40, "{last}");
    let sent = mock.last_request().unwrap();
    assert_eq!(sent.path_only(), "/v1/messages");
    let up = sent.json().unwrap();
    assert_eq!(up["model"], "claude-sonnet-4-5");
    assert_eq!(up["stream"], true);
    assert_eq!(up["max_tokens"], 256);

    // Whole.
    let resp = app
        .post(
            "/v1beta/models/claude-sonnet-4-5:generateContent",
            gemini_body.clone(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["candidates"][0]["content"]["role"], "model", "{v}");
    assert_eq!(v["usageMetadata"]["candidatesTokenCount"], 40);

    // A streamed array (no `alt=sse`) is Gemini's own framing: refused, clearly.
    let resp = app
        .post(
            "/v1beta/models/claude-sonnet-4-5:streamGenerateContent",
            gemini_body,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("alt=sse"),
        "{v}"
    );
    let records = app.usage(3).await;
    assert_eq!(records[0].usage.output_tokens, 40);
    assert_eq!(records[0].dialect, "gemini");
    app.stop().await;
}

#[tokio::test]
async fn a_chat_stream_is_served_by_a_bedrock_account_and_billed_from_bedrock() {
    let mock = MockUpstream::start().await;
    mock.set_usage(usage());
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::bedrock("aws", "bedrock-api-key-x"))
        .await;
    let resp = app
        .post("/v1/chat/completions", chat_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(!chat_stream_text(&text).is_empty(), "{text}");
    // The client did not ask for the usage chunk: none is shown, but usage is recorded.
    assert!(
        sse_json(&text).iter().all(|c| c["usage"].is_null()),
        "{text}"
    );
    let sent = mock.last_request().unwrap();
    assert!(
        sent.path_only().ends_with("/invoke-with-response-stream"),
        "{}",
        sent.path_only()
    );
    let r = &app.usage(1).await[0];
    assert_eq!(r.status, 200);
    assert_eq!(
        (
            r.usage.input_tokens,
            r.usage.output_tokens,
            r.usage.cache_read_tokens
        ),
        (120, 40, 30),
        "read from Bedrock's Anthropic events, between the two transforms"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_model_list_shows_converted_models_unless_cross_dialect_is_off() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let mut spec = AccountSpec::openai("compat", "sk-compat", format!("{}/v1", mock.url()));
    spec.models = vec!["gpt-5".into()];
    app.add_account(spec).await;
    let list = || async {
        let v: serde_json::Value = app
            .http
            .get(format!("{}/v1/models", app.url))
            .header("x-api-key", &app.key)
            .header("anthropic-version", "2023-06-01")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(list().await, ["gpt-5"], "Claude Code can reach gpt-5");
    app.setting("cross_dialect", "off").await;
    assert!(list().await.is_empty(), "not without conversion");
    app.stop().await;
}

async fn count_tokens(app: &TestApp, body: &serde_json::Value) -> reqwest::Response {
    app.http
        .post(format!("{}/v1/messages/count_tokens", app.url))
        .header("x-api-key", &app.key)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn count_tokens_is_answered_by_a_gemini_counter_and_refused_clearly_by_a_chat_account() {
    let mock = MockUpstream::start().await;
    mock.set_usage(usage());
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::gemini_api("gem", "AIza-count"))
        .await;
    let count = serde_json::json!({
        "model": "gemini-2.5-pro",
        "system": [{"type": "text", "text": "You are Claude Code."}],
        "messages": [{"role": "user", "content": "how long is this?"}]
    });
    let resp = count_tokens(&app, &count).await;
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    let n = v["input_tokens"].as_u64().expect("an Anthropic count");
    assert!(n > 0, "{v}");
    let sent = mock.last_request().unwrap();
    assert_eq!(
        sent.path_only(),
        "/v1beta/models/gemini-2.5-pro:countTokens"
    );
    assert!(sent.json().unwrap()["generateContentRequest"].is_object());

    // An OpenAI Chat account has no counter: a 400 saying so, never a retryable status.
    let app2 = TestApp::start(&mock).await;
    app2.add_account(AccountSpec::openai(
        "compat",
        "sk-compat",
        format!("{}/v1", mock.url()),
    ))
    .await;
    let before = mock.requests().len();
    let mut gpt = count;
    gpt["model"] = "gpt-5".into();
    let resp = count_tokens(&app2, &gpt).await;
    assert_eq!(resp.status(), 400);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no token counter"),
        "{v}"
    );
    assert_eq!(mock.requests().len(), before, "nothing sent");
    app.stop().await;
    app2.stop().await;
}

/// Codex sends a built-in `web_search` tool a Claude account has no place for: refused with a
/// 400 naming it by default; with `cross_dialect_lossy` the request is served without it and
/// the usage record names what was left out.
#[tokio::test]
async fn a_field_that_cannot_be_carried_is_refused_unless_lossy_is_allowed_then_recorded() {
    let (mock, app) = chat_to_claude().await;
    let body = serde_json::json!({
        "model": "claude-sonnet-4-5",
        "stream": false,
        "store": false,
        "instructions": "You are Codex",
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        "tools": [
            {"type": "function", "name": "shell", "description": "run a command",
             "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}},
            {"type": "web_search", "external_web_access": false}
        ]
    });
    let resp = app
        .post("/v1/responses", body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("tools[1]"),
        "{v}"
    );
    assert_eq!(mock.request_count(), 0);

    app.setting("cross_dialect_lossy", "true").await;
    let resp = app.post("/v1/responses", body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let up = mock.last_request().unwrap().json().unwrap();
    let tools = up["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 1, "only the function went upstream: {up}");
    assert_eq!(tools[0]["name"], "shell");
    // Oldest first: the refused request, then the served one.
    let records = app.usage(2).await;
    let r = &records[1];
    assert_eq!(r.status, 200);
    let dropped = r.dropped_fields.as_deref().unwrap_or_default();
    assert!(
        dropped.contains("tools[1].type (`web_search` tools"),
        "{dropped}"
    );
    assert_eq!(r.error_kind, None, "a lossy success is not an error");
}
