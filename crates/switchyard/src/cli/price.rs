//! `switchyard price list|set`: model prices (USD per token, LiteLLM field names). Overrides
//! stored here win over the bundled table and reach a running server within two seconds. A
//! front over the server's `ops::prices`.

use clap::Subcommand;
use serde::Serialize;
use std::sync::Arc;
use switchyard_core::pricing::ModelPrice;
use switchyard_server::ops::prices;
use switchyard_store::Store;

use super::{CliOps, output, refused};

#[derive(Subcommand)]
pub enum Command {
    /// Effective prices: the bundled table with the store's overrides applied.
    List {
        /// Only the overrides.
        #[arg(long)]
        overrides: bool,
        #[arg(long)]
        json: bool,
    },
    /// Set (or replace) the price of a model.
    Set(SetArgs),
}

#[derive(clap::Args)]
pub struct SetArgs {
    model: String,
    #[arg(long)]
    input_cost_per_token: f64,
    #[arg(long)]
    output_cost_per_token: f64,
    /// 5-minute cache writes (Anthropic).
    #[arg(long)]
    cache_creation_input_token_cost: Option<f64>,
    /// 1-hour cache writes (Anthropic).
    #[arg(long)]
    cache_creation_input_token_cost_above_1hr: Option<f64>,
    /// Cache reads / cached input.
    #[arg(long)]
    cache_read_input_token_cost: Option<f64>,
}

/// A price as `price list --json` has always shown it.
#[derive(Serialize)]
struct Row<'a> {
    model: &'a str,
    #[serde(flatten)]
    price: &'a ModelPrice,
    overridden: bool,
}

pub async fn run(store: Arc<dyn Store>, ops: CliOps, cmd: Command) -> anyhow::Result<()> {
    let ctx = ops.ctx(store.as_ref());
    match cmd {
        Command::List { overrides, json } => {
            let all = prices::list(&ctx).await.map_err(refused)?;
            let rows: Vec<Row> = all
                .iter()
                .filter(|p| !overrides || p.overridden())
                .map(|p| Row {
                    model: &p.model,
                    price: &p.price,
                    overridden: p.overridden(),
                })
                .collect();
            if json {
                return output::json(&rows);
            }
            let per_m =
                |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{:.4}", v * 1e6));
            output::table(
                &[
                    "model",
                    "input $/M",
                    "output $/M",
                    "cache write 5m",
                    "cache write 1h",
                    "cache read",
                    "source",
                ],
                rows.iter()
                    .map(|r| {
                        vec![
                            r.model.to_string(),
                            per_m(Some(r.price.input_cost_per_token)),
                            per_m(Some(r.price.output_cost_per_token)),
                            per_m(r.price.cache_creation_input_token_cost),
                            per_m(r.price.cache_creation_input_token_cost_above_1hr),
                            per_m(r.price.cache_read_input_token_cost),
                            if r.overridden {
                                "override".into()
                            } else {
                                "bundled".into()
                            },
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        Command::Set(a) => {
            let price = ModelPrice {
                input_cost_per_token: a.input_cost_per_token,
                output_cost_per_token: a.output_cost_per_token,
                cache_creation_input_token_cost: a.cache_creation_input_token_cost,
                cache_creation_input_token_cost_above_1hr: a
                    .cache_creation_input_token_cost_above_1hr,
                cache_read_input_token_cost: a.cache_read_input_token_cost,
                output_cost_per_reasoning_token: None,
            };
            let set = prices::set(&ctx, &a.model, price).await.map_err(refused)?;
            println!(
                "{}: ${:.4}/M input, ${:.4}/M output",
                set.model,
                set.price.input_cost_per_token * 1e6,
                set.price.output_cost_per_token * 1e6
            );
            Ok(())
        }
    }
}
