//! The operations layer for account onboarding: every change an operator makes to proxies,
//! OAuth sign-ins and imports is validated, stored and audited here, once. The CLI and the
//! admin API are fronts: they parse their input, call one function below, and render the
//! result (the direction of DESIGN.md's "Operations" seam; the older resources still do this
//! in their fronts).
//!
//! - [`proxies`]: named proxies, `default_proxy`, and checking an account's proxy field.
//! - [`oauth`]: sign in with a subscription (authorisation code with PKCE), two steps.
//! - [`import`]: the official CLIs' credential files, and bulk export/import of accounts.

pub mod import;
pub mod oauth;
pub mod proxies;

use switchyard_store::{Store, StoreError};
use switchyard_upstream::{ClientPool, UpstreamHosts};

/// What an operation needs from the process it runs in; the server and the CLI build one.
pub struct Ctx<'a> {
    pub store: &'a dyn Store,
    pub clients: &'a ClientPool,
    pub hosts: &'a UpstreamHosts,
    /// How the audit log names the caller (`cli`, `api:alice`).
    pub actor: &'a str,
}

impl Ctx<'_> {
    /// Writes an audit entry; a failed write is logged, never fatal to the change it records.
    pub async fn audit(&self, action: &str, target: &str, detail: serde_json::Value) {
        if let Err(e) = self
            .store
            .audit(self.actor, action, Some(target), Some(&detail.to_string()))
            .await
        {
            tracing::warn!(error = %e, action, "writing the audit log");
        }
    }
}

/// Why an operation was refused. Messages are for operators and never quote a secret.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The input is wrong; `field` names what to fix.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(String),
    /// The change conflicts with the current state (a name in use, a proxy still used).
    #[error("{0}")]
    Conflict(String),
    /// The provider refused or could not be reached; nothing was stored.
    #[error("{0}")]
    Upstream(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => OpError::NotFound(what),
            StoreError::Conflict(what) => OpError::Conflict(what),
            other => OpError::Store(other),
        }
    }
}

pub fn invalid(field: &'static str, message: impl Into<String>) -> OpError {
    OpError::Invalid {
        field,
        message: message.into(),
    }
}
