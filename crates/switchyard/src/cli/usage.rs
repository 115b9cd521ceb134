//! `switchyard usage recent`: people read key and account names; `--json` keeps the ids a
//! script joins on.

use clap::Subcommand;
use std::collections::HashMap;
use std::sync::Arc;
use switchyard_store::Store;

use super::output;

#[derive(Subcommand)]
pub enum Command {
    /// The newest usage records, newest first.
    Recent {
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(store: Arc<dyn Store>, cmd: Command) -> anyhow::Result<()> {
    let Command::Recent { limit, json } = cmd;
    let records = store.recent_usage(limit).await?;
    if json {
        return output::json(&records);
    }
    let keys: HashMap<i64, String> = store
        .list_keys()
        .await?
        .into_iter()
        .map(|k| (k.id, k.name))
        .collect();
    let accounts: HashMap<i64, String> = store
        .list_accounts()
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    // A deleted key or account keeps its id in the record: show that rather than nothing.
    let name = |names: &HashMap<i64, String>, id: Option<i64>| {
        id.map_or_else(
            || "-".to_string(),
            |id| names.get(&id).cloned().unwrap_or_else(|| id.to_string()),
        )
    };
    output::table(
        &[
            "time",
            "key",
            "account",
            "model",
            "status",
            "in",
            "out",
            "cache w/r",
            "cost",
            "ms",
        ],
        records
            .iter()
            .map(|r| {
                vec![
                    r.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    name(&keys, r.api_key_id),
                    name(&accounts, r.account_id),
                    r.upstream_model
                        .clone()
                        .or(r.requested_model.clone())
                        .unwrap_or_else(|| "-".into()),
                    match &r.error_kind {
                        Some(e) => format!("{} {e}", r.status),
                        None => r.status.to_string(),
                    },
                    r.usage.input_tokens.to_string(),
                    r.usage.output_tokens.to_string(),
                    format!(
                        "{}/{}",
                        r.usage.cache_creation_5m_tokens + r.usage.cache_creation_1h_tokens,
                        r.usage.cache_read_tokens
                    ),
                    r.cost_usd
                        .map_or_else(|| "unpriced".into(), |c| format!("${c:.6}")),
                    r.duration_ms.to_string(),
                ]
            })
            .collect(),
    );
    Ok(())
}
