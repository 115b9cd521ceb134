//! `switchyard key create|list|revoke`.

use anyhow::Context;
use clap::Subcommand;
use serde::Serialize;
use std::sync::Arc;
use switchyard_core::key::{self, ApiKey};
use switchyard_store::{NewApiKey, Store};

use super::output::{self, opt};
use super::{list, parse_time};

#[derive(Subcommand)]
pub enum Command {
    /// Create a key. The full key is printed once and never again.
    Create(CreateArgs),
    /// List keys (prefixes only).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id, prefix or name.
    Revoke { key: String },
}

#[derive(clap::Args)]
pub struct CreateArgs {
    #[arg(long)]
    name: String,
    /// Owner (default: admin).
    #[arg(long, default_value = "admin")]
    user: String,
    /// Models the key may use (`a,b`, `prefix*`); default any.
    #[arg(long)]
    models: Option<String>,
    /// Clients the key may be used from (claude-code, codex-cli, gemini-cli, or a user-agent prefix).
    #[arg(long)]
    clients: Option<String>,
    /// RFC 3339 expiry.
    #[arg(long)]
    expires_at: Option<String>,
    /// Concurrent requests; 0 means unlimited.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    concurrency: u32,
    /// Requests per minute; 0 means unlimited.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    rate_limit: u32,
    /// USD per day.
    #[arg(long, allow_negative_numbers = true)]
    daily_cost_limit: Option<f64>,
    /// USD in total.
    #[arg(long, allow_negative_numbers = true)]
    total_cost_limit: Option<f64>,
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct KeyView<'a> {
    id: i64,
    name: &'a str,
    prefix: &'a str,
    user_id: i64,
    status: &'static str,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    allowed_models: &'a [String],
    allowed_clients: &'a [String],
    concurrency_limit: u32,
    rate_limit_per_minute: u32,
    daily_cost_limit_usd: Option<f64>,
    total_cost_limit_usd: Option<f64>,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl<'a> From<&'a ApiKey> for KeyView<'a> {
    fn from(k: &'a ApiKey) -> Self {
        KeyView {
            id: k.id,
            name: &k.name,
            prefix: &k.prefix,
            user_id: k.user_id,
            status: k.status.as_str(),
            expires_at: k.expires_at,
            allowed_models: &k.allowed_models,
            allowed_clients: &k.allowed_clients,
            concurrency_limit: k.concurrency_limit,
            rate_limit_per_minute: k.rate_limit_per_minute,
            daily_cost_limit_usd: k.daily_cost_limit_usd,
            total_cost_limit_usd: k.total_cost_limit_usd,
            created_at: k.created_at,
        }
    }
}

pub async fn run(store: Arc<dyn Store>, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Create(args) => {
            if args.user == "admin"
                && let Some(password) =
                    switchyard_server::bootstrap::ensure_admin(store.as_ref()).await?
            {
                // The store is new: the admin user is created here instead of by `serve`.
                eprintln!("created admin user `admin` with one-time password: {password}");
            }
            let user = store
                .user_by_name(&args.user)
                .await?
                .with_context(|| format!("user `{}` not found", args.user))?;
            for (flag, v) in [
                ("--daily-cost-limit", args.daily_cost_limit),
                ("--total-cost-limit", args.total_cost_limit),
            ] {
                if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                    anyhow::bail!("{flag} must be a non-negative number");
                }
            }
            let generated = key::generate();
            let created = store
                .create_key(NewApiKey {
                    user_id: user.id,
                    name: args.name,
                    prefix: generated.prefix.clone(),
                    hash: generated.hash.clone(),
                    expires_at: args.expires_at.as_deref().map(parse_time).transpose()?,
                    allowed_models: args.models.as_deref().map(list).unwrap_or_default(),
                    allowed_clients: args.clients.as_deref().map(list).unwrap_or_default(),
                    concurrency_limit: args.concurrency,
                    rate_limit_per_minute: args.rate_limit,
                    daily_cost_limit_usd: args.daily_cost_limit,
                    total_cost_limit_usd: args.total_cost_limit,
                })
                .await?;
            store
                .audit(
                    "cli",
                    "key.create",
                    Some(&created.prefix),
                    Some(&created.name),
                )
                .await?;
            if args.json {
                return output::json(&serde_json::json!({
                    "key": generated.full, "id": created.id, "name": created.name, "prefix": created.prefix
                }));
            }
            println!("{}", generated.full);
            eprintln!(
                "key `{}` (id {}) created; the full key above is shown only once",
                created.name, created.id
            );
            Ok(())
        }
        Command::List { json } => {
            let keys = store.list_keys().await?;
            if json {
                let views: Vec<KeyView> = keys.iter().map(KeyView::from).collect();
                return output::json(&views);
            }
            output::table(
                &["id", "name", "prefix", "status", "models", "expires"],
                keys.iter()
                    .map(|k| {
                        vec![
                            k.id.to_string(),
                            k.name.clone(),
                            format!("{}…", k.prefix),
                            k.status.as_str().into(),
                            if k.allowed_models.is_empty() {
                                "any".into()
                            } else {
                                k.allowed_models.join(",")
                            },
                            opt(&k.expires_at.map(|t| t.to_rfc3339())),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        Command::Revoke { key } => {
            let k = store.revoke_key(&key).await?;
            store
                .audit("cli", "key.revoke", Some(&k.prefix), None)
                .await?;
            println!("revoked key {} ({}…)", k.name, k.prefix);
            Ok(())
        }
    }
}
