//! One classification of an upstream failure. It decides both whether the request moves to
//! another account and what happens to this account, so the two can never disagree.

use chrono::{DateTime, Duration, Utc};
use http::HeaderMap;
use switchyard_core::account_event::AccountEvent;

/// Cool-down lengths, from runtime settings.
#[derive(Debug, Clone, Copy)]
pub struct Cooldowns {
    pub rate_limit: Duration,
    pub overload: Duration,
    pub server_error: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Connect,
    /// The account's proxy could not be reached or refused the connection.
    Proxy,
    FirstByteTimeout,
    RateLimited,
    Overloaded,
    ServerError(u16),
    Unauthorized,
    Forbidden,
    OrganizationDisabled,
    /// A 4xx about the request itself: the client's problem, forwarded as is.
    ClientError(u16),
    /// A 2xx whose body broke off or is not what its content type says (a cut connection, a
    /// proxy's page): a failed attempt like a 5xx.
    BrokenBody,
    /// This server ran out of something of its own (file descriptors, buffers, local ports):
    /// not the account's fault, so no account is cooled for it.
    Local,
}

impl Failure {
    /// Stable name stored as a usage record's `error_kind`.
    pub fn kind(self) -> &'static str {
        match self {
            Failure::Connect => "upstream_connect",
            Failure::Proxy => "proxy",
            Failure::FirstByteTimeout => "upstream_timeout",
            Failure::RateLimited => "upstream_rate_limited",
            Failure::Overloaded => "upstream_overloaded",
            Failure::ServerError(_) => "upstream_server_error",
            Failure::Unauthorized => "upstream_unauthorized",
            Failure::Forbidden => "upstream_forbidden",
            Failure::OrganizationDisabled => "upstream_account_disabled",
            Failure::ClientError(_) => "upstream_client_error",
            Failure::BrokenBody => "upstream_body_broken",
            Failure::Local => "local_resource_exhausted",
        }
    }

    /// A failure that says nothing about the account by itself: it may as well be the request
    /// that makes every upstream fail (a 500 on a malformed or huge body). Failover holds back
    /// the cool-down until a second account tells the two apart.
    pub fn may_be_the_request(self) -> bool {
        matches!(self, Failure::ServerError(s) if s != 529) || self == Failure::BrokenBody
    }
}

/// Whether a transport error is this server's own resource shortage (EMFILE, ENFILE, ENOBUFS,
/// EADDRINUSE, EADDRNOTAVAIL) rather than the upstream's fault. Walks the error's causes.
pub fn local_resource_error(error: &(dyn std::error::Error + 'static)) -> Option<std::io::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(code) = io.raw_os_error()
            && matches!(code, 23 | 24 | 98 | 99 | 105)
        {
            return Some(std::io::Error::from_raw_os_error(code));
        }
        cause = e.source();
    }
    None
}

/// What to do to the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateChange {
    None,
    /// Temporarily unusable; comes back by itself at `until`.
    Cool {
        until: DateTime<Utc>,
        reason: String,
    },
    /// Needs attention (credentials rejected, organization disabled).
    Error {
        reason: String,
    },
    /// Refresh the OAuth token and try this account once more before judging it.
    RefreshAndRetry,
}

