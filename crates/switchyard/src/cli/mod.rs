//! Command-line interface. Every command takes the global flags `--config`, `--data-dir`,
//! `--database-url` and `--redis-url`, before or after the subcommand.

mod account;
mod group;
mod key;
mod onboarding;
mod output;
mod price;
mod proxy;
mod serve;
mod settings;
mod usage;
mod user;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use switchyard_server::Config;
use switchyard_server::ops::{Ctx, OpError};
use switchyard_store::Store;
use switchyard_store::sql::StoreLocation;
use switchyard_upstream::ClientPool;

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "AI API relay",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone, Default)]
pub struct Global {
    /// TOML configuration file.
    #[arg(long, global = true, env = "SWITCHYARD_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (SQLite file, master key file).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Database URL (default: SQLite in the data directory).
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Redis URL for shared coordination between instances.
    #[arg(long, global = true)]
    redis_url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the relay server.
    Serve(serve::Args),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage upstream accounts.
    #[command(subcommand)]
    Account(Box<account::Command>),
    /// Manage Switchyard API keys.
    #[command(subcommand)]
    Key(Box<key::Command>),
    /// Manage users.
    #[command(subcommand)]
    User(user::Command),
    /// Manage account groups (keys can be bound to one).
    #[command(subcommand)]
    Group(group::Command),
    /// Runtime settings stored in the database.
    #[command(subcommand)]
    Settings(settings::Command),
    /// Usage records.
    #[command(subcommand)]
    Usage(usage::Command),
    /// Named proxies accounts can use (HTTP, HTTPS, SOCKS5).
    #[command(subcommand)]
    Proxy(proxy::Command),
    /// Model prices used for cost accounting.
    #[command(subcommand)]
    Price(price::Command),
    /// Create or upgrade the database schema and exit.
    Migrate,
    /// Move the store between backends.
    #[command(subcommand)]
    Store(StoreCommand),
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy a SQLite installation (accounts and their secrets, keys, users, usage, settings,
    /// audit) into an empty PostgreSQL database, keeping ids, and compare row counts. Use the
    /// same master key for the instances that then run on PostgreSQL.
    Copy {
        /// The SQLite database (`sqlite://PATH` or a path); default `<data-dir>/switchyard.db`.
        #[arg(long)]
        from: Option<String>,
        /// The PostgreSQL database, `postgres://…`.
        #[arg(long)]
        to: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print it with secrets redacted.
    Check,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = load_config(&cli.global)?;
    match cli.command {
        Command::Serve(args) => serve::run(config, args).await,
        Command::Config(ConfigCommand::Check) => {
            print!("{}", config.to_redacted_toml());
            Ok(())
        }
        Command::Store(StoreCommand::Copy { from, to, json }) => {
            store_copy(&config, from.as_deref(), &to, json).await
        }
        Command::Migrate => {
            let store = open_store(&config).await?;
            store.close().await;
            println!("database is up to date");
            Ok(())
        }
        Command::Account(c) => {
            let cfg = config.clone();
            with_store(&config, |s| account::run(s, *c, cfg)).await
        }
        Command::Key(c) => {
            let ops = CliOps::new(&config)?;
            with_store(&config, |s| key::run(s, ops, *c)).await
        }
        Command::User(c) => {
            let ops = CliOps::new(&config)?;
            with_store(&config, |s| user::run(s, ops, c)).await
        }
        Command::Group(c) => {
            let ops = CliOps::new(&config)?;
            with_store(&config, |s| group::run(s, ops, c)).await
        }
        Command::Settings(c) => {
            let ops = CliOps::new(&config)?;
            with_store(&config, |s| settings::run(s, ops, c)).await
        }
        Command::Usage(c) => with_store(&config, |s| usage::run(s, c)).await,
        Command::Price(c) => {
            let ops = CliOps::new(&config)?;
            with_store(&config, |s| price::run(s, ops, c)).await
        }
        Command::Proxy(c) => {
            let cfg = config.clone();
            with_store(&config, |s| proxy::run(s, c, cfg)).await
        }
    }
}

/// The context the CLI's operations run in. A running server sees their changes through the
/// store's change counter within two seconds.
pub struct CliOps {
    pub clients: ClientPool,
    pub hosts: switchyard_upstream::UpstreamHosts,
}

impl CliOps {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            clients: ClientPool::new(std::time::Duration::from_secs(
                config.timeouts.connect_seconds,
            ))?,
            hosts: switchyard_server::app::upstream_hosts(config),
        })
    }

    pub fn ctx<'a>(&'a self, store: &'a dyn Store) -> Ctx<'a> {
        Ctx {
            store,
            clients: &self.clients,
            hosts: &self.hosts,
            actor: "cli",
            live: None,
        }
    }
}

