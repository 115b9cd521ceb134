//! Admin sessions, admin API tokens and the audit log in SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::SqliteStore;
use super::returned_one;
use crate::sql::rows::{audit_from_row, session_from_row};
use crate::sql::{AdminStore, ts};
use crate::{AdminSession, AuditEntry, Result, StoreError};

#[async_trait]
impl AdminStore for SqliteStore {
    async fn create_admin_session(
        &self,
        user_id: i64,
        kind: &str,
        name: &str,
        token_hash: &str,
        csrf_hash: Option<&str>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<AdminSession> {
        let row = sqlx::query(
            "INSERT INTO admin_sessions (token_hash, csrf_hash, user_id, kind, name, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(token_hash)
        .bind(csrf_hash)
        .bind(user_id)
        .bind(kind)
        .bind(name)
        .bind(ts(Utc::now()))
        .bind(expires_at.map(ts))
        .fetch_all(&self.pool)
        .await
        .and_then(returned_one)?;
        session_from_row(&row)
    }

    async fn admin_session(&self, token_hash: &str) -> Result<Option<AdminSession>> {
        let row = sqlx::query(
            "SELECT * FROM admin_sessions WHERE token_hash = ? AND revoked_at IS NULL
               AND (expires_at IS NULL OR expires_at > ?)",
        )
        .bind(token_hash)
        .bind(ts(Utc::now()))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn revoke_admin_session(&self, id: i64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE admin_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        )
        .bind(ts(Utc::now()))
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("session or token {id}")));
        }
        Ok(())
    }

    async fn revoke_user_sessions(&self, user_id: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE admin_sessions SET revoked_at = ? WHERE user_id = ? AND kind = 'session' AND revoked_at IS NULL",
        )
        .bind(ts(Utc::now()))
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn list_admin_tokens(&self) -> Result<Vec<AdminSession>> {
        let rows = sqlx::query("SELECT * FROM admin_sessions WHERE kind = 'token' ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(session_from_row).collect()
    }

    async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        detail: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(ts(Utc::now()))
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn recent_audit(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn audit_page(&self, before_id: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT * FROM audit_log WHERE (?1 IS NULL OR id < ?1) ORDER BY id DESC LIMIT ?2",
        )
        .bind(before_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_from_row).collect()
    }
}
