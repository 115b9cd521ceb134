//! Secret encryption at rest: AES-256-GCM under the master key, and argon2 password hashes.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use std::path::Path;

use crate::StoreError;

/// Version tag of the ciphertext format, so the format can change without guessing.
const FORMAT: &str = "v1:";
const KEY_FILE: &str = "master.key";
pub const MASTER_KEY_ENV: &str = "SWITCHYARD_MASTER_KEY";

/// The 256-bit key that encrypts upstream credentials. Never printed.
#[derive(Clone)]
pub struct MasterKey(Aes256Gcm);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    /// Parses a key given as 64 hex characters or as base64 of 32 bytes.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            B64.decode(text).ok()
        };
        match bytes {
            Some(b) if b.len() == 32 => Ok(Self::from_bytes(&b)),
            _ => Err(StoreError::Config(format!(
                "{MASTER_KEY_ENV} must be 32 bytes as 64 hex characters or base64"
            ))),
        }
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        Self(Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(bytes)))
    }

    /// The key from `explicit` (the environment or config) or else from `master.key` in the
    /// data directory. When neither exists a new key is generated, and the returned
    /// [`PendingKeyFile`] must be written once the store accepted the key: a store that
    /// refuses it (its data was encrypted under another key) must not leave a key file
    /// behind that can never decrypt it.
    pub fn load(
        explicit: Option<&str>,
        data_dir: &Path,
    ) -> Result<(Self, Option<PendingKeyFile>), StoreError> {
        if let Some(text) = explicit {
            return Ok((Self::parse(text)?, None));
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text).map(|k| (k, None)).map_err(|_| {
                StoreError::Config(format!("{} is not a valid master key file", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                Ok((
                    Self::from_bytes(&bytes),
                    Some(PendingKeyFile {
                        path,
                        hex: hex::encode(bytes),
                    }),
                ))
            }
            Err(e) => Err(StoreError::Config(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    pub fn encrypt(&self, plain: &[u8]) -> Result<String, StoreError> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .0
            .encrypt(Nonce::from_slice(&nonce), plain)
            .map_err(|_| StoreError::Crypto("encryption failed".into()))?;
        let mut out = Vec::with_capacity(12 + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(format!("{FORMAT}{}", B64.encode(out)))
    }

    pub fn decrypt(&self, text: &str) -> Result<Vec<u8>, StoreError> {
        let raw = text
            .strip_prefix(FORMAT)
            .and_then(|b| B64.decode(b).ok())
            .filter(|b| b.len() > 12)
            .ok_or_else(|| StoreError::Crypto("stored secret is not in a known format".into()))?;
        let (nonce, sealed) = raw.split_at(12);
        self.0
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| StoreError::WrongMasterKey)
    }
}

/// A newly generated key not yet on disk.
pub struct PendingKeyFile {
    path: std::path::PathBuf,
    hex: String,
}

impl PendingKeyFile {
    /// Writes the key file with mode 0600.
    pub fn write(self) -> Result<(), StoreError> {
        write_private(&self.path, &self.hex)
            .map_err(|e| StoreError::Config(format!("cannot write {}: {e}", self.path.display())))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

pub fn hash_password(password: &str) -> Result<String, StoreError> {
    // 16 random bytes, the salt length argon2 recommends (the crate's own generator wants an
    // older rand_core than the rest of the graph).
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let salt = SaltString::encode_b64(&bytes)
        .map_err(|e| StoreError::Crypto(format!("password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Crypto(format!("password hashing failed: {e}")))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_key() {
        let a = MasterKey::parse(&"11".repeat(32)).unwrap();
        let b = MasterKey::parse(&"22".repeat(32)).unwrap();
        let sealed = a.encrypt(b"sk-ant-secret").unwrap();
        assert!(!sealed.contains("sk-ant"));
        assert_eq!(a.decrypt(&sealed).unwrap(), b"sk-ant-secret");
        assert!(matches!(
            b.decrypt(&sealed),
            Err(StoreError::WrongMasterKey)
        ));
    }

    #[test]
    fn passwords() {
        let h = hash_password("hunter2").unwrap();
        assert!(h.starts_with("$argon2"));
        assert!(verify_password("hunter2", &h));
        assert!(!verify_password("hunter3", &h));
    }
}
