//! The batched usage writer. Records arrive over a bounded channel (a full channel makes the
//! sender wait: back-pressure, never a drop), are written in batches, retried while the store
//! fails, and flushed when the writer is closed at shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::{Store, UsageRecord};

const BATCH: usize = 256;
const LINGER: Duration = Duration::from_millis(200);
const RETRY: Duration = Duration::from_secs(1);

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
    pub fn spawn(store: Arc<dyn Store>, capacity: usize) -> (UsageSink, UsageWriter) {
        let (tx, rx) = mpsc::channel(capacity);
        let (stop_tx, stop_rx) = oneshot::channel();
        let health = Arc::new(WriterHealth::default());
        let task = tokio::spawn(run(store, rx, stop_rx, health.clone()));
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
    mut stop: oneshot::Receiver<()>,
    health: Arc<WriterHealth>,
) {
    let mut batch: Vec<UsageRecord> = Vec::with_capacity(BATCH);
    let mut stopping = false;
    loop {
        if !stopping && batch.is_empty() {
            tokio::select! {
                got = rx.recv() => match got {
                    Some(r) => batch.push(r),
                    None => break,
                },
                _ = &mut stop => { stopping = true; rx.close(); }
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
                    _ = &mut stop => { stopping = true; rx.close(); continue; }
                }
            };
            match next {
                Some(r) => batch.push(r),
                None => break,
            }
        }
        if !batch.is_empty() {
            write_until_stored(store.as_ref(), &batch, &health).await;
            batch.clear();
        } else if stopping {
            break;
        }
    }
    if !batch.is_empty() {
        write_until_stored(store.as_ref(), &batch, &health).await;
    }
}

/// Retries until the batch is known committed (each try is a fresh transaction, and a
/// connection whose write failed is never reused — see `insert_usage`). Meanwhile the records
/// wait here and new ones back up in the bounded channel: back-pressure, never a drop.
async fn write_until_stored(store: &dyn Store, batch: &[UsageRecord], health: &WriterHealth) {
    health.unsaved.store(batch.len() as u64, Ordering::Relaxed);
    let mut tries = 0u32;
    while let Err(e) = store.insert_usage(batch).await {
        tries += 1;
        health.failing.store(true, Ordering::Relaxed);
        health.failed_writes.fetch_add(1, Ordering::Relaxed);
        tracing::error!(error = %e, records = batch.len(), tries, "writing usage failed; records kept in memory, retrying");
        tokio::time::sleep(RETRY).await;
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
        };
        sink.send(record).await.unwrap();
        assert!(sink.is_saturated());
    }
}
