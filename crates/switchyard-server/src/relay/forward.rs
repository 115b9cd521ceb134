//! Phases 5–7: route (the scheduler picks an account), forward (the adapter builds the
//! upstream request) and respond (failover until the first byte, passthrough after it).

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use bytes::Bytes;
use chrono::Utc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_core::account::{Account, AccountKind, AccountStatus};
use switchyard_core::scheduler::{self, NoAccount, RouteRequest};
use switchyard_core::session::SessionKey;
use switchyard_core::{Dialect, Secret};
use switchyard_protocol::ClientFraming;
use switchyard_store::AccountState;
use switchyard_upstream::classify::{self, Classified, Cooldowns, Failure, StateChange};
use switchyard_upstream::gemini::{ResponseShape, UpstreamFraming};
use switchyard_upstream::headers::response_forwardable;
use switchyard_upstream::passthrough::{PassthroughBody, TapMode};
use switchyard_upstream::tokens::TokenError;

use super::admit::KeySlots;
use super::cross::{self, Conversion, CrossDialect};
use super::reply;
use super::settle::{Held, Outcome, settle};
use crate::metrics;
use crate::state::{AppState, KeyEntry};

/// Longest error body read from a failed upstream response (for classification and to pass
/// on to the client).
const ERROR_BODY_CAP: usize = 64 * 1024;

/// A built upstream request.
pub struct Prepared {
    /// POST for every model call; GET for the few Code Assist reads Gemini CLI makes.
    pub method: axum::http::Method,
    pub url: String,
    pub headers: axum::http::HeaderMap,
    pub body: Bytes,
    /// The upstream only streams but the client asked for one JSON response (the ChatGPT
    /// backend): gather the stream and answer with its final response object.
    pub collect_stream: bool,
    /// How the upstream's answer is turned into the client's shape, if it speaks another.
    pub reshape: Reshape,
    /// Set when the account speaks another dialect than the client (issue 18): the answer,
    /// stream and errors are converted back. `None` on the native path, which stays
    /// byte-exact passthrough.
    pub convert: Option<Conversion>,
}

/// Why an upstream request could not be built.
pub enum PrepareError {
    /// This account cannot take it (a bad credential shape, a URL that does not parse): try
    /// another.
    Account(String),
    /// The request itself cannot be served this way (a field a converted target cannot
    /// carry): answer the client with this and send nothing upstream.
    Refuse(Response<Body>),
}

impl From<String> for PrepareError {
    fn from(e: String) -> Self {
        PrepareError::Account(e)
    }
}

/// The named transforms for upstreams that answer in another shape than the client asked
/// for (DESIGN.md, phase 7). Everything else passes through untouched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reshape {
    #[default]
    None,
    /// Bedrock: the binary event-stream becomes Anthropic SSE; errors become Anthropic errors.
    Bedrock,
    /// Gemini: the upstream's framing picks the usage tap; a Code Assist answer to a public-API
    /// client is unwrapped (and re-framed as the client asked: SSE or a JSON array).
    Gemini {
        framing: UpstreamFraming,
        shape: ResponseShape,
        client_sse: bool,
    },
}

/// How one dialect's endpoint is served.
pub struct Endpoint {
    pub dialect: Dialect,
    pub name: &'static str,
    pub kinds: &'static [AccountKind],
    /// Kinds of other families that may serve the endpoint through conversion (subject to
    /// the `cross_dialect` setting and [`cross::serves_converted`]).
    pub converted: &'static [AccountKind],
}

/// The request after authentication, admission and inspection.
pub struct RelayRequest {
    pub key: Arc<KeyEntry>,
    pub key_slot: KeySlots,
    pub model: String,
    pub stream: bool,
    pub session: Option<SessionKey>,
    /// A continuation (`previous_response_id`) that must go to the account that produced the
    /// earlier response while it is usable; looked up before `session`.
    pub pinned: Option<SessionKey>,
    /// Switchyard asked upstream for a usage chunk the client did not request.
    pub strip_chat_usage: bool,
    pub started: Instant,
    pub request_id: String,
    /// Size of the client's body (for a usage estimate when the upstream's usage never came).
    pub request_bytes: usize,
}

/// The sticky identity under which a Responses id is remembered (scoped by API key).
pub fn response_binding(api_key_id: i64, response_id: &str) -> SessionKey {
    switchyard_core::session::session_key(api_key_id, &format!("response:{response_id}"))
}

fn cooldowns(state: &AppState) -> Cooldowns {
    let s = &state.snapshot.load().settings;
    let secs = |k| switchyard_core::time::seconds(s.int(k).min(i64::MAX as u64) as i64);
    Cooldowns {
        rate_limit: secs("rate_limit_cooldown_seconds"),
        overload: secs("overload_cooldown_seconds"),
        server_error: secs("server_error_cooldown_seconds"),
    }
}

