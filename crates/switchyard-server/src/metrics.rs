//! Every metric Switchyard exports, named in one place. `/metrics` renders them in the
//! Prometheus text format.

use metrics::{describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;
use switchyard_core::account::{AccountKind, AccountStatus};
use switchyard_core::dialect::Dialect;

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
pub const REDIS_DEGRADED: &str = "switchyard_redis_degraded_seconds";
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
                Ok(Ok(handle)) => {
                    describe();
                    handle
                }
                Ok(Err(e)) | Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    PrometheusBuilder::new().build_recorder().handle()
                }
            }
        })
        .clone()
}

/// Label values series are created for at start (see [`describe`]).
const DIALECTS: [Dialect; 4] = [
    Dialect::Anthropic,
    Dialect::OpenaiChat,
    Dialect::OpenaiResponses,
    Dialect::Gemini,
];
const STATUSES: [AccountStatus; 4] = [
    AccountStatus::Active,
    AccountStatus::Cooling,
    AccountStatus::Error,
    AccountStatus::Disabled,
];
const TOKEN_CLASSES: [&str; 5] = [
    "input",
    "output",
    "cache_creation_5m",
    "cache_creation_1h",
    "cache_read",
];

/// Gives every metric its HELP and TYPE lines and a zero-valued series, so the first scrape
/// already shows every series dashboards and alerts refer to (the exporter renders only
/// metrics that exist, and most exist only after their first event).
pub fn describe() {
    describe_counter!(
        REQUESTS,
        "client requests answered, by dialect and HTTP status"
    );
    describe_histogram!(
        REQUEST_DURATION,
        "time from request to the end of the response"
    );
    describe_histogram!(
        OVERHEAD,
        "time Switchyard itself adds: total minus upstream waiting"
    );
    describe_histogram!(TTFB, "time to the first byte sent to the client");
    describe_counter!(
        UPSTREAM_ATTEMPTS,
        "upstream attempts by account kind and outcome"
    );
    describe_counter!(FAILOVERS, "requests moved on to another account");
    describe_counter!(TOKENS, "tokens billed, by class");
    describe_counter!(
        ACCOUNT_STATE_CHANGES,
        "account status changes, by new status"
    );
    describe_counter!(
        SNAPSHOT_RELOADS,
        "configuration snapshots reloaded from the store"
    );
    describe_counter!(
        LIMITED,
        "requests refused by a rate, cost or concurrency limit"
    );
    describe_gauge!(USAGE_BACKLOG, "usage records waiting to be stored");
    describe_gauge!(
        USAGE_STORE_FAILING,
        "1 while the usage store refuses writes"
    );
    describe_counter!(USAGE_WRITE_FAILURES, "failed usage writes");
    describe_gauge!(
        REDIS_DEGRADED,
        "seconds since Redis stopped answering (0 while it answers or is not used)"
    );
    describe_gauge!(CONNECTIONS_OPEN, "client connections open");
    describe_counter!(
        CONNECTION_CAP_REACHED,
        "times the client connection cap was reached"
    );
    describe_counter!(
        BODY_BUDGET_WAITS,
        "request bodies that waited for room in the body budget"
    );
    describe_counter!(
        BODY_BUDGET_REFUSED,
        "request bodies refused after waiting for the budget"
    );

    for d in DIALECTS.map(Dialect::as_str) {
        metrics::counter!(REQUESTS, "dialect" => d, "status" => "200").absolute(0);
        // Registering a histogram is enough: it renders with zero buckets, sum and count.
        for name in [REQUEST_DURATION, OVERHEAD, TTFB] {
            let _ = metrics::histogram!(name, "dialect" => d);
        }
        metrics::counter!(FAILOVERS, "dialect" => d).absolute(0);
        metrics::counter!(LIMITED, "dialect" => d).absolute(0);
    }
    for kind in AccountKind::ALL.map(AccountKind::as_str) {
        metrics::counter!(UPSTREAM_ATTEMPTS, "kind" => kind, "outcome" => "ok").absolute(0);
    }
    for class in TOKEN_CLASSES {
        metrics::counter!(TOKENS, "class" => class).absolute(0);
    }
    for status in STATUSES.map(AccountStatus::as_str) {
        metrics::counter!(ACCOUNT_STATE_CHANGES, "status" => status).absolute(0);
    }
    for name in [
        SNAPSHOT_RELOADS,
        USAGE_WRITE_FAILURES,
        CONNECTION_CAP_REACHED,
        BODY_BUDGET_WAITS,
        BODY_BUDGET_REFUSED,
    ] {
        metrics::counter!(name).absolute(0);
    }
    for name in [
        USAGE_BACKLOG,
        USAGE_STORE_FAILING,
        CONNECTIONS_OPEN,
        REDIS_DEGRADED,
    ] {
        metrics::gauge!(name).set(0.0);
    }
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

/// Shared coordination's state at scrape time.
pub fn coordination(status: Option<&switchyard_store::coord::SharedStatus>) {
    let seconds = status
        .filter(|s| s.degraded)
        .map_or(0.0, |s| s.degraded_seconds.max(1) as f64);
    metrics::gauge!(REDIS_DEGRADED).set(seconds);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scrape before any event shows every metric with HELP, TYPE and a zero value.
    #[test]
    fn every_metric_is_described_before_its_first_event() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, describe);
        let text = handle.render();
        for name in [
            REQUESTS,
            REQUEST_DURATION,
            OVERHEAD,
            TTFB,
            UPSTREAM_ATTEMPTS,
            FAILOVERS,
            TOKENS,
            ACCOUNT_STATE_CHANGES,
            SNAPSHOT_RELOADS,
            LIMITED,
            USAGE_BACKLOG,
            USAGE_STORE_FAILING,
            USAGE_WRITE_FAILURES,
            REDIS_DEGRADED,
            CONNECTIONS_OPEN,
            CONNECTION_CAP_REACHED,
            BODY_BUDGET_WAITS,
            BODY_BUDGET_REFUSED,
        ] {
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "{name} help\n{text}"
            );
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "{name} type\n{text}"
            );
        }
        assert!(
            text.contains("switchyard_limited_requests_total{dialect=\"anthropic\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("switchyard_request_duration_seconds_count{dialect=\"gemini\"} 0"),
            "{text}"
        );
        assert!(text.contains("switchyard_connections_open 0"), "{text}");
    }
}
