//! `switchyard user add|list|passwd`.

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
