//! `switchyard store copy`: moves a single-instance installation (SQLite) into an empty
//! PostgreSQL database, secrets and usage included, so it can grow into several instances.
//!
//! Both schemas are the same tables and columns (ADR 0013), so the copy goes table by table
//! in dependency order, inside one PostgreSQL transaction: each value is read from SQLite as
//! text and cast to the PostgreSQL column's type (`'1'::bool`, an RFC 3339 text to
//! `timestamptz`, …). Sealed secrets are copied as they are: the destination must be used
//! with the same master key, which opening it with that key records. Ids are kept (keys,
//! usage and audit refer to them); identity sequences continue after the largest. After the
//! commit every table's row count is compared.

use sqlx::Row;
use std::path::Path;

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use crate::{MasterKey, Result, StoreError};

/// Every table, parents before children. A table the destination has and this list lacks
/// stops the copy (a new table must be added here, not silently left behind).
const TABLES: &[&str] = &[
    "meta",
    "users",
    "accounts",
    "account_groups",
    "account_group_members",
    "api_keys",
    "settings",
    "prices",
    "proxies",
    "account_quota",
    "usage_records",
    "audit_log",
    "admin_sessions",
    "oauth_pending",
];

/// Tables whose rows make a database "in use" (the destination must have none).
const CONTENT: &[&str] = &["users", "accounts", "api_keys", "usage_records"];

/// PostgreSQL allows 65,535 bind parameters per statement.
const MAX_PARAMS: usize = 60_000;

/// Rows copied, per table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopiedTable {
    pub table: &'static str,
    pub rows: u64,
}

/// Copies the SQLite database at `from` into the empty PostgreSQL database at `to`; both are
/// opened (and migrated to this build's schema) with `key`.
pub async fn sqlite_to_postgres(from: &Path, to: &str, key: MasterKey) -> Result<Vec<CopiedTable>> {
    if !from.exists() {
        return Err(StoreError::Config(format!(
            "{} does not exist (nothing to copy)",
            from.display()
        )));
    }
    let source = SqliteStore::open(from, key.clone()).await?;
    let dest = PgStore::open(to, key).await?;
    let copied = copy(&source, &dest).await;
    source.pool.close().await;
    dest.pool.close().await;
    copied
}

async fn copy(source: &SqliteStore, dest: &PgStore) -> Result<Vec<CopiedTable>> {
    let present: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
           AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&dest.pool)
    .await?;
    if let Some(unknown) = present.iter().find(|t| !TABLES.contains(&t.as_str())) {
        return Err(StoreError::Database(format!(
            "the destination has a table `{unknown}` this copy does not know"
        )));
    }
    for table in CONTENT {
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&dest.pool)
                .await?;
        if n > 0 {
            return Err(StoreError::Config(format!(
                "the destination already holds data ({n} rows in {table}): copy into an empty database"
            )));
        }
    }
    let mut tx = dest.pool.begin().await?;
    for table in TABLES {
        // Rows the destination made when it was opened (its master-key check, the change
        // counter) give way to the source's.
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
            .execute(&mut *tx)
            .await?;
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::text, udt_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&mut *tx)
        .await?;
        let select = columns
            .iter()
            .map(|(name, _)| format!("CAST({name} AS TEXT)"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {select} FROM {table}")))
            .fetch_all(&source.pool)
            .await
            .map_err(|e| StoreError::Database(format!("reading {table} from SQLite: {e}")))?;
        let per_statement = (MAX_PARAMS / columns.len().max(1)).max(1);
        for chunk in rows.chunks(per_statement) {
            let mut sql = format!(
                "INSERT INTO {table} ({}) VALUES ",
                columns
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let mut n = 0;
            for (r, _) in chunk.iter().enumerate() {
                sql.push_str(if r == 0 { "(" } else { ", (" });
                for (c, (_, udt)) in columns.iter().enumerate() {
                    n += 1;
                    if c > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!("${n}::{udt}"));
                }
                sql.push(')');
            }
            let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
            for row in chunk {
                for c in 0..columns.len() {
                    let value: Option<String> = row.try_get(c)?;
                    insert = insert.bind(value);
                }
            }
            insert
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::Database(format!("writing {table} to PostgreSQL: {e}")))?;
        }
        if columns.iter().any(|(name, _)| name == "id") {
            // New rows continue after the copied ids.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                               COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )))
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    let mut copied = Vec::new();
    for table in TABLES {
        let count = format!("SELECT COUNT(*) FROM {table}");
        let from: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count.clone()))
            .fetch_one(&source.pool)
            .await?;
        let to: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count))
            .fetch_one(&dest.pool)
            .await?;
        // The destination's own meta rows may outnumber the source's (an old SQLite file).
        if from != to && *table != "meta" {
            return Err(StoreError::Database(format!(
                "{table}: {from} rows in SQLite but {to} in PostgreSQL after the copy"
            )));
        }
        copied.push(CopiedTable {
            table,
            rows: to as u64,
        });
    }
    Ok(copied)
}
