//! Users and API keys in SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use switchyard_core::key::{ApiKey, KeyPolicy, UserLimits};

use super::SqliteStore;
use super::{returned_one, returned_optional};
use crate::sql::rows::{key_from_row, to_json, user_from_row};
use crate::sql::{KeyStore, ts};
use crate::{NewApiKey, Result, StoreError, User};

#[async_trait]
impl KeyStore for SqliteStore {
    async fn create_user(
        &self,
        name: &str,
        role: &str,
        password_hash: Option<&str>,
    ) -> Result<User> {
        if role != "admin" && role != "user" {
            return Err(StoreError::Invalid(format!(
                "unknown role `{role}` (expected admin or user)"
            )));
        }
        let now = ts(Utc::now());
        let row = sqlx::query(
            "INSERT INTO users (name, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(name)
        .bind(role)
        .bind(password_hash)
        .bind(&now)
        .bind(&now)
        .fetch_all(&self.pool)
        .await
        .and_then(returned_one)
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("user `{name}` already exists")),
            other => other,
        })?;
        user_from_row(&row)
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn set_user_password(&self, name: &str, password_hash: &str) -> Result<()> {
        let done = sqlx::query("UPDATE users SET password_hash = ?, updated_at = ? WHERE name = ?")
            .bind(password_hash)
            .bind(ts(Utc::now()))
            .bind(name)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user `{name}`")));
        }
        Ok(())
    }

    async fn set_user_status(&self, name: &str, status: &str) -> Result<User> {
        if status != "active" && status != "disabled" {
            return Err(StoreError::Invalid(format!(
                "unknown user status `{status}` (expected active or disabled)"
            )));
        }
        let row =
            sqlx::query("UPDATE users SET status = ?, updated_at = ? WHERE name = ? RETURNING *")
                .bind(status)
                .bind(ts(Utc::now()))
                .bind(name)
                .fetch_all(&self.pool)
                .await
                .map(returned_optional)?
                .ok_or_else(|| StoreError::NotFound(format!("user `{name}`")))?;
        user_from_row(&row)
    }

    async fn set_user_limits(&self, name: &str, l: &UserLimits) -> Result<User> {
        l.validate()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let row = sqlx::query(
            "UPDATE users SET concurrency_limit = ?, daily_cost_limit_usd = ?, weekly_cost_limit_usd = ?,
               total_cost_limit_usd = ?, updated_at = ? WHERE name = ? RETURNING *",
        )
        .bind(i64::from(l.concurrency_limit))
        .bind(l.daily_cost_limit_usd)
        .bind(l.weekly_cost_limit_usd)
        .bind(l.total_cost_limit_usd)
        .bind(ts(Utc::now()))
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map(returned_optional)?
        .ok_or_else(|| StoreError::NotFound(format!("user `{name}`")))?;
        user_from_row(&row)
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn set_user_role(&self, name: &str, role: &str) -> Result<User> {
        if role != "admin" && role != "user" {
            return Err(StoreError::Invalid(format!(
                "unknown role `{role}` (expected admin or user)"
            )));
        }
        let row =
            sqlx::query("UPDATE users SET role = ?, updated_at = ? WHERE name = ? RETURNING *")
                .bind(role)
                .bind(ts(Utc::now()))
                .bind(name)
                .fetch_all(&self.pool)
                .await
                .map(returned_optional)?
                .ok_or_else(|| StoreError::NotFound(format!("user `{name}`")))?;
        user_from_row(&row)
    }

    async fn delete_user(&self, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM users WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.message().contains("FOREIGN KEY") => {
                    StoreError::Conflict(format!(
                        "user `{name}` still owns API keys; delete or move them first"
                    ))
                }
                _ => StoreError::from(e),
            })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user `{name}`")));
        }
        Ok(())
    }

    async fn create_key(&self, key: NewApiKey) -> Result<ApiKey> {
        validate_policy(&key.policy)?;
        let row = sqlx::query(
            "INSERT INTO api_keys (user_id, name, prefix, key_hash, created_at) VALUES (?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(key.user_id)
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(&key.hash)
        .bind(ts(Utc::now()))
        .fetch_all(&self.pool)
        .await
        .and_then(returned_one)?;
        let created = key_from_row(&row)?;
        match self.set_key_policy(created.id, &key.policy).await {
            Ok(k) => Ok(k),
            Err(e) => {
                // Never leave a key behind without the policy it was created with.
                sqlx::query("DELETE FROM api_keys WHERE id = ?")
                    .bind(created.id)
                    .execute(&self.pool)
                    .await?;
                Err(e)
            }
        }
    }

    async fn list_keys(&self) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query("SELECT * FROM api_keys ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_key(&self, selector: &str) -> Result<ApiKey> {
        let key = self.find_key(selector).await?;
        let row = sqlx::query("UPDATE api_keys SET status = 'revoked' WHERE id = ? RETURNING *")
            .bind(key.id)
            .fetch_all(&self.pool)
            .await
            .and_then(returned_one)?;
        key_from_row(&row)
    }

    async fn find_key(&self, selector: &str) -> Result<ApiKey> {
        let id: Option<i64> = selector.parse().ok();
        let rows = sqlx::query("SELECT * FROM api_keys WHERE id = ? OR prefix = ? OR name = ?")
            .bind(id)
            .bind(selector)
            .bind(selector)
            .fetch_all(&self.pool)
            .await?;
        match rows.as_slice() {
            [] => Err(StoreError::NotFound(format!("key `{selector}`"))),
            [one] => key_from_row(one),
            _ => Err(StoreError::Conflict(format!(
                "`{selector}` matches {} keys; use the key's id",
                rows.len()
            ))),
        }
    }

    async fn set_key_policy(&self, id: i64, p: &KeyPolicy) -> Result<ApiKey> {
        validate_policy(p)?;
        let row = sqlx::query(
            "UPDATE api_keys SET expires_at = ?, expires_after_seconds = ?, allowed_models = ?,
               allowed_dialects = ?, allowed_clients = ?, concurrency_limit = ?, rate_limit_per_minute = ?,
               tokens_per_minute = ?, daily_cost_limit_usd = ?, weekly_cost_limit_usd = ?,
               total_cost_limit_usd = ?, bound_account_id = ?, bound_group_id = ?, pool_fallback = ?, cross_dialect = ?
             WHERE id = ? RETURNING *",
        )
        .bind(p.expires_at.map(ts))
        .bind(p.expires_after_seconds)
        .bind(to_json(&p.allowed_models)?)
        .bind(to_json(&p.allowed_dialects)?)
        .bind(to_json(&p.allowed_clients)?)
        .bind(i64::from(p.concurrency_limit))
        .bind(i64::from(p.rate_limit_per_minute))
        .bind(p.tokens_per_minute.min(i64::MAX as u64) as i64)
        .bind(p.daily_cost_limit_usd)
        .bind(p.weekly_cost_limit_usd)
        .bind(p.total_cost_limit_usd)
        .bind(p.bound_account_id)
        .bind(p.bound_group_id)
        .bind(i64::from(p.pool_fallback))
        .bind(p.cross_dialect.map(|c| c.as_str()))
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map(returned_optional)
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.message().contains("FOREIGN KEY") => {
                StoreError::Invalid("the bound account or group does not exist".into())
            }
            _ => StoreError::from(e),
        })?
        .ok_or_else(|| StoreError::NotFound(format!("key {id}")))?;
        key_from_row(&row)
    }

    async fn set_key_first_used(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE api_keys SET first_used_at = ? WHERE id = ? AND first_used_at IS NULL")
            .bind(ts(at))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn rotate_key(&self, id: i64, prefix: &str, hash: &str) -> Result<ApiKey> {
        let row =
            sqlx::query("UPDATE api_keys SET prefix = ?, key_hash = ? WHERE id = ? RETURNING *")
                .bind(prefix)
                .bind(hash)
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map(returned_optional)?
                .ok_or_else(|| StoreError::NotFound(format!("key {id}")))?;
        // The hash is not a policy column, so bump the change counter here: the old secret
        // must stop working on running servers.
        sqlx::query("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'")
            .execute(&self.pool)
            .await?;
        key_from_row(&row)
    }
}

fn validate_policy(p: &KeyPolicy) -> Result<()> {
    p.validate().map_err(|e| StoreError::Invalid(e.to_string()))
}
