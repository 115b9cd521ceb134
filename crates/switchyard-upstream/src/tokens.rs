//! OAuth access tokens for subscription accounts.
//!
//! A token is refreshed shortly before it expires, and once more when the upstream answers 401.
//! Refreshes are single-flight per account: concurrent requests wait on the account's lock and
//! reuse the token the first one obtained. The rotated refresh token is persisted through
//! [`PersistCredentials`] before anyone uses the new access token, so a crash never loses it.

use chrono::{DateTime, Duration, Utc};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use switchyard_core::Secret;
use switchyard_core::account::{Account, AccountId, Credentials};

/// Refresh when less than this much validity is left.
const REFRESH_MARGIN_SECONDS: i64 = 120;

/// Where a refreshed credential set is saved (the store, in the server).
pub trait PersistCredentials: Send + Sync {
    fn persist(&self, id: AccountId, creds: Credentials) -> BoxFuture<'_, Result<(), String>>;
}

/// The token endpoint and public client id of one OAuth provider.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub token_url: String,
    pub client_id: String,
    /// Extra fields sent with a refresh (e.g. a scope).
    pub extra: Vec<(String, String)>,
    /// How the refresh grant is sent.
    pub grant: GrantEncoding,
}

/// The body format of a refresh grant. Providers differ: Anthropic's and OpenAI's token
/// endpoints take JSON, Google's takes only the standard form body and wants the client secret
/// of the (installed-app) client that obtained the token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum GrantEncoding {
    #[default]
    Json,
    /// `application/x-www-form-urlencoded` (RFC 6749 §6), with `client_secret` when given.
    Form { client_secret: Option<Secret> },
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("account has no access token")]
    NoAccessToken,
    #[error("access token expired and the account has no refresh token")]
    NoRefreshToken,
    #[error("token refresh failed: {0}")]
    Refresh(String),
    #[error("token refresh rejected ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("saving the refreshed token failed: {0}")]
    Persist(String),
}

#[derive(Clone)]
struct Held {
    access: Secret,
    refresh: Option<Secret>,
    expires_at: Option<DateTime<Utc>>,
    /// The access token in the account snapshot when this was obtained; a different one in
    /// the snapshot later means an operator replaced the credentials.
    based_on: Option<Secret>,
}

pub struct TokenManager {
    cells: Mutex<HashMap<AccountId, Arc<tokio::sync::Mutex<Option<Held>>>>>,
    persist: Arc<dyn PersistCredentials>,
}

impl TokenManager {
    pub fn new(persist: Arc<dyn PersistCredentials>) -> Self {
        Self {
            cells: Mutex::new(HashMap::new()),
            persist,
        }
    }

    fn cell(&self, id: AccountId) -> Arc<tokio::sync::Mutex<Option<Held>>> {
        let mut map = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(id).or_default().clone()
    }

    /// A usable access token for `account`. With `rejected`, the caller just saw that token
    /// fail with 401: refresh unless another request already replaced it.
    pub async fn access_token(
        &self,
        account: &Account,
        http: &reqwest::Client,
        oauth: &OAuthClient,
        rejected: Option<&Secret>,
        now: DateTime<Utc>,
    ) -> Result<Secret, TokenError> {
        let cell = self.cell(account.id);
        let mut held = cell.lock().await;
        let snapshot = &account.credentials;
        let current = match held.as_ref() {
            Some(h)
                if snapshot.access_token.is_none()
                    || snapshot.access_token == Some(h.access.clone())
                    || snapshot.access_token == h.based_on =>
            {
                h.clone()
            }
            // Only a refresh token was given: get an access token first.
            _ if snapshot.access_token.is_none() && snapshot.refresh_token.is_some() => Held {
                access: Secret::new(""),
                refresh: snapshot.refresh_token.clone(),
                expires_at: Some(DateTime::<Utc>::UNIX_EPOCH),
                based_on: None,
            },
            _ => Held {
                access: snapshot
                    .access_token
                    .clone()
                    .ok_or(TokenError::NoAccessToken)?,
                refresh: snapshot.refresh_token.clone(),
                // A JWT (ChatGPT) carries its own expiry when none was stored.
                expires_at: snapshot.expires_at.or_else(|| {
                    snapshot
                        .access_token
                        .as_ref()
                        .filter(|t| t.expose().starts_with("eyJ"))
                        .and_then(|t| crate::openai::chatgpt_claims(t.expose()).expires_at)
                }),
                based_on: snapshot.access_token.clone(),
            },
        };
        let stale = current
            .expires_at
            .is_some_and(|t| t - now < Duration::seconds(REFRESH_MARGIN_SECONDS));
        let must_refresh = match rejected {
            Some(bad) => *bad == current.access,
            None => stale,
        };
        if !must_refresh {
            *held = Some(current.clone());
            return Ok(current.access);
        }
        let refresh = current.refresh.clone().ok_or(TokenError::NoRefreshToken)?;
        // The refresh and the save of the rotated token run in their own task: once the
        // provider has rotated the refresh token, a caller that goes away (client disconnect,
        // a timed-out health probe, shutdown) must not lose it.
        let task = {
            let http = http.clone();
            let oauth = oauth.clone();
            let persist = self.persist.clone();
            let snapshot = snapshot.clone();
            let id = account.id;
            #[allow(
                clippy::disallowed_methods,
                reason = "must outlive its caller; not yet waited for at shutdown (no tracker in this crate)"
            )]
            tokio::spawn(async move {
                let fresh = refresh_token(&http, &oauth, &refresh, now).await?;
                let next = Held {
                    access: fresh.access_token,
                    refresh: Some(fresh.refresh_token.unwrap_or(refresh)),
                    expires_at: fresh.expires_at,
                    based_on: snapshot.access_token.clone(),
                };
                let creds = Credentials {
                    access_token: Some(next.access.clone()),
                    refresh_token: next.refresh.clone(),
                    expires_at: next.expires_at,
                    ..snapshot
                };
                let mut tries = 0;
                loop {
                    match persist.persist(id, creds.clone()).await {
                        Ok(()) => break,
                        Err(e) if tries < 5 => {
                            tries += 1;
                            tracing::warn!(account_id = id, error = %e, "saving refreshed token failed; retrying");
                            tokio::time::sleep(std::time::Duration::from_millis(200 * tries)).await;
                        }
                        Err(e) => return Err(TokenError::Persist(e)),
                    }
                }
                Ok(next)
            })
        };
        let next = task
            .await
            .map_err(|e| TokenError::Refresh(format!("refresh task failed: {e}")))??;
        tracing::info!(account = %account.name, "oauth token refreshed");
        *held = Some(next.clone());
        Ok(next.access)
    }
}

