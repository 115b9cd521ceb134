//! The embedded SQLite store (WAL mode), the zero-setup default.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use switchyard_core::account::{Account, AccountId, AccountKind, AccountStatus, Credentials};
use switchyard_core::key::{ApiKey, KeyPolicy, KeyStatus, UserLimits};
use switchyard_core::pricing::ModelPrice;
use switchyard_core::{Secret, TokenUsage};

use super::{Store, onboarding, parse_ts, ts};
use crate::{
    AccountGroup, AccountPatch, AccountState, AdminSession, AuditEntry, MasterKey, NewAccount,
    NewApiKey, OAuthPending, ProxyRecord, Result, Spend, SpendSums, StoreError, StoredUsage,
    UsageFilter, UsageRecord, User,
};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_init.sql")),
    (2, include_str!("../../migrations/0002_account_quota.sql")),
    (
        3,
        include_str!("../../migrations/0003_key_policy_groups.sql"),
    ),
    (4, include_str!("../../migrations/0004_admin_sessions.sql")),
    (6, include_str!("../../migrations/0006_proxies_oauth.sql")),
];
/// A known plain text, encrypted on first start, that proves the master key on later starts.
const KEY_CHECK: &str = "switchyard-master-key-check";

pub struct SqliteStore {
    pool: SqlitePool,
    key: MasterKey,
}

/// The stored (then encrypted) form of [`Credentials`]: plain strings, never logged.
#[derive(Serialize, Deserialize, Default)]
struct PlainCredentials {
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aws_access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aws_secret_access_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aws_session_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

/// The database holds (sealed) credentials, key hashes and every request's metadata: only the
/// owner may read it. SQLite gives the `-wal` and `-shm` files the database file's mode, so the
/// file is created 0600 before SQLite opens it, and existing files are tightened.
/// A write with `RETURNING` is read to its end. SQLite commits an autocommit statement only
/// when it steps past its last row, and a commit that fails there (disk full, I/O error) is
/// reported only to a reader that gets that far: `fetch_one` stops at the first row, so the
/// row came back while the write was never stored (seen: a sign-in on a full disk handed out
/// a token that the next call refused).
fn returned_one(rows: Vec<SqliteRow>) -> std::result::Result<SqliteRow, sqlx::Error> {
    rows.into_iter().next().ok_or(sqlx::Error::RowNotFound)
}

/// [`returned_one`] for writes that may touch no row.
fn returned_optional(rows: Vec<SqliteRow>) -> Option<SqliteRow> {
    rows.into_iter().next()
}

fn restrict_to_owner(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let private = |p: &Path| std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600));
    let denied = |e: std::io::Error| {
        StoreError::Config(format!(
            "cannot restrict {} to its owner: {e}",
            path.display()
        ))
    };
    if path.as_os_str() == ":memory:" {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(denied)?;
    private(path).map_err(denied)?;
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let side = std::path::PathBuf::from(side);
        if side.exists() {
            private(&side).map_err(denied)?;
        }
    }
    Ok(())
}

impl SqliteStore {
    pub async fn open(path: &Path, key: MasterKey) -> Result<Self> {
        restrict_to_owner(path)?;
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Every commit reaches the disk before it counts as stored: with `NORMAL`, usage
            // committed seconds before a disk error or a power cut was still only in the page
            // cache and was lost (the read-only-disk test saw 20 of 20 such rows go). Commits
            // are batched (usage every 20 ms at most), so the fsync costs little.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // Migrations run on a connection of their own, closed before the pool opens: a pooled
        // connection that had read the schema before a migration changed a table would
        // prepare statements against the stale schema (and `RETURNING *` would then return
        // more columns than it was prepared with).
        let migrations = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await
            .map_err(|e| open_error(path, e))?;
        let migrated = migrate(&migrations).await;
        migrations.close().await;
        migrated.map_err(|e| match e {
            StoreError::Database(msg) if msg.contains("not a database") => StoreError::Config(
                format!("{} is not a SQLite database (corrupt?)", path.display()),
            ),
            other => other,
        })?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(|e| open_error(path, e))?;
        let store = Self { pool, key };
        store.check_master_key().await?;
        store.seal_legacy_urls().await?;
        Ok(store)
    }