impl StateChange {
    /// The account event this change is, if any (`RefreshAndRetry` is decided after the
    /// refresh).
    pub fn event(&self) -> Option<AccountEvent> {
        match self {
            StateChange::None | StateChange::RefreshAndRetry => None,
            StateChange::Cool { until, reason } => Some(AccountEvent::Cooled {
                until: *until,
                reason: reason.clone(),
            }),
            StateChange::Error { reason } => Some(AccountEvent::Failed {
                reason: reason.clone(),
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub failure: Failure,
    /// Whether another account may succeed where this one failed.
    pub fail_over: bool,
    pub state: StateChange,
}

pub fn transport(failure: Failure, now: DateTime<Utc>, cd: &Cooldowns) -> Classified {
    Classified {
        failure,
        fail_over: true,
        state: StateChange::Cool {
            until: now + cd.server_error,
            reason: failure.kind().to_string(),
        },
    }
}

/// Classifies a non-success response. `oauth` says whether the account's credential can be
/// refreshed.
pub fn response(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    oauth: bool,
    now: DateTime<Utc>,
    cd: &Cooldowns,
) -> Classified {
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]).to_ascii_lowercase();
    let org_disabled = text.contains("organization has been disabled")
        || text.contains("oauth authentication is currently not allowed");
    // Errors some providers send with a client-error status that are about the account, not
    // the request: Google's invalid API key (400), Bedrock's quota (400), model timeout (408)
    // and model failure (424).
    let error_type = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let bad_account_key = status == 400 && text.contains("api_key_invalid");
    let quota = status == 400 && error_type.starts_with("servicequotaexceeded");
    let status = match status {
        400 if quota => 429,
        408 | 424 if !error_type.is_empty() => 503,
        s => s,
    };
    let (failure, state) = match status {
        400 if bad_account_key => (
            Failure::Unauthorized,
            StateChange::Error {
                reason: "API key rejected by the provider".into(),
            },
        ),
        429 => {
            let until = reset_time(headers, &text, now).unwrap_or(now + cd.rate_limit);
            (
                Failure::RateLimited,
                StateChange::Cool {
                    until,
                    reason: "rate limited (429)".into(),
                },
            )
        }
        529 => (
            Failure::Overloaded,
            StateChange::Cool {
                until: now + cd.overload,
                reason: "upstream overloaded (529)".into(),
            },
        ),
        s @ 500..=599 => (
            Failure::ServerError(s),
            StateChange::Cool {
                until: now + cd.server_error,
                reason: format!("upstream error ({s})"),
            },
        ),
        400 | 403 if org_disabled => (
            Failure::OrganizationDisabled,
            StateChange::Error {
                reason: "organization disabled".into(),
            },
        ),
        401 if oauth => (Failure::Unauthorized, StateChange::RefreshAndRetry),
        401 => (
            Failure::Unauthorized,
            StateChange::Error {
                reason: "credentials rejected (401)".into(),
            },
        ),
        403 => (
            Failure::Forbidden,
            StateChange::Cool {
                until: now + cd.rate_limit,
                reason: "forbidden (403)".into(),
            },
        ),
        s => (Failure::ClientError(s), StateChange::None),
    };
    Classified {
        fail_over: !matches!(failure, Failure::ClientError(_)),
        failure,
        state,
    }
}

/// When a rate limit ends, from the headers providers send (or Codex's body field).
fn reset_time(headers: &HeaderMap, body: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(epoch) =
        get("anthropic-ratelimit-unified-reset").and_then(|v| v.trim().parse::<i64>().ok())
        && let Some(t) = DateTime::from_timestamp(epoch, 0)
        && t > now
    {
        return Some(t);
    }
    if let Some(v) = get("retry-after") {
        if let Ok(secs) = v.trim().parse::<i64>() {
            return Some(now + switchyard_core::time::seconds(secs.max(1)));
        }
        if let Ok(t) = DateTime::parse_from_rfc2822(v.trim()) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for name in [
        "x-codex-primary-reset-after-seconds",
        "x-codex-secondary-reset-after-seconds",
    ] {
        if let Some(secs) = get(name).and_then(|v| v.trim().parse::<f64>().ok())
            && secs > 0.0
        {
            return Some(now + switchyard_core::time::seconds_f64(secs));
        }
    }
    if let Some(pos) = body.find("\"resets_in_seconds\":") {
        let digits: String = body[pos + 20..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        if let Ok(secs) = digits.parse::<i64>() {
            return Some(now + switchyard_core::time::seconds(secs.max(1)));
        }
    }
    None
}

#[cfg(test)]
mod provider_specific_tests {
    use super::*;

    fn cd() -> Cooldowns {
        Cooldowns {
            rate_limit: Duration::seconds(60),
            overload: Duration::seconds(30),
            server_error: Duration::seconds(10),
        }
    }

    #[test]
    fn account_problems_behind_client_error_statuses() {
        let now = Utc::now();
        let google = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}"#;
        let c = response(400, &HeaderMap::new(), google, false, now, &cd());
        assert_eq!(c.failure, Failure::Unauthorized);
        assert!(c.fail_over);
        let mut h = HeaderMap::new();
        h.insert(
            "x-amzn-errortype",
            http::HeaderValue::from_static("ServiceQuotaExceededException:x"),
        );
        let c = response(400, &h, br#"{"message":"quota"}"#, false, now, &cd());
        assert_eq!(c.failure, Failure::RateLimited);
        h.insert(
            "x-amzn-errortype",
            http::HeaderValue::from_static("ModelTimeoutException"),
        );
        let c = response(408, &h, br#"{"message":"timeout"}"#, false, now, &cd());
        assert!(c.fail_over && matches!(c.failure, Failure::ServerError(503)));
        // A plain 400 stays the client's.
        let c = response(
            400,
            &HeaderMap::new(),
            br#"{"error":{"message":"bad"}}"#,
            false,
            now,
            &cd(),
        );
        assert!(!c.fail_over);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error whose cause is `inner`, like reqwest's connect errors wrapping hyper's wrapping
    /// the socket's.
    #[derive(Debug)]
    struct Wrapped(std::io::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("error sending request")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn local_resource_errors_are_found_among_the_causes() {
        for code in [23, 24, 98, 99, 105] {
            let e = Wrapped(std::io::Error::from_raw_os_error(code));
            let found = local_resource_error(&e).and_then(|io| io.raw_os_error());
            assert_eq!(found, Some(code));
        }
        let refused = Wrapped(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(local_resource_error(&refused).is_none());
        assert!(!Failure::Local.may_be_the_request());
        assert!(Failure::ServerError(500).may_be_the_request());
        assert!(!Failure::ServerError(529).may_be_the_request());
        assert!(Failure::BrokenBody.may_be_the_request());
    }
    use http::HeaderValue;

    fn cd() -> Cooldowns {
        Cooldowns {
            rate_limit: Duration::seconds(60),
            overload: Duration::seconds(30),
            server_error: Duration::seconds(10),
        }
    }

    #[test]
    fn rate_limit_uses_unified_reset_then_retry_after_then_default() {
        let now = Utc::now();
        let mut h = HeaderMap::new();
        let reset = now.timestamp() + 600;
        h.insert(
            "anthropic-ratelimit-unified-reset",
            HeaderValue::from(reset),
        );
        let c = response(429, &h, b"{}", true, now, &cd());
        assert!(c.fail_over);
        match c.state {
            StateChange::Cool { until, .. } => assert_eq!(until.timestamp(), reset),
            other => panic!("{other:?}"),
        }
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        let c = response(429, &h, b"{}", true, now, &cd());
        assert_eq!(
            c.state,
            StateChange::Cool {
                until: now + Duration::seconds(7),
                reason: "rate limited (429)".into()
            }
        );
        let c = response(429, &HeaderMap::new(), b"{}", true, now, &cd());
        assert_eq!(
            c.state,
            StateChange::Cool {
                until: now + Duration::seconds(60),
                reason: "rate limited (429)".into()
            }
        );
    }

    #[test]
    fn codex_usage_limit_body() {
        let now = Utc::now();
        let body = br#"{"error":{"type":"usage_limit_reached","message":"x","plan_type":"plus","resets_in_seconds": 1234}}"#;
        let c = response(429, &HeaderMap::new(), body, true, now, &cd());
        assert_eq!(
            c.state,
            StateChange::Cool {
                until: now + Duration::seconds(1234),
                reason: "rate limited (429)".into()
            }
        );
    }

    #[test]
    fn auth_and_client_errors() {
        let now = Utc::now();
        let h = HeaderMap::new();
        assert_eq!(
            response(401, &h, b"", true, now, &cd()).state,
            StateChange::RefreshAndRetry
        );
        assert!(matches!(
            response(401, &h, b"", false, now, &cd()).state,
            StateChange::Error { .. }
        ));
        let banned = br#"{"type":"error","error":{"type":"permission_error","message":"OAuth authentication is currently not allowed for this organization."}}"#;
        let c = response(403, &h, banned, true, now, &cd());
        assert_eq!(c.failure, Failure::OrganizationDisabled);
        let c = response(400, &h, b"{\"error\":\"bad\"}", true, now, &cd());
        assert!(!c.fail_over);
        assert_eq!(c.state, StateChange::None);
        assert!(response(529, &h, b"", true, now, &cd()).fail_over);
        assert!(response(502, &h, b"", true, now, &cd()).fail_over);
    }
}
