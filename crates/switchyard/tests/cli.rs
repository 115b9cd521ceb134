//! The `switchyard` binary as an operator uses it: each test spawns the real executable with a
//! temporary data directory and no `SWITCHYARD_*` variables from the outer environment.

// Helpers outside `#[test]` functions panic on failure too, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "test tasks are joined or dropped by their test"
)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
const OTHER_MASTER_KEY: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0";

/// A temporary working directory with a data directory inside it.
struct Sandbox {
    tmp: tempfile::TempDir,
    data: PathBuf,
}

/// The outcome of one finished command.
#[derive(Debug)]
struct Run {
    success: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(self) -> Self {
        assert!(self.success, "command failed: {self:#?}");
        self
    }

    /// Asserts a failure whose message is exactly one `error: …` line, and returns that line.
    #[track_caller]
    fn one_line_error(&self) -> String {
        assert!(!self.success, "command should have failed: {self:#?}");
        assert_ne!(self.code, Some(0));
        let lines: Vec<&str> = self.stderr.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 1, "expected one error line: {self:#?}");
        assert!(lines[0].starts_with("error: "), "{self:#?}");
        lines[0].to_string()
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }

    fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

fn base_command(cwd: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SWITCHYARD_") {
            cmd.env_remove(name);
        }
    }
    cmd.env_remove("RUST_LOG").current_dir(cwd);
    cmd
}

fn finish(mut child: Child, stdin: Option<&str>) -> Run {
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    // Read both pipes while waiting: a command that prints more than a pipe holds (64 KiB)
    // would otherwise block on its write and never finish.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("command did not finish within 60s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = std::process::Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    Run {
        success: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Sandbox {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        Sandbox { tmp, data }
    }

    fn data_arg(&self) -> String {
        self.data.display().to_string()
    }

    /// `switchyard --data-dir <data> <args>` with extra environment and optional stdin.
    fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
        let mut cmd = base_command(self.tmp.path());
        cmd.arg("--data-dir").arg(&self.data).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        finish(cmd.spawn().unwrap(), stdin)
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[], None)
    }

    /// Arguments exactly as given (no `--data-dir` added).
    fn run_raw(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = base_command(self.tmp.path());
        cmd.args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        finish(cmd.spawn().unwrap(), None)
    }

    fn accounts(&self) -> Vec<Value> {
        let v = self.run(&["account", "list", "--json"]).ok().json();
        v.as_array().unwrap().clone()
    }

    fn keys(&self) -> Vec<Value> {
        let v = self.run(&["key", "list", "--json"]).ok().json();
        v.as_array().unwrap().clone()
    }
}

fn masked(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// Asserts that neither `secret` nor its hidden middle part appears in `text`.
#[track_caller]
fn assert_hidden(text: &str, secret: &str) {
    let middle = &secret[4..secret.len() - 4];
    assert!(
        !text.contains(middle),
        "secret `{secret}` leaked into output:\n{text}"
    );
}

fn by_name<'a>(list: &'a [Value], name: &str) -> &'a Value {
    list.iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("`{name}` not in {list:#?}"))
}

// ---------------------------------------------------------------------------------------------
// accounts

