//! The admin REST API under `/api/admin/`: everything the operator CLI can do, shaped for the
//! web UI. One table of [`Operation`]s is the single source of both the router and the
//! OpenAPI document, so the two cannot drift apart.
//!
//! - Sign-in ([`session`]): `POST /api/admin/login` returns an opaque token (stored hashed).
//!   Browsers get it as an `HttpOnly`, `SameSite=Strict` cookie plus a CSRF token that
//!   state-changing requests must echo in `x-csrf-token`; scripts send `Authorization: Bearer`.
//!   Long-lived API tokens serve automation.
//! - Roles: `admin` reaches everything; `user` reaches only the operations marked
//!   [`Access::Member`], which answer with that user's own keys and usage.
//! - Errors are `application/problem+json` ([`problem`]); lists page with cursors.

mod accounts;
mod front;
mod keys;
mod live;
mod onboarding;
mod openapi;
mod problem;
mod proxies;
mod records;
mod session;
mod settings;
mod users;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::MethodRouter;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use std::sync::Arc;
use switchyard_store::{AdminSession, User};

use crate::state::AppState;
pub use front::{Body, Front, Params, ctx};
pub use problem::Problem;

pub const PREFIX: &str = "/api/admin";

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No sign-in (login, the OpenAPI document and its reference page).
    Public,
    /// Any signed-in user; the handler narrows what a `user` sees to its own.
    Member,
    /// Users with the `admin` role.
    Admin,
}

type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The schema of `T`, as a reference into the document's components.
pub fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// One documented, routed operation.
pub struct Operation {
    pub method: Method,
    /// Below [`PREFIX`], with `{param}` placeholders.
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    pub access: Access,
    pub query: Option<SchemaFn>,
    pub body: Option<SchemaFn>,
    /// Status and schema of a successful answer (`None`: no body).
    pub ok: (u16, Option<SchemaFn>),
    /// Media type of a successful answer.
    pub ok_media: &'static str,
    pub handler: MethodRouter<Arc<AppState>>,
}

impl Operation {
    fn new(
        method: Method,
        path: &'static str,
        tag: &'static str,
        summary: &'static str,
        handler: MethodRouter<Arc<AppState>>,
    ) -> Self {
        Operation {
            method,
            path,
            summary,
            tag,
            access: Access::Admin,
            query: None,
            body: None,
            ok: (200, None),
            ok_media: "application/json",
            handler,
        }
    }

    pub fn get(
        path: &'static str,
        tag: &'static str,
        summary: &'static str,
        h: MethodRouter<Arc<AppState>>,
    ) -> Self {
        Self::new(Method::GET, path, tag, summary, h)
    }

    pub fn post(
        path: &'static str,
        tag: &'static str,
        summary: &'static str,
        h: MethodRouter<Arc<AppState>>,
    ) -> Self {
        Self::new(Method::POST, path, tag, summary, h)
    }

    pub fn patch(
        path: &'static str,
        tag: &'static str,
        summary: &'static str,
        h: MethodRouter<Arc<AppState>>,
    ) -> Self {
        Self::new(Method::PATCH, path, tag, summary, h)
    }

    pub fn put(
        path: &'static str,
        tag: &'static str,
        summary: &'static str,
        h: MethodRouter<Arc<AppState>>,
    ) -> Self {
        Self::new(Method::PUT, path, tag, summary, h)
    }

    pub fn delete(
        path: &'static str,
        tag: &'static str,
        summary: &'static str,
        h: MethodRouter<Arc<AppState>>,
    ) -> Self {
        Self::new(Method::DELETE, path, tag, summary, h)
    }

    pub fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    pub fn query<T: JsonSchema>(mut self) -> Self {
        self.query = Some(schema::<T>);
        self
    }

    pub fn body<T: JsonSchema>(mut self) -> Self {
        self.body = Some(schema::<T>);
        self
    }

