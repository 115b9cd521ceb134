//! Proxies: list, get, create, change the URL, delete, test. A front over
//! [`crate::ops::proxies`], which validates and audits; URLs come back with their
//! credentials replaced by `***`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;

use super::problem::{bad_body, bad_query};
use super::{Caller, Operation, ctx, done};
use crate::ops::proxies::{self, ProxyTestReport, ProxyView, Removed};
use crate::state::AppState;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProxyBody {
    /// Letters, digits, `-`, `_`, `.`; accounts name the proxy by it.
    pub name: String,
    /// `http://`, `https://`, `socks5://` or `socks5h://`, optionally with `user:password@`
    /// (stored encrypted, never returned).
    pub url: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyPatchBody {
    pub url: String,
}

#[derive(Deserialize, JsonSchema, Default)]
pub struct RemoveQuery {
    /// Remove even while accounts (or `default_proxy`) use it; they fall back to
    /// `default_proxy` (or go direct).
    #[serde(default)]
    pub force: bool,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ProxyTestBody {
    /// What to fetch through the proxy (default: a public echo of the caller's address).
    pub url: Option<String>,
}

pub fn operations() -> Vec<Operation> {
    vec![
        Operation::get("/proxies", "proxies", "List proxies", get(list)).ok::<Vec<ProxyView>>(200),
        Operation::post("/proxies", "proxies", "Add a proxy", post(create))
            .body::<NewProxyBody>()
            .ok::<ProxyView>(201),
        Operation::get("/proxies/{name}", "proxies", "Get a proxy", get(get_one))
            .ok::<ProxyView>(200),
        Operation::patch(
            "/proxies/{name}",
            "proxies",
            "Change a proxy's URL",
            axum::routing::patch(update),
        )
        .body::<ProxyPatchBody>()
        .ok::<ProxyView>(200),
        Operation::delete(
            "/proxies/{name}",
            "proxies",
            "Remove a proxy (refused while in use unless force=true)",
            axum::routing::delete(remove),
        )
        .query::<RemoveQuery>()
        .ok::<Removed>(200),
        Operation::post(
            "/proxies/{name}/test",
            "proxies",
            "Connect through a proxy and report latency and exit address",
            post(test),
        )
        .body::<ProxyTestBody>()
        .ok::<ProxyTestReport>(200),
    ]
}

async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let actor = caller.actor();
    done(&state, 200, proxies::list(&ctx(&state, &actor)).await)
}

async fn get_one(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    let actor = caller.actor();
    done(&state, 200, proxies::get(&ctx(&state, &actor), &name).await)
}

async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<NewProxyBody>, JsonRejection>,
) -> Response {
    let Json(b) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    let actor = caller.actor();
    done(
        &state,
        201,
        proxies::add(&ctx(&state, &actor), &b.name, &b.url).await,
    )
}

async fn update(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Result<Json<ProxyPatchBody>, JsonRejection>,
) -> Response {
    let Json(b) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    let actor = caller.actor();
    done(
        &state,
        200,
        proxies::set(&ctx(&state, &actor), &name, &b.url).await,
    )
}

async fn remove(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    query: Result<Query<RemoveQuery>, QueryRejection>,
) -> Response {
    let Query(q) = match query {
        Ok(q) => q,
        Err(e) => return bad_query(e),
    };
    let actor = caller.actor();
    done(
        &state,
        200,
        proxies::remove(&ctx(&state, &actor), &name, q.force).await,
    )
}

async fn test(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Option<Json<ProxyTestBody>>,
) -> Response {
    let url = body.and_then(|Json(b)| b.url);
    let actor = caller.actor();
    done(
        &state,
        200,
        proxies::test(&ctx(&state, &actor), &name, url.as_deref()).await,
    )
}
