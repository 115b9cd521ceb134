//! Switchyard API keys: generation, hashing, and the policy fields a key carries.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const KEY_PREFIX: &str = "sk-sy-";
/// Characters of the full key kept in clear for display (`sk-sy-AbCd…`).
pub const DISPLAY_PREFIX_LEN: usize = 10;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// The first characters of the key, enough for a person to recognise it.
    pub prefix: String,
    /// Hex SHA-256 of the full key. Keys are 192 random bits, so a fast hash is sufficient.
    pub hash: String,
    pub status: KeyStatus,
    pub policy: KeyPolicy,
    /// When the key was first used; starts the clock of `policy.expires_after_seconds`.
    pub first_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// When the key stops working, if it does: a fixed time, or a duration from first use,
    /// whichever comes first. `first_use` is the first use known to the caller (it may be more
    /// recent than the stored one).
    pub fn expiry(&self, first_use: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        // Not clamped like upstream numbers: a two-year pass lasts two years. Lifetimes past
        // what a date can hold simply never end.
        let from_use = self.policy.expires_after_seconds.and_then(|secs| {
            let start = first_use.or(self.first_used_at)?;
            chrono::TimeDelta::try_seconds(secs).and_then(|d| start.checked_add_signed(d))
        });
        match (self.policy.expires_at, from_use) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// What a key may do. Every bound here is enforced in the admit phase; zero or empty means
/// "no limit" for the numeric and list fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct KeyPolicy {
    /// A fixed end of life.
    pub expires_at: Option<DateTime<Utc>>,
    /// A lifetime that starts at the key's first use (e.g. a 30-day pass handed out today
    /// but first used next week).
    #[schemars(range(min = 1))]
    pub expires_after_seconds: Option<i64>,
    /// Exact model names or glob patterns (`*`, `?`).
    pub allowed_models: Vec<String>,
    /// Dialect names (`anthropic`, `openai-chat`, `openai-responses`, `gemini`).
    pub allowed_dialects: Vec<String>,
    /// Client names (`claude_code`, `codex_cli`, `gemini_cli`); empty means any client.
    pub allowed_clients: Vec<String>,
    /// Concurrent requests; 0 means unlimited. Requests beyond it queue briefly, then get 429.
    pub concurrency_limit: u32,
    /// Requests per minute; 0 means unlimited.
    pub rate_limit_per_minute: u32,
    /// Tokens (all classes) per minute; 0 means unlimited.
    pub tokens_per_minute: u64,
    #[schemars(range(min = 0.0))]
    pub daily_cost_limit_usd: Option<f64>,
    #[schemars(range(min = 0.0))]
    pub weekly_cost_limit_usd: Option<f64>,
    #[schemars(range(min = 0.0))]
    pub total_cost_limit_usd: Option<f64>,
    /// Route only to this account…
    pub bound_account_id: Option<i64>,
    /// …or only to this account group.
    pub bound_group_id: Option<i64>,
    /// With a binding: when none of the bound accounts can serve, use the shared pool.
    pub pool_fallback: bool,
    /// This key's own `cross_dialect` (`off`, `fallback`, `any`); unset follows the setting.
    pub cross_dialect: Option<crate::model_routes::CrossDialect>,
}

/// A policy value that cannot hold, with the field it is in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PolicyError {
    pub field: &'static str,
    pub message: String,
}

fn check_usd(field: &'static str, value: Option<f64>) -> Result<(), PolicyError> {
    match value {
        Some(v) if !v.is_finite() || v < 0.0 => Err(PolicyError {
            field,
            message: format!("{v} must be a non-negative number of USD"),
        }),
        _ => Ok(()),
    }
}

const DIALECTS: [&str; 4] = ["anthropic", "openai-chat", "openai-responses", "gemini"];

impl KeyPolicy {
    /// What the types alone do not say; the one check the store, CLI and API all rely on.
    pub fn validate(&self) -> Result<(), PolicyError> {
        check_usd("daily_cost_limit_usd", self.daily_cost_limit_usd)?;
        check_usd("weekly_cost_limit_usd", self.weekly_cost_limit_usd)?;
        check_usd("total_cost_limit_usd", self.total_cost_limit_usd)?;
        if self.expires_after_seconds.is_some_and(|s| s <= 0) {
            return Err(PolicyError {
                field: "expires_after_seconds",
                message: "the lifetime from first use must be positive".into(),
            });
        }
        if let Some(d) = self
            .allowed_dialects
            .iter()
            .find(|d| !DIALECTS.contains(&d.as_str()))
        {
            return Err(PolicyError {
                field: "allowed_dialects",
                message: format!(
                    "unknown dialect `{d}` (expected anthropic, openai-chat, openai-responses or gemini)"
                ),
            });
        }
        if let Some(c) = self
            .allowed_clients
            .iter()
            .find(|c| crate::policy::ClientKind::parse(c).is_none())
        {
            return Err(PolicyError {
                field: "allowed_clients",
                message: format!(
                    "unknown client `{c}` (expected claude_code, codex_cli or gemini_cli)"
                ),
            });
        }
        if self.bound_account_id.is_some() && self.bound_group_id.is_some() {
            return Err(PolicyError {
                field: "bound_group_id",
                message: "a key is bound to one account or one group, not both".into(),
            });
        }
        Ok(())
    }
}

/// Limits that apply across all of one user's keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct UserLimits {
    /// Concurrent requests over all the user's keys; 0 means unlimited.
    pub concurrency_limit: u32,
    #[schemars(range(min = 0.0))]
    pub daily_cost_limit_usd: Option<f64>,
    #[schemars(range(min = 0.0))]
    pub weekly_cost_limit_usd: Option<f64>,
    #[schemars(range(min = 0.0))]
    pub total_cost_limit_usd: Option<f64>,
}

impl UserLimits {
    pub fn validate(&self) -> Result<(), PolicyError> {
        check_usd("daily_cost_limit_usd", self.daily_cost_limit_usd)?;
        check_usd("weekly_cost_limit_usd", self.weekly_cost_limit_usd)?;
        check_usd("total_cost_limit_usd", self.total_cost_limit_usd)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Revoked,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(KeyStatus::Active),
            "revoked" => Some(KeyStatus::Revoked),
            _ => None,
        }
    }
}

/// A freshly generated key: the full text (shown once) and what is stored.
pub struct NewKey {
    pub full: String,
    pub prefix: String,
    pub hash: String,
}

pub fn generate() -> NewKey {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let body: String = (0..40)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    let full = format!("{KEY_PREFIX}{body}");
    NewKey {
        prefix: full[..DISPLAY_PREFIX_LEN].to_string(),
        hash: hash(&full),
        full,
    }
}

pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_distinct_and_hash_matches() {
        let a = generate();
        let b = generate();
        assert_ne!(a.full, b.full);
        assert!(a.full.starts_with("sk-sy-"));
        assert_eq!(a.full.len(), 46);
        assert_eq!(hash(&a.full), a.hash);
        assert!(a.full.starts_with(&a.prefix));
    }
}