struct Refreshed {
    access_token: Secret,
    refresh_token: Option<Secret>,
    expires_at: Option<DateTime<Utc>>,
}

async fn refresh_token(
    http: &reqwest::Client,
    oauth: &OAuthClient,
    refresh: &Secret,
    now: DateTime<Utc>,
) -> Result<Refreshed, TokenError> {
    let mut fields: Vec<(&str, &str)> = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.expose()),
        ("client_id", &oauth.client_id),
    ];
    let (content_type, bytes) = match &oauth.grant {
        GrantEncoding::Json => {
            let mut body = serde_json::Map::new();
            for (k, v) in fields
                .iter()
                .copied()
                .chain(oauth.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            {
                body.insert(k.to_owned(), v.into());
            }
            let bytes =
                serde_json::to_vec(&body).map_err(|e| TokenError::Refresh(e.to_string()))?;
            ("application/json", bytes)
        }
        GrantEncoding::Form { client_secret } => {
            if let Some(secret) = client_secret {
                fields.push(("client_secret", secret.expose()));
            }
            fields.extend(oauth.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            (
                "application/x-www-form-urlencoded",
                form_encode(&fields).into_bytes(),
            )
        }
    };
    let resp = http
        .post(&oauth.token_url)
        .header("content-type", content_type)
        .header("accept", "application/json")
        .body(bytes)
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| TokenError::Refresh(e.without_url().to_string()))?;
    let status = resp.status().as_u16();
    let text = resp
        .bytes()
        .await
        .map_err(|e| TokenError::Refresh(e.without_url().to_string()))?;
    if !(200..300).contains(&status) {
        let message = String::from_utf8_lossy(&text[..text.len().min(300)]).into_owned();
        return Err(TokenError::Rejected { status, message });
    }
    let v: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| TokenError::Refresh(format!("token response is not JSON: {e}")))?;
    let access_token = v
        .get("access_token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| TokenError::Refresh("token response has no access_token".into()))?;
    let refresh_token = v
        .get("refresh_token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .map(Secret::new);
    let expires_at = v
        .get("expires_in")
        .and_then(|t| t.as_i64())
        .map(|secs| now + switchyard_core::time::seconds(secs));
    Ok(Refreshed {
        access_token: Secret::new(access_token),
        refresh_token,
        expires_at,
    })
}

/// `application/x-www-form-urlencoded` serialisation (WHATWG URL §5.2): unreserved bytes as
/// they are, space as `+`, everything else percent-encoded.
pub fn form_encode(fields: &[(&str, &str)]) -> String {
    fn encode(s: &str, out: &mut String) {
        for b in s.bytes() {
            match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                    out.push(char::from(b));
                }
                b' ' => out.push('+'),
                _ => {
                    const HEX: &[u8; 16] = b"0123456789ABCDEF";
                    out.push('%');
                    out.push(char::from(HEX[usize::from(b >> 4)]));
                    out.push(char::from(HEX[usize::from(b & 0x0f)]));
                }
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode(k, &mut out);
        out.push('=');
        encode(v, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(
            form_encode(&[("a", "1/0+x y"), ("k~", "é&=")]),
            "a=1%2F0%2Bx+y&k%7E=%C3%A9%26%3D"
        );
        assert_eq!(form_encode(&[]), "");
    }
}
