//! `switchyard price list|set`: model prices (USD per token, LiteLLM field names). Overrides
//! stored here win over the bundled table and reach a running server within two seconds.

use clap::Subcommand;
use serde::Serialize;
use std::sync::Arc;
use switchyard_core::pricing::{ModelPrice, PriceTable};
use switchyard_store::Store;

use super::output;

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

#[derive(Serialize)]
struct Row<'a> {
    model: &'a str,
    #[serde(flatten)]
    price: &'a ModelPrice,
    overridden: bool,
}

pub async fn run(store: Arc<dyn Store>, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::List { overrides, json } => {
            let stored = store.price_overrides().await?;
            let table = PriceTable::bundled().with_overrides(stored.clone());
            let mut rows: Vec<Row> = table
                .iter()
                .filter(|(m, _)| !overrides || stored.contains_key(*m))
                .map(|(model, price)| Row {
                    model,
                    price,
                    overridden: stored.contains_key(model),
                })
                .collect();
            rows.sort_by(|a, b| a.model.cmp(b.model));
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
            let all = [
                Some(a.input_cost_per_token),
                Some(a.output_cost_per_token),
                a.cache_creation_input_token_cost,
                a.cache_creation_input_token_cost_above_1hr,
                a.cache_read_input_token_cost,
            ];
            if all.iter().flatten().any(|v| !v.is_finite() || *v < 0.0) {
                anyhow::bail!("prices must be non-negative numbers (USD per token, e.g. 3e-6)");
            }
            if a.model.trim().is_empty() {
                anyhow::bail!("the model name must not be empty");
            }
            let price = ModelPrice {
                input_cost_per_token: a.input_cost_per_token,
                output_cost_per_token: a.output_cost_per_token,
                cache_creation_input_token_cost: a.cache_creation_input_token_cost,
                cache_creation_input_token_cost_above_1hr: a
                    .cache_creation_input_token_cost_above_1hr,
                cache_read_input_token_cost: a.cache_read_input_token_cost,
                output_cost_per_reasoning_token: None,
            };
            store.set_price(&a.model, &price).await?;
            store
                .audit("cli", "price.set", Some(&a.model), None)
                .await?;
            println!(
                "{}: ${:.4}/M input, ${:.4}/M output",
                a.model,
                a.input_cost_per_token * 1e6,
                a.output_cost_per_token * 1e6
            );
            Ok(())
        }
    }
}
