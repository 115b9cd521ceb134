//! Accounts: list, get, create, update, enable/disable, delete, "check now" (the health
//! probe) and "test" (a tiny real request through the relay pipeline). Credentials are
//! write-only: answers carry only a masked hint.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use switchyard_core::Secret;
use switchyard_core::account::{
    Account, AccountKind, AccountStatus, Credentials, missing_credentials,
};
use switchyard_store::{AccountPatch, AccountState, NewAccount};

use super::problem::{Problem, bad_body, bad_query};
use super::{Caller, Operation, audit};
use crate::health_check::{self, CheckReport};
use crate::state::AppState;
use crate::views::AccountView;

#[derive(Deserialize, JsonSchema, Default)]
pub struct AccountFilter {
    pub kind: Option<AccountKind>,
    pub status: Option<AccountStatus>,
    /// Group id or name.
    pub group: Option<String>,
}

/// Secrets of an account. Write-only: never returned.
#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CredentialsBody {
    pub api_key: Option<String>,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub session_key: Option<String>,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<String>,
    pub aws_session_token: Option<String>,
    pub client_secret: Option<String>,
}

impl CredentialsBody {
    fn is_empty(&self) -> bool {
        self.api_key.is_none()
            && self.access_token.is_none()
            && self.refresh_token.is_none()
            && self.expires_at.is_none()
            && self.session_key.is_none()
            && self.aws_access_key_id.is_none()
            && self.aws_secret_access_key.is_none()
            && self.aws_session_token.is_none()
            && self.client_secret.is_none()
    }

    /// Given fields replace the old ones; the others stay.
    fn merge_into(self, old: Credentials) -> Credentials {
        let s = |v: Option<String>| v.filter(|v| !v.is_empty()).map(Secret::new);
        Credentials {
            api_key: s(self.api_key).or(old.api_key),
            access_token: s(self.access_token).or(old.access_token),
            refresh_token: s(self.refresh_token).or(old.refresh_token),
            expires_at: self.expires_at.or(old.expires_at),
            session_key: s(self.session_key).or(old.session_key),
            aws_access_key_id: s(self.aws_access_key_id).or(old.aws_access_key_id),
            aws_secret_access_key: s(self.aws_secret_access_key).or(old.aws_secret_access_key),
            aws_session_token: s(self.aws_session_token).or(old.aws_session_token),
            client_secret: s(self.client_secret).or(old.client_secret),
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccountBody {
    pub kind: AccountKind,
    /// Not a number (ids and names share selectors).
    #[schemars(regex(pattern = r"[^0-9\s]"))]
    pub name: String,
    pub base_url: Option<String>,
    /// Lower is tried first (default 50).
    pub priority: Option<i32>,
    /// Share within a priority tier (default 1).
    pub weight: Option<u32>,
    /// Models served (`prefix*` allowed); empty: any.
    #[serde(default)]
    pub allowed_models: Vec<String>,
    /// Requested model → upstream model.
    #[serde(default)]
    pub model_map: BTreeMap<String, String>,
    pub max_concurrency: Option<u32>,
    pub proxy_url: Option<String>,
    /// Kind-specific, non-secret settings (`deployment`, `api_version`, `region`, `project`,
    /// `client_id`, `health_check`, `pause_at_utilization`).
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub credentials: CredentialsBody,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AccountPatchBody {
    pub name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<String>")]
    pub base_url: Option<Option<String>>,
    pub priority: Option<i32>,
    pub weight: Option<u32>,
    pub allowed_models: Option<Vec<String>>,
    pub model_map: Option<BTreeMap<String, String>>,
    pub max_concurrency: Option<u32>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<String>")]
    pub proxy_url: Option<Option<String>>,
    /// Merged into the stored settings; a `null` value removes a setting.
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
    /// Given secrets replace the stored ones; the others stay.
    pub credentials: Option<CredentialsBody>,
}

/// Tells a missing field from an explicit `null`.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

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

async fn view(state: &AppState, account: &Account) -> AccountView {
    let quotas = state.store.account_quotas().await.unwrap_or_default();
    AccountView::new(account, quotas.get(&account.id))
}

fn to_value(v: &AccountView) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}

async fn list(
    State(state): State<Arc<AppState>>,
    query: Result<Query<AccountFilter>, QueryRejection>,
) -> Response {
    let Query(f) = match query {
        Ok(q) => q,
        Err(e) => return bad_query(e),
    };
    let accounts = match state.store.list_accounts().await {
        Ok(a) => a,
        Err(e) => return Problem::from_store(e),
    };
    let members = match &f.group {
        Some(g) => match state.store.find_group(g).await {
            Ok(group) => Some(group.account_ids),
            Err(switchyard_store::StoreError::NotFound(_)) => {
                return Problem::invalid("group", &format!("no account group `{g}`"));
            }
            Err(e) => return Problem::from_store(e),
        },
        None => None,
    };
    let quotas = state.store.account_quotas().await.unwrap_or_default();
    let views: Vec<AccountView> = accounts
        .iter()
        .filter(|a| f.kind.is_none_or(|k| a.kind == k))
        .filter(|a| f.status.is_none_or(|s| a.status == s))
        .filter(|a| members.as_ref().is_none_or(|m| m.contains(&a.id)))
        .map(|a| AccountView::new(a, quotas.get(&a.id)))
        .collect();
    Json(views).into_response()
}

fn validate_url(field: &str, url: &str) -> Result<(), Response> {
    let ok = url::Url::parse(url).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https" | "socks5" | "socks5h") && u.host().is_some()
    });
    if ok {
        Ok(())
    } else {
        Err(Problem::invalid(
            field,
            &format!("`{url}` is not a usable URL"),
        ))
    }
}

async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<NewAccountBody>, JsonRejection>,
) -> Response {
    let Json(b) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    if !b
        .name
        .chars()
        .any(|c| !c.is_ascii_digit() && !c.is_whitespace())
    {
        return Problem::invalid("name", "an account name must not be empty or a number");
    }
    if let Some(u) = &b.base_url
        && let Err(resp) = validate_url("base_url", u)
    {
        return resp;
    }
    // A proxy URL inline, or the name of a proxy object.
    if let Some(p) = &b.proxy_url
        && let Err(e) = crate::ops::proxies::check_account_proxy(state.store.as_ref(), p).await
    {
        return super::proxies::op_error(e);
    }
    let credentials = b.credentials.merge_into(Credentials::default());
    let deployment = b.extra.get("deployment").and_then(|v| v.as_str());
    if let Some(message) =
        missing_credentials(b.kind, &credentials, b.base_url.as_deref(), deployment)
    {
        return Problem::invalid("credentials", &message.replace("--", "").replace('-', "_"));
    }
    let created = match state
        .store
        .create_account(NewAccount {
            kind: Some(b.kind),
            name: b.name,
            base_url: b.base_url,
            priority: b.priority,
            weight: b.weight,
            allowed_models: b.allowed_models,
            model_map: b.model_map,
            max_concurrency: b.max_concurrency,
            proxy_url: b.proxy_url,
            extra: b.extra,
            credentials,
        })
        .await
    {
        Ok(a) => a,
        Err(e) => return Problem::from_store(e),
    };
    let v = view(&state, &created).await;
    audit(
        &state,
        &caller,
        "account.create",
        &created.name,
        None,
        to_value(&v),
    )
    .await;
    (axum::http::StatusCode::CREATED, Json(v)).into_response()
}

