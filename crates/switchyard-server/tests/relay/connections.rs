//! Connections held by clients that send nothing, send slowly or send too much: closed on
//! time, without touching requests that are really in flight, and never at the cost of the
//! clients that behave. Raw sockets on loopback against the real server.

use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use switchyard_testkit::{Fault, MockUpstream};

use crate::support::{AccountSpec, TestApp, body, send_status};

/// Short timers so the test takes seconds: heads within 1 s, keep-alive 1 s, body pauses 1 s.
fn quick(config: &mut switchyard_server::Config) {
    config.timeouts.client_header_seconds = 1;
    config.timeouts.client_keepalive_seconds = 1;
    config.timeouts.client_body_idle_seconds = 1;
}

fn addr(app: &TestApp) -> String {
    app.url.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection (or `within` passes); returns what was read
/// and whether it closed.
async fn read_to_close(tcp: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

fn head(app: &TestApp, content_length: usize) -> String {
    format!(
        "POST /v1/messages HTTP/1.1\r\nhost: {}\r\nx-api-key: {}\r\n\
         anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n\
         content-length: {content_length}\r\n\r\n",
        addr(app),
        app.key
    )
}

#[tokio::test]
async fn silent_trickling_and_half_sent_clients_are_closed_while_others_are_served() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start_with(&mock, quick).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;

    // 200 sockets that never send a byte.
    let mut silent = Vec::new();
    for _ in 0..200 {
        silent.push(TcpStream::connect(addr(&app)).await.unwrap());
    }
    // 20 that send a request head a byte every 300 ms (slowloris).
    let head_text = head(&app, 10);
    let mut trickling = Vec::new();
    for _ in 0..20 {
        let mut tcp = TcpStream::connect(addr(&app)).await.unwrap();
        let bytes = head_text.clone().into_bytes();
        trickling.push(tokio::spawn(async move {
            let started = Instant::now();
            for b in bytes {
                if tcp.write_all(&[b]).await.is_err() {
                    return started.elapsed();
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
                // A closed connection shows on the read side first.
                let mut probe = [0u8; 1];
                if let Ok(Ok(0)) =
                    tokio::time::timeout(Duration::from_millis(1), tcp.read(&mut probe)).await
                {
                    return started.elapsed();
                }
            }
            Duration::MAX
        }));
    }
    // 10 that send a whole head and half a body, then stop.
    let mut half_sent = Vec::new();
    for _ in 0..10 {
        let mut tcp = TcpStream::connect(addr(&app)).await.unwrap();
        tcp.write_all(head(&app, 1000).as_bytes()).await.unwrap();
        tcp.write_all(b"{\"model\":").await.unwrap();
        half_sent.push(tcp);
    }

    // Clients that behave are served meanwhile.
    for _ in 0..3 {
        assert_eq!(send_status(app.messages(body(false))).await, 200);
    }

    let started = Instant::now();
    for tcp in &mut silent {
        let (_, closed) = read_to_close(tcp, Duration::from_secs(3)).await;
        assert!(
            closed,
            "a silent connection is closed after the header timeout"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    for t in trickling {
        let held = t.await.unwrap();
        assert!(
            held < Duration::from_secs(3),
            "a head trickled in is cut at the header timeout, held {held:?}"
        );
    }
    for mut tcp in half_sent {
        let (text, closed) = read_to_close(&mut tcp, Duration::from_secs(3)).await;
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(
            text.contains(r#""type":"error""#),
            "in the client's dialect: {text}"
        );
        assert!(closed);
    }
    assert_eq!(send_status(app.messages(body(false))).await, 200);
    // The half-sent requests were refused after authentication: recorded as such.
    let records = app.usage(14).await;
    assert_eq!(records.iter().filter(|r| r.status == 408).count(), 10);
    app.stop().await;
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_refused_before_it_is_sent() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start(&mock).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    let mut tcp = TcpStream::connect(addr(&app)).await.unwrap();
    tcp.write_all(head(&app, 33 * 1024 * 1024).as_bytes())
        .await
        .unwrap();
    let (text, _) = read_to_close(&mut tcp, Duration::from_secs(2)).await;
    assert!(
        text.starts_with("HTTP/1.1 413"),
        "answered at once, without waiting for 33 MiB: {text:?}"
    );
    assert!(text.contains("request_too_large"), "{text}");
    assert_eq!(mock.request_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn requests_in_flight_outlive_the_idle_timers_and_idle_keepalive_connections_close() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start_with(&mock, quick).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    // Waiting 2.5 s for the upstream, longer than both timers: the connection stays.
    mock.push(Fault::SlowFirstByte(Duration::from_millis(2500)));
    assert_eq!(send_status(app.messages(body(false))).await, 200);
    mock.push(Fault::SlowFirstByte(Duration::from_millis(2500)));
    let resp = app.messages(body(true)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.contains("message_stop"));

    // A keep-alive connection whose request has been answered closes after 1 s of quiet.
    let payload = serde_json::to_string(&body(false)).unwrap();
    let mut tcp = TcpStream::connect(addr(&app)).await.unwrap();
    tcp.write_all(head(&app, payload.len()).as_bytes())
        .await
        .unwrap();
    tcp.write_all(payload.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (text, closed) = read_to_close(&mut tcp, Duration::from_secs(4)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(closed);
    let held = started.elapsed();
    assert!(
        held >= Duration::from_millis(900) && held < Duration::from_secs(3),
        "kept alive for the keep-alive time, then closed: {held:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn at_the_connection_cap_idle_connections_make_room_and_busy_ones_are_waited_for() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start_with(&mock, |c| {
        c.max_connections = 8;
        c.timeouts.client_header_seconds = 30;
    })
    .await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    // Eight silent sockets fill the cap: a client arriving now is served at once, and the
    // socket idle longest is closed to make room.
    let mut hogs = Vec::new();
    for _ in 0..8 {
        hogs.push(TcpStream::connect(addr(&app)).await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let status = send_status(app.messages(body(false)).timeout(Duration::from_secs(5))).await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "served without waiting for the silent sockets' timeout: {:?}",
        started.elapsed()
    );
    let (_, oldest_closed) = read_to_close(&mut hogs[0], Duration::from_millis(500)).await;
    assert!(oldest_closed, "the connection idle longest made room");
    let metrics = app.state.metrics.render();
    let reached = metrics
        .lines()
        .find(|l| l.starts_with("switchyard_connection_cap_reached_total"))
        .unwrap_or_default()
        .to_string();
    assert!(
        reached
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|v| v >= 1.0),
        "{reached:?}"
    );
    drop(hogs);
    app.stop().await;

    // Eight requests in flight fill the cap: nothing is closed under them; a ninth client
    // waits until one has its answer.
    let mock = MockUpstream::start().await;
    let app = TestApp::start_with(&mock, |c| c.max_connections = 8).await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    mock.push_n(8, Fault::SlowFirstByte(Duration::from_millis(1500)));
    let busy: Vec<_> = (0..8)
        .map(|_| {
            let req = app.messages(body(false));
            tokio::spawn(async move { send_status(req).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let started = Instant::now();
    let ninth = reqwest::Client::new()
        .post(format!("{}/v1/messages", app.url))
        .header("x-api-key", &app.key)
        .json(&body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(ninth.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "the ninth waited for room: {:?}",
        started.elapsed()
    );
    for b in busy {
        assert_eq!(b.await.unwrap(), 200, "no request in flight was cut");
    }
    app.stop().await;
}

#[tokio::test]
async fn bodies_beyond_the_memory_budget_wait_then_get_503_and_pass_once_room_frees() {
    let mock = MockUpstream::start().await;
    let app = TestApp::start_with(&mock, |c| {
        c.body_limit_bytes = 1024 * 1024;
        c.body_budget_bytes = 1024 * 1024;
        c.timeouts.client_body_idle_seconds = 1;
    })
    .await;
    app.add_account(AccountSpec::claude("a", "sk-ant-a")).await;
    // A client declares 900 KB and trickles it: its room is taken for as long as it sends.
    let mut hog = TcpStream::connect(addr(&app)).await.unwrap();
    hog.write_all(head(&app, 900 * 1024).as_bytes())
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        loop {
            if hog.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut big = body(false);
    big["metadata"] = serde_json::json!({ "user_id": "x".repeat(600 * 1024) });
    let started = Instant::now();
    let resp = app.messages(big.clone()).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let e: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(e["error"]["type"], "overloaded_error");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "it waited first"
    );
    trickle.abort();
    let _ = trickle.await;
    // The hog's connection is gone; its room comes back.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(send_status(app.messages(big)).await, 200);
    app.stop().await;
}