    /// A URL with credentials in it (a proxy's or a mirror's user and password) is stored
    /// sealed like the other credentials: `sealed:` + the ciphertext. URLs without them stay
    /// readable.
    fn seal_url(&self, url: Option<&str>) -> Result<Option<String>> {
        match url {
            Some(u) if has_userinfo(u) => Ok(Some(format!(
                "{SEALED_URL}{}",
                self.key.encrypt(u.as_bytes())?
            ))),
            other => Ok(other.map(str::to_string)),
        }
    }

    fn open_url(&self, stored: Option<String>) -> Result<Option<String>> {
        match stored {
            Some(s) if s.starts_with(SEALED_URL) => {
                let plain = self.key.decrypt(&s[SEALED_URL.len()..])?;
                String::from_utf8(plain)
                    .map(Some)
                    .map_err(|_| StoreError::Crypto("a stored URL is not text".into()))
            }
            other => Ok(other),
        }
    }

    /// Stores written before URLs were sealed kept them in plain text: seal them now.
    async fn seal_legacy_urls(&self) -> Result<()> {
        let rows = sqlx::query("SELECT id, base_url, proxy_url FROM accounts")
            .fetch_all(&self.pool)
            .await?;
        for row in rows {
            let id: i64 = row.try_get("id")?;
            for (column, update) in [
                ("base_url", "UPDATE accounts SET base_url = ? WHERE id = ?"),
                (
                    "proxy_url",
                    "UPDATE accounts SET proxy_url = ? WHERE id = ?",
                ),
            ] {
                let value: Option<String> = row.try_get(column)?;
                if let Some(v) = value.filter(|v| !v.starts_with(SEALED_URL) && has_userinfo(v)) {
                    sqlx::query(update)
                        .bind(self.seal_url(Some(&v))?)
                        .bind(id)
                        .execute(&self.pool)
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn check_master_key(&self) -> Result<()> {
        let stored: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'key_check'")
                .fetch_optional(&self.pool)
                .await?;
        match stored {
            Some(sealed) => {
                if self.key.decrypt(&sealed)? != KEY_CHECK.as_bytes() {
                    return Err(StoreError::WrongMasterKey);
                }
            }
            None => {
                let sealed = self.key.encrypt(KEY_CHECK.as_bytes())?;
                sqlx::query("INSERT INTO meta (key, value) VALUES ('key_check', ?)")
                    .bind(sealed)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }

    fn seal(&self, creds: &Credentials) -> Result<String> {
        let plain = PlainCredentials {
            api_key: creds.api_key.as_ref().map(|s| s.expose().to_string()),
            access_token: creds.access_token.as_ref().map(|s| s.expose().to_string()),
            refresh_token: creds.refresh_token.as_ref().map(|s| s.expose().to_string()),
            expires_at: creds.expires_at,
            session_key: creds.session_key.as_ref().map(|s| s.expose().to_string()),
            aws_access_key_id: creds
                .aws_access_key_id
                .as_ref()
                .map(|s| s.expose().to_string()),
            aws_secret_access_key: creds
                .aws_secret_access_key
                .as_ref()
                .map(|s| s.expose().to_string()),
            aws_session_token: creds
                .aws_session_token
                .as_ref()
                .map(|s| s.expose().to_string()),
            client_secret: creds.client_secret.as_ref().map(|s| s.expose().to_string()),
        };
        let json = serde_json::to_vec(&plain).map_err(|e| StoreError::Crypto(e.to_string()))?;
        self.key.encrypt(&json)
    }

    fn unseal(&self, sealed: &str) -> Result<Credentials> {
        let json = self.key.decrypt(sealed)?;
        let plain: PlainCredentials = serde_json::from_slice(&json)
            .map_err(|e| StoreError::Crypto(format!("stored credentials are malformed: {e}")))?;
        Ok(Credentials {
            api_key: plain.api_key.map(Secret::new),
            access_token: plain.access_token.map(Secret::new),
            refresh_token: plain.refresh_token.map(Secret::new),
            expires_at: plain.expires_at,
            session_key: plain.session_key.map(Secret::new),
            aws_access_key_id: plain.aws_access_key_id.map(Secret::new),
            aws_secret_access_key: plain.aws_secret_access_key.map(Secret::new),
            aws_session_token: plain.aws_session_token.map(Secret::new),
            client_secret: plain.client_secret.map(Secret::new),
        })
    }

    fn account_from_row(&self, row: &SqliteRow) -> Result<Account> {
        let kind: String = row.try_get("kind")?;
        let status: String = row.try_get("status")?;
        Ok(Account {
            id: row.try_get("id")?,
            kind: AccountKind::from_str(&kind).map_err(|e| StoreError::Database(e.to_string()))?,
            name: row.try_get("name")?,
            base_url: self.open_url(row.try_get("base_url")?)?,
            priority: row.try_get("priority")?,
            weight: row.try_get::<i64, _>("weight")?.max(0) as u32,
            allowed_models: json_col(row, "allowed_models")?,
            model_map: json_col(row, "model_map")?,
            max_concurrency: row.try_get::<i64, _>("max_concurrency")?.max(0) as u32,
            proxy_url: self.open_url(row.try_get("proxy_url")?)?,
            status: AccountStatus::from_str(&status).map_err(StoreError::Database)?,
            status_reason: row.try_get("status_reason")?,
            status_until: opt_ts(row, "status_until")?,
            consecutive_errors: row.try_get::<i64, _>("consecutive_errors")?.max(0) as u32,
            last_check_at: opt_ts(row, "last_check_at")?,
            last_check_result: row.try_get("last_check_result")?,
            extra: json_col(row, "extra")?,
            credentials: self.unseal(&row.try_get::<String, _>("credentials")?)?,
            created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
            updated_at: parse_ts(&row.try_get::<String, _>("updated_at")?)?,
        })
    }

    async fn account_by_id(&self, id: AccountId) -> Result<Account> {
        let row = sqlx::query("SELECT * FROM accounts WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("account {id}")))?;
        self.account_from_row(&row)
    }
}

/// Marks a sealed URL column value.
const SEALED_URL: &str = "sealed:";

/// Whether `url` carries a user name or password (`scheme://user:pass@host…`).
fn has_userinfo(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.contains('@')
}

fn open_error(path: &Path, e: sqlx::Error) -> StoreError {
    if e.to_string().contains("not a database") {
        return StoreError::Config(format!(
            "{} is not a SQLite database (corrupt or another file?)",
            path.display()
        ));
    }
    StoreError::Config(format!("cannot open database {}: {e}", path.display()))
}

fn json_col<T: serde::de::DeserializeOwned>(row: &SqliteRow, col: &str) -> Result<T> {
    let text: String = row.try_get(col)?;
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Database(format!("column {col} holds malformed JSON: {e}")))
}

fn opt_ts(row: &SqliteRow, col: &str) -> Result<Option<DateTime<Utc>>> {
    let text: Option<String> = row.try_get(col)?;
    text.as_deref().map(parse_ts).transpose()
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(e.to_string()))
}

async fn migrate(pool: &SqlitePool) -> Result<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    .execute(pool)
    .await?;
    for (version, sql) in MIGRATIONS {
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
                .bind(version)
                .fetch_optional(pool)
                .await?;
        if done.is_some() {
            continue;
        }
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(*sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
            .bind(version)
            .bind(ts(Utc::now()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

fn validate_policy(p: &KeyPolicy) -> Result<()> {
    p.validate().map_err(|e| StoreError::Invalid(e.to_string()))
}

fn key_from_row(row: &SqliteRow) -> Result<ApiKey> {
    let status: String = row.try_get("status")?;
    let count = |col: &str| -> Result<i64> { Ok(row.try_get::<i64, _>(col)?.max(0)) };
    Ok(ApiKey {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        hash: row.try_get("key_hash")?,
        status: KeyStatus::parse(&status)
            .ok_or_else(|| StoreError::Database(format!("unknown key status {status}")))?,
        policy: KeyPolicy {
            expires_at: opt_ts(row, "expires_at")?,
            expires_after_seconds: row.try_get("expires_after_seconds")?,
            allowed_models: json_col(row, "allowed_models")?,
            allowed_dialects: json_col(row, "allowed_dialects")?,
            allowed_clients: json_col(row, "allowed_clients")?,
            concurrency_limit: count("concurrency_limit")?.min(u32::MAX.into()) as u32,
            rate_limit_per_minute: count("rate_limit_per_minute")?.min(u32::MAX.into()) as u32,
            tokens_per_minute: count("tokens_per_minute")? as u64,
            daily_cost_limit_usd: row.try_get("daily_cost_limit_usd")?,
            weekly_cost_limit_usd: row.try_get("weekly_cost_limit_usd")?,
            total_cost_limit_usd: row.try_get("total_cost_limit_usd")?,
            bound_account_id: row.try_get("bound_account_id")?,
            bound_group_id: row.try_get("bound_group_id")?,
            pool_fallback: row.try_get::<i64, _>("pool_fallback")? != 0,
        },
        first_used_at: opt_ts(row, "first_used_at")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        last_used_at: opt_ts(row, "last_used_at")?,
    })
}

fn user_from_row(row: &SqliteRow) -> Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: row.try_get("role")?,
        status: row.try_get("status")?,
        password_hash: row.try_get("password_hash")?,
        limits: UserLimits {
            concurrency_limit: row
                .try_get::<i64, _>("concurrency_limit")?
                .clamp(0, u32::MAX.into()) as u32,
            daily_cost_limit_usd: row.try_get("daily_cost_limit_usd")?,
            weekly_cost_limit_usd: row.try_get("weekly_cost_limit_usd")?,
            total_cost_limit_usd: row.try_get("total_cost_limit_usd")?,
        },
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
    })
}

fn usage_from_row(row: &SqliteRow) -> Result<UsageRecord> {
    let n = |col: &str| -> Result<u64> { Ok(row.try_get::<i64, _>(col)?.max(0) as u64) };
    Ok(UsageRecord {
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        request_id: row.try_get("request_id")?,
        api_key_id: row.try_get("api_key_id")?,
        user_id: row.try_get("user_id")?,
        account_id: row.try_get("account_id")?,
        dialect: row.try_get("dialect")?,
        endpoint: row.try_get("endpoint")?,
        requested_model: row.try_get("requested_model")?,
        upstream_model: row.try_get("upstream_model")?,
        usage: TokenUsage {
            input_tokens: n("input_tokens")?,
            output_tokens: n("output_tokens")?,
            cache_creation_5m_tokens: n("cache_creation_5m_tokens")?,
            cache_creation_1h_tokens: n("cache_creation_1h_tokens")?,
            cache_read_tokens: n("cache_read_tokens")?,
            reasoning_tokens: n("reasoning_tokens")?,
        },
        cost_usd: row.try_get("cost_usd")?,
        stream: row.try_get::<i64, _>("stream")? != 0,
        status: row.try_get::<i64, _>("status")?.clamp(0, 999) as u16,
        error_kind: row.try_get("error_kind")?,
        attempts: n("attempts")? as u32,
        ttfb_ms: row
            .try_get::<Option<i64>, _>("ttfb_ms")?
            .map(|v| v.max(0) as u64),
        duration_ms: n("duration_ms")?,
        session_hash: row.try_get("session_hash")?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn change_seq(&self) -> Result<i64> {
        let v: String = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'change_seq'")
            .fetch_one(&self.pool)
            .await?;
        v.parse()
            .map_err(|_| StoreError::Database(format!("change_seq is not a number: {v}")))
    }

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
               total_cost_limit_usd = ?, bound_account_id = ?, bound_group_id = ?, pool_fallback = ?
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

    async fn create_group(&self, name: &str, description: &str) -> Result<AccountGroup> {
        if !name
            .chars()
            .any(|c| !c.is_ascii_digit() && !c.is_whitespace())
        {
            return Err(StoreError::Invalid(
                "a group name must not be empty or a number".into(),
            ));
        }
        sqlx::query("INSERT INTO account_groups (name, description, created_at) VALUES (?, ?, ?)")
            .bind(name)
            .bind(description)
            .bind(ts(Utc::now()))
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
                    created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
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
        let done = sqlx::query("DELETE FROM account_groups WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.message().contains("FOREIGN KEY") => {
                    StoreError::Conflict(
                        "API keys are bound to this group; bind them elsewhere first".into(),
                    )
                }
                _ => StoreError::from(e),
            })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("account group {id}")));
        }
        Ok(())
    }

    async fn add_group_member(&self, group: i64, account: AccountId) -> Result<()> {
        sqlx::query(
            "INSERT OR IGNORE INTO account_group_members (group_id, account_id) VALUES (?, ?)",
        )
        .bind(group)
        .bind(account)
        .execute(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.message().contains("FOREIGN KEY") => {
                StoreError::NotFound("account or group".into())
            }
            _ => StoreError::from(e),
        })?;
        Ok(())
    }

    async fn remove_group_member(&self, group: i64, account: AccountId) -> Result<()> {
        sqlx::query("DELETE FROM account_group_members WHERE group_id = ? AND account_id = ?")
            .bind(group)
            .bind(account)
            .execute(&self.pool)
            .await?;
        Ok(())
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

    async fn create_account(&self, a: NewAccount) -> Result<Account> {
        let kind = a
            .kind
            .ok_or_else(|| StoreError::Invalid("account kind is required".into()))?;
        if a.name.trim().is_empty() {
            return Err(StoreError::Invalid("account name must not be empty".into()));
        }
        let now = ts(Utc::now());
        let name = a.name.clone();
        let row = sqlx::query(
            "INSERT INTO accounts (kind, name, base_url, priority, weight, allowed_models, model_map,
               max_concurrency, proxy_url, extra, credentials, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(kind.as_str())
        .bind(&a.name)
        .bind(self.seal_url(a.base_url.as_deref())?)
        .bind(a.priority.unwrap_or(50))
        .bind(i64::from(a.weight.unwrap_or(1)))
        .bind(to_json(&a.allowed_models)?)
        .bind(to_json(&a.model_map)?)
        .bind(i64::from(a.max_concurrency.unwrap_or(0)))
        .bind(self.seal_url(a.proxy_url.as_deref())?)
        .bind(to_json(&a.extra)?)
        .bind(self.seal(&a.credentials)?)
        .bind(&now)
        .bind(&now)
        .fetch_all(&self.pool)
        .await
        .and_then(returned_one)
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("an account named `{name}` already exists"))
            }
            other => other,
        })?;
        self.account_from_row(&row)
    }

