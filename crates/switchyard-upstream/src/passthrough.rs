//! The response body the relay hands to the client: upstream bytes go out untouched, in the
//! chunks they arrived in, while a usage tap reads the same bytes on the side. No task per
//! stream and no channel: the client's reads drive the upstream reads (back-pressure for
//! free). When the body ends — normally, by upstream failure, by idle timeout, or because
//! the client went away and the body is dropped — `on_finish` runs exactly once.
//!
//! An early end is never passed off as a clean one: after an upstream break, an idle timeout or
//! the server's shutdown the client gets its dialect's error signal at an event boundary (see
//! [`switchyard_protocol::stream_end`]), and then the body fails, so the server aborts the
//! transfer (HTTP/1.1: no terminating chunk; HTTP/2: a reset stream) and the client's HTTP
//! library reports an incomplete body too. At shutdown a stream in the middle of an event is
//! carried on to the end of that event first (briefly), so the signal can follow it.
//!
//! A client that leaves before the upstream finished still owes what the upstream billed: the
//! body then reads the rest of the upstream briefly (bounded in bytes and time) to take its
//! usage; what it cannot take is estimated in settle and flagged as such.
//!
//! Where the client must receive another shape than the upstream sends (DESIGN.md phase 7: the
//! Chat Completions usage chunk the client did not ask for, Bedrock's event-stream), a named
//! [`StreamTransform`] sits between upstream and client, and [`TapSide`] says which side of it
//! the usage tap reads.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use switchyard_core::{Dialect, TokenUsage};
use switchyard_protocol::{
    Break, ChatUsageStripper, ClientFraming, GeminiArrayTap, StreamEnd, StreamTap, StreamTransform,
    usage_from_body,
};
use tokio::time::Sleep;

/// Largest non-streaming body kept for reading its usage; longer bodies are still forwarded.
const JSON_TAP_CAP: usize = 16 * 1024 * 1024;
/// After the client left: how much more of the upstream is read for its usage, and how long.
const DRAIN_BYTES: u64 = 256 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(2);
/// How long the error signal is given to reach the socket before the transfer is aborted.
const SIGNAL_FLUSH: Duration = Duration::from_millis(100);
/// At shutdown, how long a stream in the middle of an event may run on to finish that event.
const SHUTDOWN_FINISH_EVENT: Duration = Duration::from_secs(2);

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
    /// Gemini's streamed JSON array (`streamGenerateContent` without `alt=sse`), read element
    /// by element as it arrives.
    GeminiArray(Box<GeminiArrayTap>),
}

impl TapMode {
    pub fn sse(dialect: Dialect) -> Self {
        TapMode::Sse(Box::new(StreamTap::new(dialect)))
    }

    pub fn gemini_array() -> Self {
        TapMode::GeminiArray(Box::new(GeminiArrayTap::new()))
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
            TapMode::GeminiArray(tap) => tap.feed(bytes),
            TapMode::Json { chunks, len, .. } => {
                if *len + bytes.len() <= JSON_TAP_CAP {
                    *len += bytes.len();
                    chunks.push(bytes.clone());
                }
            }
        }
    }

    fn completed(&self) -> bool {
        match self {
            TapMode::Sse(tap) => tap.completed(),
            TapMode::GeminiArray(tap) => tap.completed(),
            TapMode::Json { .. } => false,
        }
    }

    /// Whether an event outgrew the decoder's bound (and so went unread).
    fn saw_oversize(&self) -> bool {
        match self {
            TapMode::Sse(tap) => tap.decoder.dropped_oversize() > 0,
            TapMode::GeminiArray(tap) => tap.dropped_oversize() > 0,
            TapMode::Json { .. } => false,
        }
    }

    /// Whether the upstream itself sent an error inside the stream (the client got it).
    fn saw_stream_error(&self) -> bool {
        match self {
            TapMode::Sse(tap) => tap.stream_error().is_some(),
            TapMode::GeminiArray(tap) => tap.stream_error().is_some(),
            TapMode::Json { .. } => false,
        }
    }

    fn response_id(&self) -> Option<&str> {
        match self {
            TapMode::Sse(tap) => tap.response_id(),
            TapMode::GeminiArray(tap) => tap.response_id(),
            TapMode::Json { .. } => None,
        }
    }

    /// What the tap saw, once the body ended for `error_kind` (none: a normal end).
    fn finished(
        &mut self,
        error_kind: Option<&str>,
        first_byte_at: Option<Instant>,
        bytes: u64,
    ) -> Finished {
        let mut done = Finished {
            error_kind: error_kind.map(str::to_string),
            first_byte_at,
            bytes,
            ..Finished::default()
        };
        match self {
            TapMode::Sse(tap) => {
                tap.finish();
                done.usage = tap.usage();
                done.model = tap.model().map(str::to_string);
                done.response_id = tap.response_id().map(str::to_string);
                done.completed = tap.completed();
                done.events = tap.events();
                if done.error_kind.is_none()
                    && let Some(e) = tap.stream_error()
                {
                    done.error_kind = Some(format!("stream_error:{}", e.error_type));
                }
            }
            TapMode::GeminiArray(tap) => {
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
        done
    }
}

/// Which bytes the usage tap reads when a transform changes the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapSide {
    /// The upstream's bytes: the transform only removes something the tap still needs (the
    /// Chat Completions usage chunk).
    Before,
    /// What the client receives: the upstream speaks a shape the tap cannot read (Bedrock's
    /// event-stream, turned into Anthropic SSE).
    After,
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
    /// SSE events the upstream sent (for an output estimate when its usage never came).
    pub events: u64,
}

