//! Runtime settings: list with types, defaults and descriptions; set (validated, and
//! `default_proxy` must name a proxy); reset to the default. Audit entries keep URLs without
//! their credentials.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_core::settings::{self, DEFS, SettingError};

use super::{Ctx, OpError, invalid};

#[derive(Serialize, JsonSchema)]
pub struct SettingView {
    pub key: String,
    /// `bool`, `int` or `text`.
    #[serde(rename = "type")]
    pub ty: String,
    pub value: String,
    pub default: String,
    pub description: String,
    /// Whether the value differs from the default because an operator set it.
    pub overridden: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingValue {
    /// The new value, as text (`true`, `15`, `https://…`).
    pub value: String,
}

pub async fn list(ctx: &Ctx<'_>) -> Result<Vec<SettingView>, OpError> {
    let stored = ctx.store.settings().await?;
    Ok(DEFS
        .iter()
        .map(|d| SettingView {
            key: d.key.into(),
            ty: d.ty.as_str().into(),
            value: settings::effective_text(&stored, d),
            default: d.default.into(),
            description: d.help.into(),
            overridden: stored.contains_key(d.key),
        })
        .collect())
}

pub async fn get(ctx: &Ctx<'_>, key: &str) -> Result<SettingView, OpError> {
    list(ctx)
        .await?
        .into_iter()
        .find(|v| v.key == key)
        .ok_or_else(|| OpError::NotFound(format!("setting `{key}`")))
}

/// What the audit log keeps of a value: URLs without their credentials.
fn shown(key: &str, value: &str) -> serde_json::Value {
    if key.ends_with("_url") {
        switchyard_core::secret::redact_url(value).into()
    } else {
        value.into()
    }
}

/// Stores the value in its canonical form (`yes` → `true`).
pub async fn set(ctx: &Ctx<'_>, key: &str, value: &str) -> Result<SettingView, OpError> {
    let before = get(ctx, key).await?;
    let value = match settings::validate(key, value) {
        Ok(v) => v,
        Err(e @ SettingError::Unknown(_)) => return Err(OpError::NotFound(e.to_string())),
        Err(e) => return Err(invalid("value", e.to_string())),
    };
    if key == "default_proxy" {
        super::proxies::check_default_proxy(ctx.store, &value).await?;
    }
    ctx.store.set_setting(key, &value).await?;
    ctx.record(
        "settings.set",
        key,
        Some(shown(key, &before.value)),
        Some(shown(key, &value)),
    )
    .await;
    get(ctx, key).await
}

pub async fn reset(ctx: &Ctx<'_>, key: &str) -> Result<SettingView, OpError> {
    let before = get(ctx, key).await?;
    ctx.store.reset_setting(key).await?;
    ctx.record(
        "settings.reset",
        key,
        Some(shown(key, &before.value)),
        Some(shown(key, &before.default)),
    )
    .await;
    get(ctx, key).await
}
