//! `MockUpstream`: a real HTTP server on `127.0.0.1:0` that speaks the Anthropic and OpenAI
//! upstream protocols, with scripted faults and request recording.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::bodies::{self, MockUsage};
use crate::fault::Fault;

/// The Bedrock runtime endpoints: a child module, so they share this mock's state and queues.
#[path = "bedrock.rs"]
mod bedrock;

/// Largest request body the mock reads.
const MAX_BODY: usize = 64 * 1024 * 1024;
const SSE_CONTENT_TYPE: &str = "text/event-stream; charset=utf-8";
const JSON_CONTENT_TYPE: &str = "application/json";
const DEFAULT_ANTHROPIC_MODEL: &str = "claude-sonnet-4-20250514";
const DEFAULT_OPENAI_MODEL: &str = "gpt-5-mini";

/// How stream bodies are cut into chunks (each chunk is one body frame, flushed on its own when
/// a pause separates it from the next).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Chunking {
    /// One chunk per SSE event (the default, like the real APIs).
    #[default]
    PerEvent,
    /// The whole stream in one chunk (split only where a stream hold or a fault must fall).
    Whole,
    /// Slices of `n` bytes regardless of line and UTF-8 boundaries; the server yields between
    /// slices so each is flushed separately. `0` counts as `1`.
    EveryNBytes(usize),
}

/// One request the mock received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// Path with query string, e.g. `/v1/messages?beta=true`.
    pub path: String,
    /// Lowercase header name → value (repeated headers joined with `", "`).
    pub headers: BTreeMap<String, String>,
    pub body: Bytes,
    /// The `x-api-key` value, else the `Authorization: Bearer` token, if any. For probe
    /// endpoints (see [`MockUpstream::push_probe`]) also the `x-goog-api-key` value, else the
    /// `sessionKey` cookie, else (Gemini paths) the `key` query parameter. For Gemini public-API
    /// requests, the `x-goog-api-key` value, else `?key=`.
    pub credential: Option<String>,
}

impl RecordedRequest {
    /// A header value by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The path without the query string.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or(&self.path)
    }
}

#[derive(Clone, Copy, Debug)]
struct Config {
    usage: MockUsage,
    deltas: usize,
    chunking: Chunking,
    chunk_delay: Duration,
    stream_hold: Duration,
    recording: bool,
    claude_five_hour: f64,
    claude_seven_day: f64,
    codex_used_percent: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            usage: MockUsage::default(),
            deltas: bodies::DEFAULT_DELTAS,
            chunking: Chunking::PerEvent,
            chunk_delay: Duration::ZERO,
            stream_hold: Duration::ZERO,
            recording: true,
            claude_five_hour: bodies::DEFAULT_CLAUDE_FIVE_HOUR,
            claude_seven_day: bodies::DEFAULT_CLAUDE_SEVEN_DAY,
            codex_used_percent: bodies::DEFAULT_CODEX_USED_PERCENT,
        }
    }
}

#[derive(Default)]
struct Faults {
    any: VecDeque<Fault>,
    by_credential: HashMap<String, VecDeque<Fault>>,
    oauth: VecDeque<Fault>,
    probe_any: VecDeque<Fault>,
    probe_by_credential: HashMap<String, VecDeque<Fault>>,
}

impl Faults {
    fn len(&self) -> usize {
        let queued =
            |m: &HashMap<String, VecDeque<Fault>>| m.values().map(VecDeque::len).sum::<usize>();
        self.any.len()
            + self.oauth.len()
            + self.probe_any.len()
            + queued(&self.by_credential)
            + queued(&self.probe_by_credential)
    }
}

struct Shared {
    config: Mutex<Config>,
    faults: Mutex<Faults>,
    records: Mutex<Vec<RecordedRequest>>,
    per_credential: Mutex<HashMap<String, usize>>,
    per_probe_credential: Mutex<HashMap<String, usize>>,
    total: AtomicUsize,
    tokens_issued: AtomicU64,
    gemini: crate::gemini::GeminiState,
    request_ids: AtomicU64,
    shutdown: watch::Receiver<bool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn config(&self) -> Config {
        *lock(&self.config)
    }

    fn take_fault(&self, endpoint: Endpoint, credential: Option<&str>) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let faults = &mut *faults;
        let (by_credential, any) = match endpoint {
            Endpoint::OAuthToken | Endpoint::GoogleToken => return faults.oauth.pop_front(),
            ep if ep.is_probe() => (&mut faults.probe_by_credential, &mut faults.probe_any),
            _ => (&mut faults.by_credential, &mut faults.any),
        };
        if let Some(cred) = credential
            && let Some(queue) = by_credential.get_mut(cred)
            && let Some(fault) = queue.pop_front()
        {
            return Some(fault);
        }
        any.pop_front()
    }

    fn record(&self, parts: &http::request::Parts, body: &Bytes, credential: Option<&str>) {
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &parts.headers {
            let value = String::from_utf8_lossy(value.as_bytes());
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert_with(|| value.into_owned());
        }
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
        let rec = RecordedRequest {
            method: parts.method.as_str().to_owned(),
            path,
            headers,
            body: body.clone(),
            credential: credential.map(str::to_owned),
        };
        lock(&self.records).push(rec);
    }

    fn count_credential(&self, endpoint: Endpoint, credential: &str) {
        let mut map = if endpoint.is_probe() {
            lock(&self.per_probe_credential)
        } else {
            lock(&self.per_credential)
        };
        if let Some(n) = map.get_mut(credential) {
            *n += 1;
        } else {
            map.insert(credential.to_owned(), 1);
        }
    }

    fn request_id(&self) -> String {
        let n = self.request_ids.fetch_add(1, Ordering::Relaxed) + 1;
        format!("req_011Mock{n:015}")
    }
}

