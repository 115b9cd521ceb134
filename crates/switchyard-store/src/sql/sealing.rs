//! How secrets are stored, the same for every backend: credentials as one sealed JSON
//! document, URLs sealed only when they carry a user or password, proxy URLs and OAuth flows
//! always sealed, and a sealed known text that proves the master key on every start.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchyard_core::Secret;
use switchyard_core::account::Credentials;

use crate::{MasterKey, Result, StoreError};

/// A known plain text, encrypted on first start, that proves the master key on later starts.
const KEY_CHECK: &str = "switchyard-master-key-check";

/// Marks a sealed URL column value.
const SEALED_URL: &str = "sealed:";

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

/// Seals and opens stored secrets with the master key.
pub(crate) struct Sealer {
    key: MasterKey,
}

impl Sealer {
    pub(crate) fn new(key: MasterKey) -> Self {
        Self { key }
    }

    /// The value to store on first start, when the database holds no key check yet.
    pub(crate) fn new_key_check(&self) -> Result<String> {
        self.key.encrypt(KEY_CHECK.as_bytes())
    }

    /// Refuses to run with a master key other than the one the data was sealed with, before
    /// anything is read or written with it.
    pub(crate) fn verify_key_check(&self, stored: &str) -> Result<()> {
        if self.key.decrypt(stored)? != KEY_CHECK.as_bytes() {
            return Err(StoreError::WrongMasterKey);
        }
        Ok(())
    }

    pub(crate) fn seal_credentials(&self, creds: &Credentials) -> Result<String> {
        let text = |s: &Option<Secret>| s.as_ref().map(|s| s.expose().to_string());
        let plain = PlainCredentials {
            api_key: text(&creds.api_key),
            access_token: text(&creds.access_token),
            refresh_token: text(&creds.refresh_token),
            expires_at: creds.expires_at,
            session_key: text(&creds.session_key),
            aws_access_key_id: text(&creds.aws_access_key_id),
            aws_secret_access_key: text(&creds.aws_secret_access_key),
            aws_session_token: text(&creds.aws_session_token),
            client_secret: text(&creds.client_secret),
        };
        let json = serde_json::to_vec(&plain).map_err(|e| StoreError::Crypto(e.to_string()))?;
        self.key.encrypt(&json)
    }

    pub(crate) fn open_credentials(&self, sealed: &str) -> Result<Credentials> {
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

    /// A URL with credentials in it (a proxy's or a mirror's user and password) is stored
    /// sealed like the other credentials: `sealed:` + the ciphertext. URLs without them stay
    /// readable.
    pub(crate) fn seal_url(&self, url: Option<&str>) -> Result<Option<String>> {
        match url {
            Some(u) if has_userinfo(u) => Ok(Some(format!(
                "{SEALED_URL}{}",
                self.key.encrypt(u.as_bytes())?
            ))),
            other => Ok(other.map(str::to_string)),
        }
    }

    pub(crate) fn open_url(&self, stored: Option<String>) -> Result<Option<String>> {
        match stored {
            Some(s) if s.starts_with(SEALED_URL) => self
                .open_text(&s[SEALED_URL.len()..], "a stored URL")
                .map(Some),
            other => Ok(other),
        }
    }

    /// Whether a stored URL was written in plain text although it carries a user or
    /// password (stores from before URLs were sealed).
    pub(crate) fn needs_sealing(stored: &str) -> bool {
        !stored.starts_with(SEALED_URL) && has_userinfo(stored)
    }

    /// Seals a value that is a secret as a whole (a named proxy's URL, an OAuth flow).
    pub(crate) fn seal_text(&self, plain: &str) -> Result<String> {
        self.key.encrypt(plain.as_bytes())
    }

    /// Opens a [`Sealer::seal_text`] value; `what` names it in the error.
    pub(crate) fn open_text(&self, sealed: &str, what: &str) -> Result<String> {
        String::from_utf8(self.key.decrypt(sealed)?)
            .map_err(|_| StoreError::Crypto(format!("{what} is not text")))
    }
}

/// Whether `url` carries a user name or password (`scheme://user:pass@host…`).
fn has_userinfo(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.contains('@')
}
