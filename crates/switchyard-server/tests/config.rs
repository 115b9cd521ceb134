//! Configuration layering as an operator meets it: a TOML file, overridden by `SWITCHYARD_*`
//! environment variables, overridden by flags (`Config::set`).

// Helpers outside `#[test]` functions panic on failure too, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use switchyard_server::Config;
use switchyard_server::config::{ConfigError, LogFormat, env_name};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn write_toml(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("switchyard.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn load_err(file: Option<&Path>, vars: &[(&str, &str)]) -> ConfigError {
    match Config::load(file, env(vars)) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e,
    }
}

/// The documented upstream hosts (DESIGN.md) and the key that overrides each.
const HOSTS: &[(&str, &str)] = &[
    ("upstream.anthropic_api", "api.anthropic.com"),
    ("upstream.claude_oauth_token_url", "platform.claude.com"),
    ("upstream.claude_ai", "claude.ai"),
    ("upstream.chatgpt", "chatgpt.com"),
    ("upstream.openai_auth", "auth.openai.com"),
    ("upstream.openai_api", "api.openai.com"),
    ("upstream.gemini_api", "generativelanguage.googleapis.com"),
    ("upstream.code_assist", "cloudcode-pa.googleapis.com"),
    ("upstream.google_oauth", "oauth2.googleapis.com"),
    ("upstream.bedrock_runtime", "bedrock-runtime"),
];

fn upstream_value<'a>(c: &'a Config, key: &str) -> &'a str {
    let u = &c.upstream;
    match key {
        "upstream.anthropic_api" => &u.anthropic_api,
        "upstream.claude_oauth_token_url" => &u.claude_oauth_token_url,
        "upstream.claude_ai" => &u.claude_ai,
        "upstream.chatgpt" => &u.chatgpt,
        "upstream.openai_auth" => &u.openai_auth,
        "upstream.openai_api" => &u.openai_api,
        "upstream.gemini_api" => &u.gemini_api,
        "upstream.code_assist" => &u.code_assist,
        "upstream.google_oauth" => &u.google_oauth,
        "upstream.bedrock_runtime" => &u.bedrock_runtime,
        other => panic!("not an upstream key: {other}"),
    }
}

#[test]
fn defaults_match_the_documentation() {
    let c = Config::load(None, env(&[])).unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.listen, "127.0.0.1:8080".parse::<SocketAddr>().unwrap());
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    assert!(c.database_url.is_none());
    assert!(c.master_key.is_none());
    assert_eq!(c.log_format, LogFormat::Text);
}

#[test]
fn file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_toml(
        dir.path(),
        r#"
listen = "127.0.0.1:9001"
log_level = "debug"
data_dir = "/srv/from-file"

[upstream]
anthropic_api = "http://file.example:1"
openai_api = "http://file.example:2"

[timeouts]
idle_seconds = 11
connect_seconds = 12
"#,
    );
    let mut c = Config::load(
        Some(&file),
        env(&[
            ("SWITCHYARD_LISTEN", "127.0.0.1:9002"),
            ("SWITCHYARD_UPSTREAM_OPENAI_API", "http://env.example:2"),
            ("SWITCHYARD_TIMEOUTS_IDLE_SECONDS", "22"),
            ("SWITCHYARD_LOG_FORMAT", "json"),
            // Not ours: ignored.
            ("PATH", "/usr/bin"),
            ("HOME", "/root"),
            // Read elsewhere: allowed.
            ("SWITCHYARD_CONFIG", "/elsewhere.toml"),
            ("SWITCHYARD_ADMIN_PASSWORD", "whatever-password"),
        ]),
    )
    .unwrap();
    // Only in the file.
    assert_eq!(c.log_level, "debug");
    assert_eq!(c.upstream.anthropic_api, "http://file.example:1");
    assert_eq!(c.timeouts.connect_seconds, 12);
    // Environment over file.
    assert_eq!(c.listen, "127.0.0.1:9002".parse::<SocketAddr>().unwrap());
    assert_eq!(c.upstream.openai_api, "http://env.example:2");
    assert_eq!(c.timeouts.idle_seconds, 22);
    assert_eq!(c.log_format, LogFormat::Json);
    // Untouched keys keep their defaults.
    assert_eq!(
        c.upstream.chatgpt,
        Config::default().upstream.chatgpt,
        "keys absent everywhere stay at the default"
    );

    // Flags over environment.
    c.set("listen", "127.0.0.1:9003").unwrap();
    c.set("data_dir", "/srv/from-flag").unwrap();
    c.set("timeouts.idle_seconds", "33").unwrap();
    assert_eq!(c.listen, "127.0.0.1:9003".parse::<SocketAddr>().unwrap());
    assert_eq!(c.data_dir, PathBuf::from("/srv/from-flag"));
    assert_eq!(c.timeouts.idle_seconds, 33);
    c.validate().unwrap();
}

