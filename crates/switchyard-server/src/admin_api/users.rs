//! Users and account groups: full CRUD.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use switchyard_core::key::UserLimits;
use switchyard_store::AccountGroup;

use super::problem::{Problem, bad_body};
use super::session::UserView;
use super::{Caller, Operation, audit};
use crate::state::AppState;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    #[schemars(regex(pattern = r"^[^/]*[^/\s][^/]*$"))]
    pub name: String,
    /// `admin` or `user` (default `user`).
    #[schemars(regex(pattern = "^(admin|user)$"))]
    pub role: Option<String>,
    /// At least 8 characters; without it one is generated and returned once.
    #[schemars(length(min = 8, max = 1024))]
    pub password: Option<String>,
    #[serde(default)]
    pub limits: UserLimits,
}

#[derive(Serialize, JsonSchema)]
pub struct CreatedUser {
    #[serde(flatten)]
    pub user: UserView,
    /// Only when it was generated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UserPatchBody {
    #[schemars(regex(pattern = "^(admin|user)$"))]
    pub role: Option<String>,
    /// `active` or `disabled` (a disabled user's keys stop working at once).
    #[schemars(regex(pattern = "^(active|disabled)$"))]
    pub status: Option<String>,
    /// A new password (at least 8 characters); ends the user's browser sessions.
    #[schemars(length(min = 8, max = 1024))]
    pub password: Option<String>,
    pub limits: Option<UserLimits>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    /// Not a number (ids and names share selectors).
    #[schemars(regex(pattern = r"[^0-9\s]"))]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Account ids.
    #[serde(default)]
    pub account_ids: Vec<i64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupMembers {
    /// The group's accounts after the change (ids).
    pub account_ids: Vec<i64>,
}

#[derive(Serialize, JsonSchema)]
pub struct GroupView {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub account_ids: Vec<i64>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<&AccountGroup> for GroupView {
    fn from(g: &AccountGroup) -> Self {
        GroupView {
            id: g.id,
            name: g.name.clone(),
            description: g.description.clone(),
            account_ids: g.account_ids.clone(),
            created_at: g.created_at,
        }
    }
}

pub fn operations() -> Vec<Operation> {
    vec![
        Operation::get("/users", "users", "List users", get(list)).ok::<Vec<UserView>>(200),
        Operation::post("/users", "users", "Create a user", post(create))
            .body::<NewUserBody>()
            .ok::<CreatedUser>(201),
        Operation::get("/users/{name}", "users", "Get a user", get(get_one)).ok::<UserView>(200),
        Operation::patch(
            "/users/{name}",
            "users",
            "Change role, status, password or limits",
            patch(update),
        )
        .body::<UserPatchBody>()
        .ok::<UserView>(200),
        Operation::delete(
            "/users/{name}",
            "users",
            "Delete a user that owns no keys",
            delete(remove),
        )
        .no_content(),
        Operation::get("/groups", "groups", "List account groups", get(list_groups))
            .ok::<Vec<GroupView>>(200),
        Operation::post(
            "/groups",
            "groups",
            "Create an account group",
            post(create_group),
        )
        .body::<GroupBody>()
        .ok::<GroupView>(201),
        Operation::get(
            "/groups/{id}",
            "groups",
            "Get an account group (id or name)",
            get(get_group),
        )
        .ok::<GroupView>(200),
        Operation::put(
            "/groups/{id}/accounts",
            "groups",
            "Set a group's accounts",
            put(set_members),
        )
        .body::<GroupMembers>()
        .ok::<GroupView>(200),
        Operation::delete(
            "/groups/{id}",
            "groups",
            "Delete a group no key is bound to",
            delete(delete_group),
        )
        .no_content(),
    ]
}

async fn find_user(state: &AppState, name: &str) -> Result<switchyard_store::User, Response> {
    match state.store.user_by_name(name).await {
        Ok(Some(u)) => Ok(u),
        Ok(None) => Err(Problem::not_found(&format!("user `{name}` not found"))),
        Err(e) => Err(Problem::from_store(e)),
    }
}

fn user_value(u: &switchyard_store::User) -> Option<serde_json::Value> {
    serde_json::to_value(UserView::from(u)).ok()
}

async fn list(State(state): State<Arc<AppState>>) -> Response {
    match state.store.list_users().await {
        Ok(users) => Json(users.iter().map(UserView::from).collect::<Vec<_>>()).into_response(),
        Err(e) => Problem::from_store(e),
    }
}

async fn get_one(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    match find_user(&state, &name).await {
        Ok(u) => Json(UserView::from(&u)).into_response(),
        Err(resp) => resp,
    }
}

async fn hash(password: String) -> Result<String, Response> {
    if !(8..=1024).contains(&password.chars().count()) {
        return Err(Problem::invalid(
            "password",
            "a password needs 8 to 1024 characters",
        ));
    }
    tokio::task::spawn_blocking(move || switchyard_store::crypto::hash_password(&password))
        .await
        .map_err(|_| Problem::response(500, "internal", "hashing failed", None))?
        .map_err(Problem::from_store)
}

async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<NewUserBody>, JsonRejection>,
) -> Response {
    let Json(b) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    if b.name.trim().is_empty() || b.name.contains('/') {
        return Problem::invalid("name", "a user name must not be empty or contain `/`");
    }
    let role = b.role.unwrap_or_else(|| "user".into());
    if role != "admin" && role != "user" {
        return Problem::invalid(
            "role",
            &format!("unknown role `{role}` (expected admin or user)"),
        );
    }
    if let Err(e) = b.limits.validate() {
        return Problem::invalid(e.field, &e.message);
    }
    let (password, generated) = match b.password {
        Some(p) => (p, false),
        None => (crate::bootstrap::generate_password(), true),
    };
    let hashed = match hash(password.clone()).await {
        Ok(h) => h,
        Err(resp) => return resp,
    };
    let mut user = match state.store.create_user(&b.name, &role, Some(&hashed)).await {
        Ok(u) => u,
        Err(switchyard_store::StoreError::Invalid(m)) => return Problem::invalid("role", &m),
        Err(e) => return Problem::from_store(e),
    };
    if b.limits != UserLimits::default() {
        user = match state.store.set_user_limits(&b.name, &b.limits).await {
            Ok(u) => u,
            Err(e) => return Problem::from_store(e),
        };
    }
    audit(
        &state,
        &caller,
        "user.create",
        &user.name,
        None,
        user_value(&user),
    )
    .await;
    (
        axum::http::StatusCode::CREATED,
        Json(CreatedUser {
            user: UserView::from(&user),
            password: generated.then_some(password),
        }),
    )
        .into_response()
}

async fn update(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Result<Json<UserPatchBody>, JsonRejection>,
) -> Response {
    let Json(b) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    let old = match find_user(&state, &name).await {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    // Everything is checked before anything changes: a refused request changes nothing.
    if let Some(role) = &b.role
        && role != "admin"
        && role != "user"
    {
        return Problem::invalid(
            "role",
            &format!("unknown role `{role}` (expected admin or user)"),
        );
    }
    if let Some(status) = &b.status
        && status != "active"
        && status != "disabled"
    {
        return Problem::invalid(
            "status",
            &format!("unknown status `{status}` (expected active or disabled)"),
        );
    }
    if let Some(limits) = &b.limits
        && let Err(e) = limits.validate()
    {
        return Problem::invalid(e.field, &e.message);
    }
    let hashed = match b.password {
        Some(password) => match hash(password).await {
            Ok(h) => Some(h),
            Err(resp) => return resp,
        },
        None => None,
    };
    let stops_being_admin = old.role == "admin"
        && old.status == "active"
        && (b.role.as_deref() == Some("user") || b.status.as_deref() == Some("disabled"));
    if stops_being_admin && let Err(resp) = keep_an_admin(&state, &old).await {
        return resp;
    }
    let applied = async {
        if let Some(role) = &b.role {
            state.store.set_user_role(&name, role).await?;
        }
        if let Some(status) = &b.status {
            state.store.set_user_status(&name, status).await?;
        }
        if let Some(limits) = &b.limits {
            state.store.set_user_limits(&name, limits).await?;
        }
        if let Some(hashed) = &hashed {
            state.store.set_user_password(&name, hashed).await?;
            // A changed password ends the user's browser sessions.
            state.store.revoke_user_sessions(old.id).await?;
        }
        Ok::<(), switchyard_store::StoreError>(())
    }
    .await;
    if let Err(e) = applied {
        return Problem::from_store(e);
    }
    let updated = match find_user(&state, &name).await {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    audit(
        &state,
        &caller,
        "user.update",
        &name,
        user_value(&old),
        user_value(&updated),
    )
    .await;
    Json(UserView::from(&updated)).into_response()
}

/// Refuses to demote, disable or delete the last active admin (nobody could sign in to undo it).
async fn keep_an_admin(state: &AppState, user: &switchyard_store::User) -> Result<(), Response> {
    let users = state
        .store
        .list_users()
        .await
        .map_err(Problem::from_store)?;
    let others = users
        .iter()
        .filter(|u| u.id != user.id && u.role == "admin" && u.status == "active")
        .count();
    if others == 0 {
        return Err(Problem::response(
            409,
            "conflict",
            &format!("`{}` is the last active admin", user.name),
            None,
        ));
    }
    Ok(())
}

async fn remove(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    if name == caller.user.name {
        return Problem::response(409, "conflict", "you cannot delete yourself", None);
    }
    let old = match find_user(&state, &name).await {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    if old.role == "admin"
        && let Err(resp) = keep_an_admin(&state, &old).await
    {
        return resp;
    }
    if let Err(e) = state.store.delete_user(&name).await {
        return Problem::from_store(e);
    }
    audit(
        &state,
        &caller,
        "user.delete",
        &name,
        user_value(&old),
        None,
    )
    .await;
    axum::http::StatusCode::NO_CONTENT.into_response()
}

async fn list_groups(State(state): State<Arc<AppState>>) -> Response {
    match state.store.list_groups().await {
        Ok(g) => Json(g.iter().map(GroupView::from).collect::<Vec<_>>()).into_response(),
        Err(e) => Problem::from_store(e),
    }
}

async fn get_group(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.store.find_group(&id).await {
        Ok(g) => Json(GroupView::from(&g)).into_response(),
        Err(e) => Problem::from_store(e),
    }
}

fn group_value(g: &AccountGroup) -> Option<serde_json::Value> {
    serde_json::to_value(GroupView::from(g)).ok()
}

/// Makes the group's members exactly `ids`.
async fn apply_members(
    state: &AppState,
    group: &AccountGroup,
    ids: &[i64],
) -> Result<(), Response> {
    for id in ids {
        if !group.account_ids.contains(id) {
            state
                .store
                .add_group_member(group.id, *id)
                .await
                .map_err(|_| {
                    Problem::invalid("account_ids", &format!("account {id} does not exist"))
                })?;
        }
    }
    for id in &group.account_ids {
        if !ids.contains(id) {
            state
                .store
                .remove_group_member(group.id, *id)
                .await
                .map_err(Problem::from_store)?;
        }
    }
    Ok(())
}

async fn create_group(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<GroupBody>, JsonRejection>,
) -> Response {
    let Json(b) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    let group = match state.store.create_group(&b.name, &b.description).await {
        Ok(g) => g,
        Err(switchyard_store::StoreError::Invalid(m)) => return Problem::invalid("name", &m),
        Err(e) => return Problem::from_store(e),
    };
    if let Err(resp) = apply_members(&state, &group, &b.account_ids).await {
        let _ = state.store.delete_group(group.id).await;
        return resp;
    }
    let group = match state.store.find_group(&group.id.to_string()).await {
        Ok(g) => g,
        Err(e) => return Problem::from_store(e),
    };
    audit(
        &state,
        &caller,
        "group.create",
        &group.name,
        None,
        group_value(&group),
    )
    .await;
    (
        axum::http::StatusCode::CREATED,
        Json(GroupView::from(&group)),
    )
        .into_response()
}

async fn set_members(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Json<GroupMembers>, JsonRejection>,
) -> Response {
    let Json(b) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    let old = match state.store.find_group(&id).await {
        Ok(g) => g,
        Err(e) => return Problem::from_store(e),
    };
    if let Err(resp) = apply_members(&state, &old, &b.account_ids).await {
        return resp;
    }
    let updated = match state.store.find_group(&old.id.to_string()).await {
        Ok(g) => g,
        Err(e) => return Problem::from_store(e),
    };
    audit(
        &state,
        &caller,
        "group.members",
        &updated.name,
        group_value(&old),
        group_value(&updated),
    )
    .await;
    Json(GroupView::from(&updated)).into_response()
}

async fn delete_group(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let old = match state.store.find_group(&id).await {
        Ok(g) => g,
        Err(e) => return Problem::from_store(e),
    };
    if let Err(e) = state.store.delete_group(old.id).await {
        return Problem::from_store(e);
    }
    audit(
        &state,
        &caller,
        "group.delete",
        &old.name,
        group_value(&old),
        None,
    )
    .await;
    axum::http::StatusCode::NO_CONTENT.into_response()
}
