//! Phase 3, admit: the key's policy, from in-memory state only. Refusals are answered in the
//! client's dialect: 401 for a key that no longer works (revoked, expired), 403 for what the
//! key may not do (model, client, dialect, a disabled owner), 429 with `retry-after` for
//! limits (rate, cost, concurrency).
//!
//! Checks that need only the headers run before the body is read ([`admit_key`], then
//! [`concurrency`]); those that need the request's content run after inspection
//! ([`admit_request`]).

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use chrono::Utc;
use std::sync::Arc;
use switchyard_core::Dialect;
use switchyard_core::key::KeyStatus;
use switchyard_core::policy::{ClientKind, ClientSignals, detect_client, model_allowed};
use switchyard_store::coord::{
    CounterCheck, CounterPeriods, CounterVerdict, Lease, Scope, SlotRefusal,
};

use super::reply;
use crate::limits::Periods;
use crate::state::{AppState, KeyEntry};

/// Concurrency slots of the key and of its owner, held until the request is settled.
pub struct KeySlots {
    _key: Lease,
    _user: Option<Lease>,
}

impl KeySlots {
    /// Slots for a request Switchyard makes itself (an operator's account test): counted as
    /// in flight (so shutdown waits for it), limited by nothing.
    pub async fn internal(state: &AppState) -> Option<KeySlots> {
        state
            .coord
            .try_acquire(Scope::Key, 0, 0)
            .await
            .map(|key| KeySlots {
                _key: key,
                _user: None,
            })
    }
}

fn refuse(dialect: Dialect, status: u16, message: &str) -> Response {
    reply::error(dialect, status, None, message)
}

fn limited(dialect: Dialect, message: &str, retry_after: Option<u64>) -> Response {
    let mut resp = reply::error(dialect, 429, None, message);
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    resp
}

pub fn periods(state: &Arc<AppState>) -> Periods {
    let tz = state.snapshot.load().settings.cost_limit_timezone;
    let periods = Periods::at(Utc::now(), tz);
    if state.limits.zone_changed(tz) {
        // Days and weeks now start elsewhere: recount them from the records instead of
        // starting the new periods at zero.
        let shared = state.clone();
        state.tasks.spawn(async move {
            let state = shared;
            match state.store.spend(periods.day, periods.week).await {
                Ok(spend) => state.limits.seed(&spend, &periods),
                Err(e) => tracing::warn!(error = %e, "recounting spend for the new cost time zone"),
            }
        });
    }
    periods
}

/// Status, expiry, owner, dialect, and the rate and cost limits of the key and its owner.
pub async fn admit_key(
    state: &Arc<AppState>,
    entry: &KeyEntry,
    dialect: Dialect,
) -> Result<(), Response> {
    let key = &entry.key;
    let now = Utc::now();
    if key.status != KeyStatus::Active {
        return Err(refuse(dialect, 401, "this API key has been revoked"));
    }
    if let Some(expiry) = key.expiry(state.limits.first_use(key))
        && expiry <= now
    {
        return Err(refuse(
            dialect,
            401,
            &format!("this API key expired at {}", expiry.to_rfc3339()),
        ));
    }
    if !entry.user_active {
        return Err(refuse(
            dialect,
            403,
            "the owner of this API key is disabled",
        ));
    }
    let dialects = &key.policy.allowed_dialects;
    if !dialects.is_empty() && !dialects.iter().any(|d| d == dialect.as_str()) {
        return Err(refuse(
            dialect,
            403,
            &format!(
                "this API key may not use the {} API (allowed: {})",
                dialect.as_str(),
                dialects.join(", ")
            ),
        ));
    }
    let p = &key.policy;
    let u = &entry.user_limits;
    let limited_by_counters = p.rate_limit_per_minute > 0
        || p.tokens_per_minute > 0
        || p.daily_cost_limit_usd.is_some()
        || p.weekly_cost_limit_usd.is_some()
        || p.total_cost_limit_usd.is_some()
        || u.daily_cost_limit_usd.is_some()
        || u.weekly_cost_limit_usd.is_some()
        || u.total_cost_limit_usd.is_some();
    if !limited_by_counters {
        return Ok(());
    }
    let periods = periods(state);
    // With several instances the shared counters decide (one round trip); alone, or while
    // Redis is not answering or not yet seeded, this instance's own counters do.
    let check = CounterCheck {
        key_id: key.id,
        user_id: key.user_id,
        rpm: u64::from(p.rate_limit_per_minute),
        tpm: p.tokens_per_minute,
        key_costs: [
            p.daily_cost_limit_usd,
            p.weekly_cost_limit_usd,
            p.total_cost_limit_usd,
        ],
        user_costs: [
            u.daily_cost_limit_usd,
            u.weekly_cost_limit_usd,
            u.total_cost_limit_usd,
        ],
        periods: counter_periods(now, &periods),
    };
    match state.coord.admit_counters(&check).await {
        Some(CounterVerdict::Admitted) => return Ok(()),
        Some(CounterVerdict::Unseeded) => reseed_shared_counters(state, &periods),
        Some(refused) => {
            let l = crate::limits::shared_refusal(refused, &check, now, &periods);
            return Err(limited(dialect, &l.message, l.retry_after));
        }
        None => {}
    }
    state
        .limits
        .admit(key, &entry.user_limits, now, &periods)
        .map_err(|l| limited(dialect, &l.message, l.retry_after))
}

