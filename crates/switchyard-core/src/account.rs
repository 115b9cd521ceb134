//! Upstream accounts: kinds, status, and the rules that depend only on an account's own fields.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::secret::Secret;

pub type AccountId = i64;

/// The kind of upstream credential an account holds (DESIGN.md vocabulary).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum AccountKind {
    ClaudeOfficial,
    Claude,
    Openai,
    OpenaiResponses,
    Gemini,
    GeminiApi,
    Azure,
    Bedrock,
}

impl AccountKind {
    pub const ALL: [AccountKind; 8] = [
        AccountKind::ClaudeOfficial,
        AccountKind::Claude,
        AccountKind::Openai,
        AccountKind::OpenaiResponses,
        AccountKind::Gemini,
        AccountKind::GeminiApi,
        AccountKind::Azure,
        AccountKind::Bedrock,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::ClaudeOfficial => "claude-official",
            AccountKind::Claude => "claude",
            AccountKind::Openai => "openai",
            AccountKind::OpenaiResponses => "openai-responses",
            AccountKind::Gemini => "gemini",
            AccountKind::GeminiApi => "gemini-api",
            AccountKind::Azure => "azure",
            AccountKind::Bedrock => "bedrock",
        }
    }
}

impl fmt::Display for AccountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown account kind `{0}` (expected one of: claude-official, claude, openai, openai-responses, gemini, gemini-api, azure, bedrock)"
)]
pub struct UnknownKind(pub String);

impl FromStr for AccountKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AccountKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

/// Lifecycle state. `cooling` ends by itself at `status_until`; `error` and `disabled` need a
/// person (or, for `disabled` with reason "health check", a passing re-probe).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    Active,
    Cooling,
    Error,
    Disabled,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Cooling => "cooling",
            AccountStatus::Error => "error",
            AccountStatus::Disabled => "disabled",
        }
    }
}

impl FromStr for AccountStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(AccountStatus::Active),
            "cooling" => Ok(AccountStatus::Cooling),
            "error" => Ok(AccountStatus::Error),
            "disabled" => Ok(AccountStatus::Disabled),
            other => Err(format!("unknown account status `{other}`")),
        }
    }
}

/// Decrypted credentials. Which fields are used depends on the kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub api_key: Option<Secret>,
    pub access_token: Option<Secret>,
    pub refresh_token: Option<Secret>,
    pub expires_at: Option<DateTime<Utc>>,
    pub session_key: Option<Secret>,
    /// AWS access key pair and optional STS session token (`bedrock` accounts signed with SigV4).
    pub aws_access_key_id: Option<Secret>,
    pub aws_secret_access_key: Option<Secret>,
    pub aws_session_token: Option<Secret>,
    /// OAuth client secret for providers whose refresh grant needs one (Google).
    pub client_secret: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: AccountId,
    pub kind: AccountKind,
    pub name: String,
    pub base_url: Option<String>,
    pub priority: i32,
    pub weight: u32,
    /// Models this account serves; empty means any. A trailing `*` matches a prefix.
    pub allowed_models: Vec<String>,
    /// Requested model → upstream model. A mapped model is allowed even if not listed above.
    pub model_map: BTreeMap<String, String>,
    /// 0 means unlimited.
    pub max_concurrency: u32,
    pub proxy_url: Option<String>,
    pub status: AccountStatus,
    pub status_reason: Option<String>,
    pub status_until: Option<DateTime<Utc>>,
    pub consecutive_errors: u32,
    pub last_check_at: Option<DateTime<Utc>>,
    pub last_check_result: Option<String>,
    /// Kind-specific settings that are not secret (Azure deployment and api-version, region…).
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub credentials: Credentials,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The status reason of an account the health check disabled (and may enable again).
pub const HEALTH_CHECK_REASON: &str = "health check";

impl Account {
    /// The model name to send upstream for `requested`, or `None` when this account may not
    /// serve it. The name changes only when a mapping applies.
    pub fn upstream_model<'a>(&'a self, requested: &'a str) -> Option<Cow<'a, str>> {
        if let Some(mapped) = self.model_map.get(requested) {
            return Some(Cow::Borrowed(mapped.as_str()));
        }
        if self.allowed_models.is_empty() || model_listed(&self.allowed_models, requested) {
            return Some(Cow::Borrowed(requested));
        }
        None
    }