/// The body failed on purpose: the server must abort the transfer, not end it cleanly.
#[derive(Debug, thiserror::Error)]
#[error("upstream stream ended early ({0}); transfer aborted")]
pub struct StreamAborted(&'static str);

type OnFinish = Box<dyn FnOnce(Finished) + Send>;

/// Where the body stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// The client stands at an event boundary after shutdown: signal, then abort.
    Break(Break),
    /// The error signal went out: fail the body next.
    Abort(&'static str),
    Ended,
}

pub struct PassthroughBody<B>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: std::fmt::Display,
{
    /// Taken by the drain when the client leaves early.
    inner: Option<B>,
    tap: TapMode,
    idle: Duration,
    idle_timer: Pin<Box<Sleep>>,
    /// Follows what the client was sent, for the error signal at a boundary.
    end: StreamEnd,
    on_finish: Option<OnFinish>,
    /// The named change between upstream and client, if any, and where the tap reads.
    transform: Option<(Box<dyn StreamTransform>, TapSide)>,
    /// A second change after the first and after the tap (a converted answer whose upstream
    /// also needs reshaping: the tap reads between the two).
    then: Option<Box<dyn StreamTransform>>,
    /// Resolves when the server shuts down: the stream then ends with the error signal.
    stop: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// The stream must end (shutdown, an over-long event) but the client is in the middle of
    /// an event: carry on to its end, then signal this.
    stopping: Option<Break>,
    first_byte_at: Option<Instant>,
    bytes: u64,
    phase: Phase,
}

impl<B> PassthroughBody<B>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: std::fmt::Display,
{
    pub fn new(
        inner: B,
        tap: TapMode,
        idle: Duration,
        framing: ClientFraming,
        on_finish: impl FnOnce(Finished) + Send + 'static,
    ) -> Self {
        Self {
            inner: Some(inner),
            tap,
            idle,
            idle_timer: Box::pin(tokio::time::sleep(idle)),
            end: StreamEnd::new(framing),
            on_finish: Some(Box::new(on_finish)),
            transform: None,
            then: None,
            stop: None,
            stopping: None,
            first_byte_at: None,
            bytes: 0,
            phase: Phase::Open,
        }
    }

    /// Forward everything except the Chat Completions usage chunk the client did not ask for
    /// (the tap still reads the original bytes, usage chunk included).
    pub fn strip_chat_usage(self) -> Self {
        self.with_transform(Box::new(ChatUsageStripper::new()), TapSide::Before)
    }

    /// Sends the client what `transform` makes of the upstream bytes; the usage tap reads the
    /// upstream bytes ([`TapSide::Before`]) or the transformed ones ([`TapSide::After`]).
    /// Replaces any transform set before.
    pub fn with_transform(mut self, transform: Box<dyn StreamTransform>, side: TapSide) -> Self {
        self.transform = Some((transform, side));
        self
    }

    /// Sends the client what `transform` makes of the bytes after the first transform and the
    /// tap (with no first transform, the tap reads the upstream's bytes).
    pub fn and_then(mut self, transform: Box<dyn StreamTransform>) -> Self {
        self.then = Some(transform);
        self
    }

    /// Ends the stream (with the client's error signal) when `stop` resolves.
    pub fn stop_on(mut self, stop: impl Future<Output = ()> + Send + 'static) -> Self {
        self.stop = Some(Box::pin(stop));
        self
    }

    fn finish(&mut self, error_kind: Option<&str>) {
        let Some(on_finish) = self.on_finish.take() else {
            return;
        };
        on_finish(
            self.tap
                .finished(error_kind, self.first_byte_at, self.bytes),
        );
    }

    /// Passes upstream bytes through the transform and the tap; returns what the client gets.
    fn forward(&mut self, data: Bytes) -> Bytes {
        let out = self.first(data);
        match &mut self.then {
            None => out,
            Some(then) => {
                let mut kept = Vec::with_capacity(out.len());
                then.push(&out, &mut kept);
                Bytes::from(kept)
            }
        }
    }

    fn first(&mut self, data: Bytes) -> Bytes {
        match &mut self.transform {
            None => {
                self.tap.feed(&data);
                data
            }
            Some((transform, side)) => {
                if *side == TapSide::Before {
                    self.tap.feed(&data);
                }
                let mut kept = Vec::with_capacity(data.len());
                transform.push(&data, &mut kept);
                let kept = Bytes::from(kept);
                if *side == TapSide::After && !kept.is_empty() {
                    self.tap.feed(&kept);
                }
                kept
            }
        }
    }

    /// Fails the body once the flush delay is over. A failing body makes the server drop the
    /// connection at once, with whatever it still had buffered: the delay lets the last bytes
    /// (the error signal, or the headers and data of a short answer) reach the socket first.
    fn poll_abort(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamAborted>>> {
        let Phase::Abort(kind) = self.phase else {
            return Poll::Ready(None);
        };
        if self.idle_timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.phase = Phase::Ended;
        Poll::Ready(Some(Err(StreamAborted(kind))))
    }

    /// The stream ended early for `why`: settle, then the error signal (if the client stands
    /// at a boundary) and an aborted transfer.
    fn broken(
        &mut self,
        cx: &mut Context<'_>,
        why: Break,
        kind: &'static str,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamAborted>>> {
        let signal = self.end.signal(why, self.tap.response_id());
        self.finish(Some(kind));
        match signal {
            Some(s) => {
                self.phase = Phase::Abort(kind);
                let deadline = tokio::time::Instant::now() + SIGNAL_FLUSH;
                self.idle_timer.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(s)))))
            }
            None => {
                // Nothing to add, but what was sent must still reach the client first.
                self.phase = Phase::Abort(kind);
                let deadline = tokio::time::Instant::now() + SIGNAL_FLUSH;
                self.idle_timer.as_mut().reset(deadline);
                self.poll_abort(cx)
            }
        }
    }
}