/// The shared counters' periods for `now`.
pub fn counter_periods(now: chrono::DateTime<Utc>, periods: &Periods) -> CounterPeriods {
    CounterPeriods {
        now_ms: now.timestamp_millis(),
        day: periods.day.timestamp(),
        week: periods.week.timestamp(),
    }
}

/// Seeds the shared cost counters from the recorded usage, in the background (a new day or
/// week, or a Redis that lost its data); requests meanwhile are decided locally.
fn reseed_shared_counters(state: &Arc<AppState>, periods: &Periods) {
    let Some(shared) = state.coord.shared_side() else {
        return;
    };
    if !shared.begin_seeding() {
        return;
    }
    let (shared, store, periods) = (shared.clone(), state.store.clone(), *periods);
    state.tasks.spawn(async move {
        match store.spend(periods.day, periods.week).await {
            Ok(spend) => {
                let p = counter_periods(Utc::now(), &periods);
                shared.seed_spend(&spend, &p).await;
            }
            Err(e) => {
                shared.abandon_seeding();
                tracing::warn!(error = %e, "reading spend to seed the shared counters");
            }
        }
    });
}

/// Starts the clock of a lifetime counted from first use, once a request has passed every
/// check (a refused request does not use the key).
pub fn mark_used(state: &AppState, entry: &KeyEntry) {
    let key = &entry.key;
    if key.policy.expires_after_seconds.is_none() || key.id == 0 {
        return;
    }
    let now = Utc::now();
    if state.limits.mark_first_use(key, now) {
        // Persisted so a restart keeps the clock.
        let store = state.store.clone();
        let id = key.id;
        state.tasks.spawn(async move {
            if let Err(e) = store.set_key_first_used(id, now).await {
                tracing::warn!(key_id = id, error = %e, "could not record a key's first use");
            }
        });
    }
}

/// A concurrency slot of the key and, if the owner has a limit, of the owner. Over a limit,
/// the request waits in a short bounded queue, then gets 429.
pub async fn concurrency(
    state: &AppState,
    entry: &KeyEntry,
    dialect: Dialect,
) -> Result<KeySlots, Response> {
    let settings = state.snapshot.load().settings.clone();
    let wait = std::time::Duration::from_secs(settings.concurrency_queue_wait_seconds);
    let max_waiting = settings.concurrency_queue_max.min(u64::from(u32::MAX)) as u32;
    let deadline = tokio::time::Instant::now() + wait;
    let over = |whose: &str, limit: u32, why: SlotRefusal| {
        let queue = match why {
            SlotRefusal::QueueFull => "and its wait queue is full".to_string(),
            SlotRefusal::TimedOut => format!("and no slot freed up within {}s", wait.as_secs()),
        };
        limited(
            dialect,
            &format!("{whose} concurrency limit of {limit} requests is reached {queue}"),
            Some(1),
        )
    };
    let key = &entry.key;
    let key_slot = state
        .coord
        .acquire(
            Scope::Key,
            key.id,
            key.policy.concurrency_limit,
            deadline,
            max_waiting,
        )
        .await
        .map_err(|why| over("this API key's", key.policy.concurrency_limit, why))?;
    let user_limit = entry.user_limits.concurrency_limit;
    let user_slot = if user_limit > 0 {
        Some(
            state
                .coord
                .acquire(Scope::User, key.user_id, user_limit, deadline, max_waiting)
                .await
                .map_err(|why| over("this key owner's", user_limit, why))?,
        )
    } else {
        None
    };
    Ok(KeySlots {
        _key: key_slot,
        _user: user_slot,
    })
}

