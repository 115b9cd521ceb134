//! Runtime settings and price overrides in PostgreSQL.

use async_trait::async_trait;
use chrono::Utc;
use sqlx::Row;
use std::collections::BTreeMap;
use switchyard_core::pricing::ModelPrice;

use super::PgStore;
use crate::Result;
use crate::sql::SettingsStore;
use crate::sql::rows::{StoredRow, to_json};

#[async_trait]
impl SettingsStore for PgStore {
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
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn reset_setting(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM settings WHERE key = $1")
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
            "INSERT INTO prices (model, price, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (model) DO UPDATE SET price = excluded.price, updated_at = excluded.updated_at",
        )
        .bind(model)
        .bind(to_json(price)?)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_price(&self, model: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM prices WHERE model = $1")
            .bind(model)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
