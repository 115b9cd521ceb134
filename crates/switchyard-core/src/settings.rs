//! Runtime settings: typed keys with defaults, stored as text in the store and editable while
//! the server runs. Only keys listed here exist; anything else is rejected by name.

use std::collections::BTreeMap;

use chrono::{FixedOffset, Offset, Utc};

use crate::model_routes::{CrossDialect, ModelAliases};

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

/// Declares every setting once: its registry entry in [`DEFS`] (what the operator lists and
/// sets by name) and its typed field in [`Settings`] (what the process reads), so a key that
/// is misspelt in code is a compile error rather than a silent default.
macro_rules! settings {
    ($($key:ident: $rust:ty = $ty:ident, $default:literal, $help:literal;)*) => {
        pub const DEFS: &[SettingDef] = &[$(SettingDef {
            key: stringify!($key),
            ty: SettingType::$ty,
            default: $default,
            help: $help,
        },)*];

        /// The effective settings of one snapshot, parsed once: stored values over defaults.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Settings {
            $(#[doc = $help]
            pub $key: $rust,)*
        }

        impl Settings {
            /// A stored value that no longer validates (edited by hand, or from another
            /// version) reads as the default; stored keys unknown here are ignored.
            pub fn from_stored(stored: &BTreeMap<String, String>) -> Self {
                Self {
                    $($key: read(stored, stringify!($key), $default),)*
                }
            }
        }
    };
}

settings! {
    account_health_check_enabled: bool = Bool, "false", "run the periodic account health check";
    account_health_check_interval: u64 = Int, "5", "minutes between health-check rounds";
    account_error_threshold: u64 = Int, "5", "consecutive failures before an account is disabled";
    sticky_session_ttl_seconds: u64 = Int, "3600", "how long a sticky session binding lives without use";
    max_attempts: u64 = Int, "8", "most distinct accounts tried per request on account faults (failover bound, at most 16)";
    failover_budget_seconds: u64 = Int, "30", "no further account is tried once a request has waited this long without a first byte";
    cross_dialect: CrossDialect = Text, "fallback", "accounts of another dialect serving a request through conversion: off, fallback (only when no native account can serve the model) or any";
    cross_dialect_lossy: bool = Bool, "false", "when a field cannot be carried to an account of another dialect, leave it out (named in the usage record's dropped_fields) instead of refusing the request with a 400";
    model_aliases: ModelAliases = Text, "", "names clients may send for a model, as alias=model pairs separated by commas (e.g. sonnet=claude-sonnet-4-5); routing, limits and usage see the model";
    first_byte_timeout_seconds: u64 = Int, "120", "seconds to wait for upstream response headers before failing over";
    non_stream_timeout_seconds: u64 = Int, "600", "seconds to wait for a non-streaming response (its headers come only when it is complete)";
    rate_limit_cooldown_seconds: u64 = Int, "60", "cool-down after a 429 that names no reset time";
    overload_cooldown_seconds: u64 = Int, "30", "cool-down after a 529 (upstream overloaded)";
    server_error_cooldown_seconds: u64 = Int, "10", "cool-down after a 5xx or connection failure";
    account_recovery_enabled: bool = Bool, "true", "re-probe accounts disabled by the health check and re-enable them when they pass";
    account_health_check_concurrency: u64 = Int, "4", "health probes running at once";
    account_health_check_timeout_seconds: u64 = Int, "20", "longest a single health probe may take";
    webhook_url: String = Text, "", "generic JSON POST when an account is disabled or recovers (empty: off)";
    client_detection_strict: bool = Bool, "true", "keys limited to certain clients require every signal the client really sends, not just its user-agent";
    concurrency_queue_wait_seconds: u64 = Int, "5", "how long a request over a key's or user's concurrency limit waits for a slot before 429";
    concurrency_queue_max: u64 = Int, "100", "requests that may wait for a slot per key or user; more are refused at once";
    default_proxy: String = Text, "", "name of the proxy (see `switchyard proxy add`) used by accounts that name none (empty: direct)";
    cost_limit_timezone: FixedOffset = Text, "UTC", "where daily and weekly cost limits reset (midnight, weeks start Monday): UTC or an offset like +08:00";
    user_key_self_service: bool = Bool, "false", "users may create, revoke and rotate their own API keys (within their user limits; no account or group binding)";
}

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
    /// A structured value (such as the model aliases) with what is wrong in it.
    #[error("setting `{key}`: {why}")]
    Malformed { key: String, why: String },
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
        SettingType::Text if key == "cross_dialect" => match CrossDialect::parse(value) {
            Some(c) => Ok(c.as_str().to_string()),
            None => Err(invalid("off, fallback or any")),
        },
        SettingType::Text if key == "model_aliases" => match ModelAliases::parse(value) {
            Ok(a) => Ok(a.to_text()),
            Err(why) => Err(SettingError::Malformed {
                key: key.to_string(),
                why,
            }),
        },
        SettingType::Text => Ok(value.to_string()),
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self::from_stored(&BTreeMap::new())
    }
}

