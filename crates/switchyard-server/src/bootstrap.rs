//! Every start: make sure an active admin exists, creating one with a one-time password when
//! none does (a fresh store, or one where users were added before the first start).

use rand::Rng;
use switchyard_store::{Store, StoreError, crypto};

/// An admin created at start.
#[derive(Debug)]
pub struct CreatedAdmin {
    pub name: String,
    /// The generated one-time password, which the caller prints once; `None` when the operator
    /// gave it in `SWITCHYARD_ADMIN_PASSWORD` (it is never echoed).
    pub generated_password: Option<String>,
}

/// Creates an admin when the store has no active user with the admin role. The name is
/// `admin`, or `admin-2`, `admin-3`, … when a user already holds it. Returns `None` when an
/// active admin exists.
pub async fn ensure_admin(store: &dyn Store) -> Result<Option<CreatedAdmin>, StoreError> {
    let users = store.list_users().await?;
    if users
        .iter()
        .any(|u| u.role == "admin" && u.status == "active")
    {
        return Ok(None);
    }
    let taken = |name: &str| users.iter().any(|u| u.name == name);
    let name = std::iter::once("admin".to_string())
        .chain((2..).map(|n| format!("admin-{n}")))
        .find(|n| !taken(n))
        .unwrap_or_else(|| "admin".into());
    let given = std::env::var("SWITCHYARD_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    let password = given.clone().unwrap_or_else(generate_password);
    let hash = crypto::hash_password(&password)?;
    store.create_user(&name, "admin", Some(&hash)).await?;
    let why = if users.is_empty() {
        "first start"
    } else {
        "no active admin at start"
    };
    store
        .audit("system", "user.create", Some(&name), Some(why))
        .await?;
    Ok(Some(CreatedAdmin {
        name,
        generated_password: given.is_none().then_some(password),
    }))
}

impl CreatedAdmin {
    /// What to tell the operator: the one-time password, or that theirs was taken.
    pub fn announcement(&self) -> String {
        match &self.generated_password {
            Some(p) => format!(
                "created admin user `{}` with one-time password: {p}",
                self.name
            ),
            None => format!(
                "created admin user `{}` with the password from SWITCHYARD_ADMIN_PASSWORD",
                self.name
            ),
        }
    }
}

pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
