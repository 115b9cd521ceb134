//! Account health checks and recovery.
//!
//! A background loop runs a round every `account_health_check_interval` minutes while
//! `account_health_check_enabled` is on (both read from the live settings snapshot, so changes
//! apply without a restart). A round probes every checked account concurrently, within
//! `account_health_check_concurrency`, each after a small random delay (jitter) and never
//! longer than `account_health_check_timeout_seconds`. Rounds never overlap and never run on
//! the request path.
//!
//! Results: a pass (or a 429 — valid but limited) resets the consecutive error count; a
//! failure adds one; reaching `account_error_threshold` disables the account with reason
//! "health check", which removes it from scheduling at once. Accounts disabled by the health
//! check are re-probed on a back-off and re-enabled when they pass (unless
//! `account_recovery_enabled` is off). Accounts an operator disabled are never touched.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use switchyard_core::Secret;
use switchyard_core::account::{Account, AccountId, AccountKind, AccountStatus};
use switchyard_core::account_event::AccountEvent;
use switchyard_core::settings::Settings;
use switchyard_store::{AccountState, Store};
use switchyard_upstream::probe::{self, ProbeResult, Verdict};
use switchyard_upstream::tokens::TokenManager;
use switchyard_upstream::{ClientPool, UpstreamHosts, oauth_client_for};
use tokio_util::task::TaskTracker;

use crate::quota;
use crate::state::AppState;

/// The reason recorded on accounts the health check disabled (and may re-enable).
pub const REASON: &str = switchyard_core::account::HEALTH_CHECK_REASON;
/// How often the loop looks at the settings.
const TICK: Duration = Duration::from_secs(1);
/// Longest back-off between recovery probes of a disabled account.
const MAX_BACKOFF_MINUTES: i64 = 60;

/// What one check found and did; the JSON shape of `account check --json` and the admin API.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CheckReport {
    pub account_id: AccountId,
    pub account: String,
    pub kind: AccountKind,
    /// `healthy`, `rate_limited`, `unhealthy` or `unsupported`.
    pub result: &'static str,
    pub probe: &'static str,
    pub detail: String,
    pub consecutive_errors: u32,
    pub status: AccountStatus,
    pub status_reason: Option<String>,
    /// `disabled` or `recovered` when this check changed the account's status.
    pub changed: Option<&'static str>,
    pub checked_at: DateTime<Utc>,
    pub next_check_at: Option<DateTime<Utc>>,
}

/// What a check needs; the server and the CLI both build one.
pub struct CheckContext<'a> {
    pub store: &'a dyn Store,
    pub clients: &'a ClientPool,
    pub tokens: &'a TokenManager,
    pub hosts: &'a UpstreamHosts,
    pub settings: &'a Settings,
    /// Where webhook deliveries run, so the caller can wait for them before exiting.
    pub tasks: &'a TaskTracker,
}

/// The outcome of [`check`]: the report, and the account's new state if it changed.
pub struct Decision {
    pub report: CheckReport,
    pub state: Option<AccountState>,
}

/// What the last round did, for the console's health status.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RoundSummary {
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// Accounts probed.
    pub checked: usize,
    /// Probes that found the account `healthy`.
    pub passed: usize,
    /// Probes that found it `unhealthy`.
    pub failed: usize,
}

/// Per-server memory of the loop: when the last round ran, and the recovery back-off.
#[derive(Default)]
pub struct HealthState {
    last_round: Mutex<Option<DateTime<Utc>>>,
    last_summary: Mutex<Option<RoundSummary>>,
    /// Recovery probes so far and when the next is due, per disabled account.
    backoff: Mutex<HashMap<AccountId, (u32, DateTime<Utc>)>>,
}