#[test]
fn account_add_several_kinds_then_list_shows_fields_and_masked_credentials() {
    let sb = Sandbox::new();
    let claude_key = "sk-ant-api03-CLAUDEKEYSECRETVALUE-0001";
    let oauth_access = "sk-ant-oat01-OAUTHACCESSSECRET-0002";
    let oauth_refresh = "sk-ant-ort01-OAUTHREFRESHSECRET-0003";
    let chatgpt_access = "eyJhbGciOiJSUzI1NiJ9-CHATGPTACCESS-0004";
    let gemini_key = "AIzaSyGEMINIAPIKEYSECRET-0005";
    let azure_key = "azure0123456789SECRETKEY-0006";
    let bedrock_key = "bedrockABSKSECRETVALUE-0007";
    let mut output = String::new();

    let runs = [
        sb.run(&[
            "account",
            "add",
            "claude",
            "--name",
            "anthropic-1",
            "--api-key",
            claude_key,
            "--base-url",
            "https://relay.example.com/",
            "--priority",
            "10",
            "--weight",
            "3",
            "--models",
            "claude-sonnet-*,claude-opus-4",
            "--model-map",
            "opus=claude-opus-4,sonnet=claude-sonnet-4-5",
            "--max-concurrency",
            "2",
            "--proxy",
            "http://127.0.0.1:3128",
        ]),
        sb.run(&[
            "account",
            "add",
            "claude-official",
            "--name",
            "max-1",
            "--access-token",
            oauth_access,
            "--refresh-token",
            oauth_refresh,
            "--expires-at",
            "2026-12-01T00:00:00Z",
            "--priority",
            "-1",
        ]),
        // The secret from stdin, as documented for `-`.
        sb.run_with(
            &[
                "account",
                "add",
                "openai-responses",
                "--name",
                "codex-1",
                "--access-token",
                "-",
            ],
            &[],
            Some(&format!("{chatgpt_access}\n")),
        ),
        sb.run(&[
            "account",
            "add",
            "gemini-api",
            "--name",
            "gemini-1",
            "--api-key",
            gemini_key,
        ]),
        sb.run(&[
            "account",
            "add",
            "azure",
            "--name",
            "azure-1",
            "--api-key",
            azure_key,
            "--base-url",
            "https://res.openai.azure.com",
            "--deployment",
            "gpt-4o",
            "--api-version",
            "2024-10-21",
        ]),
        sb.run(&[
            "account",
            "add",
            "bedrock",
            "--name",
            "bedrock-1",
            "--api-key",
            bedrock_key,
            "--region",
            "us-east-1",
        ]),
    ];
    for run in runs {
        let run = run.ok();
        assert!(run.stdout.starts_with("added account "), "{run:#?}");
        output += &run.all_output();
    }

    let list = sb.run(&["account", "list", "--json"]).ok();
    output += &list.all_output();
    let accounts = list.json();
    let accounts = accounts.as_array().unwrap();
    let names: Vec<&str> = accounts
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "anthropic-1",
            "max-1",
            "codex-1",
            "gemini-1",
            "azure-1",
            "bedrock-1"
        ]
    );

    let a = by_name(accounts, "anthropic-1");
    assert_eq!(a["kind"], "claude");
    assert_eq!(a["base_url"], "https://relay.example.com");
    assert_eq!(a["priority"], 10);
    assert_eq!(a["weight"], 3);
    assert_eq!(
        a["allowed_models"],
        serde_json::json!(["claude-sonnet-*", "claude-opus-4"])
    );
    assert_eq!(
        a["model_map"],
        serde_json::json!({"opus": "claude-opus-4", "sonnet": "claude-sonnet-4-5"})
    );
    assert_eq!(a["max_concurrency"], 2);
    assert_eq!(a["proxy_url"], "http://127.0.0.1:3128");
    assert_eq!(a["status"], "active");
    assert_eq!(
        a["credentials"],
        serde_json::json!({"api_key": masked(claude_key)})
    );

    let m = by_name(accounts, "max-1");
    assert_eq!(m["kind"], "claude-official");
    assert_eq!(m["priority"], -1);
    assert_eq!(m["weight"], 1, "default weight");
    assert_eq!(m["credentials"]["access_token"], masked(oauth_access));
    assert_eq!(m["credentials"]["refresh_token"], masked(oauth_refresh));
    let expires = m["credentials"]["expires_at"].as_str().unwrap();
    assert!(expires.starts_with("2026-12-01T00:00:00"), "{expires}");

    let c = by_name(accounts, "codex-1");
    assert_eq!(c["kind"], "openai-responses");
    assert_eq!(c["credentials"]["access_token"], masked(chatgpt_access));

    let g = by_name(accounts, "gemini-1");
    assert_eq!(g["kind"], "gemini-api");
    assert_eq!(g["credentials"]["api_key"], masked(gemini_key));
    assert_eq!(g["priority"], 50, "default priority");

    let z = by_name(accounts, "azure-1");
    assert_eq!(z["kind"], "azure");
    assert_eq!(z["extra"]["deployment"], "gpt-4o");
    assert_eq!(z["extra"]["api_version"], "2024-10-21");

    let b = by_name(accounts, "bedrock-1");
    assert_eq!(b["kind"], "bedrock");
    assert_eq!(b["extra"]["region"], "us-east-1");

    // The table for people: one row per account, credentials masked.
    let table = sb.run(&["account", "list"]).ok();
    output += &table.all_output();
    assert_eq!(table.stdout.lines().count(), 1 + 6, "{}", table.stdout);
    assert!(
        table.stdout.contains(&masked(claude_key)),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("max-1"));

    // `add --json` prints the same masked view.
    let added = sb
        .run(&[
            "account",
            "add",
            "openai",
            "--name",
            "openai-1",
            "--api-key",
            "sk-proj-OPENAISECRETKEYVALUE-0008",
            "--json",
        ])
        .ok();
    output += &added.all_output();
    let view = added.json();
    assert_eq!(view["name"], "openai-1");
    assert_eq!(
        view["credentials"]["api_key"],
        masked("sk-proj-OPENAISECRETKEYVALUE-0008")
    );

    for secret in [
        claude_key,
        oauth_access,
        oauth_refresh,
        chatgpt_access,
        gemini_key,
        azure_key,
        bedrock_key,
        "sk-proj-OPENAISECRETKEYVALUE-0008",
    ] {
        assert_hidden(&output, secret);
    }
}

#[test]
fn bad_account_input_fails_with_one_line_and_writes_nothing() {
    let sb = Sandbox::new();
    let key = "sk-ant-api03-BADINPUTSECRET-9999";
    let cases: &[(&[&str], &[&str])] = &[
        (
            &[
                "account",
                "add",
                "claude-max",
                "--name",
                "x",
                "--api-key",
                key,
            ],
            &["unknown account kind", "claude-max"],
        ),
        (&["account", "add", "claude", "--name", "x"], &["--api-key"]),
        (
            &["account", "add", "claude-official", "--name", "x"],
            &["--access-token"],
        ),
        (
            &["account", "add", "azure", "--name", "x", "--api-key", key],
            &["--deployment"],
        ),
        (
            &[
                "account",
                "add",
                "claude",
                "--name",
                "x",
                "--api-key",
                key,
                "--model-map",
                "opus",
            ],
            &["--model-map", "opus"],
        ),
        (
            &[
                "account",
                "add",
                "claude",
                "--name",
                "x",
                "--api-key",
                key,
                "--model-map",
                "a=b,=c",
            ],
            &["--model-map", "=c"],
        ),
        (
            &[
                "account",
                "add",
                "claude",
                "--name",
                "x",
                "--api-key",
                key,
                "--base-url",
                "relay.example.com",
            ],
            &["--base-url", "relay.example.com"],
        ),
        (
            &[
                "account",
                "add",
                "claude-official",
                "--name",
                "x",
                "--access-token",
                key,
                "--expires-at",
                "tomorrow",
            ],
            &["tomorrow"],
        ),
        (
            &["account", "add", "claude", "--name", "x", "--api-key", ""],
            &["empty"],
        ),
        // Malformed numbers are caught by the flag parser.
        (
            &[
                "account",
                "add",
                "claude",
                "--name",
                "x",
                "--api-key",
                key,
                "--priority",
                "high",
            ],
            &["--priority", "high"],
        ),
        (
            &[
                "account",
                "add",
                "claude",
                "--name",
                "x",
                "--api-key",
                key,
                "--weight",
                "-2",
            ],
            &["--weight"],
        ),
    ];
    for (args, expected) in cases {
        let run = sb.run(args);
        assert!(!run.success, "{args:?} should fail: {run:#?}");
        assert_ne!(run.code, Some(0));
        let first = run.stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("error:"), "{args:?}: {run:#?}");
        for word in *expected {
            assert!(
                first.contains(word),
                "{args:?}: `{word}` not named in {first:?}"
            );
        }
        // Our own validation errors are exactly one line; the flag parser adds a hint line.
        let lines = run.stderr.lines().filter(|l| !l.trim().is_empty()).count();
        assert!(lines <= 2, "{args:?}: {run:#?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:#?}");
        assert_hidden(&run.all_output(), key);
        assert!(sb.accounts().is_empty(), "{args:?} wrote an account");
    }

    // One of ours, checked strictly: a single line.
    let line = sb
        .run(&["account", "add", "gemini", "--name", "x"])
        .one_line_error();
    assert!(line.contains("gemini"), "{line}");

    // A duplicate name is refused by name, and the first account is kept as it was.
    sb.run(&[
        "account",
        "add",
        "claude",
        "--name",
        "dup",
        "--api-key",
        key,
    ])
    .ok();
    let line = sb
        .run(&[
            "account",
            "add",
            "claude",
            "--name",
            "dup",
            "--api-key",
            "sk-ant-api03-SECONDKEYSECRET-8888",
        ])
        .one_line_error();
    assert!(
        line.contains("dup") && line.contains("already exists"),
        "{line}"
    );
    let accounts = sb.accounts();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["credentials"]["api_key"], masked(key));
}

