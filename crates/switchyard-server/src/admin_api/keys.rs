//! API keys: list, get, create (the full key is returned once), update policy, revoke,
//! rotate — a front over [`crate::ops::keys`]. A `user` acts as [`Who::Member`]: its own keys
//! only, and creating, revoking and rotating them when `user_key_self_service` allows; policy
//! changes need the admin role (the operation table's access).

use axum::extract::Path;
use axum::response::Response;
use axum::routing::{get, patch, post};
use switchyard_core::key::KeyPolicy;

use super::{Access, Body, Caller, Front, Operation};
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

/// The policy fields a change gives (`null` clears one).
type PolicyChanges = serde_json::Map<String, serde_json::Value>;

/// A `user` changes its own keys only when the `user_key_self_service` setting allows it.
pub fn self_service_allowed(state: &AppState) -> bool {
    state.snapshot.load().settings.user_key_self_service
}

async fn list(f: Front) -> Response {
    f.done(200, keys::list(&f.ctx(), f.caller.who()).await)
}

async fn get_one(f: Front, Path(id): Path<String>) -> Response {
    f.done(200, keys::get(&f.ctx(), f.caller.who(), &id).await)
}

async fn create(f: Front, Body(b): Body<NewKeyBody>) -> Response {
    f.done(201, keys::create(&f.ctx(), f.caller.who(), b).await)
}

async fn update(f: Front, Path(id): Path<String>, Body(changes): Body<PolicyChanges>) -> Response {
    f.done(
        200,
        keys::update(&f.ctx(), f.caller.who(), &id, changes).await,
    )
}

async fn revoke(f: Front, Path(id): Path<String>) -> Response {
    f.done(200, keys::revoke(&f.ctx(), f.caller.who(), &id).await)
}

async fn rotate(f: Front, Path(id): Path<String>) -> Response {
    f.done(200, keys::rotate(&f.ctx(), f.caller.who(), &id).await)
}
