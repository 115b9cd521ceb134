//! Shared server state and the in-memory snapshots the request path reads.
//!
//! Keys, accounts, settings and prices are loaded from the store into an immutable
//! [`Snapshot`] swapped atomically. A background task polls the store's change counter every
//! [`POLL`] and reloads when it moved, so edits from the CLI or another process are visible
//! within two seconds without a restart. The request path never queries the database.

use arc_swap::ArcSwap;
use chrono::Utc;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use switchyard_core::account::{Account, AccountId, AccountStatus, Credentials};
use switchyard_core::account_event::AccountEvent;
use switchyard_core::key::{ApiKey, UserLimits};
use switchyard_core::pricing::PriceTable;
use switchyard_core::settings::Settings;
use switchyard_store::coord::Coordinator;
use switchyard_store::usage_writer::UsageSink;
use switchyard_store::{AccountState, Notice, Store, StoreError};
use switchyard_upstream::ClientPool;
use switchyard_upstream::tokens::{PersistCredentials, TokenManager};
use tokio::sync::Notify;

use crate::config::Config;
use crate::metrics;

pub const POLL: Duration = Duration::from_millis(500);

/// An API key as the request path needs it.
#[derive(Debug)]
pub struct KeyEntry {
    pub key: ApiKey,
    pub user_active: bool,
    pub user_limits: UserLimits,
    /// The accounts a bound key may use: its account, or its group's members (empty when the
    /// group has none, so nothing is routed rather than everything).
    pub bound_accounts: Option<Arc<[AccountId]>>,
}

/// Parts that do not change with an account's state are behind `Arc`s, so applying one
/// account's new state (on the failover path) copies only the account list.
pub struct Snapshot {
    pub seq: i64,
    pub keys: Arc<HashMap<String, Arc<KeyEntry>>>,
    pub accounts: Vec<Arc<Account>>,
    pub accounts_by_id: HashMap<AccountId, Arc<Account>>,
    pub settings: Arc<Settings>,
    pub prices: Arc<PriceTable>,
}

impl Snapshot {
    pub async fn load(store: &dyn Store) -> Result<Self, StoreError> {
        // Read the counter first: a change racing with the load makes the next poll reload.
        let seq = store.change_seq().await?;
        let users: HashMap<i64, switchyard_store::User> = store
            .list_users()
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        let groups: HashMap<i64, Arc<[AccountId]>> = store
            .list_groups()
            .await?
            .into_iter()
            .map(|g| (g.id, Arc::from(g.account_ids)))
            .collect();
        let keys: HashMap<String, Arc<KeyEntry>> = store
            .list_keys()
            .await?
            .into_iter()
            .map(|k| {
                let user = users.get(&k.user_id);
                let bound_accounts = match (k.policy.bound_account_id, k.policy.bound_group_id) {
                    (Some(account), _) => Some(Arc::from(vec![account])),
                    (None, Some(group)) => Some(
                        groups
                            .get(&group)
                            .cloned()
                            .unwrap_or_else(|| Arc::from(Vec::new())),
                    ),
                    (None, None) => None,
                };
                (
                    k.hash.clone(),
                    Arc::new(KeyEntry {
                        user_active: user.is_some_and(|u| u.status == "active"),
                        user_limits: user.map(|u| u.limits.clone()).unwrap_or_default(),
                        bound_accounts,
                        key: k,
                    }),
                )
            })
            .collect();
        let settings = Settings::from_stored(&store.settings().await?);
        let proxies = proxy_table(store).await?;
        let default_proxy = &settings.default_proxy;
        // Every outbound call of an account reads `proxy_url` from here, so a proxy name or
        // the default is resolved once, and the request path keeps using plain URLs.
        let accounts: Vec<Arc<Account>> = store
            .list_accounts()
            .await?
            .into_iter()
            .map(|mut a| {
                a.proxy_url = effective_proxy(a.proxy_url.as_deref(), &proxies, default_proxy);
                Arc::new(a)
            })
            .collect();
        let accounts_by_id = accounts.iter().map(|a| (a.id, a.clone())).collect();
        let prices = PriceTable::bundled().with_overrides(store.price_overrides().await?);
        Ok(Self {
            seq,
            keys: Arc::new(keys),
            accounts,
            accounts_by_id,
            settings: Arc::new(settings),
            prices: Arc::new(prices),
        })
    }

