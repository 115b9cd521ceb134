//! A string that must never reach a log line or an API response.

use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// Holds a credential. `Debug`, `Display` and `Serialize` all print `***`; the value is only
/// reachable through [`Secret::expose`], which makes every use of the plain text greppable.
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A hint that lets an operator tell two credentials apart without revealing either:
    /// the first four and last four characters, or only `***` for short values.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// See [`Secret::masked`].
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 16 {
        return "***".to_string();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// A URL with any `user:password@` part replaced by `***@` (proxy URLs often carry both).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("sk-ant-api03-very-secret-value");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
        assert_eq!(s.masked(), "sk-a…alue");
        assert_eq!(Secret::new("short").masked(), "***");
    }

    #[test]
    fn redacts_url_credentials() {
        assert_eq!(
            redact_url("http://u:p@proxy:8080/x"),
            "http://***@proxy:8080/x"
        );
        assert_eq!(redact_url("socks5://proxy:1080"), "socks5://proxy:1080");
        assert_eq!(redact_url("http://proxy/a@b"), "http://proxy/a@b");
    }
}
