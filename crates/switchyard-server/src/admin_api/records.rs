//! Usage records (filtered, cursor-paged), usage aggregates for dashboards, and the audit log.
//! A `user` sees only its own usage.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use switchyard_store::{AuditEntry, StoredUsage, UsageFilter};

use super::problem::{Problem, bad_query};
use super::{Access, Caller, Operation};
use crate::state::AppState;

/// Rows read for one aggregate at most; a wider range must be narrowed.
const AGGREGATE_ROWS: u32 = 200_000;

#[derive(Deserialize, JsonSchema, Default)]
pub struct UsageQuery {
    /// RFC 3339; inclusive.
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339; exclusive.
    pub to: Option<DateTime<Utc>>,
    pub key_id: Option<i64>,
    pub user_id: Option<i64>,
    pub account_id: Option<i64>,
    pub model: Option<String>,
    #[schemars(range(min = 100, max = 599))]
    pub status: Option<u16>,
    /// `anthropic`, `openai-chat`, `openai-responses` or `gemini`.
    pub dialect: Option<String>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
}

#[derive(Serialize, JsonSchema)]
pub struct UsagePage {
    #[schemars(with = "Vec<serde_json::Value>")]
    pub items: Vec<StoredUsage>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, JsonSchema, Default)]
pub struct AggregateQuery {
    /// `hour` or `day` (default `day`).
    #[schemars(regex(pattern = "^(hour|day)$"))]
    pub bucket: Option<String>,
    /// `key`, `user`, `account` or `model` (default `model`).
    #[schemars(regex(pattern = "^(key|user|account|model)$"))]
    pub by: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub key_id: Option<i64>,
    pub user_id: Option<i64>,
    pub account_id: Option<i64>,
    pub model: Option<String>,
}

#[derive(Serialize, JsonSchema, Default, Clone)]
pub struct Aggregate {
    pub bucket_start: Option<DateTime<Utc>>,
    /// The key id, user id, account id or model name the row is for (`null`: none).
    pub group: Option<String>,
    pub requests: u64,
    pub errors: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    pub reasoning_tokens: u64,
    pub cost_usd: f64,
    pub p50_duration_ms: u64,
    pub p95_duration_ms: u64,
    /// Time to first byte, over the records that have one (0 when none does).
    pub p50_ttfb_ms: u64,
    pub p95_ttfb_ms: u64,
}

#[derive(Deserialize, JsonSchema, Default)]
pub struct AuditQuery {
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
}

