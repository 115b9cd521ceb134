//! The durable store. Callers hold an `Arc<dyn Store>` and never learn which database is
//! behind it; [`open`] picks the implementation from the database URL.
//!
//! The methods are grouped by domain into one trait each ([`AccountStore`], [`KeyStore`],
//! [`UsageStore`], [`AdminStore`], [`SettingsStore`], [`OnboardingStore`]) so a backend is
//! written, read and reviewed one domain at a time; [`Store`] joins them into the one object
//! callers hold. Through `dyn Store` every domain method is callable with only `Store` in
//! scope (a trait object's supertrait methods resolve like its own); code that holds a
//! concrete backend brings the domain traits in with `use switchyard_store::prelude::*`.

mod accounts;
mod admin;
pub mod copy;
mod keys;
mod onboarding;
mod postgres;
mod rows;
pub(crate) mod sealing;
mod settings;
mod sqlite;
mod usage;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::path::Path;
use std::sync::Arc;
use switchyard_core::AccountId;

use sqlx::migrate::MigrateError;

use crate::{MasterKey, Result, StoreError};

pub use accounts::AccountStore;
pub use admin::AdminStore;
pub use keys::KeyStore;
pub use onboarding::OnboardingStore;
pub use postgres::PgStore;
pub use settings::SettingsStore;
pub use sqlite::SqliteStore;
pub use usage::UsageStore;

/// Everything the store holds, as one object (`Arc<dyn Store>`).
#[async_trait]
pub trait Store:
    AccountStore
    + KeyStore
    + UsageStore
    + AdminStore
    + SettingsStore
    + OnboardingStore
    + Send
    + Sync
    + 'static
{
    /// Cheap liveness query for `/readyz`.
    async fn ping(&self) -> Result<()>;
    /// A counter that grows with every change the in-memory snapshots depend on.
    async fn change_seq(&self) -> Result<i64>;
    /// Waits for pending writes and closes connections.
    async fn close(&self);
    /// Changes as other writers commit them, when the backend announces them (PostgreSQL);
    /// `None` otherwise (SQLite has one writing process: the change counter's poll is enough).
    async fn listen(&self) -> Result<Option<Box<dyn Notices>>> {
        Ok(None)
    }
}

/// A change committed by any writer of a shared database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Something the snapshots depend on changed (or notices may have been missed): reload.
    Changed,
    /// Only this account's runtime state changed (cool-down, error count, check result).
    AccountState(AccountId),
}

/// The notices of one listening connection.
#[async_trait]
pub trait Notices: Send {
    async fn next(&mut self) -> Result<Notice>;
}

/// Where the store lives.
#[derive(Debug, Clone)]
pub struct StoreLocation<'a> {
    pub data_dir: &'a Path,
    /// `sqlite://…`, `postgres://…` or none for `<data_dir>/switchyard.db`.
    pub database_url: Option<&'a str>,
    /// From `SWITCHYARD_MASTER_KEY` or config; otherwise the data directory's key file.
    pub master_key: Option<&'a str>,
}

/// Opens (and migrates) the store named by `loc`.
pub async fn open(loc: StoreLocation<'_>) -> Result<Arc<dyn Store>> {
    prepare_data_dir(loc.data_dir)?;
    let (key, pending_key_file) = MasterKey::load(loc.master_key, loc.data_dir)?;
    let store: Arc<dyn Store> = match loc.database_url {
        None => {
            let path = loc.data_dir.join("switchyard.db");
            Arc::new(SqliteStore::open(&path, key).await?)
        }
        Some(url) if url.starts_with("sqlite:") => {
            let path = url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:");
            Arc::new(SqliteStore::open(Path::new(path), key).await?)
        }
        Some(url) if url.starts_with("postgres:") || url.starts_with("postgresql:") => {
            Arc::new(PgStore::open(url, key).await?)
        }
        Some(other) => {
            return Err(StoreError::Config(format!(
                "database URL `{}` has an unknown scheme (expected sqlite: or postgres:)",
                other.split("://").next().unwrap_or(other)
            )));
        }
    };
    // The store accepted the key: only now does a newly generated key reach the disk.
    if let Some(file) = pending_key_file {
        file.write()?;
    }
    Ok(store)
}

/// Creates the data directory if missing (0700: it holds the master key and the database) and
/// proves it is writable before anything is stored.
fn prepare_data_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            StoreError::Config(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"ok")
        .and_then(|_| std::fs::remove_file(&probe))
        .map_err(|e| {
            StoreError::Config(format!(
                "data directory {} is not writable: {e}",
                dir.display()
            ))
        })
}

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub(crate) fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Database(format!("bad timestamp `{s}` in store: {e}")))
}

/// A failed migration as a store error; a version the database has but this build lacks
/// means a newer Switchyard wrote it.
pub(crate) fn migrate_error(e: MigrateError) -> StoreError {
    match e {
        MigrateError::Execute(e) => StoreError::from(e),
        MigrateError::VersionMissing(v) => StoreError::Config(format!(
            "the database has schema version {v}, which this build does not know (written by a newer Switchyard?)"
        )),
        other => StoreError::Database(format!("migration failed: {other}")),
    }
}
