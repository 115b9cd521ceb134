//! SQLite queries for named proxies and pending OAuth sign-ins (migration 0006). Kept apart
//! from `sqlite.rs` so each file holds one domain; the `Store` impl delegates here.

use chrono::Utc;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};
use switchyard_core::Secret;

use super::{parse_ts, ts};
use crate::{MasterKey, OAuthPending, ProxyRecord, Result, StoreError};

fn proxy_from_row(key: &MasterKey, row: &SqliteRow) -> Result<ProxyRecord> {
    let sealed: String = row.try_get("url")?;
    let url = String::from_utf8(key.decrypt(&sealed)?)
        .map_err(|_| StoreError::Crypto("stored proxy URL is not UTF-8".into()))?;
    Ok(ProxyRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        url: Secret::new(url),
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(&row.try_get::<String, _>("updated_at")?)?,
    })
}

pub(super) async fn create_proxy(
    pool: &SqlitePool,
    key: &MasterKey,
    name: &str,
    url: &str,
) -> Result<ProxyRecord> {
    let now = ts(Utc::now());
    let row = sqlx::query(
        "INSERT INTO proxies (name, url, created_at, updated_at) VALUES (?, ?, ?, ?) RETURNING *",
    )
    .bind(name)
    .bind(key.encrypt(url.as_bytes())?)
    .bind(&now)
    .bind(&now)
    .fetch_one(pool)
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(format!("proxy `{name}` already exists")),
        other => other,
    })?;
    proxy_from_row(key, &row)
}

pub(super) async fn list_proxies(pool: &SqlitePool, key: &MasterKey) -> Result<Vec<ProxyRecord>> {
    let rows = sqlx::query("SELECT * FROM proxies ORDER BY name")
        .fetch_all(pool)
        .await?;
    rows.iter().map(|r| proxy_from_row(key, r)).collect()
}

pub(super) async fn set_proxy_url(
    pool: &SqlitePool,
    key: &MasterKey,
    name: &str,
    url: &str,
) -> Result<ProxyRecord> {
    let row = sqlx::query("UPDATE proxies SET url = ?, updated_at = ? WHERE name = ? RETURNING *")
        .bind(key.encrypt(url.as_bytes())?)
        .bind(ts(Utc::now()))
        .bind(name)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("proxy `{name}`")))?;
    proxy_from_row(key, &row)
}

/// Deletes the proxy and, in the same transaction, points the accounts that named it at
/// `reassign` (`None`: no proxy of their own, so `default_proxy` applies).
pub(super) async fn delete_proxy(
    pool: &SqlitePool,
    name: &str,
    reassign: Option<&str>,
) -> Result<u64> {
    let mut tx = pool.begin().await?;
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

pub(super) async fn put_oauth_pending(
    pool: &SqlitePool,
    key: &MasterKey,
    p: &OAuthPending,
) -> Result<()> {
    // Abandoned flows are dropped whenever a new one starts.
    sqlx::query("DELETE FROM oauth_pending WHERE expires_at < ?")
        .bind(ts(Utc::now()))
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO oauth_pending (state, kind, data, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&p.state)
    .bind(&p.kind)
    .bind(key.encrypt(p.data.expose().as_bytes())?)
    .bind(ts(p.created_at))
    .bind(ts(p.expires_at))
    .execute(pool)
    .await?;
    Ok(())
}

/// Removes and returns the pending flow: a state can be used once, even by two instances
/// racing (the DELETE decides).
pub(super) async fn take_oauth_pending(
    pool: &SqlitePool,
    key: &MasterKey,
    state: &str,
) -> Result<Option<OAuthPending>> {
    let Some(row) = sqlx::query("DELETE FROM oauth_pending WHERE state = ? RETURNING *")
        .bind(state)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let sealed: String = row.try_get("data")?;
    let data = String::from_utf8(key.decrypt(&sealed)?)
        .map_err(|_| StoreError::Crypto("stored OAuth flow is not UTF-8".into()))?;
    let expires: String = row.try_get("expires_at")?;
    let created: String = row.try_get("created_at")?;
    Ok(Some(OAuthPending {
        state: row.try_get("state")?,
        kind: row.try_get("kind")?,
        data: Secret::new(data),
        created_at: parse_ts(&created)?,
        expires_at: parse_ts(&expires)?,
    }))
}
