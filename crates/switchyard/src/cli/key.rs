//! `switchyard key create|set|show|list|revoke`: a front over the server's `ops::keys`, acting
//! as an operator.

use anyhow::Context;
use clap::Subcommand;
use std::sync::Arc;
use switchyard_core::key::KeyPolicy;
use switchyard_core::model_routes::CrossDialect;
use switchyard_core::policy::ClientKind;
use switchyard_server::ops::keys::{self, KeyView, NewKeyBody, Who};
use switchyard_server::ops::{Ctx, accounts, groups};
use switchyard_store::Store;

use super::output::{self, opt};
use super::{CliOps, list, parse_time, refused};

#[derive(Subcommand)]
pub enum Command {
    /// Create a key. The full key is printed once and never again.
    Create(CreateArgs),
    /// Change a key's policy (only the flags given change).
    Set(SetArgs),
    /// Show one key's policy.
    Show {
        /// Key id, prefix or name.
        key: String,
        #[arg(long)]
        json: bool,
    },
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
    #[command(flatten)]
    policy: PolicyArgs,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct SetArgs {
    /// Key id, prefix or name.
    key: String,
    #[command(flatten)]
    policy: PolicyArgs,
}

/// Policy flags shared by `create` and `set`. `none` clears an optional value.
#[derive(clap::Args)]
pub struct PolicyArgs {
    /// Models the key may use (`a,b`; `*` and `?` globs); empty string: any.
    #[arg(long)]
    models: Option<String>,
    /// APIs the key may use: anthropic, openai-chat, openai-responses, gemini; empty: any.
    #[arg(long)]
    dialects: Option<String>,
    /// Clients the key may be used from: claude_code, codex_cli, gemini_cli; empty: any.
    #[arg(long)]
    clients: Option<String>,
    /// Fixed expiry (RFC 3339), or `none`.
    #[arg(long)]
    expires_at: Option<String>,
    /// Lifetime that starts at first use: `30d`, `12h`, `90m`, `3600s`, or `none`.
    #[arg(long)]
    expires_in: Option<String>,
    /// Concurrent requests; 0 means unlimited.
    #[arg(long, allow_negative_numbers = true)]
    concurrency: Option<u32>,
    /// Requests per minute; 0 means unlimited.
    #[arg(long, alias = "rate-limit", allow_negative_numbers = true)]
    rpm: Option<u32>,
    /// Tokens per minute; 0 means unlimited.
    #[arg(long, allow_negative_numbers = true)]
    tpm: Option<u64>,
    /// USD per day, or `none`.
    #[arg(long, alias = "daily-cost-limit", allow_negative_numbers = true)]
    daily_usd: Option<String>,
    /// USD per week, or `none`.
    #[arg(long, allow_negative_numbers = true)]
    weekly_usd: Option<String>,
    /// USD in total, or `none`.
    #[arg(long, alias = "total-cost-limit", allow_negative_numbers = true)]
    total_usd: Option<String>,
    /// Route only to this account (name or id), or `none`.
    #[arg(long)]
    account: Option<String>,
    /// Route only to this account group (name or id), or `none`.
    #[arg(long)]
    group: Option<String>,
    /// With a binding: use the shared pool when no bound account can serve.
    #[arg(long)]
    pool_fallback: Option<bool>,
    /// Serving this key through accounts of another dialect: `off`, `fallback`, `any`, or
    /// `default` to follow the `cross_dialect` setting.
    #[arg(long)]
    cross_dialect: Option<String>,
}

fn is_none(v: &str) -> bool {
    v.eq_ignore_ascii_case("none") || v.is_empty()
}

fn usd(flag: &str, v: &str) -> anyhow::Result<Option<f64>> {
    if is_none(v) {
        return Ok(None);
    }
    match v.trim_start_matches('$').parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
        _ => anyhow::bail!("--{flag} `{v}` must be a non-negative number of USD or `none`"),
    }
}

