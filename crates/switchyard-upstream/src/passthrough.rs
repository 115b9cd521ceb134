//! The response body the relay hands to the client: upstream bytes go out untouched, in the
//! chunks they arrived in, while a usage tap reads the same bytes on the side. No task per
//! stream and no channel: the client's reads drive the upstream reads (back-pressure for
//! free). When the body ends — normally, by upstream failure, by idle timeout, or because
//! the client went away and the body is dropped — `on_finish` runs exactly once.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use switchyard_core::{Dialect, TokenUsage};
use switchyard_protocol::{ChatUsageStripper, StreamTap, usage_from_body};
use tokio::time::Sleep;

/// Largest non-streaming body kept for reading its usage; longer bodies are still forwarded.
const JSON_TAP_CAP: usize = 16 * 1024 * 1024;

pub enum TapMode {
    /// An SSE stream, decoded on the side.
    Sse(Box<StreamTap>),
    /// A JSON body, kept (up to a cap) and parsed at the end. The chunks are reference-counted
    /// views of the forwarded bytes, not copies.
    Json {
        dialect: Dialect,
        chunks: Vec<Bytes>,
        len: usize,
    },
}

impl TapMode {
    pub fn sse(dialect: Dialect) -> Self {
        TapMode::Sse(Box::new(StreamTap::new(dialect)))
    }

    pub fn json(dialect: Dialect) -> Self {
        TapMode::Json {
            dialect,
            chunks: Vec::new(),
            len: 0,
        }
    }

    fn feed(&mut self, bytes: &Bytes) {
        match self {
            TapMode::Sse(tap) => tap.feed(bytes),
            TapMode::Json { chunks, len, .. } => {
                if *len + bytes.len() <= JSON_TAP_CAP {
                    *len += bytes.len();
                    chunks.push(bytes.clone());
                }
            }
        }
    }
}

/// What the body saw, handed to `on_finish`.
#[derive(Debug, Clone, Default)]
pub struct Finished {
    pub usage: Option<TokenUsage>,
    pub model: Option<String>,
    pub response_id: Option<String>,
    /// The upstream signalled a proper end (message_stop, response.completed, [DONE], or a
    /// complete JSON body).
    pub completed: bool,
    /// Why the body ended early, if it did.
    pub error_kind: Option<String>,
    pub first_byte_at: Option<Instant>,
    pub bytes: u64,
}

type OnFinish = Box<dyn FnOnce(Finished) + Send>;

pub struct PassthroughBody<B> {
    inner: B,
    tap: TapMode,
    idle: Duration,
    idle_timer: Pin<Box<Sleep>>,
    /// Appended when the upstream breaks before completing, so the client sees an error
    /// instead of a silently truncated stream (e.g. an Anthropic `event: error`).
    broken_trailer: Option<Bytes>,
    on_finish: Option<OnFinish>,
    /// Removes the usage chunk Switchyard asked for on the client's behalf (Chat
    /// Completions); the tap still reads the original bytes.
    strip: Option<ChatUsageStripper>,
    /// Resolves when the server shuts down: the stream then ends like a broken upstream.
    stop: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    first_byte_at: Option<Instant>,
    bytes: u64,
    ended: bool,
}

impl<B> PassthroughBody<B> {
    pub fn new(
        inner: B,
        tap: TapMode,
        idle: Duration,
        broken_trailer: Option<Bytes>,
        on_finish: impl FnOnce(Finished) + Send + 'static,
    ) -> Self {
        Self {
            inner,
            tap,
            idle,
            idle_timer: Box::pin(tokio::time::sleep(idle)),
            broken_trailer,
            on_finish: Some(Box::new(on_finish)),
            strip: None,
            stop: None,
            first_byte_at: None,
            bytes: 0,
            ended: false,
        }
    }

    /// Forward everything except the Chat Completions usage chunk the client did not ask for.
    pub fn strip_chat_usage(mut self) -> Self {
        self.strip = Some(ChatUsageStripper::new());
        self
    }

    /// Ends the stream (cleanly, with the broken-stream trailer) when `stop` resolves.
    pub fn stop_on(mut self, stop: impl Future<Output = ()> + Send + 'static) -> Self {
        self.stop = Some(Box::pin(stop));
        self
    }

