//! A mock OAuth provider for the sign-in flows: Claude (claude.ai + token endpoint), ChatGPT
//! (auth.openai.com) and Google, on one loopback server. It checks what real providers check:
//! the PKCE verifier against the challenge given at authorize time, single use of a code,
//! the redirect URI and client id, and a live session key.
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /oauth/authorize`, `GET /o/oauth2/v2/auth` | 302 to `redirect_uri?code=…&state=…` (the operator "approved") |
//! | `GET /api/organizations` (`Cookie: sessionKey=`[`MOCK_SESSION_KEY`]) | one org with `chat` |
//! | `POST /v1/oauth/{org}/authorize` (same cookie, JSON) | `{"redirect_uri": "…?code=…&state=…"}` |
//! | `POST /v1/oauth/token` (JSON), `/oauth/token` (form or JSON), `/token` (form) | authorization_code and refresh_token grants; errors as `{"error":"invalid_grant","error_description":…}` |
//! | `GET /api/oauth/profile` (Bearer) | Claude profile (`has_claude_max`) |
//! | `POST /v1/messages` (Bearer of an issued token) | a small Anthropic message, so a signed-in account can serve |
//!
//! Tokens: Claude `sk-ant-oat01-oauthmock-N` / `sk-ant-ort01-oauthmock-N` (no refresh token for
//! the `user:inference`-only setup token); ChatGPT JWTs with account id `acct-oauthmock` and
//! plan `pro`; Google `ya29.oauthmock-N` / `1//oauthmock-N` with an id token for
//! [`MOCK_EMAIL`].

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

pub const MOCK_SESSION_KEY: &str = "sk-ant-sid01-oauthmock-session";
pub const MOCK_EMAIL: &str = "operator@example.com";
pub const MOCK_ORG: &str = "Mock Org";

#[derive(Clone)]
struct Issued {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scope: String,
    used: bool,
}