#[test]
fn every_key_has_the_documented_environment_name() {
    assert_eq!(
        env_name("upstream.anthropic_api"),
        "SWITCHYARD_UPSTREAM_ANTHROPIC_API"
    );
    assert_eq!(env_name("listen"), "SWITCHYARD_LISTEN");
    // Every key `config check` prints can be given through its environment variable.
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("d").display().to_string();
    let master = "ab".repeat(32);
    for key in Config::KEYS {
        let value = match *key {
            "listen" => "127.0.0.1:7777",
            "data_dir" => data_dir.as_str(),
            "database_url" => "sqlite:///tmp/x.db",
            "redis_url" => "redis://127.0.0.1:6379",
            "redis_prefix" => "team-a",
            "master_key" => master.as_str(),
            "log_format" => "json",
            "log_level" => "warn",
            "trusted_proxies" => "127.0.0.1, ::1",
            // Never below body_limit_bytes (32 MiB by default).
            "body_budget_bytes" => "67108864",
            "upstream.bedrock_runtime" => "http://bedrock.test/{region}",
            k if k.starts_with("upstream.") => "http://mirror.test:8",
            _ => "42",
        };
        let name = env_name(key);
        let c = Config::load(None, vec![(name.clone(), value.to_string())])
            .unwrap_or_else(|e| panic!("{name}={value}: {e}"));
        assert_ne!(c, Config::default(), "{name} changed nothing");
    }
}

#[test]
fn unknown_keys_in_the_file_are_rejected_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key) in [
        ("listne = \"127.0.0.1:1\"\n", "listne"),
        ("[upstream]\nanthropic = \"http://x.test\"\n", "anthropic"),
        ("[timeouts]\nidle = 5\n", "idle"),
        ("[nonsense]\na = 1\n", "nonsense"),
    ] {
        let file = write_toml(dir.path(), text);
        let err = load_err(Some(&file), &[]);
        let msg = err.to_string();
        assert!(msg.contains(&format!("`{key}`")), "{text:?}: {msg}");
        assert!(msg.contains("switchyard.toml"), "names the file: {msg}");
    }
}

