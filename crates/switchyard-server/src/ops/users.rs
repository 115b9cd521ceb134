//! Users: create (a password is generated when none is given, and returned once), change
//! role, status, password or limits, delete; list and get. Everything is checked before
//! anything changes. Nobody can demote, disable or delete the last active admin (no one could
//! sign in to undo it), and a changed password ends the user's browser sessions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_core::key::UserLimits;
use switchyard_store::User;

use super::{Ctx, OpError, invalid, value};

#[derive(Serialize, JsonSchema)]
pub struct UserView {
    pub id: i64,
    pub name: String,
    /// `admin` or `user`.
    pub role: String,
    /// `active` or `disabled`.
    pub status: String,
    pub limits: UserLimits,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id,
            name: u.name.clone(),
            role: u.role.clone(),
            status: u.status.clone(),
            limits: u.limits.clone(),
            created_at: u.created_at,
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    #[schemars(regex(pattern = r"^[^/]*[^/\s][^/]*$"))]
    pub name: String,
    /// `admin` or `user` (default `user`).
    #[schemars(regex(pattern = "^(admin|user)$"))]
    pub role: Option<String>,
    /// At least 8 characters; without it one is generated and returned once.
    #[schemars(length(min = 8, max = 1024))]
    pub password: Option<String>,
    #[serde(default)]
    pub limits: UserLimits,
}

#[derive(Serialize, JsonSchema)]
pub struct CreatedUser {
    #[serde(flatten)]
    pub user: UserView,
    /// Only when it was generated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UserPatchBody {
    #[schemars(regex(pattern = "^(admin|user)$"))]
    pub role: Option<String>,
    /// `active` or `disabled` (a disabled user's keys stop working at once).
    #[schemars(regex(pattern = "^(active|disabled)$"))]
    pub status: Option<String>,
    /// A new password (at least 8 characters); ends the user's browser sessions.
    #[schemars(length(min = 8, max = 1024))]
    pub password: Option<String>,
    pub limits: Option<UserLimits>,
}

/// A user by name.
pub async fn find(ctx: &Ctx<'_>, name: &str) -> Result<User, OpError> {
    ctx.store
        .user_by_name(name)
        .await?
        .ok_or_else(|| OpError::NotFound(format!("user `{name}`")))
}

pub async fn get(ctx: &Ctx<'_>, name: &str) -> Result<UserView, OpError> {
    Ok(UserView::from(&find(ctx, name).await?))
}

pub async fn list(ctx: &Ctx<'_>) -> Result<Vec<UserView>, OpError> {
    Ok(ctx
        .store
        .list_users()
        .await?
        .iter()
        .map(UserView::from)
        .collect())
}

/// Checks and hashes a password off the async threads (argon2 is slow on purpose).
async fn hash(password: String) -> Result<String, OpError> {
    if !(8..=1024).contains(&password.chars().count()) {
        return Err(invalid("password", "a password needs 8 to 1024 characters"));
    }
    tokio::task::spawn_blocking(move || switchyard_store::crypto::hash_password(&password))
        .await
        .map_err(|_| invalid("password", "hashing the password failed"))?
        .map_err(OpError::from)
}

fn check_role(role: &str) -> Result<(), OpError> {
    if role == "admin" || role == "user" {
        Ok(())
    } else {
        Err(invalid(
            "role",
            format!("unknown role `{role}` (expected admin or user)"),
        ))
    }
}

fn check_limits(limits: &UserLimits) -> Result<(), OpError> {
    limits.validate().map_err(|e| invalid(e.field, e.message))
}

pub async fn create(ctx: &Ctx<'_>, b: NewUserBody) -> Result<CreatedUser, OpError> {
    if b.name.trim().is_empty() || b.name.contains('/') {
        return Err(invalid(
            "name",
            "a user name must not be empty or contain `/`",
        ));
    }
    let role = b.role.unwrap_or_else(|| "user".into());
    check_role(&role)?;
    check_limits(&b.limits)?;
    let (password, generated) = match b.password {
        Some(p) => (p, false),
        None => (crate::bootstrap::generate_password(), true),
    };
    let hashed = hash(password.clone()).await?;
    let mut user = match ctx.store.create_user(&b.name, &role, Some(&hashed)).await {
        Ok(u) => u,
        Err(switchyard_store::StoreError::Invalid(m)) => return Err(invalid("role", m)),
        Err(e) => return Err(e.into()),
    };
    if b.limits != UserLimits::default() {
        user = ctx.store.set_user_limits(&b.name, &b.limits).await?;
    }
    let view = UserView::from(&user);
    ctx.record("user.create", &user.name, None, value(&view))
        .await;
    Ok(CreatedUser {
        user: view,
        password: generated.then_some(password),
    })
}

/// Refuses when `user` is the last active admin.
async fn keep_an_admin(ctx: &Ctx<'_>, user: &User) -> Result<(), OpError> {
    let others = ctx
        .store
        .list_users()
        .await?
        .iter()
        .filter(|u| u.id != user.id && u.role == "admin" && u.status == "active")
        .count();
    if others == 0 {
        return Err(OpError::Conflict(format!(
            "`{}` is the last active admin",
            user.name
        )));
    }
    Ok(())
}

pub async fn update(ctx: &Ctx<'_>, name: &str, b: UserPatchBody) -> Result<UserView, OpError> {
    let old = find(ctx, name).await?;
    if let Some(role) = &b.role {
        check_role(role)?;
    }
    if let Some(status) = &b.status
        && status != "active"
        && status != "disabled"
    {
        return Err(invalid(
            "status",
            format!("unknown status `{status}` (expected active or disabled)"),
        ));
    }
    if let Some(limits) = &b.limits {
        check_limits(limits)?;
    }
    let hashed = match b.password {
        Some(password) => Some(hash(password).await?),
        None => None,
    };
    let stops_being_admin = old.role == "admin"
        && old.status == "active"
        && (b.role.as_deref() == Some("user") || b.status.as_deref() == Some("disabled"));
    if stops_being_admin {
        keep_an_admin(ctx, &old).await?;
    }
    if let Some(role) = &b.role {
        ctx.store.set_user_role(name, role).await?;
    }
    if let Some(status) = &b.status {
        ctx.store.set_user_status(name, status).await?;
    }
    if let Some(limits) = &b.limits {
        ctx.store.set_user_limits(name, limits).await?;
    }
    if let Some(hashed) = &hashed {
        ctx.store.set_user_password(name, hashed).await?;
        ctx.store.revoke_user_sessions(old.id).await?;
    }
    let updated = UserView::from(&find(ctx, name).await?);
    ctx.record(
        "user.update",
        name,
        value(&UserView::from(&old)),
        value(&updated),
    )
    .await;
    Ok(updated)
}

/// Deletes a user that owns no keys; `acting` (the caller's user name, if any) cannot delete
/// itself.
pub async fn remove(ctx: &Ctx<'_>, name: &str, acting: Option<&str>) -> Result<UserView, OpError> {
    if acting == Some(name) {
        return Err(OpError::Conflict("you cannot delete yourself".into()));
    }
    let old = find(ctx, name).await?;
    if old.role == "admin" {
        keep_an_admin(ctx, &old).await?;
    }
    ctx.store.delete_user(name).await?;
    let view = UserView::from(&old);
    ctx.record("user.delete", name, value(&view), None).await;
    Ok(view)
}
