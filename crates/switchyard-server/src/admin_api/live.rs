//! What is happening now, for the console's dashboard and tables: requests in flight, sticky
//! sessions and concurrency per account, spend per key and user (the same counters the admit
//! phase enforces), and the health check's status with the accounts currently failing. Read
//! from memory, never the store. Also: clearing an account's sticky sessions.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use std::sync::Arc;
use switchyard_core::AccountStatus;
use switchyard_store::coord::Scope;

use super::problem::Problem;
use super::{Caller, Operation, audit};
use crate::state::AppState;

#[derive(Serialize, JsonSchema)]
pub struct Live {
    pub at: DateTime<Utc>,
    /// Relay requests admitted and not yet settled, on this server.
    pub in_flight: u64,
    pub accounts: Vec<AccountLive>,
    pub keys: Vec<SpendLive>,
    pub users: Vec<SpendLive>,
    pub health: HealthLive,
}

#[derive(Serialize, JsonSchema)]
pub struct AccountLive {
    pub id: i64,
    pub in_flight: u32,
    /// 0: unlimited.
    pub max_concurrency: u32,
    /// Conversations bound to this account now.
    pub sticky_sessions: usize,
}

#[derive(Serialize, JsonSchema)]
pub struct SpendLive {
    /// The key's or user's id.
    pub id: i64,
    pub in_flight: u32,
    pub today_usd: f64,
    pub this_week_usd: f64,
    pub total_usd: f64,
}

#[derive(Serialize, JsonSchema)]
pub struct HealthLive {
    pub enabled: bool,
    pub interval_minutes: u64,
    pub last_round_at: Option<DateTime<Utc>>,
    pub next_round_at: Option<DateTime<Utc>>,
    /// What the last round (periodic or run from here) did.
    pub last_round: Option<crate::health_check::RoundSummary>,
    /// Accounts with errors in a row, in the error state, or disabled by the health check.
    pub failing: Vec<i64>,
}

#[derive(Serialize, JsonSchema)]
pub struct ClearedSticky {
    pub cleared: usize,
}

pub fn operations() -> Vec<Operation> {
    vec![
        Operation::get(
            "/live",
            "live",
            "In flight now, sticky sessions, spend per key and user, health-check status",
            get(live),
        )
        .ok::<Live>(200),
        Operation::delete(
            "/accounts/{id}/sticky",
            "accounts",
            "Clear an account's sticky sessions (id or name)",
            delete(clear_sticky),
        )
        .ok::<ClearedSticky>(200),
        Operation::post(
            "/health-check/run",
            "accounts",
            "Run a health-check round now (the periodic round: checked accounts and recovery probes)",
            post(run_round),
        )
        .ok::<crate::health_check::RoundSummary>(200),
    ]
}

async fn run_round(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    crate::health_check::round(&state).await;
    let Some(summary) = state.health.last_summary() else {
        return Problem::response(500, "internal", "the round left no summary", None);
    };
    audit(
        &state,
        &caller,
        "health.round",
        "accounts",
        None,
        serde_json::to_value(&summary).ok(),
    )
    .await;
    Json(summary).into_response()
}

async fn live(State(state): State<Arc<AppState>>) -> Response {
    let snap = state.snapshot.load_full();
    let now = Utc::now();
    let periods = crate::relay::admit::periods(&state);
    let sticky = state.coord.sticky_per_account();
    let accounts = snap
        .accounts
        .iter()
        .map(|a| AccountLive {
            id: a.id,
            in_flight: state.coord.in_flight(Scope::Account, a.id),
            max_concurrency: a.max_concurrency,
            sticky_sessions: sticky.get(&a.id).copied().unwrap_or(0),
        })
        .collect();
    let spend = |id: i64, in_flight: u32, used: crate::limits::Used| SpendLive {
        id,
        in_flight,
        today_usd: used.day_usd,
        this_week_usd: used.week_usd,
        total_usd: used.total_usd,
    };
    let mut keys: Vec<SpendLive> = snap
        .keys
        .values()
        .map(|k| {
            let id = k.key.id;
            spend(
                id,
                state.coord.in_flight(Scope::Key, id),
                state.limits.used_by_key(id, now, &periods),
            )
        })
        .collect();
    keys.sort_by_key(|k| k.id);
    let mut user_ids: Vec<i64> = snap.keys.values().map(|k| k.key.user_id).collect();
    user_ids.sort_unstable();
    user_ids.dedup();
    let users = user_ids
        .into_iter()
        .map(|id| {
            spend(
                id,
                state.coord.in_flight(Scope::User, id),
                state.limits.used_by_user(id, now, &periods),
            )
        })
        .collect();
    let settings = &snap.settings;
    let failing = snap
        .accounts
        .iter()
        .filter(|a| {
            a.status == AccountStatus::Error
                || (a.status == AccountStatus::Disabled
                    && a.status_reason.as_deref() == Some(crate::health_check::REASON))
                || a.consecutive_errors > 0
        })
        .map(|a| a.id)
        .collect();
    Json(Live {
        at: now,
        in_flight: state.coord.total(Scope::Key),
        accounts,
        keys,
        users,
        health: HealthLive {
            enabled: settings.account_health_check_enabled,
            interval_minutes: settings.account_health_check_interval,
            last_round_at: state.health.last_round(),
            next_round_at: state.health.next_round(settings),
            last_round: state.health.last_summary(),
            failing,
        },
    })
    .into_response()
}

async fn clear_sticky(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let snap = state.snapshot.load_full();
    let Some(account) = snap
        .accounts
        .iter()
        .find(|a| a.id.to_string() == id || a.name == id)
    else {
        return Problem::not_found(&format!("account `{id}` not found"));
    };
    let cleared = state.coord.clear_account_bindings(account.id).await;
    audit(
        &state,
        &caller,
        "account.sticky.clear",
        &account.name,
        None,
        Some(serde_json::json!({"cleared": cleared})),
    )
    .await;
    Json(ClearedSticky { cleared }).into_response()
}