/// A mock upstream HTTP server. See the crate docs for the endpoints it serves.
///
/// Dropping it (or calling [`MockUpstream::shutdown`]) stops the server: it stops accepting,
/// hanging and held requests end, idle connections close.
pub struct MockUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown_tx: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for MockUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockUpstream")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MockUpstream {
    /// Starts the mock on `127.0.0.1:0`.
    ///
    /// # Panics
    /// If no loopback port can be bound: a test cannot proceed without its upstream, so this
    /// aborts the test. Use [`MockUpstream::try_start`] to handle the error instead.
    pub async fn start() -> MockUpstream {
        Self::try_start()
            .await
            .unwrap_or_else(|e| panic!("MockUpstream: cannot bind 127.0.0.1:0: {e}"))
    }

    /// Starts the mock on `127.0.0.1:0`, returning bind errors.
    pub async fn try_start() -> std::io::Result<MockUpstream> {
        Self::try_start_on(0).await
    }

    /// Like [`MockUpstream::try_start`] on a chosen port (0 picks a free one).
    pub async fn try_start_on(port: u16) -> std::io::Result<MockUpstream> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let addr = listener.local_addr()?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            config: Mutex::new(Config::default()),
            faults: Mutex::new(Faults::default()),
            records: Mutex::new(Vec::new()),
            per_credential: Mutex::new(HashMap::new()),
            per_probe_credential: Mutex::new(HashMap::new()),
            total: AtomicUsize::new(0),
            tokens_issued: AtomicU64::new(0),
            gemini: crate::gemini::GeminiState::default(),
            request_ids: AtomicU64::new(0),
            shutdown: shutdown_rx.clone(),
        });
        let app = router(shared.clone());
        let listener = listener.tap_io(|tcp| {
            // Small SSE writes must not wait for Nagle.
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(wait_shutdown(shutdown_rx))
                .await;
        });
        Ok(MockUpstream {
            addr,
            shared,
            shutdown_tx,
            task,
        })
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and waits (up to 5 s) for it to finish.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(true);
        let abort = self.task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }

    // --- faults ------------------------------------------------------------------------------

    /// Queues a fault for the next request to any relay endpoint (everything except the OAuth
    /// token endpoint and the probe endpoints) that has no per-credential fault queued.
    pub fn push(&self, fault: Fault) {
        lock(&self.shared.faults).any.push_back(fault);
    }

    /// Queues the same fault `n` times.
    pub fn push_n(&self, n: usize, fault: Fault) {
        let mut faults = lock(&self.shared.faults);
        faults.any.extend(std::iter::repeat_n(fault, n));
    }

    /// Queues a fault for the next request carrying this credential (`x-api-key` value or
    /// Bearer token). Per-credential faults are used before the shared queue.
    pub fn push_for(&self, credential: impl Into<String>, fault: Fault) {
        lock(&self.shared.faults)
            .by_credential
            .entry(credential.into())
            .or_default()
            .push_back(fault);
    }

    /// Queues a fault for the next OAuth token request (`/v1/oauth/token`, `/oauth/token`).
    pub fn push_oauth(&self, fault: Fault) {
        lock(&self.shared.faults).oauth.push_back(fault);
    }

    /// Queues a fault for the next probe request (account health checks and the webhook sink:
    /// `GET /api/oauth/usage`, `/api/organizations`, `/v1/models`, `/models`, `/v1beta/models`,
    /// `/backend-api/accounts/check/v4-2023-04-27`, `/backend-api/wham/usage`,
    /// `POST /webhook`) that has no per-credential probe fault queued. Probe and relay queues
    /// are separate: probes never consume [`MockUpstream::push`] / [`MockUpstream::push_for`]
    /// faults and relay requests never consume probe faults.
    pub fn push_probe(&self, fault: Fault) {
        lock(&self.shared.faults).probe_any.push_back(fault);
    }

    /// Queues a fault for the next probe request carrying this credential: the Bearer token,
    /// `x-api-key`, `x-goog-api-key` or `sessionKey` cookie value. Used before the shared probe
    /// queue.
    pub fn push_probe_for(&self, credential: impl Into<String>, fault: Fault) {
        lock(&self.shared.faults)
            .probe_by_credential
            .entry(credential.into())
            .or_default()
            .push_back(fault);
    }

    /// Faults still queued (all queues, probe queues included).
    pub fn pending_faults(&self) -> usize {
        lock(&self.shared.faults).len()
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        *lock(&self.shared.faults) = Faults::default();
    }

    // --- behaviour ---------------------------------------------------------------------------

    /// Token counts reported by successful responses (and `count_tokens`, which reports
    /// `usage.input`).
    pub fn set_usage(&self, usage: MockUsage) {
        lock(&self.shared.config).usage = usage;
    }

    /// Number of text deltas per stream (default [`bodies::DEFAULT_DELTAS`]).
    pub fn set_deltas(&self, deltas: usize) {
        lock(&self.shared.config).deltas = deltas;
    }

    /// How stream bodies are chunked.
    pub fn set_chunking(&self, chunking: Chunking) {
        lock(&self.shared.config).chunking = chunking;
    }

    /// Sleep between stream chunks (default zero). Use with [`Chunking::EveryNBytes`] to make
    /// sure the reader sees every chunk boundary.
    pub fn set_chunk_delay(&self, delay: Duration) {
        lock(&self.shared.config).chunk_delay = delay;
    }

    /// Sleep after the first stream event (message_start / response.created / first chunk)
    /// before sending the rest. Zero (the default) disables it.
    pub fn set_stream_hold(&self, hold: Duration) {
        lock(&self.shared.config).stream_hold = hold;
    }

    /// `five_hour` / `seven_day` utilization (0–100) reported by `GET /api/oauth/usage`
    /// (default 24.0 / 36.0).
    pub fn set_claude_utilization(&self, five_hour: f64, seven_day: f64) {
        let mut cfg = lock(&self.shared.config);
        cfg.claude_five_hour = five_hour;
        cfg.claude_seven_day = seven_day;
    }

    /// `rate_limit.primary_window.used_percent` reported by `GET /backend-api/wham/usage`
    /// (default 3).
    pub fn set_codex_used_percent(&self, percent: f64) {
        lock(&self.shared.config).codex_used_percent = percent;
    }

    /// Turns request recording on (default) or off. [`MockUpstream::request_count`] and the
    /// per-credential counts keep counting either way.
    pub fn set_recording(&self, on: bool) {
        lock(&self.shared.config).recording = on;
    }

    // --- recording ---------------------------------------------------------------------------

    /// Every recorded request, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.records).clone()
    }

    /// The most recent recorded request.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        lock(&self.shared.records).last().cloned()
    }

    /// Number of requests received (recorded or not), all endpoints.
    pub fn request_count(&self) -> usize {
        self.shared.total.load(Ordering::Relaxed)
    }

    /// Number of relay requests received with this credential (`x-api-key` or Bearer token).
    /// Probe requests are counted by [`MockUpstream::probe_count_for`] instead.
    pub fn count_for(&self, credential: &str) -> usize {
        lock(&self.shared.per_credential)
            .get(credential)
            .copied()
            .unwrap_or(0)
    }

    /// Relay requests per credential (probes excluded).
    pub fn credential_counts(&self) -> HashMap<String, usize> {
        lock(&self.shared.per_credential).clone()
    }

    /// Number of probe requests received with this credential (Bearer token, `x-api-key`,
    /// `x-goog-api-key` or `sessionKey` cookie value).
    pub fn probe_count_for(&self, credential: &str) -> usize {
        lock(&self.shared.per_probe_credential)
            .get(credential)
            .copied()
            .unwrap_or(0)
    }

    /// Number of token pairs issued by the OAuth endpoint; the n-th pair is
    /// `sk-ant-oat01-mock-n` / `sk-ant-ort01-mock-n`.
    pub fn tokens_issued(&self) -> u64 {
        self.shared.tokens_issued.load(Ordering::Relaxed)
    }

    /// The Gemini endpoints' state (see `crate::gemini`).
    pub(crate) fn gemini_state(&self) -> &crate::gemini::GeminiState {
        &self.shared.gemini
    }

    /// Forgets recorded requests and all counts.
    pub fn clear_requests(&self) {
        lock(&self.shared.records).clear();
        lock(&self.shared.per_credential).clear();
        lock(&self.shared.per_probe_credential).clear();
        self.shared.total.store(0, Ordering::Relaxed);
    }
}

