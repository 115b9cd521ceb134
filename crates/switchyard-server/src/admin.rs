//! The admin HTTP API (JSON), for operators and the future web UI. Authenticated with HTTP
//! Basic credentials of a user whose role is `admin`.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::health_check;
use crate::state::AppState;
use crate::views::AccountView;

/// Successful logins are remembered this long, so argon2 runs once per session, not per call.
const LOGIN_CACHE: Duration = Duration::from_secs(300);

/// Failed logins allowed per user name within [`FAILURE_WINDOW`] before further attempts are
/// refused without running argon2 (which is deliberately expensive).
const MAX_FAILURES: u32 = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct AdminLogins {
    verified: Mutex<HashMap<[u8; 32], Instant>>,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl AdminLogins {
    fn locked_out(&self, name: &str) -> bool {
        let map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(name)
            .is_some_and(|(n, since)| *n >= MAX_FAILURES && since.elapsed() < FAILURE_WINDOW)
    }

    fn failed(&self, name: &str) {
        let mut map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        if map.len() > 10_000 {
            map.clear();
        }
        let entry = map.entry(name.to_string()).or_insert((0, Instant::now()));
        entry.0 += 1;
    }
}

pub fn routes(state: Arc<AppState>) -> axum::Router<Arc<AppState>> {
    axum::Router::new()
        .route("/admin/api/accounts", get(list_accounts))
        .route("/admin/api/accounts/check", post(check_all))
        .route("/admin/api/accounts/{id}/check", post(check_one))
        .route("/admin/api/health-check", get(health_check_status))
        .route_layer(axum::middleware::from_fn_with_state(state, require_admin))
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({"error": {"message": message}})),
    )
        .into_response()
}

async fn require_admin(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    match authorized(&state, req.headers()).await {
        Ok(()) => next.run(req).await,
        Err(resp) => resp,
    }
}

async fn authorized(state: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    let unauthorized = || {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "admin credentials required (HTTP Basic)",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"switchyard\""),
        );
        r
    };
    let encoded = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .ok_or_else(unauthorized)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(unauthorized)?;
    let fingerprint: [u8; 32] = Sha256::digest(decoded.as_bytes()).into();
    {
        let cache = state
            .admin_logins
            .verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if cache
            .get(&fingerprint)
            .is_some_and(|t| t.elapsed() < LOGIN_CACHE)
        {
            return Ok(());
        }
    }
    let (name, password) = decoded.split_once(':').ok_or_else(unauthorized)?;
    if state.admin_logins.locked_out(name) {
        return Err(error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins; try again in a minute",
        ));
    }
    let user = state
        .store
        .user_by_name(name)
        .await
        .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()))?
        .filter(|u| u.role == "admin" && u.status == "active")
        .ok_or_else(|| {
            state.admin_logins.failed(name);
            unauthorized()
        })?;
    let hash = user.password_hash.ok_or_else(unauthorized)?;
    let password = password.to_string();
    let ok = tokio::task::spawn_blocking(move || {
        switchyard_store::crypto::verify_password(&password, &hash)
    })
    .await
    .unwrap_or(false);
    if !ok {
        state.admin_logins.failed(name);
        return Err(unauthorized());
    }
    let mut cache = state
        .admin_logins
        .verified
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    cache.retain(|_, t| t.elapsed() < LOGIN_CACHE);
    cache.insert(fingerprint, Instant::now());
    Ok(())
}

async fn list_accounts(State(state): State<Arc<AppState>>) -> Response {
    let quotas = state.store.account_quotas().await.unwrap_or_default();
    let snap = state.snapshot.load();
    let views: Vec<AccountView> = snap
        .accounts
        .iter()
        .map(|a| AccountView::new(a, quotas.get(&a.id)))
        .collect();
    Json(views).into_response()
}

async fn check_one(State(state): State<Arc<AppState>>, Path(selector): Path<String>) -> Response {
    let snap = state.snapshot.load();
    let account = snap
        .accounts
        .iter()
        .find(|a| a.id.to_string() == selector || a.name == selector)
        .cloned();
    match account {
        Some(a) => Json(state.check_account(&a).await).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            &format!("account `{selector}` not found"),
        ),
    }
}

async fn check_all(State(state): State<Arc<AppState>>) -> Response {
    let snap = state.snapshot.load();
    let mut reports = Vec::new();
    for a in snap.accounts.iter().filter(|a| health_check::eligible(a)) {
        reports.push(state.check_account(a).await);
    }
    Json(reports).into_response()
}

async fn health_check_status(State(state): State<Arc<AppState>>) -> Response {
    let settings = state.snapshot.load().settings.clone();
    Json(serde_json::json!({
        "enabled": settings.bool("account_health_check_enabled"),
        "interval_minutes": settings.int("account_health_check_interval"),
        "error_threshold": settings.int("account_error_threshold"),
        "recovery_enabled": settings.bool("account_recovery_enabled"),
        "last_round_at": state.health.last_round(),
        "next_round_at": state.health.next_round(&settings),
    }))
    .into_response()
}