/// Runs route → forward → respond with failover, and hands settlement to the response body
/// (or settles at once when no upstream answered successfully).
pub async fn relay<F>(
    state: Arc<AppState>,
    endpoint: &'static Endpoint,
    req: RelayRequest,
    prepare: F,
) -> Response<Body>
where
    F: Fn(&Account, &str, Option<&Secret>, Option<&str>) -> Result<Prepared, PrepareError>,
{
    // If the client goes away before the response exists, hyper drops this future: the
    // attempt stops (no more upstream work for nobody), slots are released by their guards,
    // and this guard records the request.
    let guard = DisconnectGuard {
        state: state.clone(),
        outcome: Some(Outcome {
            status: 499,
            error_kind: Some("client_disconnected".into()),
            ..Outcome::of(&req, endpoint)
        }),
    };
    super::admit::mark_used(&state, &req.key);
    let (mut resp, tried) = attempts(state, endpoint, req, prepare).await;
    guard.disarm();
    resp.headers_mut()
        .insert("x-switchyard-attempts", HeaderValue::from(tried));
    resp
}

impl Outcome {
    /// The outcome of `req` before anything happened to it (no account yet, status 503).
    fn of(req: &RelayRequest, endpoint: &Endpoint) -> Self {
        Outcome {
            request_id: req.request_id.clone(),
            dialect: endpoint.dialect,
            endpoint: endpoint.name,
            api_key_id: req.key.key.id,
            user_id: req.key.key.user_id,
            account_id: None,
            requested_model: Some(req.model.clone()),
            upstream_model: None,
            stream: req.stream,
            status: 503,
            error_kind: None,
            attempts: 0,
            session_hash: req.session.as_ref().map(|s| s.as_str().to_string()),
            started: req.started,
            upstream_time: Duration::ZERO,
            request_bytes: req.request_bytes,
        }
    }
}

/// Settles a request whose client left before its response existed (every other path
/// settles itself).
struct DisconnectGuard {
    state: Arc<AppState>,
    outcome: Option<Outcome>,
}

impl DisconnectGuard {
    fn disarm(mut self) {
        self.outcome = None;
    }
}

impl Drop for DisconnectGuard {
    fn drop(&mut self) {
        if let Some(outcome) = self.outcome.take() {
            settle(
                &self.state,
                outcome,
                None,
                Held {
                    key_slot: None,
                    account_slot: None,
                },
            );
        }
    }
}

