//! The batched usage writer. Records arrive over a bounded channel (a full channel makes the
//! sender wait: back-pressure, never a drop), are written in batches, retried while the store
//! fails, and flushed when the writer is closed at shutdown.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::{Store, UsageRecord};

const BATCH: usize = 256;
/// How long a batch waits for more records. It bounds what a `kill -9` can take: the records
/// of requests that finished in the last `LINGER` (ADR 0008: 200 ms lost up to 72 ms of
/// finished requests at 100 rps, 20 ms loses at most 20 ms). Under load batches fill first.
const LINGER: Duration = Duration::from_millis(20);
const RETRY: Duration = Duration::from_secs(1);
/// At shutdown, how long a failing store is retried before the records go to a spill file.
const SHUTDOWN_RETRIES: u32 = 5;
/// Spill files: `usage-spill-<millis>.jsonl`, one record per line, replayed at the next start.
const SPILL_PREFIX: &str = "usage-spill-";

#[derive(Clone)]
pub struct UsageSink {
    tx: mpsc::Sender<UsageRecord>,
    health: Arc<WriterHealth>,
}

/// Whether records are reaching the store, for `/readyz` and `/metrics`.
#[derive(Default)]
pub struct WriterHealth {
    failing: AtomicBool,
    /// Records taken from the channel and not yet stored.
    unsaved: AtomicU64,
    failed_writes: AtomicU64,
}

impl WriterHealth {
    /// The last write failed and its records still wait in memory.
    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    pub fn unsaved(&self) -> u64 {
        self.unsaved.load(Ordering::Relaxed)
    }

    pub fn failed_writes(&self) -> u64 {
        self.failed_writes.load(Ordering::Relaxed)
    }
}

impl UsageSink {
    /// Waits for room in the channel. Fails only after the writer was closed.
    pub async fn send(&self, record: UsageRecord) -> Result<(), UsageRecord> {
        self.tx.send(record).await.map_err(|e| e.0)
    }

    /// The channel is full: the writer is not keeping up (the store is slow or down). The
    /// relay stops admitting requests then, so records waiting for room stay bounded by the
    /// requests already in flight.
    pub fn is_saturated(&self) -> bool {
        self.tx.capacity() == 0
    }

    pub fn health(&self) -> &WriterHealth {
        &self.health
    }

    /// Records waiting: in the channel and in the writer's hands.
    pub fn backlog(&self) -> u64 {
        (self.tx.max_capacity() - self.tx.capacity()) as u64 + self.health.unsaved()
    }

    /// For callers that cannot wait (a body being dropped): tries at once, and when the
    /// channel is full hands the record to a task that waits for room.
    pub fn send_detached(&self, record: UsageRecord) {
        match self.tx.try_send(record) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(record)) => {
                let tx = self.tx.clone();
                #[allow(
                    clippy::disallowed_methods,
                    reason = "not waited for at shutdown: a record still waiting when the writer closes is logged as lost"
                )]
                tokio::spawn(async move {
                    if let Err(e) = tx.send(record).await {
                        tracing::error!(request_id = %e.0.request_id, "usage record after writer shutdown");
                    }
                });
            }
            Err(mpsc::error::TrySendError::Closed(record)) => {
                tracing::error!(request_id = %record.request_id, "usage record after writer shutdown");
            }
        }
    }
}

