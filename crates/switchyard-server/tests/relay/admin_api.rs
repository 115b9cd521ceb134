//! The admin REST API through the real server: sign-in, roles, CSRF, throttling, every
//! resource, the audit log, and the OpenAPI document checked against the routes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use switchyard_testkit::{MockUpstream, MockUsage};

use crate::support::{AccountSpec, TestApp, body, eventually, send_json, send_status};

impl TestApp {
    fn api(&self, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/api/admin{path}", self.url))
            .bearer_auth(token)
    }
}

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.unwrap()
}

/// Every `$ref` in `v` points at an existing component.
fn refs_resolve(v: &Value, doc: &Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                let pointer = r.trim_start_matches('#');
                assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
            }
            m.values().for_each(|x| refs_resolve(x, doc));
        }
        Value::Array(a) => a.iter().for_each(|x| refs_resolve(x, doc)),
        _ => {}
    }
}

#[tokio::test]
async fn the_openapi_document_is_valid_and_in_step_with_the_routes() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let admin = app.admin().await;
    let hash = switchyard_store::crypto::hash_password("user-password-1").unwrap();
    app.store
        .create_user("carol", "user", Some(&hash))
        .await
        .unwrap();
    let member = app.login("carol", "user-password-1").await;
    // Operations open to users include managing their own keys, when this allows it.
    app.setting("user_key_self_service", "true").await;

    let resp = app
        .http
        .get(format!("{}/api/admin/openapi.json", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "public");
    let doc = json_of(resp).await;
    assert_eq!(doc["openapi"], "3.1.0");
    refs_resolve(&doc, &doc);
    let page = app
        .http
        .get(format!("{}/api/admin/docs", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("openapi.json"));

    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 25, "{} paths", paths.len());
    let mut checked = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            // Every path parameter is declared.
            for seg in path.split('/').filter(|s| s.starts_with('{')) {
                let name = seg.trim_matches(|c| c == '{' || c == '}');
                assert!(
                    op["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path"),
                    "{method} {path}: path parameter {name} undeclared"
                );
            }
            let concrete = path
                .replace("{id}", "999999")
                .replace("{name}", "nobody")
                .replace("{key}", "max_attempts")
                .replace("{model}", "no-such-model");
            let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            let send = |token: Option<&str>| {
                let mut r = app
                    .http
                    .request(method.clone(), format!("{}{concrete}", app.url));
                if let Some(t) = token {
                    r = r.bearer_auth(t);
                }
                if method != Method::GET && method != Method::DELETE {
                    r = r.json(&json!({}));
                }
                r.send()
            };
            let public = op.get("security").is_some_and(|s| s == &json!([]));
            let anonymous = send(None).await.unwrap();
            if path.ends_with("/logout") {
                // Calling it signed in would end the sessions this test goes on with.
                assert_eq!(anonymous.status(), 401);
                continue;
            }
            if public {
                assert_ne!(anonymous.status(), 401, "{method} {path} is public");
                continue;
            }
            assert_eq!(anonymous.status(), 401, "{method} {path} without a token");
            assert_eq!(
                anonymous.headers()["content-type"],
                "application/problem+json",
                "{method} {path}"
            );
            let as_member = send(Some(&member)).await.unwrap().status();
            if op["x-required-role"] == "admin" {
                assert_eq!(as_member, 403, "{method} {path} as a `user`");
            } else {
                assert_ne!(as_member, 403, "{method} {path} is open to users");
            }
            // Routed: the admin reaches a handler (never the router's 404/405 fallbacks).
            let as_admin = send(Some(&admin)).await.unwrap();
            let status = as_admin.status();
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            if status == StatusCode::NOT_FOUND {
                let v = json_of(as_admin).await;
                assert_ne!(
                    v["detail"], "no such admin API path",
                    "{method} {path} is not routed"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 35, "{checked} operations checked");
    // The reverse direction: a path not in the document is not routed.
    let resp = app
        .api(Method::GET, "/nothing-here", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    app.stop().await;
}

#[tokio::test]
async fn sign_in_is_throttled_and_does_not_reveal_user_names() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let _admin = app.admin().await;
    let login = |user: &'static str, password: &'static str| {
        app.http
            .post(format!("{}/api/admin/login", app.url))
            .json(&json!({"username": user, "password": password}))
            .send()
    };
    let unknown = json_of(login("ghost", "whatever-pass").await.unwrap()).await;
    let wrong = json_of(login("root", "wrong-password").await.unwrap()).await;
    assert_eq!(unknown["detail"], wrong["detail"], "same answer for both");
    assert_eq!(unknown["status"], 401);
    // Five failures from this address (two above, three here) lock it out.
    for _ in 0..3 {
        assert_eq!(login("root", "wrong-password").await.unwrap().status(), 401);
    }
    let locked = login("root", "admin-password-1").await.unwrap();
    assert_eq!(
        locked.status(),
        429,
        "locked out even with the right password"
    );
    assert!(locked.headers().contains_key("retry-after"));
    app.stop().await;
}

#[tokio::test]
async fn cookie_sessions_need_the_csrf_token_and_end_at_logout_or_password_change() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let bearer = app.admin().await;
    let resp = app
        .http
        .post(format!("{}/api/admin/login", app.url))
        .json(&json!({"username": "root", "password": "admin-password-1"}))
        .send()
        .await
        .unwrap();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag");
    let behind_tls = app
        .http
        .post(format!("{}/api/admin/login", app.url))
        .header("x-forwarded-proto", "https")
        .json(&json!({"username": "root", "password": "admin-password-1"}))
        .send()
        .await
        .unwrap();
    assert!(
        behind_tls.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let csrf = json_of(resp).await["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    let with_cookie = |method: Method, path: &str| {
        app.http
            .request(method, format!("{}/api/admin{path}", app.url))
            .header("cookie", &session)
    };
    assert_eq!(send_status(with_cookie(Method::GET, "/session")).await, 200);
    let refused = with_cookie(Method::PUT, "/settings/max_attempts")
        .json(&json!({"value": "4"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(
        json_of(refused).await["type"]
            .as_str()
            .unwrap()
            .ends_with("/csrf")
    );
    let ok = with_cookie(Method::PUT, "/settings/max_attempts")
        .header("x-csrf-token", &csrf)
        .json(&json!({"value": "4"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    // A password change ends browser sessions (the bearer session too: it is a session).
    let resp = app
        .api(Method::PATCH, "/users/root", &bearer)
        .json(&json!({"password": "a-new-password-2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(send_status(with_cookie(Method::GET, "/session")).await, 401);
    assert_eq!(
        send_status(app.api(Method::GET, "/session", &bearer)).await,
        401
    );

    // The last active admin cannot be demoted (nobody could undo it).
    let fresh = app.login("root", "a-new-password-2").await;
    let resp = app
        .api(Method::PATCH, "/users/root", &fresh)
        .json(&json!({"role": "user"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
    // A refused change changes nothing, even its valid parts.
    let resp = app
        .api(Method::PATCH, "/users/root", &fresh)
        .json(&json!({"status": "disabled", "password": "short"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let me = send_json(app.api(Method::GET, "/session", &fresh)).await;
    assert_eq!(me["user"]["status"], "active");

    // Logout ends the session it is sent with.
    let fresh = app.login("root", "a-new-password-2").await;
    assert_eq!(
        send_status(app.api(Method::POST, "/logout", &fresh)).await,
        204
    );
    assert_eq!(
        send_status(app.api(Method::GET, "/session", &fresh)).await,
        401
    );
    app.stop().await;
}

#[tokio::test]
async fn api_tokens_work_until_revoked() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let admin = app.admin().await;
    let created = send_json(
        app.api(Method::POST, "/tokens", &admin)
            .json(&json!({"name": "ci", "expires_in_days": 30})),
    )
    .await;
    let token = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        send_status(app.api(Method::GET, "/accounts", &token)).await,
        200
    );
    let listed = send_json(app.api(Method::GET, "/tokens", &admin)).await;
    assert!(
        !listed.to_string().contains(&token),
        "tokens are shown once"
    );
    assert_eq!(
        send_status(app.api(Method::DELETE, &format!("/tokens/{id}"), &admin)).await,
        204
    );
    assert_eq!(
        send_status(app.api(Method::GET, "/accounts", &token)).await,
        401
    );
    app.stop().await;
}

#[tokio::test]
async fn accounts_keep_credentials_write_only_and_every_change_is_audited() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    let admin = app.admin().await;
    let secret = "sk-ant-api03-write-only-secret-value";
    let resp = app
        .api(Method::POST, "/accounts", &admin)
        .json(&json!({"kind": "claude", "name": "main", "credentials": {"api_key": secret}, "priority": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let created = resp.text().await.unwrap();
    assert!(!created.contains(secret), "{created}");
    let id = serde_json::from_str::<Value>(&created).unwrap()["id"]
        .as_i64()
        .unwrap();

    // Validation names the field.
    let bad = send_json(
        app.api(Method::POST, "/accounts", &admin)
            .json(&json!({"kind": "claude", "name": "nokey"})),
    )
    .await;
    assert_eq!(bad["status"], 422);
    assert_eq!(bad["field"], "credentials");
    let bad = send_json(
        app.api(Method::POST, "/accounts", &admin)
            .json(&json!({"kind": "claude-max", "name": "x"})),
    )
    .await;
    assert_eq!(bad["status"], 422);

    let resp = app
        .api(Method::PATCH, &format!("/accounts/{id}"), &admin)
        .json(&json!({"weight": 3, "credentials": {"api_key": "sk-ant-api03-rotated-secret"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v = json_of(resp).await;
    assert_eq!(v["weight"], 3);
    assert!(!v.to_string().contains("rotated-secret"));
    let v = send_json(app.api(Method::POST, "/accounts/main/disable", &admin)).await;
    assert_eq!(v["status"], "disabled");
    let v = send_json(app.api(Method::GET, "/accounts?status=disabled", &admin)).await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    let v = send_json(app.api(Method::POST, "/accounts/main/enable", &admin)).await;
    assert_eq!(v["status"], "active");

    // The account works on the relay, and "test" sends a real request through it.
    mock.set_usage(MockUsage::default());
    let test = send_json(app.api(Method::POST, "/accounts/main/test", &admin)).await;
    assert_eq!(test["ok"], true, "{test}");
    assert_eq!(mock.count_for("sk-ant-api03-rotated-secret"), 1);

    let audit = send_json(app.api(Method::GET, "/audit", &admin)).await;
    let text = audit.to_string();
    assert!(
        !text.contains(secret) && !text.contains("rotated-secret"),
        "secrets masked in the audit log"
    );
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "account.create",
        "account.update",
        "account.disable",
        "account.enable",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    let update = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "account.update")
        .unwrap();
    assert_eq!(update["actor"], "api:root");
    let detail: Value = serde_json::from_str(update["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["before"]["weight"], 1);
    assert_eq!(detail["after"]["weight"], 3);

    assert_eq!(
        send_status(app.api(Method::DELETE, "/accounts/main", &admin)).await,
        204
    );
    assert_eq!(
        send_status(app.api(Method::GET, &format!("/accounts/{id}"), &admin)).await,
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn keys_users_and_groups_through_the_api_apply_to_the_relay() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    let admin = app.admin().await;

    let resp = app
        .api(Method::POST, "/users", &admin)
        .json(&json!({"name": "dave", "password": "dave-password", "limits": {"concurrency_limit": 2}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let short = send_json(
        app.api(Method::POST, "/users", &admin)
            .json(&json!({"name": "eve", "password": "short"})),
    )
    .await;
    assert_eq!(short["field"], "password");

    let created = send_json(app.api(Method::POST, "/keys", &admin).json(
        &json!({"name": "dave-key", "user": "dave", "policy": {"allowed_models": ["claude-*"]}}),
    ))
    .await;
    let key = created["key"].as_str().unwrap().to_string();
    let key_id = created["id"].as_i64().unwrap();
    let relay = |k: String| {
        app.http
            .post(format!("{}/v1/messages", app.url))
            .header("x-api-key", k)
            .header("anthropic-version", "2023-06-01")
            .json(&body(false))
            .send()
    };
    // Within two seconds on the request path.
    let works = eventually(Duration::from_secs(2), || async {
        (relay(key.clone()).await.unwrap().status() == 200).then_some(())
    })
    .await;
    assert!(works.is_some(), "a key created through the API works");
    let unknown = send_json(
        app.api(Method::PATCH, &format!("/keys/{key_id}"), &admin)
            .json(&json!({"rpm": 1})),
    )
    .await;
    assert_eq!(unknown["field"], "rpm");

    // Rotation: the old secret stops, the new one works.
    let rotated = send_json(app.api(Method::POST, &format!("/keys/{key_id}/rotate"), &admin)).await;
    let new_key = rotated["key"].as_str().unwrap().to_string();
    assert_ne!(new_key, key);
    let switched = eventually(Duration::from_secs(2), || async {
        (relay(key.clone()).await.unwrap().status() == 401).then_some(())
    })
    .await;
    assert!(switched.is_some(), "the old secret is refused");
    assert_eq!(relay(new_key.clone()).await.unwrap().status(), 200);

    // A `user` sees its own keys and usage only.
    let dave = app.login("dave", "dave-password").await;
    let keys = send_json(app.api(Method::GET, "/keys", &dave)).await;
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert_eq!(keys[0]["name"], "dave-key");
    assert_eq!(
        send_status(app.api(Method::GET, &format!("/keys/{}", app.key_id), &dave)).await,
        404,
        "another user's key does not exist for a user"
    );
    let me = send_json(app.api(Method::GET, "/session", &dave)).await;
    let dave_id = me["user"]["id"].as_i64().unwrap();
    app.usage(2).await;
    let usage = send_json(app.api(Method::GET, "/usage", &dave)).await;
    let users: Vec<i64> = usage["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["user_id"].as_i64().unwrap())
        .collect();
    assert!(
        !users.is_empty() && users.iter().all(|u| *u == dave_id),
        "{users:?}"
    );
    let all = send_json(app.api(Method::GET, "/usage", &admin)).await;
    assert!(all["items"].as_array().unwrap().len() >= users.len());

    // Disabling the user through the API cuts its keys off.
    app.api(Method::PATCH, "/users/dave", &admin)
        .json(&json!({"status": "disabled"}))
        .send()
        .await
        .unwrap();
    let cut = eventually(Duration::from_secs(2), || async {
        (relay(new_key.clone()).await.unwrap().status() == 403).then_some(())
    })
    .await;
    assert!(cut.is_some());

    // Groups.
    let g = send_json(
        app.api(Method::POST, "/groups", &admin)
            .json(&json!({"name": "team", "account_ids": []})),
    )
    .await;
    let account_id = app.account("a").await.id;
    let g = send_json(
        app.api(
            Method::PUT,
            &format!("/groups/{}/accounts", g["id"]),
            &admin,
        )
        .json(&json!({"account_ids": [account_id]})),
    )
    .await;
    assert_eq!(g["account_ids"], json!([account_id]));
    let bad = send_json(
        app.api(Method::PUT, "/groups/team/accounts", &admin)
            .json(&json!({"account_ids": [424242]})),
    )
    .await;
    assert_eq!(bad["field"], "account_ids");
    assert_eq!(
        send_status(app.api(Method::DELETE, "/groups/team", &admin)).await,
        204
    );
    app.stop().await;
}

#[tokio::test]
async fn settings_prices_usage_records_and_aggregates() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    let admin = app.admin().await;

    let settings = send_json(app.api(Method::GET, "/settings", &admin)).await;
    let max = settings
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "max_attempts")
        .unwrap();
    assert_eq!(max["type"], "int");
    assert_eq!(max["default"], "8");
    assert!(!max["description"].as_str().unwrap().is_empty());
    let bad = send_json(
        app.api(Method::PUT, "/settings/max_attempts", &admin)
            .json(&json!({"value": "lots"})),
    )
    .await;
    assert_eq!(
        (bad["status"].as_i64(), bad["field"].as_str()),
        (Some(422), Some("value"))
    );
    let unknown = app
        .api(Method::PUT, "/settings/no_such_setting", &admin)
        .json(&json!({"value": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let price = json!({"input_cost_per_token": 0.00001, "output_cost_per_token": 0.00002});
    let resp = app
        .api(Method::PUT, "/prices/claude-sonnet-4-20250514", &admin)
        .json(&price)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let prices = send_json(app.api(Method::GET, "/prices", &admin)).await;
    let p = prices
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["model"] == "claude-sonnet-4-20250514")
        .unwrap();
    assert_eq!(p["source"], "override");

    // Requests at the overridden price: 1000 input tokens at $0.00001 = $0.01 each.
    app.state.refresh_if_changed().await.unwrap();
    mock.set_usage(MockUsage {
        input: 1000,
        output: 0,
        ..Default::default()
    });
    for _ in 0..5 {
        assert_eq!(send_status(app.messages(body(false))).await, 200);
    }
    app.usage(5).await;
    let page1 = send_json(app.api(Method::GET, "/usage?limit=2", &admin)).await;
    assert_eq!(page1["items"].as_array().unwrap().len(), 2);
    let cursor = page1["next_cursor"].as_str().unwrap().to_string();
    let page2 = send_json(app.api(
        Method::GET,
        &format!("/usage?limit=2&cursor={cursor}"),
        &admin,
    ))
    .await;
    let ids = |p: &Value| -> Vec<i64> {
        p["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    assert!(
        ids(&page2).iter().all(|id| *id < ids(&page1)[1]),
        "older records on the next page"
    );
    let filtered = send_json(app.api(
        Method::GET,
        "/usage?status=200&model=claude-sonnet-4-20250514",
        &admin,
    ))
    .await;
    assert_eq!(filtered["items"].as_array().unwrap().len(), 5);
    let bad = send_json(app.api(Method::GET, "/usage?cursor=abc", &admin)).await;
    assert_eq!(bad["field"], "cursor");

    let agg = send_json(app.api(Method::GET, "/usage/aggregate?bucket=day&by=model", &admin)).await;
    let row = &agg[0];
    assert_eq!(row["group"], "claude-sonnet-4-20250514");
    assert_eq!(row["requests"], 5);
    assert_eq!(row["input_tokens"], 5000);
    assert!(
        (row["cost_usd"].as_f64().unwrap() - 0.05).abs() < 1e-9,
        "{row}"
    );
    assert!(row["p95_duration_ms"].as_u64().unwrap() >= row["p50_duration_ms"].as_u64().unwrap());

    assert_eq!(
        send_status(app.api(Method::DELETE, "/prices/claude-sonnet-4-20250514", &admin)).await,
        204
    );
    assert_eq!(
        send_status(app.api(Method::DELETE, "/prices/claude-sonnet-4-20250514", &admin)).await,
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn guesses_from_anywhere_cannot_lock_the_admin_out() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start_with(&mock, |c| {
        c.set("trusted_proxies", "127.0.0.1").unwrap();
    })
    .await;
    let bearer = app.admin().await;
    let token = send_json(
        app.api(Method::POST, "/tokens", &bearer)
            .json(&json!({"name": "automation"})),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let login = |password: &'static str, from: String| {
        app.http
            .post(format!("{}/api/admin/login", app.url))
            .header("x-forwarded-for", from)
            .json(&json!({"username": "root", "password": password}))
            .send()
    };
    // The attacker's side: from one address, five free guesses, then waits that grow.
    for _ in 0..5 {
        let resp = login("wrong-password", "203.0.113.9".into()).await.unwrap();
        assert_eq!(resp.status(), 401);
    }
    let first_wait = login("wrong-password", "203.0.113.9".into()).await.unwrap();
    assert_eq!(first_wait.status(), 429);
    let wait: u64 = first_wait.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "a short first wait: {wait}");
    tokio::time::sleep(Duration::from_millis(1100 * wait)).await;
    assert_eq!(
        login("wrong-password", "203.0.113.9".into())
            .await
            .unwrap()
            .status(),
        401,
        "one more guess after the wait"
    );
    let longer = login("wrong-password", "203.0.113.9".into()).await.unwrap();
    assert_eq!(longer.status(), 429);
    let longer: u64 = longer.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(longer > wait, "the wait grows: {wait} then {longer}");
    // Many addresses, five guesses each, at the same name.
    for host in 1..=6 {
        for _ in 0..5 {
            let resp = login("wrong-password", format!("198.51.100.{host}"))
                .await
                .unwrap();
            assert_eq!(resp.status(), 401);
        }
    }
    // The admin's side: the right password from an address without failures signs in.
    let resp = login("admin-password-1", "192.0.2.44".into())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the admin is never locked out");
    // API tokens never pass through the throttle.
    let resp = app
        .http
        .get(format!("{}/api/admin/accounts", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_throttle_counts_the_forwarded_address() {
    let mut config = switchyard_server::Config::default();
    assert!(
        config
            .set("trusted_proxies", "10.0.0.1, not-an-ip")
            .is_err()
    );
    config.set("trusted_proxies", "127.0.0.1, ::1").unwrap();
    assert_eq!(config.trusted_proxies.len(), 2);

    let mock = MockUpstream::start().await;
    let app = TestApp::start_with(&mock, |c| {
        c.set("trusted_proxies", "127.0.0.1").unwrap();
    })
    .await;
    let _admin = app.admin().await;
    let hash = switchyard_store::crypto::hash_password("user-password-1").unwrap();
    app.store
        .create_user("carol", "user", Some(&hash))
        .await
        .unwrap();
    let login = |user: &'static str, password: &'static str, from: &'static str| {
        app.http
            .post(format!("{}/api/admin/login", app.url))
            .header("x-forwarded-for", from)
            .json(&json!({"username": user, "password": password}))
            .send()
    };
    // One client behind the proxy guesses five times under different names…
    for name in ["a", "b", "c", "d", "e"] {
        let resp = login(name, "wrong-password", "203.0.113.5").await.unwrap();
        assert_eq!(resp.status(), 401);
    }
    let resp = login("carol", "user-password-1", "203.0.113.5")
        .await
        .unwrap();
    assert_eq!(resp.status(), 429, "that client is locked out");
    // …while everyone else behind the same proxy still signs in.
    let resp = login("carol", "user-password-1", "198.51.100.7")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    app.stop().await;
}