async fn attempts<F>(
    state: Arc<AppState>,
    endpoint: &'static Endpoint,
    req: RelayRequest,
    prepare: F,
) -> (Response<Body>, u32)
where
    F: Fn(&Account, &str, Option<&Secret>, Option<&str>) -> Result<Prepared, PrepareError>,
{
    let snap_at_start = state.snapshot.load_full();
    let snap_settings = &snap_at_start.settings;
    // Distinct accounts tried on account faults, bounded by a count and by the time spent
    // before the first byte.
    let max_attempts = snap_settings.int("max_attempts").clamp(1, 16) as u32;
    let budget = Duration::from_secs(snap_settings.int("failover_budget_seconds").max(1));
    let ttl = Duration::from_secs(snap_settings.int("sticky_session_ttl_seconds").max(1));
    // A stream's headers come at once; a non-streaming response's only when it is complete.
    let first_byte_timeout = Duration::from_secs(if req.stream {
        snap_settings.int("first_byte_timeout_seconds").max(1)
    } else {
        snap_settings
            .int("non_stream_timeout_seconds")
            .max(snap_settings.int("first_byte_timeout_seconds"))
            .max(1)
    });
    let idle = Duration::from_secs(state.config.timeouts.idle_seconds.max(1));

    let cross_mode = if endpoint.converted.is_empty() {
        CrossDialect::Off
    } else {
        CrossDialect::from_settings(snap_settings)
    };
    let all_kinds: Vec<AccountKind> = match cross_mode {
        CrossDialect::Any => endpoint
            .kinds
            .iter()
            .chain(endpoint.converted)
            .copied()
            .collect(),
        _ => Vec::new(),
    };
    let mut outcome = Outcome::of(&req, endpoint);
    let binding = super::admit::binding(&req.key);
    let mut key_slot = Some(req.key_slot);
    let mut exclude = Vec::new();
    let mut refreshed_for = Vec::new();
    let mut last_failure: Option<Response<Body>> = None;
    // A failure that may be the request's own (see `Failure::may_be_the_request`): its account
    // is cooled only once another account has shown the request can succeed or fail otherwise.
    let mut suspect: Option<(Arc<Account>, Classified)> = None;
    let mut tried = 0u32;

    while outcome.attempts < max_attempts
        && (outcome.attempts == 0 || req.started.elapsed() < budget)
    {
        // Route.
        let snap = state.snapshot.load();
        let pinned = req
            .pinned
            .as_ref()
            .and_then(|p| state.sticky.get(p.as_str(), ttl));
        let sticky = pinned.or_else(|| {
            req.session
                .as_ref()
                .and_then(|s| state.sticky.get(s.as_str(), ttl))
        });
        let load = |id| state.account_slots.in_flight(id);
        let bound = binding.as_ref().map(|(accounts, _)| &accounts[..]);
        let may_leave_binding = binding.as_ref().is_some_and(|(_, fallback)| *fallback);
        // Picks among `kinds`, limited to `only` (and the key's binding); a key allowed to fall
        // back to the shared pool tries it when none of its bound accounts can serve.
        let pick_among = |kinds: &[AccountKind], only: Option<&[i64]>| {
            // Native routing (`only` is `None`) borrows the binding as it is: no copy.
            let bound_only = bound.map(|ids| match only {
                None => std::borrow::Cow::Borrowed(ids),
                Some(o) => ids.iter().copied().filter(|id| o.contains(id)).collect(),
            });
            let route = RouteRequest {
                kinds,
                model: &req.model,
                exclude: &exclude,
                sticky,
                only: bound_only.as_deref().or(only),
                now: Utc::now(),
            };
            let mut picked =
                scheduler::pick(&snap.accounts, &route, &load, &mut rand::thread_rng());
            if picked.is_err() && may_leave_binding {
                let shared = RouteRequest { only, ..route };
                picked = scheduler::pick(&snap.accounts, &shared, &load, &mut rand::thread_rng());
            }
            picked
        };
        let mut picked = match cross_mode {
            CrossDialect::Any if !endpoint.converted.is_empty() => {
                // One pool: native accounts as they are, converted ones that serve the model.
                let ids: Vec<i64> = snap
                    .accounts
                    .iter()
                    .filter(|a| {
                        endpoint.kinds.contains(&a.kind)
                            || (endpoint.converted.contains(&a.kind)
                                && cross::serves_converted(a, &req.model))
                    })
                    .map(|a| a.id)
                    .collect();
                pick_among(&all_kinds, Some(&ids))
            }
            _ => pick_among(endpoint.kinds, None),
        };
        if let Err(native) = picked
            && cross_mode == CrossDialect::Fallback
            && !endpoint.converted.is_empty()
        {
            // No native account can serve now: try the accounts that serve it converted.
            let ids: Vec<i64> = snap
                .accounts
                .iter()
                .filter(|a| {
                    endpoint.converted.contains(&a.kind) && cross::serves_converted(a, &req.model)
                })
                .map(|a| a.id)
                .collect();
            picked = pick_among(endpoint.converted, Some(&ids)).map_err(|converted| {
                // Say why the closer pool failed: a native pool that exists but is busy is
                // the better answer than "no account for this model".
                if native == NoAccount::NoneForModel {
                    converted
                } else {
                    native
                }
            });
        }
        let choice = match picked {
            Ok(c) => c,
            Err(no) => {
                confirm(&state, suspect.take());
                if let Some(resp) = last_failure.take() {
                    outcome.status = resp.status().as_u16();
                    settle_now(&state, outcome, key_slot.take());
                    return (resp, tried);
                }
                if no == NoAccount::NoneForModel {
                    // A configuration problem: retrying cannot help, so never a 503/529.
                    outcome.status = 404;
                    outcome.error_kind = Some("model_not_served".into());
                    settle_now(&state, outcome, key_slot.take());
                    return (
                        reply::error(
                            endpoint.dialect,
                            404,
                            None,
                            &format!(
                                "model `{}` is not served by any account this key can use on {}",
                                req.model, endpoint.name
                            ),
                        ),
                        tried,
                    );
                }
                outcome.status = 503;
                outcome.error_kind = Some("no_available_account".into());
                settle_now(&state, outcome, key_slot.take());
                return (
                    reply::error(
                        endpoint.dialect,
                        503,
                        None,
                        &format!("no available account for model `{}`: {no}", req.model),
                    ),
                    tried,
                );
            }
        };
        let Some(account) = snap.accounts_by_id.get(&choice.account_id).cloned() else {
            exclude.push(choice.account_id);
            continue;
        };
        let Some(account_slot) = state
            .account_slots
            .try_acquire(account.id, account.max_concurrency)
        else {
            exclude.push(account.id);
            continue;
        };
        if pinned.is_none()
            && sticky.is_some_and(|s| s != account.id)
            && let Some(s) = &req.session
        {
            state.sticky.unbind(s.as_str());
        }

        // Forward.
        let http = match state.clients.get(account.proxy_url.as_deref()) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(account = %account.name, error = %e, "account proxy unusable");
                exclude.push(account.id);
                continue;
            }
        };
        let oauth = switchyard_upstream::oauth_client_for(&account, &state.hosts);
        let bearer = match &oauth {
            Some(o) => match state
                .tokens
                .access_token(&account, &http, o, None, Utc::now())
                .await
            {
                Ok(t) => Some(t),
                Err(e) => {
                    token_failed(&state, &account, &e);
                    exclude.push(account.id);
                    continue;
                }
            },
            None => None,
        };
        // A Google-login account serves through its Code Assist project (discovered once).
        let project = match (&bearer, account.kind, endpoint.dialect) {
            (Some(token), AccountKind::Gemini, Dialect::Gemini) => {
                // Discovery may poll onboarding: never longer than a first byte may take.
                let found = tokio::time::timeout(
                    first_byte_timeout,
                    state
                        .projects
                        .project_for(&account, &http, &state.hosts, token),
                )
                .await;
                match found {
                    Ok(Ok(p)) => Some(p),
                    Err(_) => {
                        tracing::warn!(account = %account.name, "Code Assist project discovery timed out");
                        exclude.push(account.id);
                        continue;
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(account = %account.name, error = %e, "no Code Assist project");
                        if e.is_permanent() {
                            state.set_account_state(
                                account.id,
                                AccountState {
                                    status: AccountStatus::Error,
                                    reason: Some(format!("Code Assist project: {e}")),
                                    until: None,
                                    consecutive_errors: account.consecutive_errors + 1,
                                },
                            );
                        }
                        exclude.push(account.id);
                        continue;
                    }
                }
            }
            _ => None,
        };
        let prepared = match prepare(
            &account,
            &choice.upstream_model,
            bearer.as_ref(),
            project.as_deref(),
        ) {
            Ok(p) => p,
            Err(PrepareError::Account(e)) => {
                tracing::error!(account = %account.name, error = %e, "cannot build upstream request");
                exclude.push(account.id);
                continue;
            }
            Err(PrepareError::Refuse(resp)) => {
                confirm(&state, suspect.take());
                outcome.account_id = None;
                outcome.status = resp.status().as_u16();
                outcome.error_kind = Some("not_convertible".into());
                settle_now(&state, outcome, key_slot.take());
                return (resp, tried);
            }
        };
        outcome.attempts += 1;
        tried = outcome.attempts;
        outcome.account_id = Some(account.id);
        outcome.upstream_model = Some(choice.upstream_model.clone());
        if outcome.attempts > 1 {
            metrics::failover(endpoint.dialect.as_str());
        }
        let collect_stream = prepared.collect_stream;
        let reshape = prepared.reshape;
        let conversion = prepared.convert;
        let sent_at = Instant::now();
        let sent = tokio::time::timeout(
            first_byte_timeout,
            http.request(prepared.method, &prepared.url)
                .headers(prepared.headers)
                .body(prepared.body)
                .send(),
        )
        .await;

        // Respond.
        let resp = match sent {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                outcome.upstream_time += sent_at.elapsed();
                if let Some(cause) = classify::local_resource_error(&e) {
                    // Not the account's fault, and the next account would fail the same way.
                    tracing::error!(account = %account.name, error = %cause, "relay out of local resources; no account cooled");
                    metrics::upstream_attempt(account.kind.as_str(), Failure::Local.kind());
                    confirm(&state, suspect.take());
                    outcome.status = 503;
                    outcome.error_kind = Some(Failure::Local.kind().into());
                    settle_now(&state, outcome, key_slot.take());
                    let message =
                        format!("the relay is out of local resources ({cause}); retry shortly");
                    return (reply::error(endpoint.dialect, 503, None, &message), tried);
                }
                let failure = if e.is_timeout() {
                    Failure::FirstByteTimeout
                } else if e.is_connect() && account.proxy_url.is_some() {
                    Failure::Proxy
                } else {
                    Failure::Connect
                };
                tracing::warn!(account = %account.name, error = %e.without_url(), "upstream request failed");
                confirm(&state, suspect.take());
                apply(
                    &state,
                    &account,
                    classify::transport(failure, Utc::now(), &cooldowns(&state)),
                );
                outcome.error_kind = Some(failure.kind().into());
                metrics::upstream_attempt(account.kind.as_str(), failure.kind());
                exclude.push(account.id);
                continue;
            }
            Err(_) => {
                outcome.upstream_time += sent_at.elapsed();
                let failure = Failure::FirstByteTimeout;
                tracing::warn!(account = %account.name, "upstream first-byte timeout");
                confirm(&state, suspect.take());
                apply(
                    &state,
                    &account,
                    classify::transport(failure, Utc::now(), &cooldowns(&state)),
                );
                outcome.error_kind = Some(failure.kind().into());
                metrics::upstream_attempt(account.kind.as_str(), failure.kind());
                exclude.push(account.id);
                continue;
            }
        };
        let status = resp.status().as_u16();
        state.record_quota_headers(&account, resp.headers());
        let answer = if (200..300).contains(&status) {
            // A non-streaming answer is complete before its first byte anyway: read it whole,
            // so a body that breaks off is a failed attempt that fails over, not a truncated 200.
            let upstream = if let Some(why) = unreadable_encoding(resp.headers()) {
                Err(why)
            } else if collect_stream || req.stream || is_stream_response(resp.headers()) {
                Ok(Upstream::streaming(resp))
            } else {
                Upstream::read_whole(resp, idle).await
            };
            match upstream {
                Ok(upstream) => {
                    confirm(&state, suspect.take());
                    metrics::upstream_attempt(account.kind.as_str(), "ok");
                    if let Some(s) = &req.session {
                        state.sticky.bind(s.as_str(), account.id, ttl);
                    }
                    outcome.status = status;
                    outcome.error_kind = None;
                    let held = Held {
                        key_slot: key_slot.take(),
                        account_slot: Some(account_slot),
                    };
                    if collect_stream {
                        let Upstream { response, .. } = upstream;
                        return (
                            collect(&state, response, outcome, sent_at, idle, ttl, held).await,
                            tried,
                        );
                    }
                    let opts = BodyOptions {
                        idle,
                        ttl,
                        strip_chat_usage: req.strip_chat_usage,
                        reshape,
                        conversion,
                    };
                    return (
                        passthrough(&state, endpoint, upstream, outcome, sent_at, opts, held),
                        tried,
                    );
                }
                Err(broken) => {
                    tracing::warn!(account = %account.name, why = broken, "upstream answer broke off before it was complete");
                    Err(broken)
                }
            }
        } else {
            Ok(resp)
        };
        let (status, headers, body, mut classified) = match answer {
            Err(broken) => {
                outcome.upstream_time += sent_at.elapsed();
                let message =
                    format!("upstream answer broke off before it was complete ({broken})");
                let c = classify::transport(Failure::BrokenBody, Utc::now(), &cooldowns(&state));
                let body = Bytes::from(switchyard_protocol::error_body(
                    endpoint.dialect,
                    502,
                    &message,
                ));
                (502, reqwest::header::HeaderMap::new(), body, c)
            }
            Ok(resp) => {
                let headers = resp.headers().clone();
                let body = read_capped(resp, ERROR_BODY_CAP).await;
                outcome.upstream_time += sent_at.elapsed();
                let c = classify::response(
                    status,
                    &headers,
                    &body,
                    oauth.is_some(),
                    Utc::now(),
                    &cooldowns(&state),
                );
                (status, headers, body, c)
            }
        };
        // A project that no longer answers is discovered again on the next request.
        if account.kind == AccountKind::Gemini
            && matches!(status, 403 | 404)
            && String::from_utf8_lossy(&body).contains("project")
        {
            state.projects.forget(account.id);
        }
        // Google says when to retry in the body (RetryInfo), not in a header.
        if matches!(reshape, Reshape::Gemini { .. })
            && let StateChange::Cool { until, .. } = &mut classified.state
            && let Some(delay) = switchyard_upstream::gemini::retry_delay(&body)
        {
            *until = Utc::now() + switchyard_core::time::seconds(delay.num_seconds().max(1));
        }
        metrics::upstream_attempt(account.kind.as_str(), classified.failure.kind());
        tracing::warn!(account = %account.name, status, failure = classified.failure.kind(), "upstream refused request");
        outcome.status = status;
        outcome.error_kind = Some(classified.failure.kind().into());
        // A rejected account credential is Switchyard's problem, not the client's: passed on as
        // 401/403 it would read as "your key is invalid" (Claude Code then asks to log in).
        let upstream_reply = match classified.failure {
            Failure::Unauthorized | Failure::Forbidden | Failure::OrganizationDisabled => {
                reply::error(
                    endpoint.dialect,
                    502,
                    None,
                    "an upstream account's credentials were rejected and no other account could serve the request",
                )
            }
            _ if reshape == Reshape::Bedrock => {
                let mut r = Response::new(Body::from(switchyard_upstream::bedrock::error_body(
                    status, &headers, &body,
                )));
                *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                r
            }
            _ => match &conversion {
                Some(c) => c.error(status, &body),
                None => upstream_error_response(status, &headers, body),
            },
        };
        if classified.state == StateChange::RefreshAndRetry {
            if !refreshed_for.contains(&account.id) {
                refreshed_for.push(account.id);
                if let (Some(o), Some(bad)) = (&oauth, &bearer) {
                    match state
                        .tokens
                        .access_token(&account, &http, o, Some(bad), Utc::now())
                        .await
                    {
                        Ok(_) => {
                            // Try the same account once more with the new token.
                            drop(account_slot);
                            outcome.attempts -= 1;
                            tried = outcome.attempts;
                            exclude.retain(|id| *id != account.id);
                            continue;
                        }
                        Err(e) => token_failed(&state, &account, &e),
                    }
                }
            } else {
                apply(
                    &state,
                    &account,
                    Classified {
                        state: StateChange::Error {
                            reason: "credentials rejected (401) after refresh".into(),
                        },
                        ..classified.clone()
                    },
                );
            }
            exclude.push(account.id);
            last_failure = Some(upstream_reply);
            continue;
        }
        if !classified.fail_over {
            confirm(&state, suspect.take());
            settle_now(&state, outcome, key_slot.take());
            return (upstream_reply, tried);
        }
        if classified.failure.may_be_the_request() {
            if let Some((first, _)) =
                suspect.take_if(|(_, earlier)| earlier.failure == classified.failure)
            {
                // Two accounts failed the same way: the request is at fault. Stop here and
                // cool neither.
                tracing::warn!(first = %first.name, second = %account.name, failure = classified.failure.kind(), "same failure on two accounts; treated as the request's fault");
                outcome.error_kind = Some(format!("request_fault:{}", classified.failure.kind()));
                settle_now(&state, outcome, key_slot.take());
                return (upstream_reply, tried);
            }
            confirm(&state, suspect.replace((account.clone(), classified)));
        } else {
            confirm(&state, suspect.take());
            apply(&state, &account, classified);
        }
        exclude.push(account.id);
        last_failure = Some(upstream_reply);
    }
    confirm(&state, suspect.take());
    let resp = last_failure.unwrap_or_else(|| {
        reply::error(
            endpoint.dialect,
            503,
            None,
            "no available account: every attempt failed",
        )
    });
    outcome.status = resp.status().as_u16();
    settle_now(&state, outcome, key_slot.take());
    (resp, tried)
}