async fn wait_shutdown(mut rx: watch::Receiver<bool>) {
    // An error means the sender (the MockUpstream) was dropped: shut down too.
    let _ = rx.wait_for(|stop| *stop).await;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Messages,
    CountTokens,
    OAuthToken,
    Responses,
    CodexResponses,
    Chat,
    NotFound,
    // Gemini (see `crate::gemini`).
    GeminiApi,
    CodeAssist,
    GoogleToken,
    // Probes (own fault queues and counts).
    ClaudeUsage,
    ClaudeOrganizations,
    Models,
    CodexAccountCheck,
    CodexUsage,
    Webhook,
}

impl Endpoint {
    fn is_openai(self) -> bool {
        matches!(
            self,
            Self::Responses
                | Self::CodexResponses
                | Self::Chat
                | Self::CodexAccountCheck
                | Self::CodexUsage
        )
    }

    fn is_probe(self) -> bool {
        matches!(
            self,
            Self::ClaudeUsage
                | Self::ClaudeOrganizations
                | Self::Models
                | Self::CodexAccountCheck
                | Self::CodexUsage
                | Self::Webhook
        )
    }
}

fn router(shared: Arc<Shared>) -> Router {
    fn route(ep: Endpoint) -> axum::routing::MethodRouter<Arc<Shared>> {
        post(move |State(s): State<Arc<Shared>>, req: Request| handle(s, ep, req))
    }
    fn probe(ep: Endpoint) -> axum::routing::MethodRouter<Arc<Shared>> {
        get(move |State(s): State<Arc<Shared>>, req: Request| handle(s, ep, req))
    }
    Router::new()
        .route("/v1/messages", route(Endpoint::Messages))
        .route("/v1/messages/count_tokens", route(Endpoint::CountTokens))
        .route("/v1/oauth/token", route(Endpoint::OAuthToken))
        .route("/oauth/token", route(Endpoint::OAuthToken))
        .route("/v1/responses", route(Endpoint::Responses))
        .route("/responses", route(Endpoint::Responses))
        .route(
            "/backend-api/codex/responses",
            route(Endpoint::CodexResponses),
        )
        .route("/v1/chat/completions", route(Endpoint::Chat))
        .route("/chat/completions", route(Endpoint::Chat))
        .route("/api/oauth/usage", probe(Endpoint::ClaudeUsage))
        .route("/api/organizations", probe(Endpoint::ClaudeOrganizations))
        .route("/v1/models", probe(Endpoint::Models))
        .route("/models", probe(Endpoint::Models))
        .route("/v1beta/models", probe(Endpoint::Models))
        .route(
            "/backend-api/accounts/check/v4-2023-04-27",
            probe(Endpoint::CodexAccountCheck),
        )
        .route("/backend-api/wham/usage", probe(Endpoint::CodexUsage))
        .route("/webhook", route(Endpoint::Webhook))
        .route("/v1beta/models/{target}", route(Endpoint::GeminiApi))
        .route("/v1/models/{target}", route(Endpoint::GeminiApi))
        .route("/v1internal:generateContent", route(Endpoint::CodeAssist))
        .route(
            "/v1internal:streamGenerateContent",
            route(Endpoint::CodeAssist),
        )
        .route("/v1internal:countTokens", route(Endpoint::CodeAssist))
        .route("/v1internal:loadCodeAssist", route(Endpoint::CodeAssist))
        .route("/v1internal:onboardUser", route(Endpoint::CodeAssist))
        .route("/v1internal:retrieveUserQuota", route(Endpoint::CodeAssist))
        .route("/v1internal:listExperiments", route(Endpoint::CodeAssist))
        .route(
            "/v1internal:getCodeAssistGlobalUserSetting",
            probe(Endpoint::CodeAssist),
        )
        .route("/v1internal/operations/{name}", probe(Endpoint::CodeAssist))
        .route("/token", route(Endpoint::GoogleToken))
        .merge(bedrock::routes())
        .fallback(|State(s): State<Arc<Shared>>, req: Request| handle(s, Endpoint::NotFound, req))
        .with_state(shared)
}

