//! The fault matrix: every scripted upstream fault × every client dialect × stream and
//! non-stream, each row asserting what the client sees (status, error shape, clean or aborted
//! end), what happened to the faulty account, and the usage record.
//!
//! Each row runs its own server and mock with two accounts of the dialect's kind: a faulty one
//! (priority 1) and a healthy backup (priority 50). Timeouts are short (first byte and idle:
//! 1 s) so stalls resolve quickly. The whole table is printed (`--nocapture` shows it) and a
//! failing row fails the test with the table of failures.

use std::time::Duration;

use futures_util::StreamExt;
use switchyard_core::AccountStatus;
use switchyard_testkit::{Fault, MockUpstream};

use crate::support::{AccountSpec, TestApp, read_until_error};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Client {
    Anthropic,
    Chat,
    Responses,
    GeminiSse,
    GeminiArray,
    CodeAssist,
    Bedrock,
}

const CLIENTS: [Client; 7] = [
    Client::Anthropic,
    Client::Chat,
    Client::Responses,
    Client::GeminiSse,
    Client::GeminiArray,
    Client::CodeAssist,
    Client::Bedrock,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reset {
    RetryAfterSeconds,
    RetryAfterDate,
    AnthropicUnified,
    CodexAfterSeconds,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    ConnectRefused,
    DnsFailure,
    TlsFailure,
    TimeoutBeforeHeaders,
    Unauthorized401,
    Forbidden403,
    ModelNotFound404,
    RateLimited429(Reset),
    Overloaded529,
    ServerError500,
    ProxyHtml502,
    ProxyHtml503,
    BodyCut,
    ErrorEventAfter200,
    IdleStall,
    SlowTrickle,
    UnknownEncoding,
    InvalidJson200,
    OverLongSseLine,
}

const CASES: [Case; 22] = [
    Case::ConnectRefused,
    Case::DnsFailure,
    Case::TlsFailure,
    Case::TimeoutBeforeHeaders,
    Case::Unauthorized401,
    Case::Forbidden403,
    Case::ModelNotFound404,
    Case::RateLimited429(Reset::RetryAfterSeconds),
    Case::RateLimited429(Reset::RetryAfterDate),
    Case::RateLimited429(Reset::AnthropicUnified),
    Case::RateLimited429(Reset::CodexAfterSeconds),
    Case::Overloaded529,
    Case::ServerError500,
    Case::ProxyHtml502,
    Case::ProxyHtml503,
    Case::BodyCut,
    Case::ErrorEventAfter200,
    Case::IdleStall,
    Case::SlowTrickle,
    Case::UnknownEncoding,
    Case::InvalidJson200,
    Case::OverLongSseLine,
];

/// What a row must show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// The backup answers completely; the faulty account ends in this state.
    FailsOver(AccountStatus),
    /// The same account answers after refreshing its token.
    Recovers,
    /// The upstream's client error reaches the client as is; nobody is cooled.
    Forwarded(u16),
    /// 200, then the dialect's error signal and an aborted transfer; the record says why.
    BrokenAfter200(&'static str),
    /// 200 and an aborted transfer with no signal: the break fell inside an element, where
    /// nothing can be added.
    Aborted200(&'static str),
    /// 200 with the upstream's own in-stream error passed on; recorded as a stream error.
    UpstreamErrorEvent,
    /// A complete answer from the faulty-looking account (the fault was harmless).
    Complete,
}

fn expect(client: Client, stream: bool, case: Case) -> Option<Expect> {
    use Expect::*;
    let sse = !matches!(client, Client::GeminiArray | Client::Bedrock);
    Some(match case {
        Case::ConnectRefused
        | Case::DnsFailure
        | Case::TlsFailure
        | Case::TimeoutBeforeHeaders
        | Case::Forbidden403
        | Case::Overloaded529
        | Case::ServerError500
        | Case::ProxyHtml502
        | Case::ProxyHtml503
        | Case::UnknownEncoding => FailsOver(AccountStatus::Cooling),
        // Each provider announces its reset its own way; every one honours retry-after.
        Case::RateLimited429(Reset::AnthropicUnified) if client != Client::Anthropic => {
            return None;
        }
        Case::RateLimited429(Reset::CodexAfterSeconds) if client != Client::Responses => {
            return None;
        }
        Case::RateLimited429(_) => FailsOver(AccountStatus::Cooling),
        // A Google-login account refreshes its token and tries again.
        Case::Unauthorized401 if client == Client::CodeAssist => Recovers,
        Case::Unauthorized401 => FailsOver(AccountStatus::Error),
        Case::ModelNotFound404 => Forwarded(404),
        Case::BodyCut if stream => BrokenAfter200("upstream_stream_broken"),
        Case::BodyCut => FailsOver(AccountStatus::Cooling),
        Case::ErrorEventAfter200 if stream => UpstreamErrorEvent,
        Case::ErrorEventAfter200 => return None,
        Case::IdleStall if stream => BrokenAfter200("upstream_idle_timeout"),
        Case::IdleStall => FailsOver(AccountStatus::Cooling),
        Case::SlowTrickle => Complete,
        Case::InvalidJson200 if client == Client::GeminiArray => {
            Aborted200("upstream_stream_broken")
        }
        Case::InvalidJson200 if stream => BrokenAfter200("upstream_stream_broken"),
        Case::InvalidJson200 => FailsOver(AccountStatus::Cooling),
        Case::OverLongSseLine if stream && sse => BrokenAfter200("upstream_event_too_large"),
        Case::OverLongSseLine => return None,
    })
}

const GEMINI_MODEL: &str = "gemini-2.5-flash";

/// The faulty account's credential and the backup's.
fn credentials(client: Client) -> (&'static str, &'static str) {
    match client {
        Client::Anthropic => ("sk-ant-faulty", "sk-ant-backup"),
        Client::Chat | Client::Responses => ("sk-faulty", "sk-backup"),
        Client::GeminiSse | Client::GeminiArray => ("AIza-faulty", "AIza-backup"),
        Client::CodeAssist => ("ya29.faulty", "ya29.backup"),
        Client::Bedrock => ("bedrock-key-faulty", "bedrock-key-backup"),
    }
}

fn account(client: Client, name: &'static str, secret: &'static str, mock: &str) -> AccountSpec {
    let mut spec = match client {
        Client::Anthropic => AccountSpec::claude(name, secret),
        Client::Chat | Client::Responses => AccountSpec::openai(name, secret, mock.to_string()),
        Client::GeminiSse | Client::GeminiArray => AccountSpec::gemini_api(name, secret),
        Client::CodeAssist => {
            let mut s = AccountSpec::gemini(name, secret, "1//refresh");
            s.extra
                .insert("project".into(), serde_json::json!("fixed-project"));
            s
        }
        Client::Bedrock => AccountSpec::bedrock(name, secret),
    };
    spec.priority = if name == "faulty" { 1 } else { 50 };
    spec
}

fn request(app: &TestApp, client: Client, stream: bool) -> Option<reqwest::RequestBuilder> {
    let gemini_contents = serde_json::json!([{"role": "user", "parts": [{"text": "hi"}]}]);
    let req = match client {
        Client::Anthropic | Client::Bedrock => app.messages(serde_json::json!({
            "model": if client == Client::Bedrock { "claude-sonnet-4-5" } else { "claude-sonnet-4-20250514" },
            "max_tokens": 64,
            "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]
        })),
        Client::Chat => app.post(
            "/v1/chat/completions",
            serde_json::json!({"model": "gpt-5-mini", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}),
        ),
        Client::Responses => app.post(
            "/v1/responses",
            serde_json::json!({"model": "gpt-5-mini", "stream": stream, "input": "hi"}),
        ),
        Client::GeminiSse | Client::GeminiArray => {
            let action = match (stream, client) {
                (false, Client::GeminiArray) => return None,
                (false, _) => "generateContent",
                (true, Client::GeminiSse) => "streamGenerateContent?alt=sse",
                (true, _) => "streamGenerateContent",
            };
            app.http
                .post(format!("{}/v1beta/models/{GEMINI_MODEL}:{action}", app.url))
                .header("x-goog-api-key", &app.key)
                .json(&serde_json::json!({"contents": gemini_contents}))
        }
        Client::CodeAssist => {
            let method = if stream {
                "streamGenerateContent?alt=sse"
            } else {
                "generateContent"
            };
            app.http
                .post(format!("{}/v1internal:{method}", app.url))
                .bearer_auth(&app.key)
                .json(&serde_json::json!({
                    "model": GEMINI_MODEL, "project": "p", "user_prompt_id": "u",
                    "request": {"contents": gemini_contents}
                }))
        }
    };
    Some(req)
}

/// A JSON error body the dialect's upstream would send.
fn error_body(client: Client, status: u16, message: &str) -> String {
    match client {
        Client::Anthropic => switchyard_testkit::bodies::anthropic_error_json("api_error", message),
        Client::Bedrock => serde_json::json!({"message": message}).to_string(),
        Client::Chat | Client::Responses => {
            serde_json::json!({"error": {"message": message, "type": "server_error"}}).to_string()
        }
        Client::GeminiSse | Client::GeminiArray | Client::CodeAssist => {
            serde_json::json!({"error": {"code": status, "message": message, "status": "UNAVAILABLE"}}).to_string()
        }
    }
}

fn status(status: u16, headers: Vec<(&str, String)>, body: String) -> Fault {
    Fault::Status {
        status,
        headers: headers
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect(),
        body,
    }
}

/// The reset the 429 rows announce, seconds from now.
const RESET_IN: i64 = 600;

/// Scripts `case` on the faulty account; returns a base URL to give it instead of the mock's,
/// where the fault is in the network.
fn script(mock: &MockUpstream, client: Client, stream: bool, case: Case) -> Option<String> {
    let (faulty, _) = credentials(client);
    let push = |f: Fault| mock.push_for(faulty, f);
    let json = || ("content-type", "application/json".to_string());
    let sse = || ("content-type", "text/event-stream".to_string());
    match case {
        Case::ConnectRefused => return Some("http://127.0.0.1:1".into()),
        Case::DnsFailure => return Some("http://upstream.invalid".into()),
        Case::TlsFailure => return Some(format!("https://{}", mock.addr())),
        Case::TimeoutBeforeHeaders => push(Fault::SlowFirstByte(Duration::from_secs(3))),
        Case::Unauthorized401 => push(status(
            401,
            vec![json()],
            error_body(client, 401, "bad key"),
        )),
        Case::Forbidden403 => push(status(
            403,
            vec![json()],
            error_body(client, 403, "forbidden"),
        )),
        Case::ModelNotFound404 => push(status(
            404,
            vec![json()],
            error_body(client, 404, "model not found"),
        )),
        Case::RateLimited429(form) => {
            let reset = chrono::Utc::now() + chrono::Duration::seconds(RESET_IN);
            let header = match form {
                Reset::RetryAfterSeconds => ("retry-after", RESET_IN.to_string()),
                Reset::RetryAfterDate => ("retry-after", reset.to_rfc2822()),
                Reset::AnthropicUnified => (
                    "anthropic-ratelimit-unified-reset",
                    reset.timestamp().to_string(),
                ),
                Reset::CodexAfterSeconds => {
                    ("x-codex-primary-reset-after-seconds", RESET_IN.to_string())
                }
            };
            push(status(
                429,
                vec![json(), header],
                error_body(client, 429, "rate limited"),
            ));
        }
        Case::Overloaded529 => push(status(
            529,
            vec![json()],
            error_body(client, 529, "overloaded"),
        )),
        Case::ServerError500 => push(status(
            500,
            vec![json()],
            error_body(client, 500, "internal"),
        )),
        Case::ProxyHtml502 | Case::ProxyHtml503 => {
            let code = if case == Case::ProxyHtml502 { 502 } else { 503 };
            push(status(
                code,
                vec![("content-type", "text/html".into())],
                format!("<html><body><h1>{code} Bad Gateway</h1>nginx</body></html>"),
            ));
        }
        Case::BodyCut => push(Fault::DisconnectMidStream { after_events: 2 }),
        Case::ErrorEventAfter200 => push(Fault::ErrorEventAfter200),
        Case::IdleStall => push(Fault::StallAfter { after_events: 2 }),
        Case::SlowTrickle => mock.set_chunk_delay(Duration::from_millis(300)),
        Case::UnknownEncoding => push(status(
            200,
            vec![
                if stream { sse() } else { json() },
                ("content-encoding", "x-mystery".into()),
            ],
            "\u{1}\u{2}\u{3}compressed?".into(),
        )),
        Case::InvalidJson200 if stream => {
            push(status(200, vec![sse()], "data: {\"not json\n\n".into()))
        }
        Case::InvalidJson200 => push(status(200, vec![json()], "{\"not json".into())),
        Case::OverLongSseLine => {
            let line = format!("data: {{\"x\":\"{}\"}}\n\n", "x".repeat(9 * 1024 * 1024));
            push(status(200, vec![sse()], line));
        }
    }
    let _ = stream;
    None
}

/// The marker of a complete answer in each client's dialect.
fn complete(client: Client, stream: bool, body: &[u8]) -> bool {
    if !stream {
        return serde_json::from_slice::<serde_json::Value>(body)
            .is_ok_and(|v| v.get("error").is_none_or(serde_json::Value::is_null));
    }
    let text = String::from_utf8_lossy(body);
    match client {
        Client::Anthropic | Client::Bedrock => text.contains("event: message_stop"),
        Client::Chat => text.ends_with("data: [DONE]\n\n"),
        Client::Responses => text.contains("event: response.completed"),
        Client::GeminiSse | Client::CodeAssist => text.contains("finishReason"),
        Client::GeminiArray => serde_json::from_slice::<serde_json::Value>(body)
            .is_ok_and(|v| v.as_array().is_some_and(|a| !a.is_empty())),
    }
}

/// Whether the last thing the client received is its dialect's error signal.
fn ends_with_error_signal(client: Client, body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body).replace("\r\n", "\n");
    let last_event = text
        .trim_end()
        .rsplit("\n\n")
        .next()
        .unwrap_or_default()
        .to_string();
    match client {
        Client::Anthropic | Client::Bedrock => last_event.starts_with("event: error\ndata: {"),
        Client::Chat => last_event.starts_with("data: {\"error\":{") && !text.contains("[DONE]"),
        Client::Responses => last_event.starts_with("event: response.failed\n"),
        Client::GeminiSse | Client::CodeAssist => {
            last_event.trim().starts_with("data: {\"error\":{")
        }
        Client::GeminiArray => serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| {
            v.as_array()
                .and_then(|a| a.last())
                .is_some_and(|e| e.get("error").is_some())
        }),
    }
}