/// Cools an account whose failure was held back as possibly the request's own, now that
/// another account answered otherwise.
fn confirm(state: &Arc<AppState>, suspect: Option<(Arc<Account>, Classified)>) {
    if let Some((account, classified)) = suspect {
        apply(state, &account, classified);
    }
}

/// A `content-encoding` no client could decode (Switchyard asks for `identity`; the common
/// compressions are passed on for the client to undo).
fn unreadable_encoding(headers: &reqwest::header::HeaderMap) -> Option<&'static str> {
    let encoding = headers.get(header::CONTENT_ENCODING)?.to_str().ok()?;
    let known = encoding.split(',').all(|e| {
        matches!(
            e.trim().to_ascii_lowercase().as_str(),
            "identity" | "gzip" | "x-gzip" | "deflate" | "br" | "zstd" | ""
        )
    });
    (!known).then_some("unknown content-encoding")
}

/// Whether the upstream answers with a stream (SSE or Bedrock's event-stream).
fn is_stream_response(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.starts_with("text/event-stream")
                || ct.starts_with(switchyard_upstream::bedrock::EVENTSTREAM_CONTENT_TYPE)
        })
}

/// Largest non-streaming body read whole before answering; a longer one is streamed through
/// (and a break then aborts the client's transfer).
const WHOLE_BODY_CAP: usize = 16 * 1024 * 1024;