#[derive(Serialize, JsonSchema)]
pub struct AuditView {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `cli`, `api:<user>`, or a background task.
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    /// JSON `{before, after}` for API changes (secrets masked).
    pub detail: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct AuditPage {
    pub items: Vec<AuditView>,
    pub next_cursor: Option<String>,
}

pub fn operations() -> Vec<Operation> {
    vec![
        Operation::get(
            "/usage",
            "usage",
            "Usage records, newest first (a `user` sees its own)",
            get(usage),
        )
        .access(Access::Member)
        .query::<UsageQuery>()
        .ok::<UsagePage>(200),
        Operation::get(
            "/usage/aggregate",
            "usage",
            "Usage per hour or day and per key, user, account or model",
            get(aggregate),
        )
        .access(Access::Member)
        .query::<AggregateQuery>()
        .ok::<Vec<Aggregate>>(200),
        Operation::get(
            "/audit",
            "audit",
            "The audit log, newest first",
            get(audit_log),
        )
        .query::<AuditQuery>()
        .ok::<AuditPage>(200),
    ]
}

fn cursor(text: Option<&str>) -> Result<Option<i64>, Response> {
    match text {
        None | Some("") => Ok(None),
        Some(t) => t
            .parse::<i64>()
            .map(Some)
            .map_err(|_| Problem::invalid("cursor", "not a cursor this API returned")),
    }
}

fn page_size(limit: Option<u32>) -> Result<u32, Response> {
    match limit.unwrap_or(50) {
        n @ 1..=500 => Ok(n),
        _ => Err(Problem::invalid("limit", "must be between 1 and 500")),
    }
}

/// A `user` is limited to its own records, whatever it asks for.
fn own(caller: &Caller, user_id: Option<i64>) -> Option<i64> {
    if caller.is_admin() {
        user_id
    } else {
        Some(caller.user.id)
    }
}

async fn usage(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<UsageQuery>, QueryRejection>,
) -> Response {
    let Query(q) = match query {
        Ok(q) => q,
        Err(e) => return bad_query(e),
    };
    let (before_id, limit) = match (cursor(q.cursor.as_deref()), page_size(q.limit)) {
        (Ok(c), Ok(l)) => (c, l),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    if q.status.is_some_and(|s| !(100..=599).contains(&s)) {
        return Problem::invalid("status", "an HTTP status, 100 to 599");
    }
    let filter = UsageFilter {
        from: q.from,
        to: q.to,
        api_key_id: q.key_id,
        user_id: own(&caller, q.user_id),
        account_id: q.account_id,
        model: q.model,
        status: q.status,
        dialect: q.dialect,
        before_id,
    };
    match state.store.usage_page(&filter, limit).await {
        Ok(items) => {
            let next_cursor = (items.len() == limit as usize)
                .then(|| items.last().map(|r| r.id.to_string()))
                .flatten();
            Json(UsagePage { items, next_cursor }).into_response()
        }
        Err(e) => Problem::from_store(e),
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

async fn aggregate(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<AggregateQuery>, QueryRejection>,
) -> Response {
    let Query(q) = match query {
        Ok(q) => q,
        Err(e) => return bad_query(e),
    };
    let step = match q.bucket.as_deref().unwrap_or("day") {
        "hour" => TimeDelta::hours(1),
        "day" => TimeDelta::days(1),
        _ => return Problem::invalid("bucket", "expected `hour` or `day`"),
    };
    let by = q.by.unwrap_or_else(|| "model".into());
    if !["key", "user", "account", "model"].contains(&by.as_str()) {
        return Problem::invalid("by", "expected `key`, `user`, `account` or `model`");
    }
    let filter = UsageFilter {
        from: q.from,
        to: q.to,
        api_key_id: q.key_id,
        user_id: own(&caller, q.user_id),
        account_id: q.account_id,
        model: q.model,
        status: None,
        dialect: None,
        before_id: None,
    };
    let rows = match state.store.usage_page(&filter, AGGREGATE_ROWS + 1).await {
        Ok(r) => r,
        Err(e) => return Problem::from_store(e),
    };
    if rows.len() > AGGREGATE_ROWS as usize {
        return Problem::invalid(
            "from",
            &format!("more than {AGGREGATE_ROWS} records in range; narrow `from`/`to`"),
        );
    }
    type Bucket = (Option<DateTime<Utc>>, Option<String>);
    let mut groups: BTreeMap<Bucket, (Aggregate, Vec<u64>, Vec<u64>)> = BTreeMap::new();
    for StoredUsage { record: r, .. } in rows {
        let start = r.created_at.duration_trunc(step).ok();
        let group = match by.as_str() {
            "key" => r.api_key_id.map(|v| v.to_string()),
            "user" => r.user_id.map(|v| v.to_string()),
            "account" => r.account_id.map(|v| v.to_string()),
            _ => r.upstream_model.clone().or(r.requested_model.clone()),
        };
        let (agg, durations, ttfbs) = groups.entry((start, group.clone())).or_default();
        agg.bucket_start = start;
        agg.group = group;
        agg.requests += 1;
        if r.status >= 400 || r.error_kind.is_some() {
            agg.errors += 1;
        }
        agg.input_tokens += r.usage.input_tokens;
        agg.output_tokens += r.usage.output_tokens;
        agg.cache_creation_tokens +=
            r.usage.cache_creation_5m_tokens + r.usage.cache_creation_1h_tokens;
        agg.cache_read_tokens += r.usage.cache_read_tokens;
        agg.reasoning_tokens += r.usage.reasoning_tokens;
        agg.cost_usd += r.cost_usd.unwrap_or(0.0);
        durations.push(r.duration_ms);
        ttfbs.extend(r.ttfb_ms);
    }
    let out: Vec<Aggregate> = groups
        .into_values()
        .map(|(mut agg, mut durations, mut ttfbs)| {
            durations.sort_unstable();
            agg.p50_duration_ms = percentile(&durations, 0.50);
            agg.p95_duration_ms = percentile(&durations, 0.95);
            ttfbs.sort_unstable();
            agg.p50_ttfb_ms = percentile(&ttfbs, 0.50);
            agg.p95_ttfb_ms = percentile(&ttfbs, 0.95);
            agg
        })
        .collect();
    Json(out).into_response()
}

async fn audit_log(
    State(state): State<Arc<AppState>>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Response {
    let Query(q) = match query {
        Ok(q) => q,
        Err(e) => return bad_query(e),
    };
    let (before_id, limit) = match (cursor(q.cursor.as_deref()), page_size(q.limit)) {
        (Ok(c), Ok(l)) => (c, l),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    match state.store.audit_page(before_id, limit).await {
        Ok(entries) => {
            let next_cursor = (entries.len() == limit as usize)
                .then(|| entries.last().map(|e| e.id.to_string()))
                .flatten();
            let items = entries
                .into_iter()
                .map(|e: AuditEntry| AuditView {
                    id: e.id,
                    at: e.at,
                    actor: e.actor,
                    action: e.action,
                    target: e.target,
                    detail: e.detail,
                })
                .collect();
            Json(AuditPage { items, next_cursor }).into_response()
        }
        Err(e) => Problem::from_store(e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(super::percentile(&v, 0.5), 50);
        assert_eq!(super::percentile(&v, 0.95), 95);
        assert_eq!(super::percentile(&[7], 0.95), 7);
        assert_eq!(super::percentile(&[], 0.5), 0);
    }
}
