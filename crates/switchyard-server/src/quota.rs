//! Usage windows of subscription accounts, as upstreams report them in response headers.
//! Kept per account so operators can see how close each account is to its limits.

use chrono::{DateTime, Duration, Utc};
use http::HeaderMap;
use serde_json::{Value, json};

/// A JSON report of the windows found in `headers`, or `None` when there are none.
pub fn from_headers(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Value> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let num = |name: &str| get(name).and_then(|v| v.trim().parse::<f64>().ok());
    if get("x-codex-primary-used-percent").is_some() {
        let window = |prefix: &str| {
            let reset = num(&format!("x-codex-{prefix}-reset-after-seconds"))
                .map(|s| (now + Duration::seconds(s as i64)).to_rfc3339());
            json!({
                "used_percent": num(&format!("x-codex-{prefix}-used-percent")),
                "window_minutes": num(&format!("x-codex-{prefix}-window-minutes")),
                "resets_at": reset,
            })
        };
        return Some(json!({
            "source": "codex",
            "primary": window("primary"),
            "secondary": window("secondary"),
            "seen_at": now.to_rfc3339(),
        }));
    }
    if get("anthropic-ratelimit-unified-status").is_some()
        || get("anthropic-ratelimit-unified-5h-utilization").is_some()
    {
        let window = |name: &str| {
            let reset = num(&format!("anthropic-ratelimit-unified-{name}-reset"))
                .and_then(|e| DateTime::from_timestamp(e as i64, 0))
                .map(|t| t.to_rfc3339());
            json!({
                // Headers give a fraction; reported as a percentage like /api/oauth/usage.
                "utilization": num(&format!("anthropic-ratelimit-unified-{name}-utilization")).map(|u| u * 100.0),
                "status": get(&format!("anthropic-ratelimit-unified-{name}-status")),
                "resets_at": reset,
            })
        };
        return Some(json!({
            "source": "anthropic",
            "status": get("anthropic-ratelimit-unified-status"),
            "five_hour": window("5h"),
            "seven_day": window("7d"),
            "seen_at": now.to_rfc3339(),
        }));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn codex_and_anthropic_windows() {
        let now = Utc::now();
        let mut h = HeaderMap::new();
        h.insert(
            "x-codex-primary-used-percent",
            HeaderValue::from_static("42"),
        );
        h.insert(
            "x-codex-primary-window-minutes",
            HeaderValue::from_static("300"),
        );
        h.insert(
            "x-codex-primary-reset-after-seconds",
            HeaderValue::from_static("60"),
        );
        let r = from_headers(&h, now).unwrap();
        assert_eq!(r["source"], "codex");
        assert_eq!(r["primary"]["used_percent"], 42.0);
        let mut h = HeaderMap::new();
        h.insert(
            "anthropic-ratelimit-unified-status",
            HeaderValue::from_static("allowed"),
        );
        h.insert(
            "anthropic-ratelimit-unified-5h-utilization",
            HeaderValue::from_static("0.26"),
        );
        let r = from_headers(&h, now).unwrap();
        assert_eq!(r["five_hour"]["utilization"], 26.0);
        assert!(from_headers(&HeaderMap::new(), now).is_none());
    }
}
