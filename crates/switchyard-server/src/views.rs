//! Shapes shown to operators (CLI `--json` and the admin API). Credentials appear only masked.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use switchyard_core::account::{Account, AccountKind, AccountStatus};

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AccountView {
    pub id: i64,
    pub kind: AccountKind,
    pub name: String,
    pub base_url: Option<String>,
    pub priority: i32,
    pub weight: u32,
    pub allowed_models: Vec<String>,
    pub model_map: BTreeMap<String, String>,
    pub max_concurrency: u32,
    pub proxy_url: Option<String>,
    pub status: AccountStatus,
    pub status_reason: Option<String>,
    pub status_until: Option<DateTime<Utc>>,
    pub consecutive_errors: u32,
    pub health: HealthView,
    /// The latest usage windows the upstream reported (Claude 5-hour/7-day, Codex windows).
    pub usage_windows: Option<serde_json::Value>,
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub credentials: BTreeMap<&'static str, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct HealthView {
    /// Whether the periodic health check covers this account.
    pub checked: bool,
    pub last_check_at: Option<DateTime<Utc>>,
    /// `healthy`, `rate_limited`, `unhealthy` or `unsupported`.
    pub last_result: Option<String>,
    pub last_detail: Option<String>,
    pub next_check_at: Option<String>,
    pub consecutive_errors: u32,
    pub disabled_reason: Option<String>,
}

impl AccountView {
    pub fn new(a: &Account, usage_windows: Option<&serde_json::Value>) -> Self {
        let c = &a.credentials;
        let mut credentials = BTreeMap::new();
        for (name, value) in [
            ("api_key", &c.api_key),
            ("access_token", &c.access_token),
            ("refresh_token", &c.refresh_token),
            ("session_key", &c.session_key),
            ("aws_access_key_id", &c.aws_access_key_id),
            ("aws_secret_access_key", &c.aws_secret_access_key),
            ("aws_session_token", &c.aws_session_token),
            ("client_secret", &c.client_secret),
        ] {
            if let Some(v) = value {
                credentials.insert(name, v.masked());
            }
        }
        if let Some(t) = c.expires_at {
            credentials.insert("expires_at", t.to_rfc3339());
        }
        let last: Option<serde_json::Value> = a
            .last_check_result
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok());
        let field = |k: &str| {
            last.as_ref()
                .and_then(|l| l.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        AccountView {
            id: a.id,
            kind: a.kind,
            name: a.name.clone(),
            // A relay's URL may carry credentials (`https://user:pass@…`).
            base_url: a
                .base_url
                .as_deref()
                .map(switchyard_core::secret::redact_url),
            priority: a.priority,
            weight: a.weight,
            allowed_models: a.allowed_models.clone(),
            model_map: a.model_map.clone(),
            max_concurrency: a.max_concurrency,
            proxy_url: a
                .proxy_url
                .as_deref()
                .map(switchyard_core::secret::redact_url),
            status: a.status,
            status_reason: a.status_reason.clone(),
            status_until: a.status_until,
            consecutive_errors: a.consecutive_errors,
            health: HealthView {
                checked: switchyard_upstream::probe::is_checked(a),
                last_check_at: a.last_check_at,
                last_result: field("result"),
                last_detail: field("detail"),
                next_check_at: field("next_check_at"),
                consecutive_errors: a.consecutive_errors,
                disabled_reason: (a.status == AccountStatus::Disabled)
                    .then(|| a.status_reason.clone())
                    .flatten(),
            },
            usage_windows: usage_windows.cloned(),
            extra: a.extra.clone(),
            credentials,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}