    pub fn ok<T: JsonSchema>(mut self, status: u16) -> Self {
        self.ok = (status, Some(schema::<T>));
        self
    }

    /// A page for people, not JSON.
    pub fn html(mut self) -> Self {
        self.ok = (200, Some(schema::<String>));
        self.ok_media = "text/html";
        self
    }

    pub fn no_content(mut self) -> Self {
        self.ok = (204, None);
        self
    }
}

/// Every operation of the admin API.
pub fn operations() -> Vec<Operation> {
    let mut ops = Vec::new();
    ops.extend(session::operations());
    ops.extend(onboarding::operations());
    ops.extend(accounts::operations());
    ops.extend(keys::operations());
    ops.extend(proxies::operations());
    ops.extend(users::operations());
    ops.extend(settings::operations());
    ops.extend(records::operations());
    ops.extend(live::operations());
    ops.extend(openapi::operations());
    ops
}

pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let mut router = Router::new();
    for op in operations() {
        let guard = axum::middleware::from_fn_with_state((state.clone(), op.access), authorize);
        let handler = op.handler.route_layer(guard);
        router = router.route(&format!("{PREFIX}{}", op.path), handler);
    }
    // Unknown admin paths are answered by the app's fallback (relay::not_found), which knows
    // this prefix: a router merged into another cannot keep a fallback of its own.
    router
}

/// The signed-in caller, put into the request's extensions by [`authorize`].
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub session: AdminSession,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.user.role == "admin"
    }

    /// How the audit log names this caller.
    pub fn actor(&self) -> String {
        format!("api:{}", self.user.name)
    }
}

pub const SESSION_COOKIE: &str = "switchyard_session";

/// The session token from `Authorization: Bearer`, or else from the session cookie (then
/// state-changing requests must carry the CSRF token).
fn presented_token(headers: &HeaderMap) -> Option<(String, bool)> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some((bearer.trim().to_string(), false));
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            pair.trim()
                .strip_prefix(&format!("{SESSION_COOKIE}="))
                .map(str::to_string)
        })
        .map(|t| (t, true))
}

pub fn token_hash(token: &str) -> String {
    switchyard_core::key::hash(token)
}

async fn authorize(
    State((state, access)): State<(Arc<AppState>, Access)>,
    mut req: Request,
    next: Next,
) -> Response {
    if access == Access::Public {
        return next.run(req).await;
    }
    let Some((token, via_cookie)) = presented_token(req.headers()) else {
        return Problem::unauthorized(
            "sign in first: POST /api/admin/login, then send the token as `Authorization: Bearer`",
        );
    };
    let session = match state.store.admin_session(&token_hash(&token)).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Problem::unauthorized("the session or token is unknown, expired or revoked");
        }
        Err(e) => return Problem::from_store(e),
    };
    let user = match state.store.user_by_id(session.user_id).await {
        Ok(Some(u)) if u.status == "active" => u,
        Ok(_) => return Problem::unauthorized("the user of this session is disabled or gone"),
        Err(e) => return Problem::from_store(e),
    };
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if via_cookie && changes {
        let sent = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(token_hash);
        if sent.is_none() || sent != session.csrf_hash {
            return Problem::forbidden(
                "csrf",
                "a cookie session must send its CSRF token in `x-csrf-token` with changes",
            );
        }
    }
    if access == Access::Admin && user.role != "admin" {
        return Problem::forbidden("forbidden", "this needs the admin role");
    }
    req.extensions_mut().insert(Caller { user, session });
    next.run(req).await
}

/// The audit trail of what the API does outside the operations layer (sign-in, live views).
pub async fn audit(
    state: &AppState,
    caller: &Caller,
    action: &str,
    target: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) {
    let actor = caller.actor();
    let detail = serde_json::json!({"before": before, "after": after});
    ctx(state, &actor).audit(action, target, detail).await;
    // The change reaches the request path at once instead of at the next poll.
    state.reload.notify_one();
}
