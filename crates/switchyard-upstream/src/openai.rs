//! The `openai-responses` (ChatGPT/Codex), `openai` (OpenAI or compatible API key) and
//! `azure` adapters for the Responses and Chat Completions dialects.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use switchyard_core::Secret;
use switchyard_core::account::{Account, AccountKind};
use switchyard_protocol::json_edit;

use crate::adapter::{AdapterError, Answer, ClientRequest, Prepared, with_model};
use crate::client::UpstreamHosts;
use crate::headers::forwardable;
use crate::tokens::OAuthClient;

/// Codex CLI's public OAuth client id.
pub const CHATGPT_OAUTH_CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
const AZURE_CHAT_API_VERSION: &str = "2024-10-21";
const AZURE_RESPONSES_API_VERSION: &str = "2025-04-01-preview";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenaiApi {
    /// `/responses`, or `/responses/compact` when `compact`.
    Responses {
        compact: bool,
    },
    ChatCompletions,
    /// `/responses/input_tokens`: the Responses API's token counter (for a converted
    /// count_tokens request).
    InputTokens,
}

pub fn chatgpt_oauth_client(hosts: &UpstreamHosts) -> OAuthClient {
    OAuthClient {
        token_url: format!("{}/oauth/token", hosts.openai_auth),
        client_id: CHATGPT_OAUTH_CLIENT_ID.into(),
        extra: vec![("scope".into(), "openid profile email".into())],
        grant: crate::tokens::GrantEncoding::Json,
    }
}

/// ChatGPT tokens are JWTs; OpenAI API keys are not (`sk-…`).
pub fn is_chatgpt_token(account: &Account) -> bool {
    account.kind == AccountKind::OpenaiResponses
        && account
            .credentials
            .access_token
            .as_ref()
            .is_some_and(|t| t.expose().starts_with("eyJ"))
}

/// Claims Switchyard reads from a ChatGPT access token. The signature is not checked: the
/// token is ours to send, and the upstream verifies it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChatgptClaims {
    pub account_id: Option<String>,
    pub plan_type: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub fn chatgpt_claims(token: &str) -> ChatgptClaims {
    let payload = token
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let Some(v) = payload else {
        return ChatgptClaims::default();
    };
    let auth = v.get("https://api.openai.com/auth");
    let text = |key: &str| {
        auth.and_then(|a| a.get(key))
            .and_then(|x| x.as_str())
            .map(str::to_string)
    };
    ChatgptClaims {
        account_id: text("chatgpt_account_id"),
        plan_type: text("chatgpt_plan_type"),
        expires_at: v
            .get("exp")
            .and_then(|e| e.as_i64())
            .and_then(|e| DateTime::from_timestamp(e, 0)),
    }
}

