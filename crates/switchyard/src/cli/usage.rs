//! `switchyard usage recent`.

use clap::Subcommand;
use std::sync::Arc;
use switchyard_store::Store;

use super::output::{self, opt};

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
                    opt(&r.api_key_id),
                    opt(&r.account_id),
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
