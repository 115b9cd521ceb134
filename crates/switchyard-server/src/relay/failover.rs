//! Phases 5–7 with failover: route ([`super::route`]) → forward ([`super::forward`]) →
//! respond ([`super::respond`]), again on another account until one answers or the attempts
//! or the failover budget run out. Nothing reaches the client before the first byte of a
//! good answer, so a failover never splices two answers.

use axum::body::Body;
use axum::http::{HeaderValue, Response};
use bytes::Bytes;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use switchyard_core::account::Account;
use switchyard_core::scheduler::NoAccount;
use switchyard_upstream::adapter::{self, AdapterError};
use switchyard_upstream::classify::{self, Classified, Failure, StateChange};

use super::admit::KeySlots;
use super::forward::{self, NoAnswer, Unsent};
use super::request::{Endpoint, Outcome, RelayRequest};
use super::respond::{self, BodyOptions, ERROR_BODY_CAP, Upstream};
use super::route::Router;
use super::settle::{Held, settle};
use super::{admit, reply};
use crate::metrics;
use crate::state::AppState;

/// Runs the request's attempts, and hands settlement to the response body (or settles at once
/// when no upstream answered successfully).
pub async fn relay(
    state: Arc<AppState>,
    endpoint: &'static Endpoint,
    req: RelayRequest,
) -> Response<Body> {
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
    admit::mark_used(&state, &req.key);
    let (mut resp, tried) = attempts(&state, endpoint, req).await;
    guard.disarm();
    resp.headers_mut()
        .insert("x-switchyard-attempts", HeaderValue::from(tried));
    resp
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
            settle_now(&self.state, outcome, None);
        }
    }
}

/// The request's limits, read once from the settings when it starts.
struct Limits {
    max_attempts: u32,
    budget: Duration,
    ttl: Duration,
    first_byte_timeout: Duration,
    idle: Duration,
}

impl Limits {
    fn of(state: &AppState, stream: bool) -> Self {
        let s = &state.snapshot.load().settings;
        // A stream's headers come at once; a non-streaming response's only when it is complete.
        let first_byte = s.first_byte_timeout_seconds;
        let first_byte_timeout = if stream {
            first_byte.max(1)
        } else {
            s.non_stream_timeout_seconds.max(first_byte).max(1)
        };
        Limits {
            // Distinct accounts tried on account faults, bounded by a count and by the time
            // spent before the first byte.
            max_attempts: s.max_attempts.clamp(1, 16) as u32,
            budget: Duration::from_secs(s.failover_budget_seconds.max(1)),
            ttl: Duration::from_secs(s.sticky_session_ttl_seconds.max(1)),
            first_byte_timeout: Duration::from_secs(first_byte_timeout),
            idle: Duration::from_secs(state.config.timeouts.idle_seconds.max(1)),
        }
    }
}

/// A failure that may be the request's own (see `Failure::may_be_the_request`): its account is
/// cooled only once another account has shown the request can succeed or fail otherwise.
#[derive(Default)]
struct Suspect(Option<(Arc<Account>, Classified)>);

impl Suspect {
    /// Another account answered otherwise: the held-back failure was the account's after all.
    fn confirm(&mut self, state: &Arc<AppState>) {
        if let Some((account, classified)) = self.0.take() {
            forward::apply(state, &account, &classified);
        }
    }
}