impl HealthState {
    pub fn last_round(&self) -> Option<DateTime<Utc>> {
        *self
            .last_round
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub fn last_summary(&self) -> Option<RoundSummary> {
        self.last_summary
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Another instance runs the rounds: look again when the next would be due.
    pub fn skipped_round(&self, at: DateTime<Utc>) {
        *self
            .last_round
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(at);
    }

    /// When the next round is due under the current settings.
    pub fn next_round(&self, settings: &Settings) -> Option<DateTime<Utc>> {
        if !settings.account_health_check_enabled {
            return None;
        }
        Some(match self.last_round() {
            Some(last) => last + interval(settings),
            None => Utc::now(),
        })
    }
}

fn interval(settings: &Settings) -> ChronoDuration {
    ChronoDuration::minutes(settings.account_health_check_interval.max(1) as i64)
}

/// Whether the health check may look at this account now (it is checked, and not disabled
/// by an operator).
pub fn eligible(account: &Account) -> bool {
    probe::is_checked(account) && !operator_disabled(account)
}

fn operator_disabled(account: &Account) -> bool {
    account.status == AccountStatus::Disabled && account.status_reason.as_deref() != Some(REASON)
}

/// Probes one account and decides its new state. Records the check result, usage windows,
/// audit entries, log lines and the webhook; the caller applies the returned state.
pub async fn check(ctx: &CheckContext<'_>, account: &Account) -> Decision {
    let now = Utc::now();
    let timeout = Duration::from_secs(ctx.settings.account_health_check_timeout_seconds.max(1));
    let result = run_probe(ctx, account, timeout).await;
    let threshold = ctx.settings.account_error_threshold.max(1) as u32;
    let recovery = ctx.settings.account_recovery_enabled;

    let mut state = AccountState {
        status: account.status,
        reason: account.status_reason.clone(),
        until: account.status_until,
        consecutive_errors: account.consecutive_errors,
    };
    let mut changed: Option<&'static str> = None;
    let passed = matches!(result.verdict, Verdict::Healthy | Verdict::RateLimited);
    match result.verdict {
        Verdict::Unsupported => {}
        _ if passed => {
            state.consecutive_errors = 0;
            let recoverable = match account.status {
                AccountStatus::Disabled => {
                    account.status_reason.as_deref() == Some(REASON) && recovery
                }
                AccountStatus::Error => recovery,
                _ => false,
            };
            if recoverable {
                state.status = AccountStatus::Active;
                state.reason = None;
                state.until = None;
                changed = Some("recovered");
            }
        }
        _ => {
            state.consecutive_errors = account.consecutive_errors.saturating_add(1);
            if state.consecutive_errors >= threshold && account.status != AccountStatus::Disabled {
                state.status = AccountStatus::Disabled;
                state.reason = Some(REASON.into());
                state.until = None;
                changed = Some("disabled");
            }
        }
    }
    if let Some(usage) = &result.usage {
        if let Err(e) = ctx.store.set_account_quota(account.id, usage).await {
            tracing::warn!(account = %account.name, error = %e, "saving usage windows failed");
        }
        if state.status == AccountStatus::Active
            && let Some((until, why)) = quota::pause(account, usage, now)
        {
            state.status = AccountStatus::Cooling;
            state.reason = Some(why);
            state.until = Some(until);
        }
    }
    let next_check_at = if state.status == AccountStatus::Disabled {
        recovery.then(|| now + interval(ctx.settings))
    } else {
        ctx.settings
            .account_health_check_enabled
            .then(|| now + interval(ctx.settings))
    };
    let report = CheckReport {
        account_id: account.id,
        account: account.name.clone(),
        kind: account.kind,
        result: match result.verdict {
            Verdict::Healthy => "healthy",
            Verdict::RateLimited => "rate_limited",
            Verdict::Unhealthy { .. } => "unhealthy",
            Verdict::Unsupported => "unsupported",
        },
        probe: result.probe,
        detail: result.detail.clone(),
        consecutive_errors: state.consecutive_errors,
        status: state.status,
        status_reason: state.reason.clone(),
        changed,
        checked_at: now,
        next_check_at,
    };
    let summary = serde_json::json!({
        "result": report.result, "probe": report.probe, "detail": report.detail,
        "next_check_at": report.next_check_at,
    });
    if let Err(e) = ctx
        .store
        .set_account_check(account.id, now, &summary.to_string())
        .await
    {
        tracing::warn!(account = %account.name, error = %e, "saving check result failed");
    }
    tracing::info!(account = %account.name, kind = account.kind.as_str(), result = report.result,
        detail = %report.detail, consecutive_errors = state.consecutive_errors, "health check");
    if let Some(what) = changed {
        announce(ctx, account, what, &report).await;
    }
    let state_changed = state.status != account.status
        || state.consecutive_errors != account.consecutive_errors
        || state.until != account.status_until;
    Decision {
        report,
        state: state_changed.then_some(state),
    }
}

async fn run_probe(ctx: &CheckContext<'_>, account: &Account, timeout: Duration) -> ProbeResult {
    // Accounts from the store may name a proxy or rely on `default_proxy`: probes, token
    // refresh and usage reads go through the same proxy as relay requests.
    let proxy = match crate::state::resolve_proxy(ctx.store, account).await {
        Ok(p) => p,
        Err(e) => return failed("proxy", e.to_string()),
    };
    let http = match ctx.clients.get(proxy.as_deref()) {
        Ok(h) => h,
        Err(e) => return failed("proxy", e.to_string()),
    };
    let oauth = oauth_client_for(account, ctx.hosts);
    // An expired token is refreshed before the account is judged.
    let mut bearer: Option<Secret> = None;
    if let Some(o) = &oauth {
        match ctx
            .tokens
            .access_token(account, &http, o, None, Utc::now())
            .await
        {
            Ok(t) => bearer = Some(t),
            Err(e) if account.credentials.session_key.is_none() => {
                return failed("token refresh", format!("token refresh failed: {e}"));
            }
            Err(_) => {}
        }
    }
    let first = probe::probe(&http, ctx.hosts, account, bearer.as_ref(), timeout).await;
    if let (Verdict::Unhealthy { auth: true }, Some(o), Some(bad)) =
        (&first.verdict, &oauth, &bearer)
    {
        // Refresh once on 401 and try again before judging.
        match ctx
            .tokens
            .access_token(account, &http, o, Some(bad), Utc::now())
            .await
        {
            Ok(fresh) => {
                return probe::probe(&http, ctx.hosts, account, Some(&fresh), timeout).await;
            }
            Err(e) => {
                return failed(
                    first.probe,
                    format!("{}; token refresh failed: {e}", first.detail),
                );
            }
        }
    }
    first
}

fn failed(probe: &'static str, detail: String) -> ProbeResult {
    ProbeResult {
        verdict: Verdict::Unhealthy { auth: true },
        probe,
        detail,
        usage: None,
    }
}

/// Audit entry, structured log and the optional webhook for a status change.
async fn announce(
    ctx: &CheckContext<'_>,
    account: &Account,
    what: &'static str,
    report: &CheckReport,
) {
    let action = format!("account.{what}");
    let detail = format!("{}: {}", report.probe, report.detail);
    if let Err(e) = ctx
        .store
        .audit("health-check", &action, Some(&account.name), Some(&detail))
        .await
    {
        tracing::warn!(error = %e, "audit entry failed");
    }
    tracing::warn!(account = %account.name, kind = account.kind.as_str(), event = %action, detail = %detail,
        "account status changed by health check");
    let url = ctx.settings.webhook_url.clone();
    if url.is_empty() {
        return;
    }
    let Ok(http) = ctx.clients.get(None) else {
        return;
    };
    let payload = serde_json::json!({
        "event": action,
        "account": {"id": account.id, "name": account.name, "kind": account.kind},
        "status": report.status,
        "reason": report.status_reason,
        "detail": report.detail,
        "consecutive_errors": report.consecutive_errors,
        "at": report.checked_at,
    });
    // Fire and forget: a slow webhook never holds up a round.
    ctx.tasks.spawn(async move {
        let sent = http
            .post(&url)
            .header("content-type", "application/json")
            .body(payload.to_string())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!(status = r.status().as_u16(), "webhook refused"),
            Err(e) => tracing::warn!(error = %e.without_url(), "webhook failed"),
        }
    });
}

impl AppState {
    fn check_context<'a>(&'a self, settings: &'a Settings) -> CheckContext<'a> {
        CheckContext {
            store: self.store.as_ref(),
            clients: &self.clients,
            tokens: &self.tokens,
            hosts: &self.hosts,
            settings,
            tasks: &self.tasks,
        }
    }