#[derive(Default)]
struct Shared {
    codes: Mutex<HashMap<String, Issued>>,
    refresh: Mutex<HashSet<String>>,
    access: Mutex<HashSet<String>>,
    counter: AtomicU64,
    exchanges: AtomicU64,
    refreshes: AtomicU64,
    served: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The running mock; stops when dropped.
pub struct OAuthMock {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OAuthMock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OAuthMock {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("OAuthMock: cannot bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("OAuthMock: no address: {e}"));
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/oauth/authorize", get(authorize))
            .route("/o/oauth2/v2/auth", get(authorize))
            .route("/api/organizations", get(organizations))
            .route("/v1/oauth/{org}/authorize", post(org_authorize))
            .route("/v1/oauth/token", post(token))
            .route("/oauth/token", post(token))
            .route("/token", post(token))
            .route("/api/oauth/profile", get(profile))
            .route("/v1/messages", post(messages))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Authorization codes exchanged successfully.
    pub fn exchanges(&self) -> u64 {
        self.shared.exchanges.load(Ordering::SeqCst)
    }

    /// Refresh grants answered.
    pub fn refreshes(&self) -> u64 {
        self.shared.refreshes.load(Ordering::SeqCst)
    }

    /// `/v1/messages` requests served with an issued token.
    pub fn served(&self) -> u64 {
        self.shared.served.load(Ordering::SeqCst)
    }
}

fn issue_code(shared: &Shared, params: &HashMap<String, String>) -> Result<String, String> {
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    if get("code_challenge_method") != "S256" || get("code_challenge").is_empty() {
        return Err("PKCE with S256 is required".into());
    }
    if get("client_id").is_empty() || get("redirect_uri").is_empty() {
        return Err("client_id and redirect_uri are required".into());
    }
    let n = shared.counter.fetch_add(1, Ordering::SeqCst);
    let code = format!("mock-code-{n}");
    lock(&shared.codes).insert(
        code.clone(),
        Issued {
            client_id: get("client_id"),
            redirect_uri: get("redirect_uri"),
            challenge: get("code_challenge"),
            scope: get("scope"),
            used: false,
        },
    );
    Ok(code)
}

fn with_code(redirect_uri: &str, code: &str, state: &str) -> String {
    format!("{redirect_uri}?code={code}&state={state}")
}

async fn authorize(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match issue_code(&shared, &q) {
        Ok(code) => {
            let to = with_code(
                q.get("redirect_uri").map_or("", String::as_str),
                &code,
                q.get("state").map_or("", String::as_str),
            );
            (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

fn session_ok(headers: &HeaderMap) -> bool {
    headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains(&format!("sessionKey={MOCK_SESSION_KEY}")))
}

async fn organizations(headers: HeaderMap) -> Response {
    if !session_ok(&headers) {
        return (StatusCode::FORBIDDEN, "{\"error\":\"permission_error\"}").into_response();
    }
    axum::Json(json!([
        {"uuid": "org-api-only", "name": "API", "capabilities": ["api"]},
        {"uuid": "org-mock-1", "name": MOCK_ORG, "capabilities": ["chat", "claude_max"]}
    ]))
    .into_response()
}

async fn org_authorize(
    State(shared): State<Arc<Shared>>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !session_ok(&headers) {
        return (StatusCode::FORBIDDEN, "{\"error\":\"permission_error\"}").into_response();
    }
    let params = parse_body(&body);
    if params.get("organization_uuid") != Some(&org) {
        return (StatusCode::BAD_REQUEST, "organization mismatch").into_response();
    }
    match issue_code(&shared, &params) {
        Ok(code) => axum::Json(json!({"redirect_uri": with_code(
            params.get("redirect_uri").map_or("", String::as_str),
            &code,
            params.get("state").map_or("", String::as_str),
        )}))
        .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

/// JSON object or form body, as string pairs.
fn parse_body(body: &[u8]) -> HashMap<String, String> {
    if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) {
        return o
            .into_iter()
            .map(|(k, v)| {
                let s = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, s)
            })
            .collect();
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn grant_error(description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": "invalid_grant", "error_description": description})),
    )
        .into_response()
}

fn jwt(claims: &Value) -> String {
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.mock-signature",
        enc(&json!({"alg": "RS256", "typ": "JWT"})),
        enc(claims)
    )
}

async fn token(State(shared): State<Arc<Shared>>, uri: axum::http::Uri, body: Bytes) -> Response {
    let p = parse_body(&body);
    let get = |k: &str| p.get(k).cloned().unwrap_or_default();
    let scope = match get("grant_type").as_str() {
        "authorization_code" => {
            let mut codes = lock(&shared.codes);
            let Some(issued) = codes.get_mut(&get("code")) else {
                return grant_error("unknown authorization code");
            };
            if issued.used {
                return grant_error("authorization code already used");
            }
            issued.used = true;
            if issued.client_id != get("client_id") {
                return grant_error("client_id does not match the authorization request");
            }
            if issued.redirect_uri != get("redirect_uri") {
                return grant_error("redirect_uri does not match the authorization request");
            }
            let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(get("code_verifier").as_bytes()));
            if challenge != issued.challenge {
                return grant_error(
                    "PKCE verification failed: code_verifier does not match code_challenge",
                );
            }
            shared.exchanges.fetch_add(1, Ordering::SeqCst);
            issued.scope.clone()
        }
        "refresh_token" => {
            if !lock(&shared.refresh).remove(&get("refresh_token")) {
                return grant_error("refresh token revoked or unknown");
            }
            shared.refreshes.fetch_add(1, Ordering::SeqCst);
            String::new()
        }
        other => return grant_error(&format!("unsupported grant_type `{other}`")),
    };
    let n = shared.counter.fetch_add(1, Ordering::SeqCst);
    let path = uri.path();
    let (access, refresh, extra) = if path == "/v1/oauth/token" {
        let refresh = (scope != "user:inference").then(|| format!("sk-ant-ort01-oauthmock-{n}"));
        (
            format!("sk-ant-oat01-oauthmock-{n}"),
            refresh,
            json!({
                "account": {"uuid": "acct-uuid-1", "email_address": MOCK_EMAIL},
                "organization": {"uuid": "org-mock-1", "name": MOCK_ORG},
            }),
        )
    } else if path == "/oauth/token" {
        let auth = json!({"chatgpt_account_id": "acct-oauthmock", "chatgpt_plan_type": "pro",
            "organizations": [{"title": MOCK_ORG}]});
        (
            jwt(&json!({"exp": 4_102_444_800u64, "https://api.openai.com/auth": auth})),
            Some(format!("rt-oauthmock-{n}")),
            json!({"id_token": jwt(&json!({"email": MOCK_EMAIL, "https://api.openai.com/auth": auth}))}),
        )
    } else {
        (
            format!("ya29.oauthmock-{n}"),
            Some(format!("1//oauthmock-{n}")),
            json!({"id_token": jwt(&json!({"email": MOCK_EMAIL}))}),
        )
    };
    lock(&shared.access).insert(access.clone());
    if let Some(r) = &refresh {
        lock(&shared.refresh).insert(r.clone());
    }
    let expires_in: i64 = get("expires_in").parse().unwrap_or(28_800);
    let mut out = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": scope,
    });
    if let Some(r) = refresh {
        out["refresh_token"] = json!(r);
    }
    if let (Value::Object(o), Value::Object(e)) = (&mut out, extra) {
        o.extend(e);
    }
    axum::Json(out).into_response()
}

fn bearer_ok(shared: &Shared, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| lock(&shared.access).contains(t))
}

async fn profile(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !bearer_ok(&shared, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    axum::Json(json!({
        "account": {"uuid": "acct-uuid-1", "email": MOCK_EMAIL, "has_claude_max": true, "has_claude_pro": false},
        "organization": {"uuid": "org-mock-1", "name": MOCK_ORG, "organization_type": "claude_max"}
    }))
    .into_response()
}

async fn messages(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !bearer_ok(&shared, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid bearer token"}})),
        )
            .into_response();
    }
    shared.served.fetch_add(1, Ordering::SeqCst);
    axum::Json(json!({
        "id": "msg_oauthmock", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": [{"type": "text", "text": "signed in"}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 3, "output_tokens": 2}
    }))
    .into_response()
}
