//! The pure rules behind a key's policy: model globs, client recognition, cost periods and
//! per-minute windows. The admit phase (server) holds the state; everything that decides is
//! here, so it can be tested without a server.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveTime, TimeZone, Utc};
use serde::Deserialize;

/// Whether `text` matches `pattern`, where `*` matches any run of characters and `?` one.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matcher with one backtrack point: linear in practice, never exponential.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Whether `model` is allowed by `patterns` (empty: every model).
pub fn model_allowed(patterns: &[String], model: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| glob_match(p, model))
}

/// The coding clients a key can be restricted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    ClaudeCode,
    CodexCli,
    GeminiCli,
}

impl ClientKind {
    pub const ALL: [ClientKind; 3] = [
        ClientKind::ClaudeCode,
        ClientKind::CodexCli,
        ClientKind::GeminiCli,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::ClaudeCode => "claude_code",
            ClientKind::CodexCli => "codex_cli",
            ClientKind::GeminiCli => "gemini_cli",
        }
    }

    /// Accepts `claude_code` and `claude-code` alike.
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim().replace('-', "_");
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// What a request shows about the program that sent it. Headers are always read; the body
/// parts only when a key restricts clients (so other keys pay nothing for it).
#[derive(Debug, Clone, Default)]
pub struct ClientSignals {
    pub user_agent: String,
    /// `x-app` (Claude Code sends `cli`).
    pub x_app: Option<String>,
    /// `originator` (Codex sends `codex_exec`, `codex_cli_rs`, …).
    pub originator: Option<String>,
    /// Codex's conversation header (`session-id`, older `session_id`).
    pub codex_session: bool,
    /// `x-goog-api-client` (Google's JS SDK, which Gemini CLI is built on).
    pub goog_api_client: Option<String>,
    /// Anthropic `metadata.user_id`.
    pub metadata_user_id: Option<String>,
    /// The first few text blocks of an Anthropic `system`.
    pub system_heads: Vec<String>,
    /// A Code Assist body (`{model, project, user_prompt_id, request}`).
    pub code_assist_body: bool,
    /// Whether the body was read. Requests whose bodies carry no identity (Anthropic
    /// count_tokens has no `metadata`) are judged on their headers alone.
    pub body_read: bool,
}

#[derive(Deserialize)]
struct BodySignals {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    system: Option<serde_json::Value>,
    #[serde(default)]
    user_prompt_id: Option<serde_json::Value>,
    #[serde(default)]
    request: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    user_id: Option<String>,
}