    /// A copy with one account replaced (used to apply a state change at once).
    fn with_account(&self, updated: Account) -> Self {
        let updated = Arc::new(updated);
        let accounts: Vec<Arc<Account>> = self
            .accounts
            .iter()
            .map(|a| {
                if a.id == updated.id {
                    updated.clone()
                } else {
                    a.clone()
                }
            })
            .collect();
        let accounts_by_id = accounts.iter().map(|a| (a.id, a.clone())).collect();
        Self {
            seq: self.seq,
            keys: self.keys.clone(),
            accounts,
            accounts_by_id,
            settings: self.settings.clone(),
            prices: self.prices.clone(),
        }
    }
}

pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub snapshot: ArcSwap<Snapshot>,
    /// Sticky bindings, concurrency slots and named leases: this process's own, or shared
    /// with the other instances through Redis.
    pub coord: Coordinator,
    pub limits: crate::limits::Limits,
    pub usage: UsageSink,
    pub clients: ClientPool,
    pub tokens: TokenManager,
    pub hosts: switchyard_upstream::UpstreamHosts,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    pub reload: Notify,
    /// Per account: the status of the last saved usage-window report, and when it was saved.
    pub quotas: std::sync::Mutex<HashMap<AccountId, (Option<String>, std::time::Instant)>>,
    pub health: crate::health_check::HealthState,
    /// Account states applied in memory whose store write has not finished yet; a snapshot
    /// reload keeps them instead of reading the older stored state.
    pub pending_states: std::sync::Mutex<HashMap<AccountId, AccountState>>,
    /// Set when the shutdown grace period is over: open streams end and settle.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// Code Assist projects of Google-login (`gemini`) accounts, discovered once each.
    pub projects: switchyard_upstream::gemini::CodeAssistProjects,
    /// Bytes of request bodies held at once, across all requests.
    pub body_budget: crate::relay::body::BodyBudget,
    /// Every background task spawned while serving (state writes, recounts, webhooks):
    /// shutdown waits for them within the grace period instead of dropping their work.
    /// `clippy.toml` forbids a bare `tokio::spawn` so none escapes it.
    pub tasks: tokio_util::task::TaskTracker,
}

/// How often one account's usage-window report is written to the store at most.
const QUOTA_SAVE_INTERVAL: Duration = Duration::from_secs(30);

