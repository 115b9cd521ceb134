//! `switchyard settings get|set|list|reset`.

use clap::Subcommand;
use serde::Serialize;
use std::sync::Arc;
use switchyard_core::settings::{self, DEFS};
use switchyard_store::Store;

use super::output;

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

#[derive(Serialize)]
struct Row {
    key: &'static str,
    value: String,
    default: &'static str,
    #[serde(rename = "type")]
    ty: &'static str,
    help: &'static str,
}

pub async fn run(store: Arc<dyn Store>, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Get { key } => {
            let d =
                settings::def(&key).ok_or_else(|| settings::SettingError::Unknown(key.clone()))?;
            println!("{}", settings::effective_text(&store.settings().await?, d));
            Ok(())
        }
        Command::Set { key, value } => {
            let canonical = settings::validate(&key, &value)?;
            if key == "default_proxy" {
                switchyard_server::ops::proxies::check_default_proxy(store.as_ref(), &canonical)
                    .await?;
            }
            store.set_setting(&key, &canonical).await?;
            store
                .audit("cli", "settings.set", Some(&key), Some(&canonical))
                .await?;
            println!("{key} = {canonical}");
            Ok(())
        }
        Command::Reset { key } => {
            let d =
                settings::def(&key).ok_or_else(|| settings::SettingError::Unknown(key.clone()))?;
            store.reset_setting(&key).await?;
            store
                .audit("cli", "settings.reset", Some(&key), None)
                .await?;
            println!("{key} = {} (default)", d.default);
            Ok(())
        }
        Command::List { json } => {
            let stored = store.settings().await?;
            let rows: Vec<Row> = DEFS
                .iter()
                .map(|d| Row {
                    key: d.key,
                    value: settings::effective_text(&stored, d),
                    default: d.default,
                    ty: d.ty.as_str(),
                    help: d.help,
                })
                .collect();
            if json {
                return output::json(&rows);
            }
            output::table(
                &["key", "value", "default", "meaning"],
                rows.into_iter()
                    .map(|r| vec![r.key.into(), r.value, r.default.into(), r.help.into()])
                    .collect(),
            );
            Ok(())
        }
    }
}