impl ClientSignals {
    /// Reads the body parts that identify a client. Unparseable bodies give no signals.
    pub fn read_body(&mut self, body: &[u8]) {
        self.body_read = true;
        let Ok(b) = serde_json::from_slice::<BodySignals>(body) else {
            return;
        };
        self.metadata_user_id = b.metadata.and_then(|m| m.user_id);
        self.system_heads = match b.system {
            Some(serde_json::Value::String(s)) => vec![s],
            Some(serde_json::Value::Array(blocks)) => blocks
                .iter()
                .take(4)
                .filter_map(|b| b.get("text").and_then(|t| t.as_str()).map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        self.code_assist_body = b.user_prompt_id.is_some() && b.request.is_some();
    }
}

/// Which known client sent the request. Without `strict`, the user-agent alone decides;
/// with it, every signal that client really sends must agree, so a plain SDK that only
/// copies a user-agent is not taken for it.
pub fn detect_client(s: &ClientSignals, strict: bool) -> Option<ClientKind> {
    let ua = s.user_agent.as_str();
    if let Some(version) = ua.strip_prefix("claude-cli/") {
        let semver = version
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()
            .is_some_and(|v| v.split('.').count() == 3 && v.split('.').all(|p| !p.is_empty()));
        let ok = semver
            && (!strict
                || (s.x_app.as_deref() == Some("cli")
                    && (!s.body_read
                        || (s.metadata_user_id.as_deref().is_some_and(claude_user_id)
                            && s.system_heads.iter().any(|h| claude_system_head(h))))));
        return ok.then_some(ClientKind::ClaudeCode);
    }
    const CODEX: [&str; 3] = ["codex_exec", "codex_cli_rs", "codex_vscode"];
    if let Some(product) = CODEX.iter().find(|p| {
        ua.strip_prefix(**p)
            .is_some_and(|rest| rest.starts_with('/'))
    }) {
        let ok = !strict || (s.originator.as_deref() == Some(*product) && s.codex_session);
        return ok.then_some(ClientKind::CodexCli);
    }
    // `GeminiCLI/0.61.0/…`, or `GeminiCLI-tui/0.61.0/…` as 0.61 sends in `-p` mode.
    let gemini = ua
        .strip_prefix("GeminiCLI")
        .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('-'));
    if gemini {
        let ok = !strict
            || s.code_assist_body
            || s.goog_api_client
                .as_deref()
                .is_some_and(|c| c.contains("gl-node/"));
        return ok.then_some(ClientKind::GeminiCli);
    }
    None
}

/// Claude Code's `metadata.user_id`: `user_<64 hex>_account_<…>_session_<uuid>`, or (since
/// 2.1.78) a JSON string with `device_id` and `session_id`.
fn claude_user_id(id: &str) -> bool {
    if let Some(rest) = id.strip_prefix("user_") {
        let (device, rest) = rest.split_at_checked(64).unwrap_or(("", ""));
        return device.chars().all(|c| c.is_ascii_hexdigit())
            && device.len() == 64
            && rest.starts_with("_account_")
            && rest.contains("_session_");
    }
    #[derive(Deserialize)]
    struct UserId {
        device_id: String,
        session_id: String,
    }
    serde_json::from_str::<UserId>(id)
        .is_ok_and(|u| !u.device_id.is_empty() && !u.session_id.is_empty())
}

/// The first blocks of Claude Code's system prompt: its billing line, or one of the
/// identity sentences it has used.
fn claude_system_head(text: &str) -> bool {
    text.starts_with("x-anthropic-billing-header:")
        || text.starts_with("You are Claude Code")
        || text.contains("Claude Agent SDK")
}

/// The time zone cost periods reset in: `UTC` or a fixed offset such as `+08:00`.
pub fn parse_offset(text: &str) -> Option<FixedOffset> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("utc") || t == "Z" {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match t.as_bytes().first()? {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// Start of the day containing `now` in `tz`.
pub fn day_start(now: DateTime<Utc>, tz: FixedOffset) -> DateTime<Utc> {
    let local = now.with_timezone(&tz).date_naive().and_time(NaiveTime::MIN);
    tz.from_local_datetime(&local)
        .single()
        .map_or(now, |t| t.with_timezone(&Utc))
}

/// Start of the week (Monday) containing `now` in `tz`.
pub fn week_start(now: DateTime<Utc>, tz: FixedOffset) -> DateTime<Utc> {
    let days = i64::from(now.with_timezone(&tz).weekday().num_days_from_monday());
    day_start(now, tz) - Duration::days(days)
}

/// A per-minute budget measured over a sliding minute: the current fixed minute plus the
/// previous one weighted by how much of it still falls inside the last 60 seconds. Constant
/// memory per key, and within a few percent of an exact sliding log.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MinuteWindow {
    minute: i64,
    current: u64,
    previous: u64,
}

impl MinuteWindow {
    fn roll(&mut self, now_ms: i64) {
        let minute = now_ms.div_euclid(60_000);
        if minute == self.minute {
            return;
        }
        self.previous = if minute == self.minute + 1 {
            self.current
        } else {
            0
        };
        self.current = 0;
        self.minute = minute;
    }

    fn estimate_at(&self, now_ms: i64) -> f64 {
        let into = now_ms.rem_euclid(60_000) as f64 / 60_000.0;
        self.previous as f64 * (1.0 - into) + self.current as f64
    }

    /// The amount used over the last minute as of `now_ms` (epoch milliseconds).
    pub fn used(&mut self, now_ms: i64) -> f64 {
        self.roll(now_ms);
        self.estimate_at(now_ms)
    }

    pub fn add(&mut self, now_ms: i64, amount: u64) {
        self.roll(now_ms);
        self.current = self.current.saturating_add(amount);
    }

    /// Seconds until the window's use drops below `limit` if nothing more is added.
    pub fn seconds_until_below(&mut self, now_ms: i64, limit: u64) -> u64 {
        self.roll(now_ms);
        for s in 1..=120u64 {
            let mut later = *self;
            let t = now_ms + (s as i64) * 1000;
            later.roll(t);
            if later.estimate_at(t) < limit as f64 {
                return s;
            }
        }
        120
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("claude-*", "claude-sonnet-4-5"));
        assert!(glob_match("*sonnet*", "claude-sonnet-4-5"));
        assert!(glob_match("gpt-5?", "gpt-5o"));
        assert!(!glob_match("gpt-5?", "gpt-5"));
        assert!(glob_match("claude-opus-4", "claude-opus-4"));
        assert!(!glob_match("claude-opus-4", "claude-opus-4-1"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a*b*c", "aXbY"));
        assert!(glob_match("a*b*c", "aXbYc"));
        assert!(model_allowed(&[], "anything"));
    }

    fn claude_code_signals() -> ClientSignals {
        let mut s = ClientSignals {
            user_agent: "claude-cli/2.1.332 (external, sdk-cli)".into(),
            x_app: Some("cli".into()),
            ..Default::default()
        };
        s.read_body(
            br#"{"model":"m","metadata":{"user_id":"{\"device_id\":\"abc\",\"account_uuid\":\"\",\"session_id\":\"s-1\"}"},
                "system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=2.1.332"},{"type":"text","text":"You are a Claude agent, built on Anthropic's Claude Agent SDK."}],
                "messages":[]}"#,
        );
        s
    }