#[test]
fn account_set_and_remove() {
    let sb = Sandbox::new();
    sb.run(&[
        "account",
        "add",
        "claude",
        "--name",
        "a1",
        "--api-key",
        "sk-ant-api03-SETREMOVESECRET-0001",
    ])
    .ok();
    sb.run(&[
        "account",
        "add",
        "claude",
        "--name",
        "a2",
        "--api-key",
        "sk-ant-api03-SETREMOVESECRET-0002",
    ])
    .ok();

    let run = sb.run(&["account", "set", "a1", "--enabled", "false"]).ok();
    assert!(run.stdout.contains("disabled"), "{run:#?}");
    let a1 = by_name(&sb.accounts(), "a1").clone();
    assert_eq!(a1["status"], "disabled");
    assert_eq!(by_name(&sb.accounts(), "a2")["status"], "active");

    let table = sb.run(&["account", "list"]).ok().stdout;
    let row = table.lines().find(|l| l.contains("a1")).unwrap();
    assert!(row.contains("disabled"), "{table}");

    // Re-enable and change fields, selecting by id.
    let id = a1["id"].as_i64().unwrap().to_string();
    sb.run(&[
        "account",
        "set",
        &id,
        "--enabled",
        "true",
        "--priority",
        "7",
        "--models",
        "claude-haiku-*",
        "--api-key",
        "sk-ant-api03-ROTATEDSECRETKEY-0003",
    ])
    .ok();
    let a1 = by_name(&sb.accounts(), "a1").clone();
    assert_eq!(a1["status"], "active");
    assert_eq!(a1["status_reason"], Value::Null);
    assert_eq!(a1["priority"], 7);
    assert_eq!(a1["allowed_models"], serde_json::json!(["claude-haiku-*"]));
    assert_eq!(
        a1["credentials"]["api_key"],
        masked("sk-ant-api03-ROTATEDSECRETKEY-0003")
    );

    // Bad values and unknown accounts change nothing.
    let line = sb
        .run(&["account", "set", "a1", "--model-map", "nonsense"])
        .one_line_error();
    assert!(line.contains("--model-map"), "{line}");
    let line = sb
        .run(&["account", "set", "ghost", "--priority", "1"])
        .one_line_error();
    assert!(
        line.contains("ghost") && line.contains("not found"),
        "{line}"
    );
    let run = sb.run(&["account", "set", "a1", "--enabled", "maybe"]);
    assert!(!run.success);
    assert!(run.stderr.contains("--enabled"), "{run:#?}");
    assert_eq!(by_name(&sb.accounts(), "a1"), &a1);

    // Remove by name and by id.
    let run = sb.run(&["account", "remove", "a2"]).ok();
    assert!(run.stdout.contains("removed account a2"), "{run:#?}");
    sb.run(&["account", "remove", &id]).ok();
    assert!(sb.accounts().is_empty());
    let line = sb.run(&["account", "remove", "a2"]).one_line_error();
    assert!(line.contains("a2") && line.contains("not found"), "{line}");
}

// ---------------------------------------------------------------------------------------------
// keys, users, settings, usage

#[test]
fn key_create_prints_the_full_key_once_and_list_never_does() {
    let sb = Sandbox::new();
    sb.run(&["user", "add", "alice", "--password", "alice-password"])
        .ok();

    let created = sb
        .run(&["key", "create", "--name", "k1", "--user", "alice", "--json"])
        .ok();
    let v = created.json();
    let full = v["key"].as_str().unwrap().to_string();
    assert!(full.starts_with("sk-sy-") && full.len() > 20, "{full}");
    let id1 = v["id"].as_i64().unwrap();
    assert_eq!(created.all_output().matches(&full).count(), 1);

    // Without --json the key is stdout's only line, so it can be captured by a script.
    let created2 = sb
        .run(&[
            "key",
            "create",
            "--name",
            "k2",
            "--user",
            "alice",
            "--models",
            "claude-sonnet-*",
            "--expires-at",
            "2030-01-01T00:00:00Z",
        ])
        .ok();
    let full2 = created2.stdout.trim().to_string();
    assert_eq!(created2.stdout.lines().count(), 1, "{created2:#?}");
    assert!(full2.starts_with("sk-sy-"), "{full2}");
    assert_ne!(full, full2);
    assert!(!created2.stderr.contains(&full2), "{created2:#?}");

    let list = sb.run(&["key", "list", "--json"]).ok();
    let table = sb.run(&["key", "list"]).ok();
    for text in [list.all_output(), table.all_output()] {
        assert!(!text.contains(&full), "{text}");
        assert!(!text.contains(&full2), "{text}");
    }
    let keys = list.json();
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let k1 = by_name(keys, "k1");
    assert_eq!(k1["id"], id1);
    assert_eq!(k1["status"], "active");
    let prefix = k1["prefix"].as_str().unwrap();
    assert!(full.starts_with(prefix) && prefix.len() < full.len());
    let k2 = by_name(keys, "k2");
    assert_eq!(k2["allowed_models"], serde_json::json!(["claude-sonnet-*"]));
    assert!(
        k2["expires_at"]
            .as_str()
            .unwrap()
            .starts_with("2030-01-01T00:00:00")
    );

    // Revoke by id, then by prefix.
    let run = sb.run(&["key", "revoke", &id1.to_string()]).ok();
    assert!(run.stdout.contains("revoked"), "{run:#?}");
    assert_eq!(by_name(&sb.keys(), "k1")["status"], "revoked");
    assert_eq!(by_name(&sb.keys(), "k2")["status"], "active");
    let prefix2 = k2["prefix"].as_str().unwrap().to_string();
    sb.run(&["key", "revoke", &prefix2]).ok();
    assert_eq!(by_name(&sb.keys(), "k2")["status"], "revoked");

    // An ambiguous name is refused; an unknown one too.
    sb.run(&["key", "create", "--name", "twin", "--user", "alice"])
        .ok();
    sb.run(&["key", "create", "--name", "twin", "--user", "alice"])
        .ok();
    let line = sb.run(&["key", "revoke", "twin"]).one_line_error();
    assert!(line.contains("twin") && line.contains("2 keys"), "{line}");
    let twins = sb.keys();
    assert!(
        twins
            .iter()
            .filter(|k| k["name"] == "twin")
            .all(|k| k["status"] == "active")
    );
    let line = sb.run(&["key", "revoke", "nope"]).one_line_error();
    assert!(line.contains("nope"), "{line}");

    // Bad input creates nothing.
    let before = sb.keys().len();
    let line = sb
        .run(&["key", "create", "--name", "k3", "--user", "nobody"])
        .one_line_error();
    assert!(line.contains("nobody"), "{line}");
    let line = sb
        .run(&[
            "key",
            "create",
            "--name",
            "k3",
            "--user",
            "alice",
            "--expires-at",
            "next week",
        ])
        .one_line_error();
    assert!(line.contains("next week"), "{line}");
    assert_eq!(sb.keys().len(), before);
}

