//! Every metric Switchyard exports, named in one place. `/metrics` renders them in the
//! Prometheus text format.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

pub const REQUESTS: &str = "switchyard_requests_total";
pub const REQUEST_DURATION: &str = "switchyard_request_duration_seconds";
/// Time Switchyard itself adds: total time minus time spent waiting on upstreams. It counts
/// Switchyard's own phases, not the HTTP parsing and socket work of its two connections, so
/// it reads lower than the latency a client sees added (BENCHMARKS.md measures that).
pub const OVERHEAD: &str = "switchyard_overhead_seconds";
pub const TTFB: &str = "switchyard_time_to_first_byte_seconds";
pub const UPSTREAM_ATTEMPTS: &str = "switchyard_upstream_attempts_total";
pub const FAILOVERS: &str = "switchyard_failovers_total";
pub const TOKENS: &str = "switchyard_tokens_total";
pub const ACCOUNT_STATE_CHANGES: &str = "switchyard_account_state_changes_total";
pub const SNAPSHOT_RELOADS: &str = "switchyard_snapshot_reloads_total";
/// Requests refused by a rate, cost or concurrency limit (counted here, not as usage rows: a
/// client hammering past its limit must not flood the usage table).
pub const LIMITED: &str = "switchyard_limited_requests_total";

/// Usage records waiting to be stored (in the channel and in the writer's hands).
pub const USAGE_BACKLOG: &str = "switchyard_usage_backlog";
/// 1 while the usage store refuses writes (the records wait in memory and are retried).
pub const USAGE_STORE_FAILING: &str = "switchyard_usage_store_failing";
pub const USAGE_WRITE_FAILURES: &str = "switchyard_usage_write_failures_total";

/// Client connections open now, and the times the connection cap was reached.
pub const CONNECTIONS_OPEN: &str = "switchyard_connections_open";
pub const CONNECTION_CAP_REACHED: &str = "switchyard_connection_cap_reached_total";
/// Requests whose body had to wait for room in the body budget, and those refused after waiting.
pub const BODY_BUDGET_WAITS: &str = "switchyard_body_budget_waits_total";
pub const BODY_BUDGET_REFUSED: &str = "switchyard_body_budget_refused_total";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once; later calls (tests starting several apps) reuse it.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let fast = [
                0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
            ];
            let slow = [
                0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0, 60.0, 120.0, 300.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(OVERHEAD.into()), &fast)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(TTFB.into()), &slow))
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.into()), &slow)
                });
            match builder.map(|b| b.install_recorder()) {
                Ok(Ok(handle)) => handle,
                Ok(Err(e)) | Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    PrometheusBuilder::new().build_recorder().handle()
                }
            }
        })
        .clone()
}

pub fn request_finished(
    dialect: &'static str,
    status: u16,
    total: Duration,
    overhead: Duration,
    ttfb: Option<Duration>,
) {
    metrics::counter!(REQUESTS, "dialect" => dialect, "status" => status.to_string()).increment(1);
    metrics::histogram!(REQUEST_DURATION, "dialect" => dialect).record(total.as_secs_f64());
    metrics::histogram!(OVERHEAD, "dialect" => dialect).record(overhead.as_secs_f64());
    if let Some(t) = ttfb {
        metrics::histogram!(TTFB, "dialect" => dialect).record(t.as_secs_f64());
    }
}

pub fn upstream_attempt(kind: &'static str, outcome: &'static str) {
    metrics::counter!(UPSTREAM_ATTEMPTS, "kind" => kind, "outcome" => outcome).increment(1);
}

pub fn failover(dialect: &'static str) {
    metrics::counter!(FAILOVERS, "dialect" => dialect).increment(1);
}

pub fn tokens(class: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!(TOKENS, "class" => class).increment(n);
    }
}

pub fn account_state_change(status: &'static str) {
    metrics::counter!(ACCOUNT_STATE_CHANGES, "status" => status).increment(1);
}

pub fn limited(dialect: &'static str) {
    metrics::counter!(LIMITED, "dialect" => dialect).increment(1);
}

pub fn snapshot_reload() {
    metrics::counter!(SNAPSHOT_RELOADS).increment(1);
}

/// The usage writer's state, read at each scrape.
pub fn usage_writer(backlog: u64, failing: bool, failed_writes: u64) {
    metrics::gauge!(USAGE_BACKLOG).set(backlog as f64);
    metrics::gauge!(USAGE_STORE_FAILING).set(if failing { 1.0 } else { 0.0 });
    metrics::counter!(USAGE_WRITE_FAILURES).absolute(failed_writes);
}
