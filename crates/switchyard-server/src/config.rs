//! Configuration: a TOML file, overridden by `SWITCHYARD_*` environment variables, overridden
//! by command-line flags. Every key is known here; anything else is an error naming the key.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use switchyard_core::Secret;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the server listens on.
    pub listen: SocketAddr,
    /// Where the SQLite file and the master key file live.
    pub data_dir: PathBuf,
    /// `sqlite://path` (default: `<data_dir>/switchyard.db`).
    pub database_url: Option<String>,
    /// `redis://…` or `rediss://…`: sticky bindings, concurrency slots and the health-check
    /// round shared by every instance using it. Unset: this instance coordinates alone.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    pub redis_prefix: String,
    /// Life of a concurrency lease in Redis; renewed every third of it while the request
    /// lasts, so a crashed instance's slots free themselves within this long.
    pub redis_lease_seconds: u64,
    /// 32 bytes, hex or base64. Default: `<data_dir>/master.key`, created on first start.
    pub master_key: Option<Secret>,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `switchyard=debug`.
    pub log_level: String,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Request bodies held in memory at once, across all requests. A body that does not fit
    /// waits for others to finish (up to `timeouts.client_body_idle_seconds`), then gets 503.
    pub body_budget_bytes: usize,
    /// Client connections open at once; 0 means half the open-file limit. At the cap new
    /// connections wait in the listen backlog.
    pub max_connections: usize,
    /// Reverse proxies in front of Switchyard (their addresses). For requests they pass on, the
    /// client's address is read from `x-forwarded-for` (for the admin sign-in throttle).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub upstream: UpstreamHosts,
    pub timeouts: Timeouts,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Every upstream host Switchyard calls. Tests and mirrors point these elsewhere; accounts may
/// also carry their own base URL, which wins.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamHosts {
    pub anthropic_api: String,
    pub claude_oauth_token_url: String,
    pub claude_ai: String,
    pub chatgpt: String,
    pub openai_auth: String,
    pub openai_api: String,
    pub gemini_api: String,
    pub code_assist: String,
    pub google_oauth: String,
    /// `{region}` is replaced by the account's region.
    pub bedrock_runtime: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// TCP/TLS connect to an upstream.
    pub connect_seconds: u64,
    /// Longest silence inside a streaming body before it is ended.
    pub idle_seconds: u64,
    /// Graceful shutdown: how long in-flight requests may take to finish.
    pub shutdown_grace_seconds: u64,
    /// A client connection must send a whole request head within this long of being opened
    /// (and of its first byte, for later requests on it).
    pub client_header_seconds: u64,
    /// A client connection with no request in flight closes this long after its last response.
    pub client_keepalive_seconds: u64,
    /// Longest pause while a request body arrives before the request gets 408.
    pub client_body_idle_seconds: u64,
    /// Longest time a whole request body may take to arrive before the request gets 408.
    pub client_body_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            redis_url: None,
            redis_prefix: "switchyard".into(),
            redis_lease_seconds: 30,
            master_key: None,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            body_limit_bytes: 32 * 1024 * 1024,
            body_budget_bytes: 256 * 1024 * 1024,
            max_connections: 0,
            trusted_proxies: Vec::new(),
            upstream: UpstreamHosts::default(),
            timeouts: Timeouts::default(),
        }
    }
}