impl<B> Body for PassthroughBody<B>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = StreamAborted;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match this.phase {
            Phase::Open => {}
            Phase::Ended => return Poll::Ready(None),
            Phase::Abort(_) => return this.poll_abort(cx),
            Phase::Break(why) => return this.broken(cx, why, why.kind()),
        }
        let why = loop {
            let Some(inner) = this.inner.as_mut() else {
                this.phase = Phase::Ended;
                return Poll::Ready(None);
            };
            match Pin::new(inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        // Trailers are not forwarded.
                        continue;
                    };
                    if this.first_byte_at.is_none() {
                        this.first_byte_at = Some(Instant::now());
                    }
                    this.bytes += data.len() as u64;
                    if this.stopping.is_none() {
                        let deadline = tokio::time::Instant::now() + this.idle;
                        this.idle_timer.as_mut().reset(deadline);
                    }
                    let out = this.forward(data);
                    if this.stopping.is_none() && this.tap.saw_oversize() {
                        // Unreadable for usage and for errors: end it after this event.
                        tracing::warn!("upstream event over the size bound; ending the stream");
                        this.stopping = Some(Break::OverLong);
                    }
                    if out.is_empty() {
                        continue;
                    }
                    if let Some(why) = this.stopping
                        && let Some(n) = this.end.boundary_within(&out)
                    {
                        // The current event is complete: send it, then the signal.
                        let head = out.slice(..n);
                        this.end.sent(&head);
                        this.phase = Phase::Break(why);
                        return Poll::Ready(Some(Ok(Frame::data(head))));
                    }
                    this.end.sent(&out);
                    return Poll::Ready(Some(Ok(Frame::data(out))));
                }
                Poll::Ready(None) => {
                    let mut rest = Vec::new();
                    if let Some((transform, side)) = this.transform.as_mut() {
                        transform.finish(&mut rest);
                        if *side == TapSide::After && !rest.is_empty() {
                            this.tap.feed(&Bytes::copy_from_slice(&rest));
                        }
                    }
                    if let Some(then) = this.then.as_mut() {
                        let mut out = Vec::new();
                        then.push(&rest, &mut out);
                        then.finish(&mut out);
                        rest = out;
                    }
                    if this.stopping == Some(Break::OverLong) {
                        break Break::OverLong;
                    }
                    if this.tap.saw_stream_error()
                        && let Some(close) = this.end.unclosed_array_end()
                    {
                        // The upstream's own error element ends the array; close it.
                        rest.extend_from_slice(close);
                    }
                    // A stream that stops without its terminator (and without an error of its
                    // own) was cut short, however cleanly the connection ended.
                    let truncated = matches!(
                        this.end.framing(),
                        ClientFraming::Sse(_) | ClientFraming::GeminiArray
                    ) && !this.tap.completed()
                        && !this.tap.saw_stream_error()
                        && this.stopping.is_none();
                    if truncated {
                        if !rest.is_empty() {
                            this.end.sent(&rest);
                            this.phase = Phase::Break(Break::Upstream);
                            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest)))));
                        }
                        break Break::Upstream;
                    }
                    this.phase = Phase::Ended;
                    this.finish(None);
                    return if rest.is_empty() {
                        Poll::Ready(None)
                    } else {
                        Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest)))))
                    };
                }
                Poll::Ready(Some(Err(e))) => {
                    tracing::warn!(error = %e, "upstream body failed mid-stream");
                    break Break::Upstream;
                }
                Poll::Pending => {
                    if let Some(stop) = this.stop.as_mut()
                        && stop.as_mut().poll(cx).is_ready()
                    {
                        this.stop = None;
                        if this.end.at_boundary() {
                            break Break::Shutdown;
                        }
                        this.stopping = Some(Break::Shutdown);
                        let deadline =
                            tokio::time::Instant::now() + SHUTDOWN_FINISH_EVENT.min(this.idle);
                        this.idle_timer.as_mut().reset(deadline);
                    }
                    match this.idle_timer.as_mut().poll(cx) {
                        Poll::Ready(()) => break this.stopping.unwrap_or(Break::IdleTimeout),
                        Poll::Pending => return Poll::Pending,
                    }
                }
            }
        };
        this.broken(cx, why, why.kind())
    }

    fn is_end_stream(&self) -> bool {
        self.phase == Phase::Ended
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl<B> Drop for PassthroughBody<B>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: std::fmt::Display,
{
    fn drop(&mut self) {
        let Some(on_finish) = self.on_finish.take() else {
            return;
        };
        let tap = std::mem::replace(&mut self.tap, TapMode::json(Dialect::Anthropic));
        let mut drain = Drain {
            inner: self.inner.take(),
            tap,
            transform: self.transform.take(),
            first_byte_at: self.first_byte_at,
            bytes: self.bytes,
            drained: false,
        };
        // The client left: the upstream's usage may still be on its way (the last chunk of
        // a stream often carries it). Take it within a small bound, off the client's path.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) if drain.inner.is_some() && !drain.tap.completed() => {
                rt.spawn(async move {
                    drain.run().await;
                    on_finish(drain.finished());
                });
            }
            _ => on_finish(drain.finished()),
        }
    }
}