impl AppState {
    /// Reloads the snapshot now if the store changed.
    pub async fn refresh_if_changed(&self) -> Result<bool, StoreError> {
        let seq = self.store.change_seq().await?;
        if seq == self.snapshot.load().seq {
            return Ok(false);
        }
        let mut fresh = Snapshot::load(self.store.as_ref()).await?;
        // State changes still being written must not be undone by this reload.
        let pending: Vec<(AccountId, AccountState)> = self
            .pending_states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(id, st)| (*id, st.clone()))
            .collect();
        for (id, st) in pending {
            if let Some(a) = fresh.accounts_by_id.get(&id) {
                let updated = with_state((**a).clone(), &st);
                fresh = fresh.with_account(updated);
            }
        }
        let gone: Vec<AccountId> = {
            let old = self.snapshot.load();
            old.accounts
                .iter()
                .filter(|a| {
                    fresh
                        .accounts_by_id
                        .get(&a.id)
                        .is_none_or(|n| !n.is_schedulable(Utc::now()))
                })
                .map(|a| a.id)
                .collect()
        };
        self.snapshot.store(Arc::new(fresh));
        for id in gone {
            self.coord.sticky_drop_account(id);
        }
        metrics::snapshot_reload();
        Ok(true)
    }

    /// Applies an automatic change to an account (every one goes through here; the rules
    /// are [`AccountEvent::next_state`]'s): the new state is in the snapshot at once (so the
    /// next pick already sees it), written to the store in the background, and the account's
    /// sticky bindings are dropped when it stops being usable.
    pub fn account_event(self: &Arc<Self>, id: AccountId, event: AccountEvent) {
        let current = self.snapshot.load();
        let Some(account) = current.accounts_by_id.get(&id) else {
            return;
        };
        let Some(state) = event.next_state(account) else {
            return;
        };
        let updated = with_state((**account).clone(), &state);
        if state.status != AccountStatus::Active {
            self.coord.sticky_drop_account(id);
            tracing::warn!(account = %updated.name, status = state.status.as_str(),
                reason = state.reason.as_deref().unwrap_or(""), until = ?state.until, "account state changed");
            metrics::account_state_change(state.status.as_str());
        }
        self.snapshot
            .rcu(|snap| Arc::new(snap.with_account(updated.clone())));
        self.pending_states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, state.clone());
        let this = self.clone();
        self.tasks.spawn(async move {
            if let Err(e) = this.store.set_account_state(id, &state).await {
                tracing::error!(account_id = id, error = %e, "saving account state failed");
            }
            {
                let mut pending = this
                    .pending_states
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if pending.get(&id) == Some(&state) {
                    pending.remove(&id);
                }
            }
            if state.status == AccountStatus::Error {
                let detail = state.reason.as_deref();
                let _ = this
                    .store
                    .audit("relay", "account.error", Some(&id.to_string()), detail)
                    .await;
            }
        });
    }

    /// Keeps the usage windows an upstream reports in its response headers (Codex
    /// `x-codex-primary-*`/`secondary-*`, Anthropic `anthropic-ratelimit-unified-*`).
    pub fn record_quota_headers(self: &Arc<Self>, account: &Account, headers: &http::HeaderMap) {
        // Called on every upstream response: decide cheaply, from the headers' status alone,
        // whether anything is to be done before building the report.
        let Some(status) = crate::quota::reported_status(headers) else {
            return;
        };
        let watches_threshold = account.status == AccountStatus::Active
            && account.extra.contains_key("pause_at_utilization");
        let save = {
            let mut map = self
                .quotas
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let due = map.get(&account.id).is_none_or(|(old_status, at)| {
                at.elapsed() >= QUOTA_SAVE_INTERVAL || old_status.as_deref() != status
            });
            if due {
                map.insert(
                    account.id,
                    (status.map(str::to_string), std::time::Instant::now()),
                );
            }
            due
        };
        if !save && !watches_threshold {
            return;
        }
        let now = Utc::now();
        let Some(report) = crate::quota::from_headers(headers, now) else {
            return;
        };
        if watches_threshold
            && let Some((until, reason)) = crate::quota::pause(account, &report, now)
        {
            self.account_event(account.id, AccountEvent::Paused { until, reason });
        }
        if save {
            let this = self.clone();
            let id = account.id;
            self.tasks.spawn(async move {
                if let Err(e) = this.store.set_account_quota(id, &report).await {
                    tracing::warn!(account_id = id, error = %e, "saving usage windows failed");
                }
            });
        }
    }

    /// Reads one account's runtime state (another instance changed it) and applies it to the
    /// snapshot, without reloading the rest. A state this instance is still writing wins.
    pub async fn refresh_account(&self, id: AccountId) {
        let writing = self
            .pending_states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains_key(&id);
        if writing {
            return;
        }
        let stored = match self.store.find_account(&id.to_string()).await {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(account_id = id, error = %e, "reading an announced account state");
                return;
            }
        };
        let state = AccountState {
            status: stored.status,
            reason: stored.status_reason,
            until: stored.status_until,
            consecutive_errors: stored.consecutive_errors,
        };
        let Some(current) = self.snapshot.load().accounts_by_id.get(&id).cloned() else {
            return;
        };
        let updated = with_state((*current).clone(), &state);
        if !updated.is_schedulable(Utc::now()) {
            self.coord.sticky_drop_account(id);
        }
        self.snapshot
            .rcu(|snap| Arc::new(snap.with_account(updated.clone())));
    }

    /// Cooling accounts whose time has passed become `active` again in the store.
    async fn end_cooldowns(self: &Arc<Self>) {
        let now = Utc::now();
        let snap = self.snapshot.load();
        for a in snap.accounts.iter() {
            if a.status == AccountStatus::Cooling && a.status_until.is_none_or(|u| u <= now) {
                self.account_event(a.id, AccountEvent::CooldownEnded);
            }
        }
    }
}

