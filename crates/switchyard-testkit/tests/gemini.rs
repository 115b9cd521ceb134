//! The mock's Gemini endpoints (public API, Code Assist, Google OAuth), driven over a plain TCP
//! socket with a hand-written HTTP/1.1 client.

#![allow(clippy::unwrap_used)]

mod common;
use common::{parse, post};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use serde_json::{Value, json};
use switchyard_testkit::gemini::{
    MOCK_CODE_ASSIST_PROJECT, MOCK_MANAGED_PROJECT, code_assist_stream_bytes, gemini_stream_bytes,
};
use switchyard_testkit::{Fault, MockUpstream, MockUsage};

const BODY: &str = r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#;

fn usage() -> MockUsage {
    MockUsage {
        input: 10,
        output: 30,
        cache_read: 4,
        reasoning: 8,
        ..MockUsage::default()
    }
}

#[tokio::test]
async fn public_sse_stream_is_exact_with_crlf_events() {
    let mock = MockUpstream::start().await;
    mock.set_usage(usage());
    let resp = post(
        mock.addr(),
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        &[("x-goog-api-key", "AIza-1")],
        BODY,
    )
    .await;
    assert_eq!(resp.status, 200);
    assert!(resp.complete);
    assert!(
        resp.header("content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(
        resp.body,
        gemini_stream_bytes("gemini-2.5-flash", &usage(), 6)
    );
    let events: Vec<&str> = resp
        .text()
        .split("\r\n\r\n")
        .filter(|e| !e.is_empty())
        .collect();
    assert_eq!(events.len(), 6);
    let last: Value = serde_json::from_str(events[5].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(last["usageMetadata"]["promptTokenCount"], 14);
    assert_eq!(last["usageMetadata"]["cachedContentTokenCount"], 4);
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 22);
    assert_eq!(last["usageMetadata"]["thoughtsTokenCount"], 8);
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(mock.count_for("AIza-1"), 1);
    assert_eq!(
        mock.last_request().unwrap().credential.as_deref(),
        Some("AIza-1")
    );
}

#[tokio::test]
async fn public_json_array_stream_and_v1_path_and_query_key() {
    let mock = MockUpstream::start().await;
    let resp = post(
        mock.addr(),
        "/v1/models/gemini-2.5-pro:streamGenerateContent?key=AIza-q",
        &[],
        BODY,
    )
    .await;
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let v = resp.json();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 6);
    assert_eq!(items[0]["modelVersion"], "gemini-2.5-pro");
    assert_eq!(mock.count_for("AIza-q"), 1);
}

#[tokio::test]
async fn public_generate_count_router_and_auth() {
    let mock = MockUpstream::start().await;
    let key = [("x-goog-api-key", "AIza-1")];
    let resp = post(
        mock.addr(),
        "/v1beta/models/gemini-2.5-pro:generateContent",
        &key,
        BODY,
    )
    .await;
    assert_eq!(resp.status, 200);
    let v = resp.json();
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["text"],
        switchyard_testkit::bodies::full_text(6)
    );

    // Gemini CLI's router: JSON text that matches its schema.
    let router = json!({
        "contents": [{"role": "user", "parts": [{"text": "list files"}]}],
        "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": {
            "type": "object",
            "properties": {"reasoning": {"type": "string"}, "model_choice": {"type": "string", "enum": ["flash", "pro"]}},
            "required": ["reasoning", "model_choice"]}}
    });
    let resp = post(
        mock.addr(),
        "/v1beta/models/gemini-2.5-flash-lite:generateContent",
        &key,
        &router.to_string(),
    )
    .await;
    let text = resp.json()["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["model_choice"], "flash");
    assert!(answer["reasoning"].is_string());

    let resp = post(
        mock.addr(),
        "/v1beta/models/gemini-2.5-pro:countTokens",
        &key,
        BODY,
    )
    .await;
    assert_eq!(resp.json()["totalTokens"], 16);

    let resp = post(
        mock.addr(),
        "/v1beta/models/gemini-2.5-pro:generateContent",
        &[],
        BODY,
    )
    .await;
    assert_eq!(resp.status, 403);
    assert_eq!(resp.json()["error"]["status"], "PERMISSION_DENIED");
}

#[tokio::test]
async fn public_faults_use_google_shapes() {
    let mock = MockUpstream::start().await;
    mock.push_for("AIza-1", Fault::gemini_rate_limited(7));
    let key = [("x-goog-api-key", "AIza-1")];
    let path = "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse";
    let resp = post(mock.addr(), path, &key, BODY).await;
    assert_eq!(resp.status, 429);
    let v = resp.json();
    assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(v["error"]["details"][0]["retryDelay"], "7s");

    mock.push(Fault::ErrorEventAfter200);
    let resp = post(mock.addr(), path, &key, BODY).await;
    assert_eq!(resp.status, 200);
    let events: Vec<&str> = resp
        .text()
        .split("\r\n\r\n")
        .filter(|e| !e.is_empty())
        .collect();
    assert_eq!(events.len(), 2);
    assert!(events[1].contains("\"status\":\"INTERNAL\""));

    mock.push(Fault::DisconnectMidStream { after_events: 2 });
    let resp = post(mock.addr(), path, &key, BODY).await;
    assert!(!resp.complete);
    assert_eq!(resp.text().matches("\r\n\r\n").count(), 2);

    // countTokens does not stream: an error-after-200 fault answers normally.
    mock.push(Fault::ErrorEventAfter200);
    let resp = post(
        mock.addr(),
        "/v1beta/models/gemini-2.5-pro:countTokens",
        &key,
        BODY,
    )
    .await;
    assert_eq!(resp.status, 200);
    assert!(resp.json()["totalTokens"].is_number());
}

