//! `GET /v1/models` (and Gemini's `/v1beta/models`): the models the presented key may use, in
//! Google's shape for Gemini clients (`/v1beta`, `x-goog-api-key` or `?key=`), Anthropic's when
//! the client sends `anthropic-version`, and OpenAI's otherwise.

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use switchyard_core::Dialect;
use switchyard_core::account::{AccountKind, model_listed};

use super::auth;
use crate::state::AppState;
use switchyard_core::model_routes::CrossDialect;
use switchyard_upstream::adapter::{self, Api};

pub async fn list(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let headers = req.headers();
    let google = req.uri().path().starts_with("/v1beta/")
        || headers.contains_key("x-goog-api-key")
        || req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p.starts_with("key=")));
    let dialect = if google {
        Dialect::Gemini
    } else if headers.contains_key("anthropic-version") {
        Dialect::Anthropic
    } else {
        Dialect::OpenaiChat
    };
    let key = match auth::authenticate(&state, headers, req.uri().query(), dialect) {
        Ok(k) => k,
        Err(resp) => return resp,
    };
    // A revoked or expired key, or one over its limits, lists nothing either.
    if let Err(resp) = super::admit::admit_key(&state, &key, dialect).await {
        return resp;
    }
    let snap = state.snapshot.load();
    // The accounts that can serve this dialect's clients: natively, and through conversion
    // unless `cross_dialect` is off. OpenAI clients speak Chat Completions or Responses.
    let apis: &[Api] = match dialect {
        Dialect::Anthropic => &[Api::Messages],
        Dialect::Gemini => &[Api::Gemini],
        Dialect::OpenaiChat | Dialect::OpenaiResponses => &[Api::ChatCompletions, Api::Responses],
    };
    let cross =
        (key.key.policy.cross_dialect).unwrap_or(snap.settings.cross_dialect) != CrossDialect::Off;
    let serves = |kind: AccountKind| {
        apis.iter().any(|api| {
            adapter::native_kinds(*api).contains(&kind)
                || (cross && adapter::converted_kinds(*api).contains(&kind))
        })
    };
    let mut models = BTreeSet::new();
    for account in snap.accounts.iter() {
        if !serves(account.kind) {
            continue;
        }
        if matches!(
            account.status,
            switchyard_core::AccountStatus::Disabled | switchyard_core::AccountStatus::Error
        ) {
            continue;
        }
        for m in account.allowed_models.iter().filter(|m| !m.ends_with('*')) {
            models.insert(m.clone());
        }
        models.extend(account.model_map.keys().cloned());
        let family = family_prefixes(account.kind);
        let open = account.allowed_models.is_empty();
        for (name, _) in snap.prices.iter() {
            let in_family = family.iter().any(|p| name.starts_with(p)) && !name.contains('/');
            if in_family && (open || model_listed(&account.allowed_models, name)) {
                models.insert(name.to_string());
            }
        }
    }
    let allowed = &key.key.policy.allowed_models;
    let mut visible: BTreeSet<String> = models
        .into_iter()
        .filter(|m| switchyard_core::policy::model_allowed(allowed, m))
        .collect();
    // An alias is listed where the model it stands for is.
    let aliases: Vec<String> = (snap.settings.model_aliases.iter())
        .filter(|(_, model)| visible.contains(*model))
        .map(|(alias, _)| alias.to_string())
        .collect();
    visible.extend(aliases);
    let visible: Vec<String> = visible.into_iter().collect();
    match dialect {
        Dialect::Anthropic => Json(json!({
            "data": visible.iter().map(|m| json!({
                "type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"
            })).collect::<Vec<_>>(),
            "has_more": false,
            "first_id": visible.first(),
            "last_id": visible.last(),
        }))
        .into_response(),
        Dialect::Gemini => Json(json!({
            "models": visible.iter().map(|m| json!({
                "name": format!("models/{m}"), "baseModelId": m, "displayName": m,
                "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
            })).collect::<Vec<_>>(),
        }))
        .into_response(),
        _ => Json(json!({
            "object": "list",
            "data": visible.iter().map(|m| json!({
                "id": m, "object": "model", "created": 1_735_689_600, "owned_by": owner(m)
            })).collect::<Vec<_>>(),
        }))
        .into_response(),
    }
}

fn family_prefixes(kind: AccountKind) -> &'static [&'static str] {
    match kind {
        AccountKind::ClaudeOfficial | AccountKind::Claude | AccountKind::Bedrock => &["claude-"],
        AccountKind::Openai | AccountKind::OpenaiResponses | AccountKind::Azure => {
            &["gpt-", "o1", "o3", "o4"]
        }
        AccountKind::Gemini | AccountKind::GeminiApi => &["gemini-"],
    }
}

fn owner(model: &str) -> &'static str {
    if model.starts_with("claude") {
        "anthropic"
    } else if model.starts_with("gemini") {
        "google"
    } else {
        "openai"
    }
}
