//! Switchyard API keys: create (the full key is returned once), change the policy, revoke,
//! rotate; list and get. An operator reaches every key. A member ([`Who::Member`]) sees only
//! its own keys and creates, revokes and rotates them only when the `user_key_self_service`
//! setting allows, never bound to accounts or groups; its keys are routed through the shared
//! pool under its own limits.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_core::key::{self, ApiKey, KeyPolicy};
use switchyard_core::settings::Settings;
use switchyard_store::{NewApiKey, User};

use super::{Ctx, OpError, invalid, value};

/// Who acts on keys.
#[derive(Clone, Copy)]
pub enum Who<'a> {
    /// An admin (or the CLI): every key. New keys belong to this user unless one is named.
    Operator(Option<&'a User>),
    /// A user without the admin role: its own keys only.
    Member(&'a User),
}

#[derive(Serialize, JsonSchema)]
pub struct KeyView {
    pub id: i64,
    pub name: String,
    /// The first characters, enough to recognise the key. The key itself is never shown again.
    pub prefix: String,
    pub user_id: i64,
    /// `active` or `revoked`.
    pub status: String,
    pub policy: KeyPolicy,
    pub first_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<&ApiKey> for KeyView {
    fn from(k: &ApiKey) -> Self {
        KeyView {
            id: k.id,
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            user_id: k.user_id,
            status: k.status.as_str().into(),
            policy: k.policy.clone(),
            first_used_at: k.first_used_at,
            created_at: k.created_at,
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    #[schemars(regex(pattern = r"\S"))]
    pub name: String,
    /// Owner's user name (default: the caller).
    pub user: Option<String>,
    #[serde(default)]
    pub policy: KeyPolicy,
}

#[derive(Serialize, JsonSchema)]
pub struct CreatedKey {
    /// The full key (`sk-sy-…`), shown only in this answer.
    pub key: String,
    #[serde(flatten)]
    pub info: KeyView,
}

/// Whether members may create, revoke and rotate their own keys.
pub async fn self_service_allowed(ctx: &Ctx<'_>) -> Result<bool, OpError> {
    let stored = ctx.store.settings().await?;
    Ok(Settings::from_stored(&stored).user_key_self_service)
}

async fn self_service(ctx: &Ctx<'_>, who: Who<'_>) -> Result<(), OpError> {
    if matches!(who, Who::Operator(_)) || self_service_allowed(ctx).await? {
        Ok(())
    } else {
        Err(OpError::Forbidden(
            "users may not manage their own keys here (setting `user_key_self_service`)".into(),
        ))
    }
}

pub async fn list(ctx: &Ctx<'_>, who: Who<'_>) -> Result<Vec<KeyView>, OpError> {
    Ok(ctx
        .store
        .list_keys()
        .await?
        .iter()
        .filter(|k| match who {
            Who::Operator(_) => true,
            Who::Member(u) => k.user_id == u.id,
        })
        .map(KeyView::from)
        .collect())
}

/// The key by id, prefix or name. A member looks among its own keys only: other users' keys
/// (and their names) do not exist for it.
pub async fn find(ctx: &Ctx<'_>, who: Who<'_>, selector: &str) -> Result<ApiKey, OpError> {
    let Who::Member(user) = who else {
        return Ok(ctx.store.find_key(selector).await?);
    };
    let own: Vec<ApiKey> = ctx
        .store
        .list_keys()
        .await?
        .into_iter()
        .filter(|k| k.user_id == user.id)
        .filter(|k| k.id.to_string() == selector || k.prefix == selector || k.name == selector)
        .collect();
    match <[ApiKey; 1]>::try_from(own) {
        Ok([k]) => Ok(k),
        Err(v) if v.is_empty() => Err(OpError::NotFound(format!("key `{selector}`"))),
        Err(_) => Err(OpError::Conflict(format!(
            "`{selector}` matches several of your keys; use the key's id"
        ))),
    }
}

pub async fn get(ctx: &Ctx<'_>, who: Who<'_>, selector: &str) -> Result<KeyView, OpError> {
    Ok(KeyView::from(&find(ctx, who, selector).await?))
}

fn check_policy(p: &KeyPolicy) -> Result<(), OpError> {
    p.validate().map_err(|e| invalid(e.field, e.message))
}

pub async fn create(ctx: &Ctx<'_>, who: Who<'_>, b: NewKeyBody) -> Result<CreatedKey, OpError> {
    self_service(ctx, who).await?;
    if b.name.trim().is_empty() {
        return Err(invalid("name", "a key needs a name"));
    }
    let default_owner = match who {
        Who::Operator(u) => u,
        Who::Member(u) => {
            if b.user.as_ref().is_some_and(|name| *name != u.name) {
                return Err(invalid("user", "a user creates keys for itself only"));
            }
            if b.policy.bound_account_id.is_some() {
                return Err(invalid(
                    "bound_account_id",
                    "only an admin binds keys to accounts or groups",
                ));
            }
            if b.policy.bound_group_id.is_some() {
                return Err(invalid(
                    "bound_group_id",
                    "only an admin binds keys to accounts or groups",
                ));
            }
            Some(u)
        }
    };
    let owner = match (&b.user, default_owner) {
        (Some(name), _) => ctx
            .store
            .user_by_name(name)
            .await?
            .ok_or_else(|| invalid("user", format!("user `{name}` not found")))?,
        (None, Some(u)) => u.clone(),
        (None, None) => return Err(invalid("user", "name the key's owner")),
    };
    check_policy(&b.policy)?;
    let generated = key::generate();
    let created = ctx
        .store
        .create_key(NewApiKey {
            user_id: owner.id,
            name: b.name,
            prefix: generated.prefix.clone(),
            hash: generated.hash.clone(),
            policy: b.policy,
        })
        .await?;
    let info = KeyView::from(&created);
    ctx.record("key.create", &created.prefix, None, value(&info))
        .await;
    Ok(CreatedKey {
        key: generated.full,
        info,
    })
}

/// Replaces the key's policy with `policy` (validated).
pub async fn set_policy(
    ctx: &Ctx<'_>,
    who: Who<'_>,
    selector: &str,
    policy: KeyPolicy,
) -> Result<KeyView, OpError> {
    let old = find(ctx, who, selector).await?;
    check_policy(&policy)?;
    let updated = ctx.store.set_key_policy(old.id, &policy).await?;
    let after = KeyView::from(&updated);
    ctx.record(
        "key.update",
        &updated.prefix,
        value(&KeyView::from(&old)),
        value(&after),
    )
    .await;
    Ok(after)
}

/// Changes the policy fields given (`null` clears one); unknown fields are refused.
pub async fn update(
    ctx: &Ctx<'_>,
    who: Who<'_>,
    selector: &str,
    changes: serde_json::Map<String, serde_json::Value>,
) -> Result<KeyView, OpError> {
    let old = find(ctx, who, selector).await?;
    let mut merged = match serde_json::to_value(&old.policy) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => return Err(invalid("policy", "the stored policy is not an object")),
    };
    for (field, v) in changes {
        if !merged.contains_key(&field) {
            let message = format!("unknown policy field `{field}`");
            return Err(invalid(field, message));
        }
        merged.insert(field, v);
    }
    let policy: KeyPolicy = serde_json::from_value(serde_json::Value::Object(merged))
        .map_err(|e| invalid("policy", e.to_string()))?;
    set_policy(ctx, who, &old.id.to_string(), policy).await
}

pub async fn revoke(ctx: &Ctx<'_>, who: Who<'_>, selector: &str) -> Result<KeyView, OpError> {
    self_service(ctx, who).await?;
    let old = find(ctx, who, selector).await?;
    let revoked = ctx.store.revoke_key(&old.id.to_string()).await?;
    let after = KeyView::from(&revoked);
    ctx.record(
        "key.revoke",
        &revoked.prefix,
        value(&KeyView::from(&old)),
        value(&after),
    )
    .await;
    Ok(after)
}

/// Replaces the key's secret, keeping its policy; the new key is returned once.
pub async fn rotate(ctx: &Ctx<'_>, who: Who<'_>, selector: &str) -> Result<CreatedKey, OpError> {
    self_service(ctx, who).await?;
    let old = find(ctx, who, selector).await?;
    let generated = key::generate();
    let rotated = ctx
        .store
        .rotate_key(old.id, &generated.prefix, &generated.hash)
        .await?;
    ctx.record(
        "key.rotate",
        &rotated.prefix,
        Some(serde_json::json!({"prefix": old.prefix})),
        Some(serde_json::json!({"prefix": rotated.prefix})),
    )
    .await;
    Ok(CreatedKey {
        key: generated.full,
        info: KeyView::from(&rotated),
    })
}