#[test]
fn user_add_list_and_passwd() {
    let sb = Sandbox::new();
    let run = sb.run(&["user", "add", "bob"]).ok();
    assert!(run.stdout.contains("added user bob"), "{run:#?}");
    let generated = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap_or_else(|| panic!("no generated password printed: {run:#?}"))
        .to_string();
    assert!(generated.len() >= 12, "{generated}");

    let chosen = "carol-chosen-password";
    let run = sb
        .run(&[
            "user",
            "add",
            "carol",
            "--role",
            "admin",
            "--password",
            chosen,
        ])
        .ok();
    assert!(!run.all_output().contains(chosen), "{run:#?}");
    assert!(!run.stdout.contains("password:"), "{run:#?}");

    let line = sb
        .run(&["user", "add", "dave", "--password", "short"])
        .one_line_error();
    assert!(line.contains("--password") && line.contains('8'), "{line}");
    let line = sb.run(&["user", "add", "bob"]).one_line_error();
    assert!(
        line.contains("bob") && line.contains("already exists"),
        "{line}"
    );
    let run = sb.run(&["user", "add", "eve", "--role", "root"]);
    assert!(!run.success && run.stderr.contains("root"), "{run:#?}");

    let list = sb.run(&["user", "list", "--json"]).ok();
    assert!(!list.stdout.contains("argon2"), "{list:#?}");
    assert!(!list.stdout.contains(&generated), "{list:#?}");
    let users = list.json();
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 2, "{users:#?}");
    assert_eq!(by_name(users, "bob")["role"], "user");
    assert_eq!(by_name(users, "carol")["role"], "admin");
    assert_eq!(by_name(users, "bob")["status"], "active");
    let table = sb.run(&["user", "list"]).ok().stdout;
    assert!(table.contains("bob") && table.contains("carol"), "{table}");

    let run = sb.run(&["user", "passwd", "bob"]).ok();
    let second = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap_or_else(|| panic!("no new password printed: {run:#?}"));
    assert_ne!(second, generated);
    let run = sb
        .run(&["user", "passwd", "bob", "--password", "bobs-new-password"])
        .ok();
    assert!(run.stdout.contains("password changed for bob"), "{run:#?}");
    assert!(!run.all_output().contains("bobs-new-password"), "{run:#?}");
    let line = sb
        .run(&["user", "passwd", "nobody", "--password", "long-enough-1"])
        .one_line_error();
    assert!(line.contains("nobody"), "{line}");
}

#[test]
fn settings_get_set_reset_and_list() {
    let sb = Sandbox::new();
    let rows = sb.run(&["settings", "list", "--json"]).ok().json();
    let rows = rows.as_array().unwrap().clone();
    assert!(rows.len() >= 3, "{rows:#?}");
    for row in &rows {
        assert_eq!(
            row["value"], row["default"],
            "fresh store uses defaults: {row}"
        );
        assert!(row["type"].is_string() && row["help"].is_string(), "{row}");
    }
    let keys: Vec<&str> = rows.iter().map(|r| r["key"].as_str().unwrap()).collect();
    for documented in [
        "account_health_check_enabled",
        "account_health_check_interval",
        "account_error_threshold",
    ] {
        assert!(keys.contains(&documented), "{documented} missing: {keys:?}");
    }
    let default_attempts = rows.iter().find(|r| r["key"] == "max_attempts").unwrap()["default"]
        .as_str()
        .unwrap()
        .to_string();

    let run = sb.run(&["settings", "set", "max_attempts", "5"]).ok();
    assert_eq!(run.stdout.trim(), "max_attempts = 5");
    assert_eq!(
        sb.run(&["settings", "get", "max_attempts"]).ok().stdout,
        "5\n"
    );
    sb.run(&["settings", "set", "account_health_check_enabled", "yes"])
        .ok();
    assert_eq!(
        sb.run(&["settings", "get", "account_health_check_enabled"])
            .ok()
            .stdout
            .trim(),
        "true"
    );
    let rows = sb.run(&["settings", "list", "--json"]).ok().json();
    let attempts = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "max_attempts")
        .unwrap();
    assert_eq!(attempts["value"], "5");
    let table = sb.run(&["settings", "list"]).ok().stdout;
    assert!(table.contains("max_attempts"), "{table}");

    let line = sb
        .run(&["settings", "set", "no_such_setting", "1"])
        .one_line_error();
    assert!(line.contains("no_such_setting"), "{line}");
    let line = sb
        .run(&["settings", "set", "max_attempts", "lots"])
        .one_line_error();
    assert!(
        line.contains("max_attempts") && line.contains("lots"),
        "{line}"
    );
    let line = sb
        .run(&["settings", "set", "account_health_check_enabled", "perhaps"])
        .one_line_error();
    assert!(line.contains("perhaps"), "{line}");
    let line = sb
        .run(&["settings", "get", "no_such_setting"])
        .one_line_error();
    assert!(line.contains("no_such_setting"), "{line}");
    assert_eq!(
        sb.run(&["settings", "get", "max_attempts"])
            .ok()
            .stdout
            .trim(),
        "5",
        "a rejected value changes nothing"
    );

    sb.run(&["settings", "reset", "max_attempts"]).ok();
    assert_eq!(
        sb.run(&["settings", "get", "max_attempts"])
            .ok()
            .stdout
            .trim(),
        default_attempts
    );
}

