//! Model prices and request cost.
//!
//! Prices use LiteLLM's field names and units (USD per token) so that an operator can paste
//! entries from LiteLLM's `model_prices_and_context_window.json` as overrides, and so a bundled
//! table can be refreshed from it without translation. The bundled `prices.json` is a small,
//! hand-kept subset covering the models Switchyard's clients actually send.
//!
//! An unknown model has no price (`None`), never a price of zero: a silent zero would make cost
//! limits on API keys ineffective for exactly the models nobody thought about.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::usage::TokenUsage;

/// The LiteLLM price file bundled into the binary.
const BUNDLED_JSON: &str = include_str!("../prices.json");

/// LiteLLM's documentation entry at the top of its price file; not a model.
const SAMPLE_SPEC: &str = "sample_spec";

/// The per-token prices of one model (USD). Fields LiteLLM has but Switchyard does not bill
/// (context sizes, `*_above_200k_tokens`, `*_priority`, …) are ignored when parsing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ModelPrice {
    #[schemars(range(min = 0.0))]
    pub input_cost_per_token: f64,
    #[schemars(range(min = 0.0))]
    pub output_cost_per_token: f64,
    /// Writing to the 5-minute prompt cache (Anthropic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub cache_creation_input_token_cost: Option<f64>,
    /// Writing to the 1-hour prompt cache (Anthropic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub cache_creation_input_token_cost_above_1hr: Option<f64>,
    /// Reading from a prompt cache (Anthropic cache reads, OpenAI/Gemini cached input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub cache_read_input_token_cost: Option<f64>,
    /// Kept for fidelity with LiteLLM but not used by [`ModelPrice::cost_usd`]: every provider
    /// Switchyard bills charges reasoning at the output price, and usage extraction already
    /// counts reasoning inside `output_tokens`, so a separate rate would only risk billing it
    /// twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub output_cost_per_reasoning_token: Option<f64>,
}

impl ModelPrice {
    /// Cost in USD of `usage` at these prices.
    ///
    /// Every token class in [`TokenUsage`] is disjoint, so each is billed once:
    /// - uncached input at the input price;
    /// - 5-minute cache writes at the cache-write price, or the input price when the model has
    ///   none (providers without paid cache writes bill those tokens as ordinary input);
    /// - 1-hour cache writes at the 1-hour price, else the 5-minute price, else input;
    /// - cache reads at the cache-read price, else input (no discount we cannot prove);
    /// - output, reasoning included, at the output price.
    pub fn cost_usd(&self, usage: &TokenUsage) -> f64 {
        let input = self.input_cost_per_token;
        let cache_5m = self.cache_creation_input_token_cost.unwrap_or(input);
        let cache_1h = self
            .cache_creation_input_token_cost_above_1hr
            .or(self.cache_creation_input_token_cost)
            .unwrap_or(input);
        let cache_read = self.cache_read_input_token_cost.unwrap_or(input);
        // Token counts stay far below 2^53, so the conversion to f64 is exact.
        tokens(usage.input_tokens) * input
            + tokens(usage.cache_creation_5m_tokens) * cache_5m
            + tokens(usage.cache_creation_1h_tokens) * cache_1h
            + tokens(usage.cache_read_tokens) * cache_read
            + tokens(usage.output_tokens) * self.output_cost_per_token
    }
}

#[allow(clippy::cast_precision_loss)]
fn tokens(n: u64) -> f64 {
    n as f64
}

/// Prices by model name, with the name normalisation clients and providers need.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    prices: HashMap<String, ModelPrice>,
}

impl PriceTable {
    /// The table compiled into the binary from `prices.json`.
    ///
    /// Infallible because the file is part of the source: a unit test parses it and checks it
    /// covers the expected models, so a broken edit fails the build's tests, not production. If
    /// it ever failed anyway the table would be empty, which bills nothing as "unknown model"
    /// rather than as free.
    pub fn bundled() -> PriceTable {
        PriceTable::from_litellm_json(BUNDLED_JSON).unwrap_or_default()
    }