async fn find(state: &AppState, id: &str) -> Result<Account, Response> {
    state
        .store
        .find_account(id)
        .await
        .map_err(Problem::from_store)
}

async fn get_one(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match find(&state, &id).await {
        Ok(a) => Json(view(&state, &a).await).into_response(),
        Err(resp) => resp,
    }
}

async fn update(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Json<AccountPatchBody>, JsonRejection>,
) -> Response {
    let Json(b) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    let old = match find(&state, &id).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    if let Some(Some(u)) = &b.base_url
        && let Err(resp) = validate_url("base_url", u)
    {
        return resp;
    }
    if let Some(Some(p)) = &b.proxy_url
        && let Err(e) = crate::ops::proxies::check_account_proxy(state.store.as_ref(), p).await
    {
        return super::proxies::op_error(e);
    }
    let before = view(&state, &old).await;
    let extra = b.extra.map(|changes| {
        let mut extra = old.extra.clone();
        for (k, v) in changes {
            if v.is_null() {
                extra.remove(&k);
            } else {
                extra.insert(k, v);
            }
        }
        extra
    });
    let credentials = b
        .credentials
        .filter(|c| !c.is_empty())
        .map(|c| c.merge_into(old.credentials.clone()));
    let patch = AccountPatch {
        name: b.name,
        base_url: b.base_url,
        priority: b.priority,
        weight: b.weight,
        allowed_models: b.allowed_models,
        model_map: b.model_map,
        max_concurrency: b.max_concurrency,
        proxy_url: b.proxy_url,
        extra,
        credentials,
    };
    match state.store.update_account(old.id, patch).await {
        Ok(updated) => {
            let after = view(&state, &updated).await;
            audit(
                &state,
                &caller,
                "account.update",
                &updated.name,
                to_value(&before),
                to_value(&after),
            )
            .await;
            Json(after).into_response()
        }
        Err(e) => Problem::from_store(e),
    }
}

async fn remove(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let old = match find(&state, &id).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let before = view(&state, &old).await;
    if let Err(e) = state.store.remove_account(old.id).await {
        return Problem::from_store(e);
    }
    audit(
        &state,
        &caller,
        "account.delete",
        &old.name,
        to_value(&before),
        None,
    )
    .await;
    axum::http::StatusCode::NO_CONTENT.into_response()
}

async fn set_enabled(state: &Arc<AppState>, caller: &Caller, id: &str, enabled: bool) -> Response {
    let old = match find(state, id).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let new_state = if enabled {
        AccountState {
            status: AccountStatus::Active,
            reason: None,
            until: None,
            consecutive_errors: 0,
        }
    } else {
        AccountState {
            status: AccountStatus::Disabled,
            reason: Some("disabled by an operator".into()),
            until: None,
            consecutive_errors: old.consecutive_errors,
        }
    };
    if let Err(e) = state
        .store
        .set_account_state_by_operator(old.id, &new_state)
        .await
    {
        return Problem::from_store(e);
    }
    let _ = state.refresh_if_changed().await;
    let updated = match find(state, id).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let action = if enabled {
        "account.enable"
    } else {
        "account.disable"
    };
    audit(
        state,
        caller,
        action,
        &updated.name,
        Some(serde_json::json!({"status": old.status})),
        Some(serde_json::json!({"status": updated.status})),
    )
    .await;
    Json(view(state, &updated).await).into_response()
}

async fn enable(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    set_enabled(&state, &caller, &id, true).await
}

async fn disable(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    set_enabled(&state, &caller, &id, false).await
}

async fn check_one(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match find(&state, &id).await {
        Ok(a) => Json(state.check_account(&a).await).into_response(),
        Err(resp) => resp,
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

async fn test(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let account = match find(&state, &id).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    // The account may have been created or changed a moment ago.
    let _ = state.refresh_if_changed().await;
    let started = std::time::Instant::now();
    let resp = crate::relay::test_account(&state, &account).await;
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