async fn attempts(
    state: &Arc<AppState>,
    endpoint: &'static Endpoint,
    mut req: RelayRequest,
) -> (Response<Body>, u32) {
    let mut key_slot = req.key_slot.take();
    let limits = Limits::of(state, req.client.stream);
    let settings = Arc::clone(&state.snapshot.load().settings);
    let mut router = Router::new(state, endpoint, &req, &settings, limits.ttl);
    let mut outcome = Outcome::of(&req, endpoint);
    let mut refreshed_for = Vec::new();
    let mut last_failure: Option<Response<Body>> = None;
    let mut unmapped: Option<AdapterError> = None;
    let mut suspect = Suspect::default();
    let mut tried = 0u32;

    while outcome.attempts < limits.max_attempts
        && (outcome.attempts == 0 || req.started.elapsed() < limits.budget)
    {
        // Route.
        let picked = match router.pick_next().await {
            Ok(p) => p,
            Err(no) => {
                suspect.confirm(state);
                let resp = match (last_failure.take(), unmapped.take()) {
                    (Some(resp), _) => resp,
                    (None, Some(e)) => unmappable(endpoint, &mut outcome, &e),
                    (None, None) => no_account(endpoint, &req, &mut outcome, no),
                };
                outcome.status = resp.status().as_u16();
                settle_now(state, outcome, key_slot.take());
                return (resp, tried);
            }
        };

        // Forward.
        let account_id = picked.account.id;
        let (attempt, prepared) = match forward::prepare(
            state,
            &req,
            picked.account,
            picked.upstream_model,
            limits.first_byte_timeout,
        )
        .await
        {
            Ok(a) => a,
            Err(Unsent::Skip) => {
                router.exclude.push(account_id);
                continue;
            }
            Err(Unsent::Unmapped(e)) => {
                unmapped = Some(e);
                router.exclude.push(account_id);
                continue;
            }
            Err(Unsent::Refuse(e)) => {
                suspect.confirm(state);
                let resp = match e {
                    AdapterError::Refuse { status, body, .. } => {
                        respond::json_response(status, body)
                    }
                    other => reply::error(endpoint.dialect(), 400, None, &other.to_string()),
                };
                outcome.status = resp.status().as_u16();
                outcome.error_kind = Some("not_convertible".into());
                settle_now(state, outcome, key_slot.take());
                return (resp, tried);
            }
        };
        let account = attempt.account.clone();
        // Said once per request, for the attempt that is sent.
        outcome.dropped_fields = prepared
            .answer
            .convert
            .as_ref()
            .filter(|c| !c.dropped.is_empty())
            .map(|c| c.dropped.join("; "));
        outcome.attempts += 1;
        tried = outcome.attempts;
        outcome.account_id = Some(account.id);
        outcome.upstream_model = Some(attempt.upstream_model.clone());
        if outcome.attempts > 1 {
            metrics::failover(endpoint.dialect().as_str());
        }
        let sent = attempt.send(prepared, limits.first_byte_timeout).await;

        // Respond.
        let (resp, answer, sent_at) = match sent {
            Ok(r) => r,
            Err((NoAnswer::Local(cause), sent_at)) => {
                outcome.upstream_time += sent_at.elapsed();
                metrics::upstream_attempt(account.kind.as_str(), Failure::Local.kind());
                suspect.confirm(state);
                outcome.status = 503;
                outcome.error_kind = Some(Failure::Local.kind().into());
                settle_now(state, outcome, key_slot.take());
                let message =
                    format!("the relay is out of local resources ({cause}); retry shortly");
                return (reply::error(endpoint.dialect(), 503, None, &message), tried);
            }
            Err((NoAnswer::Transport(failure), sent_at)) => {
                outcome.upstream_time += sent_at.elapsed();
                suspect.confirm(state);
                forward::transport_failed(state, &account, failure);
                outcome.error_kind = Some(failure.kind().into());
                metrics::upstream_attempt(account.kind.as_str(), failure.kind());
                router.exclude.push(account.id);
                continue;
            }
        };
        let status = resp.status().as_u16();
        state.record_quota_headers(&account, resp.headers());
        let whole = if (200..300).contains(&status) {
            // A non-streaming answer is complete before its first byte anyway: read it whole,
            // so a body that breaks off is a failed attempt that fails over, not a truncated 200.
            let upstream = if let Some(why) = respond::unreadable_encoding(resp.headers()) {
                Err(why)
            } else if answer.collect_stream
                || req.client.stream
                || respond::is_stream_response(resp.headers())
            {
                Ok(Upstream::streaming(resp))
            } else {
                Upstream::read_whole(resp, limits.idle).await
            };
            match upstream {
                Ok(upstream) => {
                    suspect.confirm(state);
                    metrics::upstream_attempt(account.kind.as_str(), "ok");
                    if let Some(s) = &req.session {
                        state.coord.sticky_bind(s.as_str(), account.id, limits.ttl);
                    }
                    outcome.status = status;
                    outcome.error_kind = None;
                    let held = Held {
                        key_slot: key_slot.take(),
                        account_slot: Some(picked.slot),
                    };
                    let collect_stream = answer.collect_stream;
                    let opts = BodyOptions {
                        idle: limits.idle,
                        ttl: limits.ttl,
                        answer,
                    };
                    let resp = if collect_stream {
                        respond::collect(state, upstream.response, outcome, sent_at, opts, held)
                            .await
                    } else {
                        respond::passthrough(
                            state, endpoint, upstream, outcome, sent_at, opts, held,
                        )
                    };
                    return (resp, tried);
                }
                Err(broken) => {
                    tracing::warn!(account = %account.name, why = broken, "upstream answer broke off before it was complete");
                    Err(broken)
                }
            }
        } else {
            Ok(resp)
        };
        let (status, headers, body, mut classified) = match whole {
            Err(broken) => {
                outcome.upstream_time += sent_at.elapsed();
                let message =
                    format!("upstream answer broke off before it was complete ({broken})");
                let c = classify::transport(
                    Failure::BrokenBody,
                    Utc::now(),
                    &forward::cooldowns(state),
                );
                let body = Bytes::from(switchyard_protocol::error_body(
                    endpoint.dialect(),
                    502,
                    &message,
                ));
                (502, reqwest::header::HeaderMap::new(), body, c)
            }
            Ok(resp) => {
                let headers = resp.headers().clone();
                let body = respond::read_capped(resp, ERROR_BODY_CAP).await;
                outcome.upstream_time += sent_at.elapsed();
                let c = classify::response(
                    status,
                    &headers,
                    &body,
                    attempt.oauth.is_some(),
                    Utc::now(),
                    &forward::cooldowns(state),
                );
                (status, headers, body, c)
            }
        };
        if adapter::on_refusal(account.kind, &answer, status, &body, &mut classified) {
            state.projects.forget(account.id);
        }
        metrics::upstream_attempt(account.kind.as_str(), classified.failure.kind());
        tracing::warn!(account = %account.name, status, failure = classified.failure.kind(), "upstream refused request");
        outcome.status = status;
        outcome.error_kind = Some(classified.failure.kind().into());
        let upstream_reply = respond::refusal(
            endpoint,
            &answer,
            classified.failure,
            status,
            &headers,
            body,
        );
        if classified.state == StateChange::RefreshAndRetry {
            if !refreshed_for.contains(&account.id) {
                refreshed_for.push(account.id);
                if let (Some(o), Some(bad)) = (&attempt.oauth, &attempt.bearer) {
                    match state
                        .tokens
                        .access_token(&account, &attempt.http, o, Some(bad), Utc::now())
                        .await
                    {
                        Ok(_) => {
                            // Try the same account once more with the new token.
                            drop(picked.slot);
                            outcome.attempts -= 1;
                            tried = outcome.attempts;
                            router.exclude.retain(|id| *id != account.id);
                            continue;
                        }
                        Err(e) => forward::token_failed(state, &account, &e),
                    }
                }
            } else {
                let failed = Classified {
                    state: StateChange::Error {
                        reason: "credentials rejected (401) after refresh".into(),
                    },
                    ..classified.clone()
                };
                forward::apply(state, &account, &failed);
            }
            router.exclude.push(account.id);
            last_failure = Some(upstream_reply);
            continue;
        }
        if !classified.fail_over {
            suspect.confirm(state);
            settle_now(state, outcome, key_slot.take());
            return (upstream_reply, tried);
        }
        if classified.failure.may_be_the_request() {
            if let Some((first, _)) = suspect
                .0
                .take_if(|(_, earlier)| earlier.failure == classified.failure)
            {
                // Two accounts failed the same way: the request is at fault. Stop here and
                // cool neither.
                tracing::warn!(first = %first.name, second = %account.name, failure = classified.failure.kind(), "same failure on two accounts; treated as the request's fault");
                outcome.error_kind = Some(format!("request_fault:{}", classified.failure.kind()));
                settle_now(state, outcome, key_slot.take());
                return (upstream_reply, tried);
            }
            suspect.confirm(state);
            suspect.0 = Some((account.clone(), classified));
        } else {
            suspect.confirm(state);
            forward::apply(state, &account, &classified);
        }
        router.exclude.push(account.id);
        last_failure = Some(upstream_reply);
    }
    suspect.confirm(state);
    let resp = last_failure.unwrap_or_else(|| {
        reply::error(
            endpoint.dialect(),
            503,
            None,
            "no available account: every attempt failed",
        )
    });
    outcome.status = resp.status().as_u16();
    settle_now(state, outcome, key_slot.take());
    (resp, tried)
}

