//! Load shapes: open loop at a fixed rate, closed loop at saturation, and many streams held open
//! at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::client::{Call, HttpClient, execute};
use crate::stats::{Batch, Sample};

/// Longest a single request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

async fn timed(client: &HttpClient, call: &Call, start: Instant) -> (Sample, Instant) {
    match tokio::time::timeout(REQUEST_TIMEOUT, execute(client, call, || {})).await {
        Ok(out) => {
            let sample = Sample {
                total: out.end.saturating_duration_since(start),
                ttfb: out
                    .first_byte
                    .unwrap_or(out.end)
                    .saturating_duration_since(start),
                ok: out.ok,
            };
            (sample, out.end)
        }
        Err(_) => {
            let now = Instant::now();
            let sample = Sample {
                total: now - start,
                ttfb: now - start,
                ok: false,
            };
            (sample, now)
        }
    }
}

/// Opens connections and warms both ends up; nothing is recorded.
pub async fn warm_up(client: &HttpClient, call: &Arc<Call>, workers: usize, duration: Duration) {
    let _ = closed_loop(client, call, workers, duration).await;
}

/// Open loop: request `i` is due at `t0 + i / rate` whatever happened to the earlier ones, and
/// its latency runs from that due time, so a stall is charged to every request it delayed
/// (no coordinated omission).
pub async fn open_loop(
    client: &HttpClient,
    call: &Arc<Call>,
    rate: f64,
    duration: Duration,
) -> Batch {
    let n = (rate * duration.as_secs_f64()).round().max(1.0) as usize;
    let t0 = Instant::now() + Duration::from_millis(20);
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let due = t0 + Duration::from_secs_f64(i as f64 / rate);
        if due > Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        let client = client.clone();
        let call = call.clone();
        handles.push(tokio::spawn(
            async move { timed(&client, &call, due).await },
        ));
    }
    collect(handles, n, t0).await
}

/// Closed loop: `workers` tasks each send the next request as soon as the previous one ends.
pub async fn closed_loop(
    client: &HttpClient,
    call: &Arc<Call>,
    workers: usize,
    duration: Duration,
) -> Batch {
    let t0 = Instant::now();
    let deadline = t0 + duration;
    let sent = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::with_capacity(workers);
    for _ in 0..workers {
        let client = client.clone();
        let call = call.clone();
        let sent = sent.clone();
        handles.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut last = Instant::now();
            while Instant::now() < deadline {
                sent.fetch_add(1, Ordering::Relaxed);
                let (sample, end) = timed(&client, &call, Instant::now()).await;
                out.push(sample);
                last = end;
            }
            (out, last)
        }));
    }
    let mut samples = Vec::new();
    let mut last = t0;
    for h in handles {
        if let Ok((s, end)) = h.await {
            samples.extend(s);
            last = last.max(end);
        }
    }
    Batch {
        samples,
        sent: sent.load(Ordering::Relaxed),
        elapsed: last - t0,
    }
}

async fn collect(
    handles: Vec<tokio::task::JoinHandle<(Sample, Instant)>>,
    sent: usize,
    t0: Instant,
) -> Batch {
    let mut samples = Vec::with_capacity(handles.len());
    let mut last = t0;
    for h in handles {
        if let Ok((s, end)) = h.await {
            samples.push(s);
            last = last.max(end);
        }
    }
    Batch {
        samples,
        sent,
        elapsed: last.saturating_duration_since(t0),
    }
}

/// What happened when many streams were held open at once.
#[derive(Clone, Debug, Default)]
pub struct HeldStreams {
    pub requested: usize,
    /// Streams that got their first byte.
    pub opened: usize,
    /// Most streams that had their first byte and had not yet ended, at any moment.
    pub max_open: usize,
    /// Streams that ended well.
    pub completed: usize,
    pub errors: usize,
    /// From the first send until every stream had its first byte (or gave up).
    pub open_time: Duration,
    /// Every stream got its first byte before any stream ended.
    pub all_open_at_once: bool,
    /// RSS (KiB) of the watched process just before the first stream was sent.
    pub rss_before_kib: Option<u64>,
    /// Largest RSS (KiB) of the watched process while the streams were held.
    pub rss_held_kib: Option<u64>,
}