fn credential(headers: &HeaderMap) -> Option<&str> {
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(key);
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The `sessionKey` cookie value (claude.ai web session), from any `Cookie` header.
fn session_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix("sessionKey="))
        .filter(|v| !v.is_empty())
}

fn is_gemini_path(path: &str) -> bool {
    path.starts_with("/v1beta/") || path == "/v1beta"
}

/// The `key` query parameter (Gemini's alternative to `x-goog-api-key`).
fn query_key(parts: &http::request::Parts) -> Option<&str> {
    parts
        .uri
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("key="))
        .filter(|v| !v.is_empty())
}

/// A probe's credential: `x-api-key`, Bearer token, `x-goog-api-key`, `sessionKey` cookie, or
/// (Gemini paths) `?key=`.
fn probe_credential(parts: &http::request::Parts) -> Option<&str> {
    let h = &parts.headers;
    credential(h)
        .or_else(|| header_str(h, "x-goog-api-key"))
        .or_else(|| session_key(h))
        .or_else(|| {
            is_gemini_path(parts.uri.path())
                .then(|| query_key(parts))
                .flatten()
        })
}

#[derive(Deserialize, Default)]
struct Inspect {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize, Default)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// What an endpoint answers, before faults and chunking are applied.
pub(crate) enum Reply {
    Json {
        status: StatusCode,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    Sse {
        headers: Vec<(&'static str, String)>,
        events: Vec<Bytes>,
    },
    /// A bodiless answer (e.g. 204).
    Empty {
        status: StatusCode,
        headers: Vec<(&'static str, String)>,
    },
}

async fn handle(shared: Arc<Shared>, endpoint: Endpoint, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body unreadable or too large",
        );
    };
    shared.total.fetch_add(1, Ordering::Relaxed);
    let cfg = shared.config();
    let cred = if endpoint == Endpoint::GeminiApi {
        crate::gemini::api_key(&parts)
    } else if endpoint.is_probe() {
        probe_credential(&parts)
    } else {
        credential(&parts.headers)
    };
    if let Some(c) = cred {
        shared.count_credential(endpoint, c);
    }
    if cfg.recording {
        shared.record(&parts, &body, cred);
    }
    let fault = shared.take_fault(endpoint, cred);
    let mut shutdown = shared.shutdown.clone();

    let mut cut = None;
    let reply = match fault {
        Some(Fault::Status {
            status,
            headers,
            body,
        }) => return status_response(&shared, endpoint, status, headers, body),
        Some(Fault::Hang) => {
            let _ = shutdown.wait_for(|stop| *stop).await;
            return plain(StatusCode::SERVICE_UNAVAILABLE, "mock upstream shut down");
        }
        Some(Fault::SlowFirstByte(delay)) => {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = shutdown.wait_for(|stop| *stop) => {
                    return plain(StatusCode::SERVICE_UNAVAILABLE, "mock upstream shut down");
                }
            }
            success(&shared, endpoint, &parts, &body, &cfg)
        }
        Some(f @ (Fault::DisconnectMidStream { .. } | Fault::StallAfter { .. })) => {
            cut = Cut::of(&f);
            success(&shared, endpoint, &parts, &body, &cfg)
        }
        Some(Fault::ErrorEventAfter200) => match endpoint {
            Endpoint::GeminiApi | Endpoint::CodeAssist => crate::gemini::error_stream(
                &parts,
                &body,
                &cfg.usage,
                endpoint == Endpoint::CodeAssist,
            ),
            _ => error_stream(&shared, endpoint, &body, &cfg),
        }
        .unwrap_or_else(|| success(&shared, endpoint, &parts, &body, &cfg)),
        None => success(&shared, endpoint, &parts, &body, &cfg),
    };
    build(reply, &cfg, cut, shutdown)
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut resp = Response::new(Body::from(text));
    *resp.status_mut() = status;
    resp
}