#[test]
fn unknown_environment_variables_are_rejected_by_name() {
    for name in [
        "SWITCHYARD_LISTNE",
        "SWITCHYARD_UPSTREAM_ANTHROPIC",
        "SWITCHYARD_TIMEOUTS_IDLE",
    ] {
        let err = load_err(None, &[(name, "1")]);
        assert_eq!(err, ConfigError::UnknownEnv(name.to_string()));
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn invalid_values_from_flags_and_environment_name_the_key() {
    let cases: &[(&str, &str)] = &[
        ("listen", "localhost"),
        ("listen", "127.0.0.1"),
        ("listen", "127.0.0.1:99999"),
        ("upstream.anthropic_api", "not a url"),
        ("upstream.anthropic_api", "api.anthropic.com"),
        ("upstream.openai_api", "ftp://files.example.com"),
        ("upstream.google_oauth", "oauth2.googleapis.com"),
        ("timeouts.connect_seconds", "ten"),
        ("timeouts.idle_seconds", "-1"),
        ("timeouts.shutdown_grace_seconds", "1.5"),
        ("body_limit_bytes", "lots"),
        ("log_format", "yaml"),
    ];
    for (key, value) in cases {
        let mut c = Config::default();
        let err = c.set(key, value).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("`{key}`")),
            "set {key}={value}: {msg}"
        );
        assert!(
            msg.contains(value),
            "the message shows the bad value: {msg}"
        );
        assert_eq!(c, Config::default(), "a rejected value changes nothing");

        let name = env_name(key);
        let err = load_err(None, &[(&name, value)]);
        let msg = err.to_string();
        assert!(msg.contains(&format!("`{key}`")), "{name}={value}: {msg}");
    }
    // Values of the right type that make no sense.
    let err = load_err(None, &[("SWITCHYARD_TIMEOUTS_CONNECT_SECONDS", "0")]);
    assert!(
        err.to_string().contains("`timeouts.connect_seconds`"),
        "{err}"
    );
    let err = load_err(None, &[("SWITCHYARD_BODY_LIMIT_BYTES", "0")]);
    assert!(err.to_string().contains("`body_limit_bytes`"), "{err}");
    // An unknown key given to `set`.
    let err = Config::default().set("listne", "x").unwrap_err();
    assert!(err.to_string().contains("`listne`"), "{err}");
}

#[test]
fn invalid_upstream_hosts_in_the_file_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_toml(dir.path(), "[upstream]\nchatgpt = \"chatgpt.com\"\n");
    let err = load_err(Some(&file), &[]);
    assert!(err.to_string().contains("`upstream.chatgpt`"), "{err}");
}

#[test]
fn invalid_value_types_in_the_file_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key) in [
        ("listen = \"localhost\"\n", "listen"),
        ("[timeouts]\nconnect_seconds = \"ten\"\n", "connect_seconds"),
        ("log_format = \"yaml\"\n", "log_format"),
    ] {
        let file = write_toml(dir.path(), text);
        let msg = load_err(Some(&file), &[]).to_string();
        assert!(msg.contains(key), "{text:?}: {msg}");
    }
}

#[test]
fn a_non_url_bedrock_host_is_rejected_naming_the_key() {
    for value in [
        "bedrock-runtime",
        "not a url",
        "ftp://bedrock.test/{region}",
    ] {
        let mut c = Config::default();
        let err = c.set("upstream.bedrock_runtime", value).expect_err(value);
        assert!(
            err.to_string().contains("`upstream.bedrock_runtime`"),
            "{err}"
        );
        let err = load_err(None, &[("SWITCHYARD_UPSTREAM_BEDROCK_RUNTIME", value)]);
        assert!(
            err.to_string().contains("`upstream.bedrock_runtime`"),
            "{err}"
        );
    }
}

#[test]
fn invalid_value_types_in_the_file_are_rejected_with_the_line() {
    let dir = tempfile::tempdir().unwrap();
    for (text, line) in [
        ("log_level = \"info\"\nlisten = \"localhost\"\n", 2),
        ("\n\n[timeouts]\nconnect_seconds = \"ten\"\n", 4),
        ("log_format = \"yaml\"\n", 1),
    ] {
        let file = write_toml(dir.path(), text);
        let err = load_err(Some(&file), &[]);
        assert!(matches!(err, ConfigError::Parse { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&format!("line {line}")), "{text:?}: {msg}");
        assert!(!msg.contains('\n'), "one line: {msg}");
    }
}

#[test]
fn a_missing_config_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.toml");
    let err = load_err(Some(&path), &[]);
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("absent.toml"), "{err}");
}