impl Default for UpstreamHosts {
    fn default() -> Self {
        Self {
            anthropic_api: "https://api.anthropic.com".into(),
            claude_oauth_token_url: "https://platform.claude.com/v1/oauth/token".into(),
            claude_ai: "https://claude.ai".into(),
            chatgpt: "https://chatgpt.com".into(),
            openai_auth: "https://auth.openai.com".into(),
            openai_api: "https://api.openai.com".into(),
            gemini_api: "https://generativelanguage.googleapis.com".into(),
            code_assist: "https://cloudcode-pa.googleapis.com".into(),
            google_oauth: "https://oauth2.googleapis.com".into(),
            bedrock_runtime: "https://bedrock-runtime.{region}.amazonaws.com".into(),
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect_seconds: 10,
            idle_seconds: 300,
            shutdown_grace_seconds: 30,
            client_header_seconds: 15,
            client_keepalive_seconds: 75,
            client_body_idle_seconds: 15,
            client_body_seconds: 120,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("config file {path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("unknown environment variable {0} (not a Switchyard setting)")]
    UnknownEnv(String),
    #[error("invalid value for `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

/// Environment variables that are read elsewhere and therefore allowed.
const OTHER_ENV: &[&str] = &["SWITCHYARD_CONFIG", "SWITCHYARD_ADMIN_PASSWORD"];

impl Config {
    /// The keys `set` understands, dotted, in the order `config check` prints them.
    pub const KEYS: &'static [&'static str] = &[
        "listen",
        "data_dir",
        "database_url",
        "redis_url",
        "redis_prefix",
        "redis_lease_seconds",
        "master_key",
        "log_format",
        "log_level",
        "body_limit_bytes",
        "body_budget_bytes",
        "max_connections",
        "trusted_proxies",
        "upstream.anthropic_api",
        "upstream.claude_oauth_token_url",
        "upstream.claude_ai",
        "upstream.chatgpt",
        "upstream.openai_auth",
        "upstream.openai_api",
        "upstream.gemini_api",
        "upstream.code_assist",
        "upstream.google_oauth",
        "upstream.bedrock_runtime",
        "timeouts.connect_seconds",
        "timeouts.idle_seconds",
        "timeouts.shutdown_grace_seconds",
        "timeouts.client_header_seconds",
        "timeouts.client_keepalive_seconds",
        "timeouts.client_body_idle_seconds",
        "timeouts.client_body_seconds",
    ];

    /// File, then environment. Flags are applied by the caller with [`Config::set`].
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("SWITCHYARD_"))
            .collect();
        env.sort();
        for (name, value) in env {
            if OTHER_ENV.contains(&name.as_str()) {
                continue;
            }
            let key = Self::KEYS
                .iter()
                .find(|k| env_name(k) == name)
                .ok_or_else(|| ConfigError::UnknownEnv(name.clone()))?;
            config.set(key, &value)?;
        }
        config.validate()?;
        Ok(config)
    }

    fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            reason: format!("{}{}", e.message(), location(&text, e.span())),
        })
    }

    /// Sets one dotted key from text, as environment variables and flags do.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            key: key.to_string(),
            reason,
        };
        let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
        let number = |v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| invalid(format!("expected a non-negative integer, got `{v}`")))
        };
        let url = |v: &str| -> Result<String, ConfigError> {
            let parsed =
                url::Url::parse(v).map_err(|e| invalid(format!("`{v}` is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(invalid(format!("`{v}` must be an http or https URL")));
            }
            Ok(v.trim_end_matches('/').to_string())
        };
        match key {
            "listen" => {
                self.listen = value.parse().map_err(|_| {
                    invalid(format!(
                        "expected host:port such as 127.0.0.1:8080, got `{value}`"
                    ))
                })?
            }
            "data_dir" => self.data_dir = PathBuf::from(value),
            "database_url" => self.database_url = opt(value),
            "redis_url" => self.redis_url = opt(value),
            "redis_prefix" => self.redis_prefix = value.to_string(),
            "redis_lease_seconds" => self.redis_lease_seconds = number(value)?,
            "master_key" => self.master_key = opt(value).map(Secret::new),
            "log_format" => {
                self.log_format = match value {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    _ => return Err(invalid(format!("expected text or json, got `{value}`"))),
                }
            }
            "log_level" => self.log_level = value.to_string(),
            "body_limit_bytes" => self.body_limit_bytes = number(value)? as usize,
            "body_budget_bytes" => self.body_budget_bytes = number(value)? as usize,
            "max_connections" => self.max_connections = number(value)? as usize,
            "trusted_proxies" => {
                self.trusted_proxies = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.parse()
                            .map_err(|_| invalid(format!("`{s}` is not an IP address")))
                    })
                    .collect::<Result<_, _>>()?
            }
            "upstream.anthropic_api" => self.upstream.anthropic_api = url(value)?,
            "upstream.claude_oauth_token_url" => self.upstream.claude_oauth_token_url = url(value)?,
            "upstream.claude_ai" => self.upstream.claude_ai = url(value)?,
            "upstream.chatgpt" => self.upstream.chatgpt = url(value)?,
            "upstream.openai_auth" => self.upstream.openai_auth = url(value)?,
            "upstream.openai_api" => self.upstream.openai_api = url(value)?,
            "upstream.gemini_api" => self.upstream.gemini_api = url(value)?,
            "upstream.code_assist" => self.upstream.code_assist = url(value)?,
            "upstream.google_oauth" => self.upstream.google_oauth = url(value)?,
            "upstream.bedrock_runtime" => {
                // A template: `{region}` is filled in per account.
                url(&value.replace("{region}", "us-east-1"))?;
                self.upstream.bedrock_runtime = value.trim_end_matches('/').to_string()
            }
            "timeouts.connect_seconds" => self.timeouts.connect_seconds = number(value)?,
            "timeouts.idle_seconds" => self.timeouts.idle_seconds = number(value)?,
            "timeouts.shutdown_grace_seconds" => {
                self.timeouts.shutdown_grace_seconds = number(value)?
            }
            "timeouts.client_header_seconds" => {
                self.timeouts.client_header_seconds = number(value)?
            }
            "timeouts.client_keepalive_seconds" => {
                self.timeouts.client_keepalive_seconds = number(value)?
            }
            "timeouts.client_body_idle_seconds" => {
                self.timeouts.client_body_idle_seconds = number(value)?
            }
            "timeouts.client_body_seconds" => self.timeouts.client_body_seconds = number(value)?,
            other => {
                return Err(ConfigError::Invalid {
                    key: other.to_string(),
                    reason: "unknown key".into(),
                });
            }
        }
        Ok(())
    }

    /// Checks values that the file's types alone do not constrain.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.redis_url {
            let ok = url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "redis" | "rediss"));
            if !ok {
                return Err(ConfigError::Invalid {
                    key: "redis_url".into(),
                    reason: "expected redis://host:port or rediss://host:port".into(),
                });
            }
        }
        if self.redis_prefix.trim().is_empty() || self.redis_prefix.contains(char::is_whitespace) {
            return Err(ConfigError::Invalid {
                key: "redis_prefix".into(),
                reason: "must be a non-empty word without spaces".into(),
            });
        }
        if self.redis_lease_seconds < 3 {
            return Err(ConfigError::Invalid {
                key: "redis_lease_seconds".into(),
                reason: "must be at least 3".into(),
            });
        }
        let hosts = [
            ("upstream.anthropic_api", &self.upstream.anthropic_api),
            (
                "upstream.claude_oauth_token_url",
                &self.upstream.claude_oauth_token_url,
            ),
            ("upstream.claude_ai", &self.upstream.claude_ai),
            ("upstream.chatgpt", &self.upstream.chatgpt),
            ("upstream.openai_auth", &self.upstream.openai_auth),
            ("upstream.openai_api", &self.upstream.openai_api),
            ("upstream.gemini_api", &self.upstream.gemini_api),
            ("upstream.code_assist", &self.upstream.code_assist),
            ("upstream.google_oauth", &self.upstream.google_oauth),
        ];
        for (key, value) in hosts {
            let ok = url::Url::parse(value)
                .map(|u| matches!(u.scheme(), "http" | "https"))
                .unwrap_or(false);
            if !ok {
                return Err(ConfigError::Invalid {
                    key: key.into(),
                    reason: format!("`{value}` is not an http(s) URL"),
                });
            }
        }
        let bedrock = self
            .upstream
            .bedrock_runtime
            .replace("{region}", "us-east-1");
        if !url::Url::parse(&bedrock).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
            return Err(ConfigError::Invalid {
                key: "upstream.bedrock_runtime".into(),
                reason: format!("`{}` is not an http(s) URL", self.upstream.bedrock_runtime),
            });
        }
        if self.body_limit_bytes == 0 {
            return Err(ConfigError::Invalid {
                key: "body_limit_bytes".into(),
                reason: "must be greater than 0".into(),
            });
        }
        if self.body_budget_bytes < self.body_limit_bytes {
            return Err(ConfigError::Invalid {
                key: "body_budget_bytes".into(),
                reason: format!(
                    "must be at least body_limit_bytes ({}), or no body at the limit could ever be read",
                    self.body_limit_bytes
                ),
            });
        }
        for (key, value) in [
            ("timeouts.connect_seconds", self.timeouts.connect_seconds),
            (
                "timeouts.client_header_seconds",
                self.timeouts.client_header_seconds,
            ),
            (
                "timeouts.client_keepalive_seconds",
                self.timeouts.client_keepalive_seconds,
            ),
            (
                "timeouts.client_body_idle_seconds",
                self.timeouts.client_body_idle_seconds,
            ),
            (
                "timeouts.client_body_seconds",
                self.timeouts.client_body_seconds,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    key: key.into(),
                    reason: "must be greater than 0".into(),
                });
            }
        }
        Ok(())
    }

    /// The effective configuration as TOML, secrets shown as `***`.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        if shown.master_key.is_some() {
            shown.master_key = Some(Secret::new("***"));
        }
        if let Some(url) = &shown.database_url {
            shown.database_url = Some(redact_url_password(url));
        }
        if let Some(url) = &shown.redis_url {
            shown.redis_url = Some(redact_url_password(url));
        }
        // Mirrors and test hosts may carry credentials in their URL too.
        let u = &mut shown.upstream;
        for host in [
            &mut u.anthropic_api,
            &mut u.claude_oauth_token_url,
            &mut u.claude_ai,
            &mut u.chatgpt,
            &mut u.openai_auth,
            &mut u.openai_api,
            &mut u.gemini_api,
            &mut u.code_assist,
            &mut u.google_oauth,
            &mut u.bedrock_runtime,
        ] {
            *host = redact_url_password(host);
        }
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// `SWITCHYARD_` + the dotted key in upper case with `.` as `_`.
pub fn env_name(key: &str) -> String {
    format!("SWITCHYARD_{}", key.replace('.', "_").to_ascii_uppercase())
}

/// The URL with its password (and a user name, which may be a token) shown as `***`.
fn redact_url_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() || !u.username().is_empty() => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            } else {
                let _ = u.set_username("***");
            }
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// ` (line N, key `section.name`)` for an error at `span`, so a bad value is reported by the
/// key it belongs to, not only by position.
fn location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(r) = span else {
        return String::new();
    };
    let start = r.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let section = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    match (key, section) {
        (Some(k), Some(s)) => format!(" (line {line_no}, key `{s}.{k}`)"),
        (Some(k), None) => format!(" (line {line_no}, key `{k}`)"),
        _ => format!(" (line {line_no})"),
    }
}
