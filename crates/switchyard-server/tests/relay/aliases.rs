//! Model aliases (issue 18, model routes): a name the operator declares (`sonnet`) stands for
//! a model (`claude-sonnet-4-5`) in every dialect, natively and across a converted hop.

use switchyard_testkit::MockUpstream;

use crate::support::{AccountSpec, TestApp, body};

fn messages_as(model: &str) -> serde_json::Value {
    let mut b = body(false);
    b["model"] = model.into();
    b
}

#[tokio::test]
async fn an_alias_reaches_the_model_it_stands_for_and_usage_names_that_model() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::claude("claude-key", "sk-ant-api03-x"))
        .await;
    app.setting("model_aliases", "sonnet=claude-sonnet-4-5,fast=gpt-5-mini")
        .await;

    let resp = app.messages(messages_as("sonnet")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let sent = mock.last_request().unwrap().json().unwrap();
    assert_eq!(
        sent["model"], "claude-sonnet-4-5",
        "the upstream sees the model"
    );
    assert_eq!(
        sent["messages"],
        body(false)["messages"],
        "nothing else moved"
    );
    let usage = app.usage(1).await;
    assert_eq!(
        usage[0].requested_model.as_deref(),
        Some("claude-sonnet-4-5")
    );

    // A name that is no alias is passed on as it is.
    let resp = app
        .messages(messages_as("claude-haiku-4-5"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        mock.last_request().unwrap().json().unwrap()["model"],
        "claude-haiku-4-5"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_alias_routes_across_dialects_and_a_gemini_alias_stays_out_of_the_body() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::claude("claude-key", "sk-ant-api03-x"))
        .await;
    app.add_account(AccountSpec::gemini_api("gem", "AIza-alias"))
        .await;
    app.setting(
        "model_aliases",
        "sonnet=claude-sonnet-4-5,flash=gemini-2.5-flash",
    )
    .await;

    // A Chat client asking for `sonnet` is served by the Claude account, converted.
    let resp = app
        .post(
            "/v1/chat/completions",
            serde_json::json!({"model": "sonnet", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let sent = mock.last_request().unwrap();
    assert_eq!(sent.path_only(), "/v1/messages");
    assert_eq!(sent.json().unwrap()["model"], "claude-sonnet-4-5");

    // The public Gemini API names its model in the path; the body gets no `model` field.
    let resp = app
        .http
        .post(format!("{}/v1beta/models/flash:generateContent", app.url))
        .header("x-goog-api-key", &app.key)
        .json(&serde_json::json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let sent = mock.last_request().unwrap();
    assert!(
        sent.path_only()
            .contains("/models/gemini-2.5-flash:generateContent"),
        "{}",
        sent.path_only()
    );
    assert!(sent.json().unwrap().get("model").is_none());
    app.stop().await;
}

#[tokio::test]
async fn the_model_list_shows_an_alias_where_its_model_is_reachable() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let mut spec = AccountSpec::claude("claude-key", "sk-ant-api03-x");
    spec.models = vec!["claude-sonnet-4-5".into()];
    app.add_account(spec).await;
    app.setting("model_aliases", "sonnet=claude-sonnet-4-5,mini=gpt-5-mini")
        .await;
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
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"sonnet"), "{ids:?}");
    assert!(ids.contains(&"claude-sonnet-4-5"), "{ids:?}");
    assert!(
        !ids.contains(&"mini"),
        "no account reaches gpt-5-mini: {ids:?}"
    );
    app.stop().await;
}

#[test]
fn an_alias_setting_that_cannot_hold_is_refused_with_the_reason() {
    use switchyard_core::settings::validate;
    let err = validate("model_aliases", "sonnet=opus,opus=claude-opus-4-1").unwrap_err();
    assert!(err.to_string().contains("itself an alias"), "{err}");
    let err = validate("model_aliases", "sonnet").unwrap_err();
    assert!(err.to_string().contains("alias=model"), "{err}");
    assert_eq!(
        validate("model_aliases", " b = y , a=x ").unwrap(),
        "a=x,b=y"
    );
}
