//! The web console as the binary serves it: redirects, the single page for app routes,
//! embedded assets with their types and caching, the security headers, and the admin API
//! additions the console needs. The browser tests are in `console_e2e`.

use crate::support::TestApp;
use switchyard_testkit::MockUpstream;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn assert_strict_headers(resp: &reqwest::Response) {
    let h = resp.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn console_is_served_from_the_binary_with_strict_headers() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let http = no_redirects();

    for path in ["/", "/ui"] {
        let resp = http.get(format!("{}{path}", app.url)).send().await.unwrap();
        assert_eq!(resp.status(), 303, "{path}");
        assert_eq!(resp.headers()["location"], "/ui/");
    }

    let page = http.get(format!("{}/ui/", app.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers()["cache-control"], "no-cache");
    assert_strict_headers(&page);
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script: {html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no other origin: {html}"
    );

    // Every file the page names is embedded, with its type and a year of caching.
    let assets: Vec<&str> = html
        .split('"')
        .filter(|s| s.starts_with("/ui/assets/"))
        .collect();
    assert!(
        assets.iter().any(|a| a.ends_with(".js")) && assets.iter().any(|a| a.ends_with(".css"))
    );
    for asset in assets {
        let resp = http
            .get(format!("{}{asset}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{asset}");
        let ty = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(
            ty.starts_with(if asset.ends_with(".js") {
                "text/javascript"
            } else {
                "text/css"
            }),
            "{asset}: {ty}"
        );
        assert_eq!(
            resp.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert_strict_headers(&resp);
        let body = resp.text().await.unwrap();
        assert!(
            !body.contains("https://cdn") && !body.contains("fonts.googleapis"),
            "{asset}"
        );
    }

    // Routes of the app get the page (a reload on /ui/keys works); missing files are 404s.
    for route in ["/ui/keys", "/ui/accounts", "/ui/portal"] {
        let resp = http
            .get(format!("{}{route}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{route}");
        assert_eq!(resp.text().await.unwrap(), html, "{route}");
    }
    for missing in ["/ui/assets/nope-123.js", "/ui/favicon.ico"] {
        let resp = http
            .get(format!("{}{missing}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{missing}");
    }

    // The relay's own paths are untouched: unknown ones still answer in a dialect, the admin
    // API in problem+json, and Code Assist paths still reach the fallback dispatcher.
    let resp = http
        .get(format!("{}/v1/nope", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.text().await.unwrap().contains("no route"));
    let resp = http
        .get(format!("{}/api/admin/nope", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let resp = http
        .post(format!("{}/v1internal:loadCodeAssist", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "Code Assist path reaches the relay");
    app.stop().await;
}

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

#[tokio::test]
async fn live_state_shows_spend_sticky_sessions_and_failing_accounts() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(crate::support::AccountSpec::claude("live-1", "sk-ant-live"))
        .await;
    let token = app.admin().await;
    let resp = app
        .messages(crate::support::session_body("live-session"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap();
    let get = |path: &'static str| {
        app.http
            .get(format!("{}/api/admin{path}", app.url))
            .bearer_auth(&token)
            .send()
    };
    let live: serde_json::Value =
        crate::support::eventually(std::time::Duration::from_secs(5), || async {
            let v: serde_json::Value = get("/live").await.unwrap().json().await.unwrap();
            let key = v["keys"]
                .as_array()?
                .iter()
                .find(|k| k["id"] == app.key_id)?
                .clone();
            (key["total_usd"].as_f64()? > 0.0).then_some(v)
        })
        .await
        .expect("the key's spend shows");
    assert_eq!(live["in_flight"], 0);
    let account = &live["accounts"][0];
    assert_eq!(account["sticky_sessions"], 1, "{live}");
    assert_eq!(account["in_flight"], 0);
    assert_eq!(live["health"]["failing"], serde_json::json!([]));
    assert!(live["users"][0]["today_usd"].as_f64().unwrap() > 0.0);

    let cleared: serde_json::Value = app
        .http
        .delete(format!("{}/api/admin/accounts/live-1/sticky", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["cleared"], 1);
    let live: serde_json::Value = get("/live").await.unwrap().json().await.unwrap();
    assert_eq!(live["accounts"][0]["sticky_sessions"], 0);

    // Aggregates carry time to first byte beside the duration.
    app.usage(1).await;
    let agg: serde_json::Value = get("/usage/aggregate?bucket=hour&by=model")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let row = &agg[0];
    let (p50, p95) = (
        row["p50_ttfb_ms"].as_u64().unwrap(),
        row["p95_ttfb_ms"].as_u64().unwrap(),
    );
    assert!(
        p95 >= p50 && p95 <= row["p95_duration_ms"].as_u64().unwrap(),
        "{row}"
    );

    // The document lists both.
    let doc: serde_json::Value = get("/openapi.json").await.unwrap().json().await.unwrap();
    assert!(doc["paths"]["/api/admin/live"]["get"].is_object());
    assert!(doc["paths"]["/api/admin/accounts/{id}/sticky"]["delete"].is_object());
    app.stop().await;
}

#[tokio::test]
async fn a_round_run_from_the_api_updates_the_health_status() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(crate::support::AccountSpec::oauth(
        "max-ok",
        "sk-ant-oat01-ok",
        "rt-ok",
    ))
    .await;
    let failing = app
        .add_account(crate::support::AccountSpec::oauth(
            "max-bad",
            "sk-ant-oat01-bad",
            "rt-bad",
        ))
        .await;
    mock.push_probe_for(
        "sk-ant-oat01-bad",
        switchyard_testkit::Fault::server_error(),
    );
    let token = app.admin().await;
    let before: serde_json::Value = app
        .http
        .get(format!("{}/api/admin/live", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(before["health"]["last_round"].is_null());

    let summary: serde_json::Value = app
        .http
        .post(format!("{}/api/admin/health-check/run", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(summary["checked"], 2, "{summary}");
    assert_eq!(summary["passed"], 1, "{summary}");
    assert_eq!(summary["failed"], 1, "{summary}");

    let after: serde_json::Value = app
        .http
        .get(format!("{}/api/admin/live", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let health = &after["health"];
    assert_eq!(health["last_round"]["checked"], 2);
    assert_eq!(health["last_round_at"], summary["started_at"]);
    assert_eq!(health["failing"], serde_json::json!([failing.id]));
    app.stop().await;
}

#[tokio::test]
async fn users_manage_their_own_keys_only_when_allowed() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let admin = app.admin().await;
    let alice = app.store.user_by_name("alice").await.unwrap().unwrap();
    let hash = switchyard_store::crypto::hash_password("alice-password-1").unwrap();
    app.store.set_user_password("alice", &hash).await.unwrap();
    let user = app.login("alice", "alice-password-1").await;
    let call =
        |method: reqwest::Method, path: &str, token: &str, body: Option<serde_json::Value>| {
            let mut r = app
                .http
                .request(method, format!("{}/api/admin{path}", app.url))
                .bearer_auth(token);
            if let Some(b) = body {
                r = r.json(&b);
            }
            r.send()
        };
    let me: serde_json::Value = call(reqwest::Method::GET, "/session", &user, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["manages_own_keys"], false);
    let refused = call(
        reqwest::Method::POST,
        "/keys",
        &user,
        Some(serde_json::json!({"name": "mine"})),
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), 403);

    app.setting("user_key_self_service", "true").await;
    let me: serde_json::Value = call(reqwest::Method::GET, "/session", &user, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["manages_own_keys"], true);
    let created = call(
        reqwest::Method::POST,
        "/keys",
        &user,
        Some(serde_json::json!({"name": "mine", "policy": {"daily_cost_limit_usd": 1.0}})),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    assert_eq!(created["user_id"], alice.id);
    assert!(created["key"].as_str().unwrap().starts_with("sk-sy-"));
    for (body, field) in [
        (serde_json::json!({"name": "x", "user": "root"}), "user"),
        (
            serde_json::json!({"name": "x", "policy": {"bound_account_id": 1}}),
            "bound_account_id",
        ),
    ] {
        let resp = call(reqwest::Method::POST, "/keys", &user, Some(body))
            .await
            .unwrap();
        assert_eq!(resp.status(), 422);
        assert_eq!(
            resp.json::<serde_json::Value>().await.unwrap()["field"],
            field
        );
    }
    // Someone else's key does not exist for a user; its own rotates and revokes.
    let other: serde_json::Value = call(
        reqwest::Method::POST,
        "/keys",
        &admin,
        Some(serde_json::json!({"name": "root-key"})),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let path = format!("/keys/{}/revoke", other["id"]);
    let resp = call(reqwest::Method::POST, &path, &user, None)
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let path = format!("/keys/{}/rotate", created["id"]);
    let rotated: serde_json::Value = call(reqwest::Method::POST, &path, &user, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(rotated["key"], created["key"]);
    let path = format!("/keys/{}/revoke", created["id"]);
    let revoked: serde_json::Value = call(reqwest::Method::POST, &path, &user, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(revoked["status"], "revoked");
    // Policy changes stay with the admin.
    let path = format!("/keys/{}", created["id"]);
    let resp = call(
        reqwest::Method::PATCH,
        &path,
        &user,
        Some(serde_json::json!({"daily_cost_limit_usd": 100.0})),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 403);
    app.stop().await;
}

#[tokio::test]
async fn usage_records_filter_by_dialect() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let token = app.admin().await;
    let record = |dialect: &str, n: u32| switchyard_store::UsageRecord {
        created_at: chrono::Utc::now(),
        request_id: format!("req_{dialect}_{n}"),
        api_key_id: Some(app.key_id),
        user_id: None,
        account_id: None,
        dialect: dialect.into(),
        endpoint: "/x".into(),
        requested_model: Some("m".into()),
        upstream_model: None,
        usage: Default::default(),
        cost_usd: None,
        stream: false,
        status: 200,
        error_kind: None,
        attempts: 1,
        ttfb_ms: None,
        duration_ms: 1,
        session_hash: None,
        dropped_fields: None,
    };
    app.store
        .insert_usage(&[
            record("anthropic", 1),
            record("gemini", 1),
            record("gemini", 2),
        ])
        .await
        .unwrap();
    let page: serde_json::Value = app
        .http
        .get(format!("{}/api/admin/usage?dialect=gemini", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["req_gemini_2", "req_gemini_1"]);
    app.stop().await;
}