fn status_response(
    shared: &Shared,
    endpoint: Endpoint,
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
) -> Response {
    let has_ct = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    let json = body.trim_start().starts_with('{');
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    if !has_ct {
        let ct = if json {
            JSON_CONTENT_TYPE
        } else {
            "text/plain; charset=utf-8"
        };
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    let id_header = if endpoint.is_openai() {
        "x-request-id"
    } else {
        "request-id"
    };
    if let Ok(v) = HeaderValue::from_str(&shared.request_id()) {
        h.insert(id_header, v);
    }
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            h.append(n, v);
        }
    }
    resp
}

fn anthropic_headers(shared: &Shared) -> Vec<(&'static str, String)> {
    vec![
        ("request-id", shared.request_id()),
        ("anthropic-ratelimit-unified-status", "allowed".to_owned()),
    ]
}

fn openai_headers(shared: &Shared, endpoint: Endpoint) -> Vec<(&'static str, String)> {
    let mut h = vec![("x-request-id", shared.request_id())];
    if endpoint == Endpoint::CodexResponses {
        h.extend([
            ("x-codex-primary-used-percent", "12".to_owned()),
            ("x-codex-primary-window-minutes", "300".to_owned()),
            ("x-codex-primary-reset-after-seconds", "3600".to_owned()),
            ("x-codex-secondary-used-percent", "5".to_owned()),
            ("x-codex-secondary-window-minutes", "10080".to_owned()),
            ("x-codex-secondary-reset-after-seconds", "86400".to_owned()),
        ]);
    }
    h
}

fn bad_request(shared: &Shared, endpoint: Endpoint, message: &str) -> Reply {
    let (headers, body) = if endpoint.is_openai() {
        (
            openai_headers(shared, endpoint),
            bodies::openai_error_json("invalid_request_error", message, None),
        )
    } else {
        (
            anthropic_headers(shared),
            bodies::anthropic_error_json("invalid_request_error", message),
        )
    };
    Reply::Json {
        status: StatusCode::BAD_REQUEST,
        headers,
        body,
    }
}

