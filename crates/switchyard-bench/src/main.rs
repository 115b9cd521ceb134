//! `switchyard-bench`: runs the same load direct to a mock upstream and through Switchyard, side
//! by side in one run, and reports what Switchyard adds. See `BENCHMARKS.md`.

#![allow(
    clippy::disallowed_methods,
    reason = "load tasks are joined by their runner; there is no server shutdown here"
)]

mod client;
mod load;
mod memory;
mod proc;
mod prom;
mod relay;
mod report;
mod stats;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use switchyard_testkit::MockUpstream;

use crate::client::{Call, HttpClient, new_client};
use crate::load::{closed_loop, hold_streams, open_loop, warm_up};
use crate::relay::Relay;
use crate::report::{Held, Pair, Report};
use crate::stats::{Batch, RunStats};

/// Descriptors a process needs besides the streams (listeners, store files, epoll, stdio…).
/// Also covers the idle keep-alive connections Switchyard keeps to the mock from earlier
/// scenarios (their mock ends live in this process).
const FD_RESERVE: u64 = 200;

#[derive(Parser, Debug, Clone)]
#[command(
    about = "Switchyard overhead benchmark: the same load direct to a mock upstream and through Switchyard"
)]
struct Args {
    /// Seconds per measured run (each scenario runs once direct and once through Switchyard).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Fixed request rates (requests per second) for the non-streaming scenarios.
    #[arg(long, value_delimiter = ',', default_value = "500,1000,2000")]
    rates: Vec<f64>,
    /// Slices each measured run is cut into, alternating direct and Switchyard.
    #[arg(long, default_value_t = 10)]
    slices: u32,
    /// Concurrent workers of the closed-loop saturation scenario.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Streams started per second in the streaming scenarios.
    #[arg(long, default_value_t = 200.0)]
    stream_rate: f64,
    /// Text deltas per stream in the streaming scenarios (about 60 SSE events at 50).
    #[arg(long, default_value_t = 50)]
    deltas: usize,
    /// Streams held open at once in the open-streams scenario (0 skips it).
    #[arg(long, default_value_t = 10_000)]
    streams: usize,
    /// Seconds the mock holds each stream open after its first event.
    #[arg(long, default_value_t = 15)]
    hold: u64,
    /// Skip the direct-to-mock run of the open-streams scenario.
    #[arg(long)]
    no_direct_streams: bool,
    /// The switchyard binary (default: built by cargo, next to this executable).
    #[arg(long)]
    switchyard: Option<PathBuf>,
    /// Do not run `cargo build -p switchyard` first.
    #[arg(long)]
    no_build: bool,
    /// Run only these scenario groups (comma list of `rates`, `saturation`, `streams`,
    /// `open-streams`, `memory`); default all but `memory`.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Memory scenario: request bodies sent at once …
    #[arg(long, default_value_t = 20)]
    memory_bodies: usize,
    /// … of this many MB each …
    #[arg(long, default_value_t = 31)]
    memory_body_mb: usize,
    /// … then rounds of held streams …
    #[arg(long, default_value_t = 3)]
    memory_rounds: usize,
    /// … of this many streams each, held this many seconds …
    #[arg(long, default_value_t = 2000)]
    memory_streams: usize,
    #[arg(long, default_value_t = 2)]
    memory_hold: u64,
    /// … with RSS read this many seconds after each part.
    #[arg(long, default_value_t = 20)]
    memory_settle: u64,
    /// A setting for Switchyard, `SWITCHYARD_NAME=value`, repeatable: e.g. a PostgreSQL
    /// schema and a Redis to measure the scale-out configuration.
    #[arg(long = "env", value_name = "SWITCHYARD_NAME=VALUE", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Where `latest.md` and `latest.json` go.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench-results"))]
    out: PathBuf,
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if k.starts_with("SWITCHYARD_") => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected SWITCHYARD_NAME=VALUE, got `{text}`")),
    }
}

fn anthropic_body(stream: bool) -> serde_json::Value {
    // About the size of a short Claude Code turn: a system prompt, a few messages.
    let filler = "The function reads the configuration, validates every field and returns the \
                  first error it finds, so the caller can report it with the field's name. ";
    serde_json::json!({
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 1024,
        "stream": stream,
        "system": [{"type": "text", "text": filler.repeat(4)}],
        "metadata": {"user_id": "user_8f14e45fceea167a_account__session_2c7f1f5e-bench"},
        "messages": [
            {"role": "user", "content": filler.repeat(3)},
            {"role": "assistant", "content": "Understood. Which part should change?"},
            {"role": "user", "content": "Move the error handling into a helper."}
        ]
    })
}

