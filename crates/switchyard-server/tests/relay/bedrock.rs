//! Bedrock accounts behind Anthropic clients: SigV4 or API-key auth, model ids, the binary
//! event-stream re-emitted as Anthropic SSE, usage, errors, failover with Claude accounts.

use switchyard_testkit::{Fault, MockUpstream, MockUsage, bodies};

use crate::support::{AccountSpec, TestApp};

fn request(stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": "hi"}]
    })
}

#[tokio::test]
async fn a_bedrock_stream_reaches_the_client_as_anthropic_sse_with_usage() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let mut spec = AccountSpec::bedrock("aws", "AKIAEXAMPLEBEDROCK01");
    spec.extra
        .insert("region".into(), serde_json::json!("us-west-2"));
    app.add_account(spec).await;
    let usage = MockUsage {
        input: 210,
        output: 37,
        cache_creation_5m: 0,
        cache_creation_1h: 0,
        cache_read: 0,
        reasoning: 0,
    };
    mock.set_usage(usage);

    let resp = app
        .messages(request(true))
        // What Claude Code sends: Bedrock refuses a request naming a beta it does not know.
        .header(
            "anthropic-beta",
            "claude-code-20250219,interleaved-thinking-2025-05-14,prompt-caching-scope-2026-01-05",
        )
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
    let text = resp.text().await.unwrap();
    let model_id = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    assert_eq!(
        text,
        MockUpstream::bedrock_anthropic_sse(model_id, &usage, bodies::DEFAULT_DELTAS),
        "every Bedrock chunk re-emitted as one Anthropic event, nothing else"
    );

    let sent = mock.last_request().unwrap();
    assert_eq!(
        sent.bedrock_model_id().as_deref(),
        Some(model_id),
        "default mapping"
    );
    assert!(
        sent.path_only()
            .contains("%3A0/invoke-with-response-stream"),
        "{}",
        sent.path_only()
    );
    let sig = sent.sigv4().expect("SigV4 authorization");
    assert_eq!(sig.access_key_id, "AKIAEXAMPLEBEDROCK01");
    assert_eq!(
        (sig.region.as_str(), sig.service.as_str()),
        ("us-west-2", "bedrock")
    );
    assert!(sig.signed_headers.contains(&"host".to_string()));
    let body = sent.json().unwrap();
    assert!(body.get("model").is_none() && body.get("stream").is_none());
    assert_eq!(body["anthropic_version"], "bedrock-2023-05-31");
    assert_eq!(
        body["anthropic_beta"],
        serde_json::json!(["interleaved-thinking-2025-05-14"])
    );
    assert!(
        sent.header("x-api-key").is_none(),
        "the client's key never goes upstream"
    );

    let r = &app.usage(1).await[0];
    assert_eq!(r.status, 200);
    assert_eq!(r.usage.input_tokens, 210);
    assert_eq!(r.usage.output_tokens, 37);
    assert!(r.error_kind.is_none(), "{r:?}");
    app.stop().await;
}

#[tokio::test]
async fn bedrock_api_keys_non_streaming_and_the_operators_model_map() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let mut spec = AccountSpec::bedrock("aws-key", "bedrock-api-key-0001");
    spec.model_map = vec![(
        "claude-sonnet-4-5",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/custom-sonnet",
    )];
    app.add_account(spec).await;
    let resp = app.messages(request(false)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "message");
    assert!(v["id"].as_str().unwrap().starts_with("msg_bdrk_"));
    let sent = mock.last_request().unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer bedrock-api-key-0001")
    );
    assert_eq!(
        sent.bedrock_model_id().as_deref(),
        Some("arn:aws:bedrock:us-east-1:123456789012:inference-profile/custom-sonnet"),
        "the operator's mapping wins over the defaults"
    );
    let r = &app.usage(1).await[0];
    assert!(r.usage.input_tokens > 0 && r.cost_usd.is_some(), "{r:?}");
    app.stop().await;
}

