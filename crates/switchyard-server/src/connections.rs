//! The listener: accepts client connections and serves them with hyper, with the limits a
//! server on an open port needs. (axum's `serve` has none of them: a silent socket, a header
//! sent a byte every few seconds or an idle keep-alive connection was held forever, and enough
//! of them used up every file descriptor.)
//!
//! - A new connection must deliver a whole request head within `client_header_seconds` of
//!   being accepted; bytes trickling in do not extend it. hyper's own header timer bounds the
//!   head of every later request on a keep-alive connection the same way.
//! - A connection with no request in flight is closed `client_keepalive_seconds` after its
//!   last response ended. A request in flight (a long stream included) is never cut by these
//!   timers; the relay's own timeouts govern it.
//! - At most `max_connections` are open at once. At the cap the connection idle longest (no
//!   request in flight) is closed to make room, so a flood of silent sockets cannot keep
//!   clients out; when every connection has a request in flight the listener stops accepting
//!   and newcomers wait in the kernel's backlog instead of taking descriptors the open requests
//!   need for their upstreams. The episode is logged once and counted.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, Sleep};

use crate::metrics;

/// What the listener enforces, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header: Duration,
    pub keepalive: Duration,
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets every open connection
/// finish its requests (idle ones close at once) and returns when the last one has closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let (closing, _) = watch::channel(false);
    let open = Arc::new(OpenConnections::default());
    tokio::pin!(shutdown);
    // The cap is logged at most once a minute; the metric counts every time it is reached.
    let mut warned: Option<Instant> = None;
    'accepting: loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        let (tcp, remote) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                accept_failed(&e).await;
                continue;
            }
        };
        // The newcomer is held (one descriptor over the cap at most) while room is made.
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                ::metrics::counter!(metrics::CONNECTION_CAP_REACHED).increment(1);
                if warned.is_none_or(|at| at.elapsed() > Duration::from_secs(60)) {
                    warned = Some(Instant::now());
                    tracing::warn!(
                        max_connections = max,
                        "connection cap reached: idle connections are closed to make room; \
                         when none is idle, new connections wait in the listen backlog"
                    );
                }
                loop {
                    open.evict_idlest();
                    tokio::select! {
                        slot = slots.clone().acquire_owned() => match slot {
                            Ok(slot) => break slot,
                            Err(_) => break 'accepting,
                        },
                        // A connection busy now may be idle soon.
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                        _ = &mut shutdown => break 'accepting,
                    }
                }
            }
        };
        // SSE events are small writes: without TCP_NODELAY the last ones of a stream wait for
        // the client's delayed ACK (~40 ms per stream).
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let mut closing = closing.subscribe();
        let activity = Arc::new(Activity::new());
        let id = open.add(activity.clone());
        let open = open.clone();
        #[allow(
            clippy::disallowed_methods,
            reason = "each connection holds a slot, and `serve` returns only once every slot is back"
        )]
        tokio::spawn(async move {
            let _slot = slot;
            let gauge = ::metrics::gauge!(metrics::CONNECTIONS_OPEN);
            gauge.increment(1.0);
            serve_connection(tcp, remote, router, limits, activity, &mut closing).await;
            open.remove(id);
            gauge.decrement(1.0);
        });
    }
    drop(listener);
    closing.send_replace(true);
    // Every connection holds one slot until it has closed.
    let _all = slots.acquire_many(max as u32).await;
}

/// An accept error is about this process or machine, not about a client: out of descriptors
/// most of all. It is said loudly, and the loop pauses so it does not spin.
async fn accept_failed(e: &io::Error) {
    use rustix::io::Errno;
    let pause = match Errno::from_io_error(e) {
        Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM) => {
            tracing::error!(error = %e, "cannot accept connections: out of file descriptors or memory");
            Duration::from_millis(100)
        }
        _ => {
            tracing::debug!(error = %e, "accept failed");
            Duration::from_millis(1)
        }
    };
    tokio::time::sleep(pause).await;
}

