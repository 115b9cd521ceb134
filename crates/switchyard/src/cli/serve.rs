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
    switchyard_server::connections::raise_open_file_limit();
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