/// The rest of an upstream body after its client left, read only for its usage.
struct Drain<B> {
    inner: Option<B>,
    tap: TapMode,
    transform: Option<(Box<dyn StreamTransform>, TapSide)>,
    first_byte_at: Option<Instant>,
    bytes: u64,
    /// The upstream was read on after the client left.
    drained: bool,
}

impl<B> Drain<B>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
{
    async fn run(&mut self) {
        let Some(mut inner) = self.inner.take() else {
            return;
        };
        self.drained = true;
        let deadline = tokio::time::Instant::now() + DRAIN_TIME;
        let mut read = 0u64;
        while read < DRAIN_BYTES && !self.tap.completed() {
            let next = std::future::poll_fn(|cx| Pin::new(&mut inner).poll_frame(cx));
            let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, next).await else {
                break;
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            read += data.len() as u64;
            self.bytes += data.len() as u64;
            match &mut self.transform {
                Some((transform, TapSide::After)) => {
                    let mut out = Vec::new();
                    transform.push(&data, &mut out);
                    self.tap.feed(&Bytes::from(out));
                }
                _ => self.tap.feed(&data),
            }
        }
    }

    fn finished(&mut self) -> Finished {
        let kind = (self.drained || !self.tap.completed()).then_some("client_disconnected");
        let completed = self.tap.completed();
        let mut done = self.tap.finished(kind, self.first_byte_at, self.bytes);
        // The upstream may have finished while it was drained; the record still says the
        // client left (its error kind), with the upstream's whole usage.
        done.completed = completed;
        done
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "test tasks are joined or dropped by their test"
)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use switchyard_protocol::BedrockToAnthropic;
    use switchyard_protocol::eventstream::{Header, encode_frame};

