//! `switchyard serve`.

use std::io::IsTerminal;
use switchyard_server::config::LogFormat;
use switchyard_server::{App, Config};

#[derive(clap::Args)]
pub struct Args {
    /// Listen address (default 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<String>,
}

pub async fn run(mut config: Config, args: Args) -> anyhow::Result<()> {
    if let Some(l) = &args.listen {
        config.set("listen", l)?;
    }
    init_tracing(&config);
    raise_open_file_limit();
    let store = super::open_store(&config).await?;
    // Bind first: a start that cannot listen must not create (and print) the admin user.
    let app = App::build(config, store.clone()).await?;
    // Listen for Ctrl-C / SIGTERM before announcing the address, so a signal sent as soon as
    // the server is reachable still shuts it down cleanly.
    let shutdown = shutdown_signal()?;
    if let Some(admin) = switchyard_server::bootstrap::ensure_admin(store.as_ref()).await? {
        // Printed once, when the admin is created; never logged.
        println!("{}", admin.announcement());
        println!("(change it with `switchyard user passwd {}`)", admin.name);
    }
    tracing::info!(addr = %app.local_addr(), "switchyard listening");
    println!("switchyard listening on http://{}", app.local_addr());
    app.run_until_stopped(shutdown).await;
    store.close().await;
    tracing::info!("switchyard stopped");
    Ok(())
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}

/// Registers the signal handlers now and returns the future that resolves on the first one.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    #[cfg(unix)]
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing in-flight requests");
    })
}

/// Every stream holds two descriptors (client and upstream): a soft limit of 1,024 would turn a
/// busy evening into refused connections blamed on upstream accounts. The soft limit is raised
/// to the hard one at start, and both are logged.
fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let before = getrlimit(Resource::Nofile);
    if before.current == before.maximum {
        tracing::info!(soft = ?before.current, hard = ?before.maximum, "open-file limit");
        return;
    }
    let raised = rustix::process::Rlimit {
        current: before.maximum,
        maximum: before.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            tracing::info!(soft_before = ?before.current, soft = ?before.maximum, hard = ?before.maximum, "open-file limit raised to the hard limit")
        }
        Err(e) => {
            tracing::warn!(soft = ?before.current, hard = ?before.maximum, error = %e, "cannot raise the open-file limit")
        }
    }
}
