//! Account health checks against scripted probe results on the mock upstream.

use std::time::{Duration, Instant};
use switchyard_core::AccountStatus;
use switchyard_server::health_check;
use switchyard_store::AccountState;
use switchyard_testkit::{Fault, MockUpstream};

use crate::support::{AccountSpec, TestApp, eventually, send_json, session_body};

const TOKEN: &str = "sk-ant-oat01-health";

async fn oauth_app(mock: &MockUpstream) -> TestApp {
    let app = TestApp::start(mock).await;
    app.add_account(AccountSpec::oauth("max", TOKEN, "sk-ant-ort01-health"))
        .await;
    app
}

async fn status(app: &TestApp, name: &str) -> (AccountStatus, u32, Option<String>) {
    let a = app
        .state
        .snapshot
        .load()
        .accounts
        .iter()
        .find(|a| a.name == name)
        .cloned()
        .unwrap();
    (a.status, a.consecutive_errors, a.status_reason.clone())
}

#[tokio::test]
async fn threshold_is_reached_after_n_failures_and_not_before() {
    let mock = MockUpstream::start().await;
    let app = oauth_app(&mock).await;
    app.setting("account_error_threshold", "3").await;
    mock.push_probe_for(TOKEN, Fault::server_error());
    mock.push_probe_for(TOKEN, Fault::server_error());
    mock.push_probe_for(TOKEN, Fault::server_error());

    health_check::round(&app.state).await;
    assert_eq!(status(&app, "max").await, (AccountStatus::Active, 1, None));
    health_check::round(&app.state).await;
    assert_eq!(status(&app, "max").await, (AccountStatus::Active, 2, None));
    let reports = health_check::round(&app.state).await;
    assert_eq!(reports[0].changed, Some("disabled"));
    assert_eq!(
        status(&app, "max").await,
        (AccountStatus::Disabled, 3, Some("health check".into()))
    );
    // The scheduler stops using it at once.
    let r = app
        .messages(crate::support::body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stored = app.account("max").await;
    assert_eq!(stored.status, AccountStatus::Disabled);
    assert!(stored.last_check_at.is_some());
    let audit = app.store.recent_audit(10).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "account.disabled" && e.target.as_deref() == Some("max"))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_429_keeps_the_account_and_a_pass_resets_the_count() {
    let mock = MockUpstream::start().await;
    let app = oauth_app(&mock).await;
    app.setting("account_error_threshold", "2").await;
    mock.push_probe_for(TOKEN, Fault::server_error());
    health_check::round(&app.state).await;
    assert_eq!(status(&app, "max").await.1, 1);
    mock.push_probe_for(
        TOKEN,
        Fault::rate_limited(chrono::Utc::now().timestamp() as u64 + 60),
    );
    let reports = health_check::round(&app.state).await;
    assert_eq!(reports[0].result, "rate_limited");
    assert_eq!(status(&app, "max").await, (AccountStatus::Active, 0, None));
    mock.push_probe_for(TOKEN, Fault::server_error());
    health_check::round(&app.state).await;
    health_check::round(&app.state).await;
    assert_eq!(
        status(&app, "max").await,
        (AccountStatus::Active, 0, None),
        "a pass reset the count"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_disabled_account_leaves_the_pool_with_its_sticky_sessions_and_recovers() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::oauth("max", TOKEN, "sk-ant-ort01-health"))
        .await;
    app.add_account(AccountSpec {
        priority: 60,
        ..AccountSpec::claude("backup", "sk-ant-backup")
    })
    .await;
    app.setting("account_error_threshold", "1").await;
    app.setting("webhook_url", &format!("{}/webhook", mock.url()))
        .await;
    let session = "9a1b2c3d-0000-4000-8000-000000000001";
    app.messages(session_body(session)).send().await.unwrap();
    assert_eq!(mock.count_for(TOKEN), 1);
    assert_eq!(app.state.coord.sticky_len(), 1);

    mock.push_probe_for(TOKEN, Fault::unauthorized());
    mock.push_oauth(Fault::invalid_grant());
    health_check::round(&app.state).await;
    assert_eq!(status(&app, "max").await.0, AccountStatus::Disabled);
    assert_eq!(
        app.state.coord.sticky_len(),
        0,
        "its sticky bindings are gone"
    );
    app.messages(session_body(session)).send().await.unwrap();
    assert_eq!(mock.count_for("sk-ant-backup"), 1);

    // Recovery waits for its back-off: an immediate round leaves the account alone…
    let probes = mock.probe_count_for(TOKEN);
    health_check::round(&app.state).await;
    assert_eq!(mock.probe_count_for(TOKEN), probes);
    assert_eq!(health_check::backoff_minutes(5, 1), 5);
    assert_eq!(health_check::backoff_minutes(5, 3), 20);
    assert_eq!(health_check::backoff_minutes(5, 10), 60);
    // …and when the re-probe passes (here run on demand, as `account check` does), the
    // account comes back.
    let account = app
        .state
        .snapshot
        .load()
        .accounts
        .iter()
        .find(|a| a.name == "max")
        .cloned()
        .unwrap();
    let report = app.state.check_account(&account).await;
    assert_eq!(report.changed, Some("recovered"));
    assert_eq!(status(&app, "max").await, (AccountStatus::Active, 0, None));
    let hooks: Vec<serde_json::Value> = wait_for_webhooks(&mock, 2).await;
    assert_eq!(hooks[0]["event"], "account.disabled");
    assert_eq!(hooks[0]["account"]["name"], "max");
    assert_eq!(hooks[1]["event"], "account.recovered");
    assert!(
        !hooks[0].to_string().contains(TOKEN),
        "no secrets in webhooks"
    );
    app.stop().await;
}

async fn wait_for_webhooks(mock: &MockUpstream, n: usize) -> Vec<serde_json::Value> {
    eventually(Duration::from_secs(3), || async {
        let hooks: Vec<serde_json::Value> = mock
            .requests()
            .into_iter()
            .filter(|r| r.path_only() == "/webhook")
            .filter_map(|r| r.json())
            .collect();
        (hooks.len() >= n).then_some(hooks)
    })
    .await
    .unwrap_or_else(|| panic!("fewer than {n} webhooks"))
}

#[tokio::test]
async fn operator_disabled_accounts_are_never_probed_or_re_enabled() {
    let mock = MockUpstream::start().await;
    let app = oauth_app(&mock).await;
    let id = app.account("max").await.id;
    app.store
        .set_account_state_by_operator(
            id,
            &AccountState {
                status: AccountStatus::Disabled,
                reason: Some("operator".into()),
                until: None,
                consecutive_errors: 0,
            },
        )
        .await
        .unwrap();
    app.state.refresh_if_changed().await.unwrap();
    let reports = health_check::round(&app.state).await;
    assert!(reports.is_empty());
    assert_eq!(mock.probe_count_for(TOKEN), 0);
    assert_eq!(status(&app, "max").await.0, AccountStatus::Disabled);
    app.stop().await;
}

#[tokio::test]
async fn recovery_can_be_turned_off() {
    let mock = MockUpstream::start().await;
    let app = oauth_app(&mock).await;
    app.setting("account_error_threshold", "1").await;
    app.setting("account_recovery_enabled", "false").await;
    mock.push_probe_for(TOKEN, Fault::server_error());
    health_check::round(&app.state).await;
    assert_eq!(status(&app, "max").await.0, AccountStatus::Disabled);
    health_check::round(&app.state).await;
    assert_eq!(status(&app, "max").await.0, AccountStatus::Disabled);
    app.stop().await;
}

#[tokio::test]
async fn the_probe_depends_on_the_credential_and_usage_windows_are_kept() {
    let mock = MockUpstream::start().await;
    mock.set_claude_utilization(97.0, 40.0);
    mock.set_codex_used_percent(12.0);
    let app = TestApp::start(&mock).await;
    let jwt = Box::leak(
        format!("eyJhbGciOiJub25lIn0.{}.c2ln", "eyJleHAiOjQxMDI0NDQ4MDB9").into_boxed_str(),
    );
    app.add_account(AccountSpec::codex("chatgpt", jwt)).await;
    app.add_account(AccountSpec::codex("apikey", "sk-proj-health"))
        .await;
    app.add_account(AccountSpec::oauth("max", TOKEN, "sk-ant-ort01-health"))
        .await;
    app.add_account(AccountSpec::claude("plain", "sk-ant-plain"))
        .await;
    let reports = health_check::round(&app.state).await;
    assert_eq!(
        reports.len(),
        3,
        "claude API-key accounts are not checked by default"
    );
    let paths: Vec<String> = mock
        .requests()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.credential.clone().unwrap_or_default(),
                r.path_only()
            )
        })
        .collect();
    assert!(
        paths.contains(&format!("{jwt} /backend-api/accounts/check/v4-2023-04-27")),
        "{paths:?}"
    );
    assert!(paths.contains(&format!("{jwt} /backend-api/wham/usage")));
    assert!(paths.contains(&"sk-proj-health /v1/models".to_string()));
    assert!(paths.contains(&format!("{TOKEN} /api/oauth/usage")));
    assert!(!paths.iter().any(|p| p.starts_with("sk-ant-plain")));
    let quotas = app.store.account_quotas().await.unwrap();
    let max = app.account("max").await;
    assert_eq!(quotas[&max.id]["report"]["five_hour"]["utilization"], 97.0);
    let chatgpt = app.account("chatgpt").await;
    assert_eq!(
        quotas[&chatgpt.id]["report"]["rate_limit"]["primary_window"]["used_percent"],
        12.0
    );

    // An operator opts the plain account in, and sets a pause threshold on max.
    let plain = app.account("plain").await;
    let mut extra = plain.extra.clone();
    extra.insert("health_check".into(), true.into());
    app.store
        .update_account(
            plain.id,
            switchyard_store::AccountPatch {
                extra: Some(extra),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut extra = max.extra.clone();
    extra.insert("pause_at_utilization".into(), 95.into());
    app.store
        .update_account(
            max.id,
            switchyard_store::AccountPatch {
                extra: Some(extra),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    app.state.refresh_if_changed().await.unwrap();
    let reports = health_check::round(&app.state).await;
    assert_eq!(reports.len(), 4);
    let (st, _, reason) = status(&app, "max").await;
    assert_eq!(st, AccountStatus::Cooling);
    assert!(reason.unwrap().contains("97%"));
    app.stop().await;
}

#[tokio::test]
async fn a_hanging_probe_does_not_stall_the_round() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.setting("account_health_check_timeout_seconds", "1")
        .await;
    app.setting("account_health_check_concurrency", "1").await;
    app.add_account(AccountSpec::codex("stuck", "sk-proj-stuck"))
        .await;
    app.add_account(AccountSpec::codex("fine", "sk-proj-fine"))
        .await;
    mock.push_probe_for("sk-proj-stuck", Fault::Hang);
    let started = Instant::now();
    let reports = health_check::round(&app.state).await;
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    let by_name = |n: &str| reports.iter().find(|r| r.account == n).unwrap().result;
    assert_eq!(by_name("stuck"), "unhealthy");
    assert_eq!(by_name("fine"), "healthy");
    app.stop().await;
}

#[tokio::test]
async fn the_running_server_follows_settings_and_the_admin_api_checks_on_demand() {
    let mock = MockUpstream::start().await;
    let app = oauth_app(&mock).await;
    let token = app.admin().await;
    let url = format!("{}/api/admin/health-check", app.url);
    let r = app.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let v: serde_json::Value = send_json(app.http.get(&url).bearer_auth(&token)).await;
    assert_eq!(v["enabled"], false);
    assert!(v["next_round_at"].is_null());

    // Enabling it on the running server starts a round within a few seconds.
    app.store
        .set_setting("account_health_check_enabled", "true")
        .await
        .unwrap();
    let health_status = || async {
        app.http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    let last_round = eventually(Duration::from_secs(6), || async {
        let v = health_status().await;
        (!v["last_round_at"].is_null()).then_some(v)
    })
    .await
    .expect("a round ran after enabling");
    assert!(mock.probe_count_for(TOKEN) >= 1);
    let at = |v: &serde_json::Value, k: &str| {
        chrono::DateTime::parse_from_rfc3339(v[k].as_str().unwrap()).unwrap()
    };
    assert_eq!(
        (at(&last_round, "next_round_at") - at(&last_round, "last_round_at")).num_minutes(),
        5
    );

    // Changing the interval moves the next round without a restart.
    app.store
        .set_setting("account_health_check_interval", "1")
        .await
        .unwrap();
    let moved = eventually(Duration::from_secs(4), || async {
        let v = health_status().await;
        ((at(&v, "next_round_at") - at(&v, "last_round_at")).num_minutes() == 1).then_some(())
    })
    .await;
    assert!(moved.is_some(), "the next round follows the new interval");

    let r = app
        .http
        .post(format!("{}/api/admin/accounts/max/check", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let report: serde_json::Value = r.json().await.unwrap();
    assert_eq!(report["result"], "healthy");
    assert_eq!(report["probe"], "GET /api/oauth/usage");
    let accounts: serde_json::Value = send_json(
        app.http
            .get(format!("{}/api/admin/accounts", app.url))
            .bearer_auth(&token),
    )
    .await;
    let text = accounts.to_string();
    assert!(!text.contains(TOKEN), "credentials never leave unmasked");
    assert_eq!(accounts[0]["health"]["last_result"], "healthy");
    assert!(accounts[0]["usage_windows"]["report"]["five_hour"].is_object());
    app.stop().await;
}

#[tokio::test]
async fn a_claude_ai_session_key_is_checked_through_the_organizations_endpoint() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let session = "sk-ant-sid01-health-session-key";
    app.store
        .create_account(switchyard_store::NewAccount {
            kind: Some(switchyard_core::AccountKind::ClaudeOfficial),
            name: "web".into(),
            credentials: switchyard_core::account::Credentials {
                session_key: Some(switchyard_core::Secret::new(session)),
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        .unwrap();
    app.state.refresh_if_changed().await.unwrap();
    let reports = health_check::round(&app.state).await;
    assert_eq!(reports[0].result, "healthy");
    assert_eq!(reports[0].probe, "GET claude.ai /api/organizations");
    let sent = mock
        .requests()
        .into_iter()
        .find(|r| r.path_only() == "/api/organizations")
        .unwrap();
    assert_eq!(
        sent.header("cookie"),
        Some(format!("sessionKey={session}").as_str())
    );
    assert_eq!(sent.header("authorization"), None);

    // A dead session key counts as a failure.
    mock.push_probe_for(session, Fault::unauthorized());
    let reports = health_check::round(&app.state).await;
    assert_eq!(reports[0].result, "unhealthy");
    assert_eq!(reports[0].consecutive_errors, 1);
    app.stop().await;
}

/// An account with its own base URL is probed there, where its requests go, not at the
/// configured provider host (which may not reach it at all).
#[tokio::test]
async fn accounts_with_a_base_url_are_probed_at_that_url() {
    let provider = MockUpstream::start().await;
    let own = MockUpstream::start().await;
    let app = TestApp::start(&provider).await;
    let jwt = Box::leak(
        format!("eyJhbGciOiJub25lIn0.{}.c2ln", "eyJleHAiOjQxMDI0NDQ4MDB9").into_boxed_str(),
    );
    app.add_account(AccountSpec {
        base_url: Some(format!("{}/backend-api/codex", own.url())),
        ..AccountSpec::codex("chatgpt", jwt)
    })
    .await;
    app.add_account(AccountSpec {
        base_url: Some(own.url()),
        ..AccountSpec::oauth("max", TOKEN, "sk-ant-ort01-health")
    })
    .await;
    let reports = health_check::round(&app.state).await;
    assert_eq!(reports.len(), 2);
    let paths: Vec<String> = own
        .requests()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.credential.clone().unwrap_or_default(),
                r.path_only()
            )
        })
        .collect();
    assert!(
        paths.contains(&format!("{jwt} /backend-api/accounts/check/v4-2023-04-27")),
        "{paths:?}"
    );
    assert!(paths.contains(&format!("{jwt} /backend-api/wham/usage")));
    assert!(paths.contains(&format!("{TOKEN} /api/oauth/usage")));
    assert!(provider.requests().is_empty(), "{:?}", provider.requests());
    app.stop().await;
}
