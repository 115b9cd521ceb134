//! Databases written before the store used `sqlx::migrate!` (their applied versions in
//! `schema_migrations`) open, keep their data and receive only the migrations they lack.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use std::path::Path;
use switchyard_store::sql::StoreLocation;
use switchyard_store::{Store, StoreError};

const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The migrations the old hand-written runner applied, with the versions it recorded.
const LEGACY: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (
        2,
        include_str!("../migrations/sqlite/0002_account_quota.sql"),
    ),
    (
        3,
        include_str!("../migrations/sqlite/0003_key_policy_groups.sql"),
    ),
    (
        4,
        include_str!("../migrations/sqlite/0004_admin_sessions.sql"),
    ),
];

/// Writes `switchyard.db` in `dir` the way the old runner did: its bookkeeping table, the
/// given migrations, and the versions recorded (which may include ones this build lacks).
async fn legacy_database(
    dir: &Path,
    applied: &[(i64, &'static str)],
    recorded: &[i64],
) -> SqliteConnection {
    let mut conn = SqliteConnectOptions::new()
        .filename(dir.join("switchyard.db"))
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    for (_, sql) in applied {
        sqlx::raw_sql(*sql).execute(&mut conn).await.unwrap();
    }
    for version in recorded {
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, '2026-01-01T00:00:00Z')")
            .bind(version)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn
}

async fn open(dir: &Path) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    switchyard_store::open(StoreLocation {
        data_dir: dir,
        database_url: None,
        master_key: Some(KEY),
    })
    .await
}

async fn recorded_versions(dir: &Path) -> Vec<i64> {
    let mut conn = SqliteConnectOptions::new()
        .filename(dir.join("switchyard.db"))
        .connect()
        .await
        .unwrap();
    let versions =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    conn.close().await.unwrap();
    versions
}

#[tokio::test]
async fn a_database_from_the_old_runner_opens_keeps_its_data_and_gets_the_missing_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = legacy_database(dir.path(), LEGACY, &[1, 2, 3, 4]).await;
    sqlx::query(
        "INSERT INTO users (name, role, created_at, updated_at)
         VALUES ('alice', 'admin', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let store = open(dir.path()).await.unwrap();
    let users = store.list_users().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].name, "alice");
    // 0006 was missing: the proxies table exists only if the migrator ran it.
    store
        .create_proxy("office", "http://user:pw@proxy.test:3128")
        .await
        .unwrap();
    store.close().await;
    assert_eq!(
        recorded_versions(dir.path()).await,
        vec![1, 2, 3, 4, 6, 7, 8]
    );

    // Opening again changes nothing and loses nothing.
    let store = open(dir.path()).await.unwrap();
    assert_eq!(store.list_proxies().await.unwrap().len(), 1);
    assert_eq!(store.list_users().await.unwrap()[0].name, "alice");
    store.close().await;
    assert_eq!(
        recorded_versions(dir.path()).await,
        vec![1, 2, 3, 4, 6, 7, 8]
    );
}

#[tokio::test]
async fn a_new_database_records_every_migration() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await.unwrap();
    store.close().await;
    assert_eq!(
        recorded_versions(dir.path()).await,
        vec![1, 2, 3, 4, 6, 7, 8]
    );
}

#[tokio::test]
async fn a_database_recording_a_version_this_build_lacks_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let conn = legacy_database(dir.path(), LEGACY, &[1, 2, 3, 4, 99]).await;
    conn.close().await.unwrap();
    match open(dir.path()).await {
        Err(StoreError::Config(msg)) => assert!(msg.contains("99"), "{msg}"),
        Err(other) => panic!("expected a config error naming version 99, got {other}"),
        Ok(_) => panic!("a database from a newer build opened"),
    }
}
