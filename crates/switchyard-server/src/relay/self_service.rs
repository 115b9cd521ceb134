//! `GET /api/self/usage`: what a key holder may see about its own key — its limits, what it
//! has spent today, this week and in total (the same counters the admit phase enforces), and
//! its recent requests. Authenticated with the key itself; a revoked or expired key still
//! sees its usage, so its holder can tell why it stopped working.

use axum::Json;
use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use switchyard_core::Dialect;
use switchyard_store::coord::Scope;

use super::{admit, auth, reply};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct Params {
    /// Recent requests to include (default 20, at most 200).
    limit: Option<u32>,
}

pub async fn usage(
    State(state): State<Arc<AppState>>,
    Query(params): Query<Params>,
    req: Request,
) -> Response {
    // Our own endpoint: errors in the OpenAI shape, the most widely understood one.
    let dialect = Dialect::OpenaiChat;
    let entry = match auth::authenticate(&state, req.headers(), req.uri().query(), dialect) {
        Ok(k) => k,
        Err(resp) => return resp,
    };
    let key = &entry.key;
    let now = Utc::now();
    let periods = admit::periods(&state);
    let used = state.limits.used_by_key(key.id, now, &periods);
    let user_used = state.limits.used_by_user(key.user_id, now, &periods);
    let limit = params.limit.unwrap_or(20).min(200);
    let recent = match state.store.recent_usage_for_key(key.id, limit).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "reading a key's recent usage");
            return reply::error(dialect, 503, None, "usage is unavailable right now");
        }
    };
    let first_use = state.limits.first_use(key);
    let p = &key.policy;
    Json(json!({
        "key": {
            "id": key.id,
            "name": key.name,
            "prefix": key.prefix,
            "status": key.status.as_str(),
            "created_at": key.created_at,
            "first_used_at": first_use,
            "expires_at": key.expiry(first_use),
        },
        "limits": {
            "expires_at": p.expires_at,
            "expires_after_seconds": p.expires_after_seconds,
            "allowed_models": p.allowed_models,
            "allowed_dialects": p.allowed_dialects,
            "allowed_clients": p.allowed_clients,
            "concurrency": p.concurrency_limit,
            "requests_per_minute": p.rate_limit_per_minute,
            "tokens_per_minute": p.tokens_per_minute,
            "daily_cost_usd": p.daily_cost_limit_usd,
            "weekly_cost_usd": p.weekly_cost_limit_usd,
            "total_cost_usd": p.total_cost_limit_usd,
            "bound": p.bound_account_id.is_some() || p.bound_group_id.is_some(),
        },
        "usage": {
            "today_usd": used.day_usd,
            "this_week_usd": used.week_usd,
            "total_usd": used.total_usd,
            "requests_last_minute": used.requests_last_minute,
            "tokens_last_minute": used.tokens_last_minute,
            "in_flight": state.coord.in_flight(Scope::Key, key.id),
            "day_resets_at": periods.day_end(),
            "week_resets_at": periods.week_end(),
        },
        "owner": {
            "limits": entry.user_limits,
            "today_usd": user_used.day_usd,
            "this_week_usd": user_used.week_usd,
            "total_usd": user_used.total_usd,
        },
        "recent": recent,
    }))
    .into_response()
}
