//! Sticky-session identities.
//!
//! A conversation should keep landing on the same upstream account so that the provider's prompt
//! cache keeps paying off. The dialect layer picks the *material* that identifies a conversation
//! (a session id header, a hash of the first message, …); this module turns it into a short,
//! fixed-size key that can be stored in the coordination store without leaking the material.

use sha2::{Digest, Sha256};
use std::fmt;

/// Separates this hash from every other SHA-256 use in Switchyard (API key hashes in
/// particular), so a session key can never equal some other stored digest by construction.
const DOMAIN: &[u8] = b"switchyard-session-v1\0";

/// The sticky-routing identity of one conversation: 32 lowercase hex characters (128 bits),
/// enough to make accidental collisions irrelevant while keeping coordination-store keys short.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey(String);

impl SessionKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SessionKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Derives the session key for `material` as seen through API key `api_key_id`.
///
/// The key id is part of the hash so that two API keys (possibly different tenants) sending the
/// same material never share a binding. It is hashed as fixed-width bytes before the material,
/// so no choice of material can imitate another key id.
pub fn session_key(api_key_id: i64, material: &str) -> SessionKey {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN);
    hasher.update(api_key_id.to_be_bytes());
    hasher.update(material.as_bytes());
    let digest = hasher.finalize();
    SessionKey(hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_input_same_key() {
        assert_eq!(session_key(7, "conv-1"), session_key(7, "conv-1"));
    }

    #[test]
    fn scoped_by_api_key() {
        assert_ne!(session_key(7, "conv-1"), session_key(8, "conv-1"));
    }

    #[test]
    fn different_material_different_key() {
        assert_ne!(session_key(7, "conv-1"), session_key(7, "conv-2"));
    }

    #[test]
    fn shape_is_32_lowercase_hex() {
        let key = session_key(-1, "");
        assert_eq!(key.as_str().len(), 32);
        assert!(
            key.as_str()
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
        assert_eq!(key.to_string(), key.as_str());
    }
}
