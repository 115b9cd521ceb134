//! Named proxies and pending OAuth sign-ins in SQLite (migration 0006).

use async_trait::async_trait;
use chrono::Utc;

use super::SqliteStore;
use crate::sql::rows::{oauth_pending_from_row, proxy_from_row};
use crate::sql::{OnboardingStore, ts};
use crate::{OAuthPending, ProxyRecord, Result, StoreError};

#[async_trait]
impl OnboardingStore for SqliteStore {
    async fn create_proxy(&self, name: &str, url: &str) -> Result<ProxyRecord> {
        let now = ts(Utc::now());
        let row = sqlx::query(
            "INSERT INTO proxies (name, url, created_at, updated_at) VALUES (?, ?, ?, ?) RETURNING *",
        )
        .bind(name)
        .bind(self.sealer.seal_text(url)?)
        .bind(&now)
        .bind(&now)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("proxy `{name}` already exists")),
            other => other,
        })?;
        proxy_from_row(&self.sealer, &row)
    }

    async fn list_proxies(&self) -> Result<Vec<ProxyRecord>> {
        let rows = sqlx::query("SELECT * FROM proxies ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| proxy_from_row(&self.sealer, r))
            .collect()
    }

    async fn set_proxy_url(&self, name: &str, url: &str) -> Result<ProxyRecord> {
        let row =
            sqlx::query("UPDATE proxies SET url = ?, updated_at = ? WHERE name = ? RETURNING *")
                .bind(self.sealer.seal_text(url)?)
                .bind(ts(Utc::now()))
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("proxy `{name}`")))?;
        proxy_from_row(&self.sealer, &row)
    }

    /// Deletes the proxy and, in the same transaction, points the accounts that named it at
    /// `reassign` (`None`: no proxy of their own, so `default_proxy` applies).
    async fn delete_proxy(&self, name: &str, reassign: Option<&str>) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let moved =
            sqlx::query("UPDATE accounts SET proxy_url = ?, updated_at = ? WHERE proxy_url = ?")
                .bind(reassign)
                .bind(ts(Utc::now()))
                .bind(name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let gone = sqlx::query("DELETE FROM proxies WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone == 0 {
            return Err(StoreError::NotFound(format!("proxy `{name}`")));
        }
        tx.commit().await?;
        Ok(moved)
    }

    async fn put_oauth_pending(&self, p: &OAuthPending) -> Result<()> {
        // Abandoned flows are dropped whenever a new one starts.
        sqlx::query("DELETE FROM oauth_pending WHERE expires_at < ?")
            .bind(ts(Utc::now()))
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO oauth_pending (state, kind, data, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&p.state)
        .bind(&p.kind)
        .bind(self.sealer.seal_text(p.data.expose())?)
        .bind(ts(p.created_at))
        .bind(ts(p.expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes and returns the pending flow: a state can be used once, even by two instances
    /// racing (the DELETE decides).
    async fn take_oauth_pending(&self, state: &str) -> Result<Option<OAuthPending>> {
        let Some(row) = sqlx::query("DELETE FROM oauth_pending WHERE state = ? RETURNING *")
            .bind(state)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        oauth_pending_from_row(&self.sealer, &row).map(Some)
    }
}
