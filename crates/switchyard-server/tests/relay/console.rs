//! The admin API additions the web console needs.

use crate::support::TestApp;
use switchyard_testkit::MockUpstream;

#[tokio::test]
async fn a_user_changes_its_own_password_and_every_session_ends() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let token = app.admin().await;
    let other = app.login("root", "admin-password-1").await;
    let url = format!("{}/api/admin/session/password", app.url);
    let send = |token: &str, body: serde_json::Value| {
        app.http.post(&url).bearer_auth(token).json(&body).send()
    };

    let wrong = send(
        &token,
        serde_json::json!({"current_password": "nope-nope", "new_password": "new-password-2"}),
    )
    .await
    .unwrap();
    assert_eq!(wrong.status(), 422);
    let problem: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(problem["field"], "current_password");

    let short = send(
        &token,
        serde_json::json!({"current_password": "admin-password-1", "new_password": "short"}),
    )
    .await
    .unwrap();
    assert_eq!(short.status(), 422);
    assert_eq!(
        short.json::<serde_json::Value>().await.unwrap()["field"],
        "new_password"
    );

    let ok = send(
        &token,
        serde_json::json!({"current_password": "admin-password-1", "new_password": "new-password-2"}),
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 204);
    for t in [&token, &other] {
        let resp = app
            .http
            .get(format!("{}/api/admin/session", app.url))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "sessions end with the old password");
    }
    app.login("root", "new-password-2").await;

    // The document lists it for any signed-in user.
    let doc: serde_json::Value = app
        .http
        .get(format!("{}/api/admin/openapi.json", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/api/admin/session/password"]["post"].is_object());
    app.stop().await;
}