#[test]
fn usage_recent_is_an_empty_json_array_on_a_fresh_store() {
    let sb = Sandbox::new();
    let run = sb.run(&["usage", "recent", "--json"]).ok();
    assert_eq!(run.stdout.trim(), "[]");
    let run = sb.run(&["usage", "recent", "--limit", "5"]).ok();
    assert!(run.stdout.contains("(none)"), "{run:#?}");
    let run = sb.run(&["usage", "recent", "--limit", "many"]);
    assert!(!run.success && run.stderr.contains("--limit"), "{run:#?}");
}

// ---------------------------------------------------------------------------------------------
// global flags and configuration

#[test]
fn global_flags_work_before_and_after_the_subcommand() {
    let sb = Sandbox::new();
    let data = sb.data_arg();
    sb.run_raw(
        &[
            "--data-dir",
            &data,
            "account",
            "add",
            "claude",
            "--name",
            "before",
            "--api-key",
            "sk-ant-api03-GLOBALFLAGSECRET-0001",
        ],
        &[],
    )
    .ok();
    sb.run_raw(
        &[
            "account",
            "add",
            "claude",
            "--name",
            "after",
            "--api-key",
            "sk-ant-api03-GLOBALFLAGSECRET-0002",
            "--data-dir",
            &data,
        ],
        &[],
    )
    .ok();
    let between = sb
        .run_raw(&["account", "--data-dir", &data, "list", "--json"], &[])
        .ok()
        .json();
    let names: Vec<&str> = between
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["before", "after"]);

    // --database-url after the subcommand puts the database where it says.
    let db = sb.tmp.path().join("custom.db");
    let url = format!("sqlite://{}", db.display());
    sb.run_raw(
        &[
            "settings",
            "set",
            "max_attempts",
            "4",
            "--data-dir",
            &data,
            "--database-url",
            &url,
        ],
        &[],
    )
    .ok();
    assert!(db.is_file(), "database created at {}", db.display());
    let got = sb
        .run_raw(
            &[
                "--database-url",
                &url,
                "--data-dir",
                &data,
                "settings",
                "get",
                "max_attempts",
            ],
            &[],
        )
        .ok();
    assert_eq!(got.stdout.trim(), "4");
    // The default database did not get that setting.
    let default_db = sb
        .run_raw(
            &["settings", "get", "max_attempts", "--data-dir", &data],
            &[],
        )
        .ok();
    assert_ne!(default_db.stdout.trim(), "4");

    // Without --data-dir, ./data in the working directory is used.
    let here = sb.run_raw(&["account", "list", "--json"], &[]).ok().json();
    assert_eq!(here.as_array().unwrap().len(), 2);
}

#[test]
fn config_check_redacts_secrets_and_rejects_bad_configuration() {
    let sb = Sandbox::new();
    let key = "5a".repeat(32);
    let run = sb
        .run_with(
            &[
                "config",
                "check",
                "--database-url",
                "postgres://sy:db-PASSWORD-SECRET@db.internal/sy",
            ],
            &[
                ("SWITCHYARD_MASTER_KEY", &key),
                ("SWITCHYARD_LISTEN", "127.0.0.1:9999"),
            ],
            None,
        )
        .ok();
    assert!(!run.all_output().contains(&key), "{run:#?}");
    assert!(!run.all_output().contains("db-PASSWORD-SECRET"), "{run:#?}");
    assert!(run.stdout.contains("master_key = \"***\""), "{run:#?}");
    assert!(
        run.stdout.contains("listen = \"127.0.0.1:9999\""),
        "{run:#?}"
    );
    assert!(
        run.stdout.contains(&sb.data_arg()),
        "flags applied: {run:#?}"
    );
    assert!(run.stdout.contains("anthropic_api = "), "{run:#?}");

    // A config file, overridden by the environment, overridden by flags.
    let file = sb.tmp.path().join("sy.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:7001\"\nlog_level = \"debug\"\ndata_dir = \"/nonexistent/file-dir\"\n",
    )
    .unwrap();
    let file_arg = file.display().to_string();
    let run = sb
        .run_with(
            &["config", "check", "--config", &file_arg],
            &[("SWITCHYARD_LISTEN", "127.0.0.1:7002")],
            None,
        )
        .ok();
    assert!(run.stdout.contains("log_level = \"debug\""), "{run:#?}");
    assert!(
        run.stdout.contains("listen = \"127.0.0.1:7002\""),
        "{run:#?}"
    );
    assert!(!run.stdout.contains("/nonexistent/file-dir"), "{run:#?}");

    // Unknown keys, unknown variables and invalid values: one line naming them.
    std::fs::write(&file, "listne = \"127.0.0.1:7001\"\n").unwrap();
    let line = sb
        .run(&["config", "check", "--config", &file_arg])
        .one_line_error();
    assert!(line.contains("listne"), "{line}");
    let line = sb
        .run_with(&["config", "check"], &[("SWITCHYARD_BOGUS", "1")], None)
        .one_line_error();
    assert!(line.contains("SWITCHYARD_BOGUS"), "{line}");
    let line = sb
        .run_with(
            &["config", "check"],
            &[("SWITCHYARD_UPSTREAM_ANTHROPIC_API", "not a url")],
            None,
        )
        .one_line_error();
    assert!(line.contains("upstream.anthropic_api"), "{line}");
    let line = sb
        .run_with(
            &["account", "list"],
            &[("SWITCHYARD_LISTEN", "nowhere")],
            None,
        )
        .one_line_error();
    assert!(line.contains("listen"), "{line}");
}

