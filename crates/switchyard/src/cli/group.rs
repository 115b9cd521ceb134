//! `switchyard group create|list|add|remove|delete`: named sets of accounts that keys can be
//! bound to. An account may be in several groups.

use clap::Subcommand;
use std::sync::Arc;
use switchyard_store::Store;

use super::output;

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

pub async fn run(store: Arc<dyn Store>, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Create { name, description } => {
            let g = store.create_group(&name, &description).await?;
            store
                .audit("cli", "group.create", Some(&name), None)
                .await?;
            println!("created group {} (id {})", g.name, g.id);
        }
        Command::List { json } => {
            let groups = store.list_groups().await?;
            if json {
                return output::json(&groups);
            }
            let accounts = store.list_accounts().await?;
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
            let g = store.find_group(&group).await?;
            for a in accounts {
                let account = store.find_account(&a).await?;
                store.add_group_member(g.id, account.id).await?;
                store
                    .audit("cli", "group.add", Some(&g.name), Some(&account.name))
                    .await?;
            }
            eprintln!("updated group {}", g.name);
        }
        Command::Remove { group, accounts } => {
            let g = store.find_group(&group).await?;
            for a in accounts {
                let account = store.find_account(&a).await?;
                store.remove_group_member(g.id, account.id).await?;
                store
                    .audit("cli", "group.remove", Some(&g.name), Some(&account.name))
                    .await?;
            }
            eprintln!("updated group {}", g.name);
        }
        Command::Delete { group } => {
            let g = store.find_group(&group).await?;
            store.delete_group(g.id).await?;
            store
                .audit("cli", "group.delete", Some(&g.name), None)
                .await?;
            eprintln!("deleted group {}", g.name);
        }
    }
    Ok(())
}
