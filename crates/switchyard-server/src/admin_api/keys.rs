//! API keys: list, get, create (the full key is returned once), update policy, revoke,
//! rotate. A `user` sees only its own keys, and creates, revokes and rotates them when the
//! `user_key_self_service` setting allows (never bound to accounts or groups); policy changes
//! need the admin role.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, State};
use axum::response::Response;
use axum::routing::{get, patch, post};
use std::sync::Arc;
use switchyard_core::key::KeyPolicy;

use super::problem::bad_body;
use super::{Access, Caller, Operation, ctx, done};
use crate::ops::keys::{self, CreatedKey, KeyView, NewKeyBody, Who};
use crate::state::AppState;

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

impl Caller {
    /// How the keys' operations see this caller.
    fn who(&self) -> Who<'_> {
        if self.is_admin() {
            Who::Operator(Some(&self.user))
        } else {
            Who::Member(&self.user)
        }
    }
}

/// A `user` changes its own keys only when the `user_key_self_service` setting allows it.
pub fn self_service_allowed(state: &AppState) -> bool {
    state.snapshot.load().settings.bool("user_key_self_service")
}

async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let actor = caller.actor();
    done(
        &state,
        200,
        keys::list(&ctx(&state, &actor), caller.who()).await,
    )
}

async fn get_one(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let actor = caller.actor();
    let r = keys::get(&ctx(&state, &actor), caller.who(), &id).await;
    done(&state, 200, r)
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
    let actor = caller.actor();
    let r = keys::create(&ctx(&state, &actor), caller.who(), b).await;
    done(&state, 201, r)
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
    let actor = caller.actor();
    let r = keys::update(&ctx(&state, &actor), caller.who(), &id, changes).await;
    done(&state, 200, r)
}

async fn revoke(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let actor = caller.actor();
    let r = keys::revoke(&ctx(&state, &actor), caller.who(), &id).await;
    done(&state, 200, r)
}

async fn rotate(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let actor = caller.actor();
    let r = keys::rotate(&ctx(&state, &actor), caller.who(), &id).await;
    done(&state, 200, r)
}
