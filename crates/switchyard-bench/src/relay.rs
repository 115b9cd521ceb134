//! The Switchyard process under test: find (or build) the release binary, set up a data
//! directory with the CLI, run `switchyard serve` as a child, stop it with SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::Instant;

use crate::client::{self, HttpClient};

/// Anthropic API key of the benchmark's `claude` account (the mock accepts any).
pub const UPSTREAM_KEY: &str = "sk-ant-bench";
/// API key of the benchmark's `openai` account.
pub const OPENAI_UPSTREAM_KEY: &str = "sk-bench";

/// The release `switchyard` binary: built with cargo when the harness itself was started by
/// cargo (so it is never stale), then found next to the harness's own executable.
pub fn locate(explicit: Option<PathBuf>, build: bool) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        if !path.is_file() {
            bail!("--switchyard {}: no such file", path.display());
        }
        return Ok(path);
    }
    let exe = std::env::current_exe().context("cannot find the harness's own executable")?;
    let dir = exe
        .parent()
        .context("the harness's executable has no directory")?;
    let bin = dir.join("switchyard");
    if build && let Some(cargo) = std::env::var_os("CARGO") {
        // Started by `cargo run`: build the relay into the same target directory and profile.
        let target_dir = dir
            .parent()
            .context("the harness's executable is not in a target directory")?;
        let profile = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("release");
        println!("building switchyard ({profile}) …");
        let mut cmd = Command::new(cargo);
        cmd.arg("build")
            .arg("-p")
            .arg("switchyard")
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile == "release" {
            cmd.arg("--release");
        } else if profile != "debug" {
            cmd.arg("--profile").arg(profile);
        }
        let status = cmd.status().context("cannot run cargo")?;
        if !status.success() {
            bail!("cargo build -p switchyard failed");
        }
    }
    if !bin.is_file() {
        bail!(
            "{} not found: run the harness with `cargo run --release -p switchyard-bench`, \
             or build both with `cargo build --release -p switchyard -p switchyard-bench`, \
             or pass --switchyard PATH",
            bin.display()
        );
    }
    Ok(bin)
}

/// A running Switchyard.
pub struct Relay {
    child: Child,
    pub pid: u32,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The `sk-sy-…` key clients present.
    pub key: String,
    /// Why the OpenAI Chat scenario cannot run, if it cannot.
    pub chat_unavailable: Option<String>,
    log: PathBuf,
    _data: tempfile::TempDir,
}

/// Extra `SWITCHYARD_*` settings for every command (e.g. a PostgreSQL and Redis setup).
pub type Env = [(String, String)];

fn cli(
    bin: &Path,
    data: &Path,
    mock_url: &str,
    env: &Env,
    args: &[&str],
) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("SWITCHYARD_UPSTREAM_ANTHROPIC_API", mock_url)
        .env("SWITCHYARD_LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "switchyard {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl Relay {
    /// Sets up a fresh data directory (one `claude` account and, when the build has the kind,
    /// one `openai` account serving `gpt-*`, both pointing at the mock; one key) and starts
    /// `serve`.
    pub async fn start(bin: &Path, mock_url: &str, env: &Env) -> anyhow::Result<Relay> {
        let data = tempfile::Builder::new()
            .prefix("switchyard-bench-")
            .tempdir()?;
        let d = data.path();
        cli(
            bin,
            d,
            mock_url,
            env,
            &[
                "account",
                "add",
                "claude",
                "--name",
                "bench",
                "--api-key",
                UPSTREAM_KEY,
            ],
        )?;
        let openai_base = format!("{mock_url}/v1");
        let chat_unavailable = cli(
            bin,
            d,
            mock_url,
            env,
            &[
                "account",
                "add",
                "openai",
                "--name",
                "bench-openai",
                "--api-key",
                OPENAI_UPSTREAM_KEY,
                "--base-url",
                &openai_base,
                // So a Chat request for a Claude model is converted to the Claude account
                // (the converted scenario), not sent natively here.
                "--models",
                "gpt-*",
            ],
        )
        .err()
        .map(|e| format!("cannot add an openai account: {e}"));
        let created = cli(
            bin,
            d,
            mock_url,
            env,
            &["key", "create", "--name", "bench", "--json"],
        )?;
        let key = serde_json::from_str::<serde_json::Value>(&created)
            .ok()
            .and_then(|v| v.get("key")?.as_str().map(str::to_owned))
            .with_context(|| format!("unexpected `key create --json` output: {created}"))?;

        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let log = d.join("serve.log");
        let log_file = std::fs::File::create(&log)?;
        let child = Command::new(bin)
            .arg("--data-dir")
            .arg(d)
            .args(["serve", "--listen", &listen])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("SWITCHYARD_UPSTREAM_ANTHROPIC_API", mock_url)
            .env("SWITCHYARD_LOG_LEVEL", "warn")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {} serve", bin.display()))?;
        let pid = child.id();
        let mut relay = Relay {
            child,
            pid,
            base: format!("http://{listen}"),
            key,
            chat_unavailable,
            log,
            _data: data,
        };
        relay.wait_ready().await?;
        Ok(relay)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let http = client::new_client();
        let url = format!("{}/readyz", self.base);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "switchyard serve exited ({status}) before it was ready:\n{}",
                    self.log_tail()
                );
            }
            if let Ok((200, _)) = client::get(&http, &url).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "switchyard serve not ready after 30 s:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines Switchyard logged.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// `/metrics` text.
    pub async fn metrics(&self, http: &HttpClient) -> anyhow::Result<String> {
        let (status, body) = client::get(http, &format!("{}/metrics", self.base)).await?;
        if status != 200 {
            bail!("/metrics answered {status}");
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// SIGTERM, then up to 15 s for a clean exit (in-flight drain, usage flush), then SIGKILL.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    println!("switchyard exited with {status}");
                }
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!("switchyard did not stop within 15 s of SIGTERM; killing it");
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // On an early error the child must not outlive the harness.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