/// A successful upstream answer, ready to hand to the client.
struct Upstream {
    response: reqwest::Response,
    /// The body when it was read whole (then `response`'s own body is spent).
    whole: Option<Bytes>,
    /// A prefix already read from a body too long to read whole.
    prefix: Option<Bytes>,
}

impl Upstream {
    fn streaming(response: reqwest::Response) -> Self {
        Upstream {
            response,
            whole: None,
            prefix: None,
        }
    }

    /// Reads a non-streaming body to its end (each chunk within `idle`). A break, a stall or a
    /// JSON body that does not parse is an error naming why.
    async fn read_whole(
        mut response: reqwest::Response,
        idle: Duration,
    ) -> Result<Upstream, &'static str> {
        if response
            .content_length()
            .is_some_and(|n| n as usize > WHOLE_BODY_CAP)
        {
            return Ok(Upstream::streaming(response));
        }
        let mut buf = Vec::new();
        loop {
            match tokio::time::timeout(idle, response.chunk()).await {
                Ok(Ok(Some(chunk))) => {
                    buf.extend_from_slice(&chunk);
                    if buf.len() > WHOLE_BODY_CAP {
                        return Ok(Upstream {
                            response,
                            whole: None,
                            prefix: Some(Bytes::from(buf)),
                        });
                    }
                }
                Ok(Ok(None)) => break,
                Ok(Err(_)) => return Err("connection broke mid-body"),
                Err(_) => return Err("idle timeout mid-body"),
            }
        }
        let json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json"));
        if json && serde_json::from_slice::<serde::de::IgnoredAny>(&buf).is_err() {
            return Err("JSON body does not parse");
        }
        Ok(Upstream {
            response,
            whole: Some(Bytes::from(buf)),
            prefix: None,
        })
    }

    /// The status, headers and the body as the client will receive it.
    fn into_parts(self) -> (u16, reqwest::header::HeaderMap, reqwest::Body) {
        let Upstream {
            response,
            whole,
            prefix,
        } = self;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match (whole, prefix) {
            (Some(whole), _) => reqwest::Body::from(whole),
            (None, Some(prefix)) => {
                use futures_util::StreamExt;
                let first = futures_util::stream::once(async move { Ok(prefix) });
                reqwest::Body::wrap_stream(first.chain(response.bytes_stream()))
            }
            (None, None) => {
                let upstream: axum::http::Response<reqwest::Body> = response.into();
                upstream.into_body()
            }
        };
        (status, headers, body)
    }
}

