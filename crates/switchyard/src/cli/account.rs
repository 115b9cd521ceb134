//! `switchyard account add|list|set|remove`.

use anyhow::{Context, bail};
use clap::Subcommand;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;
use switchyard_core::Secret;
use switchyard_core::account::{Account, AccountKind, AccountStatus, Credentials};
use switchyard_core::settings::Settings;
use switchyard_server::state::StorePersist;
use switchyard_server::views::AccountView;
use switchyard_server::{Config, health_check};
use switchyard_store::{AccountPatch, AccountState, NewAccount, Store};
use switchyard_upstream::ClientPool;
use switchyard_upstream::tokens::TokenManager;

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
    /// Run a health check now and print the result (updates the account like a scheduled
    /// check would).
    Check(CheckArgs),
    /// Sign in with a subscription (OAuth): prints the URL to open, then reads the code or
    /// redirect URL you paste. `--session-key` signs in to Claude with no browser.
    Login(Box<super::onboarding::LoginArgs>),
    /// Import Claude Code's .credentials.json, Codex's auth.json, Gemini CLI's
    /// oauth_creds.json, or an export (all or nothing).
    Import(super::onboarding::ImportArgs),
    /// Export every account as JSON (secrets only with --include-secrets).
    Export(super::onboarding::ExportArgs),
    /// Remove an account.
    Remove {
        /// Account name or id.
        account: String,
    },
}

#[derive(clap::Args)]
pub struct AddArgs {
    /// claude-official, claude, openai, openai-responses, gemini, gemini-api, azure or bedrock.
    #[arg(value_parser = parse_kind)]
    kind: AccountKind,
    #[arg(long)]
    name: String,
    #[command(flatten)]
    common: CommonArgs,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Account name or id.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    account: Option<String>,
    /// Every account the health check covers (not those an operator disabled).
    #[arg(long)]
    all: bool,
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
    /// AWS access key id (Bedrock, SigV4). A Bedrock API key goes in --api-key instead.
    #[arg(long)]
    aws_access_key_id: Option<String>,
    /// AWS secret access key (Bedrock).
    #[arg(long)]
    aws_secret_access_key: Option<String>,
    /// AWS STS session token (Bedrock, temporary credentials).
    #[arg(long)]
    aws_session_token: Option<String>,
    /// OAuth client id for the refresh grant (Gemini; default: Gemini CLI's).
    #[arg(long)]
    client_id: Option<String>,
    /// OAuth client secret for the refresh grant (Gemini; default: Gemini CLI's).
    #[arg(long)]
    client_secret: Option<String>,
    /// Google Cloud project for Code Assist (Gemini; discovered when not given).
    #[arg(long)]
    project: Option<String>,
    /// Betas this Bedrock account passes on (`a,b`; default: the ones Bedrock is known to
    /// accept). Bedrock refuses a request that names any other.
    #[arg(long)]
    bedrock_betas: Option<String>,
    /// Lower numbers are tried first.
    #[arg(long, allow_negative_numbers = true)]
    priority: Option<i32>,
    /// Relative share within a priority tier.
    #[arg(long, allow_negative_numbers = true)]
    weight: Option<u32>,
    /// Models this account serves (`a,b`; `prefix*` allowed). Empty string: any.
    #[arg(long)]
    models: Option<String>,
    /// Model renames, `from=to,from2=to2`.
    #[arg(long)]
    model_map: Option<String>,
    /// Concurrent requests; 0 means unlimited.
    #[arg(long, allow_negative_numbers = true)]
    max_concurrency: Option<u32>,
    /// Proxy for this account: a URL (http, https, socks5, socks5h) or the name of a proxy
    /// from `switchyard proxy add` ("" to clear; without one, `default_proxy` applies).
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
    /// Include this account in periodic health checks (default: yes for claude-official,
    /// openai-responses and gemini; no for the others).
    #[arg(long)]
    health_check: Option<bool>,
    /// Pause scheduling when a usage window reaches this percentage, until it resets.
    #[arg(long, allow_negative_numbers = true)]
    pause_at_utilization: Option<f64>,
}

