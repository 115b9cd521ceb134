//! Usage records and spend sums in PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::PgStore;
use crate::sql::UsageStore;
use crate::sql::rows::usage_from_row;
use crate::{Result, Spend, SpendSums, StoredUsage, UsageFilter, UsageRecord};

#[async_trait]
impl UsageStore for PgStore {
    async fn insert_usage(&self, records: &[UsageRecord]) -> Result<()> {
        // One multi-row INSERT per 1,000 records (23,000 parameters, under PostgreSQL's
        // 65,535), all in one transaction: a batch is stored whole or not at all, and the
        // writer retries it whole. A failed transaction is rolled back when dropped.
        let mut tx = self.pool.begin().await?;
        for chunk in records.chunks(1000) {
            insert_usage_rows(&mut tx, chunk).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn recent_usage(&self, limit: u32) -> Result<Vec<UsageRecord>> {
        let rows = sqlx::query("SELECT * FROM usage_records ORDER BY id DESC LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(usage_from_row).collect()
    }

    async fn recent_usage_for_key(&self, key_id: i64, limit: u32) -> Result<Vec<UsageRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM usage_records WHERE api_key_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(key_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(usage_from_row).collect()
    }

    async fn spend(&self, day_start: DateTime<Utc>, week_start: DateTime<Utc>) -> Result<Spend> {
        let mut spend = Spend::default();
        // COALESCE: a sum over only NULL costs (unpriced models) is NULL, and counts as 0.
        const BY_KEY: &str = "SELECT api_key_id AS owner,
               COALESCE(SUM(cost_usd) FILTER (WHERE created_at >= $1), 0) AS day,
               COALESCE(SUM(cost_usd) FILTER (WHERE created_at >= $2), 0) AS week,
               COALESCE(SUM(cost_usd), 0) AS total
             FROM usage_records WHERE api_key_id IS NOT NULL GROUP BY api_key_id";
        const BY_USER: &str = "SELECT user_id AS owner,
               COALESCE(SUM(cost_usd) FILTER (WHERE created_at >= $1), 0) AS day,
               COALESCE(SUM(cost_usd) FILTER (WHERE created_at >= $2), 0) AS week,
               COALESCE(SUM(cost_usd), 0) AS total
             FROM usage_records WHERE user_id IS NOT NULL GROUP BY user_id";
        for (sql, target) in [(BY_KEY, &mut spend.keys), (BY_USER, &mut spend.users)] {
            let rows = sqlx::query(sql)
                .bind(day_start)
                .bind(week_start)
                .fetch_all(&self.pool)
                .await?;
            for row in &rows {
                target.insert(
                    row.try_get("owner")?,
                    SpendSums {
                        day_usd: row.try_get("day")?,
                        week_usd: row.try_get("week")?,
                        total_usd: row.try_get("total")?,
                    },
                );
            }
        }
        Ok(spend)
    }

    async fn usage_page(&self, f: &UsageFilter, limit: u32) -> Result<Vec<StoredUsage>> {
        // Each condition is either switched off by a NULL parameter or applied, so one
        // prepared statement serves every filter combination.
        let rows = sqlx::query(
            "SELECT * FROM usage_records WHERE
               ($1 IS NULL OR created_at >= $1) AND ($2 IS NULL OR created_at < $2)
               AND ($3 IS NULL OR api_key_id = $3) AND ($4 IS NULL OR user_id = $4)
               AND ($5 IS NULL OR account_id = $5)
               AND ($6 IS NULL OR requested_model = $6 OR upstream_model = $6)
               AND ($7 IS NULL OR status = $7) AND ($8 IS NULL OR id < $8)
               AND ($10 IS NULL OR dialect = $10)
             ORDER BY id DESC LIMIT $9",
        )
        .bind(f.from)
        .bind(f.to)
        .bind(f.api_key_id)
        .bind(f.user_id)
        .bind(f.account_id)
        .bind(f.model.as_deref())
        .bind(f.status.map(i64::from))
        .bind(f.before_id)
        .bind(i64::from(limit))
        .bind(f.dialect.as_deref())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredUsage {
                    id: row.try_get("id")?,
                    record: usage_from_row(row)?,
                })
            })
            .collect()
    }
}

/// One multi-row INSERT of `records` on `conn`.
async fn insert_usage_rows(conn: &mut sqlx::PgConnection, records: &[UsageRecord]) -> Result<()> {
    let mut q: sqlx::QueryBuilder<sqlx::Postgres> = sqlx::QueryBuilder::new(
            "INSERT INTO usage_records (created_at, request_id, api_key_id, user_id, account_id, dialect, endpoint,
               requested_model, upstream_model, input_tokens, output_tokens, cache_creation_5m_tokens,
               cache_creation_1h_tokens, cache_read_tokens, reasoning_tokens, cost_usd, stream, status,
               error_kind, attempts, ttfb_ms, duration_ms, session_hash, dropped_fields) ",
        );
    q.push_values(records, |mut row, r| {
        row.push_bind(r.created_at)
            .push_bind(r.request_id.clone())
            .push_bind(r.api_key_id)
            .push_bind(r.user_id)
            .push_bind(r.account_id)
            .push_bind(r.dialect.clone())
            .push_bind(r.endpoint.clone())
            .push_bind(r.requested_model.clone())
            .push_bind(r.upstream_model.clone())
            .push_bind(r.usage.input_tokens as i64)
            .push_bind(r.usage.output_tokens as i64)
            .push_bind(r.usage.cache_creation_5m_tokens as i64)
            .push_bind(r.usage.cache_creation_1h_tokens as i64)
            .push_bind(r.usage.cache_read_tokens as i64)
            .push_bind(r.usage.reasoning_tokens as i64)
            .push_bind(r.cost_usd)
            .push_bind(r.stream)
            .push_bind(i64::from(r.status))
            .push_bind(r.error_kind.clone())
            .push_bind(i64::from(r.attempts))
            .push_bind(r.ttfb_ms.map(|v| v as i64))
            .push_bind(r.duration_ms as i64)
            .push_bind(r.session_hash.clone())
            .push_bind(r.dropped_fields.clone());
    });
    q.build().execute(&mut *conn).await?;
    Ok(())
}
