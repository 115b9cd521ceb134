//! The operator's rules for which accounts a requested model may reach: model aliases
//! (`sonnet` → `claude-sonnet-4-5`) and whether accounts of another dialect family serve it
//! through conversion (`cross_dialect`). Both are runtime settings, parsed once per snapshot.

use std::collections::BTreeMap;
use std::fmt;

/// When accounts of another family may serve a request through conversion.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CrossDialect {
    /// Only accounts of the client's own family (the behaviour before conversion existed).
    Off,
    /// Native accounts first; converted ones only when no native account can serve.
    #[default]
    Fallback,
    /// Native and converted accounts in one pool (priority and weight decide).
    Any,
}

impl CrossDialect {
    /// The three words the setting takes, any case.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "off" => Some(CrossDialect::Off),
            "fallback" => Some(CrossDialect::Fallback),
            "any" => Some(CrossDialect::Any),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CrossDialect::Off => "off",
            CrossDialect::Fallback => "fallback",
            CrossDialect::Any => "any",
        }
    }
}

impl fmt::Display for CrossDialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Model aliases: a short or house name a client may send, and the model it stands for.
///
/// Written as `alias=model` pairs separated by commas (`sonnet=claude-sonnet-4-5,
/// fast=gpt-5-mini`). An alias is an exact name, never a pattern, and never itself the
/// target of another alias, so resolving one is a single lookup with no chains to follow.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelAliases(BTreeMap<String, String>);

impl ModelAliases {
    /// Parses the setting's text; `Err` says which pair is wrong and why.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((alias, model)) = pair.split_once('=') else {
                return Err(format!("`{pair}` is not alias=model"));
            };
            let (alias, model) = (alias.trim(), model.trim());
            if alias.is_empty() || model.is_empty() {
                return Err(format!("`{pair}` needs a name on both sides of `=`"));
            }
            if alias == model {
                return Err(format!("`{pair}` names a model as its own alias"));
            }
            let bad = |s: &str| s.chars().any(|c| c.is_whitespace() || "*?,=\"".contains(c));
            if bad(alias) || bad(model) {
                return Err(format!(
                    "`{pair}`: names may not contain spaces, quotes or `*?,=`"
                ));
            }
            if map.insert(alias.to_string(), model.to_string()).is_some() {
                return Err(format!("alias `{alias}` is given twice"));
            }
        }
        if let Some((alias, model)) = map.iter().find(|(_, m)| map.contains_key(m.as_str())) {
            return Err(format!(
                "`{alias}={model}`: `{model}` is itself an alias (point `{alias}` at a model)"
            ));
        }
        Ok(ModelAliases(map))
    }

    /// The model `requested` stands for, if it is an alias.
    pub fn resolve(&self, requested: &str) -> Option<&str> {
        if self.0.is_empty() {
            return None;
        }
        self.0.get(requested).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every (alias, model) pair, aliases in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(a, m)| (a.as_str(), m.as_str()))
    }

    /// The canonical text: pairs sorted by alias, comma-separated.
    pub fn to_text(&self) -> String {
        self.iter()
            .map(|(a, m)| format!("{a}={m}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_dialect_takes_three_words_in_any_case() {
        assert_eq!(CrossDialect::parse(" ANY "), Some(CrossDialect::Any));
        assert_eq!(CrossDialect::parse("off"), Some(CrossDialect::Off));
        assert_eq!(CrossDialect::parse("sometimes"), None);
        assert_eq!(CrossDialect::default(), CrossDialect::Fallback);
    }

    #[test]
    fn aliases_parse_and_resolve() {
        let a = ModelAliases::parse(" sonnet = claude-sonnet-4-5 , fast=gpt-5-mini,").unwrap();
        assert_eq!(a.resolve("sonnet"), Some("claude-sonnet-4-5"));
        assert_eq!(a.resolve("fast"), Some("gpt-5-mini"));
        assert_eq!(a.resolve("claude-sonnet-4-5"), None);
        assert_eq!(a.to_text(), "fast=gpt-5-mini,sonnet=claude-sonnet-4-5");
        assert!(ModelAliases::parse("").unwrap().is_empty());
    }

    #[test]
    fn bad_aliases_are_refused_with_the_pair_named() {
        for (text, says) in [
            ("sonnet", "not alias=model"),
            ("=x", "both sides"),
            ("a=a", "its own alias"),
            ("a*=b", "may not contain"),
            ("a=b,a=c", "given twice"),
            ("a=b,b=c", "itself an alias"),
        ] {
            let err = ModelAliases::parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