    /// A body that yields the given chunks, then ends.
    struct Chunks(VecDeque<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
        }
    }

    /// A body that yields the given chunks, then fails.
    struct Breaks(VecDeque<Bytes>);

    impl Body for Breaks {
        type Data = Bytes;
        type Error = String;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(Some(match self.0.pop_front() {
                Some(b) => Ok(Frame::data(b)),
                None => Err("connection reset".to_string()),
            }))
        }
    }

    #[tokio::test]
    async fn a_broken_stream_gets_the_error_signal_at_a_boundary_then_aborts() {
        let run = |chunks: Vec<&'static str>| async move {
            let body = PassthroughBody::new(
                Breaks(
                    chunks
                        .into_iter()
                        .map(|c| Bytes::from_static(c.as_bytes()))
                        .collect(),
                ),
                TapMode::sse(Dialect::Anthropic),
                Duration::from_secs(30),
                ClientFraming::Sse(Dialect::Anthropic),
                |_| {},
            );
            drain_until_error(body).await
        };
        // At a boundary: the client gets a well-formed error event, then the transfer fails.
        let (out, aborted) = run(vec!["event: ping\ndata: {}\n\n"]).await;
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("event: ping\ndata: {}\n\nevent: error\ndata: {"));
        assert!(out.contains("upstream stream ended unexpectedly"));
        assert!(aborted);
        // Mid-event: the half event is left to die with the stream, not glued to the signal.
        let (out, aborted) = run(vec!["event: ping\ndata: {}\n\ndata: {\"ty"]).await;
        assert_eq!(out, b"event: ping\ndata: {}\n\ndata: {\"ty");
        assert!(aborted);
    }

    #[tokio::test]
    async fn chat_stream_cut_before_done_ends_with_an_error_chunk_not_done() {
        let chunks = vec![Bytes::from_static(
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Ol\xc3\xa1\"}}]}\n\n",
        )];
        let seen = Arc::new(Mutex::new(None));
        let sink = seen.clone();
        let body = PassthroughBody::new(
            Chunks(chunks.into()),
            TapMode::sse(Dialect::OpenaiChat),
            Duration::from_secs(30),
            ClientFraming::Sse(Dialect::OpenaiChat),
            move |f| *sink.lock().unwrap() = Some(f),
        );
        let (out, aborted) = drain_until_error(body).await;
        let out = String::from_utf8(out).unwrap();
        let last = out.trim_end().rsplit("\n\n").next().unwrap();
        assert!(last.starts_with("data: {\"error\":{"), "{out}");
        assert!(!out.contains("[DONE]"));
        assert!(aborted, "a clean end without [DONE] is still a cut stream");
        let f = seen.lock().unwrap().clone().unwrap();
        assert_eq!(f.error_kind.as_deref(), Some("upstream_stream_broken"));
        assert_eq!(f.events, 1);
    }

    #[tokio::test]
    async fn at_shutdown_a_stream_mid_event_finishes_that_event_first() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let body = PassthroughBody::new(
            Channel(rx),
            TapMode::sse(Dialect::Anthropic),
            Duration::from_secs(30),
            ClientFraming::Sse(Dialect::Anthropic),
            |_| {},
        )
        .stop_on(async move {
            let _ = stop_rx.await;
        });
        tx.send(Bytes::from_static(b"event: a\ndata: {}\n\neve"))
            .await
            .unwrap();
        let reader = tokio::spawn(drain_until_error(body));
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop_tx.send(()).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        tx.send(Bytes::from_static(b"nt: b\ndata: {}\n\nevent: c\ndata: {"))
            .await
            .unwrap();
        let (out, aborted) = reader.await.unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.starts_with("event: a\ndata: {}\n\nevent: b\ndata: {}\n\nevent: error\ndata: {"),
            "{out}"
        );
        assert!(out.contains("overloaded_error"));
        assert!(!out.contains("event: c"));
        assert!(aborted);
    }

    #[tokio::test]
    async fn a_client_that_leaves_early_is_billed_from_the_rest_of_the_upstream() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        let seen = Arc::new(Mutex::new(None));
        let sink = seen.clone();
        let mut body = PassthroughBody::new(
            Channel(rx),
            TapMode::sse(Dialect::OpenaiChat),
            Duration::from_secs(30),
            ClientFraming::Sse(Dialect::OpenaiChat),
            move |f| *sink.lock().unwrap() = Some(f),
        )
        .strip_chat_usage();
        tx.send(Bytes::from_static(
            b"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
        ))
        .await
        .unwrap();
        let first = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
            .await
            .unwrap()
            .unwrap();
        assert!(!first.into_data().unwrap().is_empty());
        drop(body);
        tx.send(Bytes::from_static(
            b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":330,\"completion_tokens\":19,\"total_tokens\":349}}\n\ndata: [DONE]\n\n",
        ))
        .await
        .unwrap();
        drop(tx);
        let f = eventually(|| seen.lock().unwrap().clone()).await;
        let usage = f.usage.unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (330, 19));
        assert_eq!(f.error_kind.as_deref(), Some("client_disconnected"));
    }

    async fn eventually<T>(mut probe: impl FnMut() -> Option<T>) -> T {
        for _ in 0..200 {
            if let Some(v) = probe() {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never happened");
    }

    /// A body fed by a channel; ends when the sender is dropped.
    struct Channel(tokio::sync::mpsc::Receiver<Bytes>);

    impl Body for Channel {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
        }
    }

    /// Everything the client receives, and whether the body then failed (an aborted transfer).
    async fn drain_until_error<B>(mut body: PassthroughBody<B>) -> (Vec<u8>, bool)
    where
        B: Body<Data = Bytes> + Unpin + Send + 'static,
        B::Error: std::fmt::Display,
    {
        let mut out = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            match frame {
                Ok(f) => {
                    if let Ok(data) = f.into_data() {
                        out.extend_from_slice(&data);
                    }
                }
                Err(_) => return (out, true),
            }
        }
        (out, false)
    }

    async fn drain<B>(body: PassthroughBody<B>) -> Vec<u8>
    where
        B: Body<Data = Bytes> + Unpin + Send + 'static,
        B::Error: std::fmt::Display,
    {
        drain_until_error(body).await.0
    }

    fn passthrough(
        chunks: Vec<Bytes>,
        tap: TapMode,
    ) -> (PassthroughBody<Chunks>, Arc<Mutex<Option<Finished>>>) {
        let seen = Arc::new(Mutex::new(None));
        let sink = seen.clone();
        let body = PassthroughBody::new(
            Chunks(chunks.into()),
            tap,
            Duration::from_secs(30),
            ClientFraming::Sse(Dialect::Anthropic),
            move |f| {
                if let Ok(mut s) = sink.lock() {
                    *s = Some(f);
                }
            },
        );
        (body, seen)
    }

    fn bedrock_chunk(event: &str) -> Vec<u8> {
        use base64::Engine;
        let payload = serde_json::json!({
            "bytes": base64::engine::general_purpose::STANDARD.encode(event),
            "p": "abcd",
        });
        encode_frame(
            &[
                Header::string(":event-type", "chunk"),
                Header::string(":content-type", "application/json"),
                Header::string(":message-type", "event"),
            ],
            payload.to_string().as_bytes(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn bedrock_transform_with_the_tap_after_it() {
        let events = [
            r#"{"type":"message_start","message":{"id":"msg_bdrk_1","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[],"usage":{"input_tokens":16,"output_tokens":1}}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}"#,
            r#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":16,"outputTokenCount":7}}"#,
        ];
        let stream: Vec<u8> = events.iter().flat_map(|e| bedrock_chunk(e)).collect();
        // Cut the frames at awkward places: 7-byte chunks.
        let chunks: Vec<Bytes> = stream.chunks(7).map(Bytes::copy_from_slice).collect();
        let (body, seen) = passthrough(chunks, TapMode::sse(Dialect::Anthropic));
        let body = body.with_transform(Box::new(BedrockToAnthropic::new()), TapSide::After);
        let out = String::from_utf8(drain(body).await).unwrap();
        let expected: String = events
            .iter()
            .map(|e| {
                let v: serde_json::Value = serde_json::from_str(e).unwrap();
                format!("event: {}\ndata: {e}\n\n", v["type"].as_str().unwrap())
            })
            .collect();
        assert_eq!(out, expected);
        let finished = seen.lock().unwrap().clone().unwrap();
        let usage = finished.usage.unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (16, 7));
        assert!(finished.completed);
        assert_eq!(finished.error_kind, None);
        assert_eq!(finished.response_id.as_deref(), Some("msg_bdrk_1"));
        assert_eq!(finished.bytes, stream.len() as u64);
    }

    #[tokio::test]
    async fn chat_usage_strip_keeps_the_tap_before_it() {
        let sse = concat!(
            "data: {\"id\":\"c\",\"model\":\"gpt-5-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n",
            "data: {\"id\":\"c\",\"model\":\"gpt-5-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n",
            "data: [DONE]\n\n",
        );
        let chunks = vec![Bytes::from_static(sse.as_bytes())];
        let (body, seen) = passthrough(chunks, TapMode::sse(Dialect::OpenaiChat));
        let out = String::from_utf8(drain(body.strip_chat_usage()).await).unwrap();
        assert!(!out.contains("usage"));
        assert!(out.ends_with("data: [DONE]\n\n"));
        let finished = seen.lock().unwrap().clone().unwrap();
        assert_eq!(finished.usage.unwrap().output_tokens, 2);
    }

    #[tokio::test]
    async fn bedrock_exception_is_an_error_for_settle() {
        let mut stream = bedrock_chunk(
            r#"{"type":"message_start","message":{"id":"msg_bdrk_2","model":"m","usage":{"input_tokens":4,"output_tokens":1}}}"#,
        );
        stream.extend(
            encode_frame(
                &[
                    Header::string(":exception-type", "throttlingException"),
                    Header::string(":message-type", "exception"),
                ],
                br#"{"message":"Too many tokens"}"#,
            )
            .unwrap(),
        );
        let (body, seen) = passthrough(vec![Bytes::from(stream)], TapMode::sse(Dialect::Anthropic));
        let body = body.with_transform(Box::new(BedrockToAnthropic::new()), TapSide::After);
        let out = String::from_utf8(drain(body).await).unwrap();
        assert!(out.ends_with(
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"Too many tokens\"}}\n\n"
        ));
        let finished = seen.lock().unwrap().clone().unwrap();
        assert!(!finished.completed);
        assert_eq!(
            finished.error_kind.as_deref(),
            Some("stream_error:rate_limit_error")
        );
        assert_eq!(finished.usage.unwrap().input_tokens, 4);
    }
}
