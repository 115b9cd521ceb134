//! The account health-check probe endpoints and their fault queues, driven with a minimal
//! HTTP/1.1 client over a plain TCP socket.

// Test-only helpers below: a malformed response should fail the test loudly.
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "test tasks are joined by the test"
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard_testkit::{Fault, MockUpstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request on a fresh `connection: close` socket. The mock answers probes with a
/// content-length body, so the body is everything after the head.
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    Resp {
        status: status.parse().unwrap(),
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Resp {
    send(addr, "GET", path, headers, "").await
}

const MESSAGES_BODY: &str = r#"{"model":"claude-test-1","max_tokens":10,"messages":[]}"#;

fn rfc3339_secs(ts: &str) -> u64 {
    // YYYY-MM-DDTHH:MM:SS… → seconds since the epoch (days via a simple civil count).
    let (y, m, d): (i64, i64, i64) = (
        ts[0..4].parse().unwrap(),
        ts[5..7].parse().unwrap(),
        ts[8..10].parse().unwrap(),
    );
    let (hh, mm, ss): (i64, i64, i64) = (
        ts[11..13].parse().unwrap(),
        ts[14..16].parse().unwrap(),
        ts[17..19].parse().unwrap(),
    );
    let days_before_month = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days: i64 = (1970..y).map(|yr| if leap(yr) { 366 } else { 365 }).sum();
    days += days_before_month[(m - 1) as usize] + d - 1;
    if m > 2 && leap(y) {
        days += 1;
    }
    (days * 86_400 + hh * 3600 + mm * 60 + ss) as u64
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn probe_endpoints_answer_by_default() {
    let mock = MockUpstream::start().await;
    let addr = mock.addr();

    // Claude OAuth usage.
    let r = get(
        addr,
        "/api/oauth/usage",
        &[
            ("authorization", "Bearer sk-ant-oat01-a"),
            ("anthropic-beta", "oauth-2025-04-20"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let text = String::from_utf8(r.body.clone()).unwrap();
    assert!(
        text.contains(r#""five_hour":{"utilization":24.0,"#),
        "{text}"
    );
    let v = r.json();
    assert_eq!(v["seven_day"]["utilization"], 36.0);
    assert!(v["seven_day_sonnet"].is_null() && v["seven_day_opus"].is_null());
    assert_eq!(v["extra_usage"]["is_enabled"], false);
    let now = now_secs();
    let five = rfc3339_secs(v["five_hour"]["resets_at"].as_str().unwrap());
    let seven = rfc3339_secs(v["seven_day"]["resets_at"].as_str().unwrap());
    assert!(five.abs_diff(now + 3 * 3600) < 60, "{five} vs {now}");
    assert!(seven.abs_diff(now + 5 * 86_400) < 60, "{seven} vs {now}");
    mock.set_claude_utilization(99.5, 100.0);
    let r = get(
        addr,
        "/api/oauth/usage",
        &[("authorization", "Bearer sk-ant-oat01-a")],
    )
    .await;
    let v = r.json();
    assert_eq!(
        (
            &v["five_hour"]["utilization"],
            &v["seven_day"]["utilization"]
        ),
        (&Value::from(99.5), &Value::from(100.0))
    );
    // No Bearer token: 401.
    let r = get(addr, "/api/oauth/usage", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["type"], "authentication_error");

    // claude.ai organizations by session cookie.
    let r = get(
        addr,
        "/api/organizations",
        &[("cookie", "foo=1; sessionKey=sk-ant-sid01-a; bar=2")],
    )
    .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v[0]["uuid"], "org-uuid-1");
    assert_eq!(v[0]["capabilities"][0], "chat");
    assert_eq!(get(addr, "/api/organizations", &[]).await.status, 401);

    // Model lists: OpenAI by default, Anthropic with anthropic-version, Gemini on /v1beta.
    for path in ["/v1/models", "/models"] {
        let r = get(addr, path, &[("authorization", "Bearer sk-openai")]).await;
        assert_eq!(r.status, 200);
        let v = r.json();
        assert_eq!(v["object"], "list");
        assert_eq!(v["data"][0]["id"], "gpt-5");
    }
    let r = get(
        addr,
        "/v1/models",
        &[
            ("x-api-key", "sk-ant-api"),
            ("anthropic-version", "2023-06-01"),
        ],
    )
    .await;
    let v = r.json();
    assert_eq!(v["data"][0]["type"], "model");
    assert_eq!(v["data"][0]["display_name"], "Claude Sonnet 4.5");
    assert_eq!(v["has_more"], false);
    assert_eq!(get(addr, "/v1/models", &[]).await.status, 401);
    for headers in [
        [("x-goog-api-key", "AIza-g")],
        [("authorization", "Bearer ya29.g")],
    ] {
        let r = get(addr, "/v1beta/models", &headers).await;
        assert_eq!(r.status, 200);
        let v = r.json();
        assert_eq!(v["models"][0]["name"], "models/gemini-2.5-pro");
        assert_eq!(v["models"][0]["displayName"], "Gemini 2.5 Pro");
    }
    let r = get(addr, "/v1/models", &[("x-goog-api-key", "AIza-g")]).await;
    assert_eq!(r.json()["models"][0]["name"], "models/gemini-2.5-pro");
    let r = get(addr, "/v1beta/models?key=AIza-q", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(get(addr, "/v1beta/models", &[]).await.status, 403);

    // ChatGPT account check and usage.
    let bearer = [("authorization", "Bearer eyJ.codex")];
    let r = get(addr, "/backend-api/accounts/check/v4-2023-04-27", &bearer).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["accounts"]["acct-123"]["account"]["plan_type"],
        "plus"
    );
    let r = get(addr, "/backend-api/wham/usage", &bearer).await;
    let text = String::from_utf8(r.body.clone()).unwrap();
    assert!(text.contains(r#""used_percent":3,"#), "{text}");
    let v = r.json();
    let primary = &v["rate_limit"]["primary_window"];
    assert_eq!(primary["limit_window_seconds"], 18000);
    assert!(primary["reset_at"].as_u64().unwrap() >= now + 15_858);
    assert_eq!(
        v["rate_limit"]["secondary_window"]["limit_window_seconds"],
        604_800
    );
    mock.set_codex_used_percent(87.5);
    let r = get(addr, "/backend-api/wham/usage", &bearer).await;
    assert_eq!(
        r.json()["rate_limit"]["primary_window"]["used_percent"],
        87.5
    );
    assert_eq!(get(addr, "/backend-api/wham/usage", &[]).await.status, 401);

    // Webhook sink.
    let r = send(
        addr,
        "POST",
        "/webhook?src=test",
        &[("content-type", "application/json")],
        r#"{"event":"account.banned"}"#,
    )
    .await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());

    // Recorded with their paths; counted per probe credential, not as relay traffic.
    let reqs = mock.requests();
    let hook = mock.last_request().unwrap();
    assert_eq!(
        (hook.method.as_str(), hook.path.as_str()),
        ("POST", "/webhook?src=test")
    );
    assert_eq!(hook.json().unwrap()["event"], "account.banned");
    for path in [
        "/api/oauth/usage",
        "/api/organizations",
        "/v1/models",
        "/models",
        "/v1beta/models",
        "/backend-api/accounts/check/v4-2023-04-27",
        "/backend-api/wham/usage",
    ] {
        assert!(
            reqs.iter()
                .any(|r| r.path_only() == path && r.method == "GET"),
            "{path} not recorded"
        );
    }
    let orgs = reqs
        .iter()
        .find(|r| r.path == "/api/organizations")
        .unwrap();
    assert_eq!(orgs.credential.as_deref(), Some("sk-ant-sid01-a"));
    assert_eq!(mock.probe_count_for("sk-ant-oat01-a"), 2);
    assert_eq!(mock.probe_count_for("sk-ant-sid01-a"), 1);
    assert_eq!(mock.probe_count_for("AIza-g"), 2);
    assert_eq!(mock.probe_count_for("AIza-q"), 1);
    assert_eq!(mock.probe_count_for("eyJ.codex"), 3);
    assert_eq!(mock.count_for("sk-ant-oat01-a"), 0);
    assert!(mock.credential_counts().is_empty());
}

#[tokio::test]
async fn per_credential_probe_faults_are_consumed_once() {
    let mock = MockUpstream::start().await;
    let addr = mock.addr();
    let usage = |token: &'static str| async move {
        let auth = format!("Bearer {token}");
        get(addr, "/api/oauth/usage", &[("authorization", &auth)]).await
    };
    mock.push_probe_for("tok-a", Fault::status(403, r#"{"error":"scope"}"#));
    mock.push_probe_for("tok-a", Fault::rate_limited(4_000_000_000));
    mock.push_probe_for("sk-ant-sid01-dead", Fault::unauthorized());
    mock.push_probe_for(
        "AIza-slow",
        Fault::SlowFirstByte(Duration::from_millis(150)),
    );
    assert_eq!(mock.pending_faults(), 4);

    // tok-b has no fault of its own and the shared probe queue is empty.
    assert_eq!(usage("tok-b").await.status, 200);
    let r = usage("tok-a").await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (403, Value::from("scope"))
    );
    let r = usage("tok-a").await;
    assert_eq!(r.status, 429);
    assert_eq!(
        r.header("anthropic-ratelimit-unified-reset"),
        Some("4000000000")
    );
    assert_eq!(usage("tok-a").await.status, 200);

    let r = get(
        addr,
        "/api/organizations",
        &[("cookie", "sessionKey=sk-ant-sid01-dead")],
    )
    .await;
    assert_eq!(r.status, 401);
    let start = Instant::now();
    let r = get(addr, "/v1beta/models", &[("x-goog-api-key", "AIza-slow")]).await;
    assert!(start.elapsed() >= Duration::from_millis(150));
    assert_eq!(r.status, 200);
    assert_eq!(mock.pending_faults(), 0);
    assert_eq!(mock.probe_count_for("tok-a"), 3);

    // Shared probe queue: used when the credential has nothing queued.
    mock.push_probe(Fault::server_error());
    assert_eq!(usage("tok-c").await.status, 500);
    assert_eq!(usage("tok-c").await.status, 200);

    // A hanging probe never answers (until shutdown).
    mock.push_probe_for("tok-hang", Fault::Hang);
    let pending = tokio::spawn(usage("tok-hang"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!pending.is_finished());
    assert_eq!(mock.probe_count_for("tok-hang"), 1);
    // Other probes keep working meanwhile.
    assert_eq!(usage("tok-hang").await.status, 200);
    tokio::time::timeout(Duration::from_secs(5), mock.shutdown())
        .await
        .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, 503);
}

#[tokio::test]
async fn probe_and_relay_fault_queues_are_separate() {
    let mock = MockUpstream::start().await;
    let addr = mock.addr();
    let key = [("x-api-key", "sk-ant-k")];
    let messages = || send(addr, "POST", "/v1/messages", &key, MESSAGES_BODY);
    let models = || {
        get(
            addr,
            "/v1/models",
            &[
                ("x-api-key", "sk-ant-k"),
                ("anthropic-version", "2023-06-01"),
            ],
        )
    };

    // Probe faults (shared and per credential) are invisible to /v1/messages.
    mock.push_probe(Fault::server_error());
    mock.push_probe_for("sk-ant-k", Fault::unauthorized());
    assert_eq!(messages().await.status, 200);
    assert_eq!(messages().await.status, 200);
    assert_eq!(mock.pending_faults(), 2);
    assert_eq!(models().await.status, 401);
    assert_eq!(models().await.status, 500);
    assert_eq!(models().await.status, 200);

    // Relay faults (shared and per credential) are invisible to probes.
    mock.push(Fault::overloaded());
    mock.push_for("sk-ant-k", Fault::rate_limited(4_000_000_000));
    assert_eq!(models().await.status, 200);
    assert_eq!(send(addr, "POST", "/webhook", &key, "{}").await.status, 204);
    assert_eq!(mock.pending_faults(), 2);
    assert_eq!(messages().await.status, 429);
    assert_eq!(messages().await.status, 529);
    assert_eq!(messages().await.status, 200);
    assert_eq!(mock.pending_faults(), 0);

    assert_eq!(mock.count_for("sk-ant-k"), 5);
    assert_eq!(mock.probe_count_for("sk-ant-k"), 5);
    mock.clear_requests();
    assert_eq!(mock.probe_count_for("sk-ant-k"), 0);
}