/// Named proxies by name, with their (secret) URLs.
pub async fn proxy_table(store: &dyn Store) -> Result<HashMap<String, String>, StoreError> {
    Ok(store
        .list_proxies()
        .await?
        .into_iter()
        .map(|p| (p.name, p.url.expose().to_string()))
        .collect())
}

/// The proxy URL an account's outbound calls go through: its own inline URL, else the proxy
/// it names, else `default_proxy` (a name or a URL), else none (direct). A name that does not
/// exist resolves to a URL the client pool refuses, so the account fails closed instead of
/// going out directly from an address the operator meant to hide.
pub fn effective_proxy(
    own: Option<&str>,
    proxies: &HashMap<String, String>,
    default_proxy: &str,
) -> Option<String> {
    let chosen = own
        .filter(|p| !p.trim().is_empty())
        .or_else(|| Some(default_proxy).filter(|p| !p.trim().is_empty()))?;
    if chosen.contains("://") {
        return Some(chosen.to_string());
    }
    Some(proxies.get(chosen).cloned().unwrap_or_else(|| {
        format!(
            "{}://{chosen}",
            switchyard_upstream::client::MISSING_PROXY_SCHEME
        )
    }))
}

/// [`effective_proxy`] for an account read from the store (the CLI's and the health check's
/// path; the snapshot's accounts are already resolved and pass through unchanged).
pub async fn resolve_proxy(
    store: &dyn Store,
    account: &Account,
) -> Result<Option<String>, StoreError> {
    let own = account.proxy_url.as_deref();
    if own.is_some_and(|p| p.contains("://")) {
        return Ok(own.map(str::to_string));
    }
    let settings = Settings::from_stored(&store.settings().await?);
    let proxies = proxy_table(store).await?;
    Ok(effective_proxy(own, &proxies, &settings.default_proxy))
}

fn with_state(mut account: Account, state: &AccountState) -> Account {
    account.status = state.status;
    account.status_reason.clone_from(&state.reason);
    account.status_until = state.until;
    account.consecutive_errors = state.consecutive_errors;
    account
}

/// Applies what other writers of a shared database announce (PostgreSQL): a reload at once for
/// a configuration change, one account's row for a change of its runtime state only. Without
/// notices (SQLite) it returns, and the poll alone keeps the snapshot fresh; while listening
/// fails, the poll goes on and listening is tried again with back-off.
pub async fn follow_changes(state: Arc<AppState>) {
    let mut backoff = Duration::from_millis(500);
    loop {
        match state.store.listen().await {
            Ok(None) => return,
            Ok(Some(mut notices)) => {
                backoff = Duration::from_millis(500);
                // What was announced before the listener was up is covered by a reload.
                state.reload.notify_one();
                loop {
                    match notices.next().await {
                        Ok(Notice::Changed) => state.reload.notify_one(),
                        Ok(Notice::AccountState(id)) => state.refresh_account(id).await,
                        Err(e) => {
                            tracing::warn!(error = %e, "change notices interrupted; polling meanwhile");
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for change notices; polling"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// The background loop that keeps the snapshot fresh and housekeeping done.
pub async fn refresher(state: Arc<AppState>) {
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = state.reload.notified() => {}
        }
        if let Err(e) = state.refresh_if_changed().await {
            tracing::warn!(error = %e, "snapshot refresh failed; serving the previous snapshot");
        }
        ticks += 1;
        if ticks.is_multiple_of(10) {
            state.end_cooldowns().await;
            state.coord.sweep();
        }
    }
}

/// Saves refreshed OAuth credentials to the store and reloads the snapshot.
pub struct StorePersist {
    pub store: Arc<dyn Store>,
}

impl PersistCredentials for StorePersist {
    fn persist(&self, id: AccountId, creds: Credentials) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.store
                .set_account_credentials(id, &creds)
                .await
                .map_err(|e| e.to_string())
        })
    }
}