    /// Checks one account now and applies the result (the admin API and rounds use this).
    pub async fn check_account(self: &Arc<Self>, account: &Account) -> CheckReport {
        let settings = Arc::clone(&self.snapshot.load().settings);
        let decision = check(&self.check_context(&settings), account).await;
        if let Some(state) = decision.state {
            self.account_event(account.id, AccountEvent::Checked(state));
        }
        decision.report
    }
}

/// One round over the accounts that are due.
pub async fn round(state: &Arc<AppState>) -> Vec<CheckReport> {
    let snap = state.snapshot.load();
    let settings = Arc::clone(&snap.settings);
    let now = Utc::now();
    let started = std::time::Instant::now();
    let recovery = settings.account_recovery_enabled;
    let due: Vec<Arc<Account>> = {
        let backoff = state
            .health
            .backoff
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        snap.accounts
            .iter()
            .filter(|a| eligible(a))
            .filter(|a| {
                if a.status == AccountStatus::Disabled {
                    recovery && backoff.get(&a.id).is_none_or(|(_, next)| *next <= now)
                } else {
                    true
                }
            })
            .cloned()
            .collect()
    };
    let concurrency = settings.account_health_check_concurrency.max(1) as usize;
    let timeout = Duration::from_secs(settings.account_health_check_timeout_seconds.max(1));
    let jitter_ms = (interval(&settings).num_milliseconds() / 100).clamp(0, 2_000) as u64;
    let reports: Vec<Option<CheckReport>> = futures_util::stream::iter(due)
        .map(|account| {
            let state = state.clone();
            async move {
                let delay = rand::random::<u64>() % (jitter_ms + 1);
                tokio::time::sleep(Duration::from_millis(delay)).await;
                // The probe has its own timeout; this bounds token refreshes and the store too.
                tokio::time::timeout(timeout * 3, state.check_account(&account))
                    .await
                    .ok()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let reports: Vec<CheckReport> = reports.into_iter().flatten().collect();
    {
        let mut backoff = state
            .health
            .backoff
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for r in &reports {
            if r.status == AccountStatus::Disabled {
                let entry = backoff.entry(r.account_id).or_insert((0, now));
                entry.0 += 1;
                let minutes =
                    (interval(&settings).num_minutes() << entry.0.min(6)).min(MAX_BACKOFF_MINUTES);
                entry.1 = now + ChronoDuration::minutes(minutes);
            } else {
                backoff.remove(&r.account_id);
            }
        }
    }
    *state
        .health
        .last_round
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(now);
    *state
        .health
        .last_summary
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(RoundSummary {
        started_at: now,
        duration_ms: started.elapsed().as_millis() as u64,
        checked: reports.len(),
        passed: reports.iter().filter(|r| r.result == "healthy").count(),
        failed: reports.iter().filter(|r| r.result == "unhealthy").count(),
    });
    reports
}

/// Minutes until the next recovery probe after `failures` failed probes of a disabled
/// account: the interval, then doubling, capped at an hour.
pub fn backoff_minutes(interval_minutes: i64, failures: u32) -> i64 {
    let doublings = failures.saturating_sub(1).min(6);
    (interval_minutes.max(1) << doublings).min(MAX_BACKOFF_MINUTES.max(interval_minutes))
}

/// The background loop. Reads the settings every tick, so enabling the check or changing its
/// interval takes effect on a running server.
pub async fn run(state: Arc<AppState>) {
    loop {
        tokio::time::sleep(TICK).await;
        let settings = Arc::clone(&state.snapshot.load().settings);
        let due = state
            .health
            .next_round(&settings)
            .is_some_and(|t| t <= Utc::now());
        // With several instances, one runs the round: the one holding the lease (for a bit
        // longer than a round's interval, so it keeps it while it lives).
        let lease = interval(&settings)
            .to_std()
            .unwrap_or(Duration::from_secs(60))
            + TICK * 5;
        if due && !state.coord.hold("health-check", lease).await {
            state.health.skipped_round(Utc::now());
            continue;
        }
        if due {
            let reports = round(&state).await;
            tracing::debug!(checked = reports.len(), "health-check round done");
        }
    }
}