    fn finish(&mut self, error_kind: Option<&str>) {
        let Some(on_finish) = self.on_finish.take() else {
            return;
        };
        let mut done = Finished {
            error_kind: error_kind.map(str::to_string),
            first_byte_at: self.first_byte_at,
            bytes: self.bytes,
            ..Finished::default()
        };
        match &mut self.tap {
            TapMode::Sse(tap) => {
                tap.finish();
                done.usage = tap.usage();
                done.model = tap.model().map(str::to_string);
                done.response_id = tap.response_id().map(str::to_string);
                done.completed = tap.completed();
                if done.error_kind.is_none()
                    && let Some(e) = tap.stream_error()
                {
                    done.error_kind = Some(format!("stream_error:{}", e.error_type));
                }
            }
            TapMode::Json {
                dialect,
                chunks,
                len,
            } => {
                let whole: std::borrow::Cow<'_, [u8]> = match chunks.as_slice() {
                    [one] => std::borrow::Cow::Borrowed(one.as_ref()),
                    many => {
                        let mut joined = Vec::with_capacity(*len);
                        for c in many {
                            joined.extend_from_slice(c);
                        }
                        std::borrow::Cow::Owned(joined)
                    }
                };
                if let Some(info) = usage_from_body(*dialect, &whole) {
                    done.usage = info.usage;
                    done.model = info.model;
                    done.response_id = info.response_id;
                    done.completed = error_kind.is_none();
                }
            }
        }
        on_finish(done);
    }

    fn completed(&self) -> bool {
        match &self.tap {
            TapMode::Sse(tap) => tap.completed(),
            TapMode::Json { .. } => false,
        }
    }
}

impl<B> Body for PassthroughBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        let broken = loop {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        // Trailers are not forwarded.
                        continue;
                    };
                    if this.first_byte_at.is_none() {
                        this.first_byte_at = Some(Instant::now());
                    }
                    this.bytes += data.len() as u64;
                    this.tap.feed(&data);
                    let deadline = tokio::time::Instant::now() + this.idle;
                    this.idle_timer.as_mut().reset(deadline);
                    let out = match &mut this.strip {
                        None => data,
                        Some(strip) => {
                            let mut kept = Vec::with_capacity(data.len());
                            strip.push(&data, &mut kept);
                            if kept.is_empty() {
                                continue;
                            }
                            Bytes::from(kept)
                        }
                    };
                    return Poll::Ready(Some(Ok(Frame::data(out))));
                }
                Poll::Ready(None) => {
                    this.ended = true;
                    let rest = this.strip.as_mut().map(|s| {
                        let mut rest = Vec::new();
                        s.finish(&mut rest);
                        rest
                    });
                    this.finish(None);
                    return match rest {
                        Some(rest) if !rest.is_empty() => {
                            Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest)))))
                        }
                        _ => Poll::Ready(None),
                    };
                }
                Poll::Ready(Some(Err(e))) => {
                    tracing::warn!(error = %e, "upstream body failed mid-stream");
                    break "upstream_stream_broken";
                }
                Poll::Pending => {
                    if let Some(stop) = this.stop.as_mut()
                        && stop.as_mut().poll(cx).is_ready()
                    {
                        break "server_shutdown";
                    }
                    match this.idle_timer.as_mut().poll(cx) {
                        Poll::Ready(()) => break "upstream_idle_timeout",
                        Poll::Pending => return Poll::Pending,
                    }
                }
            }
        };
        // After the first byte there is no failover: end the stream cleanly for the client.
        this.ended = true;
        let trailer = (!this.completed())
            .then(|| this.broken_trailer.take())
            .flatten();
        this.finish(Some(broken));
        match trailer {
            Some(t) => Poll::Ready(Some(Ok(Frame::data(t)))),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl<B> Drop for PassthroughBody<B> {
    fn drop(&mut self) {
        if self.on_finish.is_some() {
            let kind = (!self.completed()).then_some("client_disconnected");
            self.finish(kind);
        }
    }
}
