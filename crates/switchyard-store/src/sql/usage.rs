//! Per-request usage records and the spend sums that cost limits read.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{Result, Spend, StoredUsage, UsageFilter, UsageRecord};

#[async_trait]
pub trait UsageStore: Send + Sync {
    async fn insert_usage(&self, records: &[UsageRecord]) -> Result<()>;
    async fn recent_usage(&self, limit: u32) -> Result<Vec<UsageRecord>>;
    async fn recent_usage_for_key(&self, key_id: i64, limit: u32) -> Result<Vec<UsageRecord>>;
    /// Recorded cost per key and per user since `day_start` and `week_start`, and in total.
    async fn spend(&self, day_start: DateTime<Utc>, week_start: DateTime<Utc>) -> Result<Spend>;
    /// Newest first, at most `limit`.
    async fn usage_page(&self, filter: &UsageFilter, limit: u32) -> Result<Vec<StoredUsage>>;
}
