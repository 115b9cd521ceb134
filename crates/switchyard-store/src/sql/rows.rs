//! Rows to model values, written once for every backend. A backend says how it reads one
//! column of each kind ([`StoredRow`]: SQLite keeps timestamps as RFC 3339 text and flags as
//! 0/1, PostgreSQL as `timestamptz` and `boolean`); what the columns mean lives here.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::str::FromStr;
use switchyard_core::TokenUsage;
use switchyard_core::account::{Account, AccountKind, AccountStatus};
use switchyard_core::key::{ApiKey, KeyPolicy, KeyStatus, UserLimits};
use switchyard_core::model_routes::CrossDialect;

use super::sealing::Sealer;
use crate::{
    AdminSession, AuditEntry, OAuthPending, ProxyRecord, Result, StoreError, UsageRecord, User,
};
use switchyard_core::Secret;

/// One column of a result row, read as the type the model wants.
pub(crate) trait StoredRow {
    fn int(&self, col: &str) -> Result<i64>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
    fn opt_float(&self, col: &str) -> Result<Option<f64>>;
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn flag(&self, col: &str) -> Result<bool>;
    fn time(&self, col: &str) -> Result<DateTime<Utc>>;
    fn opt_time(&self, col: &str) -> Result<Option<DateTime<Utc>>>;

    /// A JSON document kept as text (lists, maps, price tables): opaque to queries.
    fn json<T: DeserializeOwned>(&self, col: &str) -> Result<T> {
        serde_json::from_str(&self.text(col)?)
            .map_err(|e| StoreError::Database(format!("column {col} holds malformed JSON: {e}")))
    }

    /// A count that is never negative, capped at `u32::MAX`.
    fn count(&self, col: &str) -> Result<u32> {
        Ok(self.int(col)?.clamp(0, u32::MAX.into()) as u32)
    }

    /// A size or duration that is never negative.
    fn amount(&self, col: &str) -> Result<u64> {
        Ok(self.int(col)?.max(0) as u64)
    }
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(e.to_string()))
}

pub(crate) fn key_from_row(row: &impl StoredRow) -> Result<ApiKey> {
    let status = row.text("status")?;
    Ok(ApiKey {
        id: row.int("id")?,
        user_id: row.int("user_id")?,
        name: row.text("name")?,
        prefix: row.text("prefix")?,
        hash: row.text("key_hash")?,
        status: KeyStatus::parse(&status)
            .ok_or_else(|| StoreError::Database(format!("unknown key status {status}")))?,
        policy: KeyPolicy {
            expires_at: row.opt_time("expires_at")?,
            expires_after_seconds: row.opt_int("expires_after_seconds")?,
            allowed_models: row.json("allowed_models")?,
            allowed_dialects: row.json("allowed_dialects")?,
            allowed_clients: row.json("allowed_clients")?,
            concurrency_limit: row.count("concurrency_limit")?,
            rate_limit_per_minute: row.count("rate_limit_per_minute")?,
            tokens_per_minute: row.amount("tokens_per_minute")?,
            daily_cost_limit_usd: row.opt_float("daily_cost_limit_usd")?,
            weekly_cost_limit_usd: row.opt_float("weekly_cost_limit_usd")?,
            total_cost_limit_usd: row.opt_float("total_cost_limit_usd")?,
            bound_account_id: row.opt_int("bound_account_id")?,
            bound_group_id: row.opt_int("bound_group_id")?,
            pool_fallback: row.flag("pool_fallback")?,
            cross_dialect: match row.opt_text("cross_dialect")? {
                None => None,
                Some(t) => {
                    Some(CrossDialect::parse(&t).ok_or_else(|| {
                        StoreError::Database(format!("unknown cross_dialect {t}"))
                    })?)
                }
            },
        },
        first_used_at: row.opt_time("first_used_at")?,
        created_at: row.time("created_at")?,
        last_used_at: row.opt_time("last_used_at")?,
    })
}

pub(crate) fn user_from_row(row: &impl StoredRow) -> Result<User> {
    Ok(User {
        id: row.int("id")?,
        name: row.text("name")?,
        role: row.text("role")?,
        status: row.text("status")?,
        password_hash: row.opt_text("password_hash")?,
        limits: UserLimits {
            concurrency_limit: row.count("concurrency_limit")?,
            daily_cost_limit_usd: row.opt_float("daily_cost_limit_usd")?,
            weekly_cost_limit_usd: row.opt_float("weekly_cost_limit_usd")?,
            total_cost_limit_usd: row.opt_float("total_cost_limit_usd")?,
        },
        created_at: row.time("created_at")?,
    })
}