fn chat_body() -> serde_json::Value {
    serde_json::json!({
        "model": "gpt-5-mini",
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Move the error handling into a helper."}
        ]
    })
}

/// The same request addressed to the mock (upstream credential) and to Switchyard (its key).
struct Targets {
    direct: Arc<Call>,
    relay: Arc<Call>,
}

fn anthropic_targets(mock: &str, relay: &Relay, stream: bool) -> anyhow::Result<Targets> {
    let marker: &'static [u8] = if stream { b"message_stop" } else { b"" };
    let body = anthropic_body(stream);
    let headers = |key: &str| {
        vec![
            ("x-api-key", key.to_owned()),
            ("anthropic-version", "2023-06-01".to_owned()),
        ]
    };
    Ok(Targets {
        direct: Arc::new(Call::post(
            mock,
            "/v1/messages",
            &headers(relay::UPSTREAM_KEY),
            &body,
            marker,
        )?),
        relay: Arc::new(Call::post(
            &relay.base,
            "/v1/messages",
            &headers(&relay.key),
            &body,
            marker,
        )?),
    })
}

/// A Chat Completions stream for a Claude model through Switchyard (converted to Messages for
/// the Claude account, the answer converted back), against the same Messages stream direct:
/// the added time is the relay's and the conversion's.
fn converted_targets(mock: &str, relay: &Relay) -> anyhow::Result<Targets> {
    let direct = anthropic_targets(mock, relay, true)?.direct;
    let mut body = chat_body();
    body["model"] = anthropic_body(true)["model"].clone();
    let bearer = vec![("authorization", format!("Bearer {}", relay.key))];
    Ok(Targets {
        direct,
        relay: Arc::new(Call::post(
            &relay.base,
            "/v1/chat/completions",
            &bearer,
            &body,
            b"[DONE]",
        )?),
    })
}

fn chat_targets(mock: &str, relay: &Relay) -> anyhow::Result<Targets> {
    let body = chat_body();
    let bearer = |key: &str| vec![("authorization", format!("Bearer {key}"))];
    Ok(Targets {
        direct: Arc::new(Call::post(
            mock,
            "/v1/chat/completions",
            &bearer(relay::OPENAI_UPSTREAM_KEY),
            &body,
            b"[DONE]",
        )?),
        relay: Arc::new(Call::post(
            &relay.base,
            "/v1/chat/completions",
            &bearer(&relay.key),
            &body,
            b"[DONE]",
        )?),
    })
}

/// Runs `measure` direct and through Switchyard, alternating in `slices` slices of equal length
/// (D S D S …) so that drift on a shared machine hits both sides alike, each side with its own
/// warmed-up keep-alive pool. Also notes Switchyard's peak RSS meanwhile.
async fn side_by_side<F, Fut>(
    relay: &Relay,
    targets: &Targets,
    warm_workers: usize,
    duration: Duration,
    slices: u32,
    measure: F,
) -> (RunStats, RunStats, Option<u64>)
where
    F: Fn(HttpClient, Arc<Call>, Duration) -> Fut,
    Fut: std::future::Future<Output = Batch>,
{
    let slices = slices.max(1);
    let slice = duration / slices;
    let warm = Duration::from_millis(500);
    let direct_client = new_client();
    let relay_client = new_client();
    warm_up(&direct_client, &targets.direct, warm_workers, warm).await;
    warm_up(&relay_client, &targets.relay, warm_workers, warm).await;
    let reset = proc::reset_peak(relay.pid);
    let mut direct = Batch::default();
    let mut through = Batch::default();
    for _ in 0..slices {
        direct.extend(measure(direct_client.clone(), targets.direct.clone(), slice).await);
        through.extend(measure(relay_client.clone(), targets.relay.clone(), slice).await);
    }
    let peak = proc::memory(relay.pid).map(|m| if reset { m.hwm_kib } else { m.rss_kib });
    (direct.stats(), through.stats(), peak)
}