/// Fields an operation names that the CLI sets with a flag of another name, or with an
/// argument (`None`).
const FIELD_FLAGS: &[(&str, Option<&str>)] = &[
    ("proxy_url", Some("--proxy")),
    ("allowed_models", Some("--models")),
    ("credentials", None),
    ("value", None),
    ("model", None),
];

/// Credential fields, named in the operations' message about missing credentials.
const CREDENTIAL_FIELDS: &[&str] = &[
    "api_key",
    "access_token",
    "refresh_token",
    "session_key",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "client_secret",
    "base_url",
    "deployment",
];

fn flag(field: &str) -> Option<String> {
    match FIELD_FLAGS.iter().find(|(f, _)| *f == field) {
        Some((_, flag)) => flag.map(str::to_string),
        None => Some(format!("--{}", field.replace('_', "-"))),
    }
}

/// An operation's refusal in the CLI's words: the fields it names become the flags an
/// operator types.
pub fn refused(e: OpError) -> anyhow::Error {
    let OpError::Invalid { field, message } = e else {
        return e.into();
    };
    let message = if field == "credentials" {
        message
            .split(' ')
            .map(|word| {
                let bare = word.trim_end_matches(',');
                match CREDENTIAL_FIELDS
                    .contains(&bare)
                    .then(|| flag(bare))
                    .flatten()
                {
                    Some(f) => word.replacen(bare, &f, 1),
                    None => word.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        message
    };
    match flag(&field) {
        Some(f) => anyhow::anyhow!("{f}: {message}"),
        None => anyhow::anyhow!("{message}"),
    }
}

/// File, then `SWITCHYARD_*` environment, then flags.
pub fn load_config(global: &Global) -> anyhow::Result<Config> {
    let mut config = Config::load(global.config.as_deref(), std::env::vars())?;
    if let Some(d) = &global.data_dir {
        config.set("data_dir", &d.to_string_lossy())?;
    }
    if let Some(u) = &global.database_url {
        config.set("database_url", u)?;
    }
    if let Some(u) = &global.redis_url {
        config.set("redis_url", u)?;
    }
    config.validate()?;
    Ok(config)
}

async fn store_copy(
    config: &Config,
    from: Option<&str>,
    to: &str,
    json: bool,
) -> anyhow::Result<()> {
    if !(to.starts_with("postgres:") || to.starts_with("postgresql:")) {
        anyhow::bail!("--to must be a postgres:// URL");
    }
    let from = match from {
        Some(f) => std::path::PathBuf::from(
            f.trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:"),
        ),
        None => config.data_dir.join("switchyard.db"),
    };
    let explicit = config.master_key.as_ref().map(|k| k.expose());
    let (key, generated) = switchyard_store::MasterKey::load(explicit, &config.data_dir)?;
    if generated.is_some() {
        anyhow::bail!(
            "no master key: {} has no master.key and SWITCHYARD_MASTER_KEY is not set (the key the source was written with is needed)",
            config.data_dir.display()
        );
    }
    let copied = switchyard_store::sql::copy::sqlite_to_postgres(&from, to, key).await?;
    if json {
        return output::json(&copied);
    }
    let rows = copied
        .iter()
        .map(|t| vec![t.table.to_string(), t.rows.to_string()])
        .collect();
    output::table(&["TABLE", "ROWS"], rows);
    println!(
        "copied {} into PostgreSQL; row counts match. Run the instances with the same master key.",
        from.display()
    );
    Ok(())
}

pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let store = switchyard_store::open(StoreLocation {
        data_dir: &config.data_dir,
        database_url: config.database_url.as_deref(),
        master_key: config.master_key.as_ref().map(|k| k.expose()),
    })
    .await?;
    Ok(store)
}

async fn with_store<F, Fut>(config: &Config, f: F) -> anyhow::Result<()>
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let store = open_store(config).await.context("opening the store")?;
    let result = f(store.clone()).await;
    store.close().await;
    result
}

/// Splits `a,b,c` into trimmed, non-empty parts.
pub fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

pub fn parse_time(value: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&chrono::Utc))
        .with_context(|| format!("`{value}` is not an RFC 3339 time such as 2026-12-31T23:59:59Z"))
}
