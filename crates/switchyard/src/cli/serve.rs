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
    let store = super::open_store(&config).await?;
    // Bind first: a start that cannot listen must not create (and print) the admin user.
    let app = App::build(config, store.clone()).await?;
    if let Some(password) = switchyard_server::bootstrap::ensure_admin(store.as_ref()).await? {
        // Printed once, on the first start only; never logged.
        println!("created admin user `admin` with one-time password: {password}");
        println!("(change it with `switchyard user passwd admin`)");
    }
    tracing::info!(addr = %app.local_addr(), "switchyard listening");
    println!("switchyard listening on http://{}", app.local_addr());
    app.run_until_stopped(shutdown_signal()).await;
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

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
