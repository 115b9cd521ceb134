//! Runtime settings and operator price overrides.

use async_trait::async_trait;
use std::collections::BTreeMap;
use switchyard_core::pricing::ModelPrice;

use crate::Result;

#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn settings(&self) -> Result<BTreeMap<String, String>>;
    async fn set_setting(&self, key: &str, value: &str) -> Result<()>;
    async fn reset_setting(&self, key: &str) -> Result<()>;
    async fn price_overrides(&self) -> Result<BTreeMap<String, ModelPrice>>;
    async fn set_price(&self, model: &str, price: &ModelPrice) -> Result<()>;
    /// Drops an operator's override so the bundled price applies again.
    async fn delete_price(&self, model: &str) -> Result<bool>;
}