// ---------------------------------------------------------------------------------------------
// broken environments

#[test]
fn a_wrong_master_key_is_a_clear_error_and_changes_nothing() {
    let sb = Sandbox::new();
    sb.run(&[
        "account",
        "add",
        "claude",
        "--name",
        "keyed",
        "--api-key",
        "sk-ant-api03-MASTERKEYTESTSECRET-0001",
    ])
    .ok();
    assert!(sb.data.join("master.key").is_file());
    let wrong = [("SWITCHYARD_MASTER_KEY", OTHER_MASTER_KEY)];

    for args in [
        &["account", "list", "--json"][..],
        &[
            "account",
            "add",
            "claude",
            "--name",
            "second",
            "--api-key",
            "sk-ant-api03-MASTERKEYTESTSECRET-0002",
        ][..],
    ] {
        let run = sb.run_with(args, &wrong, None);
        let line = run.one_line_error();
        assert!(line.contains("master key"), "{line}");
        assert!(!run.all_output().contains(OTHER_MASTER_KEY), "{run:#?}");
    }
    let run = sb.run_with(&["serve", "--listen", "127.0.0.1:0"], &wrong, None);
    assert!(!run.success, "{run:#?}");
    assert!(run.stderr.contains("master key"), "{run:#?}");

    // With the right key (the file) everything is as before.
    let accounts = sb.accounts();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["name"], "keyed");

    // A master key that is not a key at all is named.
    let line = sb
        .run_with(
            &["account", "list"],
            &[("SWITCHYARD_MASTER_KEY", "xyz")],
            None,
        )
        .one_line_error();
    assert!(line.contains("SWITCHYARD_MASTER_KEY"), "{line}");
}

#[test]
fn a_corrupt_database_is_a_clear_error() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(&sb.data).unwrap();
    let db = sb.data.join("switchyard.db");
    std::fs::write(&db, "garbage, not sqlite\n".repeat(400)).unwrap();
    let line = sb.run(&["account", "list"]).one_line_error();
    assert!(line.contains("not a SQLite database"), "{line}");
    assert!(line.contains("switchyard.db"), "{line}");
    let run = sb.run(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(!run.success, "{run:#?}");
    assert!(run.stderr.contains("not a SQLite database"), "{run:#?}");
    assert!(!run.stdout.contains("password"), "{run:#?}");
}