/// Builds the upstream request: the mapped model; for the ChatGPT backend `store:false` (it
/// refuses anything else) and a stream gathered for a non-streaming client (it only streams);
/// for a streamed Chat request whose client did not ask for the usage chunk, the chunk is asked
/// for (usage is billed from it) and stripped again on the way back.
pub(crate) fn prepare(
    account: &Account,
    hosts: &UpstreamHosts,
    api: OpenaiApi,
    req: &ClientRequest,
    upstream_model: &str,
    bearer: Option<&Secret>,
) -> Result<Prepared, AdapterError> {
    let mut body = with_model(&req.body, &req.model, upstream_model)?;
    let mut answer = Answer::default();
    let chatgpt = is_chatgpt_token(account);
    if matches!(api, OpenaiApi::Responses { .. }) && chatgpt && req.store != Some(false) {
        body = json_edit::set_top_level(&body, "store", "false")?.into();
    }
    if api == (OpenaiApi::Responses { compact: false }) && chatgpt && !req.stream {
        body = json_edit::set_top_level(&body, "stream", "true")?.into();
        answer.collect_stream = true;
    }
    if api == OpenaiApi::ChatCompletions && req.stream && !req.include_usage {
        body = with_include_usage(&body)?;
        answer.strip_chat_usage = true;
    }
    let query = req.query.as_deref();
    let mut headers = forwardable(&req.headers);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let path = match api {
        OpenaiApi::Responses { compact: false } => "/responses",
        OpenaiApi::Responses { compact: true } => "/responses/compact",
        OpenaiApi::ChatCompletions => "/chat/completions",
        OpenaiApi::InputTokens => "/responses/input_tokens",
    };
    let with_query = |url: String| match query {
        Some(q) if !q.is_empty() => format!("{url}?{q}"),
        _ => url,
    };
    let url = match account.kind {
        AccountKind::OpenaiResponses if is_chatgpt_token(account) => {
            let token = bearer.ok_or_else(|| AdapterError::MissingToken(account.name.clone()))?;
            let base = account
                .base_url
                .clone()
                .unwrap_or_else(|| format!("{}/backend-api/codex", hosts.chatgpt));
            bearer_auth(&mut headers, token);
            if let Some(id) = chatgpt_claims(token.expose()).account_id {
                set(&mut headers, "chatgpt-account-id", &id);
            }
            set(&mut headers, "openai-beta", "responses=experimental");
            if !headers.contains_key("originator") {
                set(&mut headers, "originator", "codex_cli_rs");
            }
            format!("{}{path}", base.trim_end_matches('/'))
        }
        AccountKind::OpenaiResponses => {
            let key = api_key(account)?;
            let base = account
                .base_url
                .clone()
                .unwrap_or_else(|| hosts.openai_api.clone());
            bearer_auth(&mut headers, key);
            let base = base.trim_end_matches('/');
            let base = base.strip_suffix("/v1").unwrap_or(base);
            with_query(format!("{base}/v1{path}"))
        }
        AccountKind::Openai => {
            let key = api_key(account)?;
            // Used as given: `https://host/openai` and `https://api.openai.com/v1` both work.
            let base = account
                .base_url
                .clone()
                .unwrap_or_else(|| format!("{}/v1", hosts.openai_api));
            bearer_auth(&mut headers, key);
            with_query(format!("{}{path}", base.trim_end_matches('/')))
        }
        AccountKind::Azure => {
            let key = api_key(account)?;
            let base = account
                .base_url
                .as_deref()
                .ok_or_else(|| AdapterError::MissingSetting(account.name.clone(), "base_url"))?
                .trim_end_matches('/');
            let extra = |k: &str| account.extra.get(k).and_then(|v| v.as_str());
            let mut secret = HeaderValue::from_str(key.expose())
                .map_err(|_| AdapterError::MissingApiKey(account.name.clone()))?;
            secret.set_sensitive(true);
            headers.insert(HeaderName::from_static("api-key"), secret);
            match api {
                OpenaiApi::ChatCompletions => {
                    let deployment = extra("deployment").ok_or_else(|| {
                        AdapterError::MissingSetting(account.name.clone(), "extra.deployment")
                    })?;
                    let version = extra("api_version").unwrap_or(AZURE_CHAT_API_VERSION);
                    format!(
                        "{base}/openai/deployments/{deployment}/chat/completions?api-version={version}"
                    )
                }
                OpenaiApi::Responses { .. } | OpenaiApi::InputTokens => {
                    let version = extra("api_version").unwrap_or(AZURE_RESPONSES_API_VERSION);
                    format!("{base}/openai{path}?api-version={version}")
                }
            }
        }
        other => return Err(AdapterError::WrongKind(account.name.clone(), other)),
    };
    let mut prepared = Prepared::post(url, headers, body);
    prepared.answer = answer;
    Ok(prepared)
}

/// Sets `stream_options.include_usage = true`, keeping any other stream options.
fn with_include_usage(body: &Bytes) -> Result<Bytes, AdapterError> {
    #[derive(serde::Deserialize)]
    struct Options {
        stream_options: Option<serde_json::Map<String, serde_json::Value>>,
    }
    let mut options = serde_json::from_slice::<Options>(body)
        .ok()
        .and_then(|o| o.stream_options)
        .unwrap_or_default();
    options.insert("include_usage".into(), true.into());
    let raw = serde_json::to_string(&options)
        .map_err(|e| switchyard_protocol::InspectError::InvalidValue(e.to_string()))?;
    Ok(json_edit::set_top_level(body, "stream_options", &raw)?.into())
}

fn api_key(account: &Account) -> Result<&Secret, AdapterError> {
    account
        .credentials
        .api_key
        .as_ref()
        .or(account.credentials.access_token.as_ref())
        .ok_or_else(|| AdapterError::MissingApiKey(account.name.clone()))
}

fn bearer_auth(headers: &mut HeaderMap, token: &Secret) {
    if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {}", token.expose())) {
        v.set_sensitive(true);
        headers.insert(http::header::AUTHORIZATION, v);
    }
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        format!(
            "eyJhbGciOiJub25lIn0.{}.sig",
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn reads_chatgpt_claims() {
        let t = jwt(
            r#"{"exp":1767385852,"https://api.openai.com/auth":{"chatgpt_account_id":"acc-1","chatgpt_plan_type":"plus"}}"#,
        );
        let c = chatgpt_claims(&t);
        assert_eq!(c.account_id.as_deref(), Some("acc-1"));
        assert_eq!(c.plan_type.as_deref(), Some("plus"));
        assert_eq!(c.expires_at.unwrap().timestamp(), 1767385852);
        assert_eq!(chatgpt_claims("sk-proj-abc"), ChatgptClaims::default());
    }
}