#[test]
fn redacted_toml_hides_the_master_key_and_url_passwords() {
    let master = "c0ffee".repeat(10) + "c0ff";
    let c = Config::load(
        None,
        env(&[
            ("SWITCHYARD_MASTER_KEY", &master),
            (
                "SWITCHYARD_DATABASE_URL",
                "postgres://switchyard:db-Pa55word-XYZ@db.internal:5432/sy",
            ),
            (
                "SWITCHYARD_REDIS_URL",
                "redis://:redis-Pa55word-QRS@cache.internal:6379/0",
            ),
            (
                "SWITCHYARD_UPSTREAM_OPENAI_API",
                "http://upuser:UPSTREAMURLPASS@mirror.internal:8443",
            ),
            (
                "SWITCHYARD_UPSTREAM_GEMINI_API",
                "https://TOKEN-IN-USERNAME@gemini-mirror.internal",
            ),
        ]),
    )
    .unwrap();
    assert_eq!(c.master_key.as_ref().unwrap().expose(), master);
    let upstreams = c.to_redacted_toml();
    assert!(!upstreams.contains("UPSTREAMURLPASS"), "{upstreams}");
    assert!(!upstreams.contains("TOKEN-IN-USERNAME"), "{upstreams}");
    assert!(upstreams.contains("mirror.internal:8443"), "{upstreams}");
    let shown = c.to_redacted_toml();
    assert!(!shown.contains(&master), "{shown}");
    assert!(!shown.contains("c0ffee"), "{shown}");
    assert!(!shown.contains("db-Pa55word-XYZ"), "{shown}");
    assert!(!shown.contains("redis-Pa55word-QRS"), "{shown}");
    assert!(
        !format!("{c:?}").contains(&master),
        "Debug must not print it"
    );
    // Still says which database and that a key is set.
    assert!(shown.contains("db.internal"), "{shown}");
    assert!(
        shown.contains("postgres://switchyard:"),
        "user name kept: {shown}"
    );
    assert!(shown.contains("master_key = \"***\""), "{shown}");
}

#[test]
fn redacted_toml_lists_every_setting_and_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Config::default();
    c.set("listen", "0.0.0.0:9999").unwrap();
    c.set("upstream.claude_ai", "http://claude.mirror.test")
        .unwrap();
    c.set("timeouts.idle_seconds", "77").unwrap();
    let shown = c.to_redacted_toml();
    for key in Config::KEYS {
        let leaf = key.rsplit('.').next().unwrap();
        let optional = matches!(*key, "database_url" | "redis_url" | "master_key");
        if !optional {
            assert!(
                shown.contains(&format!("{leaf} = ")),
                "`{key}` missing:\n{shown}"
            );
        }
    }
    let file = write_toml(dir.path(), &shown);
    let back = Config::load(Some(&file), env(&[])).unwrap();
    assert_eq!(back, c, "config check output is a valid config file");
}

#[test]
fn every_documented_upstream_host_can_be_overridden() {
    let defaults = Config::default();
    let dir = tempfile::tempdir().unwrap();
    for (i, (key, host)) in HOSTS.iter().enumerate() {
        assert!(
            upstream_value(&defaults, key).contains(host),
            "default of {key} is not {host}"
        );
        let from_file = format!("http://file-mirror.test:{}", 1000 + i);
        let from_env = format!("http://env-mirror.test:{}", 2000 + i);
        // A trailing slash is dropped from plain hosts; Bedrock's is a `{region}` template.
        let (from_flag, expected) = if *key == "upstream.bedrock_runtime" {
            let t = format!("http://flag-mirror-{{region}}.test:{}", 3000 + i);
            (t.clone(), t)
        } else {
            let u = format!("http://flag-mirror.test:{}", 3000 + i);
            (format!("{u}/"), u)
        };
        let leaf = key.strip_prefix("upstream.").unwrap();
        let file = write_toml(
            dir.path(),
            &format!("[upstream]\n{leaf} = \"{from_file}\"\n"),
        );

        let c = Config::load(Some(&file), env(&[])).unwrap();
        assert_eq!(upstream_value(&c, key), from_file, "{key} from the file");
        assert!(
            !c.to_redacted_toml().contains(host),
            "{key} still shows {host}"
        );

        let mut c = Config::load(Some(&file), vec![(env_name(key), from_env.clone())]).unwrap();
        assert_eq!(
            upstream_value(&c, key),
            from_env,
            "{key} from the environment"
        );

        c.set(key, &from_flag).unwrap();
        assert_eq!(upstream_value(&c, key), expected, "{key} from a flag");
        c.validate().unwrap();
    }
}
