//! Accounts, account groups, account state, credentials and quota reports in PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::BTreeMap;
use switchyard_core::account::{Account, AccountId, Credentials};

use super::PgStore;
use crate::sql::AccountStore;
use crate::sql::rows::{StoredRow, account_from_row, to_json};
use crate::{AccountGroup, AccountPatch, AccountState, NewAccount, Result, StoreError};

#[async_trait]
impl AccountStore for PgStore {
    async fn create_group(&self, name: &str, description: &str) -> Result<AccountGroup> {
        if !name
            .chars()
            .any(|c| !c.is_ascii_digit() && !c.is_whitespace())
        {
            return Err(StoreError::Invalid(
                "a group name must not be empty or a number".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO account_groups (name, description, created_at) VALUES ($1, $2, $3)",
        )
        .bind(name)
        .bind(description)
        .bind(Utc::now())
        .execute(&self.pool)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("group `{name}` already exists"))
            }
            other => other,
        })?;
        self.find_group(name).await
    }

    async fn list_groups(&self) -> Result<Vec<AccountGroup>> {
        let rows = sqlx::query("SELECT * FROM account_groups ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        let members = sqlx::query(
            "SELECT group_id, account_id FROM account_group_members ORDER BY group_id, account_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut by_group: std::collections::HashMap<i64, Vec<AccountId>> = Default::default();
        for m in &members {
            by_group
                .entry(m.try_get("group_id")?)
                .or_default()
                .push(m.try_get("account_id")?);
        }
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("id")?;
                Ok(AccountGroup {
                    id,
                    name: row.try_get("name")?,
                    description: row.try_get("description")?,
                    account_ids: by_group.remove(&id).unwrap_or_default(),
                    created_at: row.time("created_at")?,
                })
            })
            .collect()
    }

    async fn find_group(&self, selector: &str) -> Result<AccountGroup> {
        let id: Option<i64> = selector.parse().ok();
        self.list_groups()
            .await?
            .into_iter()
            .find(|g| g.name == selector || Some(g.id) == id)
            .ok_or_else(|| StoreError::NotFound(format!("account group `{selector}`")))
    }

    async fn delete_group(&self, id: i64) -> Result<()> {
        let done = sqlx::query("DELETE FROM account_groups WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::Conflict(
                    "API keys are bound to this group; bind them elsewhere first".into(),
                ),
                _ => StoreError::from(e),
            })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("account group {id}")));
        }
        Ok(())
    }

    async fn add_group_member(&self, group: i64, account: AccountId) -> Result<()> {
        sqlx::query(
            "INSERT INTO account_group_members (group_id, account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(group)
        .bind(account)
        .execute(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::NotFound("account or group".into())
            }
            _ => StoreError::from(e),
        })?;
        Ok(())
    }

    async fn remove_group_member(&self, group: i64, account: AccountId) -> Result<()> {
        sqlx::query("DELETE FROM account_group_members WHERE group_id = $1 AND account_id = $2")
            .bind(group)
            .bind(account)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_account(&self, a: NewAccount) -> Result<Account> {
        let kind = a
            .kind
            .ok_or_else(|| StoreError::Invalid("account kind is required".into()))?;
        if a.name.trim().is_empty() {
            return Err(StoreError::Invalid("account name must not be empty".into()));
        }
        let now = Utc::now();
        let name = a.name.clone();
        let row = sqlx::query(
            "INSERT INTO accounts (kind, name, base_url, priority, weight, allowed_models, model_map,
               max_concurrency, proxy_url, extra, credentials, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING *",
        )
        .bind(kind.as_str())
        .bind(&a.name)
        .bind(self.sealer.seal_url(a.base_url.as_deref())?)
        .bind(a.priority.unwrap_or(50))
        .bind(i64::from(a.weight.unwrap_or(1)))
        .bind(to_json(&a.allowed_models)?)
        .bind(to_json(&a.model_map)?)
        .bind(i64::from(a.max_concurrency.unwrap_or(0)))
        .bind(self.sealer.seal_url(a.proxy_url.as_deref())?)
        .bind(to_json(&a.extra)?)
        .bind(self.sealer.seal_credentials(&a.credentials)?)
        .bind(now)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("an account named `{name}` already exists"))
            }
            other => other,
        })?;
        account_from_row(&self.sealer, &row)
    }

    async fn list_accounts(&self) -> Result<Vec<Account>> {
        let rows = sqlx::query("SELECT * FROM accounts ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| account_from_row(&self.sealer, r))
            .collect()
    }

    async fn find_account(&self, selector: &str) -> Result<Account> {
        let id: Option<i64> = selector.parse().ok();
        let row = sqlx::query(
            "SELECT * FROM accounts WHERE name = $1 OR id = $2 ORDER BY name = $3 DESC LIMIT 1",
        )
        .bind(selector)
        .bind(id)
        .bind(selector)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("account `{selector}`")))?;
        account_from_row(&self.sealer, &row)
    }

    async fn update_account(&self, id: AccountId, p: AccountPatch) -> Result<Account> {
        let mut a = self.account_by_id(id).await?;
        if let Some(v) = p.name {
            a.name = v;
        }
        if let Some(v) = p.base_url {
            a.base_url = v;
        }
        if let Some(v) = p.priority {
            a.priority = v;
        }
        if let Some(v) = p.weight {
            a.weight = v;
        }
        if let Some(v) = p.allowed_models {
            a.allowed_models = v;
        }
        if let Some(v) = p.model_map {
            a.model_map = v;
        }
        if let Some(v) = p.max_concurrency {
            a.max_concurrency = v;
        }
        if let Some(v) = p.proxy_url {
            a.proxy_url = v;
        }
        if let Some(v) = p.extra {
            a.extra = v;
        }
        if let Some(v) = p.credentials {
            a.credentials = v;
        }
        sqlx::query(
            "UPDATE accounts SET name = $1, base_url = $2, priority = $3, weight = $4, allowed_models = $5, model_map = $6,
               max_concurrency = $7, proxy_url = $8, extra = $9, credentials = $10, updated_at = $11 WHERE id = $12",
        )
        .bind(&a.name)
        .bind(self.sealer.seal_url(a.base_url.as_deref())?)
        .bind(a.priority)
        .bind(i64::from(a.weight))
        .bind(to_json(&a.allowed_models)?)
        .bind(to_json(&a.model_map)?)
        .bind(i64::from(a.max_concurrency))
        .bind(self.sealer.seal_url(a.proxy_url.as_deref())?)
        .bind(to_json(&a.extra)?)
        .bind(self.sealer.seal_credentials(&a.credentials)?)
        .bind(Utc::now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        self.account_by_id(id).await
    }

    async fn remove_account(&self, id: AccountId) -> Result<()> {
        let done = sqlx::query("DELETE FROM accounts WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::Conflict(
                    "API keys are bound to this account; bind them elsewhere first".into(),
                ),
                _ => StoreError::from(e),
            })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("account {id}")));
        }
        Ok(())
    }

    async fn set_account_state(&self, id: AccountId, s: &AccountState) -> Result<()> {
        sqlx::query(
            "UPDATE accounts SET status = $1, status_reason = $2, status_until = $3, consecutive_errors = $4, updated_at = $5
             WHERE id = $6 AND NOT (status = 'disabled' AND COALESCE(status_reason, '') <> $7)",
        )
        .bind(s.status.as_str())
        .bind(&s.reason)
        .bind(s.until)
        .bind(i64::from(s.consecutive_errors))
        .bind(Utc::now())
        .bind(id)
        // Account::is_operator_disabled, said again in SQL so an operator disable made
        // concurrently still wins: only the health check's own disable may be undone.
        .bind(switchyard_core::account::HEALTH_CHECK_REASON)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_account_state_by_operator(&self, id: AccountId, s: &AccountState) -> Result<()> {
        sqlx::query(
            "UPDATE accounts SET status = $1, status_reason = $2, status_until = $3, consecutive_errors = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(s.status.as_str())
        .bind(&s.reason)
        .bind(s.until)
        .bind(i64::from(s.consecutive_errors))
        .bind(Utc::now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_account_check(
        &self,
        id: AccountId,
        at: DateTime<Utc>,
        result: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE accounts SET last_check_at = $1, last_check_result = $2 WHERE id = $3")
            .bind(at)
            .bind(result)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_account_credentials(&self, id: AccountId, creds: &Credentials) -> Result<()> {
        sqlx::query("UPDATE accounts SET credentials = $1, updated_at = $2 WHERE id = $3")
            .bind(self.sealer.seal_credentials(creds)?)
            .bind(Utc::now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_account_quota(&self, id: AccountId, data: &serde_json::Value) -> Result<()> {
        sqlx::query(
            "INSERT INTO account_quota (account_id, data, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (account_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(to_json(data)?)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn account_quotas(&self) -> Result<BTreeMap<AccountId, serde_json::Value>> {
        let rows = sqlx::query("SELECT account_id, data FROM account_quota")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.int("account_id")?, r.json("data")?)))
            .collect()
    }
}

impl PgStore {
    async fn account_by_id(&self, id: AccountId) -> Result<Account> {
        let row = sqlx::query("SELECT * FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("account {id}")))?;
        account_from_row(&self.sealer, &row)
    }
}