pub(crate) fn usage_from_row(row: &impl StoredRow) -> Result<UsageRecord> {
    Ok(UsageRecord {
        created_at: row.time("created_at")?,
        request_id: row.text("request_id")?,
        api_key_id: row.opt_int("api_key_id")?,
        user_id: row.opt_int("user_id")?,
        account_id: row.opt_int("account_id")?,
        dialect: row.text("dialect")?,
        endpoint: row.text("endpoint")?,
        requested_model: row.opt_text("requested_model")?,
        upstream_model: row.opt_text("upstream_model")?,
        usage: TokenUsage {
            input_tokens: row.amount("input_tokens")?,
            output_tokens: row.amount("output_tokens")?,
            cache_creation_5m_tokens: row.amount("cache_creation_5m_tokens")?,
            cache_creation_1h_tokens: row.amount("cache_creation_1h_tokens")?,
            cache_read_tokens: row.amount("cache_read_tokens")?,
            reasoning_tokens: row.amount("reasoning_tokens")?,
        },
        cost_usd: row.opt_float("cost_usd")?,
        stream: row.flag("stream")?,
        status: row.int("status")?.clamp(0, 999) as u16,
        error_kind: row.opt_text("error_kind")?,
        attempts: row.count("attempts")?,
        ttfb_ms: row.opt_int("ttfb_ms")?.map(|v| v.max(0) as u64),
        duration_ms: row.amount("duration_ms")?,
        session_hash: row.opt_text("session_hash")?,
        dropped_fields: row.opt_text("dropped_fields")?,
    })
}

pub(crate) fn session_from_row(row: &impl StoredRow) -> Result<AdminSession> {
    Ok(AdminSession {
        id: row.int("id")?,
        user_id: row.int("user_id")?,
        kind: row.text("kind")?,
        name: row.text("name")?,
        csrf_hash: row.opt_text("csrf_hash")?,
        created_at: row.time("created_at")?,
        expires_at: row.opt_time("expires_at")?,
        revoked_at: row.opt_time("revoked_at")?,
    })
}

pub(crate) fn audit_from_row(row: &impl StoredRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: row.int("id")?,
        at: row.time("at")?,
        actor: row.text("actor")?,
        action: row.text("action")?,
        target: row.opt_text("target")?,
        detail: row.opt_text("detail")?,
    })
}

pub(crate) fn account_from_row(sealer: &Sealer, row: &impl StoredRow) -> Result<Account> {
    let kind = row.text("kind")?;
    let status = row.text("status")?;
    Ok(Account {
        id: row.int("id")?,
        kind: AccountKind::from_str(&kind).map_err(|e| StoreError::Database(e.to_string()))?,
        name: row.text("name")?,
        base_url: sealer.open_url(row.opt_text("base_url")?)?,
        priority: row.int("priority")?.clamp(i32::MIN.into(), i32::MAX.into()) as i32,
        weight: row.count("weight")?,
        allowed_models: row.json("allowed_models")?,
        model_map: row.json("model_map")?,
        max_concurrency: row.count("max_concurrency")?,
        proxy_url: sealer.open_url(row.opt_text("proxy_url")?)?,
        status: AccountStatus::from_str(&status).map_err(StoreError::Database)?,
        status_reason: row.opt_text("status_reason")?,
        status_until: row.opt_time("status_until")?,
        consecutive_errors: row.count("consecutive_errors")?,
        last_check_at: row.opt_time("last_check_at")?,
        last_check_result: row.opt_text("last_check_result")?,
        extra: row.json("extra")?,
        credentials: sealer.open_credentials(&row.text("credentials")?)?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

pub(crate) fn proxy_from_row(sealer: &Sealer, row: &impl StoredRow) -> Result<ProxyRecord> {
    Ok(ProxyRecord {
        id: row.int("id")?,
        name: row.text("name")?,
        url: Secret::new(sealer.open_text(&row.text("url")?, "a stored proxy URL")?),
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

pub(crate) fn oauth_pending_from_row(
    sealer: &Sealer,
    row: &impl StoredRow,
) -> Result<OAuthPending> {
    Ok(OAuthPending {
        state: row.text("state")?,
        kind: row.text("kind")?,
        data: Secret::new(sealer.open_text(&row.text("data")?, "a stored OAuth flow")?),
        created_at: row.time("created_at")?,
        expires_at: row.time("expires_at")?,
    })
}
