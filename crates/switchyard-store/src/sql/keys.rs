//! Users and the API keys they own.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use switchyard_core::key::{ApiKey, KeyPolicy, UserLimits};

use crate::{NewApiKey, Result, User};

#[async_trait]
pub trait KeyStore: Send + Sync {
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
    async fn user_by_id(&self, id: i64) -> Result<Option<User>>;
    async fn set_user_role(&self, name: &str, role: &str) -> Result<User>;
    /// Refused while the user still owns keys.
    async fn delete_user(&self, name: &str) -> Result<()>;
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
    /// Gives a key a new secret, keeping its id and policy.
    async fn rotate_key(&self, id: i64, prefix: &str, hash: &str) -> Result<ApiKey>;
}
