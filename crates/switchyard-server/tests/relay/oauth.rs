//! Signing in with a subscription through the admin API, end to end against testkit's mock
//! OAuth provider (which checks the PKCE verifier, single use of codes and the session key),
//! and the new accounts serving relay requests.

use serde_json::{Value, json};
use switchyard_testkit::oauth::{MOCK_EMAIL, MOCK_ORG, MOCK_SESSION_KEY};
use switchyard_testkit::{MockUpstream, OAuthMock, TestProxy};

use crate::support::{TestApp, body};

struct Env {
    mock: MockUpstream,
    oauth: OAuthMock,
    app: TestApp,
    token: String,
}

/// Claude's authorize/token/profile and its messages endpoint, ChatGPT's and Google's
/// sign-in on the OAuth mock; Codex and Code Assist relay traffic on the upstream mock.
async fn env() -> Env {
    let mock = MockUpstream::start().await;
    let oauth = OAuthMock::start().await;
    let o = oauth.url();
    let app = TestApp::start_with(&mock, |c| {
        c.set(
            "upstream.claude_oauth_token_url",
            &format!("{o}/v1/oauth/token"),
        )
        .unwrap();
        for host in [
            "upstream.claude_ai",
            "upstream.openai_auth",
            "upstream.google_oauth",
            "upstream.anthropic_api",
        ] {
            c.set(host, &o).unwrap();
        }
    })
    .await;
    let token = app.admin().await;
    Env {
        mock,
        oauth,
        app,
        token,
    }
}

