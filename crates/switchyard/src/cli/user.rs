//! `switchyard user add|list|passwd|set`.

use clap::Subcommand;
use std::sync::Arc;
use switchyard_server::bootstrap::generate_password;
use switchyard_store::{Store, crypto};

use super::output;

#[derive(Subcommand)]
pub enum Command {
    /// Add a user. Without --password one is generated and printed once.
    Add {
        name: String,
        #[arg(long, default_value = "user", value_parser = ["admin", "user"])]
        role: String,
        #[arg(long)]
        password: Option<String>,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    /// Set a new password. Without --password one is generated and printed once.
    Passwd {
        name: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// Enable or disable a user (its keys stop working at once) and set limits that apply
    /// across all of its keys. Only the flags given change; `none` clears a cost limit.
    Set {
        name: String,
        #[arg(long)]
        enabled: Option<bool>,
        /// Concurrent requests over all the user's keys; 0 means unlimited.
        #[arg(long, allow_negative_numbers = true)]
        concurrency: Option<u32>,
        #[arg(long, allow_negative_numbers = true)]
        daily_usd: Option<String>,
        #[arg(long, allow_negative_numbers = true)]
        weekly_usd: Option<String>,
        #[arg(long, allow_negative_numbers = true)]
        total_usd: Option<String>,
    },
}

fn usd(flag: &str, v: &str) -> anyhow::Result<Option<f64>> {
    if v.eq_ignore_ascii_case("none") || v.is_empty() {
        return Ok(None);
    }
    match v.trim_start_matches('$').parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
        _ => anyhow::bail!("--{flag} `{v}` must be a non-negative number of USD or `none`"),
    }
}

pub async fn run(store: Arc<dyn Store>, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Add {
            name,
            role,
            password,
        } => {
            let (password, generated) = match password {
                Some(p) if p.len() >= 8 => (p, false),
                Some(_) => anyhow::bail!("--password must be at least 8 characters"),
                None => (generate_password(), true),
            };
            let user = store
                .create_user(&name, &role, Some(&crypto::hash_password(&password)?))
                .await?;
            store
                .audit("cli", "user.add", Some(&name), Some(&role))
                .await?;
            println!("added user {} ({}, id {})", user.name, user.role, user.id);
            if generated {
                println!("password: {password}");
            }
            Ok(())
        }
        Command::Set {
            name,
            enabled,
            concurrency,
            daily_usd,
            weekly_usd,
            total_usd,
        } => {
            let user = store
                .user_by_name(&name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("user `{name}` not found"))?;
            if let Some(on) = enabled {
                let status = if on { "active" } else { "disabled" };
                store.set_user_status(&name, status).await?;
                store
                    .audit("cli", "user.status", Some(&name), Some(status))
                    .await?;
            }
            let mut limits = user.limits.clone();
            if let Some(n) = concurrency {
                limits.concurrency_limit = n;
            }
            if let Some(v) = daily_usd {
                limits.daily_cost_limit_usd = usd("daily-usd", &v)?;
            }
            if let Some(v) = weekly_usd {
                limits.weekly_cost_limit_usd = usd("weekly-usd", &v)?;
            }
            if let Some(v) = total_usd {
                limits.total_cost_limit_usd = usd("total-usd", &v)?;
            }
            if limits != user.limits {
                store.set_user_limits(&name, &limits).await?;
                store
                    .audit(
                        "cli",
                        "user.limits",
                        Some(&name),
                        Some(&serde_json::to_string(&limits)?),
                    )
                    .await?;
            }
            eprintln!("updated user {name}");
            Ok(())
        }
        Command::List { json } => {
            let users = store.list_users().await?;
            if json {
                return output::json(&users);
            }
            output::table(
                &["id", "name", "role", "status", "created"],
                users
                    .iter()
                    .map(|u| {
                        vec![
                            u.id.to_string(),
                            u.name.clone(),
                            u.role.clone(),
                            u.status.clone(),
                            u.created_at.to_rfc3339(),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        Command::Passwd { name, password } => {
            let (password, generated) = match password {
                Some(p) if p.len() >= 8 => (p, false),
                Some(_) => anyhow::bail!("--password must be at least 8 characters"),
                None => (generate_password(), true),
            };
            store
                .set_user_password(&name, &crypto::hash_password(&password)?)
                .await?;
            store.audit("cli", "user.passwd", Some(&name), None).await?;
            println!("password changed for {name}");
            if generated {
                println!("password: {password}");
            }
            Ok(())
        }
    }
}
