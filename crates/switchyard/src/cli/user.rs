//! `switchyard user add|list|passwd|set`: a front over the server's `ops::users`.

use clap::Subcommand;
use std::sync::Arc;
use switchyard_server::ops::users::{self, NewUserBody, UserPatchBody};
use switchyard_store::Store;

use super::{CliOps, output, refused};

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

pub async fn run(store: Arc<dyn Store>, ops: CliOps, cmd: Command) -> anyhow::Result<()> {
    let ctx = ops.ctx(store.as_ref());
    match cmd {
        Command::Add {
            name,
            role,
            password,
        } => {
            let body = NewUserBody {
                name,
                role: Some(role),
                password,
                limits: Default::default(),
            };
            let created = users::create(&ctx, body).await.map_err(refused)?;
            let user = created.user;
            println!("added user {} ({}, id {})", user.name, user.role, user.id);
            if let Some(password) = created.password {
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
            let user = users::find(&ctx, &name).await.map_err(refused)?;
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
            let patch = UserPatchBody {
                status: enabled.map(|on| if on { "active" } else { "disabled" }.to_string()),
                limits: (limits != user.limits).then_some(limits),
                ..Default::default()
            };
            users::update(&ctx, &name, patch).await.map_err(refused)?;
            eprintln!("updated user {name}");
            Ok(())
        }
        Command::List { json } => {
            let users = users::list(&ctx).await.map_err(refused)?;
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
            let generated = password
                .is_none()
                .then(switchyard_server::bootstrap::generate_password);
            let patch = UserPatchBody {
                password: password.or_else(|| generated.clone()),
                ..Default::default()
            };
            users::update(&ctx, &name, patch).await.map_err(refused)?;
            println!("password changed for {name}");
            if let Some(password) = generated {
                println!("password: {password}");
            }
            Ok(())
        }
    }
}
