//! API keys: list, get, create (the full key is returned once), update policy, revoke,
//! rotate. A `user` sees only its own keys, and creates, revokes and rotates them when the
//! `user_key_self_service` setting allows (never bound to accounts or groups); policy changes
//! need the admin role.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use switchyard_core::key::{self, ApiKey, KeyPolicy};
use switchyard_store::NewApiKey;

use super::problem::{Problem, bad_body};
use super::{Access, Caller, Operation, audit};
use crate::state::AppState;

#[derive(Serialize, JsonSchema)]
pub struct KeyView {
    pub id: i64,
    pub name: String,
    /// The first characters, enough to recognise the key. The key itself is never shown again.
    pub prefix: String,
    pub user_id: i64,
    /// `active` or `revoked`.
    pub status: String,
    pub policy: KeyPolicy,
    pub first_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<&ApiKey> for KeyView {
    fn from(k: &ApiKey) -> Self {
        KeyView {
            id: k.id,
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            user_id: k.user_id,
            status: k.status.as_str().into(),
            policy: k.policy.clone(),
            first_used_at: k.first_used_at,
            created_at: k.created_at,
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    #[schemars(regex(pattern = r"\S"))]
    pub name: String,
    /// Owner's user name (default: the caller).
    pub user: Option<String>,
    #[serde(default)]
    pub policy: KeyPolicy,
}

#[derive(Serialize, JsonSchema)]
pub struct CreatedKey {
    /// The full key (`sk-sy-…`), shown only in this answer.
    pub key: String,
    #[serde(flatten)]
    pub info: KeyView,
}

pub fn operations() -> Vec<Operation> {
    vec![
        Operation::get(
            "/keys",
            "keys",
            "List keys (a `user` sees its own)",
            get(list),
        )
        .access(Access::Member)
        .ok::<Vec<KeyView>>(200),
        Operation::post(
            "/keys",
            "keys",
            "Create a key (the full key is returned once; a `user` its own, when allowed)",
            post(create),
        )
        .access(Access::Member)
        .body::<NewKeyBody>()
        .ok::<CreatedKey>(201),
        Operation::get(
            "/keys/{id}",
            "keys",
            "Get a key (id, prefix or name)",
            get(get_one),
        )
        .access(Access::Member)
        .ok::<KeyView>(200),
        Operation::patch(
            "/keys/{id}",
            "keys",
            "Change a key's policy (given fields only; null clears)",
            patch(update),
        )
        .body::<KeyPolicy>()
        .ok::<KeyView>(200),
        Operation::post(
            "/keys/{id}/revoke",
            "keys",
            "Revoke a key (a `user` its own, when allowed)",
            post(revoke),
        )
        .access(Access::Member)
        .ok::<KeyView>(200),
        Operation::post(
            "/keys/{id}/rotate",
            "keys",
            "Replace a key's secret, keeping its policy (returned once; a `user` its own, when allowed)",
            post(rotate),
        )
        .access(Access::Member)
        .ok::<CreatedKey>(200),
    ]
}

async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    match state.store.list_keys().await {
        Ok(keys) => Json(
            keys.iter()
                .filter(|k| caller.is_admin() || k.user_id == caller.user.id)
                .map(KeyView::from)
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => Problem::from_store(e),
    }
}

async fn find(state: &AppState, caller: &Caller, id: &str) -> Result<ApiKey, Response> {
    if caller.is_admin() {
        return state.store.find_key(id).await.map_err(Problem::from_store);
    }
    // A `user` looks among its own keys only: other users' keys (and their names) do not
    // exist for it.
    let own: Vec<ApiKey> = state
        .store
        .list_keys()
        .await
        .map_err(Problem::from_store)?
        .into_iter()
        .filter(|k| k.user_id == caller.user.id)
        .filter(|k| k.id.to_string() == id || k.prefix == id || k.name == id)
        .collect();
    match <[ApiKey; 1]>::try_from(own) {
        Ok([k]) => Ok(k),
        Err(v) if v.is_empty() => Err(Problem::not_found(&format!("key `{id}` not found"))),
        Err(_) => Err(Problem::response(
            409,
            "conflict",
            &format!("`{id}` matches several of your keys; use the key's id"),
            None,
        )),
    }
}

async fn get_one(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    match find(&state, &caller, &id).await {
        Ok(k) => Json(KeyView::from(&k)).into_response(),
        Err(resp) => resp,
    }
}

/// A `user` changes its own keys only when the `user_key_self_service` setting allows it.
pub fn self_service_allowed(state: &AppState) -> bool {
    state.snapshot.load().settings.user_key_self_service
}

fn self_service(state: &AppState, caller: &Caller) -> Result<(), Response> {
    if caller.is_admin() || self_service_allowed(state) {
        Ok(())
    } else {
        Err(Problem::forbidden(
            "forbidden",
            "users may not manage their own keys here (setting `user_key_self_service`)",
        ))
    }
}

fn value(k: &ApiKey) -> Option<serde_json::Value> {
    serde_json::to_value(KeyView::from(k)).ok()
}

async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<NewKeyBody>, JsonRejection>,
) -> Response {
    let Json(b) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    if let Err(resp) = self_service(&state, &caller) {
        return resp;
    }
    if b.name.trim().is_empty() {
        return Problem::invalid("name", "a key needs a name");
    }
    if !caller.is_admin() {
        // A user's key is its own, routed through the shared pool; the owner's limits apply.
        if b.user.as_ref().is_some_and(|u| *u != caller.user.name) {
            return Problem::invalid("user", "a user creates keys for itself only");
        }
        if b.policy.bound_account_id.is_some() || b.policy.bound_group_id.is_some() {
            let field = if b.policy.bound_account_id.is_some() {
                "bound_account_id"
            } else {
                "bound_group_id"
            };
            return Problem::invalid(field, "only an admin binds keys to accounts or groups");
        }
    }
    let owner = match &b.user {
        Some(name) => match state.store.user_by_name(name).await {
            Ok(Some(u)) => u,
            Ok(None) => return Problem::invalid("user", &format!("user `{name}` not found")),
            Err(e) => return Problem::from_store(e),
        },
        None => caller.user.clone(),
    };
    if let Err(resp) = check_policy(&b.policy) {
        return resp;
    }
    let generated = key::generate();
    let created = match state
        .store
        .create_key(NewApiKey {
            user_id: owner.id,
            name: b.name,
            prefix: generated.prefix.clone(),
            hash: generated.hash.clone(),
            policy: b.policy,
        })
        .await
    {
        Ok(k) => k,
        Err(e) => return Problem::from_store(e),
    };
    audit(
        &state,
        &caller,
        "key.create",
        &created.prefix,
        None,
        value(&created),
    )
    .await;
    (
        axum::http::StatusCode::CREATED,
        Json(CreatedKey {
            key: generated.full,
            info: KeyView::from(&created),
        }),
    )
        .into_response()
}

fn check_policy(p: &KeyPolicy) -> Result<(), Response> {
    p.validate()
        .map_err(|e| Problem::invalid(e.field, &e.message))
}

async fn update(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Json<serde_json::Map<String, serde_json::Value>>, JsonRejection>,
) -> Response {
    let Json(changes) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    let old = match find(&state, &caller, &id).await {
        Ok(k) => k,
        Err(resp) => return resp,
    };
    let mut merged = match serde_json::to_value(&old.policy) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => return Problem::response(500, "internal", "policy is not an object", None),
    };
    for (field, v) in changes {
        if !merged.contains_key(&field) {
            return Problem::invalid(&field, &format!("unknown policy field `{field}`"));
        }
        merged.insert(field, v);
    }
    let policy: KeyPolicy = match serde_json::from_value(serde_json::Value::Object(merged)) {
        Ok(p) => p,
        Err(e) => return Problem::response(422, "validation", &e.to_string(), None),
    };
    if let Err(resp) = check_policy(&policy) {
        return resp;
    }
    match state.store.set_key_policy(old.id, &policy).await {
        Ok(updated) => {
            audit(
                &state,
                &caller,
                "key.update",
                &updated.prefix,
                value(&old),
                value(&updated),
            )
            .await;
            Json(KeyView::from(&updated)).into_response()
        }
        Err(e) => Problem::from_store(e),
    }
}

async fn revoke(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if let Err(resp) = self_service(&state, &caller) {
        return resp;
    }
    let old = match find(&state, &caller, &id).await {
        Ok(k) => k,
        Err(resp) => return resp,
    };
    match state.store.revoke_key(&old.id.to_string()).await {
        Ok(k) => {
            audit(
                &state,
                &caller,
                "key.revoke",
                &k.prefix,
                value(&old),
                value(&k),
            )
            .await;
            Json(KeyView::from(&k)).into_response()
        }
        Err(e) => Problem::from_store(e),
    }
}

async fn rotate(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if let Err(resp) = self_service(&state, &caller) {
        return resp;
    }
    let old = match find(&state, &caller, &id).await {
        Ok(k) => k,
        Err(resp) => return resp,
    };
    let generated = key::generate();
    match state
        .store
        .rotate_key(old.id, &generated.prefix, &generated.hash)
        .await
    {
        Ok(k) => {
            audit(
                &state,
                &caller,
                "key.rotate",
                &k.prefix,
                Some(serde_json::json!({"prefix": old.prefix})),
                Some(serde_json::json!({"prefix": k.prefix})),
            )
            .await;
            Json(CreatedKey {
                key: generated.full,
                info: KeyView::from(&k),
            })
            .into_response()
        }
        Err(e) => Problem::from_store(e),
    }
}
