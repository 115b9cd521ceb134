//! Runtime settings: typed keys with defaults, stored as text in the store and editable while
//! the server runs. Only keys listed here exist; anything else is rejected by name.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingType {
    Bool,
    /// A non-negative integer.
    Int,
    Text,
}

impl SettingType {
    pub fn as_str(self) -> &'static str {
        match self {
            SettingType::Bool => "bool",
            SettingType::Int => "int",
            SettingType::Text => "text",
        }
    }
}

pub struct SettingDef {
    pub key: &'static str,
    pub ty: SettingType,
    pub default: &'static str,
    pub help: &'static str,
}

pub const DEFS: &[SettingDef] = &[
    SettingDef {
        key: "account_health_check_enabled",
        ty: SettingType::Bool,
        default: "false",
        help: "run the periodic account health check",
    },
    SettingDef {
        key: "account_health_check_interval",
        ty: SettingType::Int,
        default: "5",
        help: "minutes between health-check rounds",
    },
    SettingDef {
        key: "account_error_threshold",
        ty: SettingType::Int,
        default: "5",
        help: "consecutive failures before an account is disabled",
    },
    SettingDef {
        key: "sticky_session_ttl_seconds",
        ty: SettingType::Int,
        default: "3600",
        help: "how long a sticky session binding lives without use",
    },
    SettingDef {
        key: "max_attempts",
        ty: SettingType::Int,
        default: "8",
        help: "most distinct accounts tried per request on account faults (failover bound, at most 16)",
    },
    SettingDef {
        key: "failover_budget_seconds",
        ty: SettingType::Int,
        default: "30",
        help: "no further account is tried once a request has waited this long without a first byte",
    },
    SettingDef {
        key: "cross_dialect",
        ty: SettingType::Text,
        default: "fallback",
        help: "accounts of another dialect serving a request through conversion: off, fallback (only when no native account can serve the model) or any",
    },
    SettingDef {
        key: "first_byte_timeout_seconds",
        ty: SettingType::Int,
        default: "120",
        help: "seconds to wait for upstream response headers before failing over",
    },
    SettingDef {
        key: "non_stream_timeout_seconds",
        ty: SettingType::Int,
        default: "600",
        help: "seconds to wait for a non-streaming response (its headers come only when it is complete)",
    },
    SettingDef {
        key: "rate_limit_cooldown_seconds",
        ty: SettingType::Int,
        default: "60",
        help: "cool-down after a 429 that names no reset time",
    },
    SettingDef {
        key: "overload_cooldown_seconds",
        ty: SettingType::Int,
        default: "30",
        help: "cool-down after a 529 (upstream overloaded)",
    },
    SettingDef {
        key: "server_error_cooldown_seconds",
        ty: SettingType::Int,
        default: "10",
        help: "cool-down after a 5xx or connection failure",
    },
    SettingDef {
        key: "account_recovery_enabled",
        ty: SettingType::Bool,
        default: "true",
        help: "re-probe accounts disabled by the health check and re-enable them when they pass",
    },
    SettingDef {
        key: "account_health_check_concurrency",
        ty: SettingType::Int,
        default: "4",
        help: "health probes running at once",
    },
    SettingDef {
        key: "account_health_check_timeout_seconds",
        ty: SettingType::Int,
        default: "20",
        help: "longest a single health probe may take",
    },
    SettingDef {
        key: "webhook_url",
        ty: SettingType::Text,
        default: "",
        help: "generic JSON POST when an account is disabled or recovers (empty: off)",
    },
    SettingDef {
        key: "client_detection_strict",
        ty: SettingType::Bool,
        default: "true",
        help: "keys limited to certain clients require every signal the client really sends, not just its user-agent",
    },
    SettingDef {
        key: "concurrency_queue_wait_seconds",
        ty: SettingType::Int,
        default: "5",
        help: "how long a request over a key's or user's concurrency limit waits for a slot before 429",
    },
    SettingDef {
        key: "concurrency_queue_max",
        ty: SettingType::Int,
        default: "100",
        help: "requests that may wait for a slot per key or user; more are refused at once",
    },
    SettingDef {
        key: "default_proxy",
        ty: SettingType::Text,
        default: "",
        help: "name of the proxy (see `switchyard proxy add`) used by accounts that name none (empty: direct)",
    },
    SettingDef {
        key: "cost_limit_timezone",
        ty: SettingType::Text,
        default: "UTC",
        help: "where daily and weekly cost limits reset (midnight, weeks start Monday): UTC or an offset like +08:00",
    },
    SettingDef {
        key: "user_key_self_service",
        ty: SettingType::Bool,
        default: "false",
        help: "users may create, revoke and rotate their own API keys (within their user limits; no account or group binding)",
    },
];

