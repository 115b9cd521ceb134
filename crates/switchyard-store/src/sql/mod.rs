//! The durable store. Callers hold an `Arc<dyn Store>` and never learn which database is
//! behind it; [`open`] picks the implementation from the database URL.

mod onboarding;
mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use switchyard_core::account::{Account, AccountId, Credentials};
use switchyard_core::key::{ApiKey, KeyPolicy, UserLimits};
use switchyard_core::pricing::ModelPrice;

use crate::{
    AccountGroup, AccountPatch, AccountState, AdminSession, AuditEntry, MasterKey, NewAccount,
    NewApiKey, OAuthPending, ProxyRecord, Result, Spend, StoreError, StoredUsage, UsageFilter,
    UsageRecord, User,
};

pub use sqlite::SqliteStore;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap liveness query for `/readyz`.
    async fn ping(&self) -> Result<()>;
    /// A counter that grows with every change the in-memory snapshots depend on.
    async fn change_seq(&self) -> Result<i64>;

    async fn create_user(
        &self,
        name: &str,
        role: &str,
        password_hash: Option<&str>,
    ) -> Result<User>;
    async fn list_users(&self) -> Result<Vec<User>>;
    async fn user_by_name(&self, name: &str) -> Result<Option<User>>;
    async fn set_user_password(&self, name: &str, password_hash: &str) -> Result<()>;
    /// `active` or `disabled`; a disabled user's keys stop working.
    async fn set_user_status(&self, name: &str, status: &str) -> Result<User>;
    async fn set_user_limits(&self, name: &str, limits: &UserLimits) -> Result<User>;

    async fn create_key(&self, key: NewApiKey) -> Result<ApiKey>;
    async fn list_keys(&self) -> Result<Vec<ApiKey>>;
    /// Revokes by id, display prefix or name; errors if that matches more than one key.
    async fn revoke_key(&self, selector: &str) -> Result<ApiKey>;
    /// Finds one key by id, display prefix or name; errors if that matches more than one.
    async fn find_key(&self, selector: &str) -> Result<ApiKey>;
    /// Replaces the key's policy as a whole.
    async fn set_key_policy(&self, id: i64, policy: &KeyPolicy) -> Result<ApiKey>;
    /// Records the first use (kept if one is already recorded).
    async fn set_key_first_used(&self, id: i64, at: DateTime<Utc>) -> Result<()>;

    async fn create_group(&self, name: &str, description: &str) -> Result<AccountGroup>;
    async fn list_groups(&self) -> Result<Vec<AccountGroup>>;
    /// By id or name.
    async fn find_group(&self, selector: &str) -> Result<AccountGroup>;
    async fn delete_group(&self, id: i64) -> Result<()>;
    async fn add_group_member(&self, group: i64, account: AccountId) -> Result<()>;
    async fn remove_group_member(&self, group: i64, account: AccountId) -> Result<()>;

    async fn create_account(&self, account: NewAccount) -> Result<Account>;
    async fn list_accounts(&self) -> Result<Vec<Account>>;
    /// By numeric id or by name.
    async fn find_account(&self, selector: &str) -> Result<Account>;
    async fn update_account(&self, id: AccountId, patch: AccountPatch) -> Result<Account>;
    async fn remove_account(&self, id: AccountId) -> Result<()>;
    /// The relay's and the health check's state changes. Never touches an account an
    /// operator disabled (status `disabled` with any reason but "health check").
    async fn set_account_state(&self, id: AccountId, state: &AccountState) -> Result<()>;
    /// An operator's change (enable/disable), which always applies.
    async fn set_account_state_by_operator(
        &self,
        id: AccountId,
        state: &AccountState,
    ) -> Result<()>;
    /// Records the outcome of a health check (`result` is a short JSON summary).
    async fn set_account_check(&self, id: AccountId, at: DateTime<Utc>, result: &str)
    -> Result<()>;
    async fn set_account_credentials(&self, id: AccountId, creds: &Credentials) -> Result<()>;

    /// The latest usage-window report of an account (free-form JSON, shown to operators).
    async fn set_account_quota(&self, id: AccountId, data: &serde_json::Value) -> Result<()>;
    async fn account_quotas(&self) -> Result<BTreeMap<AccountId, serde_json::Value>>;

    async fn settings(&self) -> Result<BTreeMap<String, String>>;
    async fn set_setting(&self, key: &str, value: &str) -> Result<()>;
    async fn reset_setting(&self, key: &str) -> Result<()>;

    async fn price_overrides(&self) -> Result<BTreeMap<String, ModelPrice>>;
    async fn set_price(&self, model: &str, price: &ModelPrice) -> Result<()>;

    async fn insert_usage(&self, records: &[UsageRecord]) -> Result<()>;
    async fn recent_usage(&self, limit: u32) -> Result<Vec<UsageRecord>>;
    async fn recent_usage_for_key(&self, key_id: i64, limit: u32) -> Result<Vec<UsageRecord>>;
    /// Recorded cost per key and per user since `day_start` and `week_start`, and in total.
    async fn spend(&self, day_start: DateTime<Utc>, week_start: DateTime<Utc>) -> Result<Spend>;

    async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        detail: Option<&str>,
    ) -> Result<()>;
    async fn recent_audit(&self, limit: u32) -> Result<Vec<AuditEntry>>;

    async fn create_proxy(&self, name: &str, url: &str) -> Result<ProxyRecord>;
    async fn list_proxies(&self) -> Result<Vec<ProxyRecord>>;
    async fn set_proxy_url(&self, name: &str, url: &str) -> Result<ProxyRecord>;
    /// Deletes a named proxy; accounts naming it are pointed at `reassign` (none: no proxy of
    /// their own) in the same transaction. Returns how many accounts were moved.
    async fn delete_proxy(&self, name: &str, reassign: Option<&str>) -> Result<u64>;

    /// Keeps an OAuth sign-in between start and finish (any instance may finish it).
    async fn put_oauth_pending(&self, pending: &OAuthPending) -> Result<()>;
    /// Removes and returns a pending sign-in: each state is usable once.
    async fn take_oauth_pending(&self, state: &str) -> Result<Option<OAuthPending>>;

    /// Waits for pending writes and closes connections.
    async fn user_by_id(&self, id: i64) -> Result<Option<User>>;
    async fn set_user_role(&self, name: &str, role: &str) -> Result<User>;
    /// Refused while the user still owns keys.
    async fn delete_user(&self, name: &str) -> Result<()>;
    /// Gives a key a new secret, keeping its id and policy.
    async fn rotate_key(&self, id: i64, prefix: &str, hash: &str) -> Result<ApiKey>;
    /// Drops an operator's override so the bundled price applies again.
    async fn delete_price(&self, model: &str) -> Result<bool>;

    async fn create_admin_session(
        &self,
        user_id: i64,
        kind: &str,
        name: &str,
        token_hash: &str,
        csrf_hash: Option<&str>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<AdminSession>;
    /// A live (not revoked, not expired) session or token by the hash of its secret.
    async fn admin_session(&self, token_hash: &str) -> Result<Option<AdminSession>>;
    async fn revoke_admin_session(&self, id: i64) -> Result<()>;
    /// Ends every browser session of a user (API tokens stay).
    async fn revoke_user_sessions(&self, user_id: i64) -> Result<u64>;
    async fn list_admin_tokens(&self) -> Result<Vec<AdminSession>>;

    /// Newest first, at most `limit`.
    async fn usage_page(&self, filter: &UsageFilter, limit: u32) -> Result<Vec<StoredUsage>>;
    /// Audit entries older than `before_id` (all when `None`), newest first.
    async fn audit_page(&self, before_id: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>>;

    async fn close(&self);
}

/// Where the store lives.
#[derive(Debug, Clone)]
pub struct StoreLocation<'a> {
    pub data_dir: &'a Path,
    /// `sqlite://…` or none for `<data_dir>/switchyard.db`.
    pub database_url: Option<&'a str>,
    /// From `SWITCHYARD_MASTER_KEY` or config; otherwise the data directory's key file.
    pub master_key: Option<&'a str>,
}

