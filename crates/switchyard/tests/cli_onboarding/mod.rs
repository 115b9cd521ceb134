//! Account onboarding from the CLI: named proxies (with a real SOCKS5 proxy on loopback),
//! OAuth sign-in against mock providers, and credential import/export.

use super::*;
use switchyard_testkit::TestProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A tiny HTTP server that answers every request with `{"ip": "<caller's address>"}`, like
/// the public "what is my IP" services `proxy test` reads.
async fn echo_server() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut c, peer)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf).await;
                let body = format!("{{\"ip\":\"{}\"}}", peer.ip());
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = c.write_all(resp.as_bytes()).await;
            });
        }
    });
    addr
}

#[test]
fn proxy_add_list_test_remove_and_default_proxy() {
    let sb = Sandbox::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let proxy = rt.block_on(TestProxy::socks5_auth("carol", "sock-secret-991"));
    let echo = rt.block_on(echo_server());
    let mut output = String::new();

    let added = sb
        .run(&["proxy", "add", "tokyo", &proxy.url(), "--json"])
        .ok();
    output += &added.all_output();
    assert_eq!(
        added.json()["url"],
        format!("socks5://***@{}", proxy.addr())
    );
    assert_eq!(added.json()["authenticated"], true);
    let bad = sb.run(&["proxy", "add", "bad", "socks4://u:pw-leak-1@h:1"]);
    let line = bad.one_line_error();
    assert!(
        line.contains("socks4") && !line.contains("pw-leak-1"),
        "{line}"
    );

    sb.run(&[
        "account",
        "add",
        "claude",
        "--name",
        "a",
        "--api-key",
        "sk-ant-api03-PROXIEDACCOUNTKEY-0001",
        "--proxy",
        "tokyo",
    ])
    .ok();
    let missing = sb.run(&[
        "account",
        "add",
        "claude",
        "--name",
        "b",
        "--api-key",
        "sk-ant-api03-PROXIEDACCOUNTKEY-0002",
        "--proxy",
        "nowhere",
    ]);
    assert!(
        missing
            .one_line_error()
            .contains("no proxy named `nowhere`"),
        "{missing:?}"
    );

    let tested = sb
        .run(&[
            "proxy",
            "test",
            "tokyo",
            "--url",
            &format!("http://{echo}/ip"),
            "--json",
        ])
        .ok();
    output += &tested.all_output();
    let t = tested.json();
    assert_eq!(t["ok"], true, "{t}");
    assert_eq!(t["status"], 200);
    assert_eq!(t["exit_address"], "127.0.0.1");
    assert_eq!(proxy.connections(), 1, "the test went through the proxy");

    sb.run(&["settings", "set", "default_proxy", "tokyo"]).ok();
    let url_default = sb.run(&["settings", "set", "default_proxy", "http://u:p-leak-2@h:1"]);
    assert!(!url_default.one_line_error().contains("p-leak-2"));

    let list = sb.run(&["proxy", "list", "--json"]).ok();
    output += &list.all_output();
    let l = list.json();
    assert_eq!(l[0]["accounts"], serde_json::json!(["a"]));
    assert_eq!(l[0]["default"], true);
    let table = sb.run(&["proxy", "list"]).ok();
    output += &table.all_output();
    output += &sb.run(&["account", "list", "--json"]).ok().all_output();

    let refused = sb.run(&["proxy", "remove", "tokyo"]);
    let why = refused.one_line_error();
    assert!(
        why.contains("account `a`") && why.contains("default_proxy") && why.contains("--force"),
        "{why}"
    );
    let forced = sb.run(&["proxy", "remove", "tokyo", "--force"]).ok();
    assert!(forced.stdout.contains("a"), "{forced:?}");
    let a = sb.accounts();
    assert_eq!(by_name(&a, "a")["proxy_url"], Value::Null);
    assert!(sb.run(&["proxy", "list", "--json"]).ok().json()[0].is_null());

    assert!(
        !output.contains("sock-secret-991"),
        "proxy password leaked:\n{output}"
    );
}

/// Environment pointing every sign-in host at the OAuth mock.
fn oauth_env(o: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "SWITCHYARD_UPSTREAM_CLAUDE_OAUTH_TOKEN_URL",
            format!("{o}/v1/oauth/token"),
        ),
        ("SWITCHYARD_UPSTREAM_CLAUDE_AI", o.to_string()),
        ("SWITCHYARD_UPSTREAM_ANTHROPIC_API", o.to_string()),
        ("SWITCHYARD_UPSTREAM_OPENAI_AUTH", o.to_string()),
        ("SWITCHYARD_UPSTREAM_GOOGLE_OAUTH", o.to_string()),
    ]
}

