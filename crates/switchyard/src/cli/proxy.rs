//! `switchyard proxy add|list|set|remove|test`: a front over the server's
//! `ops::proxies`, which validates, stores and audits.

use clap::Subcommand;
use std::sync::Arc;
use switchyard_server::Config;
use switchyard_server::ops::proxies;
use switchyard_store::Store;

use super::{CliOps, output};

#[derive(Subcommand)]
pub enum Command {
    /// Add a named proxy: http://, https://, socks5:// or socks5h:// (the proxy resolves
    /// names), optionally with user:password@ (stored encrypted).
    Add {
        name: String,
        url: String,
        #[arg(long)]
        json: bool,
    },
    /// List proxies (credentials hidden) and the accounts using each.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Change a proxy's URL.
    Set {
        name: String,
        url: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove a proxy; refused while accounts use it unless --force (they then fall back to
    /// default_proxy, or go direct).
    Remove {
        name: String,
        #[arg(long)]
        force: bool,
    },
    /// Connect through a proxy (a name or a URL) and report latency and exit address.
    Test {
        proxy: String,
        /// What to fetch (default: a public service that echoes the caller's address).
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn print_one(v: &proxies::ProxyView, json: bool) -> anyhow::Result<()> {
    if json {
        return output::json(v);
    }
    println!("proxy {} = {}", v.name, v.url);
    Ok(())
}

pub async fn run(store: Arc<dyn Store>, cmd: Command, config: Config) -> anyhow::Result<()> {
    let ops = CliOps::new(&config)?;
    let ctx = ops.ctx(store.as_ref());
    match cmd {
        Command::Add { name, url, json } => {
            print_one(&proxies::add(&ctx, &name, &url).await?, json)
        }
        Command::Set { name, url, json } => {
            print_one(&proxies::set(&ctx, &name, &url).await?, json)
        }
        Command::List { json } => {
            let all = proxies::list(&ctx).await?;
            if json {
                return output::json(&all);
            }
            output::table(
                &["name", "url", "default", "accounts"],
                all.iter()
                    .map(|p| {
                        vec![
                            p.name.clone(),
                            p.url.clone(),
                            if p.default { "yes" } else { "" }.to_string(),
                            p.accounts.join(","),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        Command::Remove { name, force } => {
            let r = proxies::remove(&ctx, &name, force).await?;
            println!("removed proxy {}", r.name);
            if !r.reassigned.is_empty() {
                println!(
                    "accounts now without a proxy of their own: {}",
                    r.reassigned.join(", ")
                );
            }
            if r.default_reset {
                println!("default_proxy was reset (accounts without a proxy now go direct)");
            }
            Ok(())
        }
        Command::Test { proxy, url, json } => {
            let r = proxies::test(&ctx, &proxy, url.as_deref()).await?;
            if json {
                output::json(&r)?;
            } else if r.ok {
                println!(
                    "ok: {} via {} in {} ms (status {}){}",
                    r.target,
                    r.proxy,
                    r.latency_ms,
                    output::opt(&r.status),
                    r.exit_address
                        .as_deref()
                        .map(|a| format!(", exit address {a}"))
                        .unwrap_or_default()
                );
            } else {
                println!(
                    "failed: {} via {} after {} ms: {}",
                    r.target,
                    r.proxy,
                    r.latency_ms,
                    output::opt(&r.error)
                );
            }
            if r.ok {
                Ok(())
            } else {
                anyhow::bail!("the proxy test failed")
            }
        }
    }
}