    async fn list_accounts(&self) -> Result<Vec<Account>> {
        let rows = sqlx::query("SELECT * FROM accounts ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| self.account_from_row(r)).collect()
    }

    async fn find_account(&self, selector: &str) -> Result<Account> {
        let id: Option<i64> = selector.parse().ok();
        let row = sqlx::query(
            "SELECT * FROM accounts WHERE name = ? OR id = ? ORDER BY name = ? DESC LIMIT 1",
        )
        .bind(selector)
        .bind(id)
        .bind(selector)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("account `{selector}`")))?;
        self.account_from_row(&row)
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
            "UPDATE accounts SET name = ?, base_url = ?, priority = ?, weight = ?, allowed_models = ?, model_map = ?,
               max_concurrency = ?, proxy_url = ?, extra = ?, credentials = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&a.name)
        .bind(self.seal_url(a.base_url.as_deref())?)
        .bind(a.priority)
        .bind(i64::from(a.weight))
        .bind(to_json(&a.allowed_models)?)
        .bind(to_json(&a.model_map)?)
        .bind(i64::from(a.max_concurrency))
        .bind(self.seal_url(a.proxy_url.as_deref())?)
        .bind(to_json(&a.extra)?)
        .bind(self.seal(&a.credentials)?)
        .bind(ts(Utc::now()))
        .bind(id)
        .execute(&self.pool)
        .await?;
        self.account_by_id(id).await
    }

    async fn remove_account(&self, id: AccountId) -> Result<()> {
        let done = sqlx::query("DELETE FROM accounts WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.message().contains("FOREIGN KEY") => {
                    StoreError::Conflict(
                        "API keys are bound to this account; bind them elsewhere first".into(),
                    )
                }
                _ => StoreError::from(e),
            })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("account {id}")));
        }
        Ok(())
    }

    async fn set_account_state(&self, id: AccountId, s: &AccountState) -> Result<()> {
        sqlx::query(
            "UPDATE accounts SET status = ?, status_reason = ?, status_until = ?, consecutive_errors = ?, updated_at = ?
             WHERE id = ? AND NOT (status = 'disabled' AND COALESCE(status_reason, '') <> 'health check')",
        )
        .bind(s.status.as_str())
        .bind(&s.reason)
        .bind(s.until.map(ts))
        .bind(i64::from(s.consecutive_errors))
        .bind(ts(Utc::now()))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_account_state_by_operator(&self, id: AccountId, s: &AccountState) -> Result<()> {
        sqlx::query(
            "UPDATE accounts SET status = ?, status_reason = ?, status_until = ?, consecutive_errors = ?, updated_at = ? WHERE id = ?",
        )
        .bind(s.status.as_str())
        .bind(&s.reason)
        .bind(s.until.map(ts))
        .bind(i64::from(s.consecutive_errors))
        .bind(ts(Utc::now()))
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
        sqlx::query("UPDATE accounts SET last_check_at = ?, last_check_result = ? WHERE id = ?")
            .bind(ts(at))
            .bind(result)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_account_credentials(&self, id: AccountId, creds: &Credentials) -> Result<()> {
        sqlx::query("UPDATE accounts SET credentials = ?, updated_at = ? WHERE id = ?")
            .bind(self.seal(creds)?)
            .bind(ts(Utc::now()))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_account_quota(&self, id: AccountId, data: &serde_json::Value) -> Result<()> {
        sqlx::query(
            "INSERT INTO account_quota (account_id, data, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (account_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(to_json(data)?)
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn account_quotas(&self) -> Result<BTreeMap<AccountId, serde_json::Value>> {
        let rows = sqlx::query("SELECT account_id, data FROM account_quota")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("account_id")?, json_col(r, "data")?)))
            .collect()
    }

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
                let price: ModelPrice = json_col(r, "price")?;
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

    async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        detail: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(ts(Utc::now()))
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn recent_audit(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_from_row).collect()
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

    async fn delete_price(&self, model: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM prices WHERE model = ?")
            .bind(model)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_admin_session(
        &self,
        user_id: i64,
        kind: &str,
        name: &str,
        token_hash: &str,
        csrf_hash: Option<&str>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<AdminSession> {
        let row = sqlx::query(
            "INSERT INTO admin_sessions (token_hash, csrf_hash, user_id, kind, name, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(token_hash)
        .bind(csrf_hash)
        .bind(user_id)
        .bind(kind)
        .bind(name)
        .bind(ts(Utc::now()))
        .bind(expires_at.map(ts))
        .fetch_all(&self.pool)
        .await
        .and_then(returned_one)?;
        session_from_row(&row)
    }

    async fn admin_session(&self, token_hash: &str) -> Result<Option<AdminSession>> {
        let row = sqlx::query(
            "SELECT * FROM admin_sessions WHERE token_hash = ? AND revoked_at IS NULL
               AND (expires_at IS NULL OR expires_at > ?)",
        )
        .bind(token_hash)
        .bind(ts(Utc::now()))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn revoke_admin_session(&self, id: i64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE admin_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        )
        .bind(ts(Utc::now()))
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("session or token {id}")));
        }
        Ok(())
    }

    async fn revoke_user_sessions(&self, user_id: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE admin_sessions SET revoked_at = ? WHERE user_id = ? AND kind = 'session' AND revoked_at IS NULL",
        )
        .bind(ts(Utc::now()))
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn list_admin_tokens(&self) -> Result<Vec<AdminSession>> {
        let rows = sqlx::query("SELECT * FROM admin_sessions WHERE kind = 'token' ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(session_from_row).collect()
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

    async fn audit_page(&self, before_id: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT * FROM audit_log WHERE (?1 IS NULL OR id < ?1) ORDER BY id DESC LIMIT ?2",
        )
        .bind(before_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn create_proxy(&self, name: &str, url: &str) -> Result<ProxyRecord> {
        onboarding::create_proxy(&self.pool, &self.key, name, url).await
    }

    async fn list_proxies(&self) -> Result<Vec<ProxyRecord>> {
        onboarding::list_proxies(&self.pool, &self.key).await
    }

    async fn set_proxy_url(&self, name: &str, url: &str) -> Result<ProxyRecord> {
        onboarding::set_proxy_url(&self.pool, &self.key, name, url).await
    }

    async fn delete_proxy(&self, name: &str, reassign: Option<&str>) -> Result<u64> {
        onboarding::delete_proxy(&self.pool, name, reassign).await
    }

    async fn put_oauth_pending(&self, pending: &OAuthPending) -> Result<()> {
        onboarding::put_oauth_pending(&self.pool, &self.key, pending).await
    }

    async fn take_oauth_pending(&self, state: &str) -> Result<Option<OAuthPending>> {
        onboarding::take_oauth_pending(&self.pool, &self.key, state).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

fn session_from_row(row: &SqliteRow) -> Result<AdminSession> {
    Ok(AdminSession {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        kind: row.try_get("kind")?,
        name: row.try_get("name")?,
        csrf_hash: row.try_get("csrf_hash")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        expires_at: opt_ts(row, "expires_at")?,
        revoked_at: opt_ts(row, "revoked_at")?,
    })
}

fn audit_from_row(r: &SqliteRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: r.try_get("id")?,
        at: parse_ts(&r.try_get::<String, _>("at")?)?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        target: r.try_get("target")?,
        detail: r.try_get("detail")?,
    })
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
               error_kind, attempts, ttfb_ms, duration_ms, session_hash) ",
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
                .push_bind(r.session_hash.clone());
        });
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}