/// The operator's browser: opens the authorize URL and returns where it was sent.
fn approve(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp.lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap_or_else(|| panic!("no redirect: {resp}"))
        .trim()
        .to_string()
}

#[test]
fn account_login_for_each_kind_against_the_mock_provider() {
    let sb = Sandbox::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let oauth = rt.block_on(switchyard_testkit::OAuthMock::start());
    let env_owned = oauth_env(&oauth.url());
    let env: Vec<(&str, &str)> = env_owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut output = String::new();

    // Interactive: the URL goes to stderr, the pasted answer comes from the terminal.
    let mut cmd = base_command(sb.tmp.path());
    cmd.arg("--data-dir")
        .arg(&sb.data)
        .args(["account", "login", "claude-official", "--name", "max"])
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let url = loop {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "no URL printed");
        output += &line;
        if line.starts_with("http") {
            break line.trim().to_string();
        }
    };
    let redirect = approve(&url);
    let q = redirect.split_once('?').unwrap().1;
    let code = q.split('&').next().unwrap().strip_prefix("code=").unwrap();
    let state = q.split("state=").nth(1).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{code}#{state}").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    output += &stdout;
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("added account max (claude-official")
            && stdout.contains("operator@example.com"),
        "{stdout}"
    );

    // Two steps, as a script would: start with --no-wait, finish with --code.
    for (kind, name) in [("openai-responses", "codex"), ("gemini", "google")] {
        let started = sb
            .run_with(
                &[
                    "account",
                    "login",
                    kind,
                    "--name",
                    name,
                    "--no-wait",
                    "--json",
                ],
                &env,
                None,
            )
            .ok()
            .json();
        let redirect = approve(started["url"].as_str().unwrap());
        let done = sb
            .run_with(
                &["account", "login", "--code", &redirect, "--json"],
                &env,
                None,
            )
            .ok();
        output += &done.all_output();
        assert_eq!(done.json()["account"]["kind"], kind);
        assert_eq!(done.json()["created"], true);
    }

    // Claude from a session key on stdin, no browser.
    let done = sb
        .run_with(
            &[
                "account",
                "login",
                "claude-official",
                "--name",
                "cookie",
                "--session-key",
                "-",
            ],
            &env,
            Some(switchyard_testkit::oauth::MOCK_SESSION_KEY),
        )
        .ok();
    output += &done.all_output();
    assert!(done.stdout.contains("added account cookie"), "{done:?}");

    // Re-authorise keeps the id.
    let id = by_name(&sb.accounts(), "max")["id"].clone();
    let started = sb
        .run_with(
            &[
                "account",
                "login",
                "--account",
                "max",
                "--no-wait",
                "--json",
            ],
            &env,
            None,
        )
        .ok()
        .json();
    let redirect = approve(started["url"].as_str().unwrap());
    let done = sb
        .run_with(&["account", "login", "--code", &redirect], &env, None)
        .ok();
    assert!(
        done.stdout.contains("re-authorised account max"),
        "{done:?}"
    );
    let accounts = sb.accounts();
    assert_eq!(by_name(&accounts, "max")["id"], id);
    assert_eq!(accounts.len(), 4);

    // The same answer twice: refused, one line, nothing stored.
    let again = sb.run_with(&["account", "login", "--code", &redirect], &env, None);
    assert!(again.one_line_error().contains("already used"), "{again:?}");

    output += &sb.run(&["account", "list"]).ok().all_output();
    assert!(!output.contains("oauthmock-"), "a token leaked:\n{output}");
    assert!(!output.contains(switchyard_testkit::oauth::MOCK_SESSION_KEY));
}

const CLAUDE_CODE_FILE: &str = r#"{
  "claudeAiOauth": {
    "accessToken": "sk-ant-oat01-IMPORTEDACCESS-0001",
    "refreshToken": "sk-ant-ort01-IMPORTEDREFRESH-0002",
    "expiresAt": 1893456000000,
    "scopes": ["user:inference", "user:profile"],
    "subscriptionType": "max"
  }
}"#;

const GEMINI_CLI_FILE: &str = r#"{
  "access_token": "ya29.IMPORTEDGOOGLEACCESS-0003",
  "refresh_token": "1//IMPORTEDGOOGLEREFRESH-0004",
  "scope": "https://www.googleapis.com/auth/cloud-platform",
  "token_type": "Bearer",
  "expiry_date": 1893456000000
}"#;

