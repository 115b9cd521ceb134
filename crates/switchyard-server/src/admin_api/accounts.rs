//! Accounts: list, get, create, update, enable/disable, delete — a front over
//! [`crate::ops::accounts`], which validates, stores and audits — plus "check now" (the
//! health probe) and "test" (a tiny real request through the relay pipeline). Credentials are
//! write-only: answers carry only a masked hint.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use schemars::JsonSchema;
use serde::Serialize;
use std::sync::Arc;

use super::{Body, Front, Operation, Params, Problem};
use crate::health_check::{self, CheckReport};
use crate::ops::accounts::{self, AccountFilter, AccountPatchBody, NewAccountBody};
use crate::state::AppState;
use crate::views::AccountView;

#[derive(Serialize, JsonSchema)]
pub struct TestResult {
    /// HTTP status the test request got through the relay.
    pub status: u16,
    pub ok: bool,
    pub latency_ms: u64,
    /// The start of the answer (errors in full, up to 2 KiB).
    pub excerpt: String,
}

pub fn operations() -> Vec<Operation> {
    vec![
        Operation::get(
            "/accounts",
            "accounts",
            "List accounts (filter by kind, status, group)",
            get(list),
        )
        .query::<AccountFilter>()
        .ok::<Vec<AccountView>>(200),
        Operation::post("/accounts", "accounts", "Create an account", post(create))
            .body::<NewAccountBody>()
            .ok::<AccountView>(201),
        Operation::get(
            "/accounts/{id}",
            "accounts",
            "Get an account (id or name)",
            get(get_one),
        )
        .ok::<AccountView>(200),
        Operation::patch(
            "/accounts/{id}",
            "accounts",
            "Update an account",
            patch(update),
        )
        .body::<AccountPatchBody>()
        .ok::<AccountView>(200),
        Operation::delete(
            "/accounts/{id}",
            "accounts",
            "Delete an account",
            delete(remove),
        )
        .no_content(),
        Operation::post(
            "/accounts/{id}/enable",
            "accounts",
            "Enable an account (clears its error state)",
            post(enable),
        )
        .ok::<AccountView>(200),
        Operation::post(
            "/accounts/{id}/disable",
            "accounts",
            "Disable an account (never re-enabled automatically)",
            post(disable),
        )
        .ok::<AccountView>(200),
        Operation::post(
            "/accounts/{id}/check",
            "accounts",
            "Run the health probe now",
            post(check_one),
        )
        .ok::<CheckReport>(200),
        Operation::post(
            "/accounts/{id}/test",
            "accounts",
            "Send a tiny real request through this account",
            post(test),
        )
        .ok::<TestResult>(200),
        Operation::post(
            "/accounts/check",
            "accounts",
            "Run the health probe on every covered account",
            post(check_all),
        )
        .ok::<Vec<CheckReport>>(200),
        Operation::get(
            "/health-check",
            "accounts",
            "Health-check settings and rounds",
            get(health_status),
        )
        .ok::<serde_json::Value>(200),
    ]
}

async fn list(f: Front, Params(filter): Params<AccountFilter>) -> Response {
    f.done(200, accounts::list(&f.ctx(), &filter).await)
}

async fn create(f: Front, Body(b): Body<NewAccountBody>) -> Response {
    f.done(201, accounts::create(&f.ctx(), b).await)
}

async fn get_one(f: Front, Path(id): Path<String>) -> Response {
    f.done(200, accounts::get(&f.ctx(), &id).await)
}

async fn update(f: Front, Path(id): Path<String>, Body(b): Body<AccountPatchBody>) -> Response {
    f.done(200, accounts::update(&f.ctx(), &id, b).await)
}

async fn remove(f: Front, Path(id): Path<String>) -> Response {
    f.done_empty(accounts::remove(&f.ctx(), &id).await)
}

async fn enable(f: Front, Path(id): Path<String>) -> Response {
    f.done(200, accounts::set_enabled(&f.ctx(), &id, true).await)
}

async fn disable(f: Front, Path(id): Path<String>) -> Response {
    f.done(200, accounts::set_enabled(&f.ctx(), &id, false).await)
}

async fn check_one(f: Front, Path(id): Path<String>) -> Response {
    match accounts::find(&f.ctx(), &id).await {
        Ok(a) => Json(f.state.check_account(&a).await).into_response(),
        Err(e) => Problem::from_op(e),
    }
}

async fn check_all(State(state): State<Arc<AppState>>) -> Response {
    let snap = state.snapshot.load_full();
    let mut reports = Vec::new();
    for a in snap.accounts.iter().filter(|a| health_check::eligible(a)) {
        reports.push(state.check_account(a).await);
    }
    Json(reports).into_response()
}

async fn test(f: Front, Path(id): Path<String>) -> Response {
    let account = match accounts::find(&f.ctx(), &id).await {
        Ok(a) => a,
        Err(e) => return Problem::from_op(e),
    };
    let state = &f.state;
    // The account may have been created or changed a moment ago.
    let _ = state.refresh_if_changed().await;
    let started = std::time::Instant::now();
    let resp = crate::relay::test_account(state, &account).await;
    let status = resp.status().as_u16();
    let body = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let excerpt = String::from_utf8_lossy(&body[..body.len().min(2048)]).into_owned();
    Json(TestResult {
        status,
        ok: (200..300).contains(&status),
        latency_ms: started.elapsed().as_millis() as u64,
        excerpt,
    })
    .into_response()
}

async fn health_status(State(state): State<Arc<AppState>>) -> Response {
    let settings = state.snapshot.load().settings.clone();
    Json(serde_json::json!({
        "enabled": settings.account_health_check_enabled,
        "interval_minutes": settings.account_health_check_interval,
        "error_threshold": settings.account_error_threshold,
        "recovery_enabled": settings.account_recovery_enabled,
        "last_round_at": state.health.last_round(),
        "next_round_at": state.health.next_round(&settings),
    }))
    .into_response()
}