pub async fn run(store: Arc<dyn Store>, cmd: Command, config: Config) -> anyhow::Result<()> {
    match cmd {
        Command::Add(args) => add(store, args).await,
        Command::Login(args) => super::onboarding::login(store, *args, config).await,
        Command::Import(args) => super::onboarding::import(store, args, config).await,
        Command::Export(args) => super::onboarding::export(store, args, config).await,
        Command::List { json } => {
            let accounts = store.list_accounts().await?;
            let quotas = store.account_quotas().await?;
            let views: Vec<AccountView> = accounts
                .iter()
                .map(|a| AccountView::new(a, quotas.get(&a.id)))
                .collect();
            if json {
                return output::json(&views);
            }
            output::table(
                &[
                    "id",
                    "name",
                    "kind",
                    "status",
                    "prio",
                    "weight",
                    "models",
                    "errors",
                    "last check",
                    "next check",
                    "usage",
                    "credential",
                ],
                views
                    .iter()
                    .zip(&accounts)
                    .map(|(v, a)| row(v, a))
                    .collect(),
            );
            Ok(())
        }
        Command::Check(args) => check(store, args, &config).await,
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

fn row(v: &AccountView, a: &Account) -> Vec<String> {
    let status = match (&v.status, &v.status_until) {
        (AccountStatus::Cooling, Some(u)) => {
            format!("cooling until {}", u.format("%Y-%m-%d %H:%M"))
        }
        (s, _) => s.as_str().to_string(),
    };
    let last_check = match (&v.health.last_check_at, &v.health.last_result) {
        (Some(at), Some(r)) => format!("{r} {}", at.format("%H:%M:%S")),
        _ if !v.health.checked => "not checked".into(),
        _ => "-".into(),
    };
    let next_check = v
        .health
        .next_check_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(|| "-".into(), |t| t.format("%H:%M:%S").to_string());
    vec![
        v.id.to_string(),
        v.name.clone(),
        v.kind.to_string(),
        match &v.status_reason {
            Some(r) => format!("{status} ({r})"),
            None => status,
        },
        v.priority.to_string(),
        v.weight.to_string(),
        if v.allowed_models.is_empty() {
            "any".into()
        } else {
            v.allowed_models.join(",")
        },
        v.consecutive_errors.to_string(),
        last_check,
        next_check,
        usage_summary(v.usage_windows.as_ref()),
        credential_hint(&a.credentials),
    ]
}

/// `5h 24% 7d 36%` or `primary 3% secondary 10%`, from whatever the upstream reported.
fn usage_summary(windows: Option<&serde_json::Value>) -> String {
    let Some(w) = windows else {
        return "-".into();
    };
    let body = w.get("report").unwrap_or(w);
    let pct =
        |v: Option<&serde_json::Value>| v.and_then(|x| x.as_f64()).map(|x| format!("{x:.0}%"));
    let mut parts = Vec::new();
    for (label, name) in [("5h", "five_hour"), ("7d", "seven_day")] {
        if let Some(p) = pct(body.get(name).and_then(|x| x.get("utilization"))) {
            parts.push(format!("{label} {p}"));
        }
    }
    for (label, name) in [("primary", "primary"), ("secondary", "secondary")] {
        if let Some(p) = pct(body.get(name).and_then(|x| x.get("used_percent"))) {
            parts.push(format!("{label} {p}"));
        }
    }
    if let Some(rl) = body.get("rate_limit") {
        for (label, name) in [
            ("primary", "primary_window"),
            ("secondary", "secondary_window"),
        ] {
            if let Some(p) = pct(rl.get(name).and_then(|x| x.get("used_percent"))) {
                parts.push(format!("{label} {p}"));
            }
        }
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

async fn check(store: Arc<dyn Store>, args: CheckArgs, config: &Config) -> anyhow::Result<()> {
    let accounts = match &args.account {
        Some(sel) => vec![store.find_account(sel).await?],
        None => store
            .list_accounts()
            .await?
            .into_iter()
            .filter(health_check::eligible)
            .collect(),
    };
    let clients = ClientPool::new(std::time::Duration::from_secs(
        config.timeouts.connect_seconds,
    ))?;
    let tokens = TokenManager::new(Arc::new(StorePersist {
        store: store.clone(),
    }));
    let hosts = switchyard_server::app::upstream_hosts(config);
    let settings = Settings::from_stored(&store.settings().await?);
    let tasks = tokio_util::task::TaskTracker::new();
    let ctx = health_check::CheckContext {
        store: store.as_ref(),
        clients: &clients,
        tokens: &tokens,
        hosts: &hosts,
        settings: &settings,
        tasks: &tasks,
    };
    let mut reports = Vec::new();
    for account in &accounts {
        let decision = health_check::check(&ctx, account).await;
        if let Some(state) = &decision.state {
            store.set_account_state(account.id, state).await?;
        }
        reports.push(decision.report);
    }
    // Webhook deliveries of status changes finish before the command exits.
    tasks.close();
    tasks.wait().await;
    if args.json {
        return output::json(&reports);
    }
    output::table(
        &[
            "account", "kind", "result", "probe", "detail", "errors", "status", "changed",
        ],
        reports
            .iter()
            .map(|r| {
                vec![
                    r.account.clone(),
                    r.kind.to_string(),
                    r.result.into(),
                    r.probe.into(),
                    r.detail.clone(),
                    r.consecutive_errors.to_string(),
                    r.status.as_str().into(),
                    r.changed.unwrap_or("-").into(),
                ]
            })
            .collect(),
    );
    Ok(())
}

fn credential_hint(c: &Credentials) -> String {
    c.api_key
        .as_ref()
        .or(c.access_token.as_ref())
        .or(c.session_key.as_ref())
        .or(c.aws_access_key_id.as_ref())
        .map_or_else(|| "-".into(), Secret::masked)
}

async fn add(store: Arc<dyn Store>, args: AddArgs) -> anyhow::Result<()> {
    let kind = args.kind;
    let c = args.common;
    let mut extra = serde_json::Map::new();
    apply_extra(&mut extra, &c)?;
    let credentials = Credentials {
        api_key: secret(c.api_key)?,
        access_token: secret(c.access_token)?,
        refresh_token: secret(c.refresh_token)?,
        expires_at: c.expires_at.as_deref().map(parse_time).transpose()?,
        session_key: secret(c.session_key)?,
        aws_access_key_id: secret(c.aws_access_key_id)?,
        aws_secret_access_key: secret(c.aws_secret_access_key)?,
        aws_session_token: secret(c.aws_session_token)?,
        client_secret: secret(c.client_secret)?,
    };
    check_credentials(kind, &credentials, &c.base_url, &c.deployment)?;
    if let Some(p) = &c.proxy {
        switchyard_server::ops::proxies::check_account_proxy(store.as_ref(), p).await?;
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
        return output::json(&AccountView::new(&account, None));
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
    if let Some(p) = &c.proxy {
        switchyard_server::ops::proxies::check_account_proxy(store.as_ref(), p).await?;
    }
    let mut extra = account.extra.clone();
    let extra_changed = apply_extra(&mut extra, &c)?;
    let replaces_credentials = c.api_key.is_some()
        || c.access_token.is_some()
        || c.refresh_token.is_some()
        || c.expires_at.is_some()
        || c.session_key.is_some()
        || c.aws_access_key_id.is_some()
        || c.aws_secret_access_key.is_some()
        || c.aws_session_token.is_some()
        || c.client_secret.is_some();
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
            aws_access_key_id: secret(c.aws_access_key_id)?.or(old.aws_access_key_id),
            aws_secret_access_key: secret(c.aws_secret_access_key)?.or(old.aws_secret_access_key),
            aws_session_token: secret(c.aws_session_token)?.or(old.aws_session_token),
            client_secret: secret(c.client_secret)?.or(old.client_secret),
        })
    } else {
        None
    };
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
        store
            .set_account_state_by_operator(account.id, &state)
            .await?;
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

fn parse_kind(s: &str) -> Result<AccountKind, String> {
    s.parse()
        .map_err(|e: switchyard_core::account::UnknownKind| e.to_string())
}

/// Kind-specific, non-secret settings kept in the account's `extra`. Returns whether any changed.
fn apply_extra(
    extra: &mut serde_json::Map<String, serde_json::Value>,
    c: &CommonArgs,
) -> anyhow::Result<bool> {
    let mut changed = false;
    for (k, v) in [
        ("deployment", &c.deployment),
        ("api_version", &c.api_version),
        ("region", &c.region),
        ("client_id", &c.client_id),
        ("project", &c.project),
    ] {
        if let Some(v) = v {
            extra.insert(k.into(), v.clone().into());
            changed = true;
        }
    }
    if let Some(betas) = &c.bedrock_betas {
        let list: Vec<serde_json::Value> = list(betas).into_iter().map(Into::into).collect();
        extra.insert("bedrock_betas".into(), list.into());
        changed = true;
    }
    if let Some(on) = c.health_check {
        extra.insert("health_check".into(), on.into());
        changed = true;
    }
    if let Some(p) = c.pause_at_utilization {
        if !(0.0..=100.0).contains(&p) {
            bail!("--pause-at-utilization must be a percentage between 0 and 100");
        }
        extra.insert("pause_at_utilization".into(), p.into());
        changed = true;
    }
    Ok(changed)
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
    match switchyard_core::account::missing_credentials(
        kind,
        c,
        base_url.as_deref(),
        deployment.as_deref(),
    ) {
        Some(message) if message.starts_with("this kind") => {
            bail!("a {kind} account needs --api-key")
        }
        Some(message) => bail!("{message}"),
        None => Ok(()),
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