impl HeldStreams {
    /// RSS growth per open stream, KiB.
    pub fn kib_per_stream(&self) -> Option<f64> {
        let (before, held) = (self.rss_before_kib?, self.rss_held_kib?);
        (self.max_open > 0).then(|| held.saturating_sub(before) as f64 / self.max_open as f64)
    }
}

/// Opens `n` streams (at most `connecting` in flight before their first byte, so the listen
/// backlog never overflows), waits until all are open, samples the watched process's RSS while
/// they are held, then reads every stream to its end.
pub async fn hold_streams(
    call: &Arc<Call>,
    n: usize,
    connecting: usize,
    watch_pid: Option<u32>,
    hold: Duration,
) -> HeldStreams {
    let client = crate::client::new_client();
    let gate = Arc::new(Semaphore::new(connecting.max(1)));
    let opened = Arc::new(AtomicUsize::new(0));
    let ended = Arc::new(AtomicUsize::new(0));
    let rss_before_kib = watch_pid.and_then(crate::proc::memory).map(|m| m.rss_kib);
    let t0 = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        let Ok(permit) = gate.clone().acquire_owned().await else {
            break;
        };
        let client = client.clone();
        let call = call.clone();
        let opened = opened.clone();
        let ended = ended.clone();
        handles.push(tokio::spawn(async move {
            let timeout = hold + Duration::from_secs(60);
            let out = tokio::time::timeout(
                timeout,
                execute(&client, &call, move || {
                    drop(permit);
                    opened.fetch_add(1, Ordering::Relaxed);
                }),
            )
            .await;
            ended.fetch_add(1, Ordering::Relaxed);
            out.ok()
        }));
    }
    // Wait until every stream is open (or some have ended), sampling RSS throughout.
    let mut rss_max: Option<u64> = None;
    let mut max_open = 0;
    let mut open_time = None;
    loop {
        let o = opened.load(Ordering::Relaxed);
        let e = ended.load(Ordering::Relaxed);
        max_open = max_open.max(o.saturating_sub(e));
        if let Some(pid) = watch_pid
            && let Some(mem) = crate::proc::memory(pid)
        {
            rss_max = Some(rss_max.unwrap_or(0).max(mem.rss_kib));
        }
        if open_time.is_none() && o >= handles.len() {
            open_time = Some(t0.elapsed());
        }
        if e >= handles.len() {
            break;
        }
        // Once all are open, a few more samples while they are held are enough; and streams
        // that could not open within the hold will not make it "all at once" anyway.
        if open_time.is_some_and(|t| t0.elapsed() > t + Duration::from_secs(2))
            || t0.elapsed() > hold
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut result = HeldStreams {
        requested: n,
        max_open,
        rss_before_kib,
        rss_held_kib: rss_max,
        ..HeldStreams::default()
    };
    let mut last_first = None::<Instant>;
    let mut first_end = None::<Instant>;
    for h in handles {
        match h.await {
            Ok(Some(out)) => {
                if let Some(fb) = out.first_byte {
                    result.opened += 1;
                    last_first = Some(last_first.map_or(fb, |l| l.max(fb)));
                }
                first_end = Some(first_end.map_or(out.end, |f| f.min(out.end)));
                if out.ok {
                    result.completed += 1;
                } else {
                    result.errors += 1;
                }
            }
            _ => result.errors += 1,
        }
    }
    result.open_time = open_time.unwrap_or_else(|| t0.elapsed());
    result.all_open_at_once =
        result.opened == n && matches!((last_first, first_end), (Some(l), Some(f)) if l < f);
    if result.all_open_at_once {
        result.max_open = n;
    }
    result
}