/// No account is left to try and none answered.
fn no_account(
    endpoint: &Endpoint,
    req: &RelayRequest,
    outcome: &mut Outcome,
    no: NoAccount,
) -> Response<Body> {
    if no == NoAccount::NoneForModel {
        // A configuration problem: retrying cannot help, so never a 503/529.
        outcome.error_kind = Some("model_not_served".into());
        let message = format!(
            "model `{}` is not served by any account this key can use on {}",
            req.model(),
            endpoint.name
        );
        return reply::error(endpoint.dialect(), 404, None, &message);
    }
    outcome.error_kind = Some("no_available_account".into());
    let message = format!("no available account for model `{}`: {no}", req.model());
    reply::error(endpoint.dialect(), 503, None, &message)
}

/// Every account that could serve the model lacks an upstream name for it: a configuration
/// problem the operator fixes with a mapping, so a 400 saying which (never a retryable 503).
fn unmappable(endpoint: &Endpoint, outcome: &mut Outcome, e: &AdapterError) -> Response<Body> {
    outcome.error_kind = Some("model_not_mapped".into());
    let message = match e {
        AdapterError::UnmappedModel { model, hint, .. } => {
            format!("model `{model}` has no upstream name on the accounts that serve it: {hint}")
        }
        other => other.to_string(),
    };
    reply::error(endpoint.dialect(), 400, None, &message)
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