fn codex_file() -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = serde_json::json!({"exp": 1893456000,
        "https://api.openai.com/auth": {"chatgpt_account_id": "acct-imported", "chatgpt_plan_type": "plus"}});
    let access = format!(
        "eyJhbGciOiJub25lIn0.{}.c2ln",
        b64.encode(claims.to_string())
    );
    serde_json::json!({
        "OPENAI_API_KEY": null,
        "tokens": {"id_token": access, "access_token": access,
            "refresh_token": "rt-IMPORTEDCODEXREFRESH-0005", "account_id": "acct-imported"},
        "last_refresh": "2026-11-30T10:00:00Z"
    })
    .to_string()
}

#[test]
fn import_of_each_cli_file_and_bulk_export_import_round_trip() {
    let sb = Sandbox::new();
    let dir = sb.tmp.path();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let claude = write(".credentials.json", CLAUDE_CODE_FILE);
    let codex = write("auth.json", &codex_file());
    let gemini = write("oauth_creds.json", GEMINI_CLI_FILE);
    let mut output = String::new();

    let r = sb.run(&["account", "import", &claude]).ok();
    output += &r.all_output();
    assert!(
        r.stdout
            .contains("found Claude Code credentials (OAuth, max plan")
            && r.stdout
                .contains("imported account claude-max (claude-official"),
        "{r:?}"
    );
    let r = sb.run(&["account", "import", &codex, "--json"]).ok();
    output += &r.all_output();
    assert_eq!(r.json()["format"], "codex");
    assert!(r.json()["found"].as_str().unwrap().contains("plus plan"));
    let r = sb
        .run(&["account", "import", &gemini, "--name", "google-1"])
        .ok();
    output += &r.all_output();
    assert!(r.stdout.contains("Gemini CLI"), "{r:?}");
    let wrong = sb.run(&["account", "import", &gemini, "--kind", "claude-official"]);
    assert!(wrong.one_line_error().contains("gemini credentials"));

    let accounts = sb.accounts();
    let c = &by_name(&accounts, "claude-max")["credentials"];
    assert_eq!(
        c["access_token"],
        masked("sk-ant-oat01-IMPORTEDACCESS-0001")
    );
    assert_eq!(c["expires_at"], "2030-01-01T00:00:00+00:00");
    assert_eq!(by_name(&accounts, "codex")["kind"], "openai-responses");
    assert_eq!(by_name(&accounts, "google-1")["kind"], "gemini");

    // A proxy with a password and an account naming it travel along.
    sb.run(&[
        "proxy",
        "add",
        "edge",
        "socks5h://me:px-secret-77@127.0.0.1:1080",
    ])
    .ok();
    sb.run(&["account", "set", "codex", "--proxy", "edge"]).ok();

    let plain = sb.run(&["account", "export", "--json"]).ok();
    for s in ["IMPORTEDACCESS", "IMPORTEDGOOGLEREFRESH", "px-secret-77"] {
        assert!(
            !plain.stdout.contains(s),
            "{s} in an export without secrets"
        );
    }
    let file = dir.join("accounts.json");
    let full = sb
        .run(&[
            "account",
            "export",
            "--json",
            "--include-secrets",
            "--output",
            &file.display().to_string(),
        ])
        .ok();
    assert!(full.stderr.contains("warning"), "{full:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // Into a fresh store: everything arrives.
    let other = Sandbox::new();
    let r = other
        .run(&["account", "import", &file.display().to_string()])
        .ok();
    assert!(
        r.stdout
            .contains("Switchyard export of 3 account(s) with secrets"),
        "{r:?}"
    );
    let moved = other.accounts();
    assert_eq!(moved.len(), 3);
    assert_eq!(
        by_name(&moved, "claude-max")["credentials"]["refresh_token"],
        masked("sk-ant-ort01-IMPORTEDREFRESH-0002")
    );
    assert_eq!(by_name(&moved, "codex")["proxy_url"], "edge");
    let proxies = other.run(&["proxy", "list", "--json"]).ok().json();
    assert_eq!(proxies[0]["url"], "socks5h://***@127.0.0.1:1080");

    // Again: all or nothing, with every account's problem named.
    let again = other.run(&["account", "import", &file.display().to_string()]);
    let line = again.one_line_error();
    for name in ["claude-max", "codex", "google-1"] {
        assert!(line.contains(&format!("account `{name}`")), "{line}");
    }
    assert_eq!(other.accounts().len(), 3);
    // An export without secrets cannot recreate accounts, and says so.
    let plain_file = dir.join("plain.json");
    std::fs::write(&plain_file, &plain.stdout).unwrap();
    let third = Sandbox::new();
    let refused = third.run(&["account", "import", &plain_file.display().to_string()]);
    assert!(refused.one_line_error().contains("--include-secrets"));
    assert!(third.accounts().is_empty());

    assert!(!output.contains("IMPORTEDACCESS-0001"), "{output}");
}