    /// Parses a price file in LiteLLM's format: a JSON object keyed by model name.
    ///
    /// `sample_spec` is skipped, and so are entries without both per-token prices (image,
    /// audio-per-second or per-request models in the full LiteLLM file): Switchyard cannot
    /// bill them per token, and leaving them out makes them "unknown" instead of free.
    pub fn from_litellm_json(json: &str) -> Result<PriceTable, serde_json::Error> {
        let raw: HashMap<String, serde_json::Value> = serde_json::from_str(json)?;
        let prices = raw
            .into_iter()
            .filter(|(name, _)| name != SAMPLE_SPEC)
            .filter_map(|(name, value)| {
                serde_json::from_value::<ModelPrice>(value)
                    .ok()
                    .map(|price| (name, price))
            })
            .collect();
        Ok(PriceTable { prices })
    }

    /// A copy of this table with operator-set prices replacing or adding entries.
    pub fn with_overrides(
        &self,
        overrides: impl IntoIterator<Item = (String, ModelPrice)>,
    ) -> PriceTable {
        let mut prices = self.prices.clone();
        prices.extend(overrides);
        PriceTable { prices }
    }

    /// The price for `model`: the exact name first, then progressively normalised forms (see
    /// [`name_candidates`]). An exact entry always wins, so an operator can price one dated
    /// snapshot differently from its family.
    pub fn price(&self, model: &str) -> Option<&ModelPrice> {
        name_candidates(model)
            .into_iter()
            .flatten()
            .find_map(|name| self.prices.get(name))
    }

    /// Cost in USD of `usage` on `model`, or `None` when the model has no price.
    pub fn cost_usd(&self, model: &str, usage: &TokenUsage) -> Option<f64> {
        self.price(model).map(|price| price.cost_usd(usage))
    }

    pub fn len(&self) -> usize {
        self.prices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prices.is_empty()
    }

    /// All entries, in no particular order (for listing in the admin API and CLI).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ModelPrice)> {
        self.prices
            .iter()
            .map(|(name, price)| (name.as_str(), price))
    }
}

/// Names to try for `model`, most specific first; `None` where a step changed nothing.
///
/// 1. the name as sent;
/// 2. without a provider path (`anthropic/…`, `openai/…`, `gemini/…`, `models/…` as the Gemini
///    API spells it; everything up to the last `/`);
/// 3. without Bedrock decoration: a region prefix and `anthropic.` in front, a `-v1:0`-style
///    version behind;
/// 4. without a trailing snapshot marker: `-YYYYMMDD`, `-YYYY-MM-DD`, Vertex's `@YYYYMMDD`,
///    or `-latest`.
///
/// Every step only slices the input, so lookup allocates nothing.
fn name_candidates(model: &str) -> [Option<&str>; 4] {
    let unprefixed = model.rsplit_once('/').map_or(model, |(_, rest)| rest);
    let unbedrocked = strip_bedrock(unprefixed);
    let undated = strip_snapshot(unbedrocked);
    [
        Some(model),
        (unprefixed != model).then_some(unprefixed),
        (unbedrocked != unprefixed).then_some(unbedrocked),
        (undated != unbedrocked).then_some(undated),
    ]
}

/// `us.anthropic.claude-sonnet-4-20250514-v1:0` → `claude-sonnet-4-20250514`.
fn strip_bedrock(model: &str) -> &str {
    let Some((before, rest)) = model.split_once("anthropic.") else {
        return model;
    };
    // Only a cross-region inference prefix (`us.`, `eu.`, `apac.`, `global.`…) may precede.
    let region_ok = before.is_empty()
        || before
            .strip_suffix('.')
            .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_lowercase()));
    if !region_ok {
        return model;
    }
    strip_bedrock_version(rest)
}

/// Removes a trailing `-vN:M` or `-vN` model version.
fn strip_bedrock_version(model: &str) -> &str {
    let Some((base, version)) = model.rsplit_once("-v") else {
        return model;
    };
    let (major, minor) = version.split_once(':').unwrap_or((version, "0"));
    if all_digits(major) && all_digits(minor) {
        base
    } else {
        model
    }
}