fn json_ok(headers: Vec<(&'static str, String)>, body: String) -> Reply {
    Reply::Json {
        status: StatusCode::OK,
        headers,
        body,
    }
}

fn inspect(body: &[u8]) -> Option<Inspect> {
    serde_json::from_slice(body).ok()
}

fn success(
    shared: &Shared,
    endpoint: Endpoint,
    parts: &http::request::Parts,
    body: &[u8],
    cfg: &Config,
) -> Reply {
    match endpoint {
        Endpoint::ClaudeUsage
        | Endpoint::ClaudeOrganizations
        | Endpoint::Models
        | Endpoint::CodexAccountCheck
        | Endpoint::CodexUsage
        | Endpoint::Webhook => probe_success(shared, endpoint, parts, cfg),
        Endpoint::NotFound => Reply::Json {
            status: StatusCode::NOT_FOUND,
            headers: anthropic_headers(shared),
            body: bodies::anthropic_error_json("not_found_error", "Not found"),
        },
        Endpoint::OAuthToken => oauth(shared, body),
        Endpoint::GeminiApi => crate::gemini::public_api(parts, body, &cfg.usage, cfg.deltas),
        Endpoint::CodeAssist => {
            crate::gemini::code_assist(&shared.gemini, parts, body, &cfg.usage, cfg.deltas)
        }
        Endpoint::GoogleToken => crate::gemini::google_token(&shared.gemini, body),
        Endpoint::CountTokens => match inspect(body) {
            None => bad_request(shared, endpoint, "request body is not valid JSON"),
            Some(_) => json_ok(
                anthropic_headers(shared),
                format!(r#"{{"input_tokens":{}}}"#, cfg.usage.input),
            ),
        },
        Endpoint::Messages => {
            let Some(req) = inspect(body) else {
                return bad_request(shared, endpoint, "request body is not valid JSON");
            };
            let model = req.model.as_deref().unwrap_or(DEFAULT_ANTHROPIC_MODEL);
            let headers = anthropic_headers(shared);
            if req.stream == Some(true) {
                Reply::Sse {
                    headers,
                    events: bodies::anthropic_stream_events(model, &cfg.usage, cfg.deltas),
                }
            } else {
                json_ok(
                    headers,
                    bodies::anthropic_message_json(model, &cfg.usage, cfg.deltas),
                )
            }
        }
        Endpoint::Responses | Endpoint::CodexResponses => {
            let Some(req) = inspect(body) else {
                return bad_request(shared, endpoint, "request body is not valid JSON");
            };
            let model = req.model.as_deref().unwrap_or(DEFAULT_OPENAI_MODEL);
            let headers = openai_headers(shared, endpoint);
            // The ChatGPT backend is stream-only: stream unless explicitly `false`.
            let stream = req.stream.unwrap_or(endpoint == Endpoint::CodexResponses);
            if stream {
                Reply::Sse {
                    headers,
                    events: bodies::responses_stream_events(model, &cfg.usage, cfg.deltas),
                }
            } else {
                json_ok(
                    headers,
                    bodies::responses_completed_json(model, &cfg.usage, cfg.deltas),
                )
            }
        }
        Endpoint::Chat => {
            let Some(req) = inspect(body) else {
                return bad_request(shared, endpoint, "request body is not valid JSON");
            };
            let model = req.model.as_deref().unwrap_or(DEFAULT_OPENAI_MODEL);
            let headers = openai_headers(shared, endpoint);
            if req.stream == Some(true) {
                let include_usage = req
                    .stream_options
                    .and_then(|o| o.include_usage)
                    .unwrap_or(false);
                Reply::Sse {
                    headers,
                    events: bodies::chat_stream_events(
                        model,
                        &cfg.usage,
                        cfg.deltas,
                        include_usage,
                    ),
                }
            } else {
                json_ok(
                    headers,
                    bodies::chat_completion_json(model, &cfg.usage, cfg.deltas),
                )
            }
        }
    }
}

fn now() -> (u64, u32) {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or((0, 0), |d| (d.as_secs(), d.subsec_micros()))
}

fn unauthorized(status: StatusCode, headers: Vec<(&'static str, String)>, body: String) -> Reply {
    Reply::Json {
        status,
        headers,
        body,
    }
}

/// The probe endpoints' answers. Each checks that the credential it needs is present (401 in
/// the endpoint's dialect otherwise) and never looks at its value.
fn probe_success(
    shared: &Shared,
    endpoint: Endpoint,
    parts: &http::request::Parts,
    cfg: &Config,
) -> Reply {
    let h = &parts.headers;
    let anthropic_401 = || {
        unauthorized(
            StatusCode::UNAUTHORIZED,
            anthropic_headers(shared),
            bodies::anthropic_error_json("authentication_error", "invalid x-api-key"),
        )
    };
    let openai_401 = || {
        unauthorized(
            StatusCode::UNAUTHORIZED,
            vec![("x-request-id", shared.request_id())],
            bodies::openai_error_json(
                "invalid_request_error",
                "You didn't provide an API key.",
                None,
            ),
        )
    };
    match endpoint {
        Endpoint::ClaudeUsage => {
            if bearer(h).is_none() {
                return anthropic_401();
            }
            let (secs, micros) = now();
            json_ok(
                anthropic_headers(shared),
                bodies::claude_oauth_usage_json(
                    cfg.claude_five_hour,
                    cfg.claude_seven_day,
                    secs,
                    micros,
                ),
            )
        }
        Endpoint::ClaudeOrganizations => {
            if session_key(h).is_none() {
                return unauthorized(
                    StatusCode::UNAUTHORIZED,
                    Vec::new(),
                    bodies::anthropic_error_json("authentication_error", "Invalid authorization"),
                );
            }
            json_ok(Vec::new(), bodies::CLAUDE_ORGANIZATIONS_JSON.to_owned())
        }
        Endpoint::Models => {
            let gemini = is_gemini_path(parts.uri.path())
                || (h.contains_key("x-goog-api-key") && !h.contains_key("anthropic-version"));
            if gemini {
                if probe_credential(parts).is_none() {
                    return unauthorized(
                        StatusCode::FORBIDDEN,
                        Vec::new(),
                        bodies::gemini_error_json(
                            403,
                            "PERMISSION_DENIED",
                            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                        ),
                    );
                }
                json_ok(Vec::new(), bodies::GEMINI_MODELS_JSON.to_owned())
            } else if h.contains_key("anthropic-version") {
                if credential(h).is_none() {
                    return anthropic_401();
                }
                json_ok(
                    anthropic_headers(shared),
                    bodies::ANTHROPIC_MODELS_JSON.to_owned(),
                )
            } else {
                if credential(h).is_none() {
                    return openai_401();
                }
                json_ok(
                    vec![("x-request-id", shared.request_id())],
                    bodies::OPENAI_MODELS_JSON.to_owned(),
                )
            }
        }
        Endpoint::CodexAccountCheck | Endpoint::CodexUsage => {
            if bearer(h).is_none() {
                return openai_401();
            }
            let body = if endpoint == Endpoint::CodexUsage {
                bodies::codex_usage_json(cfg.codex_used_percent, now().0)
            } else {
                bodies::CODEX_ACCOUNT_CHECK_JSON.to_owned()
            };
            json_ok(vec![("x-request-id", shared.request_id())], body)
        }
        // The webhook sink (relay endpoints never get here).
        _ => Reply::Empty {
            status: StatusCode::NO_CONTENT,
            headers: Vec::new(),
        },
    }
}

fn error_stream(shared: &Shared, endpoint: Endpoint, body: &[u8], cfg: &Config) -> Option<Reply> {
    let model = inspect(body).and_then(|r| r.model);
    let events = match endpoint {
        Endpoint::Messages => bodies::anthropic_error_stream_events(
            model.as_deref().unwrap_or(DEFAULT_ANTHROPIC_MODEL),
            &cfg.usage,
        ),
        Endpoint::Responses | Endpoint::CodexResponses => {
            bodies::responses_error_stream_events(model.as_deref().unwrap_or(DEFAULT_OPENAI_MODEL))
        }
        Endpoint::Chat => {
            bodies::chat_error_stream_events(model.as_deref().unwrap_or(DEFAULT_OPENAI_MODEL))
        }
        Endpoint::CountTokens
        | Endpoint::OAuthToken
        | Endpoint::NotFound
        | Endpoint::ClaudeUsage
        | Endpoint::ClaudeOrganizations
        | Endpoint::Models
        | Endpoint::CodexAccountCheck
        | Endpoint::CodexUsage
        | Endpoint::Webhook
        | Endpoint::GeminiApi
        | Endpoint::CodeAssist
        | Endpoint::GoogleToken => return None,
    };
    let headers = if endpoint == Endpoint::Messages {
        anthropic_headers(shared)
    } else {
        openai_headers(shared, endpoint)
    };
    Some(Reply::Sse { headers, events })
}

/// The OAuth token endpoint: JSON or form body; `refresh_token` and `authorization_code` grants.
fn oauth(shared: &Shared, body: &[u8]) -> Reply {
    let grant = grant_type(body);
    let headers = vec![("request-id", shared.request_id())];
    match grant.as_deref() {
        Some("refresh_token" | "authorization_code") if is_codex_client(body) => {
            // ChatGPT (Codex) login: the access token is a JWT carrying the account id.
            let n = shared.tokens_issued.fetch_add(1, Ordering::Relaxed) + 1;
            let access = chatgpt_jwt(&format!("acct-mock-{n}"), unix_now() + 3600);
            json_ok(
                headers,
                serde_json::json!({
                    "access_token": access,
                    "id_token": access,
                    "refresh_token": format!("rt-mock-{n}"),
                    "expires_in": 3600,
                })
                .to_string(),
            )
        }
        Some("refresh_token" | "authorization_code") => {
            let n = shared.tokens_issued.fetch_add(1, Ordering::Relaxed) + 1;
            json_ok(
                headers,
                format!(
                    concat!(
                        r#"{{"access_token":"sk-ant-oat01-mock-{n}","refresh_token":"sk-ant-ort01-mock-{n}","#,
                        r#""expires_in":28800,"token_type":"Bearer","scope":"user:inference user:profile"}}"#
                    ),
                    n = n
                ),
            )
        }
        _ => Reply::Json {
            status: StatusCode::BAD_REQUEST,
            headers,
            body: r#"{"error":"unsupported_grant_type","error_description":"grant_type must be refresh_token or authorization_code"}"#.to_owned(),
        },
    }
}

/// Codex CLI's public OAuth client id, as it appears in a refresh body.
const CODEX_CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";

fn is_codex_client(body: &[u8]) -> bool {
    body.windows(CODEX_CLIENT_ID.len())
        .any(|w| w == CODEX_CLIENT_ID.as_bytes())
}

/// An unsigned JWT shaped like a ChatGPT access token.
pub fn chatgpt_jwt(account_id: &str, exp: u64) -> String {
    use base64::Engine;
    let payload = serde_json::json!({
        "exp": exp,
        "https://api.openai.com/auth": {"chatgpt_account_id": account_id, "chatgpt_plan_type": "plus"},
    });
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "eyJhbGciOiJub25lIn0.{}.c2ln",
        b64.encode(payload.to_string())
    )
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn grant_type(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Grant {
        grant_type: Option<String>,
    }
    if let Ok(g) = serde_json::from_slice::<Grant>(body) {
        return g.grant_type;
    }
    // application/x-www-form-urlencoded; grant type values need no percent-decoding.
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("grant_type="))
        .map(|v| v.trim().to_owned())
}

enum Step {
    Chunk(Bytes),
    Sleep(Duration),
    Yield,
    Fail,
}

/// Lays out the chunks, pauses and the break of one stream body.
/// Where a scripted stream stops early, and how.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cut {
    pub(crate) after: usize,
    /// Stall (send nothing more, keep the connection) instead of breaking it.
    pub(crate) stall: bool,
}

impl Cut {
    pub(crate) fn of(fault: &Fault) -> Option<Cut> {
        match *fault {
            Fault::DisconnectMidStream { after_events } => Some(Cut {
                after: after_events,
                stall: false,
            }),
            Fault::StallAfter { after_events } => Some(Cut {
                after: after_events,
                stall: true,
            }),
            _ => None,
        }
    }

    fn end(self, steps: &mut VecDeque<Step>) {
        // Let the server flush what it has before the body errors or stalls.
        steps.push_back(Step::Yield);
        steps.push_back(if self.stall {
            Step::Sleep(Duration::from_secs(24 * 3600))
        } else {
            Step::Fail
        });
    }
}

fn plan(mut events: Vec<Bytes>, cfg: &Config, cut: Option<Cut>) -> VecDeque<Step> {
    if let Some(c) = cut {
        events.truncate(c.after);
    }
    let mut segments: Vec<Vec<Bytes>> = Vec::with_capacity(2);
    if !cfg.stream_hold.is_zero() && events.len() > 1 {
        let rest = events.split_off(1);
        segments.push(events);
        segments.push(rest);
    } else {
        segments.push(events);
    }
    let mut steps = VecDeque::new();
    let mut first_chunk = true;
    for (i, segment) in segments.into_iter().enumerate() {
        if i > 0 {
            steps.push_back(Step::Sleep(cfg.stream_hold));
            first_chunk = true;
        }
        let chunks = match cfg.chunking {
            Chunking::PerEvent => segment,
            Chunking::Whole => vec![Bytes::from(bodies::concat(&segment))],
            Chunking::EveryNBytes(n) => {
                let all = Bytes::from(bodies::concat(&segment));
                let n = n.max(1);
                (0..all.len())
                    .step_by(n)
                    .map(|at| all.slice(at..(at + n).min(all.len())))
                    .collect()
            }
        };
        for chunk in chunks {
            if !first_chunk {
                if !cfg.chunk_delay.is_zero() {
                    steps.push_back(Step::Sleep(cfg.chunk_delay));
                } else if matches!(cfg.chunking, Chunking::EveryNBytes(_)) {
                    steps.push_back(Step::Yield);
                }
            }
            first_chunk = false;
            steps.push_back(Step::Chunk(chunk));
        }
    }
    if let Some(c) = cut {
        c.end(&mut steps);
    }
    steps
}

fn broken() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "mock upstream: scripted disconnect",
    )
}

