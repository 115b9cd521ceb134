//! Runtime settings and price overrides in SQLite.

use async_trait::async_trait;
use chrono::Utc;
use sqlx::Row;
use std::collections::BTreeMap;
use switchyard_core::pricing::ModelPrice;

use super::SqliteStore;
use crate::Result;
use crate::sql::rows::{StoredRow, to_json};
use crate::sql::{SettingsStore, ts};

#[async_trait]
impl SettingsStore for SqliteStore {
    async fn settings(&self) -> Result<BTreeMap<String, String>> {
        let rows = sqlx::query("SELECT key, value FROM settings")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("key")?, r.try_get("value")?)))
            .collect()
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value)
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn reset_setting(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM settings WHERE key = ?")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn price_overrides(&self) -> Result<BTreeMap<String, ModelPrice>> {
        let rows = sqlx::query("SELECT model, price FROM prices")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let model: String = r.try_get("model")?;
                let price: ModelPrice = r.json("price")?;
                Ok((model, price))
            })
            .collect()
    }

    async fn set_price(&self, model: &str, price: &ModelPrice) -> Result<()> {
        sqlx::query(
            "INSERT INTO prices (model, price, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (model) DO UPDATE SET price = excluded.price, updated_at = excluded.updated_at",
        )
        .bind(model)
        .bind(to_json(price)?)
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_price(&self, model: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM prices WHERE model = ?")
            .bind(model)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
