//! Switchyard's storage.
//!
//! - [`sql`]: durable data behind the [`Store`] trait and its domain traits (SQLite or
//!   PostgreSQL), migrations, secrets encrypted with the master key ([`crypto`]).
//! - [`usage_writer`]: the batched, never-dropping writer of usage records.
//! - [`coord`]: ephemeral shared state for the request path (sticky bindings, concurrency
//!   leases, named leases), in memory for one instance or in Redis for several.

pub mod coord;
pub mod crypto;
pub mod model;
pub mod sql;
pub mod usage_writer;

pub use crypto::MasterKey;
pub use model::*;
pub use sql::{
    AccountStore, AdminStore, KeyStore, Notice, Notices, OnboardingStore, SettingsStore, Store,
    UsageStore, open,
};

/// The store trait and its domain traits: one `use switchyard_store::prelude::*` makes every
/// store method callable on an `Arc<dyn Store>`.
pub mod prelude {
    pub use crate::sql::{
        AccountStore, AdminStore, KeyStore, OnboardingStore, SettingsStore, Store, UsageStore,
    };
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Config(String),
    #[error(
        "the master key does not match the one this data was encrypted with (check SWITCHYARD_MASTER_KEY or master.key in the data directory)"
    )]
    WrongMasterKey,
    #[error("{0}")]
    Crypto(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Database(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return StoreError::Conflict(format!("already exists ({})", db.message()));
        }
        StoreError::Database(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