#[tokio::test]
async fn bedrock_errors_become_anthropic_errors_and_throttling_fails_over_to_claude() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let mut aws = AccountSpec::bedrock("aws", "bedrock-api-key-0002");
    aws.priority = 1;
    app.add_account(aws).await;

    // A validation error is the client's: passed on in Anthropic's shape, no failover.
    mock.push(Fault::Status {
        status: 400,
        headers: vec![(
            "x-amzn-ErrorType".into(),
            "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/".into(),
        )],
        body: r#"{"message":"messages: at least one message is required"}"#.into(),
    });
    let resp = app.messages(request(false)).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at least one message")
    );

    // Throttled: the request moves to the Claude account in the same pool.
    app.add_account(AccountSpec::claude("claude", "sk-ant-fallback"))
        .await;
    mock.push(Fault::Status {
        status: 429,
        headers: vec![("x-amzn-ErrorType".into(), "ThrottlingException".into())],
        body: r#"{"message":"Too many requests, please wait before trying again."}"#.into(),
    });
    let resp = app.messages(request(false)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(mock.count_for("sk-ant-fallback"), 1);
    let cooling = crate::support::eventually(std::time::Duration::from_secs(2), || async {
        (app.account("aws").await.status == switchyard_core::AccountStatus::Cooling).then_some(())
    })
    .await;
    assert!(cooling.is_some(), "the throttled account cools down");
    app.stop().await;
}

#[tokio::test]
async fn an_exception_inside_a_bedrock_stream_ends_it_with_an_anthropic_error_event() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::bedrock("aws", "bedrock-api-key-0003"))
        .await;
    mock.push(Fault::bedrock_throttling_after(3));
    let resp = app.messages(request(true)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.starts_with("event: message_start\n"), "{text}");
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    assert!(last.starts_with("event: error\n"), "{last}");
    assert!(last.contains("\"rate_limit_error\""), "{last}");
    assert_eq!(
        text.matches("event: error").count(),
        1,
        "one error event, then the end"
    );
    let r = &app.usage(1).await[0];
    assert!(r.error_kind.is_some(), "{r:?}");
    app.stop().await;
}

/// A Claude model Bedrock has no default id for (Claude Code's newest default, say) must not
/// reach Bedrock as is — Bedrock only answers "The provided model identifier is invalid".
#[tokio::test]
async fn a_claude_model_bedrock_cannot_map_goes_to_another_account_or_gets_a_400_naming_the_mapping()
 {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let mut aws = AccountSpec::bedrock("aws", "bedrock-api-key-0003");
    aws.priority = 1;
    app.add_account(aws).await;
    let unknown = serde_json::json!({
        "model": "claude-opus-9-9",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}]
    });

    // Only Bedrock: nothing is sent, and the client is told which mapping to add.
    let resp = app.messages(unknown.clone()).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("claude-opus-9-9"), "{message}");
    assert!(message.contains("model map"), "{message}");
    assert_eq!(mock.requests().len(), 0, "nothing reached Bedrock");
    let r = &app.usage(1).await[0];
    assert_eq!(r.status, 400);
    assert_eq!(r.error_kind.as_deref(), Some("model_not_mapped"));
    assert_eq!(
        app.account("aws").await.status,
        switchyard_core::AccountStatus::Active,
        "a missing mapping is not the account's failure"
    );

    // An account that maps it serves the request; the one that cannot (tried first, by
    // priority) is skipped unsent, so it is not an attempt.
    let mut mapped = AccountSpec::bedrock("aws-mapped", "bedrock-api-key-0004");
    mapped.model_map = vec![("claude-opus-9-9", "us.anthropic.claude-opus-9-9-v1")];
    app.add_account(mapped).await;
    let resp = app.messages(unknown).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-attempts"], "1");
    assert_eq!(mock.requests().len(), 1);
    assert_eq!(
        mock.last_request().unwrap().bedrock_model_id().as_deref(),
        Some("us.anthropic.claude-opus-9-9-v1")
    );
    app.stop().await;
}
