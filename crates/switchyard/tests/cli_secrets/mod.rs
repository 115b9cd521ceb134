//! Secrets never leave: a test plants one of every kind (relay key, upstream API keys, OAuth
//! access and refresh tokens and the ones a refresh brings, a proxy password, a password inside
//! a base URL, the admin password, an admin session token), works the server as an operator
//! and its clients would, then scans everything Switchyard wrote — its trace-level log, every
//! admin API answer, `/metrics`, `config check`, the audit log, and every file in the data
//! directory — for each of them.

use super::*;
use switchyard_testkit::{Fault, MockUpstream};

const UPSTREAM_KEY: &str = "sk-ant-api03-UPSTREAMKEY-PLANTED-5521";
const ACCESS_TOKEN: &str = "sk-ant-oat01-ACCESSTOKEN-PLANTED-8812";
const REFRESH_TOKEN: &str = "sk-ant-ort01-REFRESHTOKEN-PLANTED-9923";
const OPENAI_KEY: &str = "sk-proj-OPENAIKEY-PLANTED-3310";
const URL_PASSWORD: &str = "URLPASS-PLANTED-6604";
const PROXY_PASSWORD: &str = "PROXYPASS-PLANTED-4417";
const ADMIN_PASSWORD: &str = "AdminPass-PLANTED-7731";
/// What the mock token endpoint hands out on the first refresh.
const REFRESHED_ACCESS: &str = "sk-ant-oat01-mock-1";
const REFRESHED_REFRESH: &str = "sk-ant-ort01-mock-1";

