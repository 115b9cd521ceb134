//! Account proxies with real proxies on loopback (testkit's HTTP and SOCKS5 proxies, which
//! count the connections they carry): relay requests, token refresh, health probes, usage
//! windows and Code Assist discovery all go through the account's proxy, and a dead proxy
//! fails over.

use switchyard_core::AccountStatus;
use switchyard_store::AccountPatch;
use switchyard_testkit::{MockUpstream, TestProxy, dead_proxy_url};

use crate::support::{AccountSpec, TestApp, body, send_status};

/// A host name only the test proxies know (see `TestProxy::alias`): an outbound call that
/// skipped the proxy cannot resolve it.
const HIDDEN_HOST: &str = "upstream.switchyard.invalid";

async fn set_proxy(app: &TestApp, name: &str, proxy: &str) {
    let a = app.account(name).await;
    app.store
        .update_account(
            a.id,
            AccountPatch {
                proxy_url: Some(Some(proxy.to_string())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    app.state.refresh_if_changed().await.unwrap();
}

/// The app with every upstream host behind [`HIDDEN_HOST`], reachable only through `proxy`.
async fn hidden_app(mock: &MockUpstream, proxy: &TestProxy) -> TestApp {
    proxy.alias(HIDDEN_HOST, mock.addr());
    let hidden = format!("http://{HIDDEN_HOST}:{}", mock.addr().port());
    TestApp::start_with(mock, |c| {
        for host in [
            "upstream.anthropic_api",
            "upstream.chatgpt",
            "upstream.openai_api",
            "upstream.openai_auth",
            "upstream.claude_ai",
            "upstream.gemini_api",
            "upstream.code_assist",
            "upstream.google_oauth",
        ] {
            c.set(host, &hidden).unwrap();
        }
        c.set(
            "upstream.claude_oauth_token_url",
            &format!("{hidden}/v1/oauth/token"),
        )
        .unwrap();
    })
    .await
}

#[tokio::test]
async fn socks5_proxy_carries_relay_requests() {
    let mock = MockUpstream::start().await;
    let proxy = TestProxy::socks5().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    set_proxy(&app, "a", &proxy.url()).await;

    assert_eq!(send_status(app.messages(body(false))).await, 200);
    assert!(
        proxy.connections() >= 1,
        "the SOCKS5 proxy saw no connection"
    );
    assert_eq!(
        proxy.targets()[0],
        mock.addr().to_string(),
        "socks5 resolves locally"
    );
    assert_eq!(mock.count_for("sk-ant-a"), 1);
}

#[tokio::test]
async fn every_outbound_call_goes_through_a_socks5h_proxy_with_a_password() {
    let mock = MockUpstream::start().await;
    let proxy = TestProxy::socks5_auth("pool-user", "proxy-pass-7f3k").await;
    let app = hidden_app(&mock, &proxy).await;
    // Expired OAuth token: the relay request must refresh it first.
    let mut oauth = AccountSpec::oauth("max", "sk-ant-oat01-old", "sk-ant-ort01-old");
    oauth.expires_at = Some(chrono::Utc::now() - chrono::Duration::minutes(1));
    app.add_account(oauth).await;
    set_proxy(&app, "max", &proxy.url_with_scheme("socks5h")).await;

    // Health probe (with its token refresh and the usage-window read) first…
    let account = app.state.snapshot.load().accounts[0].clone();
    let report = app.state.check_account(&account).await;
    assert_eq!(report.result, "healthy", "{report:?}");
    assert!(
        mock.tokens_issued() >= 1,
        "token refreshed through the proxy"
    );
    // …then a relay request.
    assert_eq!(send_status(app.messages(body(false))).await, 200);
    assert!(proxy.connections() >= 1);
    let host = format!("{HIDDEN_HOST}:{}", mock.addr().port());
    assert!(
        proxy.targets().iter().all(|t| *t == host),
        "socks5h hands the name to the proxy: {:?}",
        proxy.targets()
    );
    assert_eq!(proxy.refused(), 0);

    // The password never shows in the account as the admin API renders it.
    let token = app.admin().await;
    let listed = app
        .http
        .get(format!("{}/api/admin/accounts", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listed.contains("proxy-pass-7f3k"), "{listed}");
}

#[tokio::test]
async fn http_proxy_carries_probe_code_assist_discovery_refresh_and_relay() {
    let mock = MockUpstream::start().await;
    let proxy = TestProxy::http().await;
    let app = hidden_app(&mock, &proxy).await;
    let mut spec = AccountSpec::gemini("google", "ya29.expired", "1//refresh-token");
    spec.expires_at = Some(chrono::Utc::now() - chrono::Duration::minutes(5));
    app.add_account(spec).await;
    set_proxy(&app, "google", &proxy.url()).await;

    // The health probe first (with its token refresh): reachable only through the proxy.
    let account = app.state.snapshot.load().accounts[0].clone();
    let report = app.state.check_account(&account).await;
    assert_eq!(report.result, "healthy", "{report:?}");
    assert!(proxy.connections() >= 1);

    let status = send_status(
        app.http
            .post(format!(
                "{}/v1beta/models/gemini-2.5-flash:generateContent",
                app.url
            ))
            .header("x-goog-api-key", &app.key)
            .json(&serde_json::json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(mock.google_tokens_issued(), 1);
    assert!(
        mock.requests()
            .iter()
            .any(|r| r.path.starts_with("/v1internal:loadCodeAssist")),
        "project discovered"
    );
    assert!(proxy.connections() >= 1);
}

#[tokio::test]
async fn a_named_proxy_and_the_default_proxy_are_resolved_for_each_account() {
    let mock = MockUpstream::start().await;
    let named = TestProxy::socks5().await;
    let default = TestProxy::http().await;
    let app = TestApp::start(&mock).await;
    app.store.create_proxy("tokyo", &named.url()).await.unwrap();
    app.store
        .create_proxy("office", &default.url())
        .await
        .unwrap();
    app.add_account(AccountSpec::claude("named", "sk-ant-named"))
        .await;
    set_proxy(&app, "named", "tokyo").await;
    app.setting("default_proxy", "office").await;

    assert_eq!(send_status(app.messages(body(false))).await, 200);
    assert_eq!(mock.count_for("sk-ant-named"), 1);
    assert_eq!(named.connections(), 1, "the named proxy carried it");
    assert_eq!(default.connections(), 0);

    // An account without a proxy of its own (preferred by priority) uses `default_proxy`.
    let mut plain = AccountSpec::claude("plain", "sk-ant-plain");
    plain.priority = 1;
    app.add_account(plain).await;
    let snap = app.state.snapshot.load();
    let proxy_of = |n: &str| {
        snap.accounts
            .iter()
            .find(|a| a.name == n)
            .unwrap()
            .proxy_url
            .clone()
    };
    assert_eq!(proxy_of("named"), Some(named.url()));
    assert_eq!(proxy_of("plain"), Some(default.url()));
    // A new conversation (the first one is bound to `named`).
    let mut other = body(false);
    other["messages"][0]["content"] = "another conversation".into();
    assert_eq!(send_status(app.messages(other)).await, 200);
    assert_eq!(mock.count_for("sk-ant-plain"), 1);
    assert_eq!(default.connections(), 1, "the default proxy carried it");
}

#[tokio::test]
async fn an_account_naming_a_missing_proxy_never_goes_direct() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    set_proxy(&app, "a", "nowhere").await;
    assert_eq!(send_status(app.messages(body(false))).await, 503);
    assert_eq!(mock.count_for("sk-ant-a"), 0);
}

#[tokio::test]
async fn a_dead_proxy_fails_over_and_cools_the_account_with_reason_proxy() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let mut first = AccountSpec::claude("behind-dead-proxy", "sk-ant-dead");
    first.priority = 1;
    app.add_account(first).await;
    app.add_account(AccountSpec::claude("direct", "sk-ant-direct"))
        .await;
    set_proxy(
        &app,
        "behind-dead-proxy",
        &dead_proxy_url("socks5")
            .await
            .replace("://", "://u:hidden-pw@"),
    )
    .await;

    assert_eq!(send_status(app.messages(body(false))).await, 200);
    assert_eq!(mock.count_for("sk-ant-direct"), 1);
    let a = app
        .state
        .snapshot
        .load()
        .accounts_by_id
        .values()
        .find(|a| a.name == "behind-dead-proxy")
        .cloned()
        .unwrap();
    assert_eq!(a.status, AccountStatus::Cooling);
    assert_eq!(a.status_reason.as_deref(), Some("proxy"));
}

#[tokio::test]
async fn proxies_through_the_admin_api_are_audited_and_never_echo_credentials() {
    let mock = MockUpstream::start().await;
    let proxy = TestProxy::http().await;
    let app = TestApp::start(&mock).await;
    let token = app.admin().await;
    let api = |path: &str| format!("{}/api/admin{path}", app.url);
    let with_creds = proxy
        .url()
        .replace("http://", "http://ops:api-proxy-secret-5@");

    let created = app
        .http
        .post(api("/proxies"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "edge", "url": with_creds}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let v: serde_json::Value = created.json().await.unwrap();
    assert_eq!(v["url"], format!("http://***@{}", proxy.addr()));

    let bad = app
        .http
        .post(api("/proxies"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "x", "url": "ftp://u:leak-3@h:1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    assert!(!bad.text().await.unwrap().contains("leak-3"));

    // An account names it through the accounts resource.
    let acct = app
        .http
        .post(api("/accounts"))
        .bearer_auth(&token)
        .json(
            &serde_json::json!({"kind": "claude", "name": "via-edge", "proxy_url": "edge",
            "credentials": {"api_key": "sk-ant-api03-VIAEDGE-000000001"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(acct.status(), 201);
    app.state.refresh_if_changed().await.unwrap();
    assert_eq!(send_status(app.messages(body(false))).await, 200);
    assert_eq!(proxy.connections(), 1);

    let refused = app
        .http
        .delete(api("/proxies/edge"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    let forced = app
        .http
        .delete(api("/proxies/edge?force=true"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(forced.status(), 200);
    let r: serde_json::Value = forced.json().await.unwrap();
    assert_eq!(r["reassigned"], serde_json::json!(["via-edge"]));

    let openapi = app
        .http
        .get(api("/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(openapi.contains("/proxies/{name}/test"));
    let audit = app.store.recent_audit(50).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert!(actions.contains(&"proxy.create") && actions.contains(&"proxy.delete"));
    let everything = format!("{audit:?}");
    assert!(!everything.contains("api-proxy-secret-5"), "{everything}");
}
