//! Named proxies and pending OAuth sign-ins in PostgreSQL (migration 0006).

use async_trait::async_trait;
use chrono::Utc;

use super::PgStore;
use crate::sql::OnboardingStore;
use crate::sql::rows::{oauth_pending_from_row, proxy_from_row};
use crate::{OAuthPending, ProxyRecord, Result, StoreError};

#[async_trait]
impl OnboardingStore for PgStore {
    async fn create_proxy(&self, name: &str, url: &str) -> Result<ProxyRecord> {
        let now = Utc::now();
        let row = sqlx::query(
            "INSERT INTO proxies (name, url, created_at, updated_at) VALUES ($1, $2, $3, $4) RETURNING *",
        )
        .bind(name)
        .bind(self.sealer.seal_text(url)?)
        .bind(now)
        .bind(now)
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
            sqlx::query("UPDATE proxies SET url = $1, updated_at = $2 WHERE name = $3 RETURNING *")
                .bind(self.sealer.seal_text(url)?)
                .bind(Utc::now())
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
            sqlx::query("UPDATE accounts SET proxy_url = $1, updated_at = $2 WHERE proxy_url = $3")
                .bind(reassign)
                .bind(Utc::now())
                .bind(name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let gone = sqlx::query("DELETE FROM proxies WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone == 0 {
            // Rolled back here, not when the transaction is dropped: a dropped one stays open
            // (holding its row locks) until its connection is next used.
            tx.rollback().await?;
            return Err(StoreError::NotFound(format!("proxy `{name}`")));
        }
        tx.commit().await?;
        Ok(moved)
    }

    async fn put_oauth_pending(&self, p: &OAuthPending) -> Result<()> {
        // Abandoned flows are dropped whenever a new one starts.
        sqlx::query("DELETE FROM oauth_pending WHERE expires_at < $1")
            .bind(Utc::now())
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO oauth_pending (state, kind, data, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&p.state)
        .bind(&p.kind)
        .bind(self.sealer.seal_text(p.data.expose())?)
        .bind(p.created_at)
        .bind(p.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes and returns the pending flow: a state can be used once, even by two instances
    /// racing (the DELETE decides).
    async fn take_oauth_pending(&self, state: &str) -> Result<Option<OAuthPending>> {
        let Some(row) = sqlx::query("DELETE FROM oauth_pending WHERE state = $1 RETURNING *")
            .bind(state)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        oauth_pending_from_row(&self.sealer, &row).map(Some)
    }
}
