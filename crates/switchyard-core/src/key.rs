//! Switchyard API keys: generation, hashing, and the policy fields a key carries.

use chrono::{DateTime, Utc};
use rand::Rng;
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
    pub expires_at: Option<DateTime<Utc>>,
    pub allowed_models: Vec<String>,
    pub allowed_clients: Vec<String>,
    /// Concurrent requests; 0 means unlimited.
    pub concurrency_limit: u32,
    /// Requests per minute; 0 means unlimited.
    pub rate_limit_per_minute: u32,
    pub daily_cost_limit_usd: Option<f64>,
    pub total_cost_limit_usd: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
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
    let mut rng = rand::thread_rng();
    let body: String = (0..40)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
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