/// Opens (and migrates) the store named by `loc`.
pub async fn open(loc: StoreLocation<'_>) -> Result<Arc<dyn Store>> {
    prepare_data_dir(loc.data_dir)?;
    let (key, pending_key_file) = MasterKey::load(loc.master_key, loc.data_dir)?;
    let store: Arc<dyn Store> = match loc.database_url {
        None => {
            let path = loc.data_dir.join("switchyard.db");
            Arc::new(SqliteStore::open(&path, key).await?)
        }
        Some(url) if url.starts_with("sqlite:") => {
            let path = url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:");
            Arc::new(SqliteStore::open(Path::new(path), key).await?)
        }
        Some(url) if url.starts_with("postgres:") || url.starts_with("postgresql:") => {
            return Err(StoreError::Config(
                "PostgreSQL support is not built yet; use SQLite (the default)".into(),
            ));
        }
        Some(other) => {
            return Err(StoreError::Config(format!(
                "database URL `{}` has an unknown scheme (expected sqlite:)",
                other.split("://").next().unwrap_or(other)
            )));
        }
    };
    // The store accepted the key: only now does a newly generated key reach the disk.
    if let Some(file) = pending_key_file {
        file.write()?;
    }
    Ok(store)
}

/// Creates the data directory if missing (0700: it holds the master key and the database) and
/// proves it is writable before anything is stored.
fn prepare_data_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            StoreError::Config(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"ok")
        .and_then(|_| std::fs::remove_file(&probe))
        .map_err(|e| {
            StoreError::Config(format!(
                "data directory {} is not writable: {e}",
                dir.display()
            ))
        })
}

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub(crate) fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Database(format!("bad timestamp `{s}` in store: {e}")))
}
