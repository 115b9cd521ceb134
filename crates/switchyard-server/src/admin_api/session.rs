//! Sign-in: login and logout, who am I, and long-lived API tokens.
//!
//! Failed logins are counted per (user name, client address) and per client address by
//! [`switchyard_store::coord::throttle`]. No user name is ever locked as such: guesses from elsewhere cannot keep its owner out, and a
//! correct password from an address without recent failures signs in. API tokens never pass
//! through here.
//! A wrong password and an unknown user name get the same answer after the same work (a
//! password hash is always verified), so the API does not tell which names exist.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Extension, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{Duration as ChronoDuration, Utc};
use rand::Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;

use super::problem::{Problem, bad_body};
use super::{Access, Caller, Operation, SESSION_COOKIE, audit, token_hash};
use crate::ops::users::UserView;
use crate::state::AppState;

/// Longest user name accepted at sign-in.
const MAX_NAME: usize = 128;
/// Password checks (argon2, ~19 MiB each) running at once; more sign-ins wait their turn.
static VERIFYING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);
/// How long a browser session lasts.
pub const SESSION_HOURS: i64 = 12;

/// A real password hash of a random password, verified when the user name is unknown so
/// both answers take the same time.
fn decoy_hash() -> String {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY
        .get_or_init(|| switchyard_store::crypto::hash_password(&secret("")).unwrap_or_default())
        .clone()
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, JsonSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer` (scripts), or rely on the cookie set with it (browsers).
    pub token: String,
    /// Browsers send this in `x-csrf-token` with every change.
    pub csrf_token: String,
    pub expires_at: chrono::DateTime<Utc>,
    pub user: UserView,
}

#[derive(Serialize, JsonSchema)]
pub struct SessionView {
    pub user: UserView,
    /// `session` or `token`.
    pub kind: String,
    pub expires_at: Option<chrono::DateTime<Utc>>,
    /// Whether this user may create, revoke and rotate its own keys.
    pub manages_own_keys: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the token is for.
    #[schemars(regex(pattern = r"\S"))]
    pub name: String,
    /// Days until it expires; without it the token lasts until revoked.
    pub expires_in_days: Option<u32>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// At least 8 characters.
    #[schemars(length(min = 8, max = 1024))]
    pub new_password: String,
}

#[derive(Serialize, JsonSchema)]
pub struct TokenView {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub created_at: chrono::DateTime<Utc>,
    pub expires_at: Option<chrono::DateTime<Utc>>,
    pub revoked_at: Option<chrono::DateTime<Utc>>,
}

#[derive(Serialize, JsonSchema)]
pub struct CreatedToken {
    /// Shown once; only its hash is kept.
    pub token: String,
    #[serde(flatten)]
    pub info: TokenView,
}

pub fn operations() -> Vec<Operation> {
    vec![
        Operation::post(
            "/login",
            "session",
            "Sign in with a user name and password",
            post(login),
        )
        .access(Access::Public)
        .body::<LoginRequest>()
        .ok::<LoginResponse>(200),
        Operation::post("/logout", "session", "End this session", post(logout))
            .access(Access::Member)
            .no_content(),
        Operation::get("/session", "session", "Who is signed in", get(whoami))
            .access(Access::Member)
            .ok::<SessionView>(200),
        Operation::post(
            "/session/password",
            "session",
            "Change your own password (ends every browser session of yours)",
            post(change_password),
        )
        .access(Access::Member)
        .body::<PasswordChange>()
        .no_content(),
        Operation::get(
            "/tokens",
            "session",
            "List admin API tokens",
            get(list_tokens),
        )
        .ok::<Vec<TokenView>>(200),
        Operation::post(
            "/tokens",
            "session",
            "Create an admin API token (shown once)",
            post(create_token),
        )
        .body::<NewToken>()
        .ok::<CreatedToken>(201),
        Operation::delete(
            "/tokens/{id}",
            "session",
            "Revoke an admin API token",
            delete(revoke_token),
        )
        .no_content(),
    ]
}

fn secret(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let body: String = (0..40)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{body}")
}

/// The client's address: the socket's, or — when the socket is one of the configured
/// `trusted_proxies` — the nearest `x-forwarded-for` hop that is not a trusted proxy. A header
/// from anyone else is ignored: it could be forged to dodge the per-address throttle.
fn client_ip(parts: &axum::http::request::Parts, trusted: &[std::net::IpAddr]) -> String {
    let Some(peer) = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    else {
        return "unknown".into();
    };
    if !trusted.contains(&peer) {
        return peer.to_string();
    }
    let hops: Vec<std::net::IpAddr> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|h| h.trim().parse().ok())
        .collect();
    hops.into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
        .to_string()
}

async fn login(
    State(state): State<Arc<AppState>>,
    parts: axum::http::request::Parts,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    if req.username.len() > MAX_NAME || req.password.len() > 1024 {
        return Problem::invalid("username", "user name or password too long");
    }
    let ip = format!("ip:{}", client_ip(&parts, &state.config.trusted_proxies));
    // Per name *and* address: a name alone would let anyone lock its owner out.
    let name_key = format!("user:{}@{ip}", req.username);
    if let Err(wait) = state.coord.sign_in_attempt([&name_key, &ip]).await {
        let mut resp = Problem::response(
            429,
            "login-throttled",
            "too many failed sign-ins; wait before trying again",
            None,
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return resp;
    }
    let user = match state.store.user_by_name(&req.username).await {
        Ok(u) => u,
        Err(e) => return Problem::from_store(e),
    };
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let password = req.password.clone();
    let Ok(_permit) = VERIFYING.acquire().await else {
        return Problem::response(503, "unavailable", "sign-in is unavailable", None);
    };
    let verified = tokio::task::spawn_blocking(move || {
        let hash = hash.unwrap_or_else(decoy_hash);
        switchyard_store::crypto::verify_password(&password, &hash)
    })
    .await
    .unwrap_or(false);
    let user = match user {
        Some(u) if verified && u.status == "active" => u,
        _ => return Problem::unauthorized("wrong user name or password"),
    };
    state.coord.sign_in_succeeded(&name_key, &ip).await;
    let token = secret("sya_");
    let csrf = secret("");
    let expires_at = Utc::now() + ChronoDuration::hours(SESSION_HOURS);
    let session = match state
        .store
        .create_admin_session(
            user.id,
            "session",
            "login",
            &token_hash(&token),
            Some(&token_hash(&csrf)),
            Some(expires_at),
        )
        .await
    {
        Ok(s) => s,
        Err(e) => return Problem::from_store(e),
    };
    // Behind a TLS-terminating proxy the cookie must not travel over plain HTTP. (Trusting the
    // header here can only make the cookie stricter.)
    let https = parts
        .headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let cookie = format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/api/admin; Max-Age={}{}",
        SESSION_HOURS * 3600,
        if https { "; Secure" } else { "" }
    );
    let body = LoginResponse {
        token,
        csrf_token: csrf,
        expires_at: session.expires_at.unwrap_or(expires_at),
        user: UserView::from(&user),
    };
    let mut resp = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

async fn logout(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    if let Err(e) = state.store.revoke_admin_session(caller.session.id).await {
        return Problem::from_store(e);
    }
    let mut resp = axum::http::StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "switchyard_session=; HttpOnly; SameSite=Strict; Path=/api/admin; Max-Age=0",
        ),
    );
    resp
}

async fn whoami(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    Json(SessionView {
        user: UserView::from(&caller.user),
        kind: caller.session.kind.clone(),
        expires_at: caller.session.expires_at,
        manages_own_keys: caller.is_admin() || super::keys::self_service_allowed(&state),
    })
    .into_response()
}

/// A signed-in user changes its own password: the current one must be given (a session left
/// open is not enough), and every browser session of the user ends, this one included.
async fn change_password(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<PasswordChange>, JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    if req.current_password.len() > 1024 {
        return Problem::invalid("current_password", "the current password is wrong");
    }
    if !(8..=1024).contains(&req.new_password.chars().count()) {
        return Problem::invalid("new_password", "a password needs 8 to 1024 characters");
    }
    let Ok(_permit) = VERIFYING.acquire().await else {
        return Problem::response(503, "unavailable", "password changes are unavailable", None);
    };
    let hash = caller.user.password_hash.clone();
    let (current, new) = (req.current_password, req.new_password);
    let hashed = tokio::task::spawn_blocking(move || {
        let hash = hash.unwrap_or_else(decoy_hash);
        if !switchyard_store::crypto::verify_password(&current, &hash) {
            return Ok(None);
        }
        switchyard_store::crypto::hash_password(&new).map(Some)
    })
    .await;
    let hashed = match hashed {
        Ok(Ok(Some(h))) => h,
        Ok(Ok(None)) => {
            return Problem::invalid("current_password", "the current password is wrong");
        }
        Ok(Err(e)) => return Problem::from_store(e),
        Err(_) => return Problem::response(500, "internal", "hashing failed", None),
    };
    let name = caller.user.name.clone();
    let applied = async {
        state.store.set_user_password(&name, &hashed).await?;
        state.store.revoke_user_sessions(caller.user.id).await
    }
    .await;
    if let Err(e) = applied {
        return Problem::from_store(e);
    }
    audit(&state, &caller, "user.password", &name, None, None).await;
    let mut resp = axum::http::StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "switchyard_session=; HttpOnly; SameSite=Strict; Path=/api/admin; Max-Age=0",
        ),
    );
    resp
}

fn token_view(s: &switchyard_store::AdminSession) -> TokenView {
    TokenView {
        id: s.id,
        user_id: s.user_id,
        name: s.name.clone(),
        created_at: s.created_at,
        expires_at: s.expires_at,
        revoked_at: s.revoked_at,
    }
}

async fn list_tokens(State(state): State<Arc<AppState>>) -> Response {
    match state.store.list_admin_tokens().await {
        Ok(t) => Json(t.iter().map(token_view).collect::<Vec<_>>()).into_response(),
        Err(e) => Problem::from_store(e),
    }
}

async fn create_token(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<NewToken>, JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    if req.name.trim().is_empty() {
        return Problem::invalid("name", "a token needs a name saying what it is for");
    }
    let token = secret("sya_");
    let expires_at = req
        .expires_in_days
        .map(|d| Utc::now() + ChronoDuration::days(i64::from(d.clamp(1, 3650))));
    let created = match state
        .store
        .create_admin_session(
            caller.user.id,
            "token",
            &req.name,
            &token_hash(&token),
            None,
            expires_at,
        )
        .await
    {
        Ok(s) => s,
        Err(e) => return Problem::from_store(e),
    };
    let info = token_view(&created);
    audit(
        &state,
        &caller,
        "token.create",
        &format!("token:{}", created.id),
        None,
        serde_json::to_value(&info).ok(),
    )
    .await;
    (
        axum::http::StatusCode::CREATED,
        Json(CreatedToken { token, info }),
    )
        .into_response()
}

async fn revoke_token(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return Problem::not_found(&format!("token `{id}` not found"));
    };
    let tokens = match state.store.list_admin_tokens().await {
        Ok(t) => t,
        Err(e) => return Problem::from_store(e),
    };
    if !tokens.iter().any(|t| t.id == id) {
        return Problem::not_found(&format!("token {id} not found"));
    }
    if let Err(e) = state.store.revoke_admin_session(id).await {
        return Problem::from_store(e);
    }
    audit(
        &state,
        &caller,
        "token.revoke",
        &format!("token:{id}"),
        None,
        None,
    )
    .await;
    axum::http::StatusCode::NO_CONTENT.into_response()
}
