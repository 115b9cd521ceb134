//! `switchyard settings get|set|list|reset`: a front over the server's `ops::settings`.

use clap::Subcommand;
use serde::Serialize;
use std::sync::Arc;
use switchyard_server::ops::settings;
use switchyard_store::Store;

use super::{CliOps, output, refused};

#[derive(Subcommand)]
pub enum Command {
    Get {
        key: String,
    },
    Set {
        key: String,
        value: String,
    },
    /// Back to the default.
    Reset {
        key: String,
    },
    List {
        #[arg(long)]
        json: bool,
    },
}

/// A setting as `settings list --json` has always shown it.
#[derive(Serialize)]
struct Row {
    key: String,
    value: String,
    default: String,
    #[serde(rename = "type")]
    ty: String,
    help: String,
}

pub async fn run(store: Arc<dyn Store>, ops: CliOps, cmd: Command) -> anyhow::Result<()> {
    let ctx = ops.ctx(store.as_ref());
    match cmd {
        Command::Get { key } => {
            let s = settings::get(&ctx, &key).await.map_err(refused)?;
            println!("{}", s.value);
        }
        Command::Set { key, value } => {
            let s = settings::set(&ctx, &key, &value).await.map_err(refused)?;
            println!("{key} = {}", s.value);
        }
        Command::Reset { key } => {
            let s = settings::reset(&ctx, &key).await.map_err(refused)?;
            println!("{key} = {} (default)", s.value);
        }
        Command::List { json } => {
            let rows: Vec<Row> = settings::list(&ctx)
                .await
                .map_err(refused)?
                .into_iter()
                .map(|s| Row {
                    key: s.key,
                    value: s.value,
                    default: s.default,
                    ty: s.ty,
                    help: s.description,
                })
                .collect();
            if json {
                return output::json(&rows);
            }
            output::table(
                &["key", "value", "default", "meaning"],
                rows.into_iter()
                    .map(|r| vec![r.key, r.value, r.default, r.help])
                    .collect(),
            );
        }
    }
    Ok(())
}
