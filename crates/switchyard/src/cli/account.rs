//! `switchyard account add|list|set|remove|check`: a front over the server's `ops::accounts`,
//! which validates, stores and audits; this parses flags and prints.

use anyhow::{Context, bail};
use clap::Subcommand;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;
use switchyard_core::account::{AccountKind, AccountStatus};
use switchyard_core::settings::Settings;
use switchyard_server::ops::accounts::{
    self, AccountFilter, AccountPatchBody, CredentialsBody, NewAccountBody,
};
use switchyard_server::state::StorePersist;
use switchyard_server::views::AccountView;
use switchyard_server::{Config, health_check};
use switchyard_store::Store;
use switchyard_upstream::tokens::TokenManager;

use super::{CliOps, output, refused};
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
    let ops = CliOps::new(&config)?;
    let ctx = ops.ctx(store.as_ref());
    match cmd {
        Command::Add(args) => add(&ctx, args).await,
        Command::Login(args) => super::onboarding::login(store, *args, config).await,
        Command::Import(args) => super::onboarding::import(store, args, config).await,
        Command::Export(args) => super::onboarding::export(store, args, config).await,
        Command::List { json } => {
            let views = accounts::list(&ctx, &AccountFilter::default())
                .await
                .map_err(refused)?;
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
                views.iter().map(row).collect(),
            );
            Ok(())
        }
        Command::Check(args) => check(store, args, &ops).await,
        Command::Set(args) => set(&ctx, args).await,
        Command::Remove { account } => {
            let a = accounts::remove(&ctx, &account).await.map_err(refused)?;
            println!("removed account {} ({})", a.name, a.id);
            Ok(())
        }
    }
}

fn row(v: &AccountView) -> Vec<String> {
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
        credential_hint(v),
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

async fn check(store: Arc<dyn Store>, args: CheckArgs, ops: &CliOps) -> anyhow::Result<()> {
    let accounts = match &args.account {
        Some(sel) => vec![store.find_account(sel).await?],
        None => store
            .list_accounts()
            .await?
            .into_iter()
            .filter(health_check::eligible)
            .collect(),
    };
    let tokens = TokenManager::new(Arc::new(StorePersist {
        store: store.clone(),
    }));
    let settings = Settings::from_stored(&store.settings().await?);
    let tasks = tokio_util::task::TaskTracker::new();
    let ctx = health_check::CheckContext {
        store: store.as_ref(),
        clients: &ops.clients,
        tokens: &tokens,
        hosts: &ops.hosts,
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

/// The first credential an operator recognises an account by, masked.
fn credential_hint(v: &AccountView) -> String {
    [
        "api_key",
        "access_token",
        "session_key",
        "aws_access_key_id",
    ]
    .iter()
    .find_map(|k| v.credentials.get(k))
    .map_or_else(|| "-".into(), Clone::clone)
}

impl CommonArgs {
    /// The secrets given, or `None` when no credential flag was.
    fn credentials(&mut self) -> anyhow::Result<Option<CredentialsBody>> {
        let c = CredentialsBody {
            api_key: secret(self.api_key.take())?,
            access_token: secret(self.access_token.take())?,
            refresh_token: secret(self.refresh_token.take())?,
            expires_at: self.expires_at.as_deref().map(parse_time).transpose()?,
            session_key: secret(self.session_key.take())?,
            aws_access_key_id: secret(self.aws_access_key_id.take())?,
            aws_secret_access_key: secret(self.aws_secret_access_key.take())?,
            aws_session_token: secret(self.aws_session_token.take())?,
            client_secret: secret(self.client_secret.take())?,
        };
        let given = c.api_key.is_some()
            || c.access_token.is_some()
            || c.refresh_token.is_some()
            || c.expires_at.is_some()
            || c.session_key.is_some()
            || c.aws_access_key_id.is_some()
            || c.aws_secret_access_key.is_some()
            || c.aws_session_token.is_some()
            || c.client_secret.is_some();
        Ok(given.then_some(c))
    }
}

async fn add(ctx: &switchyard_server::ops::Ctx<'_>, args: AddArgs) -> anyhow::Result<()> {
    let mut c = args.common;
    let credentials = c.credentials()?.unwrap_or_default();
    let body = NewAccountBody {
        kind: args.kind,
        name: args.name,
        base_url: c.base_url.take(),
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
        proxy_url: c.proxy.take(),
        extra: extra(&c),
        credentials,
    };
    let account = accounts::create(ctx, body).await.map_err(refused)?;
    if args.json {
        return output::json(&account);
    }
    println!(
        "added account {} ({}, id {})",
        account.name, account.kind, account.id
    );
    Ok(())
}

async fn set(ctx: &switchyard_server::ops::Ctx<'_>, args: SetArgs) -> anyhow::Result<()> {
    let mut c = args.common;
    let credentials = c.credentials()?;
    let changed = extra(&c);
    let patch = AccountPatchBody {
        name: args.name,
        base_url: c.base_url.take().map(Some),
        priority: c.priority,
        weight: c.weight,
        allowed_models: c.models.as_deref().map(list),
        model_map: c.model_map.as_deref().map(model_map).transpose()?,
        max_concurrency: c.max_concurrency,
        proxy_url: c.proxy.take().map(Some),
        extra: (!changed.is_empty()).then_some(changed),
        credentials,
    };
    let mut updated = accounts::update(ctx, &args.account, patch)
        .await
        .map_err(refused)?;
    if let Some(enabled) = args.enabled {
        updated = accounts::set_enabled(ctx, &updated.id.to_string(), enabled)
            .await
            .map_err(refused)?;
    }
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

/// The kind-specific, non-secret settings given, as the account's `extra` takes them.
fn extra(c: &CommonArgs) -> serde_json::Map<String, serde_json::Value> {
    let mut extra = serde_json::Map::new();
    for (k, v) in [
        ("deployment", &c.deployment),
        ("api_version", &c.api_version),
        ("region", &c.region),
        ("client_id", &c.client_id),
        ("project", &c.project),
    ] {
        if let Some(v) = v {
            extra.insert(k.into(), v.clone().into());
        }
    }
    if let Some(betas) = &c.bedrock_betas {
        let list: Vec<serde_json::Value> = list(betas).into_iter().map(Into::into).collect();
        extra.insert("bedrock_betas".into(), list.into());
    }
    if let Some(on) = c.health_check {
        extra.insert("health_check".into(), on.into());
    }
    if let Some(p) = c.pause_at_utilization {
        extra.insert("pause_at_utilization".into(), p.into());
    }
    extra
}

/// `-` reads the value from stdin, so secrets stay out of shell history and `ps`.
fn secret(value: Option<String>) -> anyhow::Result<Option<String>> {
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
            Ok(Some(text.to_string()))
        }
        Some("") => bail!("a credential flag was given an empty value"),
        Some(v) => Ok(Some(v.to_string())),
    }
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
