//! Upstream accounts, the groups they are pooled in, their health state, credentials and
//! quota reports.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use switchyard_core::account::{Account, AccountId, Credentials};

use crate::{AccountGroup, AccountPatch, AccountState, NewAccount, Result};

#[async_trait]
pub trait AccountStore: Send + Sync {
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
}