/// Removes a trailing snapshot date or `-latest`.
fn strip_snapshot(model: &str) -> &str {
    if let Some(base) = model.strip_suffix("-latest") {
        return base;
    }
    if let Some((base, date)) = model.rsplit_once('@')
        && all_digits(date)
        && date.len() == 8
    {
        return base;
    }
    let bytes = model.as_bytes();
    let n = bytes.len();
    // -YYYYMMDD
    if n > 9 && bytes[n - 9] == b'-' && all_digits(&model[n - 8..]) {
        return &model[..n - 9];
    }
    // -YYYY-MM-DD
    if n > 11
        && bytes[n - 11] == b'-'
        && bytes[n - 6] == b'-'
        && bytes[n - 3] == b'-'
        && all_digits(&model[n - 10..n - 6])
        && all_digits(&model[n - 5..n - 3])
        && all_digits(&model[n - 2..])
    {
        return &model[..n - 11];
    }
    model
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn bundled_parses_and_covers_expected_models() {
        let table = PriceTable::bundled();
        assert!(!table.is_empty());
        assert!(table.price(SAMPLE_SPEC).is_none());
        for model in [
            "claude-opus-4-5",
            "claude-opus-4-5-20251101",
            "claude-opus-4-1",
            "claude-opus-4-1-20250805",
            "claude-opus-4",
            "claude-opus-4-20250514",
            "claude-sonnet-4-5",
            "claude-sonnet-4-5-20250929",
            "claude-sonnet-4",
            "claude-sonnet-4-20250514",
            "claude-3-7-sonnet",
            "claude-3-7-sonnet-20250219",
            "claude-haiku-4-5",
            "claude-haiku-4-5-20251001",
            "claude-3-5-haiku",
            "claude-3-5-haiku-20241022",
            "gpt-5",
            "gpt-5-mini",
            "gpt-5-nano",
            "gpt-5-codex",
            "gpt-5.1",
            "gpt-5.1-codex",
            "gpt-4.1",
            "gpt-4.1-mini",
            "gpt-4o",
            "gpt-4o-mini",
            "o3",
            "o4-mini",
            "gemini-2.5-pro",
            "gemini-2.5-flash",
            "gemini-2.5-flash-lite",
            "gemini-2.0-flash",
        ] {
            // Exact entries, not normalisation, so the file really lists every id.
            let price = table.prices.get(model);
            assert!(price.is_some(), "{model} missing from prices.json");
            if let Some(p) = price {
                assert!(p.input_cost_per_token > 0.0 && p.output_cost_per_token > 0.0);
                assert!(
                    p.cache_read_input_token_cost.is_some(),
                    "{model} cache read"
                );
            }
        }
        // Every bundled entry parsed: none silently dropped for a missing field.
        let raw: HashMap<String, serde_json::Value> = serde_json::from_str(BUNDLED_JSON).unwrap();
        assert_eq!(table.len(), raw.len() - 1);
    }

    #[test]
    fn anthropic_cache_multipliers() {
        let table = PriceTable::bundled();
        for (name, p) in table.iter().filter(|(n, _)| n.starts_with("claude-")) {
            let input = p.input_cost_per_token;
            if name.starts_with("claude-3-haiku") {
                continue; // older model with its own published cache prices
            }
            assert!(
                close(p.cache_creation_input_token_cost.unwrap(), input * 1.25),
                "{name}"
            );
            assert!(
                close(
                    p.cache_creation_input_token_cost_above_1hr.unwrap(),
                    input * 2.0
                ),
                "{name}"
            );
            assert!(
                close(p.cache_read_input_token_cost.unwrap(), input * 0.1),
                "{name}"
            );
        }
    }

    #[test]
    fn worked_example() {
        let usage = TokenUsage {
            input_tokens: 1000,
            output_tokens: 500,
            cache_creation_5m_tokens: 200,
            cache_creation_1h_tokens: 100,
            cache_read_tokens: 300,
            reasoning_tokens: 0,
        };
        let cost = PriceTable::bundled()
            .cost_usd("claude-sonnet-4-20250514", &usage)
            .unwrap();
        // 1000×3e-6 + 500×15e-6 + 200×3.75e-6 + 100×6e-6 + 300×0.3e-6
        // = 0.003 + 0.0075 + 0.00075 + 0.0006 + 0.00009
        assert!(close(cost, 0.01194), "{cost}");
    }

    #[test]
    fn unknown_model_has_no_cost() {
        let table = PriceTable::bundled();
        assert_eq!(
            table.cost_usd("mystery-model-9", &TokenUsage::default()),
            None
        );
        assert_eq!(table.cost_usd("", &TokenUsage::default()), None);
    }

    #[test]
    fn names_normalise() {
        let table = PriceTable::bundled();
        let sonnet = table.price("claude-sonnet-4-20250514").copied();
        assert!(sonnet.is_some());
        for alias in [
            "anthropic/claude-sonnet-4-20250514",
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "anthropic.claude-sonnet-4-20250514-v1:0",
            "bedrock/global.anthropic.claude-sonnet-4-20250514-v1:0",
            "claude-sonnet-4@20250514",
            "claude-sonnet-4-20990101",
        ] {
            assert_eq!(table.price(alias).copied(), sonnet, "{alias}");
        }
        let gpt41 = table.price("gpt-4.1").copied();
        assert_eq!(table.price("openai/gpt-4.1-2099-01-01").copied(), gpt41);
        assert_eq!(
            table.price("gemini/gemini-2.5-pro").copied(),
            table.price("gemini-2.5-pro").copied()
        );
        assert_eq!(
            table.price("models/gemini-2.5-flash").copied(),
            table.price("gemini-2.5-flash").copied()
        );
        assert_eq!(
            table.price("claude-3-7-sonnet-latest").copied(),
            table.price("claude-3-7-sonnet").copied()
        );
        // Not a date or a Bedrock version: left alone, so still unknown.
        assert!(table.price("claude-sonnet-4-1234").is_none());
        assert!(table.price("xanthropic.claude-sonnet-4").is_none());
    }

    #[test]
    fn exact_entry_beats_normalisation() {
        let table = PriceTable::bundled();
        let old = table.price("gpt-4o-2024-05-13").unwrap();
        let current = table.price("gpt-4o").unwrap();
        assert!(old.input_cost_per_token > current.input_cost_per_token);
    }

    #[test]
    fn overrides_win() {
        let custom = ModelPrice {
            input_cost_per_token: 1e-6,
            output_cost_per_token: 2e-6,
            cache_creation_input_token_cost: None,
            cache_creation_input_token_cost_above_1hr: None,
            cache_read_input_token_cost: None,
            output_cost_per_reasoning_token: None,
        };
        let base = PriceTable::bundled();
        let table = base.with_overrides([
            ("claude-sonnet-4".to_string(), custom),
            ("my-local-model".to_string(), custom),
        ]);
        assert_eq!(table.price("claude-sonnet-4"), Some(&custom));
        assert_eq!(table.price("my-local-model"), Some(&custom));
        assert_eq!(table.len(), base.len() + 1);
        // The base table is untouched.
        assert_ne!(base.price("claude-sonnet-4"), Some(&custom));
        // Without cache prices, cache tokens fall back to the input price.
        let usage = TokenUsage {
            input_tokens: 10,
            output_tokens: 10,
            cache_creation_5m_tokens: 10,
            cache_creation_1h_tokens: 10,
            cache_read_tokens: 10,
            reasoning_tokens: 5,
        };
        let cost = table.cost_usd("my-local-model", &usage).unwrap();
        assert!(close(cost, 40.0 * 1e-6 + 10.0 * 2e-6), "{cost}");
    }

    #[test]
    fn one_hour_falls_back_to_five_minute_price() {
        let price = ModelPrice {
            input_cost_per_token: 1.0,
            output_cost_per_token: 0.0,
            cache_creation_input_token_cost: Some(3.0),
            cache_creation_input_token_cost_above_1hr: None,
            cache_read_input_token_cost: Some(0.5),
            output_cost_per_reasoning_token: None,
        };
        let usage = TokenUsage {
            cache_creation_1h_tokens: 2,
            cache_read_tokens: 2,
            ..TokenUsage::default()
        };
        assert!(close(price.cost_usd(&usage), 7.0));
    }

    #[test]
    fn litellm_format_tolerated() {
        let json = r#"{
            "sample_spec": {"input_cost_per_token": "see docs"},
            "m": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6,
                  "max_tokens": 8192, "litellm_provider": "x", "supports_vision": true},
            "dall-e-3": {"output_cost_per_image": 0.04, "mode": "image_generation"}
        }"#;
        let table = PriceTable::from_litellm_json(json).unwrap();
        assert_eq!(table.len(), 1);
        assert!(table.price("m").is_some());
        assert!(table.price("dall-e-3").is_none());
        assert!(PriceTable::from_litellm_json("[]").is_err());
    }
}