    /// Disabled by an operator: only an operator brings it back (an account the health check
    /// disabled is the health check's to bring back).
    pub fn is_operator_disabled(&self) -> bool {
        self.status == AccountStatus::Disabled
            && self.status_reason.as_deref() != Some(HEALTH_CHECK_REASON)
    }

    /// Usable for scheduling at `now`: active, or cooling with the cool-down over.
    pub fn is_schedulable(&self, now: DateTime<Utc>) -> bool {
        match self.status {
            AccountStatus::Active => true,
            AccountStatus::Cooling => self.status_until.is_none_or(|until| until <= now),
            AccountStatus::Error | AccountStatus::Disabled => false,
        }
    }
}

/// What an account of `kind` needs before it can be stored, as the message for an operator
/// (flag names as the CLI spells them; the API uses the same field names with `_`).
pub fn missing_credentials(
    kind: AccountKind,
    c: &Credentials,
    base_url: Option<&str>,
    deployment: Option<&str>,
) -> Option<&'static str> {
    let has = |s: &Option<Secret>| s.is_some();
    match kind {
        AccountKind::Claude | AccountKind::Openai | AccountKind::GeminiApi if !has(&c.api_key) => {
            Some("this kind of account needs --api-key")
        }
        AccountKind::ClaudeOfficial
            if !has(&c.access_token) && !has(&c.refresh_token) && !has(&c.session_key) =>
        {
            Some("a claude-official account needs --access-token, --refresh-token or --session-key")
        }
        AccountKind::OpenaiResponses if !has(&c.access_token) && !has(&c.api_key) => {
            Some("an openai-responses account needs --access-token (ChatGPT) or --api-key")
        }
        AccountKind::Gemini if !has(&c.access_token) && !has(&c.refresh_token) => {
            Some("a gemini account needs --access-token or --refresh-token")
        }
        AccountKind::Azure if !has(&c.api_key) || base_url.is_none() || deployment.is_none() => {
            Some(
                "an azure account needs --api-key, --base-url (the resource endpoint) and --deployment",
            )
        }
        AccountKind::Bedrock
            if !(has(&c.api_key)
                || (has(&c.aws_access_key_id) && has(&c.aws_secret_access_key))) =>
        {
            Some(
                "a bedrock account needs --api-key (a Bedrock API key) or --aws-access-key-id and --aws-secret-access-key",
            )
        }
        _ => None,
    }
}

/// Whether `model` is in `list`: exact names or globs (`*`, `?`), the same patterns keys use.
pub fn model_listed(list: &[String], model: &str) -> bool {
    list.iter().any(|m| crate::policy::glob_match(m, model))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Account {
        account(&[], &[])
    }

    pub(crate) fn account(allowed: &[&str], map: &[(&str, &str)]) -> Account {
        Account {
            id: 1,
            kind: AccountKind::Claude,
            name: "a".into(),
            base_url: None,
            priority: 50,
            weight: 1,
            allowed_models: allowed.iter().map(|s| s.to_string()).collect(),
            model_map: map
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            max_concurrency: 0,
            proxy_url: None,
            status: AccountStatus::Active,
            status_reason: None,
            status_until: None,
            consecutive_errors: 0,
            last_check_at: None,
            last_check_result: None,
            extra: Default::default(),
            credentials: Credentials::default(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn model_rules() {
        let any = account(&[], &[]);
        assert_eq!(any.upstream_model("x").as_deref(), Some("x"));
        let listed = account(
            &["claude-sonnet-*", "claude-opus-4"],
            &[("opus", "claude-opus-4")],
        );
        assert_eq!(
            listed.upstream_model("claude-sonnet-4-5").as_deref(),
            Some("claude-sonnet-4-5")
        );
        assert_eq!(
            listed.upstream_model("opus").as_deref(),
            Some("claude-opus-4")
        );
        assert_eq!(listed.upstream_model("claude-haiku"), None);
    }

    #[test]
    fn kinds_round_trip() {
        for k in AccountKind::ALL {
            assert_eq!(k.as_str().parse::<AccountKind>().unwrap(), k);
        }
        assert!("claude-max".parse::<AccountKind>().is_err());
    }
}
