//! Proxies: list, get, create, change the URL, delete, test. A front over
//! [`crate::ops::proxies`], which validates and audits; URLs come back with their
//! credentials replaced by `***`.

use axum::Json;
use axum::extract::Path;
use axum::response::Response;
use axum::routing::{get, post};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{Body, Front, Operation, Params};
use crate::ops::proxies::{self, ProxyTestReport, ProxyView, Removed};

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

async fn list(f: Front) -> Response {
    f.done(200, proxies::list(&f.ctx()).await)
}

async fn get_one(f: Front, Path(name): Path<String>) -> Response {
    f.done(200, proxies::get(&f.ctx(), &name).await)
}

async fn create(f: Front, Body(b): Body<NewProxyBody>) -> Response {
    f.done(201, proxies::add(&f.ctx(), &b.name, &b.url).await)
}

async fn update(f: Front, Path(name): Path<String>, Body(b): Body<ProxyPatchBody>) -> Response {
    f.done(200, proxies::set(&f.ctx(), &name, &b.url).await)
}

async fn remove(f: Front, Path(name): Path<String>, Params(q): Params<RemoveQuery>) -> Response {
    f.done(200, proxies::remove(&f.ctx(), &name, q.force).await)
}

async fn test(f: Front, Path(name): Path<String>, body: Option<Json<ProxyTestBody>>) -> Response {
    let url = body.and_then(|Json(b)| b.url);
    f.done(200, proxies::test(&f.ctx(), &name, url.as_deref()).await)
}