/// Runs one row; returns what it saw, or why it failed.
async fn run(client: Client, stream: bool, case: Case, want: Expect) -> Result<String, String> {
    let mock = MockUpstream::start().await;
    let app = TestApp::start_with(&mock, |c| c.timeouts.idle_seconds = 1).await;
    app.setting("first_byte_timeout_seconds", "1").await;
    app.setting("non_stream_timeout_seconds", "1").await;
    let (faulty_secret, backup_secret) = credentials(client);
    let base_override = script(&mock, client, stream, case);
    let mut faulty = account(client, "faulty", faulty_secret, &mock.url());
    if let Some(base) = base_override {
        faulty.base_url = Some(base);
    }
    app.add_account(faulty).await;
    app.add_account(account(client, "backup", backup_secret, &mock.url()))
        .await;
    let Some(req) = request(&app, client, stream) else {
        return Err("no request for this row".into());
    };
    let resp = req.send().await.map_err(|e| format!("send: {e}"))?;
    let code = resp.status().as_u16();
    let attempts = resp
        .headers()
        .get("x-switchyard-attempts")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let (body, aborted) = read_until_error(resp).await;
    let records = app.usage(1).await;
    let record = records.last().cloned().ok_or("no usage record")?;
    let faulty = app.live_account("faulty");
    let seen = format!(
        "client {code} {} attempts={attempts} | account {:?} | record {} {:?}",
        if aborted { "aborted" } else { "clean" },
        faulty.status,
        record.status,
        record.error_kind.as_deref().unwrap_or("-"),
    );
    let fail = |why: &str| Err(format!("{why}: {seen}"));
    match want {
        Expect::FailsOver(state) => {
            if code != 200 || aborted || !complete(client, stream, &body) {
                return fail("expected a complete answer from the backup");
            }
            if faulty.status != state {
                return fail(&format!("expected the faulty account {state:?}"));
            }
            if record.status != 200 || record.attempts != 2 || attempts != "2" {
                return fail("expected 2 attempts recorded");
            }
            if let Case::RateLimited429(_) = case {
                let until = faulty.status_until.ok_or("no cool-down end")?;
                let off = (until - chrono::Utc::now()).num_seconds() - RESET_IN;
                if off.abs() > 5 {
                    return fail(&format!("cool-down ends {off} s off the announced reset"));
                }
            }
        }
        Expect::Recovers => {
            if code != 200 || aborted || !complete(client, stream, &body) {
                return fail("expected a complete answer after the refresh");
            }
            if faulty.status != AccountStatus::Active || mock.count_for(backup_secret) != 0 {
                return fail("expected the same account to answer");
            }
        }
        Expect::Forwarded(status) => {
            let shaped = serde_json::from_slice::<serde_json::Value>(&body)
                .is_ok_and(|v| v.get("error").is_some());
            if code != status || !shaped || mock.count_for(backup_secret) != 0 {
                return fail("expected the upstream's error, without failover");
            }
            if faulty.status != AccountStatus::Active || record.status != status {
                return fail("expected the account untouched and the status recorded");
            }
        }
        Expect::BrokenAfter200(kind) => {
            if code != 200 || !aborted || !ends_with_error_signal(client, &body) {
                return fail("expected 200, the error signal and an aborted transfer");
            }
            if faulty.status != AccountStatus::Active {
                return fail("after the first byte no account is judged");
            }
            if !record
                .error_kind
                .as_deref()
                .is_some_and(|k| k.starts_with(kind))
            {
                return fail(&format!("expected error kind {kind}"));
            }
        }
        Expect::Aborted200(kind) => {
            if code != 200 || !aborted {
                return fail("expected 200 and an aborted transfer");
            }
            if !record
                .error_kind
                .as_deref()
                .is_some_and(|k| k.starts_with(kind))
            {
                return fail(&format!("expected error kind {kind}"));
            }
        }
        Expect::UpstreamErrorEvent => {
            if code != 200 || !ends_with_error_signal(client, &body) {
                return fail("expected the upstream's error event");
            }
            if !record
                .error_kind
                .as_deref()
                .is_some_and(|k| k.starts_with("stream_error"))
            {
                return fail("expected a stream_error record");
            }
        }
        Expect::Complete => {
            if code != 200 || aborted || !complete(client, stream, &body) {
                return fail("expected a complete answer");
            }
            if faulty.status != AccountStatus::Active || record.error_kind.is_some() {
                return fail("expected nothing marked");
            }
        }
    }
    app.stop().await;
    Ok(seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix() {
    let mut rows = Vec::new();
    for case in CASES {
        for client in CLIENTS {
            for stream in [true, false] {
                if let Some(want) = expect(client, stream, case)
                    && (stream || client != Client::GeminiArray)
                {
                    rows.push((client, stream, case, want));
                }
            }
        }
    }
    let results: Vec<_> = futures_util::stream::iter(rows)
        .map(|(client, stream, case, want)| async move {
            let got = run(client, stream, case, want).await;
            (client, stream, case, want, got)
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut table = String::from(
        "| fault | client | mode | expected | seen | ok |\n|---|---|---|---|---|---|\n",
    );
    let mut failures = String::new();
    let mut sorted = results;
    sorted.sort_by_key(|(client, stream, case, _, _)| {
        (format!("{case:?}"), format!("{client:?}"), !*stream)
    });
    for (client, stream, case, want, got) in &sorted {
        let mode = if *stream { "stream" } else { "non-stream" };
        let (seen, ok) = match got {
            Ok(s) => (s.clone(), "✓"),
            Err(e) => (e.clone(), "✗"),
        };
        let row = format!("| {case:?} | {client:?} | {mode} | {want:?} | {seen} | {ok} |\n");
        if got.is_err() {
            failures.push_str(&row);
        }
        table.push_str(&row);
    }
    println!("{table}");
    println!("{} rows", sorted.len());
    assert!(failures.is_empty(), "failing rows:\n{failures}");
}