/// A Rust type a setting's canonical text parses into.
trait SettingValue: Sized {
    fn parse(canonical: &str) -> Option<Self>;
    /// Used only if a default in [`DEFS`] failed to parse (a unit test rules that out).
    fn fallback() -> Self;
}

impl SettingValue for bool {
    fn parse(canonical: &str) -> Option<Self> {
        Some(canonical == "true")
    }
    fn fallback() -> Self {
        false
    }
}

impl SettingValue for u64 {
    fn parse(canonical: &str) -> Option<Self> {
        canonical.parse().ok()
    }
    fn fallback() -> Self {
        0
    }
}

impl SettingValue for String {
    fn parse(canonical: &str) -> Option<Self> {
        Some(canonical.to_string())
    }
    fn fallback() -> Self {
        String::new()
    }
}

impl SettingValue for CrossDialect {
    fn parse(canonical: &str) -> Option<Self> {
        CrossDialect::parse(canonical)
    }
    fn fallback() -> Self {
        CrossDialect::default()
    }
}

impl SettingValue for ModelAliases {
    fn parse(canonical: &str) -> Option<Self> {
        ModelAliases::parse(canonical).ok()
    }
    fn fallback() -> Self {
        ModelAliases::default()
    }
}

impl SettingValue for FixedOffset {
    fn parse(canonical: &str) -> Option<Self> {
        crate::policy::parse_offset(canonical)
    }
    fn fallback() -> Self {
        Utc.fix()
    }
}

fn read<T: SettingValue>(stored: &BTreeMap<String, String>, key: &str, default: &str) -> T {
    stored
        .get(key)
        .and_then(|v| validate(key, v).ok())
        .and_then(|v| T::parse(&v))
        .or_else(|| T::parse(default))
        .unwrap_or_else(T::fallback)
}

/// The text an operator sees for a setting (`settings list`, the admin API): the stored value
/// or the default. In-process reads use the typed [`Settings`] instead.
pub fn effective_text(stored: &BTreeMap<String, String>, def: &SettingDef) -> String {
    stored
        .get(def.key)
        .cloned()
        .unwrap_or_else(|| def.default.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let s = Settings::default();
        assert_eq!(s.account_error_threshold, 5);
        assert!(!s.account_health_check_enabled);
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

    /// Every default must validate and parse into its field, or `fallback` would be read.
    #[test]
    fn every_default_is_valid() {
        for d in DEFS {
            assert_eq!(validate(d.key, d.default).unwrap(), d.default, "{}", d.key);
        }
        assert_eq!(Settings::default().cost_limit_timezone, Utc.fix());
    }

    #[test]
    fn stored_values_are_parsed_and_invalid_ones_read_as_default() {
        let stored: BTreeMap<String, String> = [
            ("max_attempts", "3"),
            ("account_recovery_enabled", "false"),
            ("cost_limit_timezone", "+08:00"),
            ("webhook_url", "https://hooks.example/x"),
            ("account_error_threshold", "0"),
            ("sticky_session_ttl_seconds", "soon"),
            ("from_a_newer_version", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let s = Settings::from_stored(&stored);
        assert_eq!(s.max_attempts, 3);
        assert!(!s.account_recovery_enabled);
        assert_eq!(
            s.cost_limit_timezone,
            FixedOffset::east_opt(8 * 3600).unwrap()
        );
        assert_eq!(s.webhook_url, "https://hooks.example/x");
        assert_eq!(s.account_error_threshold, 5);
        assert_eq!(s.sticky_session_ttl_seconds, 3600);
        let max = def("max_attempts").unwrap();
        assert_eq!(effective_text(&stored, max), "3");
        let ttl = def("failover_budget_seconds").unwrap();
        assert_eq!(effective_text(&stored, ttl), "30");
    }
}
