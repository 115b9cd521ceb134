//! Upstream accounts: create, change, enable or disable, remove; list and get as
//! [`AccountView`]s (credentials masked). The input types are the admin API's documented
//! bodies; the CLI fills the same ones from its flags.
//!
//! Decided here once for every front:
//! - An account's `base_url` is an `http` or `https` URL with a host, kept without a trailing
//!   `/`. SOCKS belongs to the `proxy_url` field (a proxy URL or a proxy's name, ADR 0007).
//! - An operator's disable records the reason [`OPERATOR_REASON`], as the health check
//!   records its own; enabling clears the error state.

use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use switchyard_core::Secret;
use switchyard_core::account::{
    Account, AccountKind, AccountStatus, Credentials, missing_credentials,
};
use switchyard_store::{AccountPatch, AccountState, NewAccount};

use super::{Ctx, OpError, invalid, value};
use crate::views::AccountView;

/// The reason an account disabled by an operator carries (the health check's is
/// [`crate::health_check`]'s own).
pub const OPERATOR_REASON: &str = "operator";

#[derive(Deserialize, JsonSchema, Default)]
pub struct AccountFilter {
    pub kind: Option<AccountKind>,
    pub status: Option<AccountStatus>,
    /// Group id or name.
    pub group: Option<String>,
}

/// Secrets of an account. Write-only: never returned.
#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CredentialsBody {
    pub api_key: Option<String>,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub session_key: Option<String>,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<String>,
    pub aws_session_token: Option<String>,
    pub client_secret: Option<String>,
}

impl CredentialsBody {
    fn is_empty(&self) -> bool {
        self.api_key.is_none()
            && self.access_token.is_none()
            && self.refresh_token.is_none()
            && self.expires_at.is_none()
            && self.session_key.is_none()
            && self.aws_access_key_id.is_none()
            && self.aws_secret_access_key.is_none()
            && self.aws_session_token.is_none()
            && self.client_secret.is_none()
    }