pub fn def(key: &str) -> Option<&'static SettingDef> {
    DEFS.iter().find(|d| d.key == key)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("unknown setting `{0}`")]
    Unknown(String),
    #[error("setting `{key}` expects {expected}, got `{value}`")]
    Invalid {
        key: String,
        expected: &'static str,
        value: String,
    },
}

/// Upper bound of every integer setting (about three years in seconds): larger values are
/// mistakes and would overflow time arithmetic.
const MAX_INT: u64 = 100_000_000;

/// Integer settings where 0 would make no sense (a round every 0 minutes, 0 attempts…).
const AT_LEAST_ONE: &[&str] = &[
    "account_health_check_interval",
    "account_error_threshold",
    "sticky_session_ttl_seconds",
    "max_attempts",
    "failover_budget_seconds",
    "first_byte_timeout_seconds",
    "non_stream_timeout_seconds",
    "account_health_check_concurrency",
    "account_health_check_timeout_seconds",
];

/// Checks `value` against the key's type and returns its canonical text.
pub fn validate(key: &str, value: &str) -> Result<String, SettingError> {
    let d = def(key).ok_or_else(|| SettingError::Unknown(key.to_string()))?;
    let invalid = |expected| SettingError::Invalid {
        key: key.to_string(),
        expected,
        value: value.to_string(),
    };
    match d.ty {
        SettingType::Bool => match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok("true".into()),
            "false" | "0" | "no" | "off" => Ok("false".into()),
            _ => Err(invalid("true or false")),
        },
        SettingType::Int => {
            let n = value
                .trim()
                .parse::<u64>()
                .map_err(|_| invalid("a non-negative integer"))?;
            if n == 0 && AT_LEAST_ONE.contains(&key) {
                return Err(invalid("an integer of at least 1"));
            }
            if n > MAX_INT {
                return Err(invalid("an integer of at most 100000000"));
            }
            Ok(n.to_string())
        }
        SettingType::Text if key.ends_with("_url") => {
            let v = value.trim();
            if v.is_empty() || v.starts_with("http://") || v.starts_with("https://") {
                Ok(v.to_string())
            } else {
                Err(invalid("an http(s) URL or an empty value"))
            }
        }
        SettingType::Text if key == "cost_limit_timezone" => {
            match crate::policy::parse_offset(value) {
                Some(_) => Ok(value.trim().to_string()),
                None => Err(invalid("UTC or a fixed offset such as +08:00 or -05:00")),
            }
        }
        SettingType::Text if key == "cross_dialect" => {
            match value.trim().to_ascii_lowercase().as_str() {
                v @ ("off" | "fallback" | "any") => Ok(v.to_string()),
                _ => Err(invalid("off, fallback or any")),
            }
        }
        SettingType::Text => Ok(value.to_string()),
    }
}

/// The effective settings: stored values over defaults. Cheap to clone into a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    stored: BTreeMap<String, String>,
}

impl Settings {
    /// Stored values whose key is unknown (from a newer version) are kept but never read.
    pub fn from_stored(stored: BTreeMap<String, String>) -> Self {
        Self { stored }
    }

    pub fn text(&self, key: &str) -> String {
        if let Some(v) = self.stored.get(key) {
            return v.clone();
        }
        def(key).map(|d| d.default.to_string()).unwrap_or_default()
    }

    /// [`Settings::text`] without a copy, for reads on the request path.
    pub fn text_ref(&self, key: &str) -> &str {
        match self.stored.get(key) {
            Some(v) => v,
            None => def(key).map_or("", |d| d.default),
        }
    }

    pub fn int(&self, key: &str) -> u64 {
        let fallback = def(key).and_then(|d| d.default.parse().ok()).unwrap_or(0);
        self.stored
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(fallback)
            .min(MAX_INT)
    }

    pub fn bool(&self, key: &str) -> bool {
        self.text(key) == "true"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let s = Settings::default();
        assert_eq!(s.int("account_error_threshold"), 5);
        assert!(!s.bool("account_health_check_enabled"));
        assert_eq!(
            validate("account_health_check_enabled", "YES").unwrap(),
            "true"
        );
        assert!(matches!(
            validate("nope", "1"),
            Err(SettingError::Unknown(_))
        ));
        let err = validate("account_error_threshold", "-3").unwrap_err();
        assert!(err.to_string().contains("account_error_threshold"));
    }
}
