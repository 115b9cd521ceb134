//! SQLite rows to model values. Timestamps are RFC 3339 UTC text (so text order is time
//! order), lists and maps JSON text, flags 0/1 integers.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use std::str::FromStr;
use switchyard_core::TokenUsage;
use switchyard_core::account::{Account, AccountKind, AccountStatus};
use switchyard_core::key::{ApiKey, KeyPolicy, KeyStatus, UserLimits};

use crate::sql::parse_ts;
use crate::sql::sealing::Sealer;
use crate::{AdminSession, AuditEntry, Result, StoreError, UsageRecord, User};

pub(super) fn json_col<T: serde::de::DeserializeOwned>(row: &SqliteRow, col: &str) -> Result<T> {
    let text: String = row.try_get(col)?;
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Database(format!("column {col} holds malformed JSON: {e}")))
}

pub(super) fn opt_ts(row: &SqliteRow, col: &str) -> Result<Option<DateTime<Utc>>> {
    let text: Option<String> = row.try_get(col)?;
    text.as_deref().map(parse_ts).transpose()
}

pub(super) fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(e.to_string()))
}

pub(super) fn key_from_row(row: &SqliteRow) -> Result<ApiKey> {
    let status: String = row.try_get("status")?;
    let count = |col: &str| -> Result<i64> { Ok(row.try_get::<i64, _>(col)?.max(0)) };
    Ok(ApiKey {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        hash: row.try_get("key_hash")?,
        status: KeyStatus::parse(&status)
            .ok_or_else(|| StoreError::Database(format!("unknown key status {status}")))?,
        policy: KeyPolicy {
            expires_at: opt_ts(row, "expires_at")?,
            expires_after_seconds: row.try_get("expires_after_seconds")?,
            allowed_models: json_col(row, "allowed_models")?,
            allowed_dialects: json_col(row, "allowed_dialects")?,
            allowed_clients: json_col(row, "allowed_clients")?,
            concurrency_limit: count("concurrency_limit")?.min(u32::MAX.into()) as u32,
            rate_limit_per_minute: count("rate_limit_per_minute")?.min(u32::MAX.into()) as u32,
            tokens_per_minute: count("tokens_per_minute")? as u64,
            daily_cost_limit_usd: row.try_get("daily_cost_limit_usd")?,
            weekly_cost_limit_usd: row.try_get("weekly_cost_limit_usd")?,
            total_cost_limit_usd: row.try_get("total_cost_limit_usd")?,
            bound_account_id: row.try_get("bound_account_id")?,
            bound_group_id: row.try_get("bound_group_id")?,
            pool_fallback: row.try_get::<i64, _>("pool_fallback")? != 0,
        },
        first_used_at: opt_ts(row, "first_used_at")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        last_used_at: opt_ts(row, "last_used_at")?,
    })
}

pub(super) fn user_from_row(row: &SqliteRow) -> Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: row.try_get("role")?,
        status: row.try_get("status")?,
        password_hash: row.try_get("password_hash")?,
        limits: UserLimits {
            concurrency_limit: row
                .try_get::<i64, _>("concurrency_limit")?
                .clamp(0, u32::MAX.into()) as u32,
            daily_cost_limit_usd: row.try_get("daily_cost_limit_usd")?,
            weekly_cost_limit_usd: row.try_get("weekly_cost_limit_usd")?,
            total_cost_limit_usd: row.try_get("total_cost_limit_usd")?,
        },
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
    })
}

pub(super) fn usage_from_row(row: &SqliteRow) -> Result<UsageRecord> {
    let n = |col: &str| -> Result<u64> { Ok(row.try_get::<i64, _>(col)?.max(0) as u64) };
    Ok(UsageRecord {
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        request_id: row.try_get("request_id")?,
        api_key_id: row.try_get("api_key_id")?,
        user_id: row.try_get("user_id")?,
        account_id: row.try_get("account_id")?,
        dialect: row.try_get("dialect")?,
        endpoint: row.try_get("endpoint")?,
        requested_model: row.try_get("requested_model")?,
        upstream_model: row.try_get("upstream_model")?,
        usage: TokenUsage {
            input_tokens: n("input_tokens")?,
            output_tokens: n("output_tokens")?,
            cache_creation_5m_tokens: n("cache_creation_5m_tokens")?,
            cache_creation_1h_tokens: n("cache_creation_1h_tokens")?,
            cache_read_tokens: n("cache_read_tokens")?,
            reasoning_tokens: n("reasoning_tokens")?,
        },
        cost_usd: row.try_get("cost_usd")?,
        stream: row.try_get::<i64, _>("stream")? != 0,
        status: row.try_get::<i64, _>("status")?.clamp(0, 999) as u16,
        error_kind: row.try_get("error_kind")?,
        attempts: n("attempts")? as u32,
        ttfb_ms: row
            .try_get::<Option<i64>, _>("ttfb_ms")?
            .map(|v| v.max(0) as u64),
        duration_ms: n("duration_ms")?,
        session_hash: row.try_get("session_hash")?,
    })
}

pub(super) fn session_from_row(row: &SqliteRow) -> Result<AdminSession> {
    Ok(AdminSession {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        kind: row.try_get("kind")?,
        name: row.try_get("name")?,
        csrf_hash: row.try_get("csrf_hash")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        expires_at: opt_ts(row, "expires_at")?,
        revoked_at: opt_ts(row, "revoked_at")?,
    })
}

pub(super) fn audit_from_row(r: &SqliteRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: r.try_get("id")?,
        at: parse_ts(&r.try_get::<String, _>("at")?)?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        target: r.try_get("target")?,
        detail: r.try_get("detail")?,
    })
}

pub(super) fn account_from_row(sealer: &Sealer, row: &SqliteRow) -> Result<Account> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    Ok(Account {
        id: row.try_get("id")?,
        kind: AccountKind::from_str(&kind).map_err(|e| StoreError::Database(e.to_string()))?,
        name: row.try_get("name")?,
        base_url: sealer.open_url(row.try_get("base_url")?)?,
        priority: row.try_get("priority")?,
        weight: row.try_get::<i64, _>("weight")?.max(0) as u32,
        allowed_models: json_col(row, "allowed_models")?,
        model_map: json_col(row, "model_map")?,
        max_concurrency: row.try_get::<i64, _>("max_concurrency")?.max(0) as u32,
        proxy_url: sealer.open_url(row.try_get("proxy_url")?)?,
        status: AccountStatus::from_str(&status).map_err(StoreError::Database)?,
        status_reason: row.try_get("status_reason")?,
        status_until: opt_ts(row, "status_until")?,
        consecutive_errors: row.try_get::<i64, _>("consecutive_errors")?.max(0) as u32,
        last_check_at: opt_ts(row, "last_check_at")?,
        last_check_result: row.try_get("last_check_result")?,
        extra: json_col(row, "extra")?,
        credentials: sealer.open_credentials(&row.try_get::<String, _>("credentials")?)?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(&row.try_get::<String, _>("updated_at")?)?,
    })
}