/// Whether this process can create files in `dir` despite its permissions (root can).
fn can_write_into(dir: &Path) -> bool {
    let probe = dir.join("probe");
    let ok = std::fs::write(&probe, b"x").is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

#[test]
fn an_unusable_data_directory_is_a_clear_error() {
    let sb = Sandbox::new();
    let file = sb.tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let under_file = file.join("data").display().to_string();
    let line = sb
        .run_raw(&["account", "list", "--data-dir", &under_file], &[])
        .one_line_error();
    assert!(
        line.contains("data directory") && line.contains(&under_file),
        "{line}"
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let ro = sb.tmp.path().join("read-only");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        if !can_write_into(&ro) {
            let ro_arg = ro.display().to_string();
            let line = sb
                .run_raw(&["account", "list", "--data-dir", &ro_arg], &[])
                .one_line_error();
            assert!(line.contains("not writable"), "{line}");
        }
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// serve

/// A running `switchyard serve`, killed if the test ends without stopping it.
struct Server {
    child: Child,
    addr: String,
    /// Everything printed on stdout up to and including the "listening on" line.
    banner: Vec<String>,
    stdout: mpsc::Receiver<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(sb: &Sandbox) -> Server {
        Self::start_cmd(sb, base_command(sb.tmp.path()))
    }

    /// Starts `cmd` (the binary, or a wrapper that runs it) as `serve` on `sb`.
    fn start_cmd(sb: &Sandbox, mut cmd: Command) -> Server {
        cmd.arg("--data-dir")
            .arg(&sb.data)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        let mut server = Server {
            child,
            addr: String::new(),
            banner: Vec::new(),
            stdout: rx,
            stderr: Some(stderr),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match server.stdout.recv_timeout(left) {
                Ok(line) => {
                    server.banner.push(line.clone());
                    if let Some(rest) = line.split("listening on http://").nth(1) {
                        server.addr = rest.trim().to_string();
                        break;
                    }
                }
                Err(_) => panic!(
                    "serve did not report listening; stdout so far: {:?}",
                    server.banner
                ),
            }
        }
        // Wait until it answers, so the signal handlers are in place.
        let (status, _, _) = http(&server.addr, "GET", "/healthz", &[], "");
        assert_eq!(status, 200);
        server
    }

    /// SIGTERM, then the exit status, the rest of stdout and all of stderr.
    fn stop(mut self) -> (std::process::ExitStatus, Duration, String, String) {
        let pid = self.child.id().to_string();
        let started = Instant::now();
        let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(kill.success());
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "serve did not stop within 10s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = started.elapsed();
        let stderr = self.stderr.take().unwrap().join().unwrap();
        // The process has exited: read stdout until the reader thread sees its end.
        let mut rest = Vec::new();
        loop {
            match self.stdout.recv_timeout(Duration::from_secs(5)) {
                Ok(line) => rest.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("stdout not closed after exit"),
            }
        }
        (status, took, rest.join("\n"), stderr)
    }
}

/// One HTTP/1.1 request over a fresh connection: (status, lower-cased head, body).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request += &format!("{k}: {v}\r\n");
    }
    request += "\r\n";
    request += body;
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut payload = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        payload = dechunk(&payload);
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    (status, head, String::from_utf8_lossy(&payload).into_owned())
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

/// `POST /v1/messages` with `body`: (status, body text).
fn post_messages(addr: &str, key: &str, body: &str) -> (u16, String) {
    let (status, _, text) = http(
        addr,
        "POST",
        "/v1/messages",
        &[
            ("content-type", "application/json"),
            ("anthropic-version", "2023-06-01"),
            ("x-api-key", key),
        ],
        body,
    );
    (status, text)
}

const SHORT_MESSAGE: &str =
    r#"{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#;

fn messages(addr: &str, key: &str) -> (u16, Value) {
    let (status, text) = post_messages(addr, key, SHORT_MESSAGE);
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}, body not JSON ({e}): {text}"));
    (status, json)
}

/// Signs in to the admin API of `server` and returns the bearer token.
fn sign_in(server: &Server, user: &str, password: &str) -> String {
    let body = serde_json::json!({"username": user, "password": password}).to_string();
    let (status, _, text) = http(
        &server.addr,
        "POST",
        "/api/admin/login",
        &[("content-type", "application/json")],
        &body,
    );
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    v["token"].as_str().unwrap().to_string()
}

/// An admin API call with a bearer token: (status, JSON body or null).
fn api(server: &Server, token: &str, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let (status, _, text) = http(
        &server.addr,
        method,
        &format!("/api/admin{path}"),
        &[
            ("content-type", "application/json"),
            ("authorization", &auth),
        ],
        &body.to_string(),
    );
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn serve_prints_the_admin_password_once_answers_health_and_stops_on_sigterm() {
    let sb = Sandbox::new();

    let server = Server::start(&sb);
    let banner = server.banner.join("\n");
    let password = server
        .banner
        .iter()
        .find_map(|l| l.split("one-time password: ").nth(1))
        .unwrap_or_else(|| panic!("no one-time password on first start: {banner}"))
        .trim()
        .to_string();
    assert!(password.len() >= 12, "{password}");
    assert_eq!(banner.matches(&password).count(), 1, "{banner}");

    let (status, _, body) = http(&server.addr, "GET", "/healthz", &[], "");
    assert_eq!((status, body.trim()), (200, "ok"));
    let (status, _, body) = http(&server.addr, "GET", "/readyz", &[], "");
    assert_eq!((status, body.trim()), (200, "ready"));
    let (status, head, _) = http(&server.addr, "GET", "/metrics", &[], "");
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/plain"), "{head}");

    let (exit, took, rest, stderr) = server.stop();
    assert!(exit.success(), "exit status {exit:?}; stderr: {stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");
    assert!(!rest.contains(&password), "{rest}");
    assert!(
        !stderr.contains(&password),
        "password reached the log: {stderr}"
    );

    // The admin user exists; its password hash is not printed.
    let users = sb.run(&["user", "list", "--json"]).ok().json();
    assert_eq!(users[0]["name"], "admin");
    assert_eq!(users[0]["role"], "admin");

    // The second start prints nothing secret.
    let server = Server::start(&sb);
    let banner = server.banner.join("\n");
    assert!(!banner.to_lowercase().contains("password"), "{banner}");
    let (exit, _, rest, stderr) = server.stop();
    assert!(exit.success(), "exit status {exit:?}; stderr: {stderr}");
    assert!(!rest.to_lowercase().contains("password"), "{rest}");
    assert!(!stderr.contains(&password), "{stderr}");
}

#[test]
fn serve_on_a_port_in_use_fails_naming_the_address() {
    let sb = Sandbox::new();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let run = sb.run(&["serve", "--listen", &addr]);
    assert!(!run.success, "{run:#?}");
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{run:#?}");
    assert!(errors[0].contains(&addr), "{run:#?}");
    assert!(errors[0].contains("in use"), "{run:#?}");
    drop(taken);

    let line = sb
        .run(&["serve", "--listen", "not-an-address"])
        .one_line_error();
    assert!(
        line.contains("listen") && line.contains("not-an-address"),
        "{line}"
    );
}

#[test]
fn a_first_start_that_cannot_bind_writes_no_admin_user() {
    let sb = Sandbox::new();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let run = sb.run(&["serve", "--listen", &addr]);
    assert!(!run.success, "{run:#?}");
    assert!(!run.stdout.contains("password"), "{run:#?}");
    let users = sb.run(&["user", "list", "--json"]).ok().json();
    assert_eq!(users, serde_json::json!([]), "a failed start wrote a user");
}

#[test]
fn a_user_added_before_the_first_start_still_leaves_an_admin_and_given_passwords_are_not_echoed() {
    let sb = Sandbox::new();
    // `user add` before any `serve`: the first start must still create an active admin.
    sb.run(&["user", "add", "bob"]).ok();
    let created = sb
        .run(&["key", "create", "--name", "ops", "--json"])
        .ok()
        .json();
    assert!(
        created["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("sk-sy-"))
    );
    let users = sb.run(&["user", "list", "--json"]).ok().json();
    let admins: Vec<_> = users
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["role"] == "admin" && u["status"] == "active")
        .collect();
    assert_eq!(admins.len(), 1, "{users}");

    // A password the operator gives is taken and never printed.
    let sb = Sandbox::new();
    sb.run(&["user", "add", "admin", "--role", "user"]).ok();
    let secret = "GivenAdminPassword-7319";
    let out = sb.run_with(
        &["key", "create", "--user", "admin", "--name", "k"],
        &[("SWITCHYARD_ADMIN_PASSWORD", secret)],
        None,
    );
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        !text.contains(secret),
        "the given password was echoed: {text}"
    );
    assert!(
        text.contains("admin-2"),
        "a new admin next to the `admin` user: {text}"
    );
}

#[test]
fn serve_raises_a_low_open_file_limit_to_the_hard_limit() {
    let sb = Sandbox::new();
    // Start it with a soft limit of 1,024, as many distributions do.
    let mut cmd = Command::new("prlimit");
    cmd.args(["--nofile=1024:", "--", BIN])
        .env_remove("RUST_LOG")
        .current_dir(sb.tmp.path());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SWITCHYARD_") {
            cmd.env_remove(name);
        }
    }
    let server = Server::start_cmd(&sb, cmd);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.child.id())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (soft, hard) = (fields[3], fields[4]);
    assert_eq!(soft, hard, "{line}");
    assert_ne!(soft, "1024", "{line}");
    let (exit, _, _, _) = server.stop();
    assert!(exit.success());
}

