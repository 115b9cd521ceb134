//! Model prices: the bundled table with operator overrides; set an override (every price a
//! non-negative number of USD per token) or drop it so the bundled price applies again.

use schemars::JsonSchema;
use serde::Serialize;
use switchyard_core::pricing::{ModelPrice, PriceTable};

use super::{Ctx, OpError, invalid, value};

#[derive(Serialize, JsonSchema)]
pub struct PriceView {
    pub model: String,
    pub price: ModelPrice,
    /// `override` when an operator set it, else `bundled`.
    pub source: String,
}

impl PriceView {
    pub fn overridden(&self) -> bool {
        self.source == "override"
    }
}

/// Every priced model, sorted by name.
pub async fn list(ctx: &Ctx<'_>) -> Result<Vec<PriceView>, OpError> {
    let overrides = ctx.store.price_overrides().await?;
    let mut out: Vec<PriceView> = PriceTable::bundled()
        .iter()
        .filter(|(m, _)| !overrides.contains_key(*m))
        .map(|(m, p)| PriceView {
            model: m.to_string(),
            price: *p,
            source: "bundled".into(),
        })
        .collect();
    out.extend(overrides.iter().map(|(m, p)| PriceView {
        model: m.clone(),
        price: *p,
        source: "override".into(),
    }));
    out.sort_by(|a, b| a.model.cmp(&b.model));
    Ok(out)
}

fn check(model: &str, price: &ModelPrice) -> Result<(), OpError> {
    if model.trim().is_empty() {
        return Err(invalid("model", "the model name must not be empty"));
    }
    let all = [
        ("input_cost_per_token", Some(price.input_cost_per_token)),
        ("output_cost_per_token", Some(price.output_cost_per_token)),
        (
            "cache_creation_input_token_cost",
            price.cache_creation_input_token_cost,
        ),
        (
            "cache_creation_input_token_cost_above_1hr",
            price.cache_creation_input_token_cost_above_1hr,
        ),
        (
            "cache_read_input_token_cost",
            price.cache_read_input_token_cost,
        ),
        (
            "output_cost_per_reasoning_token",
            price.output_cost_per_reasoning_token,
        ),
    ];
    match all
        .iter()
        .find(|(_, v)| v.is_some_and(|v| !v.is_finite() || v < 0.0))
    {
        Some((field, _)) => Err(invalid(
            *field,
            "a price must be a non-negative number of USD per token (e.g. 3e-6)",
        )),
        None => Ok(()),
    }
}

pub async fn set(ctx: &Ctx<'_>, model: &str, price: ModelPrice) -> Result<PriceView, OpError> {
    check(model, &price)?;
    let overrides = ctx.store.price_overrides().await?;
    let before = PriceTable::bundled()
        .with_overrides(overrides)
        .price(model)
        .copied();
    ctx.store.set_price(model, &price).await?;
    ctx.record(
        "price.set",
        model,
        before.as_ref().and_then(value),
        value(&price),
    )
    .await;
    Ok(PriceView {
        model: model.to_string(),
        price,
        source: "override".into(),
    })
}

/// Drops the override of `model`; answers with the model's name.
pub async fn reset(ctx: &Ctx<'_>, model: &str) -> Result<String, OpError> {
    if !ctx.store.delete_price(model).await? {
        return Err(OpError::NotFound(format!(
            "an override for model `{model}`"
        )));
    }
    ctx.record("price.reset", model, None, None).await;
    Ok(model.to_string())
}