pub struct UsageWriter {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl UsageWriter {
    /// `spill_dir`: where records still unstored at shutdown are written (the data directory);
    /// see [`replay_spills`].
    pub fn spawn(
        store: Arc<dyn Store>,
        capacity: usize,
        spill_dir: PathBuf,
    ) -> (UsageSink, UsageWriter) {
        let (tx, rx) = mpsc::channel(capacity);
        let (stop_tx, stop_rx) = oneshot::channel();
        let health = Arc::new(WriterHealth::default());
        #[allow(
            clippy::disallowed_methods,
            reason = "owned by the returned UsageWriter, whose close() waits for it"
        )]
        let task = tokio::spawn(run(store, rx, stop_rx, health.clone(), spill_dir));
        (
            UsageSink { tx, health },
            UsageWriter {
                stop: stop_tx,
                task,
            },
        )
    }

    /// Stops accepting records, writes everything still queued, and returns when it is stored.
    pub async fn close(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "usage writer task failed");
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<UsageRecord>,
    stop: oneshot::Receiver<()>,
    health: Arc<WriterHealth>,
    spill_dir: PathBuf,
) {
    let mut stop = Stop {
        rx: stop,
        requested: false,
    };
    let mut batch: Vec<UsageRecord> = Vec::with_capacity(BATCH);
    let mut stopping = false;
    loop {
        if stop.requested && !stopping {
            // The stop came during a write's retries.
            stopping = true;
            rx.close();
        }
        if !stopping && batch.is_empty() {
            tokio::select! {
                got = rx.recv() => match got {
                    Some(r) => batch.push(r),
                    None => break,
                },
                _ = &mut stop.rx, if !stop.requested => { stopping = true; stop.requested = true; rx.close(); }
            }
        }
        // Gather more for a short while, so a busy server writes few large transactions.
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            let next = if stopping {
                rx.recv().await
            } else {
                tokio::select! {
                    got = rx.recv() => got,
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = &mut stop.rx, if !stop.requested => { stopping = true; stop.requested = true; rx.close(); continue; }
                }
            };
            match next {
                Some(r) => batch.push(r),
                None => break,
            }
        }
        if !batch.is_empty() {
            if !write_until_stored(store.as_ref(), &batch, &health, &mut stop).await {
                rx.close();
                // Shutting down and the store still fails: nothing may be dropped.
                while let Some(r) = rx.recv().await {
                    batch.push(r);
                }
                spill(&spill_dir, &batch);
                return;
            }
            batch.clear();
        } else if stopping {
            break;
        }
    }
    if !batch.is_empty() && !write_until_stored(store.as_ref(), &batch, &health, &mut stop).await {
        spill(&spill_dir, &batch);
    }
}

/// The writer's stop signal, which may arrive in the middle of retries.
struct Stop {
    rx: oneshot::Receiver<()>,
    requested: bool,
}

impl Stop {
    fn requested(&mut self) -> bool {
        if !self.requested
            && !matches!(self.rx.try_recv(), Err(oneshot::error::TryRecvError::Empty))
        {
            self.requested = true;
        }
        self.requested
    }

    /// Sleeps `d`, or less if the stop comes meanwhile.
    async fn sleep(&mut self, d: Duration) {
        if self.requested() {
            tokio::time::sleep(d).await;
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            _ = &mut self.rx => self.requested = true,
        }
    }
}

/// Where spill files go when the data directory itself cannot take them: a folder in the
/// system's temporary directory named after the data directory, so only its own server
/// replays them.
fn fallback_spill_dir(data_dir: &Path) -> PathBuf {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    std::env::temp_dir().join(format!("switchyard-spill-{}", hex::encode(&digest[..8])))
}