/// `30d`, `12h`, `90m`, `45s` or plain seconds.
fn lifetime(v: &str) -> anyhow::Result<Option<i64>> {
    if is_none(v) {
        return Ok(None);
    }
    let (num, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: i64 = num
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .with_context(|| format!("--expires-in `{v}` must look like 30d, 12h, 90m or 3600s"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => anyhow::bail!("--expires-in `{v}` must look like 30d, 12h, 90m or 3600s"),
    };
    Ok(Some(n.saturating_mul(factor)))
}

impl PolicyArgs {
    /// Applies the given flags to `p`.
    async fn apply(self, ctx: &Ctx<'_>, p: &mut KeyPolicy) -> anyhow::Result<()> {
        if let Some(v) = self.models {
            p.allowed_models = list(&v);
        }
        if let Some(v) = self.dialects {
            p.allowed_dialects = list(&v);
        }
        if let Some(v) = self.clients {
            let mut clients = Vec::new();
            for c in list(&v) {
                match ClientKind::parse(&c) {
                    Some(k) => clients.push(k.as_str().to_string()),
                    None if c == "any" => {}
                    None => anyhow::bail!(
                        "unknown client `{c}` (expected claude_code, codex_cli, gemini_cli or any)"
                    ),
                }
            }
            p.allowed_clients = clients;
        }
        if let Some(v) = self.expires_at {
            p.expires_at = if is_none(&v) {
                None
            } else {
                Some(parse_time(&v)?)
            };
        }
        if let Some(v) = self.expires_in {
            p.expires_after_seconds = lifetime(&v)?;
        }
        if let Some(n) = self.concurrency {
            p.concurrency_limit = n;
        }
        if let Some(n) = self.rpm {
            p.rate_limit_per_minute = n;
        }
        if let Some(n) = self.tpm {
            p.tokens_per_minute = n;
        }
        if let Some(v) = self.daily_usd {
            p.daily_cost_limit_usd = usd("daily-usd", &v)?;
        }
        if let Some(v) = self.weekly_usd {
            p.weekly_cost_limit_usd = usd("weekly-usd", &v)?;
        }
        if let Some(v) = self.total_usd {
            p.total_cost_limit_usd = usd("total-usd", &v)?;
        }
        if let Some(v) = self.account {
            p.bound_account_id = if is_none(&v) {
                None
            } else {
                p.bound_group_id = None;
                Some(accounts::find(ctx, &v).await.map_err(refused)?.id)
            };
        }
        if let Some(v) = self.group {
            p.bound_group_id = if is_none(&v) {
                None
            } else {
                p.bound_account_id = None;
                Some(groups::find(ctx, &v).await.map_err(refused)?.id)
            };
        }
        if let Some(on) = self.pool_fallback {
            p.pool_fallback = on;
        }
        if let Some(v) = self.cross_dialect {
            p.cross_dialect = if v.eq_ignore_ascii_case("default") {
                None
            } else {
                Some(CrossDialect::parse(&v).ok_or_else(|| {
                    anyhow::anyhow!("--cross-dialect: `{v}` is not off, fallback, any or default")
                })?)
            };
        }
        Ok(())
    }
}

/// The CLI's JSON of a key: the operations' view with the policy's fields at the top level.
fn flat(v: &KeyView) -> anyhow::Result<serde_json::Value> {
    let mut value = serde_json::to_value(v)?;
    if let Some(map) = value.as_object_mut()
        && let Some(serde_json::Value::Object(policy)) = map.remove("policy")
    {
        map.extend(policy);
    }
    Ok(value)
}

pub async fn run(store: Arc<dyn Store>, ops: CliOps, cmd: Command) -> anyhow::Result<()> {
    let ctx = ops.ctx(store.as_ref());
    let operator = Who::Operator(None);
    match cmd {
        Command::Create(args) => {
            if args.user == "admin"
                && let Some(admin) =
                    switchyard_server::bootstrap::ensure_admin(store.as_ref()).await?
            {
                // No admin yet: it is created here instead of by `serve`.
                eprintln!("{}", admin.announcement());
            }
            let mut policy = KeyPolicy::default();
            args.policy.apply(&ctx, &mut policy).await?;
            let body = NewKeyBody {
                name: args.name,
                user: Some(args.user),
                policy,
            };
            let created = keys::create(&ctx, operator, body).await.map_err(refused)?;
            if args.json {
                return output::json(&serde_json::json!({
                    "key": created.key,
                    "id": created.info.id,
                    "name": created.info.name,
                    "prefix": created.info.prefix
                }));
            }
            println!("{}", created.key);
            eprintln!(
                "key `{}` (id {}) created; the full key above is shown only once",
                created.info.name, created.info.id
            );
            Ok(())
        }
        Command::Set(args) => {
            let k = keys::find(&ctx, operator, &args.key)
                .await
                .map_err(refused)?;
            let mut policy = k.policy.clone();
            args.policy.apply(&ctx, &mut policy).await?;
            let updated = keys::set_policy(&ctx, operator, &k.id.to_string(), policy)
                .await
                .map_err(refused)?;
            eprintln!("updated key {} ({}…)", updated.name, updated.prefix);
            Ok(())
        }
        Command::Show { key, json } => {
            let view = flat(&keys::get(&ctx, operator, &key).await.map_err(refused)?)?;
            if json {
                return output::json(&view);
            }
            if let Some(map) = view.as_object() {
                for (field, v) in map {
                    println!("{field:<24} {v}");
                }
            }
            Ok(())
        }
        Command::List { json } => {
            let views = keys::list(&ctx, operator).await.map_err(refused)?;
            if json {
                let flat: Vec<serde_json::Value> =
                    views.iter().map(flat).collect::<anyhow::Result<_>>()?;
                return output::json(&flat);
            }
            output::table(
                &["id", "name", "prefix", "status", "models", "expires"],
                views
                    .iter()
                    .map(|k| {
                        vec![
                            k.id.to_string(),
                            k.name.clone(),
                            format!("{}…", k.prefix),
                            k.status.clone(),
                            if k.policy.allowed_models.is_empty() {
                                "any".into()
                            } else {
                                k.policy.allowed_models.join(",")
                            },
                            opt(&k.policy.expires_at.map(|t| t.to_rfc3339())),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        Command::Revoke { key } => {
            let k = keys::revoke(&ctx, operator, &key).await.map_err(refused)?;
            println!("revoked key {} ({}…)", k.name, k.prefix);
            Ok(())
        }
    }
}
