//! Credential files and bulk transfer of accounts.
//!
//! [`import`] reads, and says which it found:
//! - Claude Code's `.credentials.json` (`claudeAiOauth`: `accessToken`, `refreshToken`,
//!   `expiresAt` in epoch milliseconds, `scopes`, `subscriptionType`) → `claude-official`;
//! - Codex's `auth.json` (`tokens.{access_token,refresh_token,id_token,account_id}`, or
//!   `OPENAI_API_KEY`) → `openai-responses`;
//! - Gemini CLI's `oauth_creds.json` (`access_token`, `refresh_token`, `expiry_date` in epoch
//!   milliseconds) → `gemini`;
//! - Switchyard's own export ([`export`]), every account in it.
//!
//! An import is all-or-nothing: every account is checked first (name free, credentials
//! complete for its kind, base URL as [`super::accounts::check_base_url`] takes it, proxy
//! known) and any problem is reported per account with nothing
//! stored; if the store refuses one midway, the accounts already created are removed again.

use chrono::{DateTime, TimeZone, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use switchyard_core::Secret;
use switchyard_core::account::{AccountKind, Credentials, missing_credentials};
use switchyard_core::secret::redact_url;
use switchyard_store::NewAccount;

use super::{Ctx, OpError, invalid};

pub const EXPORT_FORMAT: &str = "switchyard-accounts/1";

/// Credentials as they travel in an export file (present only with `--include-secrets`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportedCredentials {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_secret_access_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_session_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl ExportedCredentials {
    fn from_credentials(c: &Credentials) -> Self {
        let s = |v: &Option<Secret>| v.as_ref().map(|s| s.expose().to_string());
        Self {
            api_key: s(&c.api_key),
            access_token: s(&c.access_token),
            refresh_token: s(&c.refresh_token),
            expires_at: c.expires_at,
            session_key: s(&c.session_key),
            aws_access_key_id: s(&c.aws_access_key_id),
            aws_secret_access_key: s(&c.aws_secret_access_key),
            aws_session_token: s(&c.aws_session_token),
            client_secret: s(&c.client_secret),
        }
    }

    fn into_credentials(self) -> Credentials {
        let s = |v: Option<String>| v.filter(|v| !v.is_empty()).map(Secret::new);
        Credentials {
            api_key: s(self.api_key),
            access_token: s(self.access_token),
            refresh_token: s(self.refresh_token),
            expires_at: self.expires_at,
            session_key: s(self.session_key),
            aws_access_key_id: s(self.aws_access_key_id),
            aws_secret_access_key: s(self.aws_secret_access_key),
            aws_session_token: s(self.aws_session_token),
            client_secret: s(self.client_secret),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportedAccount {
    pub kind: AccountKind,
    pub name: String,
    pub base_url: Option<String>,
    pub priority: i32,
    pub weight: u32,
    #[serde(default)]
    pub allowed_models: Vec<String>,
    #[serde(default)]
    pub model_map: BTreeMap<String, String>,
    pub max_concurrency: u32,
    /// A proxy name, or a URL (credentials shown as `***` without secrets).
    pub proxy_url: Option<String>,
    #[serde(default)]
    pub extra: serde_json::Map<String, Value>,
    /// Absent unless exported with secrets.
    pub credentials: Option<ExportedCredentials>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportedProxy {
    pub name: String,
    /// Credentials shown as `***` without secrets.
    pub url: String,
}

/// The whole export file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportFile {
    pub format: String,
    pub exported_at: DateTime<Utc>,
    pub include_secrets: bool,
    #[serde(default)]
    pub proxies: Vec<ExportedProxy>,
    pub accounts: Vec<ExportedAccount>,
}

/// Every account (and named proxy). Secrets only when asked for; audited either way.
pub async fn export(ctx: &Ctx<'_>, include_secrets: bool) -> Result<ExportFile, OpError> {
    let accounts = ctx.store.list_accounts().await?;
    let proxies = ctx.store.list_proxies().await?;
    let shown = |url: &str| {
        if include_secrets {
            url.to_string()
        } else {
            redact_url(url)
        }
    };
    let file = ExportFile {
        format: EXPORT_FORMAT.into(),
        exported_at: Utc::now(),
        include_secrets,
        proxies: proxies
            .iter()
            .map(|p| ExportedProxy {
                name: p.name.clone(),
                url: shown(p.url.expose()),
            })
            .collect(),
        accounts: accounts
            .iter()
            .map(|a| ExportedAccount {
                kind: a.kind,
                name: a.name.clone(),
                base_url: a.base_url.clone(),
                priority: a.priority,
                weight: a.weight,
                allowed_models: a.allowed_models.clone(),
                model_map: a.model_map.clone(),
                max_concurrency: a.max_concurrency,
                proxy_url: a.proxy_url.as_deref().map(shown),
                extra: a.extra.clone(),
                credentials: include_secrets
                    .then(|| ExportedCredentials::from_credentials(&a.credentials)),
            })
            .collect(),
    };
    ctx.audit(
        "account.export",
        "accounts",
        serde_json::json!({"accounts": file.accounts.len(), "include_secrets": include_secrets}),
    )
    .await;
    Ok(file)
}

/// Options for a credential file (ignored for an export file, which names its accounts).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct ImportOptions {
    /// The account kind, when the file could be read as more than one.
    pub kind: Option<AccountKind>,
    /// Name of the new account (default: derived from the file).
    pub name: Option<String>,
    /// Proxy URL or name for the new account.
    pub proxy: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ImportedAccount {
    pub id: i64,
    pub name: String,
    pub kind: AccountKind,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ImportReport {
    /// `claude-code`, `codex`, `gemini-cli` or `switchyard-export`.
    pub format: &'static str,
    /// What was found, in words (never the secrets themselves).
    pub found: String,
    pub accounts: Vec<ImportedAccount>,
}

/// Epoch milliseconds (the CLIs' `expiresAt`/`expiry_date`) or RFC 3339.
fn time_of(v: Option<&Value>) -> Option<DateTime<Utc>> {
    match v? {
        Value::Number(n) => n
            .as_i64()
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        _ => None,
    }
}

fn text(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// What a file held: its format, a description, and the accounts (and proxies) to create.
struct FileContents {
    format: &'static str,
    found: String,
    accounts: Vec<ExportedAccount>,
    proxies: Vec<ExportedProxy>,
}

/// Reads a credential file or an export into accounts to create, saying what it found.
fn read(content: &str, opts: &ImportOptions) -> Result<FileContents, OpError> {
    let v: Value = serde_json::from_str(content)
        .map_err(|e| invalid("file", format!("not a JSON file: {e}")))?;
    let one = |kind: AccountKind, default_name: &str, creds: ExportedCredentials, extra| {
        ExportedAccount {
            kind,
            name: opts
                .name
                .clone()
                .unwrap_or_else(|| default_name.to_string()),
            base_url: None,
            priority: 50,
            weight: 1,
            allowed_models: vec![],
            model_map: BTreeMap::new(),
            max_concurrency: 0,
            proxy_url: opts.proxy.clone(),
            extra,
            credentials: Some(creds),
        }
    };
    let check_kind = |expected: AccountKind| match opts.kind {
        Some(k) if k != expected => Err(invalid(
            "kind",
            format!("this file holds {expected} credentials, not {k}"),
        )),
        _ => Ok(()),
    };
    if v.get("format").and_then(Value::as_str) == Some(EXPORT_FORMAT) {
        let file: ExportFile = serde_json::from_value(v)
            .map_err(|e| invalid("file", format!("malformed Switchyard export: {e}")))?;
        let found = format!(
            "a Switchyard export of {} account(s){}",
            file.accounts.len(),
            if file.include_secrets {
                " with secrets"
            } else {
                " without secrets"
            }
        );
        return Ok(FileContents {
            format: "switchyard-export",
            found,
            accounts: file.accounts,
            proxies: file.proxies,
        });
    }
    if let Some(c) = v.get("claudeAiOauth") {
        check_kind(AccountKind::ClaudeOfficial)?;
        let creds = ExportedCredentials {
            access_token: text(c, "/accessToken"),
            refresh_token: text(c, "/refreshToken"),
            expires_at: time_of(c.get("expiresAt")),
            ..Default::default()
        };
        let plan = text(c, "/subscriptionType");
        let scopes: Vec<&str> = c
            .get("scopes")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let found = format!(
            "Claude Code credentials (OAuth{}{}{})",
            plan.as_deref()
                .map(|p| format!(", {p} plan"))
                .unwrap_or_default(),
            if scopes.is_empty() {
                String::new()
            } else {
                format!(", scopes {}", scopes.join(" "))
            },
            if creds.refresh_token.is_some() {
                ", with refresh token"
            } else {
                ", no refresh token"
            }
        );
        let mut extra = serde_json::Map::new();
        if let Some(p) = &plan {
            extra.insert(
                "signed_in".into(),
                serde_json::json!({"plan": p, "flow": "import"}),
            );
        }
        let default = format!("claude-{}", plan.as_deref().unwrap_or("code"));
        return Ok(FileContents {
            format: "claude-code",
            found,
            accounts: vec![one(AccountKind::ClaudeOfficial, &default, creds, extra)],
            proxies: vec![],
        });
    }
    if v.get("tokens").is_some() || v.get("OPENAI_API_KEY").is_some() {
        check_kind(AccountKind::OpenaiResponses)?;
        let access = text(&v, "/tokens/access_token");
        let api_key = text(&v, "/OPENAI_API_KEY");
        let (creds, found) = match (access, api_key) {
            (Some(access), _) => {
                let claims = switchyard_upstream::openai::chatgpt_claims(&access);
                let account = text(&v, "/tokens/account_id").or(claims.account_id);
                (
                    ExportedCredentials {
                        access_token: Some(access),
                        refresh_token: text(&v, "/tokens/refresh_token"),
                        expires_at: claims.expires_at,
                        ..Default::default()
                    },
                    format!(
                        "Codex CLI sign-in (ChatGPT{}{})",
                        claims
                            .plan_type
                            .map(|p| format!(", {p} plan"))
                            .unwrap_or_default(),
                        account
                            .map(|a| format!(", account {a}"))
                            .unwrap_or_default()
                    ),
                )
            }
            (None, Some(key)) => (
                ExportedCredentials {
                    api_key: Some(key),
                    ..Default::default()
                },
                "Codex CLI with an OpenAI API key".to_string(),
            ),
            (None, None) => {
                return Err(invalid(
                    "file",
                    "a Codex auth.json with neither ChatGPT tokens nor an API key",
                ));
            }
        };
        return Ok(FileContents {
            format: "codex",
            found,
            accounts: vec![one(
                AccountKind::OpenaiResponses,
                "codex",
                creds,
                serde_json::Map::new(),
            )],
            proxies: vec![],
        });
    }
    if v.get("refresh_token").is_some() || v.get("expiry_date").is_some() {
        check_kind(AccountKind::Gemini)?;
        let creds = ExportedCredentials {
            access_token: text(&v, "/access_token"),
            refresh_token: text(&v, "/refresh_token"),
            expires_at: time_of(v.get("expiry_date")),
            ..Default::default()
        };
        let found = format!(
            "Gemini CLI Google sign-in ({})",
            if creds.refresh_token.is_some() {
                "with refresh token"
            } else {
                "no refresh token"
            }
        );
        return Ok(FileContents {
            format: "gemini-cli",
            found,
            accounts: vec![one(
                AccountKind::Gemini,
                "gemini",
                creds,
                serde_json::Map::new(),
            )],
            proxies: vec![],
        });
    }
    Err(invalid(
        "file",
        "not a file Switchyard knows: expected Claude Code's .credentials.json, Codex's auth.json, Gemini CLI's oauth_creds.json or a Switchyard export",
    ))
}

/// Imports `content`; see the module documentation.
pub async fn import(
    ctx: &Ctx<'_>,
    content: &str,
    opts: &ImportOptions,
) -> Result<ImportReport, OpError> {
    let FileContents {
        format,
        found,
        accounts,
        proxies,
    } = read(content, opts)?;
    if accounts.is_empty() {
        return Err(invalid("file", format!("{found}: no accounts to import")));
    }
    let existing: HashSet<String> = ctx
        .store
        .list_accounts()
        .await?
        .into_iter()
        .map(|a| a.name)
        .collect();
    let mut known_proxies: HashSet<String> = ctx
        .store
        .list_proxies()
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    // Proxies the file brings (with their URLs) that this store lacks.
    let new_proxies: Vec<&ExportedProxy> = proxies
        .iter()
        .filter(|p| !known_proxies.contains(&p.name) && !p.url.contains("***@"))
        .collect();
    known_proxies.extend(new_proxies.iter().map(|p| p.name.clone()));

    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for a in &accounts {
        let mut why = Vec::new();
        if a.name.trim().is_empty() || a.name.chars().all(|c| c.is_ascii_digit()) {
            why.push("the name must not be empty or a number".to_string());
        }
        if existing.contains(&a.name) {
            why.push("an account with this name exists (use --name)".to_string());
        }
        if !seen.insert(a.name.clone()) {
            why.push("the name appears twice in the file".to_string());
        }
        match &a.credentials {
            None => why.push("no credentials in the file (export with --include-secrets)".into()),
            Some(c) => {
                let creds = c.clone().into_credentials();
                let deployment = a.extra.get("deployment").and_then(Value::as_str);
                if let Some(m) =
                    missing_credentials(a.kind, &creds, a.base_url.as_deref(), deployment)
                {
                    why.push(m.to_string());
                }
            }
        }
        if let Some(Err(e)) = a.base_url.as_deref().map(super::accounts::check_base_url) {
            why.push(e.to_string());
        }
        if let Some(p) = a.proxy_url.as_deref().filter(|p| !p.is_empty()) {
            if p.contains("***@") {
                why.push("its proxy URL was exported without secrets".into());
            } else if p.contains("://") {
                if let Err(e) = switchyard_upstream::client::check_proxy_url(p) {
                    why.push(e.to_string());
                }
            } else if !known_proxies.contains(p) {
                why.push(format!("no proxy named `{p}`"));
            }
        }
        if !why.is_empty() {
            errors.push(format!("account `{}`: {}", a.name, why.join(", ")));
        }
    }
    if !errors.is_empty() {
        return Err(invalid(
            "accounts",
            format!("nothing was imported from {found}: {}", errors.join("; ")),
        ));
    }

    let mut created_proxies = Vec::new();
    let mut created = Vec::new();
    let mut failure = None;
    for p in new_proxies {
        match ctx.store.create_proxy(&p.name, &p.url).await {
            Ok(_) => created_proxies.push(p.name.clone()),
            Err(e) => {
                failure = Some(format!("proxy `{}`: {e}", p.name));
                break;
            }
        }
    }
    if failure.is_none() {
        for a in &accounts {
            let made = ctx
                .store
                .create_account(NewAccount {
                    kind: Some(a.kind),
                    name: a.name.clone(),
                    base_url: a.base_url.clone(),
                    priority: Some(a.priority),
                    weight: Some(a.weight),
                    allowed_models: a.allowed_models.clone(),
                    model_map: a.model_map.clone(),
                    max_concurrency: Some(a.max_concurrency),
                    proxy_url: a.proxy_url.clone().filter(|p| !p.is_empty()),
                    extra: a.extra.clone(),
                    credentials: a.credentials.clone().unwrap_or_default().into_credentials(),
                })
                .await;
            match made {
                Ok(acc) => created.push(ImportedAccount {
                    id: acc.id,
                    name: acc.name,
                    kind: acc.kind,
                }),
                Err(e) => {
                    failure = Some(format!("account `{}`: {e}", a.name));
                    break;
                }
            }
        }
    }
    if let Some(why) = failure {
        // All or nothing: take back what this import created.
        for a in &created {
            let _ = ctx.store.remove_account(a.id).await;
        }
        for p in &created_proxies {
            let _ = ctx.store.delete_proxy(p, None).await;
        }
        return Err(OpError::Conflict(format!(
            "nothing was imported from {found}: {why}"
        )));
    }
    ctx.audit(
        "account.import",
        format,
        serde_json::json!({
            "found": found,
            "accounts": created.iter().map(|a| &a.name).collect::<Vec<_>>(),
            "proxies": created_proxies,
        }),
    )
    .await;
    ctx.changed().await;
    Ok(ImportReport {
        format,
        found,
        accounts: created,
    })
}