fn settle_now(state: &Arc<AppState>, outcome: Outcome, key_slot: Option<KeySlots>) {
    settle(
        state,
        outcome,
        None,
        Held {
            key_slot,
            account_slot: None,
        },
    );
}

/// How the passthrough body behaves.
struct BodyOptions {
    idle: Duration,
    /// Lifetime of the response-id binding (Responses continuations).
    ttl: Duration,
    strip_chat_usage: bool,
    reshape: Reshape,
    /// The answer is converted to the client's dialect (a converted account).
    conversion: Option<Conversion>,
}

/// Builds the client response around the upstream body; settlement runs when it ends.
fn passthrough(
    state: &Arc<AppState>,
    endpoint: &Endpoint,
    upstream: Upstream,
    mut outcome: Outcome,
    sent_at: Instant,
    opts: BodyOptions,
    held: Held,
) -> Response<Body> {
    let BodyOptions {
        idle,
        ttl,
        strip_chat_usage,
        reshape,
        conversion,
    } = opts;
    let (status, upstream_headers, upstream_body) = upstream.into_parts();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let content_type = upstream_headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let bedrock_stream = reshape == Reshape::Bedrock
        && content_type.starts_with(switchyard_upstream::bedrock::EVENTSTREAM_CONTENT_TYPE);
    // Whether the client receives SSE (which decides its end-of-stream signal).
    let is_sse = match reshape {
        Reshape::Gemini { client_sse, .. } => client_sse,
        _ => content_type.starts_with("text/event-stream") || bedrock_stream,
    };
    let framing = match reshape {
        Reshape::Gemini { .. } if is_sse => ClientFraming::Sse(Dialect::Gemini),
        Reshape::Gemini { .. } if outcome.stream => ClientFraming::GeminiArray,
        _ if is_sse => ClientFraming::Sse(endpoint.dialect),
        _ => ClientFraming::Plain,
    };
    let tap_dialect = conversion.as_ref().map_or(endpoint.dialect, |c| c.upstream);
    let mut headers = if reshape == Reshape::Bedrock {
        switchyard_upstream::bedrock::response_headers(&upstream_headers, bedrock_stream)
    } else {
        response_forwardable(&upstream_headers)
    };
    if let Reshape::Gemini { shape, .. } = reshape
        && shape != ResponseShape::Passthrough
    {
        // The body is re-framed: its length, encoding and type are the client's, not the
        // upstream's.
        headers.remove(header::CONTENT_LENGTH);
        headers.remove(header::CONTENT_ENCODING);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(if is_sse {
                "text/event-stream"
            } else {
                "application/json; charset=UTF-8"
            }),
        );
    }
    if conversion.is_some() {
        // The body is rewritten: its length and encoding are no longer the upstream's.
        headers.remove(header::CONTENT_LENGTH);
        headers.remove(header::CONTENT_ENCODING);
    }
    if is_sse {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    }
    // The tap reads the upstream's bytes, so it follows the upstream's framing.
    let tap = match reshape {
        Reshape::Gemini { framing, .. } => match framing {
            UpstreamFraming::Sse => TapMode::sse(Dialect::Gemini),
            UpstreamFraming::JsonArray => TapMode::gemini_array(),
            UpstreamFraming::Json => TapMode::json(Dialect::Gemini),
        },
        _ if is_sse => TapMode::sse(tap_dialect),
        _ => TapMode::json(tap_dialect),
    };
    headers.insert("x-switchyard-request-id", header_value(&outcome.request_id));
    let mut stopping = state.shutdown.subscribe();
    let state = state.clone();
    let remember_response = endpoint.dialect == Dialect::OpenaiResponses;
    let mut body = PassthroughBody::new(upstream_body, tap, idle, framing, move |finished| {
        outcome.upstream_time += sent_at.elapsed();
        if remember_response
            && let (Some(id), Some(account)) = (&finished.response_id, outcome.account_id)
        {
            let binding = response_binding(outcome.api_key_id, id);
            state.sticky.bind(binding.as_str(), account, ttl);
        }
        settle(&state, outcome, Some(finished), held);
    });
    if let Some(c) = &conversion {
        // The tap reads the upstream's bytes: usage is what the upstream reported.
        let transform = if is_sse { c.stream() } else { c.whole() };
        body = body.with_transform(transform, switchyard_upstream::passthrough::TapSide::Before);
    } else if strip_chat_usage && is_sse {
        body = body.strip_chat_usage();
    }
    if let Reshape::Gemini { shape, .. } = reshape
        && let Some(transform) = shape.transform()
    {
        // The Gemini tap understands the wrapped Code Assist shape: it reads the upstream's.
        body = body.with_transform(transform, switchyard_upstream::passthrough::TapSide::Before);
    }
    if bedrock_stream {
        // The tap reads the Anthropic SSE the transform produces, not the binary frames.
        body = body.with_transform(
            Box::new(switchyard_protocol::BedrockToAnthropic::new()),
            switchyard_upstream::passthrough::TapSide::After,
        );
    }
    body = body.stop_on(async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    });
    let mut out = Response::new(Body::new(body));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

