//! Health probes: one cheap, side-effect-free request per account kind that tells whether the
//! credential still works, without waiting for a user's request to fail.

use http::HeaderMap;
use http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use std::time::Duration;
use switchyard_core::Secret;
use switchyard_core::account::{Account, AccountKind};

use crate::anthropic::OAUTH_BETA;
use crate::client::UpstreamHosts;
use crate::openai::is_chatgpt_token;

/// Kinds whose owners expect Switchyard to watch them; others are checked only when an
/// operator opts the account in (`extra.health_check = true`).
pub fn checked_by_default(kind: AccountKind) -> bool {
    matches!(
        kind,
        AccountKind::ClaudeOfficial | AccountKind::OpenaiResponses | AccountKind::Gemini
    )
}

/// Whether this account takes part in health checks.
pub fn is_checked(account: &Account) -> bool {
    match account.extra.get("health_check").and_then(|v| v.as_bool()) {
        Some(explicit) => explicit,
        None => checked_by_default(account.kind),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Healthy,
    /// Valid credentials, currently limited: counts as healthy.
    RateLimited,
    /// `auth` marks a rejected credential (worth one token refresh before judging).
    Unhealthy {
        auth: bool,
    },
    /// No probe exists for this account's kind or credential.
    Unsupported,
}

#[derive(Debug, Clone)]
pub struct ProbeResult {
    pub verdict: Verdict,
    /// Which probe ran (e.g. `GET /api/oauth/usage`).
    pub probe: &'static str,
    pub detail: String,
    /// Usage windows the probe reported, if any (Claude OAuth usage, ChatGPT wham/usage).
    pub usage: Option<serde_json::Value>,
}

impl ProbeResult {
    fn new(verdict: Verdict, probe: &'static str, detail: impl Into<String>) -> Self {
        Self {
            verdict,
            probe,
            detail: detail.into(),
            usage: None,
        }
    }
}

/// Runs the probe for `account`. `bearer` is a fresh OAuth access token where the kind uses
/// one. Never longer than `timeout`.
pub async fn probe(
    http: &reqwest::Client,
    hosts: &UpstreamHosts,
    account: &Account,
    bearer: Option<&Secret>,
    timeout: Duration,
) -> ProbeResult {
    let creds = &account.credentials;
    match account.kind {
        AccountKind::ClaudeOfficial => {
            let mut oauth_failure = None;
            if let Some(token) = bearer {
                let url = format!("{}/api/oauth/usage", anthropic_base(account, hosts));
                let mut h = bearer_headers(token);
                h.insert(
                    HeaderName::from_static("anthropic-beta"),
                    HeaderValue::from_static(OAUTH_BETA),
                );
                let r = get(http, &url, h, timeout, "GET /api/oauth/usage").await;
                match (&r.verdict, &r.status) {
                    (Verdict::Healthy, _) => {
                        return ProbeResult {
                            usage: r.json.map(|u| {
                                serde_json::json!({"source": "anthropic-oauth-usage", "report": u})
                            }),
                            ..r.result
                        };
                    }
                    (Verdict::RateLimited, _) => return r.result,
                    // A setup token without the user:profile scope: authenticated, no usage.
                    (_, Some(403))
                        if !r.body.contains("not allowed") && !r.body.contains("disabled") =>
                    {
                        return ProbeResult::new(
                            Verdict::Healthy,
                            "GET /api/oauth/usage",
                            "token valid (no user:profile scope for usage)",
                        );
                    }
                    _ => oauth_failure = Some(r.result),
                }
            }
            if let Some(session) = &creds.session_key {
                let url = format!("{}/api/organizations", hosts.claude_ai);
                let mut h = HeaderMap::new();
                if let Ok(mut v) =
                    HeaderValue::from_str(&format!("sessionKey={}", session.expose()))
                {
                    v.set_sensitive(true);
                    h.insert(http::header::COOKIE, v);
                }
                h.insert(http::header::USER_AGENT, HeaderValue::from_static(
                    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
                ));
                let r = get(http, &url, h, timeout, "GET claude.ai /api/organizations").await;
                if r.verdict == Verdict::Healthy {
                    let has_chat = r
                        .json
                        .as_ref()
                        .and_then(|j| j.as_array())
                        .is_some_and(|orgs| {
                            orgs.iter().any(|o| {
                                o.get("capabilities")
                                    .and_then(|c| c.as_array())
                                    .is_some_and(|c| c.iter().any(|x| x == "chat"))
                            })
                        });
                    if !has_chat {
                        return ProbeResult::new(
                            Verdict::Unhealthy { auth: false },
                            "GET claude.ai /api/organizations",
                            "session key valid but no organization with chat",
                        );
                    }
                }
                return r.result;
            }
            oauth_failure.unwrap_or_else(|| {
                ProbeResult::new(
                    Verdict::Unhealthy { auth: true },
                    "none",
                    "no access token or session key",
                )
            })
        }
        AccountKind::OpenaiResponses if is_chatgpt_token(account) => {
            let Some(token) = bearer else {
                return ProbeResult::new(
                    Verdict::Unhealthy { auth: true },
                    "none",
                    "no access token",
                );
            };
            let backend = chatgpt_backend(account, hosts);
            let url = format!("{backend}/accounts/check/v4-2023-04-27");
            let r = get(
                http,
                &url,
                bearer_headers(token),
                timeout,
                "GET /backend-api/accounts/check",
            )
            .await;
            let mut result = r.result;
            if result.verdict == Verdict::Healthy {
                let url = format!("{backend}/wham/usage");
                let usage = get(
                    http,
                    &url,
                    bearer_headers(token),
                    timeout,
                    "GET /backend-api/wham/usage",
                )
                .await;
                result.usage = usage
                    .json
                    .map(|u| serde_json::json!({"source": "chatgpt-wham-usage", "report": u}));
            }
            result
        }
        AccountKind::OpenaiResponses => match &creds.api_key {
            Some(key) => {
                let base = account
                    .base_url
                    .clone()
                    .unwrap_or_else(|| hosts.openai_api.clone());
                let base = base.trim_end_matches('/');
                let base = base.strip_suffix("/v1").unwrap_or(base);
                get(
                    http,
                    &format!("{base}/v1/models"),
                    bearer_headers(key),
                    timeout,
                    "GET /v1/models",
                )
                .await
                .result
            }
            None => ProbeResult::new(Verdict::Unhealthy { auth: true }, "none", "no credential"),
        },
        AccountKind::Openai => match &creds.api_key {
            Some(key) => {
                let base = account
                    .base_url
                    .clone()
                    .unwrap_or_else(|| format!("{}/v1", hosts.openai_api));
                let url = format!("{}/models", base.trim_end_matches('/'));
                get(http, &url, bearer_headers(key), timeout, "GET /models")
                    .await
                    .result
            }
            None => ProbeResult::new(Verdict::Unhealthy { auth: true }, "none", "no API key"),
        },
        AccountKind::Claude => match &creds.api_key {
            Some(key) => {
                let base = account
                    .base_url
                    .as_deref()
                    .unwrap_or(&hosts.anthropic_api)
                    .trim_end_matches('/');
                let base = base.strip_suffix("/v1").unwrap_or(base);
                let mut h = HeaderMap::new();
                insert_secret(&mut h, "x-api-key", key.expose());
                h.insert(
                    HeaderName::from_static("anthropic-version"),
                    HeaderValue::from_static("2023-06-01"),
                );
                get(
                    http,
                    &format!("{base}/v1/models"),
                    h,
                    timeout,
                    "GET /v1/models",
                )
                .await
                .result
            }
            None => ProbeResult::new(Verdict::Unhealthy { auth: true }, "none", "no API key"),
        },
        AccountKind::Gemini => match bearer.or(creds.access_token.as_ref()) {
            Some(token) => {
                let url = format!("{}/v1beta/models", hosts.gemini_api);
                get(
                    http,
                    &url,
                    bearer_headers(token),
                    timeout,
                    "GET /v1beta/models",
                )
                .await
                .result
            }
            None => ProbeResult::new(Verdict::Unhealthy { auth: true }, "none", "no access token"),
        },
        AccountKind::GeminiApi => match &creds.api_key {
            Some(key) => {
                let base = account
                    .base_url
                    .as_deref()
                    .unwrap_or(&hosts.gemini_api)
                    .trim_end_matches('/');
                let mut h = HeaderMap::new();
                insert_secret(&mut h, "x-goog-api-key", key.expose());
                get(
                    http,
                    &format!("{base}/v1beta/models"),
                    h,
                    timeout,
                    "GET /v1beta/models",
                )
                .await
                .result
            }
            None => ProbeResult::new(Verdict::Unhealthy { auth: true }, "none", "no API key"),
        },
        AccountKind::Azure => match (&creds.api_key, &account.base_url) {
            (Some(key), Some(base)) => {
                let version = account
                    .extra
                    .get("api_version")
                    .and_then(|v| v.as_str())
                    .unwrap_or("2024-10-21");
                let url = format!(
                    "{}/openai/models?api-version={version}",
                    base.trim_end_matches('/')
                );
                let mut h = HeaderMap::new();
                insert_secret(&mut h, "api-key", key.expose());
                get(http, &url, h, timeout, "GET /openai/models")
                    .await
                    .result
            }
            _ => ProbeResult::new(
                Verdict::Unhealthy { auth: true },
                "none",
                "no API key or endpoint",
            ),
        },
        AccountKind::Bedrock => ProbeResult::new(
            Verdict::Unsupported,
            "none",
            "no probe for bedrock accounts",
        ),
    }
}

struct Got {
    result: ProbeResult,
    verdict: Verdict,
    status: Option<u16>,
    body: String,
    json: Option<serde_json::Value>,
}

/// Where a `claude-official` account's requests go: its own base URL, else the API host. The
/// OAuth usage probe goes there too, so an account reachable only through its base URL is
/// not disabled by probes that never reach it.
fn anthropic_base<'a>(account: &'a Account, hosts: &'a UpstreamHosts) -> &'a str {
    account
        .base_url
        .as_deref()
        .unwrap_or(&hosts.anthropic_api)
        .trim_end_matches('/')
}

/// The ChatGPT backend a ChatGPT-token account's requests go through. Its base URL names the
/// Codex endpoint (`…/backend-api/codex`, the default); the account checks live one level up.
fn chatgpt_backend(account: &Account, hosts: &UpstreamHosts) -> String {
    match account.base_url.as_deref() {
        Some(base) => {
            let base = base.trim_end_matches('/');
            base.strip_suffix("/codex").unwrap_or(base).to_string()
        }
        None => format!("{}/backend-api", hosts.chatgpt),
    }
}

async fn get(
    http: &reqwest::Client,
    url: &str,
    headers: HeaderMap,
    timeout: Duration,
    probe: &'static str,
) -> Got {
    let fail = |verdict: Verdict, detail: String, status: Option<u16>| Got {
        result: ProbeResult::new(verdict.clone(), probe, detail),
        verdict,
        status,
        body: String::new(),
        json: None,
    };
    let sent = tokio::time::timeout(timeout, async {
        let resp = http.get(url).headers(headers).send().await?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await?;
        Ok::<_, reqwest::Error>((status, body))
    })
    .await;
    let (status, body) = match sent {
        Err(_) => {
            return fail(
                Verdict::Unhealthy { auth: false },
                format!("no answer within {}s", timeout.as_secs()),
                None,
            );
        }
        Ok(Err(e)) => {
            return fail(
                Verdict::Unhealthy { auth: false },
                format!("request failed: {}", e.without_url()),
                None,
            );
        }
        Ok(Ok(x)) => x,
    };
    let text = String::from_utf8_lossy(&body[..body.len().min(2048)]).to_ascii_lowercase();
    let (verdict, detail) = match status {
        200..=299 => (Verdict::Healthy, format!("{status} ok")),
        429 => (
            Verdict::RateLimited,
            "429 rate limited (credentials valid)".to_string(),
        ),
        401 => (
            Verdict::Unhealthy { auth: true },
            "401 credentials rejected".to_string(),
        ),
        403 => (
            Verdict::Unhealthy { auth: false },
            "403 forbidden".to_string(),
        ),
        s => (
            Verdict::Unhealthy { auth: false },
            format!("{s} from upstream"),
        ),
    };
    Got {
        result: ProbeResult::new(verdict.clone(), probe, detail),
        verdict,
        status: Some(status),
        json: serde_json::from_slice(&body).ok(),
        body: text,
    }
}

fn bearer_headers(token: &Secret) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {}", token.expose())) {
        v.set_sensitive(true);
        h.insert(AUTHORIZATION, v);
    }
    h
}

fn insert_secret(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(mut v) = HeaderValue::from_str(value) {
        v.set_sensitive(true);
        h.insert(HeaderName::from_static(name), v);
    }
}
