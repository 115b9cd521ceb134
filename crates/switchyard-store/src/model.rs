//! Records the store reads and writes, beyond the domain types of switchyard-core.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use switchyard_core::account::{AccountId, Credentials};
use switchyard_core::key::{KeyPolicy, UserLimits};
use switchyard_core::{AccountKind, TokenUsage};

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub status: String,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub limits: UserLimits,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    pub kind: Option<AccountKind>,
    pub name: String,
    pub base_url: Option<String>,
    pub priority: Option<i32>,
    pub weight: Option<u32>,
    pub allowed_models: Vec<String>,
    pub model_map: BTreeMap<String, String>,
    pub max_concurrency: Option<u32>,
    pub proxy_url: Option<String>,
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub credentials: Credentials,
}

/// A partial update; `None` leaves a field as it is. `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct AccountPatch {
    pub name: Option<String>,
    pub base_url: Option<Option<String>>,
    pub priority: Option<i32>,
    pub weight: Option<u32>,
    pub allowed_models: Option<Vec<String>>,
    pub model_map: Option<BTreeMap<String, String>>,
    pub max_concurrency: Option<u32>,
    pub proxy_url: Option<Option<String>>,
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
    pub credentials: Option<Credentials>,
}

pub use switchyard_core::account_event::AccountState;

#[derive(Debug, Clone, Default)]
pub struct NewApiKey {
    pub user_id: i64,
    pub name: String,
    pub prefix: String,
    pub hash: String,
    pub policy: KeyPolicy,
}

/// A named set of accounts a key can be bound to. An account may be in several groups.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AccountGroup {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub account_ids: Vec<AccountId>,
    pub created_at: DateTime<Utc>,
}

/// Cost recorded for one key or user: since the start of the current day and week, and ever.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SpendSums {
    pub day_usd: f64,
    pub week_usd: f64,
    pub total_usd: f64,
}

/// Recorded spend per key and per user, which the admit phase starts from.
#[derive(Debug, Clone, Default)]
pub struct Spend {
    pub keys: HashMap<i64, SpendSums>,
    pub users: HashMap<i64, SpendSums>,
}

/// A sign-in to the admin API: a browser session (expires, ends at logout or password
/// change) or a long-lived API token for automation. Only the token's hash is stored.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AdminSession {
    pub id: i64,
    pub user_id: i64,
    /// `session` or `token`.
    pub kind: String,
    pub name: String,
    #[serde(skip)]
    pub csrf_hash: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Which usage records to read; every field narrows the selection.
#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub api_key_id: Option<i64>,
    pub user_id: Option<i64>,
    pub account_id: Option<i64>,
    /// Matches the requested or the upstream model.
    pub model: Option<String>,
    pub status: Option<u16>,
    /// `anthropic`, `openai-chat`, `openai-responses` or `gemini`.
    pub dialect: Option<String>,
    /// Only records with a smaller id (cursor paging, newest first).
    pub before_id: Option<i64>,
}

/// A usage record with its row id (the paging cursor).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoredUsage {
    pub id: i64,
    #[serde(flatten)]
    pub record: UsageRecord,
}

/// One finished relay request. Field names are the documented `usage recent --json` shape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UsageRecord {
    pub created_at: DateTime<Utc>,
    pub request_id: String,
    pub api_key_id: Option<i64>,
    pub user_id: Option<i64>,
    pub account_id: Option<i64>,
    pub dialect: String,
    pub endpoint: String,
    pub requested_model: Option<String>,
    pub upstream_model: Option<String>,
    #[serde(flatten)]
    pub usage: TokenUsage,
    /// USD; `null` when the model has no known price.
    pub cost_usd: Option<f64>,
    pub stream: bool,
    /// HTTP status the client received (200 for a stream that started, even if it broke later).
    pub status: u16,
    /// Why the request failed or ended early, if it did.
    pub error_kind: Option<String>,
    pub attempts: u32,
    pub ttfb_ms: Option<u64>,
    pub duration_ms: u64,
    pub session_hash: Option<String>,
    /// What a cross-dialect conversion left out (lossy conversion allowed) or adapted (fields
    /// that cannot matter to the other provider, such as `store`): paths in the client's body
    /// with why, `; `-separated; `null` when nothing was.
    pub dropped_fields: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
}

/// A named proxy accounts can share. The URL may carry a user and password, so it is a
/// [`Secret`](switchyard_core::Secret): show it through [`switchyard_core::secret::redact_url`].
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyRecord {
    pub id: i64,
    pub name: String,
    pub url: switchyard_core::Secret,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An OAuth sign-in between start and finish, as the store keeps it (the flow's data is
/// encrypted at rest and opaque to the store).
#[derive(Debug, Clone)]
pub struct OAuthPending {
    pub state: String,
    pub kind: String,
    pub data: switchyard_core::Secret,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}