fn say(line: impl AsRef<str>) {
    println!("{}", line.as_ref());
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let duration = Duration::from_secs_f64(args.duration.max(0.1));
    let machine = proc::Machine::detect();
    say(format!("machine: {}", machine.line()));

    // Each held stream costs two descriptors here (client socket + mock socket) and two in
    // Switchyard (client connection + upstream connection), which inherits this limit.
    let mut notes = Vec::new();
    let limit = proc::open_file_limit();
    let streams = match limit {
        Some((soft, hard)) => {
            say(format!("open-file limit: {soft} (hard {hard})"));
            let fit = (soft.saturating_sub(FD_RESERVE) / 2) as usize;
            if args.streams > fit {
                let note = format!(
                    "open-file limit {soft} (hard {hard}) fits {fit} held streams, not {}: \
                     each stream holds 2 descriptors in this process and 2 in Switchyard; \
                     raise it with `ulimit -n 65536` before running",
                    args.streams
                );
                say(format!("note: {note}"));
                notes.push(note);
                fit
            } else {
                args.streams
            }
        }
        None => args.streams,
    };

    let bin = relay::locate(args.switchyard.clone(), !args.no_build)?;
    say(format!("switchyard: {}", bin.display()));

    let mock = MockUpstream::try_start()
        .await
        .context("cannot start the mock upstream")?;
    mock.set_recording(false);
    let mock_url = mock.url();
    let relay = Relay::start(&bin, &mock_url, &args.env).await?;
    let idle = proc::memory(relay.pid);
    say(format!(
        "switchyard pid {} on {}; mock on {}; idle RSS {}",
        relay.pid,
        relay.base,
        mock_url,
        report::mib_opt(idle.map(|m| m.rss_kib))
    ));

    let mut rep = Report::new(machine, &args_json(&args, streams), limit);
    rep.idle_rss_kib = idle.map(|m| m.rss_kib);
    rep.notes = notes;
    let result = run(&args, duration, streams, &mock, &mock_url, &relay, &mut rep).await;
    if let Err(e) = &result {
        say(format!(
            "run failed: {e:#}\nswitchyard log:\n{}",
            relay.log_tail()
        ));
    }

    rep.final_rss = proc::memory(relay.pid);
    relay.stop().await?;
    mock.shutdown().await;
    result?;

    let md = rep.markdown();
    println!("\n{md}");
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let md_path = args.out.join("latest.md");
    let json_path = args.out.join("latest.json");
    std::fs::write(&md_path, &md)?;
    std::fs::write(&json_path, serde_json::to_string_pretty(&rep.json())?)?;
    say(format!(
        "written: {} and {}",
        md_path.display(),
        json_path.display()
    ));
    Ok(())
}

fn args_json(args: &Args, streams: usize) -> serde_json::Value {
    serde_json::json!({
        "duration_s": args.duration,
        "rates": args.rates,
        "concurrency": args.concurrency,
        "stream_rate": args.stream_rate,
        "deltas": args.deltas,
        "streams_requested": args.streams,
        "streams": streams,
        "hold_s": args.hold,
        "slices": args.slices,
    })
}