/// Where a secret was found, if anywhere: the source's name and a little context.
fn find(haystack: &[u8], secret: &str) -> Option<String> {
    let needle = secret.as_bytes();
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|at| {
            let from = at.saturating_sub(60);
            let to = (at + needle.len() + 60).min(haystack.len());
            String::from_utf8_lossy(&haystack[from..to]).into_owned()
        })
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn nothing_switchyard_writes_contains_a_planted_secret() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = rt.block_on(MockUpstream::start());
    let m = mock.url();
    let m_host = m.trim_start_matches("http://").to_string();
    let sb = Sandbox::new();
    let env: Vec<(&str, String)> = vec![
        ("SWITCHYARD_ADMIN_PASSWORD", ADMIN_PASSWORD.to_string()),
        ("SWITCHYARD_LOG_LEVEL", "trace".to_string()),
        ("SWITCHYARD_UPSTREAM_ANTHROPIC_API", m.clone()),
        (
            "SWITCHYARD_UPSTREAM_CLAUDE_OAUTH_TOKEN_URL",
            format!("{m}/v1/oauth/token"),
        ),
        ("SWITCHYARD_UPSTREAM_OPENAI_API", m.clone()),
    ];
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // Everything Switchyard says, gathered per source.
    let mut said: Vec<(String, Vec<u8>)> = Vec::new();
    let mut cli = |args: &[&str]| {
        let run = sb.run_with(args, &env_refs, None).ok();
        said.push((
            format!("switchyard {}", args.join(" ")),
            run.all_output().into(),
        ));
        run
    };

    cli(&[
        "proxy",
        "add",
        "spare",
        &format!("http://pxuser:{PROXY_PASSWORD}@127.0.0.1:9"),
    ]);
    cli(&[
        "account",
        "add",
        "claude-official",
        "--name",
        "max",
        "--access-token",
        ACCESS_TOKEN,
        "--refresh-token",
        REFRESH_TOKEN,
        "--priority",
        "1",
    ]);
    cli(&[
        "account",
        "add",
        "claude",
        "--name",
        "api",
        "--api-key",
        UPSTREAM_KEY,
        "--priority",
        "2",
    ]);
    cli(&[
        "account",
        "add",
        "openai",
        "--name",
        "oa",
        "--api-key",
        OPENAI_KEY,
        "--base-url",
        &format!("http://urluser:{URL_PASSWORD}@{m_host}"),
    ]);
    cli(&["config", "check"]);
    // The one place a relay key is shown, once, by design: not scanned.
    let created = sb
        .run_with(
            &["key", "create", "--name", "laptop", "--json"],
            &env_refs,
            None,
        )
        .ok()
        .json();
    let relay_key = created["key"].as_str().unwrap().to_string();

    let mut cmd = base_command(sb.tmp.path());
    cmd.envs(env_refs.iter().copied());
    let server = Server::start_cmd(&sb, cmd);
    let addr = server.addr.clone();
    let mut answers = |what: &str, status: u16, head: String, body: String| {
        said.push((
            format!("{what} → {status}"),
            format!("{head}\n{body}").into(),
        ));
        (status, body)
    };

    // Relay traffic: the OAuth account is refused once, refreshes and answers; then streams,
    // the API-key account and the OpenAI account with a password in its base URL.
    mock.push_for(ACCESS_TOKEN, Fault::unauthorized());
    for stream in [false, true, false] {
        let body = format!(
            r#"{{"model":"claude-sonnet-4-5","max_tokens":16,"stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#
        );
        let (status, head, text) = http(
            &addr,
            "POST",
            "/v1/messages",
            &[
                ("content-type", "application/json"),
                ("anthropic-version", "2023-06-01"),
                ("x-api-key", &relay_key),
            ],
            &body,
        );
        let (status, _) = answers("POST /v1/messages", status, head, text);
        assert_eq!(status, 200);
    }
    assert_eq!(mock.tokens_issued(), 1, "the OAuth account refreshed");
    let (status, head, text) = http(
        &addr,
        "POST",
        "/v1/chat/completions",
        &[
            ("content-type", "application/json"),
            ("authorization", &format!("Bearer {relay_key}")),
        ],
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
    );
    answers("POST /v1/chat/completions", status, head, text);
    assert_eq!(status, 200);
    // A bad relay key and a wrong admin password are answered without echoing them.
    let (status, head, text) = http(
        &addr,
        "POST",
        "/v1/messages",
        &[("x-api-key", &format!("{relay_key}-wrong"))],
        "{}",
    );
    answers("POST /v1/messages (bad key)", status, head, text);

    // The admin API: sign in, then read every resource the OpenAPI document lists.
    let login = format!(r#"{{"username":"admin","password":"{ADMIN_PASSWORD}"}}"#);
    // The sign-in answer carries the session token, by design: not scanned.
    let (status, _, text) = http(
        &addr,
        "POST",
        "/api/admin/login",
        &[("content-type", "application/json")],
        &login,
    );
    assert_eq!(status, 200, "{text}");
    let session: Value = serde_json::from_str(&text).unwrap();
    let token = session["token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {token}");
    let auth = [("authorization", bearer.as_str())];
    let (_, _, doc) = http(&addr, "GET", "/api/admin/openapi.json", &auth, "");
    let doc: Value = serde_json::from_str(&doc).unwrap();
    let mut read = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if item.get("get").is_none() {
            continue;
        }
        // A path with a parameter is read for the first item of its collection.
        let concrete = match path.split_once('{') {
            None => path.clone(),
            Some((collection, rest)) => {
                let (param, tail) = rest.split_once('}').unwrap();
                let list_path = collection.trim_end_matches('/').to_string();
                let (_, _, list) = http(&addr, "GET", &list_path, &auth, "");
                let list: Value = serde_json::from_str(&list).unwrap_or(Value::Null);
                let first = list
                    .as_array()
                    .or_else(|| list["items"].as_array())
                    .and_then(|a| a.first())
                    .map(|v| match &v[param] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    });
                match first {
                    Some(value) if value != "null" => format!("{collection}{value}{tail}"),
                    _ => continue,
                }
            }
        };
        let (status, head, text) = http(&addr, "GET", &concrete, &auth, "");
        answers(&format!("GET {concrete}"), status, head, text);
        if status == 200 {
            read += 1;
        }
    }
    assert!(read >= 15, "only {read} admin resources read with 200");
    let (status, head, text) = http(&addr, "GET", "/metrics", &[], "");
    answers("GET /metrics", status, head, text);

    let banner = server.banner.join("\n");
    let (status, _, stdout, log) = server.stop();
    assert!(status.success());
    said.push((
        "serve's stdout".into(),
        format!("{banner}\n{stdout}").into(),
    ));
    said.push(("serve's log (trace)".into(), log.into()));
    assert!(
        said.iter().any(|(_, s)| find(s, "TRACE").is_some()),
        "the log was at trace level"
    );
    // The audit log is among the admin resources read above.
    assert!(
        said.iter()
            .any(|(source, text)| source.contains("/audit") && find(text, "key.create").is_some()),
        "the audit log was read: {:?}",
        said.iter()
            .filter(|(source, _)| source.contains("/audit"))
            .map(|(source, text)| format!("{source}: {}", String::from_utf8_lossy(text)))
            .collect::<Vec<_>>()
    );
    let mut files = Vec::new();
    files_under(&sb.data, &mut files);
    assert!(files.iter().any(|f| f.ends_with("switchyard.db")));
    for file in files {
        if file.file_name().is_some_and(|n| n == "master.key") {
            continue; // the one place the key that seals everything else lives
        }
        said.push((file.display().to_string(), std::fs::read(&file).unwrap()));
    }

    let planted = [
        relay_key.as_str(),
        UPSTREAM_KEY,
        ACCESS_TOKEN,
        REFRESH_TOKEN,
        REFRESHED_ACCESS,
        REFRESHED_REFRESH,
        OPENAI_KEY,
        URL_PASSWORD,
        PROXY_PASSWORD,
        ADMIN_PASSWORD,
        token.as_str(),
    ];
    let mut leaks = Vec::new();
    for (source, text) in &said {
        for secret in planted {
            // The middle part too: a "masked" secret that shows most of itself is a leak.
            let middle = &secret[6..secret.len() - 4];
            if let Some(context) = find(text, secret).or_else(|| find(text, middle)) {
                leaks.push(format!("{secret} in {source}: …{context}…"));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "{} leaks:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    drop(mock);
}
