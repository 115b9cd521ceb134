//! `switchyard group create|list|add|remove|delete`: named sets of accounts that keys can be
//! bound to. An account may be in several groups. A front over the server's `ops::groups`.

use clap::Subcommand;
use std::sync::Arc;
use switchyard_server::ops::accounts::{self, AccountFilter};
use switchyard_server::ops::groups::{self, GroupBody};
use switchyard_store::Store;

use super::{CliOps, output, refused};

#[derive(Subcommand)]
pub enum Command {
    /// Create an empty group.
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add accounts (names or ids) to a group.
    Add {
        group: String,
        #[arg(required = true)]
        accounts: Vec<String>,
    },
    /// Remove accounts (names or ids) from a group.
    Remove {
        group: String,
        #[arg(required = true)]
        accounts: Vec<String>,
    },
    /// Delete a group. Keys bound to it must be re-bound first.
    Delete { group: String },
}

pub async fn run(store: Arc<dyn Store>, ops: CliOps, cmd: Command) -> anyhow::Result<()> {
    let ctx = ops.ctx(store.as_ref());
    match cmd {
        Command::Create { name, description } => {
            let body = GroupBody {
                name,
                description,
                account_ids: Vec::new(),
            };
            let g = groups::create(&ctx, body).await.map_err(refused)?;
            println!("created group {} (id {})", g.name, g.id);
        }
        Command::List { json } => {
            let groups = groups::list(&ctx).await.map_err(refused)?;
            if json {
                return output::json(&groups);
            }
            let accounts = accounts::list(&ctx, &AccountFilter::default())
                .await
                .map_err(refused)?;
            let name_of = |id: i64| {
                accounts
                    .iter()
                    .find(|a| a.id == id)
                    .map_or_else(|| id.to_string(), |a| a.name.clone())
            };
            output::table(
                &["id", "name", "accounts", "description"],
                groups
                    .iter()
                    .map(|g| {
                        vec![
                            g.id.to_string(),
                            g.name.clone(),
                            g.account_ids
                                .iter()
                                .map(|id| name_of(*id))
                                .collect::<Vec<_>>()
                                .join(","),
                            g.description.clone(),
                        ]
                    })
                    .collect(),
            );
        }
        Command::Add { group, accounts } => {
            let g = groups::change_members(&ctx, &group, &accounts, true)
                .await
                .map_err(refused)?;
            eprintln!("updated group {}", g.name);
        }
        Command::Remove { group, accounts } => {
            let g = groups::change_members(&ctx, &group, &accounts, false)
                .await
                .map_err(refused)?;
            eprintln!("updated group {}", g.name);
        }
        Command::Delete { group } => {
            let g = groups::remove(&ctx, &group).await.map_err(refused)?;
            eprintln!("deleted group {}", g.name);
        }
    }
    Ok(())
}