fn stream_body(steps: VecDeque<Step>, shutdown: watch::Receiver<bool>) -> Body {
    let stream =
        futures_util::stream::unfold((steps, shutdown), |(mut steps, mut shutdown)| async move {
            loop {
                match steps.pop_front()? {
                    Step::Chunk(bytes) => return Some((Ok(bytes), (steps, shutdown))),
                    Step::Yield => tokio::task::yield_now().await,
                    Step::Sleep(d) => {
                        let stopped = tokio::select! {
                            () = tokio::time::sleep(d) => false,
                            _ = shutdown.wait_for(|stop| *stop) => true,
                        };
                        if stopped {
                            return Some((Err(broken()), (VecDeque::new(), shutdown)));
                        }
                    }
                    Step::Fail => return Some((Err(broken()), (VecDeque::new(), shutdown))),
                }
            }
        });
    Body::from_stream(stream)
}

fn build(
    reply: Reply,
    cfg: &Config,
    cut: Option<Cut>,
    shutdown: watch::Receiver<bool>,
) -> Response {
    let (status, headers, content_type, body) = match reply {
        Reply::Sse { headers, events } => {
            let body = stream_body(plan(events, cfg, cut), shutdown);
            (StatusCode::OK, headers, SSE_CONTENT_TYPE, body)
        }
        Reply::Json {
            status,
            headers,
            body,
        } => {
            let body = match cut {
                None => Body::from(body),
                Some(c) => {
                    let bytes = Bytes::from(body);
                    let half = bytes.slice(..bytes.len() / 2);
                    let mut steps = VecDeque::from([Step::Chunk(half)]);
                    c.end(&mut steps);
                    stream_body(steps, shutdown)
                }
            };
            (status, headers, JSON_CONTENT_TYPE, body)
        }
        Reply::Empty { status, headers } => {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = status;
            for (name, value) in headers {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    resp.headers_mut().insert(name, v);
                }
            }
            return resp;
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if content_type == SSE_CONTENT_TYPE {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    resp
}
