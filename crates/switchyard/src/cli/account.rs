//! `switchyard account add|list|set|remove`.

use anyhow::{Context, bail};
use clap::Subcommand;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;
use switchyard_core::Secret;
use switchyard_core::account::{Account, AccountKind, AccountStatus, Credentials};
use switchyard_store::{AccountPatch, AccountState, NewAccount, Store};

use super::output;
use super::{list, parse_time};

#[derive(Subcommand)]
pub enum Command {
    /// Add an upstream account. Secret values may be given as `-` to read them from stdin.
    Add(AddArgs),
    /// List accounts (credentials masked).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Change an account.
    Set(SetArgs),
    /// Remove an account.
    Remove {
        /// Account name or id.
        account: String,
    },
}

#[derive(clap::Args)]
pub struct AddArgs {
    /// claude-official, claude, openai, openai-responses, gemini, gemini-api, azure or bedrock.
    kind: String,
    #[arg(long)]
    name: String,
    #[command(flatten)]
    common: CommonArgs,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct SetArgs {
    /// Account name or id.
    account: String,
    #[arg(long)]
    name: Option<String>,
    /// `false` disables the account (it is never re-enabled automatically); `true` makes it
    /// active again and clears its error state.
    #[arg(long)]
    enabled: Option<bool>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(clap::Args, Default)]
pub struct CommonArgs {
    /// Upstream base URL (default: the provider's host from the configuration).
    #[arg(long)]
    base_url: Option<String>,
    #[arg(long)]
    api_key: Option<String>,
    #[arg(long)]
    access_token: Option<String>,
    #[arg(long)]
    refresh_token: Option<String>,
    /// When the access token expires (RFC 3339).
    #[arg(long)]
    expires_at: Option<String>,
    /// claude.ai session key.
    #[arg(long)]
    session_key: Option<String>,
    /// Lower numbers are tried first.
    #[arg(long, allow_negative_numbers = true)]
    priority: Option<i32>,
    /// Relative share within a priority tier.
    #[arg(long)]
    weight: Option<u32>,
    /// Models this account serves (`a,b`; `prefix*` allowed). Empty string: any.
    #[arg(long)]
    models: Option<String>,
    /// Model renames, `from=to,from2=to2`.
    #[arg(long)]
    model_map: Option<String>,
    /// Concurrent requests; 0 means unlimited.
    #[arg(long)]
    max_concurrency: Option<u32>,
    /// HTTP or SOCKS proxy URL for this account ("" to clear).
    #[arg(long)]
    proxy: Option<String>,
    /// Azure deployment name.
    #[arg(long)]
    deployment: Option<String>,
    /// Azure api-version.
    #[arg(long)]
    api_version: Option<String>,
    /// AWS region (Bedrock).
    #[arg(long)]
    region: Option<String>,
}

/// What `account list --json` prints: everything but the credentials, which are masked.
#[derive(Serialize)]
struct AccountView {
    id: i64,
    kind: AccountKind,
    name: String,
    base_url: Option<String>,
    priority: i32,
    weight: u32,
    allowed_models: Vec<String>,
    model_map: BTreeMap<String, String>,
    max_concurrency: u32,
    proxy_url: Option<String>,
    status: AccountStatus,
    status_reason: Option<String>,
    status_until: Option<chrono::DateTime<chrono::Utc>>,
    consecutive_errors: u32,
    last_check_at: Option<chrono::DateTime<chrono::Utc>>,
    last_check_result: Option<String>,
    extra: serde_json::Map<String, serde_json::Value>,
    credentials: BTreeMap<&'static str, String>,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        let c = &a.credentials;
        let mut credentials = BTreeMap::new();
        for (name, value) in [
            ("api_key", &c.api_key),
            ("access_token", &c.access_token),
            ("refresh_token", &c.refresh_token),
            ("session_key", &c.session_key),
        ] {
            if let Some(v) = value {
                credentials.insert(name, v.masked());
            }
        }
        if let Some(t) = c.expires_at {
            credentials.insert("expires_at", t.to_rfc3339());
        }
        AccountView {
            id: a.id,
            kind: a.kind,
            name: a.name.clone(),
            base_url: a.base_url.clone(),
            priority: a.priority,
            weight: a.weight,
            allowed_models: a.allowed_models.clone(),
            model_map: a.model_map.clone(),
            max_concurrency: a.max_concurrency,
            proxy_url: a.proxy_url.clone(),
            status: a.status,
            status_reason: a.status_reason.clone(),
            status_until: a.status_until,
            consecutive_errors: a.consecutive_errors,
            last_check_at: a.last_check_at,
            last_check_result: a.last_check_result.clone(),
            extra: a.extra.clone(),
            credentials,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

pub async fn run(store: Arc<dyn Store>, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Add(args) => add(store, args).await,
        Command::List { json } => {
            let accounts = store.list_accounts().await?;
            if json {
                let views: Vec<AccountView> = accounts.iter().map(AccountView::from).collect();
                return output::json(&views);
            }
            output::table(
                &[
                    "id",
                    "name",
                    "kind",
                    "status",
                    "priority",
                    "weight",
                    "models",
                    "errors",
                    "credential",
                ],
                accounts
                    .iter()
                    .map(|a| {
                        let status = match (&a.status, &a.status_until) {
                            (AccountStatus::Cooling, Some(u)) => {
                                format!("cooling until {}", u.format("%H:%M:%S"))
                            }
                            (s, _) => s.as_str().to_string(),
                        };
                        vec![
                            a.id.to_string(),
                            a.name.clone(),
                            a.kind.to_string(),
                            match &a.status_reason {
                                Some(r) => format!("{status} ({r})"),
                                None => status,
                            },
                            a.priority.to_string(),
                            a.weight.to_string(),
                            if a.allowed_models.is_empty() {
                                "any".into()
                            } else {
                                a.allowed_models.join(",")
                            },
                            a.consecutive_errors.to_string(),
                            credential_hint(&a.credentials),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        Command::Set(args) => set(store, args).await,
        Command::Remove { account } => {
            let a = store.find_account(&account).await?;
            store.remove_account(a.id).await?;
            store
                .audit("cli", "account.remove", Some(&a.name), None)
                .await?;
            println!("removed account {} ({})", a.name, a.id);
            Ok(())
        }
    }
}

fn credential_hint(c: &Credentials) -> String {
    c.api_key
        .as_ref()
        .or(c.access_token.as_ref())
        .or(c.session_key.as_ref())
        .map_or_else(|| "-".into(), Secret::masked)
}

async fn add(store: Arc<dyn Store>, args: AddArgs) -> anyhow::Result<()> {
    let kind: AccountKind = args.kind.parse()?;
    let c = args.common;
    let credentials = Credentials {
        api_key: secret(c.api_key)?,
        access_token: secret(c.access_token)?,
        refresh_token: secret(c.refresh_token)?,
        expires_at: c.expires_at.as_deref().map(parse_time).transpose()?,
        session_key: secret(c.session_key)?,
    };
    check_credentials(kind, &credentials, &c.base_url, &c.deployment)?;
    let mut extra = serde_json::Map::new();
    for (k, v) in [
        ("deployment", c.deployment),
        ("api_version", c.api_version),
        ("region", c.region),
    ] {
        if let Some(v) = v {
            extra.insert(k.into(), v.into());
        }
    }
    let account = store
        .create_account(NewAccount {
            kind: Some(kind),
            name: args.name,
            base_url: c
                .base_url
                .map(|u| validate_url("--base-url", &u))
                .transpose()?,
            priority: c.priority,
            weight: c.weight,
            allowed_models: c.models.as_deref().map(list).unwrap_or_default(),
            model_map: c
                .model_map
                .as_deref()
                .map(model_map)
                .transpose()?
                .unwrap_or_default(),
            max_concurrency: c.max_concurrency,
            proxy_url: c.proxy.filter(|p| !p.is_empty()),
            extra,
            credentials,
        })
        .await?;
    store
        .audit(
            "cli",
            "account.add",
            Some(&account.name),
            Some(kind.as_str()),
        )
        .await?;
    if args.json {
        return output::json(&AccountView::from(&account));
    }
    println!(
        "added account {} ({}, id {})",
        account.name, account.kind, account.id
    );
    Ok(())
}

async fn set(store: Arc<dyn Store>, args: SetArgs) -> anyhow::Result<()> {
    let account = store.find_account(&args.account).await?;
    let c = args.common;
    let replaces_credentials = c.api_key.is_some()
        || c.access_token.is_some()
        || c.refresh_token.is_some()
        || c.expires_at.is_some()
        || c.session_key.is_some();
    let credentials = if replaces_credentials {
        let old = account.credentials.clone();
        Some(Credentials {
            api_key: secret(c.api_key)?.or(old.api_key),
            access_token: secret(c.access_token)?.or(old.access_token),
            refresh_token: secret(c.refresh_token)?.or(old.refresh_token),
            expires_at: match c.expires_at.as_deref() {
                Some(t) => Some(parse_time(t)?),
                None => old.expires_at,
            },
            session_key: secret(c.session_key)?.or(old.session_key),
        })
    } else {
        None
    };
    let mut extra = account.extra.clone();
    let mut extra_changed = false;
    for (k, v) in [
        ("deployment", c.deployment),
        ("api_version", c.api_version),
        ("region", c.region),
    ] {
        if let Some(v) = v {
            extra.insert(k.into(), v.into());
            extra_changed = true;
        }
    }
    let patch = AccountPatch {
        name: args.name,
        base_url: c
            .base_url
            .map(|u| {
                if u.is_empty() {
                    Ok(None)
                } else {
                    validate_url("--base-url", &u).map(Some)
                }
            })
            .transpose()?,
        priority: c.priority,
        weight: c.weight,
        allowed_models: c.models.as_deref().map(list),
        model_map: c.model_map.as_deref().map(model_map).transpose()?,
        max_concurrency: c.max_concurrency,
        proxy_url: c.proxy.map(|p| (!p.is_empty()).then_some(p)),
        extra: extra_changed.then_some(extra),
        credentials,
    };
    let mut updated = store.update_account(account.id, patch).await?;
    if let Some(enabled) = args.enabled {
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
                reason: Some("operator".into()),
                until: None,
                consecutive_errors: updated.consecutive_errors,
            }
        };
        store.set_account_state(account.id, &state).await?;
        updated = store.find_account(&account.id.to_string()).await?;
    }
    store
        .audit("cli", "account.set", Some(&updated.name), None)
        .await?;
    println!(
        "updated account {} ({}): {}",
        updated.name,
        updated.id,
        updated.status.as_str()
    );
    Ok(())
}

/// `-` reads the value from stdin, so secrets stay out of shell history and `ps`.
fn secret(value: Option<String>) -> anyhow::Result<Option<Secret>> {
    match value.as_deref() {
        None => Ok(None),
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading secret from stdin")?;
            let text = text.trim();
            if text.is_empty() {
                bail!("no secret on stdin");
            }
            Ok(Some(Secret::new(text)))
        }
        Some("") => bail!("a credential flag was given an empty value"),
        Some(v) => Ok(Some(Secret::new(v))),
    }
}

fn check_credentials(
    kind: AccountKind,
    c: &Credentials,
    base_url: &Option<String>,
    deployment: &Option<String>,
) -> anyhow::Result<()> {
    let has = |s: &Option<Secret>| s.is_some();
    match kind {
        AccountKind::Claude | AccountKind::Openai | AccountKind::GeminiApi if !has(&c.api_key) => {
            bail!("a {kind} account needs --api-key")
        }
        AccountKind::ClaudeOfficial
            if !has(&c.access_token) && !has(&c.refresh_token) && !has(&c.session_key) =>
        {
            bail!(
                "a claude-official account needs --access-token, --refresh-token or --session-key"
            )
        }
        AccountKind::OpenaiResponses if !has(&c.access_token) && !has(&c.api_key) => {
            bail!("an openai-responses account needs --access-token (ChatGPT) or --api-key")
        }
        AccountKind::Gemini if !has(&c.access_token) && !has(&c.refresh_token) => {
            bail!("a gemini account needs --access-token or --refresh-token")
        }
        AccountKind::Azure if !has(&c.api_key) || base_url.is_none() || deployment.is_none() => {
            bail!(
                "an azure account needs --api-key, --base-url (the resource endpoint) and --deployment"
            )
        }
        AccountKind::Bedrock if !has(&c.api_key) && !has(&c.access_token) => {
            bail!("a bedrock account needs --api-key")
        }
        _ => Ok(()),
    }
}

fn validate_url(flag: &str, value: &str) -> anyhow::Result<String> {
    let ok = value.starts_with("http://") || value.starts_with("https://");
    if !ok || value.len() < 10 {
        bail!("{flag} `{value}` must be an http(s) URL");
    }
    Ok(value.trim_end_matches('/').to_string())
}

fn model_map(value: &str) -> anyhow::Result<BTreeMap<String, String>> {
    list(value)
        .into_iter()
        .map(|pair| match pair.split_once('=') {
            Some((from, to)) if !from.trim().is_empty() && !to.trim().is_empty() => {
                Ok((from.trim().to_string(), to.trim().to_string()))
            }
            _ => bail!("--model-map entry `{pair}` must look like from=to"),
        })
        .collect()
}
