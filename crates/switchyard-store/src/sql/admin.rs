//! Operator sign-in sessions, admin API tokens and the audit log.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{AdminSession, AuditEntry, Result};

#[async_trait]
pub trait AdminStore: Send + Sync {
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

    async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        detail: Option<&str>,
    ) -> Result<()>;
    async fn recent_audit(&self, limit: u32) -> Result<Vec<AuditEntry>>;
    /// Audit entries older than `before_id` (all when `None`), newest first.
    async fn audit_page(&self, before_id: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>>;
}
