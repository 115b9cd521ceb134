//! The databases the conformance tests run against: a SQLite file in a temporary data
//! directory, and a schema of its own in the machine's PostgreSQL (so tests run in parallel
//! without seeing each other's rows). PostgreSQL must be reachable: a test that cannot reach
//! it fails, it is never skipped. `SWITCHYARD_TEST_POSTGRES_URL` names another server.

use sqlx::{Connection, PgConnection};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use switchyard_store::sql::StoreLocation;
use switchyard_store::{Store, StoreError};

const DEFAULT_POSTGRES: &str = "postgres://root@127.0.0.1:5432/test";

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One test's database: the data directory (master key file, spills) and, on PostgreSQL,
/// the URL of the test's own schema, dropped when the test ends.
pub struct TestDb {
    pub dir: tempfile::TempDir,
    url: Option<String>,
    schema: Option<Schema>,
}

struct Schema {
    server: String,
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        let server = self.server.clone();
        // A store the test did not close may still hold locks: give up after a while and
        // leave the schema behind rather than hang the test.
        let sql = format!(
            "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {} CASCADE",
            self.name
        );
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&server).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

pub fn postgres_server() -> String {
    std::env::var("SWITCHYARD_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.into())
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => TestDb {
                dir,
                url: None,
                schema: None,
            },
            Backend::Postgres => {
                static NEXT: AtomicU32 = AtomicU32::new(0);
                let server = postgres_server();
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos();
                let name = format!(
                    "sy_test_{}_{}_{nanos}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed)
                );
                let mut conn = PgConnection::connect(&server).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL at {server} is not reachable (the conformance suite needs it): {e}")
                });
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
                let sep = if server.contains('?') { '&' } else { '?' };
                TestDb {
                    dir,
                    url: Some(format!("{server}{sep}options[search_path]={name}")),
                    schema: Some(Schema { server, name }),
                }
            }
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn is_postgres(&self) -> bool {
        self.schema.is_some()
    }

    /// Every row of `table` as PostgreSQL prints it (to check what is stored at rest).
    pub async fn table_text(&self, table: &str) -> String {
        let schema = self.schema.as_ref().expect("a PostgreSQL test database");
        let mut conn = PgConnection::connect(&schema.server).await.unwrap();
        let text: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COALESCE(string_agg(t::text, E'\\n'), '') FROM {}.{table} t",
            schema.name
        )))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        text
    }

    pub async fn open(&self, master_key: Option<&str>) -> Result<Arc<dyn Store>, StoreError> {
        switchyard_store::open(StoreLocation {
            data_dir: self.dir.path(),
            database_url: self.url.as_deref(),
            master_key,
        })
        .await
    }
}

/// A new, empty store on `backend`.
pub async fn fresh(backend: Backend) -> (TestDb, Arc<dyn Store>) {
    let db = TestDb::new(backend).await;
    let store = db.open(None).await.unwrap();
    (db, store)
}

/// Runs each named `async fn(Backend)` once on SQLite and once on PostgreSQL, as the tests
/// `<name>::sqlite` and `<name>::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::backend::Backend::Sqlite).await
                }
                #[tokio::test]
                async fn postgres() {
                    super::$name($crate::backend::Backend::Postgres).await
                }
            }
        )*
    };
}
