//! Usage records and spend sums in SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::SqliteStore;
use crate::sql::rows::usage_from_row;
use crate::sql::{UsageStore, ts};
use crate::{Result, Spend, SpendSums, StoredUsage, UsageFilter, UsageRecord};

#[async_trait]
impl UsageStore for SqliteStore {
    async fn insert_usage(&self, records: &[UsageRecord]) -> Result<()> {
        // One multi-row INSERT per chunk: SQLite runs on sqlx's worker thread, so every
        // statement is a thread hand-off; a row each would make the writer the busiest thread
        // of a loaded relay. 23 columns x 400 rows stays under SQLite's 32,766 parameters.
        // A write that fails (disk full, I/O error) may leave its connection inside a
        // transaction SQLite did not roll back; pooled again, later inserts would "succeed"
        // inside it and never commit. So the connection of a failed write is closed, never
        // reused, and every retry starts on a fresh one.
        let mut conn = self.pool.acquire().await?;
        let written = insert_usage_rows(&mut conn, records).await;
        if written.is_err() {
            conn.close_on_drop();
        }
        written
    }

    async fn recent_usage(&self, limit: u32) -> Result<Vec<UsageRecord>> {
        let rows = sqlx::query("SELECT * FROM usage_records ORDER BY id DESC LIMIT ?")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(usage_from_row).collect()
    }

    async fn recent_usage_for_key(&self, key_id: i64, limit: u32) -> Result<Vec<UsageRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM usage_records WHERE api_key_id = ? ORDER BY id DESC LIMIT ?",
        )
        .bind(key_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(usage_from_row).collect()
    }

    async fn spend(&self, day_start: DateTime<Utc>, week_start: DateTime<Utc>) -> Result<Spend> {
        let mut spend = Spend::default();
        // created_at is RFC 3339 UTC text, so text comparison orders by time. TOTAL, not SUM:
        // it is 0.0 (a REAL) when every cost is NULL (unpriced models), where SUM gives NULL
        // and a COALESCE to 0 an INTEGER the f64 column cannot be read as.
        const BY_KEY: &str = "SELECT api_key_id AS owner,
               TOTAL(CASE WHEN created_at >= ? THEN cost_usd END) AS day,
               TOTAL(CASE WHEN created_at >= ? THEN cost_usd END) AS week,
               TOTAL(cost_usd) AS total
             FROM usage_records WHERE api_key_id IS NOT NULL GROUP BY api_key_id";
        const BY_USER: &str = "SELECT user_id AS owner,
               TOTAL(CASE WHEN created_at >= ? THEN cost_usd END) AS day,
               TOTAL(CASE WHEN created_at >= ? THEN cost_usd END) AS week,
               TOTAL(cost_usd) AS total
             FROM usage_records WHERE user_id IS NOT NULL GROUP BY user_id";
        for (sql, target) in [(BY_KEY, &mut spend.keys), (BY_USER, &mut spend.users)] {
            let rows = sqlx::query(sql)
                .bind(ts(day_start))
                .bind(ts(week_start))
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
               (?1 IS NULL OR created_at >= ?1) AND (?2 IS NULL OR created_at < ?2)
               AND (?3 IS NULL OR api_key_id = ?3) AND (?4 IS NULL OR user_id = ?4)
               AND (?5 IS NULL OR account_id = ?5)
               AND (?6 IS NULL OR requested_model = ?6 OR upstream_model = ?6)
               AND (?7 IS NULL OR status = ?7) AND (?8 IS NULL OR id < ?8)
               AND (?10 IS NULL OR dialect = ?10)
             ORDER BY id DESC LIMIT ?9",
        )
        .bind(f.from.map(ts))
        .bind(f.to.map(ts))
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

/// One multi-row INSERT per chunk, in one transaction on `conn`.
async fn insert_usage_rows(
    conn: &mut sqlx::SqliteConnection,
    records: &[UsageRecord],
) -> Result<()> {
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    for chunk in records.chunks(400) {
        let mut q: sqlx::QueryBuilder<sqlx::Sqlite> = sqlx::QueryBuilder::new(
            "INSERT INTO usage_records (created_at, request_id, api_key_id, user_id, account_id, dialect, endpoint,
               requested_model, upstream_model, input_tokens, output_tokens, cache_creation_5m_tokens,
               cache_creation_1h_tokens, cache_read_tokens, reasoning_tokens, cost_usd, stream, status,
               error_kind, attempts, ttfb_ms, duration_ms, session_hash, dropped_fields) ",
        );
        q.push_values(chunk, |mut row, r| {
            row.push_bind(ts(r.created_at))
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
                .push_bind(i64::from(r.stream))
                .push_bind(i64::from(r.status))
                .push_bind(r.error_kind.clone())
                .push_bind(i64::from(r.attempts))
                .push_bind(r.ttfb_ms.map(|v| v as i64))
                .push_bind(r.duration_ms as i64)
                .push_bind(r.session_hash.clone())
                .push_bind(r.dropped_fields.clone());
        });
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}
