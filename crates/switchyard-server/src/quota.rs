//! Usage windows of subscription accounts, as upstreams report them in response headers.
//! Kept per account so operators can see how close each account is to its limits.

use chrono::{DateTime, Duration, Utc};
use http::HeaderMap;
use serde_json::{Value, json};

/// `None` when `headers` report no usage windows; otherwise the overall status they report
/// (`Some(None)` for Codex headers, which carry none).
pub fn reported_status(headers: &HeaderMap) -> Option<Option<&str>> {
    if headers.contains_key("x-codex-primary-used-percent") {
        return Some(None);
    }
    let status = headers
        .get("anthropic-ratelimit-unified-status")
        .and_then(|v| v.to_str().ok());
    if status.is_some() || headers.contains_key("anthropic-ratelimit-unified-5h-utilization") {
        return Some(status);
    }
    None
}

/// A JSON report of the windows found in `headers`, or `None` when there are none.
pub fn from_headers(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Value> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let num = |name: &str| get(name).and_then(|v| v.trim().parse::<f64>().ok());
    if get("x-codex-primary-used-percent").is_some() {
        let window = |prefix: &str| {
            let reset = num(&format!("x-codex-{prefix}-reset-after-seconds"))
                .map(|s| (now + switchyard_core::time::seconds_f64(s)).to_rfc3339());
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

/// Every window in a report as (utilisation in percent, reset time), whatever its source.
fn windows(report: &Value) -> Vec<(f64, Option<DateTime<Utc>>)> {
    let body = report.get("report").unwrap_or(report);
    let rfc = |v: Option<&Value>| {
        v.and_then(|t| t.as_str())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let mut out = Vec::new();
    for name in [
        "five_hour",
        "seven_day",
        "seven_day_opus",
        "seven_day_sonnet",
    ] {
        if let Some(w) = body.get(name).filter(|w| w.is_object())
            && let Some(u) = w.get("utilization").and_then(Value::as_f64)
        {
            out.push((u, rfc(w.get("resets_at"))));
        }
    }
    for name in ["primary", "secondary"] {
        if let Some(w) = body.get(name).filter(|w| w.is_object())
            && let Some(u) = w.get("used_percent").and_then(Value::as_f64)
        {
            out.push((u, rfc(w.get("resets_at"))));
        }
    }
    if let Some(rl) = body.get("rate_limit") {
        for name in ["primary_window", "secondary_window"] {
            if let Some(w) = rl.get(name).filter(|w| w.is_object())
                && let Some(u) = w.get("used_percent").and_then(Value::as_f64)
            {
                let reset = w
                    .get("reset_at")
                    .and_then(Value::as_i64)
                    .and_then(|e| DateTime::from_timestamp(e, 0));
                out.push((u, reset));
            }
        }
    }
    out
}

/// When an account has a `pause_at_utilization` threshold (percent) and a window has reached
/// it, the time scheduling should resume (the window's reset) and why.
pub fn pause(
    account: &switchyard_core::Account,
    report: &Value,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, String)> {
    let threshold = account.extra.get("pause_at_utilization")?.as_f64()?;
    windows(report)
        .into_iter()
        .filter(|(u, _)| *u >= threshold)
        .map(|(u, reset)| (u, reset.unwrap_or(now + Duration::hours(1))))
        .filter(|(_, reset)| *reset > now)
        .max_by_key(|(_, reset)| *reset)
        .map(|(u, reset)| {
            (
                reset,
                format!("usage {u:.0}% reached the {threshold:.0}% pause threshold"),
            )
        })
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

    #[test]
    fn pause_threshold() {
        let now = Utc::now();
        let report = json!({"source": "anthropic-oauth-usage", "report": {
            "five_hour": {"utilization": 96.0, "resets_at": (now + Duration::hours(2)).to_rfc3339()},
            "seven_day": {"utilization": 40.0, "resets_at": (now + Duration::days(3)).to_rfc3339()}}});
        let mut account = test_account();
        assert!(
            pause(&account, &report, now).is_none(),
            "no threshold, no pause"
        );
        account
            .extra
            .insert("pause_at_utilization".into(), json!(95));
        let (until, why) = pause(&account, &report, now).unwrap();
        assert!((until - (now + Duration::hours(2))).num_seconds().abs() <= 1);
        assert!(why.contains("96%"));
        account
            .extra
            .insert("pause_at_utilization".into(), json!(99));
        assert!(pause(&account, &report, now).is_none());
        let wham = json!({"report": {"rate_limit": {"primary_window": {"used_percent": 100, "reset_at": now.timestamp() + 600}}}});
        assert!(pause(&account, &wham, now).is_some());
    }

    fn test_account() -> switchyard_core::Account {
        switchyard_core::Account {
            id: 1,
            kind: switchyard_core::AccountKind::ClaudeOfficial,
            name: "a".into(),
            base_url: None,
            priority: 1,
            weight: 1,
            allowed_models: vec![],
            model_map: Default::default(),
            max_concurrency: 0,
            proxy_url: None,
            status: switchyard_core::AccountStatus::Active,
            status_reason: None,
            status_until: None,
            consecutive_errors: 0,
            last_check_at: None,
            last_check_result: None,
            extra: Default::default(),
            credentials: Default::default(),
            created_at: now_utc(),
            updated_at: now_utc(),
        }
    }

    fn now_utc() -> DateTime<Utc> {
        Utc::now()
    }
}
