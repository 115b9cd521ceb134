//! First start: create the admin user with a one-time password.

use rand::Rng;
use switchyard_store::{Store, StoreError, crypto};

/// Creates `admin` when the store has no users and returns its generated password, which the
/// caller prints once. Later starts return `None` and print nothing secret.
pub async fn ensure_admin(store: &dyn Store) -> Result<Option<String>, StoreError> {
    if !store.list_users().await?.is_empty() {
        return Ok(None);
    }
    let password = std::env::var("SWITCHYARD_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(generate_password);
    let hash = crypto::hash_password(&password)?;
    store.create_user("admin", "admin", Some(&hash)).await?;
    store
        .audit("system", "user.create", Some("admin"), Some("first start"))
        .await?;
    Ok(Some(password))
}

pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}