/// Writes `records` to a new spill file (data directory first, else the fallback), fsynced,
/// owner-only. Says loudly how many records were saved where, or lost.
fn spill(data_dir: &Path, records: &[UsageRecord]) {
    let mut text = String::new();
    for r in records {
        match serde_json::to_string(r) {
            Ok(line) => {
                text.push_str(&line);
                text.push('\n');
            }
            Err(e) => {
                tracing::error!(request_id = %r.request_id, error = %e, "usage record not serialisable")
            }
        }
    }
    let name = format!(
        "{SPILL_PREFIX}{}.jsonl",
        chrono::Utc::now().timestamp_millis()
    );
    for dir in [data_dir.to_path_buf(), fallback_spill_dir(data_dir)] {
        let path = dir.join(&name);
        match write_private(&path, text.as_bytes()) {
            Ok(()) => {
                tracing::error!(records = records.len(), path = %path.display(), "usage store still failing at shutdown: records saved to a spill file, replayed at the next start");
                return;
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot write usage spill file")
            }
        }
    }
    tracing::error!(
        records = records.len(),
        "USAGE RECORDS LOST: the store and every spill location failed"
    );
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Stores the records of every spill file a previous run left (in `data_dir` or its
/// fallback) and removes each file once its records are committed. Returns how many records
/// were replayed. A file that cannot be stored stays for the next start.
pub async fn replay_spills(store: &dyn Store, data_dir: &Path) -> usize {
    let mut replayed = 0;
    for dir in [data_dir.to_path_buf(), fallback_spill_dir(data_dir)] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_spill = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(SPILL_PREFIX) && n.ends_with(".jsonl"));
            if !is_spill {
                continue;
            }
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "cannot read usage spill file");
                    continue;
                }
            };
            let records: Vec<UsageRecord> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .filter_map(|l| match serde_json::from_str(l) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        tracing::error!(path = %path.display(), error = %e, "unreadable line in usage spill file");
                        None
                    }
                })
                .collect();
            match store.insert_usage(&records).await {
                Ok(()) => {
                    replayed += records.len();
                    tracing::info!(records = records.len(), path = %path.display(), "usage spill file replayed");
                    if let Err(e) = std::fs::remove_file(&path) {
                        tracing::error!(path = %path.display(), error = %e, "cannot remove replayed spill file (its records are stored; remove it by hand)");
                    }
                }
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "cannot replay usage spill file yet; kept for the next start")
                }
            }
        }
    }
    replayed
}

/// Retries until the batch is known committed (each try is a fresh transaction, and a
/// connection whose write failed is never reused — see `insert_usage`). Meanwhile the records
/// wait here and new ones back up in the bounded channel: back-pressure, never a drop.
async fn write_until_stored(
    store: &dyn Store,
    batch: &[UsageRecord],
    health: &WriterHealth,
    stop: &mut Stop,
) -> bool {
    health.unsaved.store(batch.len() as u64, Ordering::Relaxed);
    let mut tries = 0u32;
    let mut tries_left_at_stop = SHUTDOWN_RETRIES;
    while let Err(e) = store.insert_usage(batch).await {
        tries += 1;
        if stop.requested() {
            tries_left_at_stop = tries_left_at_stop.saturating_sub(1);
            if tries_left_at_stop == 0 {
                tracing::error!(error = %e, records = batch.len(), tries, "writing usage still fails at shutdown");
                return false;
            }
        }
        health.failing.store(true, Ordering::Relaxed);
        health.failed_writes.fetch_add(1, Ordering::Relaxed);
        tracing::error!(error = %e, records = batch.len(), tries, "writing usage failed; records kept in memory, retrying");
        stop.sleep(RETRY).await;
    }
    if tries > 0 {
        tracing::info!(
            records = batch.len(),
            tries,
            "usage records stored after the store recovered"
        );
    }
    health.failing.store(false, Ordering::Relaxed);
    health.unsaved.store(0, Ordering::Relaxed);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_channel_reports_saturation() {
        let (tx, _rx) = mpsc::channel(1);
        let sink = UsageSink {
            tx,
            health: Default::default(),
        };
        assert!(!sink.is_saturated());
        let record = UsageRecord {
            created_at: chrono::Utc::now(),
            request_id: "r".into(),
            api_key_id: None,
            user_id: None,
            account_id: None,
            dialect: "anthropic".into(),
            endpoint: "messages".into(),
            requested_model: None,
            upstream_model: None,
            usage: Default::default(),
            cost_usd: None,
            stream: false,
            status: 200,
            error_kind: None,
            attempts: 1,
            ttfb_ms: None,
            duration_ms: 1,
            session_hash: None,
            dropped_fields: None,
        };
        sink.send(record).await.unwrap();
        assert!(sink.is_saturated());
    }
}