/// Reads a whole Responses stream (bounded) and answers with the final `response` object,
/// for a non-streaming client served by a stream-only upstream.
async fn collect(
    state: &Arc<AppState>,
    resp: reqwest::Response,
    mut outcome: Outcome,
    sent_at: Instant,
    idle: Duration,
    ttl: Duration,
    held: Held,
) -> Response<Body> {
    const CAP: usize = 64 * 1024 * 1024;
    let mut tap = switchyard_protocol::StreamTap::new(Dialect::OpenaiResponses);
    let mut decoder = switchyard_protocol::SseDecoder::new();
    let mut last: Option<serde_json::Value> = None;
    let mut first_byte_at = None;
    let mut bytes = 0u64;
    let mut broken = None;
    let mut resp = resp;
    loop {
        match tokio::time::timeout(idle, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                first_byte_at.get_or_insert_with(Instant::now);
                bytes += chunk.len() as u64;
                if bytes as usize > CAP {
                    broken = Some("response_too_large");
                    break;
                }
                tap.feed(&chunk);
                decoder.feed(&chunk, &mut |ev: &switchyard_protocol::SseEvent<'_>| {
                    if matches!(
                        ev.event,
                        "response.completed" | "response.incomplete" | "response.failed"
                    ) && let Ok(v) = serde_json::from_str::<serde_json::Value>(ev.data)
                    {
                        last = Some(v);
                    }
                });
            }
            Ok(Ok(None)) => break,
            Ok(Err(_)) => {
                broken = Some("upstream_stream_broken");
                break;
            }
            Err(_) => {
                broken = Some("upstream_idle_timeout");
                break;
            }
        }
    }
    tap.finish();
    let finished = switchyard_upstream::Finished {
        usage: tap.usage(),
        model: tap.model().map(str::to_string),
        response_id: tap.response_id().map(str::to_string),
        completed: tap.completed(),
        error_kind: broken.map(str::to_string),
        first_byte_at,
        bytes,
        events: tap.events(),
    };
    if let (Some(id), Some(account)) = (&finished.response_id, outcome.account_id) {
        let binding = response_binding(outcome.api_key_id, id);
        state.sticky.bind(binding.as_str(), account, ttl);
    }
    let failed = last
        .as_ref()
        .and_then(|v| v.get("type"))
        .and_then(|t| t.as_str())
        == Some("response.failed");
    let reply = match last.and_then(|mut v| v.get_mut("response").map(serde_json::Value::take)) {
        Some(response) if !failed => {
            let mut out = Response::new(Body::from(response.to_string()));
            out.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            out
        }
        Some(response) => {
            outcome.status = 502;
            let message = response
                .pointer("/error/message")
                .and_then(|m| m.as_str())
                .unwrap_or("upstream response failed")
                .to_string();
            reply::error(
                Dialect::OpenaiResponses,
                502,
                Some("server_error"),
                &message,
            )
        }
        None => {
            outcome.status = 502;
            reply::error(
                Dialect::OpenaiResponses,
                502,
                Some("server_error"),
                "upstream stream ended without a final response",
            )
        }
    };
    outcome.upstream_time += sent_at.elapsed();
    settle(state, outcome, Some(finished), held);
    reply
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("-"))
}

