//! The embedded SQLite store (WAL mode), the zero-setup default. The queries live in one
//! module per domain; this one opens, migrates and checks the database.

mod accounts;
mod admin;
mod keys;
mod onboarding;
mod rows;
mod settings;
mod usage;

use async_trait::async_trait;
use sqlx::migrate::{Migrate, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Acquire, Row, SqlitePool};
use std::path::Path;
use std::time::Duration;

use super::sealing::Sealer;
use super::{Store, migrate_error};
use crate::{MasterKey, Result, StoreError};

/// The schema, embedded at build time; applied versions are kept in `_sqlx_migrations`.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

pub struct SqliteStore {
    pub(super) pool: SqlitePool,
    sealer: Sealer,
}

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

/// The database holds (sealed) credentials, key hashes and every request's metadata: only the
/// owner may read it. SQLite gives the `-wal` and `-shm` files the database file's mode, so the
/// file is created 0600 before SQLite opens it, and existing files are tightened.
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
        let store = Self {
            pool,
            sealer: Sealer::new(key),
        };
        store.check_master_key().await?;
        store.seal_legacy_urls().await?;
        Ok(store)
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
                if let Some(v) = value.filter(|v| Sealer::needs_sealing(v)) {
                    sqlx::query(update)
                        .bind(self.sealer.seal_url(Some(&v))?)
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
            Some(sealed) => self.sealer.verify_key_check(&sealed)?,
            None => {
                sqlx::query("INSERT INTO meta (key, value) VALUES ('key_check', ?)")
                    .bind(self.sealer.new_key_check()?)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }
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

async fn migrate(pool: &SqlitePool) -> Result<()> {
    adopt_legacy_migrations(pool).await?;
    MIGRATOR.run(pool).await.map_err(migrate_error)
}

/// Databases created before `sqlx::migrate!` recorded their applied versions in
/// `schema_migrations`. Those versions are entered into `_sqlx_migrations` as applied (with
/// the checksums of today's files, which are unchanged), once, so the migrator runs only what
/// is new. `schema_migrations` itself is left in place and no longer written.
async fn adopt_legacy_migrations(pool: &SqlitePool) -> Result<()> {
    let mut conn = pool.acquire().await?;
    let table_exists = |name: &'static str| {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
        )
        .bind(name)
    };
    let legacy = table_exists("schema_migrations")
        .fetch_one(&mut *conn)
        .await?
        > 0;
    let adopted = table_exists("_sqlx_migrations")
        .fetch_one(&mut *conn)
        .await?
        > 0;
    if !legacy || adopted {
        return Ok(());
    }
    conn.ensure_migrations_table(&MIGRATOR.table_name)
        .await
        .map_err(migrate_error)?;
    let mut tx = conn.begin().await?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(&mut *tx)
        .await?;
    for version in applied {
        let migration = MIGRATOR
            .iter()
            .find(|m| m.version == version)
            .ok_or_else(|| {
                StoreError::Config(format!(
                    "the database has schema version {version}, which this build does not know (written by a newer Switchyard?)"
                ))
            })?;
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (?, ?, TRUE, ?, 0)",
        )
        .bind(migration.version)
        .bind(migration.description.as_ref())
        .bind(migration.checksum.as_ref())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
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

    async fn close(&self) {
        self.pool.close().await;
    }
}
