//! Named proxies: add, list, change the URL, remove (refused while accounts use one, unless
//! forced), test; and the check of an account's `proxy` field (a URL inline, or a name).
//!
//! A proxy's URL may carry a user and password: it is stored encrypted and only ever shown
//! with the credentials replaced by `***` ([`redact_url`]), here, in audit entries and in
//! errors.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use std::time::{Duration, Instant};
use switchyard_core::secret::redact_url;
use switchyard_core::settings::Settings;
use switchyard_store::ProxyRecord;
use switchyard_upstream::client::check_proxy_url;

use super::{Ctx, OpError, invalid};

/// A proxy as operators see it: credentials never included.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ProxyView {
    pub id: i64,
    pub name: String,
    /// The URL with any `user:password@` replaced by `***@`.
    pub url: String,
    /// Whether the URL carries a user and password.
    pub authenticated: bool,
    /// Accounts that name this proxy.
    pub accounts: Vec<String>,
    /// Whether `default_proxy` names it (accounts without a proxy of their own use it).
    pub default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What `proxy test` found.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ProxyTestReport {
    pub proxy: String,
    pub target: String,
    pub ok: bool,
    /// Status of the target's answer, when one came.
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// The address the target saw, when it echoes one (`{"ip": …}`, `{"origin": …}` or a
    /// bare address).
    pub exit_address: Option<String>,
    pub error: Option<String>,
}

/// Where `proxy test` connects when no `--url` is given: answers with the caller's address.
pub const DEFAULT_TEST_URL: &str = "https://api.ipify.org?format=json";

fn check_name(name: &str) -> Result<(), OpError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.chars().all(|c| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "name",
            "a proxy name is 1-64 letters, digits, `-`, `_` or `.`, and not a number",
        ))
    }
}

fn check_url(url: &str) -> Result<(), OpError> {
    check_proxy_url(url).map_err(|e| invalid("url", e.to_string()))
}

async fn view(ctx: &Ctx<'_>, p: &ProxyRecord) -> Result<ProxyView, OpError> {
    let accounts = ctx.store.list_accounts().await?;
    let settings = Settings::from_stored(&ctx.store.settings().await?);
    Ok(render(p, &accounts, &settings.default_proxy))
}

fn render(p: &ProxyRecord, accounts: &[switchyard_core::Account], default: &str) -> ProxyView {
    let url = p.url.expose();
    ProxyView {
        id: p.id,
        name: p.name.clone(),
        url: redact_url(url),
        authenticated: url.split_once("://").is_some_and(|(_, rest)| {
            rest.split('/')
                .next()
                .is_some_and(|auth| auth.contains('@'))
        }),
        accounts: accounts
            .iter()
            .filter(|a| a.proxy_url.as_deref() == Some(p.name.as_str()))
            .map(|a| a.name.clone())
            .collect(),
        default: default == p.name,
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

fn audit_value(v: &ProxyView) -> serde_json::Value {
    serde_json::json!({"name": v.name, "url": v.url})
}

async fn find(ctx: &Ctx<'_>, name: &str) -> Result<ProxyRecord, OpError> {
    ctx.store
        .list_proxies()
        .await?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| OpError::NotFound(format!("proxy `{name}`")))
}

pub async fn add(ctx: &Ctx<'_>, name: &str, url: &str) -> Result<ProxyView, OpError> {
    check_name(name)?;
    check_url(url)?;
    let created = ctx.store.create_proxy(name, url).await?;
    let v = view(ctx, &created).await?;
    ctx.audit(
        "proxy.create",
        name,
        serde_json::json!({"after": audit_value(&v)}),
    )
    .await;
    ctx.changed().await;
    Ok(v)
}

pub async fn list(ctx: &Ctx<'_>) -> Result<Vec<ProxyView>, OpError> {
    let proxies = ctx.store.list_proxies().await?;
    let accounts = ctx.store.list_accounts().await?;
    let default = Settings::from_stored(&ctx.store.settings().await?).default_proxy;
    Ok(proxies
        .iter()
        .map(|p| render(p, &accounts, &default))
        .collect())
}

pub async fn get(ctx: &Ctx<'_>, name: &str) -> Result<ProxyView, OpError> {
    let p = find(ctx, name).await?;
    view(ctx, &p).await
}

/// Replaces the URL; accounts naming the proxy use the new one from the next snapshot.
pub async fn set(ctx: &Ctx<'_>, name: &str, url: &str) -> Result<ProxyView, OpError> {
    check_url(url)?;
    let before = get(ctx, name).await?;
    let updated = ctx.store.set_proxy_url(name, url).await?;
    let v = view(ctx, &updated).await?;
    ctx.audit(
        "proxy.update",
        name,
        serde_json::json!({"before": audit_value(&before), "after": audit_value(&v)}),
    )
    .await;
    ctx.changed().await;
    Ok(v)
}

/// What a removal did.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Removed {
    pub name: String,
    /// Accounts that named the proxy and now use `default_proxy` (or go direct).
    pub reassigned: Vec<String>,
    /// Whether `default_proxy` named it and was reset.
    pub default_reset: bool,
}