/// The model and the client, once the request's content is known.
pub fn admit_request(
    state: &AppState,
    entry: &KeyEntry,
    headers: &HeaderMap,
    body: Option<&[u8]>,
    model: &str,
    dialect: Dialect,
) -> Result<(), Response> {
    admit_model(state, entry, model, dialect)?;
    admit_client(state, entry, headers, body, dialect)
}

/// The client rule alone (for requests that name no model, such as Code Assist's
/// `loadCodeAssist`). `body` is `None` for requests whose bodies carry no client identity.
pub fn admit_client(
    state: &AppState,
    entry: &KeyEntry,
    headers: &HeaderMap,
    body: Option<&[u8]>,
    dialect: Dialect,
) -> Result<(), Response> {
    let allowed = &entry.key.policy.allowed_clients;
    if allowed.is_empty() || allowed.iter().any(|c| c == "any") {
        return Ok(());
    }
    let strict = state.snapshot.load().settings.client_detection_strict;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut signals = ClientSignals {
        user_agent: header("user-agent").unwrap_or_default(),
        x_app: header("x-app"),
        originator: header("originator"),
        codex_session: headers.contains_key("session-id") || headers.contains_key("session_id"),
        goog_api_client: header("x-goog-api-client"),
        ..Default::default()
    };
    if strict && let Some(body) = body {
        signals.read_body(body);
    }
    let detected = detect_client(&signals, strict);
    let ok = detected.is_some_and(|d| allowed.iter().any(|c| ClientKind::parse(c) == Some(d)));
    if ok {
        return Ok(());
    }
    Err(refuse(
        dialect,
        403,
        &format!(
            "this API key may only be used from {} (this request {})",
            allowed.join(", "),
            match detected {
                Some(d) => format!("came from {}", d.as_str()),
                None => "was not recognised as one of them".into(),
            }
        ),
    ))
}

pub fn admit_model(
    state: &AppState,
    entry: &KeyEntry,
    model: &str,
    dialect: Dialect,
) -> Result<(), Response> {
    if !model_allowed(&entry.key.policy.allowed_models, model) {
        return Err(refuse(
            dialect,
            403,
            &format!("this API key may not use model `{model}`"),
        ));
    }
    // A cost limit cannot hold for a model whose cost is unknown.
    let p = &entry.key.policy;
    let u = &entry.user_limits;
    let cost_limited = [
        p.daily_cost_limit_usd,
        p.weekly_cost_limit_usd,
        p.total_cost_limit_usd,
        u.daily_cost_limit_usd,
        u.weekly_cost_limit_usd,
        u.total_cost_limit_usd,
    ]
    .iter()
    .any(Option::is_some);
    if cost_limited && state.snapshot.load().prices.price(model).is_none() {
        return Err(refuse(
            dialect,
            403,
            &format!(
                "model `{model}` has no known price and this API key has a cost limit; an operator can add one with `switchyard price set`"
            ),
        ));
    }
    Ok(())
}

/// The accounts this key's requests may be routed to, if it is bound, and whether the shared
/// pool may be used when none of them can serve.
pub fn binding(entry: &KeyEntry) -> Option<(Arc<[switchyard_core::AccountId]>, bool)> {
    entry
        .bound_accounts
        .clone()
        .map(|a| (a, entry.key.policy.pool_fallback))
}
