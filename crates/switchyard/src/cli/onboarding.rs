//! `switchyard account login|import|export`: fronts over the server's `ops::oauth` and
//! `ops::import`, which validate, store and audit.

use anyhow::{Context, bail};
use std::io::{BufRead, Read, Write};
use std::sync::Arc;
use switchyard_core::account::AccountKind;
use switchyard_server::Config;
use switchyard_server::ops::oauth::{self, Finished, LoginRequest};
use switchyard_store::Store;

use super::CliOps;
use super::output;

#[derive(clap::Args)]
pub struct LoginArgs {
    /// claude-official, openai-responses or gemini.
    #[arg(value_parser = parse_kind, required_unless_present_any = ["code", "account"])]
    kind: Option<AccountKind>,
    /// Name of the new account.
    #[arg(long)]
    name: Option<String>,
    /// Re-authorise this existing account (name or id): it keeps its id, groups and keys.
    #[arg(long)]
    account: Option<String>,
    /// Proxy URL or proxy name for the account; the sign-in itself goes through it too.
    #[arg(long)]
    proxy: Option<String>,
    /// Claude only: the long-lived setup token (inference only, no refresh token, ~1 year).
    #[arg(long)]
    setup_token: bool,
    /// Claude only: sign in from a claude.ai sessionKey cookie, no browser step (`-`: stdin).
    #[arg(long)]
    session_key: Option<String>,
    /// Print the URL and state and exit; finish later with `--code`.
    #[arg(long)]
    no_wait: bool,
    /// Finish a sign-in with what the provider showed: the code, code#state, or the URL.
    #[arg(long)]
    code: Option<String>,
    /// The state printed at the start (not needed when --code carries it).
    #[arg(long)]
    state: Option<String>,
    #[arg(long)]
    priority: Option<i32>,
    #[arg(long)]
    weight: Option<u32>,
    /// Models served (comma list; `prefix*` allowed).
    #[arg(long)]
    models: Option<String>,
    #[arg(long)]
    max_concurrency: Option<u32>,
    #[arg(long)]
    json: bool,
}

fn parse_kind(s: &str) -> Result<AccountKind, String> {
    s.parse()
        .map_err(|e: switchyard_core::account::UnknownKind| e.to_string())
}

fn print_finished(f: &Finished, json: bool) -> anyhow::Result<()> {
    if json {
        return output::json(f);
    }
    let who = [&f.email, &f.organization, &f.plan]
        .iter()
        .filter_map(|v| v.as_deref())
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "{} account {} ({}, id {}){}",
        if f.created { "added" } else { "re-authorised" },
        f.account.name,
        f.account.kind,
        f.account.id,
        if who.is_empty() {
            String::new()
        } else {
            format!(": {who}")
        }
    );
    if let Some(p) = &f.project {
        println!("Code Assist project: {p}");
    }
    if let Some(n) = &f.note {
        eprintln!("note: {n}");
    }
    Ok(())
}

pub async fn login(store: Arc<dyn Store>, args: LoginArgs, config: Config) -> anyhow::Result<()> {
    let ops = CliOps::new(&config)?;
    let ctx = ops.ctx(store.as_ref());
    if let Some(code) = &args.code {
        let f = oauth::finish(&ctx, args.state.as_deref(), code).await?;
        return print_finished(&f, args.json);
    }
    let req = LoginRequest {
        kind: args.kind,
        setup_token: args.setup_token,
        name: args.name,
        account: args.account,
        proxy: args.proxy,
        priority: args.priority,
        weight: args.weight,
        allowed_models: args.models.as_deref().map(super::list).unwrap_or_default(),
        max_concurrency: args.max_concurrency,
    };
    if let Some(key) = args.session_key {
        let key = if key == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the session key from stdin")?;
            text.trim().to_string()
        } else {
            key
        };
        let f = oauth::session_key_login(&ctx, req, &key).await?;
        return print_finished(&f, args.json);
    }
    let started = oauth::start(&ctx, req).await?;
    if args.no_wait {
        if args.json {
            return output::json(&started);
        }
        println!("{}", started.url);
        println!("state: {}", started.state);
        println!(
            "finish before {} with: switchyard account login --code '<code, code#state or URL>' --state {}",
            started.expires_at.to_rfc3339(),
            started.state
        );
        return Ok(());
    }
    let mut err = std::io::stderr();
    writeln!(
        err,
        "Open this URL in your browser and sign in:\n\n{}\n\nThen paste the code it shows, or the whole URL the browser was sent to (it may fail to load; copy it anyway):",
        started.url
    )?;
    err.flush()?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the pasted answer")?;
    if line.trim().is_empty() {
        bail!("nothing was pasted; the sign-in was not finished");
    }
    let f = oauth::finish(&ctx, Some(&started.state), line.trim()).await?;
    print_finished(&f, args.json)
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// Claude Code's .credentials.json, Codex's auth.json, Gemini CLI's oauth_creds.json, or
    /// a file from `switchyard account export`.
    file: std::path::PathBuf,
    /// The account kind, when the file could be read as another.
    #[arg(long, value_parser = parse_kind)]
    kind: Option<AccountKind>,
    /// Name of the new account (credential files only).
    #[arg(long)]
    name: Option<String>,
    /// Proxy URL or proxy name for the new account (credential files only).
    #[arg(long)]
    proxy: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Print JSON (the only format; accepted for scripts that always pass it).
    #[arg(long)]
    json: bool,
    /// Include tokens, keys and proxy passwords. The file is then written with mode 0600.
    #[arg(long)]
    include_secrets: bool,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    output: Option<std::path::PathBuf>,
}

pub async fn import(store: Arc<dyn Store>, args: ImportArgs, config: Config) -> anyhow::Result<()> {
    let content = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let ops = CliOps::new(&config)?;
    let report = switchyard_server::ops::import::import(
        &ops.ctx(store.as_ref()),
        &content,
        &switchyard_server::ops::import::ImportOptions {
            kind: args.kind,
            name: args.name,
            proxy: args.proxy,
        },
    )
    .await?;
    if args.json {
        return output::json(&report);
    }
    println!("found {}", report.found);
    for a in &report.accounts {
        println!("imported account {} ({}, id {})", a.name, a.kind, a.id);
    }
    Ok(())
}

pub async fn export(store: Arc<dyn Store>, args: ExportArgs, config: Config) -> anyhow::Result<()> {
    let _ = args.json;
    let ops = CliOps::new(&config)?;
    let file =
        switchyard_server::ops::import::export(&ops.ctx(store.as_ref()), args.include_secrets)
            .await?;
    let text = serde_json::to_string_pretty(&file)?;
    match &args.output {
        Some(path) => {
            write_private(path, &text, args.include_secrets)
                .with_context(|| format!("writing {}", path.display()))?;
            if args.include_secrets {
                eprintln!(
                    "warning: {} holds account secrets in plain text (written with mode 0600); keep it safe and delete it when done",
                    path.display()
                );
            }
            eprintln!(
                "exported {} account(s) to {}",
                file.accounts.len(),
                path.display()
            );
        }
        None => {
            if args.include_secrets {
                eprintln!(
                    "warning: the output holds account secrets in plain text; write it with --output FILE (mode 0600) rather than to a terminal or a shared file"
                );
            }
            println!("{text}");
        }
    }
    Ok(())
}

/// Creates the file (0600 when it holds secrets) and writes `text`.
fn write_private(path: &std::path::Path, text: &str, secret: bool) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    if secret {
        // An existing file keeps its mode on open: tighten it too.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")
}
