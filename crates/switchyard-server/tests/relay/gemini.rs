//! The Gemini dialect: public API over `gemini-api` and Google-login accounts, the Code Assist
//! surface, usage, errors in Google's shape, and streams left exactly as Gemini CLI parses them.

use std::time::Duration;
use switchyard_testkit::gemini::{
    MOCK_CODE_ASSIST_PROJECT, code_assist_stream_bytes, gemini_stream_bytes,
};
use switchyard_testkit::{Fault, MockUpstream, MockUsage, bodies};

use crate::support::{AccountSpec, TestApp, send_json};

const MODEL: &str = "gemini-2.5-flash";

fn usage() -> MockUsage {
    MockUsage {
        input: 120,
        output: 40,
        cache_creation_5m: 0,
        cache_creation_1h: 0,
        cache_read: 30,
        reasoning: 12,
    }
}

fn request() -> serde_json::Value {
    serde_json::json!({
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"maxOutputTokens": 256}
    })
}

impl TestApp {
    fn gemini(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.url))
            .header("x-goog-api-key", &self.key)
            .json(&request())
    }
}

#[tokio::test]
async fn public_api_streams_pass_through_byte_exact_with_usage() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::gemini_api("g", "AIza-account-key-0001"))
        .await;
    mock.set_usage(usage());

    let resp = app
        .gemini(&format!(
            "/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(
        bytes.as_ref(),
        gemini_stream_bytes(MODEL, &usage(), bodies::DEFAULT_DELTAS).as_slice(),
        "forwarded untouched (CRLF CRLF events, nothing injected)"
    );
    let sent = mock.last_request().unwrap();
    assert_eq!(sent.header("x-goog-api-key"), Some("AIza-account-key-0001"));
    assert!(
        !sent.path.contains(&app.key) && sent.path.contains("alt=sse"),
        "{}",
        sent.path
    );

    // google-genai's `/v1` path and the streamed JSON-array form, key in `?key=`.
    let resp = app
        .http
        .post(format!(
            "{}/v1/models/{MODEL}:streamGenerateContent?key={}",
            app.url, app.key
        ))
        .json(&request())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let array: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert!(array.as_array().unwrap().len() > 1);
    assert!(
        !mock.last_request().unwrap().path.contains("key="),
        "our key stays here"
    );

    let records = app.usage(2).await;
    for r in &records {
        assert_eq!(r.dialect, "gemini");
        // The mock sends promptTokenCount 150 (30 cached), candidatesTokenCount 28 and
        // thoughtsTokenCount 12: uncached input, cache reads, and output with thoughts.
        assert_eq!(r.usage.input_tokens, 120, "prompt minus cached: {r:?}");
        assert_eq!(r.usage.cache_read_tokens, 30);
        assert_eq!(r.usage.output_tokens, 40, "candidates + thoughts: {r:?}");
        assert_eq!(r.usage.reasoning_tokens, 12);
        assert!(r.cost_usd.is_some(), "{r:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_google_login_account_serves_the_public_api_through_code_assist() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    // An expired access token: refreshed at Google's token endpoint before use.
    let mut spec = AccountSpec::gemini("google", "ya29.expired", "1//refresh-token");
    spec.expires_at = Some(chrono::Utc::now() - chrono::Duration::minutes(5));
    app.add_account(spec).await;
    mock.set_usage(usage());

    let resp = app
        .gemini(&format!(
            "/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert_eq!(
        text.as_bytes(),
        gemini_stream_bytes(MODEL, &usage(), bodies::DEFAULT_DELTAS).as_slice(),
        "unwrapped into exactly what the public API sends"
    );
    assert_eq!(mock.google_tokens_issued(), 1);
    let sent = mock.last_request().unwrap();
    assert!(
        sent.path.starts_with("/v1internal:streamGenerateContent"),
        "{}",
        sent.path
    );
    assert!(
        sent.header("authorization")
            .unwrap()
            .starts_with("Bearer ya29.mock-")
    );
    let body = sent.json().unwrap();
    assert_eq!(
        body["project"], MOCK_CODE_ASSIST_PROJECT,
        "discovered project"
    );
    assert_eq!(body["model"], MODEL);
    assert_eq!(body["request"]["contents"][0]["parts"][0]["text"], "hi");

    // Non-streaming: the whole body unwrapped.
    let resp = app
        .gemini(&format!("/v1beta/models/{MODEL}:generateContent"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(
        v["candidates"].is_array() && v.get("response").is_none(),
        "{v}"
    );
    assert_eq!(
        mock.google_tokens_issued(),
        1,
        "the refreshed token is reused"
    );
    let records = app.usage(2).await;
    assert!(
        records.iter().all(|r| r.usage.output_tokens == 40),
        "{records:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn code_assist_requests_use_the_accounts_project_and_stay_data_only() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::gemini(
        "google",
        "ya29.live-token",
        "1//refresh",
    ))
    .await;
    mock.set_usage(usage());
    let code_assist = |method: &str, body: serde_json::Value| {
        app.http
            .post(format!("{}/v1internal:{method}", app.url))
            .bearer_auth(&app.key)
            .header("user-agent", "GeminiCLI/0.61.0/gemini-2.5-pro (linux; x64)")
            .json(&body)
    };
    let load = code_assist(
        "loadCodeAssist",
        serde_json::json!({"metadata": {"ideType": "IDE_UNSPECIFIED", "pluginType": "GEMINI"}}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(load.status(), 200);
    let resp = code_assist(
        "streamGenerateContent?alt=sse",
        serde_json::json!({
            "model": MODEL, "project": "the-clients-own-project", "user_prompt_id": "p-1",
            "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "session_id": "s-1"}
        }),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(
        bytes.as_ref(),
        code_assist_stream_bytes(MODEL, &usage(), bodies::DEFAULT_DELTAS).as_slice()
    );
    for line in std::str::from_utf8(&bytes).unwrap().split("\r\n") {
        assert!(line.is_empty() || line.starts_with("data: "), "{line:?}");
    }
    let sent = mock.last_request().unwrap();
    assert_eq!(sent.json().unwrap()["project"], MOCK_CODE_ASSIST_PROJECT);
    assert_eq!(sent.header("authorization"), Some("Bearer ya29.live-token"));
    // Gemini CLI's reads are GETs: a setting, and onboarding's operation polling.
    for path in [
        "/v1internal:getCodeAssistGlobalUserSetting",
        "/v1internal/operations/mock-onboard",
    ] {
        let resp = app
            .http
            .get(format!("{}{path}", app.url))
            .bearer_auth(&app.key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let sent = mock.last_request().unwrap();
        assert_eq!(sent.method, "GET", "{path}");
        assert_eq!(sent.path_only(), path);
    }
    let resp = app
        .http
        .get(format!("{}/v1internal/operations/..%2F..%2Fx", app.url))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "no path tricks");
    let r = app.usage(2).await;
    assert!(
        r.iter().any(|r| r.endpoint == "v1internal:loadCodeAssist"),
        "{r:?}"
    );
    let stream = r.iter().find(|r| r.stream).unwrap();
    assert_eq!(stream.endpoint, "v1internal:streamGenerateContent");
    assert_eq!(stream.usage.output_tokens, 40);
    app.stop().await;
}

#[tokio::test]
async fn google_errors_keep_their_shape_and_rate_limits_fail_over() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let mut first = AccountSpec::gemini_api("first", "AIza-first");
    first.priority = 1;
    app.add_account(first).await;
    app.add_account(AccountSpec::gemini_api("second", "AIza-second"))
        .await;
    mock.push_for("AIza-first", Fault::gemini_rate_limited(30));
    let resp = app
        .gemini(&format!("/v1beta/models/{MODEL}:generateContent"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(mock.count_for("AIza-second"), 1);
    let until = crate::support::eventually(Duration::from_secs(2), || async {
        app.account("first").await.status_until
    })
    .await
    .expect("the rate-limited account cools down");
    let secs = (until - chrono::Utc::now()).num_seconds();
    assert!(
        (20..=31).contains(&secs),
        "cool-down follows RetryInfo: {secs}s"
    );

    // A client error is passed on in Google's shape.
    mock.push(Fault::Status {
        status: 400,
        headers: vec![],
        body:
            r#"{"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}}"#
                .into(),
    });
    let resp = app
        .gemini(&format!("/v1beta/models/{MODEL}:generateContent"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");

    // Switchyard's own refusals are Google-shaped too.
    let resp = app
        .http
        .post(format!("{}/v1beta/models/{MODEL}:generateContent", app.url))
        .header("x-goog-api-key", "sk-sy-wrong")
        .json(&request())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], 401);
    assert!(v["error"]["status"].is_string(), "{v}");
    app.stop().await;
}

#[tokio::test]
async fn count_tokens_and_the_model_list() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::gemini_api("g", "AIza-count"))
        .await;
    let resp = app
        .gemini(&format!("/v1beta/models/{MODEL}:countTokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(v["totalTokens"].is_number(), "{v}");
    let list: serde_json::Value = send_json(
        app.http
            .get(format!("{}/v1beta/models", app.url))
            .header("x-goog-api-key", &app.key),
    )
    .await;
    let names: Vec<&str> = list["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| n.starts_with("models/gemini-")),
        "{names:?}"
    );
    assert!(!names.is_empty());

    // The operator's "test this account" works for Gemini accounts too.
    let admin = app.admin().await;
    let test: serde_json::Value = send_json(
        app.http
            .post(format!("{}/api/admin/accounts/g/test", app.url))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(test["ok"], true, "{test}");
    app.stop().await;
}
