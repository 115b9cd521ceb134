//! The CLI and the admin API are fronts over one operations layer: on the same store they
//! refuse the same input with the same words and record the same changes.

use super::*;

#[test]
fn cli_and_admin_api_agree_on_base_urls_and_the_disable_reason() {
    let sb = Sandbox::new();
    sb.run(&[
        "user",
        "add",
        "root-op",
        "--role",
        "admin",
        "--password",
        "fronts-pass-1234",
    ])
    .ok();
    let server = Server::start(&sb);
    let token = sign_in(&server, "root-op", "fronts-pass-1234");
    let api_key = "sk-ant-api03-FRONTS-0000";

    // A SOCKS URL is a proxy, not a base URL: both fronts refuse it, in the same words.
    let cli = sb
        .run(&[
            "account",
            "add",
            "claude",
            "--name",
            "via-cli",
            "--api-key",
            api_key,
            "--base-url",
            "socks5://127.0.0.1:1080",
        ])
        .one_line_error();
    let (status, problem) = api(
        &server,
        &token,
        "POST",
        "/accounts",
        &serde_json::json!({"kind": "claude", "name": "via-api",
            "base_url": "socks5://127.0.0.1:1080", "credentials": {"api_key": api_key}}),
    );
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["field"], "base_url");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("socks5://127.0.0.1:1080"), "{detail}");
    assert_eq!(cli, format!("error: --base-url: {detail}"));
    assert!(sb.accounts().is_empty());

    // An http(s) URL is taken by both, without its trailing slash.
    sb.run(&[
        "account",
        "add",
        "claude",
        "--name",
        "via-cli",
        "--api-key",
        api_key,
        "--base-url",
        "https://relay.example.com/",
    ])
    .ok();
    let (status, created) = api(
        &server,
        &token,
        "POST",
        "/accounts",
        &serde_json::json!({"kind": "claude", "name": "via-api",
            "base_url": "https://relay.example.com/", "credentials": {"api_key": api_key}}),
    );
    assert_eq!(status, 201, "{created}");

    // Disabled by an operator through either front: the same status and reason.
    sb.run(&["account", "set", "via-cli", "--enabled", "false"])
        .ok();
    let (status, disabled) = api(
        &server,
        &token,
        "POST",
        "/accounts/via-api/disable",
        &Value::Null,
    );
    assert_eq!(status, 200, "{disabled}");
    let accounts = sb.accounts();
    let (a, b) = (by_name(&accounts, "via-cli"), by_name(&accounts, "via-api"));
    for field in ["base_url", "status", "status_reason"] {
        assert_eq!(a[field], b[field], "{field}: {a} vs {b}");
    }
    assert_eq!(a["base_url"], "https://relay.example.com");
    assert_eq!(a["status"], "disabled");
    assert_eq!(a["status_reason"], "operator");
    assert_eq!(disabled["status_reason"], "operator");

    // Each change is audited once, under the same action, whichever front made it.
    let (status, audit) = api(&server, &token, "GET", "/audit?limit=50", &Value::Null);
    assert_eq!(status, 200, "{audit}");
    let entries = audit["items"].as_array().unwrap();
    for action in ["account.create", "account.disable"] {
        let mut actors: Vec<&str> = entries
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| e["actor"].as_str().unwrap())
            .collect();
        actors.sort_unstable();
        assert_eq!(actors, ["api:root-op", "cli"], "{action}: {audit}");
    }
    drop(server);
}