async fn serve_connection(
    tcp: TcpStream,
    remote: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    activity: Arc<Activity>,
    closing: &mut watch::Receiver<bool>,
) {
    let io = TokioIo::new(WatchedIo::new(tcp, activity.clone(), limits));
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        // The peer address, for the admin sign-in throttle.
        req.extensions_mut().insert(ConnectInfo(remote));
        let in_flight = InFlight::start(activity.clone());
        let mut router = router.clone();
        async move {
            let resp = tower_service::Service::call(&mut router, req.map(Body::new)).await?;
            Ok::<_, Infallible>(resp.map(|body| TrackedBody {
                body,
                _in_flight: in_flight,
            }))
        }
    });
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header);
    builder.http2().timer(TokioTimer::new());
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut graceful = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
                break;
            }
            changed = closing.changed(), if !graceful => {
                if changed.is_err() || *closing.borrow() {
                    graceful = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// What the idle timer needs to know about a connection: whether a request is in flight,
/// and when the last response ended.
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` when the last response ended; `u64::MAX` before the first.
    last_end_ms: AtomicU64,
    /// Set to close the connection at its next idle moment, to make room at the cap.
    evicted: AtomicBool,
    /// The task waiting on the socket while idle, woken when the connection is evicted.
    waiting: Mutex<Option<Waker>>,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_end_ms: AtomicU64::new(u64::MAX),
            evicted: AtomicBool::new(false),
            waiting: Mutex::new(None),
        }
    }

    /// Since when the connection has had nothing in flight, if that is its state.
    fn idle_since(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(match self.last_end_ms.load(Ordering::Acquire) {
            u64::MAX => self.opened,
            ms => self.opened + Duration::from_millis(ms),
        })
    }

    /// When a connection with nothing in flight is closed.
    fn idle_deadline(&self, limits: &ConnectionLimits) -> Instant {
        match self.last_end_ms.load(Ordering::Acquire) {
            u64::MAX => self.opened + limits.header,
            ms => self.opened + Duration::from_millis(ms) + limits.keepalive,
        }
    }
}

/// The open connections, so that one can be chosen to make room at the cap.
#[derive(Default)]
struct OpenConnections {
    next: AtomicU64,
    all: Mutex<HashMap<u64, Arc<Activity>>>,
}

impl OpenConnections {
    fn add(&self, activity: Arc<Activity>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.all
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, activity);
        id
    }

    fn remove(&self, id: u64) {
        self.all
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }

    /// Closes the connection idle longest, unless one is idle and being closed already.
    fn evict_idlest(&self) {
        let all = self.all.lock().unwrap_or_else(PoisonError::into_inner);
        if all
            .values()
            .any(|a| a.evicted.load(Ordering::Acquire) && a.idle_since().is_some())
        {
            return;
        }
        let idlest = all
            .values()
            .filter_map(|a| a.idle_since().map(|since| (since, a)))
            .min_by_key(|(since, _)| *since);
        if let Some((_, activity)) = idlest {
            activity.evicted.store(true, Ordering::Release);
            let waker = activity
                .waiting
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// One request in flight on a connection, from its head until its response body is dropped
/// (fully sent or abandoned).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let ms = self.0.opened.elapsed().as_millis() as u64;
        self.0.last_end_ms.store(ms, Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The response body, carrying its request's [`InFlight`] mark.
struct TrackedBody {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The client socket, which fails its reads once the connection has been idle too long. hyper
/// reads whenever it waits for a request, so a read that would wait past the deadline is where
/// an idle connection is noticed.
struct WatchedIo {
    tcp: TcpStream,
    activity: Arc<Activity>,
    limits: ConnectionLimits,
    timer: Pin<Box<Sleep>>,
}

impl WatchedIo {
    fn new(tcp: TcpStream, activity: Arc<Activity>, limits: ConnectionLimits) -> Self {
        let deadline = activity.idle_deadline(&limits);
        Self {
            tcp,
            activity,
            limits,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Poll::Ready(result) = Pin::new(&mut this.tcp).poll_read(cx, buf) {
            return Poll::Ready(result);
        }
        if this.activity.in_flight.load(Ordering::Acquire) > 0 {
            return Poll::Pending;
        }
        *this
            .activity
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
        if this.activity.evicted.load(Ordering::Acquire) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed to make room at the connection cap",
            )));
        }
        let deadline = this.activity.idle_deadline(&this.limits);
        if this.timer.deadline() != deadline {
            this.timer.as_mut().reset(deadline);
        }
        match this.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no request on this connection in time",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// The default connection cap: half the open-file limit (each relayed request holds a client
/// and an upstream descriptor), less a reserve for the store, logs and listeners.
pub fn default_max_connections() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1 << 20);
    (limit.saturating_sub(64) / 2).clamp(64, 1 << 20) as usize
}

/// Every stream holds two descriptors (client and upstream): a soft limit of 1,024 would turn a
/// busy evening into refused connections blamed on upstream accounts. The soft limit is raised
/// to the hard one at start, and both are logged.
pub fn raise_open_file_limit() {
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
