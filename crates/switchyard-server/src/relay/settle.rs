//! Phase 8, settle: one usage record per request, metrics, and account bookkeeping. Runs when
//! the response body ends (or is dropped), or right away for requests that never reached an
//! upstream successfully.

use chrono::Utc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_core::TokenUsage;
use switchyard_core::account_event::AccountEvent;
use switchyard_store::UsageRecord;
use switchyard_store::coord::{Lease, SpendWrite};
use switchyard_upstream::Finished;

use super::admit::KeySlots;
use super::request::{Endpoint, Outcome, new_request_id};
use crate::metrics;
use crate::state::AppState;

/// Records a request refused after its key was known (policy, body, inspection) and passes
/// the refusal on.
pub fn refused(
    state: &Arc<AppState>,
    key: &crate::state::KeyEntry,
    endpoint: &Endpoint,
    started: Instant,
    requested_model: Option<String>,
    resp: axum::response::Response,
) -> axum::response::Response {
    let outcome = Outcome {
        request_id: new_request_id(),
        dialect: endpoint.dialect(),
        endpoint: endpoint.name,
        api_key_id: key.key.id,
        user_id: key.key.user_id,
        account_id: None,
        requested_model,
        upstream_model: None,
        stream: false,
        status: resp.status().as_u16(),
        error_kind: Some("refused".into()),
        attempts: 0,
        session_hash: None,
        dropped_fields: None,
        started,
        upstream_time: Duration::ZERO,
        request_bytes: 0,
    };
    settle(
        state,
        outcome,
        None,
        Held {
            key_slot: None,
            account_slot: None,
        },
    );
    resp
}

/// A stream that ended early without its usage still cost the operator what the upstream
/// generated: never record 0 for it. Output is estimated at one token per streamed event and
/// input at four bytes of the client's body per token; returns whether anything was estimated.
fn estimate_unreported(usage: &mut TokenUsage, f: &Finished, request_bytes: usize) -> bool {
    if f.bytes == 0 || usage.output_tokens > 0 {
        return false;
    }
    usage.output_tokens = f.events.max(1);
    if usage.input_tokens == 0 && usage.cache_read_tokens == 0 {
        usage.input_tokens = (request_bytes / 4).max(1) as u64;
    }
    true
}

/// Slots held until the request is settled.
pub struct Held {
    pub key_slot: Option<KeySlots>,
    pub account_slot: Option<Lease>,
}

pub fn settle(state: &Arc<AppState>, mut outcome: Outcome, finished: Option<Finished>, held: Held) {
    let now = Instant::now();
    let total = now.duration_since(outcome.started);
    let mut usage = TokenUsage::default();
    let mut ttfb = None;
    if let Some(f) = &finished {
        usage = f.usage.unwrap_or_default();
        ttfb = f.first_byte_at.map(|t| t.duration_since(outcome.started));
        if outcome.error_kind.is_none() {
            outcome.error_kind.clone_from(&f.error_kind);
        }
        if let Some(kind) = &mut outcome.error_kind
            && estimate_unreported(&mut usage, f, outcome.request_bytes)
        {
            kind.push_str("+usage_estimated");
        }
        if outcome.upstream_model.is_none() {
            outcome.upstream_model.clone_from(&f.model);
        }
    }
    let snap = state.snapshot.load();
    // The upstream model's price, else the requested model's: a Bedrock model id or an
    // operator's mapping target is often not in the price table while the name the client
    // asked for is.
    let candidates = [
        outcome.upstream_model.as_deref(),
        outcome.requested_model.as_deref(),
    ];
    let cost_usd = match candidates.iter().flatten().next() {
        Some(m) if finished.is_some() => {
            let cost = candidates
                .iter()
                .flatten()
                .find_map(|m| snap.prices.cost_usd(m, &usage));
            if cost.is_none() {
                tracing::warn!(model = m, request_id = %outcome.request_id, "no price for model; usage recorded with null cost");
            }
            cost
        }
        _ if usage.total() == 0 => Some(0.0),
        _ => None,
    };
    if let Some(id) = outcome.account_id
        && (200..300).contains(&outcome.status)
        && outcome.error_kind.is_none()
    {
        state.account_event(id, AccountEvent::Succeeded);
    }
    // The admit phase's counters: tokens per minute and cost, for the key and its owner.
    let periods = super::admit::periods(state);
    let now = Utc::now();
    state.limits.record(
        outcome.api_key_id,
        outcome.user_id,
        usage.total(),
        cost_usd.unwrap_or(0.0),
        now,
        &periods,
    );
    state.coord.record_spend(SpendWrite {
        key_id: outcome.api_key_id,
        user_id: outcome.user_id,
        tokens: usage.total(),
        cost_usd: cost_usd.unwrap_or(0.0),
        periods: super::admit::counter_periods(now, &periods),
    });
    let overhead = total.saturating_sub(outcome.upstream_time);
    metrics::request_finished(
        outcome.dialect.as_str(),
        outcome.status,
        total,
        overhead,
        ttfb,
    );
    metrics::tokens("input", usage.input_tokens);
    metrics::tokens("output", usage.output_tokens);
    metrics::tokens("cache_creation_5m", usage.cache_creation_5m_tokens);
    metrics::tokens("cache_creation_1h", usage.cache_creation_1h_tokens);
    metrics::tokens("cache_read", usage.cache_read_tokens);
    let record = UsageRecord {
        created_at: Utc::now(),
        request_id: outcome.request_id,
        api_key_id: Some(outcome.api_key_id),
        user_id: Some(outcome.user_id),
        account_id: outcome.account_id,
        dialect: outcome.dialect.as_str().to_string(),
        endpoint: outcome.endpoint.to_string(),
        requested_model: outcome.requested_model,
        upstream_model: outcome.upstream_model,
        usage,
        cost_usd,
        stream: outcome.stream,
        status: outcome.status,
        error_kind: outcome.error_kind,
        attempts: outcome.attempts,
        ttfb_ms: ttfb.map(|t| t.as_millis() as u64),
        duration_ms: total.as_millis() as u64,
        session_hash: outcome.session_hash,
        dropped_fields: outcome.dropped_fields,
    };
    state.usage.send_detached(record);
    // Slots are released only after the record is queued, so "no request in flight" also
    // means "every record handed to the writer" (shutdown relies on it).
    drop(held);
}