/// Refused while accounts name the proxy or `default_proxy` does, unless `force`: then those
/// accounts lose their proxy (falling back to `default_proxy`) and the default is reset.
pub async fn remove(ctx: &Ctx<'_>, name: &str, force: bool) -> Result<Removed, OpError> {
    let before = get(ctx, name).await?;
    if !force && (!before.accounts.is_empty() || before.default) {
        let mut users: Vec<String> = before
            .accounts
            .iter()
            .map(|a| format!("account `{a}`"))
            .collect();
        if before.default {
            users.push("the `default_proxy` setting".into());
        }
        return Err(OpError::Conflict(format!(
            "proxy `{name}` is used by {}; pass --force (API: force=true) to remove it anyway",
            users.join(", ")
        )));
    }
    if before.default {
        ctx.store.reset_setting("default_proxy").await?;
    }
    // Through the account API rather than by SQL equality on the column, which would stop
    // matching once `proxy_url` is encrypted at rest.
    for account in ctx.store.list_accounts().await? {
        if account.proxy_url.as_deref() == Some(name) {
            ctx.store
                .update_account(
                    account.id,
                    switchyard_store::AccountPatch {
                        proxy_url: Some(None),
                        ..Default::default()
                    },
                )
                .await?;
        }
    }
    ctx.store.delete_proxy(name, None).await?;
    ctx.audit(
        "proxy.delete",
        name,
        serde_json::json!({"before": audit_value(&before), "reassigned": before.accounts}),
    )
    .await;
    ctx.changed().await;
    Ok(Removed {
        name: name.to_string(),
        reassigned: before.accounts,
        default_reset: before.default,
    })
}

/// Connects to `target` through the proxy (a name, or a URL) and reports latency and the
/// exit address when the target echoes it. A failure is a report, not an error: the proxy
/// exists, it just does not work.
pub async fn test(
    ctx: &Ctx<'_>,
    proxy: &str,
    target: Option<&str>,
) -> Result<ProxyTestReport, OpError> {
    let (label, url) = if proxy.contains("://") {
        check_url(proxy)?;
        (redact_url(proxy), proxy.to_string())
    } else {
        let p = find(ctx, proxy).await?;
        (p.name.clone(), p.url.expose().to_string())
    };
    let target = target.unwrap_or(DEFAULT_TEST_URL).to_string();
    let http = ctx
        .clients
        .get(Some(&url))
        .map_err(|e| invalid("url", e.to_string()))?;
    let started = Instant::now();
    let sent = http
        .get(&target)
        .timeout(Duration::from_secs(15))
        .send()
        .await;
    let mut report = ProxyTestReport {
        proxy: label,
        target,
        ok: false,
        status: None,
        latency_ms: 0,
        exit_address: None,
        error: None,
    };
    match sent {
        Ok(resp) => {
            report.status = Some(resp.status().as_u16());
            let body = resp.text().await.unwrap_or_default();
            report.latency_ms = started.elapsed().as_millis().try_into().unwrap_or(u64::MAX);
            report.ok = true;
            report.exit_address = exit_address(&body);
        }
        Err(e) => {
            report.latency_ms = started.elapsed().as_millis().try_into().unwrap_or(u64::MAX);
            // reqwest's message may quote the proxy URL: describe the failure ourselves.
            report.error = Some(
                if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "could not connect through the proxy"
                } else {
                    "the request through the proxy failed"
                }
                .to_string(),
            );
        }
    }
    Ok(report)
}

fn exit_address(body: &str) -> Option<String> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        return ["ip", "origin", "address"]
            .iter()
            .find_map(|k| v.get(*k).and_then(|s| s.as_str()).map(str::to_string));
    }
    let t = body.trim();
    t.parse::<std::net::IpAddr>().ok().map(|_| t.to_string())
}

/// Checks what an account gives as its proxy: a usable URL, or the name of an existing
/// proxy. Empty means none.
pub async fn check_account_proxy(
    ctx_store: &dyn switchyard_store::Store,
    value: &str,
) -> Result<(), OpError> {
    if value.is_empty() {
        return Ok(());
    }
    if value.contains("://") {
        return check_url(value).map_err(|_| {
            invalid(
                "proxy_url",
                format!(
                    "`{}` is not a usable proxy URL (http, https, socks5 or socks5h)",
                    redact_url(value)
                ),
            )
        });
    }
    let exists = ctx_store
        .list_proxies()
        .await?
        .iter()
        .any(|p| p.name == value);
    if exists {
        Ok(())
    } else {
        Err(invalid(
            "proxy_url",
            format!("no proxy named `{value}` (add it with `switchyard proxy add {value} URL`)"),
        ))
    }
}

/// Checks a `default_proxy` value before it is stored: empty, or an existing proxy's name.
pub async fn check_default_proxy(
    store: &dyn switchyard_store::Store,
    value: &str,
) -> Result<(), OpError> {
    if value.contains("://") {
        return Err(invalid(
            "default_proxy",
            "name a proxy (`switchyard proxy add NAME URL`) rather than giving a URL, so its credentials stay encrypted",
        ));
    }
    check_account_proxy(store, value)
        .await
        .map_err(|e| match e {
            OpError::Invalid { message, .. } => invalid("default_proxy", message),
            other => other,
        })
}