fn upstream_error_response(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut h = response_forwardable(headers);
    h.remove(header::CONTENT_ENCODING);
    *out.headers_mut() = h;
    out
}

async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Bytes {
    let mut buf = Vec::new();
    let read = async {
        while let Ok(Some(chunk)) = resp.chunk().await {
            let room = cap.saturating_sub(buf.len());
            buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if buf.len() >= cap {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
    Bytes::from(buf)
}

/// Applies a classification's state change to the account.
fn apply(state: &Arc<AppState>, account: &Account, c: Classified) {
    let errors = account.consecutive_errors.saturating_add(1);
    let next = match c.state {
        StateChange::None | StateChange::RefreshAndRetry => return,
        StateChange::Cool { until, reason } => AccountState {
            status: AccountStatus::Cooling,
            reason: Some(reason),
            until: Some(until),
            consecutive_errors: errors,
        },
        StateChange::Error { reason } => AccountState {
            status: AccountStatus::Error,
            reason: Some(reason),
            until: None,
            consecutive_errors: errors,
        },
    };
    state.set_account_state(account.id, next);
}

/// A token that cannot be obtained: a refresh token the provider rejected (or none at all)
/// needs an operator; anything else (network, timeout, 5xx, a failed save) cools the account
/// briefly, because it heals by itself.
fn token_failed(state: &Arc<AppState>, account: &Account, error: &TokenError) {
    tracing::warn!(account = %account.name, error = %error, "oauth token unavailable");
    let permanent = matches!(
        error,
        TokenError::NoAccessToken
            | TokenError::NoRefreshToken
            | TokenError::Rejected {
                status: 400 | 401 | 403,
                ..
            }
    );
    let errors = account.consecutive_errors.saturating_add(1);
    let next = if permanent {
        AccountState {
            status: AccountStatus::Error,
            reason: Some(format!("token refresh failed: {error}")),
            until: None,
            consecutive_errors: errors,
        }
    } else {
        AccountState {
            status: AccountStatus::Cooling,
            reason: Some(format!("token refresh failed: {error}")),
            until: Some(Utc::now() + cooldowns(state).server_error),
            consecutive_errors: errors,
        }
    };
    state.set_account_state(account.id, next);
}
