//! Memory scenarios (issue 15): does Switchyard give memory back after a burst? Large request
//! bodies sent at once, then rounds of many streams, with RSS read after each has settled.
//! Run the same scenarios under different allocators (`--features mimalloc` builds, or glibc
//! tunables in the environment) and compare the lines.

use std::sync::Arc;
use std::time::Duration;

use crate::client::{Call, execute, new_client};
use crate::load::hold_streams;
use crate::proc;
use crate::relay::Relay;

/// What the memory scenarios found, as lines for the report.
pub struct MemoryReport {
    pub lines: Vec<String>,
}

fn mib(kib: Option<u64>) -> String {
    kib.map(|k| format!("{:.0} MiB", k as f64 / 1024.0))
        .unwrap_or_else(|| "n/a".into())
}

/// `bodies` requests of `body_mb` MB each, sent at once; then `rounds` rounds of `streams`
/// streams held `hold` each. RSS is read `settle` after each part ends.
pub async fn run(
    relay: &Relay,
    bodies: usize,
    body_mb: usize,
    rounds: usize,
    streams: usize,
    hold: Duration,
    settle: Duration,
) -> anyhow::Result<MemoryReport> {
    let mut lines = Vec::new();
    let idle = proc::memory(relay.pid).map(|m| m.rss_kib);
    lines.push(format!("idle RSS {}", mib(idle)));

    // Large bodies at once.
    let filler = "x".repeat(body_mb * 1_000_000);
    let body = serde_json::json!({
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 16,
        "metadata": {"user_id": filler},
        "messages": [{"role": "user", "content": "hi"}],
    });
    let headers = vec![
        ("x-api-key", relay.key.clone()),
        ("anthropic-version", "2023-06-01".to_owned()),
    ];
    let call = Arc::new(Call::post(
        &relay.base,
        "/v1/messages",
        &headers,
        &body,
        b"",
    )?);
    drop(body);
    let reset = proc::reset_peak(relay.pid);
    let client = new_client();
    let sends = (0..bodies).map(|_| {
        let (client, call) = (client.clone(), call.clone());
        tokio::spawn(async move { execute(&client, &call, || {}).await.status })
    });
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for s in futures_join(sends).await {
        *statuses.entry(s).or_default() += 1;
    }
    let peak = proc::memory(relay.pid).map(|m| if reset { m.hwm_kib } else { m.rss_kib });
    drop(client);
    tokio::time::sleep(settle).await;
    let after = proc::memory(relay.pid).map(|m| m.rss_kib);
    lines.push(format!(
        "{bodies} × {body_mb} MB bodies at once: statuses {statuses:?}; peak RSS {}, {} s later {}",
        mib(peak),
        settle.as_secs(),
        mib(after)
    ));

    // Rounds of many streams.
    if rounds > 0 && streams > 0 {
        let stream_body = serde_json::json!({
            "model": "claude-sonnet-4-20250514",
            "max_tokens": 16,
            "stream": true,
            "messages": [{"role": "user", "content": "hi"}],
        });
        let call = Arc::new(Call::post(
            &relay.base,
            "/v1/messages",
            &headers,
            &stream_body,
            b"message_stop",
        )?);
        let mut rounds_seen = Vec::new();
        for _ in 0..rounds {
            let held = hold_streams(&call, streams, 256, Some(relay.pid), hold).await;
            tokio::time::sleep(settle).await;
            rounds_seen.push(format!(
                "held {} / after {}",
                mib(held.rss_held_kib),
                mib(proc::memory(relay.pid).map(|m| m.rss_kib))
            ));
        }
        lines.push(format!(
            "{rounds} rounds of {streams} streams held {} s, RSS while held and {} s after: {}",
            hold.as_secs(),
            settle.as_secs(),
            rounds_seen.join(" → ")
        ));
    }
    Ok(MemoryReport { lines })
}

async fn futures_join(handles: impl Iterator<Item = tokio::task::JoinHandle<u16>>) -> Vec<u16> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await.unwrap_or(0));
    }
    out
}
