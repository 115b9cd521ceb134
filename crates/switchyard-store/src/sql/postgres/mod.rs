//! The PostgreSQL store, for several instances sharing one database. The queries live in one
//! module per domain, like SQLite's; this one connects, migrates and checks the database.
//!
//! Besides libpq's own URL parameters that sqlx understands (`sslmode`, `sslrootcert`,
//! `options`, `application_name`, …), the URL may carry the pool's settings, which are taken
//! out before the URL reaches the driver: `max_connections` (default 10), `min_connections`
//! (0), `acquire_timeout` (seconds, 10) and `statement_timeout` (PostgreSQL units, `30s`).

mod accounts;
mod admin;
mod keys;
mod onboarding;
mod rows;
mod settings;
mod usage;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

use super::sealing::Sealer;
use super::{Notice, Notices, Store, migrate_error};
use crate::{MasterKey, Result, StoreError};

/// The schema, embedded at build time; applied versions are kept in `_sqlx_migrations`.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

pub struct PgStore {
    pub(super) pool: PgPool,
    sealer: Sealer,
}

/// The pool settings a database URL may carry (see the module documentation).
struct PoolSettings {
    max_connections: u32,
    min_connections: u32,
    acquire_timeout: Duration,
    statement_timeout: String,
}

impl PoolSettings {
    /// Splits the pool settings off `url`; returns them and the URL for the driver.
    fn split(url: &str) -> Result<(Self, String)> {
        let mut settings = PoolSettings {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(10),
            statement_timeout: "30s".into(),
        };
        let Some((base, query)) = url.split_once('?') else {
            return Ok((settings, url.to_string()));
        };
        let number = |key: &str, value: &str| -> Result<u64> {
            value.parse().map_err(|_| {
                StoreError::Config(format!(
                    "database URL parameter {key} must be a whole number, not `{value}`"
                ))
            })
        };
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "max_connections" => {
                    settings.max_connections = number(key, value)?.clamp(1, 1000) as u32
                }
                "min_connections" => {
                    settings.min_connections = number(key, value)?.min(1000) as u32
                }
                "acquire_timeout" => {
                    settings.acquire_timeout = Duration::from_secs(number(key, value)?)
                }
                "statement_timeout" => settings.statement_timeout = value.to_string(),
                _ => rest.push(pair),
            }
        }
        let url = if rest.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        Ok((settings, url))
    }
}

impl PgStore {
    pub async fn open(url: &str, key: MasterKey) -> Result<Self> {
        let (settings, url) = PoolSettings::split(url)?;
        let opts = PgConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?
            .options([("statement_timeout", settings.statement_timeout.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .min_connections(settings.min_connections.min(settings.max_connections))
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Config(format!("cannot connect to PostgreSQL: {e}")))?;
        // The migrator takes an advisory lock, so instances starting together migrate once.
        MIGRATOR.run(&pool).await.map_err(migrate_error)?;
        let store = Self {
            pool,
            sealer: Sealer::new(key),
        };
        store.check_master_key().await?;
        Ok(store)
    }

    async fn check_master_key(&self) -> Result<()> {
        let stored: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'key_check'")
                .fetch_optional(&self.pool)
                .await?;
        match stored {
            Some(sealed) => self.sealer.verify_key_check(&sealed)?,
            None => {
                // Two instances starting on an empty database race here: the first key wins
                // and the loser checks against it.
                sqlx::query(
                    "INSERT INTO meta (key, value) VALUES ('key_check', $1) ON CONFLICT DO NOTHING",
                )
                .bind(self.sealer.new_key_check()?)
                .execute(&self.pool)
                .await?;
                let stored: String =
                    sqlx::query_scalar("SELECT value FROM meta WHERE key = 'key_check'")
                        .fetch_one(&self.pool)
                        .await?;
                self.sealer.verify_key_check(&stored)?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Store for PgStore {
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

    async fn listen(&self) -> Result<Option<Box<dyn Notices>>> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen_all([CHANGES, ACCOUNT_STATE]).await?;
        let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(Box::new(PgNotices { listener, schema })))
    }
}

/// The channels migration 0003's triggers announce on.
const CHANGES: &str = "switchyard_changes";
const ACCOUNT_STATE: &str = "switchyard_account_state";

struct PgNotices {
    listener: PgListener,
    /// Notices of other installations in the same database are skipped.
    schema: String,
}

#[async_trait]
impl Notices for PgNotices {
    async fn next(&mut self) -> Result<Notice> {
        loop {
            // `None`: the connection dropped and reconnects; what was announced meanwhile is
            // lost, so the caller reloads.
            let Some(n) = self.listener.try_recv().await? else {
                return Ok(Notice::Changed);
            };
            match n.channel() {
                CHANGES if n.payload() == self.schema => return Ok(Notice::Changed),
                ACCOUNT_STATE => {
                    if let Some((schema, id)) = n.payload().rsplit_once(':')
                        && schema == self.schema
                        && let Ok(id) = id.parse()
                    {
                        return Ok(Notice::AccountState(id));
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PoolSettings;
    use std::time::Duration;

    #[test]
    fn pool_settings_are_taken_out_of_the_url_and_the_rest_is_kept() {
        let (s, url) = PoolSettings::split(
            "postgres://u@h/db?sslmode=require&max_connections=25&statement_timeout=5s&acquire_timeout=3",
        )
        .unwrap();
        assert_eq!(url, "postgres://u@h/db?sslmode=require");
        assert_eq!(s.max_connections, 25);
        assert_eq!(s.statement_timeout, "5s");
        assert_eq!(s.acquire_timeout, Duration::from_secs(3));
        let (s, url) = PoolSettings::split("postgres://u@h/db").unwrap();
        assert_eq!(url, "postgres://u@h/db");
        assert_eq!(s.max_connections, 10);
        assert!(PoolSettings::split("postgres://h/db?max_connections=many").is_err());
    }
}
