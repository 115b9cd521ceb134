//! The application value: build, bind, serve, drain.

use axum::Router;
use axum::routing::get;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use switchyard_store::Store;
use switchyard_store::coord::{Coordinator, Scope};
use switchyard_store::usage_writer::UsageWriter;
use switchyard_upstream::ClientPool;
use switchyard_upstream::tokens::TokenManager;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::relay;
use crate::state::{AppState, Snapshot, StorePersist, refresher};
use crate::{health, metrics};

const USAGE_CHANNEL: usize = 8192;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
    #[error("{0}")]
    Store(#[from] switchyard_store::StoreError),
    #[error("{0}")]
    Client(#[from] switchyard_upstream::client::ClientError),
    #[error("{0}")]
    Redis(#[from] switchyard_store::coord::RedisSetupError),
}

/// The upstream hosts the adapters and probes use, from the configuration.
pub fn upstream_hosts(config: &Config) -> switchyard_upstream::UpstreamHosts {
    switchyard_upstream::UpstreamHosts {
        anthropic_api: config.upstream.anthropic_api.clone(),
        claude_oauth_token_url: config.upstream.claude_oauth_token_url.clone(),
        claude_ai: config.upstream.claude_ai.clone(),
        chatgpt: config.upstream.chatgpt.clone(),
        openai_auth: config.upstream.openai_auth.clone(),
        openai_api: config.upstream.openai_api.clone(),
        gemini_api: config.upstream.gemini_api.clone(),
        code_assist: config.upstream.code_assist.clone(),
        google_oauth: config.upstream.google_oauth.clone(),
        bedrock_runtime: config.upstream.bedrock_runtime.clone(),
    }
}

/// The coordination the configuration asks for: alone, or shared through Redis. A Redis that
/// does not answer at start is reported, not fatal: the instance starts degraded (ADR 0015).
async fn coordinator(config: &Config) -> Result<Coordinator, AppError> {
    let Some(url) = &config.redis_url else {
        return Ok(Coordinator::local());
    };
    let lease = Duration::from_secs(config.redis_lease_seconds);
    let shared = switchyard_store::coord::Shared::new(url, &config.redis_prefix, lease)?;
    match shared.ping().await {
        Ok(took) => {
            tracing::info!(round_trip_us = took.as_micros() as u64, prefix = %config.redis_prefix,
            "coordinating through Redis")
        }
        Err(e) => tracing::error!(error = %e,
            "Redis does not answer at start: coordinating alone until it does"),
    }
    Ok(Coordinator::shared(shared))
}

pub struct App {
    listener: TcpListener,
    state: Arc<AppState>,
    writer: UsageWriter,
}

impl App {
    pub async fn build(config: Config, store: Arc<dyn Store>) -> Result<Self, AppError> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| AppError::Bind {
                addr: config.listen,
                reason: if e.kind() == std::io::ErrorKind::AddrInUse {
                    "address already in use".into()
                } else {
                    e.to_string()
                },
            })?;
        // Records a previous run could not store before it stopped come first (they count
        // towards cost limits too).
        let replayed =
            switchyard_store::usage_writer::replay_spills(store.as_ref(), &config.data_dir).await;
        if replayed > 0 {
            tracing::warn!(
                records = replayed,
                "usage records from the last run's spill file stored"
            );
        }
        let snapshot = Snapshot::load(store.as_ref()).await?;
        // Cost limits start from what was recorded before this start.
        let limits = crate::limits::Limits::default();
        let periods =
            crate::limits::Periods::at(chrono::Utc::now(), snapshot.settings.cost_limit_timezone);
        let spend = store.spend(periods.day, periods.week).await?;
        limits.seed(&spend, &periods);
        let (usage, writer) =
            UsageWriter::spawn(store.clone(), USAGE_CHANNEL, config.data_dir.clone());
        let hosts = upstream_hosts(&config);
        let body_budget = crate::relay::body::BodyBudget::new(config.body_budget_bytes);
        // Installs the TLS provider a `rediss://` connection needs, too.
        let clients = ClientPool::new(Duration::from_secs(config.timeouts.connect_seconds))?;
        let coord = coordinator(&config).await?;
        if let Some(shared) = coord.shared_side()
            && shared.begin_seeding()
        {
            // Raises the shared cost counters to what the store has recorded (never lowers
            // what other running instances have counted since).
            let now = chrono::Utc::now();
            shared
                .seed_spend(&spend, &crate::relay::admit::counter_periods(now, &periods))
                .await;
        }
        let state = Arc::new(AppState {
            clients,
            tokens: TokenManager::new(Arc::new(StorePersist {
                store: store.clone(),
            })),
            config: Arc::new(config),
            store,
            snapshot: arc_swap::ArcSwap::from_pointee(snapshot),
            coord,
            limits,
            usage,
            hosts,
            metrics: metrics::install(),
            reload: Default::default(),
            quotas: Default::default(),
            health: Default::default(),
            pending_states: Default::default(),
            shutdown: tokio::sync::watch::channel(false).0,
            projects: switchyard_upstream::gemini::CodeAssistProjects::new(),
            body_budget,
            tasks: tokio_util::task::TaskTracker::new(),
        });
        Ok(Self {
            listener,
            state,
            writer,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.state.config.listen)
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    pub fn router(state: Arc<AppState>) -> Router {
        Router::new()
            .route("/healthz", get(health::healthz))
            .route("/readyz", get(health::readyz))
            .route("/metrics", get(health::metrics))
            .merge(relay::routes())
            .merge(crate::admin_api::routes(state.clone()))
            .merge(crate::console::routes())
            .fallback(relay::not_found)
            .method_not_allowed_fallback(relay::method_not_allowed)
            .with_state(state)
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish (up to the
    /// configured grace period) and flushes every pending usage record.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let App {
            listener,
            state,
            writer,
        } = self;
        let background = state.tasks.spawn(refresher(state.clone()));
        let health = state.tasks.spawn(crate::health_check::run(state.clone()));
        let notices = state
            .tasks
            .spawn(crate::state::follow_changes(state.clone()));
        let coordination = state
            .coord
            .shared_side()
            .map(|shared| state.tasks.spawn(shared.clone().maintain()));
        let grace = Duration::from_secs(state.config.timeouts.shutdown_grace_seconds);
        let router = Self::router(state.clone());
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let limits = crate::connections::ConnectionLimits {
            header: Duration::from_secs(state.config.timeouts.client_header_seconds),
            keepalive: Duration::from_secs(state.config.timeouts.client_keepalive_seconds),
            max_connections: match state.config.max_connections {
                0 => crate::connections::default_max_connections(),
                n => n,
            },
        };
        tracing::debug!(max_connections = limits.max_connections, "listening");
        let served = crate::connections::serve(listener, router, limits, async move {
            shutdown.await;
            let _ = stopping_tx.send(());
        });
        tokio::pin!(served);
        tokio::select! {
            _ = &mut served => {}
            _ = async { let _ = stopping_rx.await; tokio::time::sleep(grace).await; } => {
                // Streams still open after the grace period end now, cleanly, and settle.
                tracing::warn!("shutdown grace period over; ending open streams");
                state.shutdown.send_replace(true);
                if tokio::time::timeout(Duration::from_secs(10), &mut served).await.is_err() {
                    tracing::warn!("connections still open after ending streams");
                }
            }
        }
        // Every admitted request holds a key slot until its usage record is queued.
        let drained = async {
            while state.coord.total(Scope::Key) > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(5), drained)
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = state.coord.total(Scope::Key),
                "requests still unsettled at shutdown"
            );
        }
        // The loops stop; writes, recounts and webhooks they or requests started finish.
        background.abort();
        health.abort();
        notices.abort();
        if let Some(task) = coordination {
            // Leases still held expire on their own; releases queued so far are not waited for.
            task.abort();
        }
        state.tasks.close();
        if tokio::time::timeout(grace, state.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                running = state.tasks.len(),
                "background tasks still running at shutdown"
            );
        }
        drop(state);
        writer.close().await;
    }
}