#[tokio::test]
async fn code_assist_wrapped_stream_and_project_recording() {
    let mock = MockUpstream::start().await;
    let bearer = [("authorization", "Bearer ya29.a")];
    let body = json!({"model": "gemini-2.5-pro", "project": "proj-x", "user_prompt_id": "u",
        "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "session_id": "s"}});
    let resp = post(
        mock.addr(),
        "/v1internal:streamGenerateContent?alt=sse",
        &bearer,
        &body.to_string(),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.body,
        code_assist_stream_bytes("gemini-2.5-pro", &MockUsage::default(), 6)
    );
    let resp = post(
        mock.addr(),
        "/v1internal:generateContent",
        &bearer,
        &body.to_string(),
    )
    .await;
    let v = resp.json();
    assert!(v["traceId"].is_string());
    assert_eq!(v["response"]["usageMetadata"]["promptTokenCount"], 16);
    assert_eq!(mock.code_assist_projects(), ["proj-x", "proj-x"]);
    assert_eq!(mock.count_for("ya29.a"), 2);

    let count = json!({"request": {"model": "models/gemini-2.5-pro", "contents": []}});
    let resp = post(
        mock.addr(),
        "/v1internal:countTokens",
        &bearer,
        &count.to_string(),
    )
    .await;
    assert_eq!(resp.json(), json!({"totalTokens": 16}));

    let resp = post(
        mock.addr(),
        "/v1internal:generateContent",
        &[],
        &body.to_string(),
    )
    .await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["error"]["status"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn code_assist_setup_calls() {
    let mock = MockUpstream::start().await;
    let bearer = [("authorization", "Bearer ya29.a")];
    let load = r#"{"metadata":{"ideType":"IDE_UNSPECIFIED","platform":"PLATFORM_UNSPECIFIED","pluginType":"GEMINI"}}"#;
    let resp = post(mock.addr(), "/v1internal:loadCodeAssist", &bearer, load).await;
    assert_eq!(
        resp.json()["cloudaicompanionProject"],
        MOCK_CODE_ASSIST_PROJECT
    );

    mock.set_code_assist_project(None);
    let v = post(mock.addr(), "/v1internal:loadCodeAssist", &bearer, load)
        .await
        .json();
    assert!(v.get("cloudaicompanionProject").is_none());
    assert_eq!(v["allowedTiers"][0]["id"], "free-tier");
    let onboard = r#"{"tierId":"free-tier","metadata":{"pluginType":"GEMINI"}}"#;
    let v = post(mock.addr(), "/v1internal:onboardUser", &bearer, onboard)
        .await
        .json();
    assert_eq!(v["done"], true);
    assert_eq!(
        v["response"]["cloudaicompanionProject"]["id"],
        MOCK_MANAGED_PROJECT
    );
    let v = post(mock.addr(), "/v1internal:loadCodeAssist", &bearer, load)
        .await
        .json();
    assert_eq!(v["cloudaicompanionProject"], MOCK_MANAGED_PROJECT);

    let v = post(
        mock.addr(),
        "/v1internal:retrieveUserQuota",
        &bearer,
        r#"{"project":"p1"}"#,
    )
    .await
    .json();
    assert!(v["buckets"].is_array());
    let v = post(
        mock.addr(),
        "/v1internal:listExperiments",
        &bearer,
        r#"{"project":"p2","metadata":{}}"#,
    )
    .await
    .json();
    assert!(v["flags"].is_array());
    assert_eq!(mock.code_assist_projects(), ["p1", "p2"]);
}

#[tokio::test]
async fn google_token_endpoint() {
    let mock = MockUpstream::start().await;
    let form_ct = [("content-type", "application/x-www-form-urlencoded")];
    let grant = "client_id=681255809395-x.apps.googleusercontent.com&client_secret=GOCSPX-x&refresh_token=1%2F%2F0abc&grant_type=refresh_token";
    let v = post(mock.addr(), "/token", &form_ct, grant).await.json();
    assert_eq!(v["access_token"], "ya29.mock-1");
    assert_eq!(v["expires_in"], 3599);
    assert!(v.get("refresh_token").is_none());
    assert_eq!(mock.google_tokens_issued(), 1);
    assert_eq!(mock.tokens_issued(), 0);

    mock.push_oauth(Fault::invalid_grant());
    let resp = post(mock.addr(), "/token", &form_ct, grant).await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"], "invalid_grant");
    assert_eq!(mock.google_tokens_issued(), 1);

    let resp = post(
        mock.addr(),
        "/token",
        &form_ct,
        "grant_type=authorization_code&code=x",
    )
    .await;
    assert_eq!(resp.status, 400);
    let resp = post(
        mock.addr(),
        "/token",
        &form_ct,
        "grant_type=refresh_token&refresh_token=r",
    )
    .await;
    assert_eq!(resp.status, 401);
    assert_eq!(mock.google_tokens_issued(), 1);
}

#[tokio::test]
async fn model_list_probe_still_served() {
    let mock = MockUpstream::start().await;
    let mut stream = TcpStream::connect(mock.addr()).await.unwrap();
    stream
        .write_all(
            b"GET /v1beta/models HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-goog-api-key: AIza-1\r\n\r\n",
        )
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let resp = parse(&raw);
    assert_eq!(resp.status, 200);
    assert!(resp.json()["models"].is_array());
}