#[test]
fn cli_changes_reach_the_running_server_within_two_seconds() {
    let sb = Sandbox::new();
    let server = Server::start(&sb);

    let (status, body) = messages(&server.addr, "sk-sy-not-a-real-key-000000000000000000000");
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "authentication_error");

    let created = sb
        .run(&["key", "create", "--name", "live", "--json"])
        .ok()
        .json();
    let key = created["key"].as_str().unwrap().to_string();
    let id = created["id"].as_i64().unwrap().to_string();

    let wait_for = |want: &dyn Fn(u16) -> bool| -> (u16, Value, Duration) {
        let started = Instant::now();
        loop {
            let (status, body) = messages(&server.addr, &key);
            if want(status) || started.elapsed() > Duration::from_secs(2) {
                return (status, body, started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    // The new key is accepted; with no account configured the model is served by none: a 404
    // naming it (not a 503 that SDKs would retry).
    let (status, body, took) = wait_for(&|s| s != 401);
    assert_eq!(status, 404, "after {took:?}: {body}");
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "not_found_error", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("is not served by any account"),
        "{message}"
    );

    // Revoking it is noticed just as fast.
    sb.run(&["key", "revoke", &id]).ok();
    let (status, body, took) = wait_for(&|s| s == 401);
    assert_eq!(status, 401, "after {took:?}: {body}");
    assert_eq!(body["error"]["type"], "authentication_error");

    let (exit, _, _, stderr) = server.stop();
    assert!(exit.success(), "{stderr}");
    assert!(!stderr.contains(&key), "the key reached the log: {stderr}");
}

#[test]
fn key_policy_groups_and_user_limits_from_the_cli() {
    let sb = Sandbox::new();
    sb.run(&["user", "add", "bob", "--password", "bob-password"])
        .ok();
    sb.run(&[
        "account",
        "add",
        "claude",
        "--name",
        "a1",
        "--api-key",
        "sk-ant-a1",
    ])
    .ok();
    sb.run(&[
        "account",
        "add",
        "claude",
        "--name",
        "a2",
        "--api-key",
        "sk-ant-a2",
    ])
    .ok();
    sb.run(&["group", "create", "team", "--description", "team accounts"])
        .ok();
    sb.run(&["group", "add", "team", "a1", "a2"]).ok();
    let groups = sb.run(&["group", "list", "--json"]).ok().json();
    assert_eq!(groups[0]["name"], "team");
    assert_eq!(groups[0]["account_ids"].as_array().unwrap().len(), 2);

    sb.run(&[
        "key",
        "create",
        "--name",
        "bound",
        "--user",
        "bob",
        "--models",
        "claude-*,gpt-5?",
        "--clients",
        "claude-code,codex_cli",
        "--dialects",
        "anthropic,openai-responses",
        "--expires-in",
        "30d",
        "--concurrency",
        "2",
        "--rpm",
        "60",
        "--tpm",
        "100000",
        "--daily-usd",
        "5",
        "--weekly-usd",
        "20",
        "--total-usd",
        "100",
        "--group",
        "team",
        "--pool-fallback",
        "true",
    ])
    .ok();
    let k = sb.run(&["key", "show", "bound", "--json"]).ok().json();
    assert_eq!(
        k["allowed_models"],
        serde_json::json!(["claude-*", "gpt-5?"])
    );
    assert_eq!(
        k["allowed_clients"],
        serde_json::json!(["claude_code", "codex_cli"])
    );
    assert_eq!(k["expires_after_seconds"], 30 * 86_400);
    assert_eq!(k["rate_limit_per_minute"], 60);
    assert_eq!(k["weekly_cost_limit_usd"], 20.0);
    assert_eq!(k["bound_group_id"], groups[0]["id"]);
    assert_eq!(k["pool_fallback"], true);

    // `set` changes only what it is given; `none` clears; binding to an account replaces
    // the group binding.
    sb.run(&[
        "key",
        "set",
        "bound",
        "--daily-usd",
        "none",
        "--rpm",
        "0",
        "--account",
        "a2",
    ])
    .ok();
    let k = sb.run(&["key", "show", "bound", "--json"]).ok().json();
    assert_eq!(k["daily_cost_limit_usd"], Value::Null);
    assert_eq!(k["rate_limit_per_minute"], 0);
    assert_eq!(k["tpm"], Value::Null, "no stray fields");
    assert_eq!(k["tokens_per_minute"], 100_000);
    assert_eq!(k["bound_group_id"], Value::Null);
    assert!(k["bound_account_id"].is_i64());

    // Bad input: one clear line, nothing changed.
    let e = sb
        .run(&["key", "set", "bound", "--clients", "cursor"])
        .one_line_error();
    assert!(e.contains("unknown client `cursor`"), "{e}");
    let e = sb
        .run(&["key", "set", "bound", "--daily-usd", "-3"])
        .one_line_error();
    assert!(e.contains("--daily-usd"), "{e}");
    let e = sb
        .run(&["key", "set", "bound", "--expires-in", "soon"])
        .one_line_error();
    assert!(e.contains("--expires-in"), "{e}");
    let e = sb.run(&["account", "remove", "a2"]).one_line_error();
    assert!(e.contains("bound"), "{e}");

    sb.run(&[
        "user",
        "set",
        "bob",
        "--enabled",
        "false",
        "--concurrency",
        "3",
        "--daily-usd",
        "10",
    ])
    .ok();
    let users = sb.run(&["user", "list", "--json"]).ok().json();
    let bob = by_name(users.as_array().unwrap(), "bob");
    assert_eq!(bob["status"], "disabled");
    assert_eq!(bob["limits"]["concurrency_limit"], 3);
    assert_eq!(bob["limits"]["daily_cost_limit_usd"], 10.0);
    sb.run(&["group", "remove", "team", "a1"]).ok();
    sb.run(&["group", "delete", "team"]).ok();
}

#[path = "cli_durability/mod.rs"]
mod durability;
#[path = "cli_fronts/mod.rs"]
mod fronts;
#[path = "cli_onboarding/mod.rs"]
mod onboarding;
#[path = "cli_scaleout/mod.rs"]
mod scaleout;
#[path = "cli_secrets/mod.rs"]
mod secrets;
