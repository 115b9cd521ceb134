//! Users and account groups: full CRUD, a front over [`crate::ops::users`] and
//! [`crate::ops::groups`].

use axum::extract::Path;
use axum::response::Response;
use axum::routing::{delete, get, patch, post, put};

use super::{Body, Front, Operation};
use crate::ops::groups::{self, GroupBody, GroupMembers, GroupView};
use crate::ops::users::{self, CreatedUser, NewUserBody, UserPatchBody, UserView};

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

async fn list(f: Front) -> Response {
    f.done(200, users::list(&f.ctx()).await)
}

async fn get_one(f: Front, Path(name): Path<String>) -> Response {
    f.done(200, users::get(&f.ctx(), &name).await)
}

async fn create(f: Front, Body(b): Body<NewUserBody>) -> Response {
    f.done(201, users::create(&f.ctx(), b).await)
}

async fn update(f: Front, Path(name): Path<String>, Body(b): Body<UserPatchBody>) -> Response {
    f.done(200, users::update(&f.ctx(), &name, b).await)
}

async fn remove(f: Front, Path(name): Path<String>) -> Response {
    let me = Some(f.caller.user.name.as_str());
    f.done_empty(users::remove(&f.ctx(), &name, me).await)
}

async fn list_groups(f: Front) -> Response {
    f.done(200, groups::list(&f.ctx()).await)
}

async fn get_group(f: Front, Path(id): Path<String>) -> Response {
    f.done(200, groups::get(&f.ctx(), &id).await)
}

async fn create_group(f: Front, Body(b): Body<GroupBody>) -> Response {
    f.done(201, groups::create(&f.ctx(), b).await)
}

async fn set_members(f: Front, Path(id): Path<String>, Body(b): Body<GroupMembers>) -> Response {
    f.done(
        200,
        groups::set_members(&f.ctx(), &id, &b.account_ids).await,
    )
}

async fn delete_group(f: Front, Path(id): Path<String>) -> Response {
    f.done_empty(groups::remove(&f.ctx(), &id).await)
}
