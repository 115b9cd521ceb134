//! The operations layer (DESIGN.md's "Operations" seam, ADR 0012): every change an operator
//! makes is validated, stored, made visible to the request path and audited here, once, with
//! a typed [`OpError`]. The CLI, the admin API and (through the API) the web console are
//! fronts: they parse their input, call one function below, and render the result.
//!
//! - [`accounts`]: upstream accounts (create, change, enable/disable, remove).
//! - [`keys`]: Switchyard API keys and their policies, for operators and for members.
//! - [`users`]: users, roles, passwords and limits; the last active admin is kept.
//! - [`groups`]: account groups that keys can be bound to.
//! - [`settings`]: runtime settings; [`prices`]: model price overrides.
//! - [`proxies`]: named proxies, `default_proxy`, and checking an account's proxy field.
//! - [`oauth`]: sign in with a subscription (authorisation code with PKCE), two steps.
//! - [`import`]: the official CLIs' credential files, and bulk export/import of accounts.

pub mod accounts;
pub mod groups;
pub mod import;
pub mod keys;
pub mod oauth;
pub mod prices;
pub mod proxies;
pub mod settings;
pub mod users;

use std::borrow::Cow;
use switchyard_store::{Store, StoreError};
use switchyard_upstream::{ClientPool, UpstreamHosts};

/// What an operation needs from the process it runs in; the server and the CLI build one.
pub struct Ctx<'a> {
    pub store: &'a dyn Store,
    pub clients: &'a ClientPool,
    pub hosts: &'a UpstreamHosts,
    /// How the audit log names the caller (`cli`, `api:alice`).
    pub actor: &'a str,
    /// The running server, when the operation runs inside one: a change reloads its snapshot
    /// before the answer. Without one (the CLI), a running server notices the store's change
    /// counter within two seconds.
    pub live: Option<&'a crate::state::AppState>,
}

impl Ctx<'_> {
    /// Makes a stored change visible to the request path now, when there is one here.
    pub async fn changed(&self) {
        if let Some(state) = self.live
            && let Err(e) = state.refresh_if_changed().await
        {
            tracing::warn!(error = %e, "reloading the snapshot after a change");
        }
    }

    /// A change is done: its audit entry (before → after), then the request path sees it.
    pub async fn record(
        &self,
        action: &str,
        target: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) {
        self.audit(
            action,
            target,
            serde_json::json!({"before": before, "after": after}),
        )
        .await;
        self.changed().await;
    }

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
        field: Cow<'static, str>,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(String),
    /// The change conflicts with the current state (a name in use, a proxy still used).
    #[error("{0}")]
    Conflict(String),
    /// The caller may not do this (a member acting beyond its own keys, or a setting forbids it).
    #[error("{0}")]
    Forbidden(String),
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

/// The serialised form of a view for an audit entry.
pub fn value<T: serde::Serialize>(v: &T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}

pub fn invalid(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> OpError {
    OpError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}
