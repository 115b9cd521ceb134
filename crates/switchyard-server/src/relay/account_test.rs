//! An operator's "test this account": one tiny real request that walks the same pipeline as a
//! client's (inspect, route, forward, respond, settle — and is recorded in usage), under an
//! internal key bound to just that account, so it cannot fall over to another one.

use axum::body::Bytes;
use axum::response::Response;
use chrono::Utc;
use std::sync::Arc;
use std::time::Instant;
use switchyard_core::account::{Account, AccountKind};
use switchyard_core::key::{ApiKey, KeyPolicy, KeyStatus};

use super::admit::KeySlots;
use super::serve::relay_admitted;
use super::{Admitted, anthropic, gemini, openai, reply};
use crate::state::{AppState, KeyEntry};

/// The model a test asks for: one the account is configured for, else a small default.
fn test_model(account: &Account) -> String {
    if let Some(m) = account.model_map.keys().next() {
        return m.clone();
    }
    if let Some(m) = account.allowed_models.iter().find(|m| !m.contains('*')) {
        return m.clone();
    }
    match account.kind {
        AccountKind::Claude | AccountKind::ClaudeOfficial | AccountKind::Bedrock => {
            "claude-haiku-4-5".into()
        }
        AccountKind::OpenaiResponses => "gpt-5-mini".into(),
        AccountKind::Gemini | AccountKind::GeminiApi => "gemini-2.5-flash".into(),
        _ => "gpt-4o-mini".into(),
    }
}

pub async fn test_account(state: &Arc<AppState>, account: &Account) -> Response {
    let model = test_model(account);
    let entry = Arc::new(KeyEntry {
        key: ApiKey {
            id: 0,
            user_id: 0,
            name: format!("account test: {}", account.name),
            prefix: "internal".into(),
            hash: String::new(),
            status: KeyStatus::Active,
            policy: KeyPolicy::default(),
            first_used_at: None,
            created_at: Utc::now(),
            last_used_at: None,
        },
        user_active: true,
        user_limits: Default::default(),
        bound_accounts: Some(Arc::from(vec![account.id])),
    });
    let (path, body) = match account.kind {
        AccountKind::Claude | AccountKind::ClaudeOfficial | AccountKind::Bedrock => (
            "/v1/messages",
            serde_json::json!({"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": "ping"}]}),
        ),
        AccountKind::OpenaiResponses => (
            "/v1/responses",
            serde_json::json!({"model": model, "input": "ping", "max_output_tokens": 16}),
        ),
        AccountKind::Openai | AccountKind::Azure => (
            "/v1/chat/completions",
            serde_json::json!({"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": "ping"}]}),
        ),
        AccountKind::Gemini | AccountKind::GeminiApi => (
            "/v1beta/models/{model}:generateContent",
            serde_json::json!({
                "contents": [{"role": "user", "parts": [{"text": "ping"}]}],
                "generationConfig": {"maxOutputTokens": 1}
            }),
        ),
    };
    let path = path.replace("{model}", &model);
    let parts = match axum::http::Request::post(path.as_str())
        .header("content-type", "application/json")
        .body(())
    {
        Ok(r) => r.into_parts().0,
        Err(e) => {
            return reply::error(
                switchyard_core::Dialect::Anthropic,
                500,
                None,
                &e.to_string(),
            );
        }
    };
    let Some(key_slot) = KeySlots::internal(state).await else {
        return reply::error(switchyard_core::Dialect::Anthropic, 503, None, "no slot");
    };
    let admitted = Admitted {
        parts,
        started: Instant::now(),
        key: entry,
        key_slot,
        body: Bytes::from(body.to_string()),
        upstream_query: None,
        body_room: Default::default(),
    };
    match account.kind {
        AccountKind::OpenaiResponses => {
            relay_admitted(state.clone(), &openai::RESPONSES, admitted, openai::inspect).await
        }
        AccountKind::Openai | AccountKind::Azure => {
            relay_admitted(state.clone(), &openai::CHAT, admitted, openai::inspect).await
        }
        AccountKind::Gemini | AccountKind::GeminiApi => {
            gemini::relay_path(state.clone(), &path, admitted).await
        }
        _ => {
            relay_admitted(
                state.clone(),
                &anthropic::MESSAGES,
                admitted,
                anthropic::inspect,
            )
            .await
        }
    }
}