async fn run(
    args: &Args,
    duration: Duration,
    streams: usize,
    mock: &MockUpstream,
    mock_url: &str,
    relay: &Relay,
    rep: &mut Report,
) -> anyhow::Result<()> {
    let wants = |group: &str| args.only.is_empty() || args.only.iter().any(|g| g == group);
    if args.only.iter().any(|g| g == "memory") {
        let hold = Duration::from_secs(args.memory_hold);
        mock.set_stream_hold(hold);
        say("running: memory (large bodies, then rounds of streams) …");
        let found = memory::run(
            relay,
            args.memory_bodies,
            args.memory_body_mb,
            args.memory_rounds,
            args.memory_streams,
            hold,
            Duration::from_secs(args.memory_settle),
        )
        .await?;
        mock.set_stream_hold(Duration::ZERO);
        for line in &found.lines {
            say(format!("memory: {line}"));
        }
        rep.memory = found.lines;
    }
    // Non-streaming, open loop at fixed rates.
    let plain = anthropic_targets(mock_url, relay, false)?;
    let rates: &[f64] = if wants("rates") { &args.rates } else { &[] };
    for &rate in rates {
        let name = format!("messages, {rate} rps");
        say(format!("running: {name} …"));
        let (d, s, rss) = side_by_side(
            relay,
            &plain,
            4,
            duration,
            args.slices,
            |c, call, t| async move { open_loop(&c, &call, rate, t).await },
        )
        .await;
        rep.pairs.push(Pair::new(name, false, d, s, rss));
        say(rep.pairs.last().map(Pair::line).unwrap_or_default());
    }

    // Non-streaming, closed loop at saturation.
    if wants("saturation") {
        let workers = args.concurrency;
        let name = format!("messages, saturation ({workers} workers)");
        say(format!("running: {name} …"));
        let (d, s, rss) = side_by_side(
            relay,
            &plain,
            workers,
            duration,
            args.slices,
            |c, call, t| async move { closed_loop(&c, &call, workers, t).await },
        )
        .await;
        rep.pairs.push(Pair::new(name, false, d, s, rss));
        rep.saturation = rep.pairs.len().checked_sub(1);
        say(rep.pairs.last().map(Pair::line).unwrap_or_default());
    }

    // Streams, open loop.
    if wants("streams") {
        mock.set_deltas(args.deltas);
        let rate = args.stream_rate;
        let stream_pair = |name: String, targets: Targets| {
            say(format!("running: {name} …"));
            async move {
                let (d, s, rss) = side_by_side(
                    relay,
                    &targets,
                    4,
                    duration,
                    args.slices,
                    |c, call, t| async move { open_loop(&c, &call, rate, t).await },
                )
                .await;
                Pair::new(name, true, d, s, rss)
            }
        };
        let stream = anthropic_targets(mock_url, relay, true)?;
        let name = format!("anthropic stream, {rate} streams/s");
        let pair = stream_pair(name, stream).await;
        say(pair.line());
        rep.pairs.push(pair);

        // Chat Completions native, then converted to the Claude account, where the build has
        // them.
        let optional = [
            (
                "chat",
                format!("openai chat stream, {rate} streams/s"),
                chat_targets(mock_url, relay)?,
            ),
            (
                "converted chat",
                format!("chat stream converted to a claude account, {rate} streams/s"),
                converted_targets(mock_url, relay)?,
            ),
        ];
        for (label, name, targets) in optional {
            match chat_available(relay, &targets).await {
                Ok(()) => {
                    let pair = stream_pair(name, targets).await;
                    say(pair.line());
                    rep.pairs.push(pair);
                }
                Err(why) => {
                    say(format!("{label}: {why}"));
                    rep.notes.push(format!("{label}: {why}"));
                }
            }
        }
        mock.set_deltas(switchyard_testkit::bodies::DEFAULT_DELTAS);
    }

    // Many streams held open at once: direct first (Switchyard's idle upstream connections are
    // fewest then), then through Switchyard.
    if streams > 0 && wants("open-streams") {
        let hold = Duration::from_secs(args.hold);
        mock.set_stream_hold(hold);
        let open = anthropic_targets(mock_url, relay, true)?;
        if !args.no_direct_streams {
            say(format!(
                "running: {streams} open streams direct to the mock …"
            ));
            // Watch this process (load generator + mock): the same two connection ends per
            // stream as in Switchyard, without the relay in between.
            let me = std::process::id();
            let direct = hold_streams(&open.direct, streams, 256, Some(me), hold).await;
            rep.held.push(Held {
                target: "direct (RSS: this bench process, client + mock)",
                result: direct,
                peak_rss_kib: None,
            });
            say(rep.held.last().map(Held::line).unwrap_or_default());
        }
        say(format!(
            "running: {streams} open streams through switchyard, held {} s …",
            args.hold
        ));
        let reset = proc::reset_peak(relay.pid);
        let through = hold_streams(&open.relay, streams, 256, Some(relay.pid), hold).await;
        let peak = proc::memory(relay.pid).map(|m| if reset { m.hwm_kib } else { m.rss_kib });
        rep.held.push(Held {
            target: "switchyard",
            result: through,
            peak_rss_kib: peak,
        });
        say(rep.held.last().map(Held::line).unwrap_or_default());
        mock.set_stream_hold(Duration::ZERO);
    }

    // Switchyard's own view of its overhead.
    let http = new_client();
    match relay.metrics(&http).await {
        Ok(text) => rep.set_metrics(&text),
        Err(e) => rep.notes.push(format!("/metrics unreadable: {e:#}")),
    }
    Ok(())
}

/// One request through Switchyard's Chat Completions endpoint, to tell "not in this build"
/// from a working endpoint.
async fn chat_available(relay: &Relay, chat: &Targets) -> Result<(), String> {
    if let Some(why) = &relay.chat_unavailable {
        return Err(format!("not available in this build ({why})"));
    }
    let out = client::execute(&new_client(), &chat.relay, || {}).await;
    match out.status {
        404 => Err("not available in this build (POST /v1/chat/completions answers 404)".into()),
        _ if out.ok => Ok(()),
        status => Err(format!(
            "POST /v1/chat/completions through switchyard failed (status {status}); skipped"
        )),
    }
}
