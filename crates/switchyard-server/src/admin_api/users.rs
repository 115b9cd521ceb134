//! Users and account groups: full CRUD.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, State};
use axum::response::Response;
use axum::routing::{delete, get, patch, post, put};
use std::sync::Arc;

use super::problem::bad_body;
use super::{Caller, Operation, ctx, done, done_empty};
use crate::ops::groups::{self, GroupBody, GroupMembers, GroupView};
use crate::ops::users::{self, CreatedUser, NewUserBody, UserPatchBody, UserView};
use crate::state::AppState;

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

async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let actor = caller.actor();
    done(&state, 200, users::list(&ctx(&state, &actor)).await)
}

async fn get_one(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    let actor = caller.actor();
    done(&state, 200, users::get(&ctx(&state, &actor), &name).await)
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
    let actor = caller.actor();
    done(&state, 201, users::create(&ctx(&state, &actor), b).await)
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
    let actor = caller.actor();
    let r = users::update(&ctx(&state, &actor), &name, b).await;
    done(&state, 200, r)
}

async fn remove(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    let actor = caller.actor();
    let r = users::remove(&ctx(&state, &actor), &name, Some(&caller.user.name)).await;
    done_empty(&state, r)
}

async fn list_groups(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let actor = caller.actor();
    done(&state, 200, groups::list(&ctx(&state, &actor)).await)
}

async fn get_group(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let actor = caller.actor();
    done(&state, 200, groups::get(&ctx(&state, &actor), &id).await)
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
    let actor = caller.actor();
    done(&state, 201, groups::create(&ctx(&state, &actor), b).await)
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
    let actor = caller.actor();
    let r = groups::set_members(&ctx(&state, &actor), &id, &b.account_ids).await;
    done(&state, 200, r)
}

async fn delete_group(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let actor = caller.actor();
    done_empty(&state, groups::remove(&ctx(&state, &actor), &id).await)
}