    #[test]
    fn claude_code_strict_and_impostor() {
        let real = claude_code_signals();
        assert_eq!(detect_client(&real, true), Some(ClientKind::ClaudeCode));
        // An SDK that copies only the user-agent.
        let impostor = ClientSignals {
            user_agent: real.user_agent.clone(),
            ..Default::default()
        };
        assert_eq!(
            detect_client(&impostor, false),
            Some(ClientKind::ClaudeCode)
        );
        assert_eq!(detect_client(&impostor, true), None);
        // Old user_id form.
        let mut old = real.clone();
        old.metadata_user_id = Some(format!("user_{}_account__session_1234-ab", "a".repeat(64)));
        assert_eq!(detect_client(&old, true), Some(ClientKind::ClaudeCode));
        old.metadata_user_id = Some("user_123".into());
        assert_eq!(detect_client(&old, true), None);
    }

    #[test]
    fn codex_and_gemini() {
        let codex = ClientSignals {
            user_agent: "codex_exec/0.169.0 (Debian 12; x86_64) xterm".into(),
            originator: Some("codex_exec".into()),
            codex_session: true,
            ..Default::default()
        };
        assert_eq!(detect_client(&codex, true), Some(ClientKind::CodexCli));
        let fake = ClientSignals {
            originator: None,
            ..codex.clone()
        };
        assert_eq!(detect_client(&fake, true), None);
        // As Gemini CLI 0.61.0 sent it to a capture server in `-p` mode.
        let gemini = ClientSignals {
            user_agent: "GeminiCLI-tui/0.61.0/gemini-3.1-pro-preview (linux; x64; terminal)".into(),
            goog_api_client: Some("google-genai-sdk/1.30.0 gl-node/v20.20.2".into()),
            ..Default::default()
        };
        assert_eq!(detect_client(&gemini, true), Some(ClientKind::GeminiCli));
        assert_eq!(
            detect_client(
                &ClientSignals {
                    goog_api_client: None,
                    ..gemini
                },
                true
            ),
            None
        );
        assert_eq!(
            ClientKind::parse("claude-code"),
            Some(ClientKind::ClaudeCode)
        );
        assert_eq!(ClientKind::parse("cursor"), None);
    }

    #[test]
    fn periods() {
        let tz = parse_offset("+08:00").unwrap();
        // 2026-11-26 20:00 UTC is 04:00 on the 27th (a Friday) in UTC+8.
        let now = DateTime::parse_from_rfc3339("2026-11-26T20:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(day_start(now, tz).to_rfc3339(), "2026-11-26T16:00:00+00:00");
        assert_eq!(
            week_start(now, tz).to_rfc3339(),
            "2026-11-22T16:00:00+00:00"
        );
        let utc = parse_offset("UTC").unwrap();
        assert_eq!(
            day_start(now, utc).to_rfc3339(),
            "2026-11-26T00:00:00+00:00"
        );
        assert_eq!(
            week_start(now, utc).to_rfc3339(),
            "2026-11-23T00:00:00+00:00"
        );
        assert!(parse_offset("Europe/Berlin").is_none());
        assert!(parse_offset("+15:00").is_none());
        assert_eq!(
            parse_offset("-05:30").unwrap().local_minus_utc(),
            -(5 * 3600 + 1800)
        );
    }

    #[test]
    fn minute_window() {
        let mut w = MinuteWindow::default();
        let t0 = 60_000 * 1000; // the start of a minute
        for _ in 0..10 {
            w.add(t0 + 1000, 1);
        }
        assert_eq!(w.used(t0 + 2000), 10.0);
        // Halfway into the next minute, half of the previous minute still counts.
        assert_eq!(w.used(t0 + 90_000), 5.0);
        assert_eq!(w.used(t0 + 121_000), 0.0);
        let mut w = MinuteWindow::default();
        w.add(t0 + 59_000, 10);
        let wait = w.seconds_until_below(t0 + 59_000, 10);
        assert!((1..=60).contains(&wait), "{wait}");
    }
}