    /// Given fields replace the old ones; the others stay.
    fn merge_into(self, old: Credentials) -> Credentials {
        let s = |v: Option<String>| v.filter(|v| !v.is_empty()).map(Secret::new);
        Credentials {
            api_key: s(self.api_key).or(old.api_key),
            access_token: s(self.access_token).or(old.access_token),
            refresh_token: s(self.refresh_token).or(old.refresh_token),
            expires_at: self.expires_at.or(old.expires_at),
            session_key: s(self.session_key).or(old.session_key),
            aws_access_key_id: s(self.aws_access_key_id).or(old.aws_access_key_id),
            aws_secret_access_key: s(self.aws_secret_access_key).or(old.aws_secret_access_key),
            aws_session_token: s(self.aws_session_token).or(old.aws_session_token),
            client_secret: s(self.client_secret).or(old.client_secret),
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccountBody {
    pub kind: AccountKind,
    /// Not a number (ids and names share selectors).
    #[schemars(regex(pattern = r"[^0-9\s]"))]
    pub name: String,
    pub base_url: Option<String>,
    /// Lower is tried first (default 50).
    pub priority: Option<i32>,
    /// Share within a priority tier (default 1).
    pub weight: Option<u32>,
    /// Models served (`prefix*` allowed); empty: any.
    #[serde(default)]
    pub allowed_models: Vec<String>,
    /// Requested model → upstream model.
    #[serde(default)]
    pub model_map: BTreeMap<String, String>,
    pub max_concurrency: Option<u32>,
    pub proxy_url: Option<String>,
    /// Kind-specific, non-secret settings (`deployment`, `api_version`, `region`, `project`,
    /// `client_id`, `health_check`, `pause_at_utilization`).
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub credentials: CredentialsBody,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AccountPatchBody {
    pub name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<String>")]
    pub base_url: Option<Option<String>>,
    pub priority: Option<i32>,
    pub weight: Option<u32>,
    pub allowed_models: Option<Vec<String>>,
    pub model_map: Option<BTreeMap<String, String>>,
    pub max_concurrency: Option<u32>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<String>")]
    pub proxy_url: Option<Option<String>>,
    /// Merged into the stored settings; a `null` value removes a setting.
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
    /// Given secrets replace the stored ones; the others stay.
    pub credentials: Option<CredentialsBody>,
}

impl AccountPatchBody {
    /// Whether the change gives no field at all.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.base_url.is_none()
            && self.priority.is_none()
            && self.weight.is_none()
            && self.allowed_models.is_none()
            && self.model_map.is_none()
            && self.max_concurrency.is_none()
            && self.proxy_url.is_none()
            && self.extra.is_none()
            && self.credentials.is_none()
    }
}

/// Tells a missing field from an explicit `null`.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// An account's base URL, checked and normalised: `http`/`https` with a host, no trailing `/`.
pub fn check_base_url(url: &str) -> Result<String, OpError> {
    let ok = url::Url::parse(url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if ok {
        Ok(url.trim_end_matches('/').to_string())
    } else {
        Err(invalid(
            "base_url",
            format!("`{url}` is not an http(s) URL with a host (a SOCKS proxy goes in proxy_url)"),
        ))
    }
}

fn check_name(name: &str) -> Result<(), OpError> {
    if name
        .chars()
        .any(|c| !c.is_ascii_digit() && !c.is_whitespace())
    {
        Ok(())
    } else {
        Err(invalid(
            "name",
            "an account name must not be empty or a number",
        ))
    }
}

/// Checks the kind-specific settings an operator can give.
fn check_extra(extra: &serde_json::Map<String, serde_json::Value>) -> Result<(), OpError> {
    if let Some(p) = extra.get("pause_at_utilization").filter(|v| !v.is_null())
        && !p.as_f64().is_some_and(|p| (0.0..=100.0).contains(&p))
    {
        return Err(invalid(
            "pause_at_utilization",
            "must be a percentage between 0 and 100",
        ));
    }
    Ok(())
}

/// The core's message names CLI flags (`--api-key`); operations name fields (`api_key`).
fn missing(kind: AccountKind, message: &str) -> OpError {
    let article = if kind.as_str().starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    let fields: Vec<String> = message
        .replace("this kind of account", &format!("{article} {kind} account"))
        .split(' ')
        .map(|w| match w.strip_prefix("--") {
            Some(flag) => flag.replace('-', "_"),
            None => w.to_string(),
        })
        .collect();
    invalid("credentials", fields.join(" "))
}

async fn check_proxy(ctx: &Ctx<'_>, proxy: Option<&str>) -> Result<(), OpError> {
    match proxy {
        Some(p) => super::proxies::check_account_proxy(ctx.store, p).await,
        None => Ok(()),
    }
}

async fn view(ctx: &Ctx<'_>, account: &Account) -> AccountView {
    let quotas = ctx.store.account_quotas().await.unwrap_or_default();
    AccountView::new(account, quotas.get(&account.id))
}

/// The stored account by id or name.
pub async fn find(ctx: &Ctx<'_>, selector: &str) -> Result<Account, OpError> {
    Ok(ctx.store.find_account(selector).await?)
}

pub async fn get(ctx: &Ctx<'_>, selector: &str) -> Result<AccountView, OpError> {
    let account = find(ctx, selector).await?;
    Ok(view(ctx, &account).await)
}

pub async fn list(ctx: &Ctx<'_>, filter: &AccountFilter) -> Result<Vec<AccountView>, OpError> {
    let accounts = ctx.store.list_accounts().await?;
    let members = match &filter.group {
        Some(g) => match ctx.store.find_group(g).await {
            Ok(group) => Some(group.account_ids),
            Err(switchyard_store::StoreError::NotFound(_)) => {
                return Err(invalid("group", format!("no account group `{g}`")));
            }
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let quotas = ctx.store.account_quotas().await.unwrap_or_default();
    Ok(accounts
        .iter()
        .filter(|a| filter.kind.is_none_or(|k| a.kind == k))
        .filter(|a| filter.status.is_none_or(|s| a.status == s))
        .filter(|a| members.as_ref().is_none_or(|m| m.contains(&a.id)))
        .map(|a| AccountView::new(a, quotas.get(&a.id)))
        .collect())
}

pub async fn create(ctx: &Ctx<'_>, b: NewAccountBody) -> Result<AccountView, OpError> {
    check_name(&b.name)?;
    let base_url = b.base_url.as_deref().map(check_base_url).transpose()?;
    check_proxy(ctx, b.proxy_url.as_deref()).await?;
    check_extra(&b.extra)?;
    let credentials = b.credentials.merge_into(Credentials::default());
    let deployment = b.extra.get("deployment").and_then(|v| v.as_str());
    if let Some(message) =
        missing_credentials(b.kind, &credentials, base_url.as_deref(), deployment)
    {
        return Err(missing(b.kind, message));
    }
    let created = ctx
        .store
        .create_account(NewAccount {
            kind: Some(b.kind),
            name: b.name,
            base_url,
            priority: b.priority,
            weight: b.weight,
            allowed_models: b.allowed_models,
            model_map: b.model_map,
            max_concurrency: b.max_concurrency,
            proxy_url: b.proxy_url.filter(|p| !p.is_empty()),
            extra: b.extra,
            credentials,
        })
        .await?;
    let v = view(ctx, &created).await;
    ctx.record("account.create", &created.name, None, value(&v))
        .await;
    Ok(v)
}

/// Changes the given fields; an empty `base_url` or `proxy_url` clears it, like `null`.
pub async fn update(
    ctx: &Ctx<'_>,
    selector: &str,
    b: AccountPatchBody,
) -> Result<AccountView, OpError> {
    let old = find(ctx, selector).await?;
    if b.is_empty() {
        // Nothing to store or audit (`account set NAME --enabled …` gives only the status).
        return Ok(view(ctx, &old).await);
    }
    if let Some(name) = &b.name {
        check_name(name)?;
    }
    let base_url = match b.base_url {
        Some(Some(u)) if !u.is_empty() => Some(Some(check_base_url(&u)?)),
        Some(_) => Some(None),
        None => None,
    };
    let proxy_url = b.proxy_url.map(|p| p.filter(|p| !p.is_empty()));
    check_proxy(ctx, proxy_url.as_ref().and_then(Option::as_deref)).await?;
    let extra = match b.extra {
        Some(changes) => {
            let mut extra = old.extra.clone();
            for (k, v) in changes {
                if v.is_null() {
                    extra.remove(&k);
                } else {
                    extra.insert(k, v);
                }
            }
            check_extra(&extra)?;
            Some(extra)
        }
        None => None,
    };
    let before = view(ctx, &old).await;
    let credentials = b
        .credentials
        .filter(|c| !c.is_empty())
        .map(|c| c.merge_into(old.credentials.clone()));
    let patch = AccountPatch {
        name: b.name,
        base_url,
        priority: b.priority,
        weight: b.weight,
        allowed_models: b.allowed_models,
        model_map: b.model_map,
        max_concurrency: b.max_concurrency,
        proxy_url,
        extra,
        credentials,
    };
    let updated = ctx.store.update_account(old.id, patch).await?;
    let after = view(ctx, &updated).await;
    ctx.record(
        "account.update",
        &updated.name,
        value(&before),
        value(&after),
    )
    .await;
    Ok(after)
}

/// Enabling makes the account active and clears its error state; disabling records
/// [`OPERATOR_REASON`] and is never undone automatically.
pub async fn set_enabled(
    ctx: &Ctx<'_>,
    selector: &str,
    enabled: bool,
) -> Result<AccountView, OpError> {
    let old = find(ctx, selector).await?;
    let state = if enabled {
        AccountState {
            status: AccountStatus::Active,
            reason: None,
            until: None,
            consecutive_errors: 0,
        }
    } else {
        AccountState {
            status: AccountStatus::Disabled,
            reason: Some(OPERATOR_REASON.into()),
            until: None,
            consecutive_errors: old.consecutive_errors,
        }
    };
    ctx.store
        .set_account_state_by_operator(old.id, &state)
        .await?;
    ctx.changed().await;
    let updated = find(ctx, &old.id.to_string()).await?;
    let action = if enabled {
        "account.enable"
    } else {
        "account.disable"
    };
    ctx.record(
        action,
        &updated.name,
        Some(serde_json::json!({"status": old.status})),
        Some(serde_json::json!({"status": updated.status})),
    )
    .await;
    Ok(view(ctx, &updated).await)
}

/// Removes the account; answers with what it was.
pub async fn remove(ctx: &Ctx<'_>, selector: &str) -> Result<AccountView, OpError> {
    let old = find(ctx, selector).await?;
    let before = view(ctx, &old).await;
    ctx.store.remove_account(old.id).await?;
    ctx.record("account.delete", &old.name, value(&before), None)
        .await;
    Ok(before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_http_or_https_with_a_host_and_lose_a_trailing_slash() {
        assert_eq!(
            check_base_url("https://relay.example.com/").ok().as_deref(),
            Some("https://relay.example.com")
        );
        assert_eq!(
            check_base_url("http://127.0.0.1:8080/v1").ok().as_deref(),
            Some("http://127.0.0.1:8080/v1")
        );
        for refused in [
            "socks5://127.0.0.1:1080",
            "socks5h://proxy:1080",
            "relay.example.com",
            "https://",
            "",
        ] {
            let e = check_base_url(refused).err();
            assert!(
                matches!(&e, Some(OpError::Invalid { field, .. }) if field == "base_url"),
                "{refused}: {e:?}"
            );
        }
    }

    #[test]
    fn missing_credentials_name_fields_and_the_kind() {
        let message = |kind| {
            let c = Credentials::default();
            match missing_credentials(kind, &c, None, None).map(|m| missing(kind, m)) {
                Some(OpError::Invalid { message, .. }) => message,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            message(AccountKind::Claude),
            "a claude account needs api_key"
        );
        assert_eq!(
            message(AccountKind::Openai),
            "an openai account needs api_key"
        );
        let official = message(AccountKind::ClaudeOfficial);
        assert!(
            official.starts_with("a claude-official account needs access_token,"),
            "{official}"
        );
        assert!(!official.contains("--"), "{official}");
    }
}