impl Env {
    async fn call(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .app
            .http
            .post(format!("{}/api/admin/accounts/oauth/{path}", self.app.url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert!(
            !text.contains("oauthmock-") && !text.contains(MOCK_SESSION_KEY),
            "a secret was echoed: {text}"
        );
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn start(&self, body: Value) -> (String, String) {
        let (status, v) = self.call("start", body).await;
        assert_eq!(status, 200, "{v}");
        (
            v["url"].as_str().unwrap().to_string(),
            v["state"].as_str().unwrap().to_string(),
        )
    }

    async fn accounts(&self) -> usize {
        self.app.store.list_accounts().await.unwrap().len()
    }
}

/// What the operator's browser does: open the authorize URL, approve, and land on the
/// redirect URI (returned, never followed).
async fn approve(url: &str) -> String {
    let browser = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = browser.get(url).send().await.unwrap();
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
    r.headers()["location"].to_str().unwrap().to_string()
}

fn code_of(redirect: &str) -> String {
    let q = redirect.split_once('?').unwrap().1;
    q.split('&')
        .find_map(|p| p.strip_prefix("code="))
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn claude_sign_in_through_a_proxy_creates_an_account_that_serves() {
    let e = env().await;
    let proxy = TestProxy::socks5().await;
    let (url, state) = e
        .start(json!({"kind": "claude-official", "name": "max-1", "proxy": proxy.url()}))
        .await;
    assert!(
        url.starts_with(&format!("{}/oauth/authorize?", e.oauth.url())),
        "{url}"
    );
    for part in [
        "client_id=9d1c250a-e61b-44d9-88ed-5944d1962f5e",
        "code_challenge_method=S256",
        "redirect_uri=https%3A%2F%2Fplatform.claude.com%2Foauth%2Fcode%2Fcallback",
        "user%3Aprofile",
        "user%3Ainference",
        &format!("state={state}"),
    ] {
        assert!(url.contains(part), "{part} missing from {url}");
    }
    assert!(!url.contains("verifier"));

    // Claude's callback page shows `code#state`: that is what the operator pastes.
    let redirect = approve(&url).await;
    let pasted = format!("{}#{state}", code_of(&redirect));
    let (status, v) = e.call("finish", json!({"code_or_url": pasted})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["created"], true);
    assert_eq!(v["email"], MOCK_EMAIL);
    assert_eq!(v["organization"], MOCK_ORG);
    assert_eq!(v["plan"], "max");
    assert_eq!(v["account"]["kind"], "claude-official");
    assert!(
        proxy.connections() >= 1,
        "the code exchange went through the account's proxy"
    );
    let stored = e.app.account("max-1").await;
    assert!(stored.credentials.refresh_token.is_some());
    assert!(stored.credentials.expires_at.is_some());

    e.app.state.refresh_if_changed().await.unwrap();
    let r = e.app.messages(body(false)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        e.oauth.served(),
        1,
        "served with the token the provider issued"
    );

    // The state was used: finishing again is refused and stores nothing.
    let (status, v) = e.call("finish", json!({"code_or_url": pasted})).await;
    assert_eq!(status, 422, "{v}");
    assert!(
        v["detail"].as_str().unwrap().contains("already used"),
        "{v}"
    );

    // Audit entries name the sign-in without any token.
    let audit = format!("{:?}", e.app.store.recent_audit(20).await.unwrap());
    assert!(audit.contains("account.oauth.create") && !audit.contains("oauthmock-"));
}

#[tokio::test]
async fn refused_sign_ins_say_why_and_store_nothing() {
    let e = env().await;
    // A code used once is refused by the provider the second time.
    let (url, state) = e
        .start(json!({"kind": "claude-official", "name": "first"}))
        .await;
    let code = code_of(&approve(&url).await);
    let (status, _) = e
        .call("finish", json!({"state": state, "code_or_url": code}))
        .await;
    assert_eq!(status, 200);
    let (_, state2) = e
        .start(json!({"kind": "claude-official", "name": "second"}))
        .await;
    let (status, v) = e
        .call("finish", json!({"state": state2, "code_or_url": code}))
        .await;
    assert_eq!(status, 502, "{v}");
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("authorization code already used"),
        "{v}"
    );

    // A code minted for another flow fails the PKCE check at the provider.
    let (url_a, _) = e
        .start(json!({"kind": "claude-official", "name": "a"}))
        .await;
    let (_, state_b) = e
        .start(json!({"kind": "claude-official", "name": "b"}))
        .await;
    let code_a = code_of(&approve(&url_a).await);
    let (status, v) = e
        .call("finish", json!({"state": state_b, "code_or_url": code_a}))
        .await;
    assert_eq!(status, 502, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("PKCE"), "{v}");

    // A pasted answer whose state is not the one being finished.
    let (url_c, _) = e
        .start(json!({"kind": "claude-official", "name": "c"}))
        .await;
    let (_, state_d) = e
        .start(json!({"kind": "claude-official", "name": "d"}))
        .await;
    let redirect_c = approve(&url_c).await;
    let (status, v) = e
        .call(
            "finish",
            json!({"state": state_d, "code_or_url": redirect_c}),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    assert!(
        v["detail"].as_str().unwrap().contains("state mismatch"),
        "{v}"
    );

    // An expired sign-in.
    let (url_e, state_e) = e
        .start(json!({"kind": "claude-official", "name": "e"}))
        .await;
    let mut pending = e
        .app
        .store
        .take_oauth_pending(&state_e)
        .await
        .unwrap()
        .unwrap();
    pending.expires_at = chrono::Utc::now() - chrono::Duration::seconds(1);
    e.app.store.put_oauth_pending(&pending).await.unwrap();
    let redirect_e = approve(&url_e).await;
    let (status, v) = e.call("finish", json!({"code_or_url": redirect_e})).await;
    assert_eq!(status, 422, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("expired"), "{v}");

    assert_eq!(
        e.accounts().await,
        1,
        "only the first sign-in stored an account"
    );
}

#[tokio::test]
async fn re_authorising_keeps_the_account_id_and_rotation_is_stored() {
    let e = env().await;
    let (url, state) = e
        .start(json!({"kind": "claude-official", "name": "team"}))
        .await;
    let code = code_of(&approve(&url).await);
    let (_, v) = e
        .call("finish", json!({"state": state, "code_or_url": code}))
        .await;
    let id = v["account"]["id"].as_i64().unwrap();
    let before = e.app.account("team").await.credentials;

    let (url, state) = e.start(json!({"account": "team"})).await;
    let code = code_of(&approve(&url).await);
    let (status, v) = e
        .call("finish", json!({"state": state, "code_or_url": code}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["created"], false);
    assert_eq!(v["account"]["id"].as_i64().unwrap(), id);
    let after = e.app.account("team").await.credentials;
    assert_ne!(before.access_token, after.access_token);
    assert_ne!(before.refresh_token, after.refresh_token);
    assert_eq!(e.accounts().await, 1);

    // An expired access token is refreshed at the provider and the rotated pair is stored.
    let a = e.app.account("team").await;
    e.app
        .store
        .set_account_credentials(
            a.id,
            &switchyard_core::account::Credentials {
                expires_at: Some(chrono::Utc::now() - chrono::Duration::minutes(1)),
                ..a.credentials.clone()
            },
        )
        .await
        .unwrap();
    e.app.state.refresh_if_changed().await.unwrap();
    let r = e.app.messages(body(false)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(e.oauth.refreshes(), 1);
    let rotated = crate::support::eventually(std::time::Duration::from_secs(5), || async {
        let c = e.app.account("team").await.credentials;
        (c.refresh_token != after.refresh_token).then_some(c)
    })
    .await;
    assert!(rotated.is_some(), "the rotated refresh token was stored");
}

#[tokio::test]
async fn claude_setup_token_and_session_key_sign_ins() {
    let e = env().await;
    let (url, state) = e
        .start(json!({"kind": "claude-official", "name": "long-lived", "setup_token": true}))
        .await;
    assert!(url.contains("scope=user%3Ainference&"), "{url}");
    assert!(!url.contains("user%3Aprofile"), "{url}");
    let code = code_of(&approve(&url).await);
    let (status, v) = e
        .call("finish", json!({"state": state, "code_or_url": code}))
        .await;
    assert_eq!(status, 200, "{v}");
    let c = e.app.account("long-lived").await.credentials;
    assert!(
        c.refresh_token.is_none(),
        "a setup token has no refresh token"
    );
    let days = (c.expires_at.unwrap() - chrono::Utc::now()).num_days();
    assert!((360..=366).contains(&days), "{days} days");

    let (status, v) = e
        .call(
            "session-key",
            json!({"session_key": MOCK_SESSION_KEY, "login": {"name": "from-cookie"}}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["email"], MOCK_EMAIL);
    let c = e.app.account("from-cookie").await.credentials;
    assert!(c.access_token.is_some() && c.refresh_token.is_some());

    let (status, v) = e
        .call(
            "session-key",
            json!({"session_key": "sk-ant-sid01-dead", "login": {"name": "dead"}}),
        )
        .await;
    assert_eq!(status, 502, "{v}");
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("session key was refused")
    );
    assert_eq!(e.accounts().await, 2);
}

#[tokio::test]
async fn chatgpt_and_google_sign_ins_serve_their_dialects() {
    let e = env().await;
    let (url, _) = e
        .start(json!({"kind": "openai-responses", "name": "codex"}))
        .await;
    assert!(
        url.contains("client_id=app_EMoamEEZ73f0CkXaXp7hrann"),
        "{url}"
    );
    assert!(
        url.contains("redirect_uri=http%3A%2F%2Flocalhost%3A1455%2Fauth%2Fcallback"),
        "{url}"
    );
    // The browser cannot reach localhost:1455; the operator pastes the URL it tried.
    let redirect = approve(&url).await;
    assert!(redirect.starts_with("http://localhost:1455/auth/callback?code="));
    let (status, v) = e.call("finish", json!({"code_or_url": redirect})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["plan"], "pro");
    assert_eq!(v["email"], MOCK_EMAIL);

    let (url, state) = e.start(json!({"kind": "gemini", "name": "google"})).await;
    assert!(
        url.starts_with(&format!("{}/o/oauth2/v2/auth?", e.oauth.url())),
        "{url}"
    );
    assert!(url.contains("access_type=offline"));
    let code = code_of(&approve(&url).await);
    let (status, v) = e
        .call("finish", json!({"state": state, "code_or_url": code}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["email"], MOCK_EMAIL);
    assert_eq!(
        v["project"],
        switchyard_testkit::gemini::MOCK_CODE_ASSIST_PROJECT,
        "{v}"
    );

    e.app.state.refresh_if_changed().await.unwrap();
    let r = e
        .app
        .post(
            "/v1/responses",
            json!({"model": "gpt-5", "input": "hi", "stream": false}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = e
        .app
        .http
        .post(format!(
            "{}/v1beta/models/gemini-2.5-flash:generateContent",
            e.app.url
        ))
        .header("x-goog-api-key", &e.app.key)
        .json(&json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert!(
        e.mock.requests().iter().any(|r| r
            .header("authorization")
            .is_some_and(|h| h.starts_with("Bearer ya29.oauthmock-"))),
        "Code Assist called with the signed-in Google token"
    );
}

#[tokio::test]
async fn import_and_export_through_the_admin_api() {
    let e = env().await;
    let file = json!({"claudeAiOauth": {"accessToken": "sk-ant-oat01-APIIMPORT-0001",
        "refreshToken": "sk-ant-ort01-APIIMPORT-0002", "expiresAt": 1893456000000u64,
        "scopes": ["user:inference"], "subscriptionType": "pro"}});
    let post = |path: &'static str, body: Value| {
        e.app
            .http
            .post(format!("{}/api/admin/accounts/{path}", e.app.url))
            .bearer_auth(&e.token)
            .json(&body)
    };
    let r = post(
        "import",
        json!({"content": file.to_string(), "name": "imported"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("Claude Code credentials") && !text.contains("APIIMPORT"),
        "{text}"
    );

    let plain = post("export", json!({}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        plain.contains("\"imported\"") && !plain.contains("APIIMPORT"),
        "{plain}"
    );
    let full = post("export", json!({"include_secrets": true}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(full.contains("sk-ant-oat01-APIIMPORT-0001"));
    let audit = format!("{:?}", e.app.store.recent_audit(20).await.unwrap());
    assert!(audit.contains("account.export") && audit.contains("account.import"));
    assert!(!audit.contains("APIIMPORT"));
}
