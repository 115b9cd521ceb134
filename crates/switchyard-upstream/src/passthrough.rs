//! The response body the relay hands to the client: upstream bytes go out untouched, in the
//! chunks they arrived in, while a usage tap reads the same bytes on the side. No task per
//! stream and no channel: the client's reads drive the upstream reads (back-pressure for
//! free). When the body ends — normally, by upstream failure, by idle timeout, or because
//! the client went away and the body is dropped — `on_finish` runs exactly once.
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
    ChatUsageStripper, GeminiArrayTap, StreamTap, StreamTransform, usage_from_body,
};
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
    /// The last bytes sent to the client (up to four), to tell whether the stream stands at an
    /// event boundary: a trailer glued to half an event would corrupt that event instead.
    tail: Vec<u8>,
    on_finish: Option<OnFinish>,
    /// The named change between upstream and client, if any, and where the tap reads.
    transform: Option<(Box<dyn StreamTransform>, TapSide)>,
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
            tail: Vec::with_capacity(4),
            on_finish: Some(Box::new(on_finish)),
            transform: None,
            stop: None,
            first_byte_at: None,
            bytes: 0,
            ended: false,
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

    /// Ends the stream (cleanly, with the broken-stream trailer) when `stop` resolves.
    pub fn stop_on(mut self, stop: impl Future<Output = ()> + Send + 'static) -> Self {
        self.stop = Some(Box::pin(stop));
        self
    }

    fn remember_tail(&mut self, sent: &[u8]) {
        let keep = sent.len().min(4);
        self.tail.extend_from_slice(&sent[sent.len() - keep..]);
        let excess = self.tail.len().saturating_sub(4);
        self.tail.drain(..excess);
    }

    /// Whether everything sent so far ends with a whole SSE event (or nothing was sent).
    fn at_event_boundary(&self) -> bool {
        let t = self.tail.as_slice();
        t.is_empty() || t.ends_with(b"\n\n") || t.ends_with(b"\r\r") || t.ends_with(b"\r\n\r\n")
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
        on_finish(done);
    }

    fn completed(&self) -> bool {
        match &self.tap {
            TapMode::Sse(tap) => tap.completed(),
            TapMode::GeminiArray(tap) => tap.completed(),
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
                    let deadline = tokio::time::Instant::now() + this.idle;
                    this.idle_timer.as_mut().reset(deadline);
                    let out = match &mut this.transform {
                        None => {
                            this.tap.feed(&data);
                            data
                        }
                        Some((transform, side)) => {
                            if *side == TapSide::Before {
                                this.tap.feed(&data);
                            }
                            let mut kept = Vec::with_capacity(data.len());
                            transform.push(&data, &mut kept);
                            if kept.is_empty() {
                                continue;
                            }
                            let kept = Bytes::from(kept);
                            if *side == TapSide::After {
                                this.tap.feed(&kept);
                            }
                            kept
                        }
                    };
                    this.remember_tail(&out);
                    return Poll::Ready(Some(Ok(Frame::data(out))));
                }
                Poll::Ready(None) => {
                    this.ended = true;
                    let rest = this.transform.as_mut().map(|(transform, side)| {
                        let mut rest = Vec::new();
                        transform.finish(&mut rest);
                        let rest = Bytes::from(rest);
                        if *side == TapSide::After && !rest.is_empty() {
                            this.tap.feed(&rest);
                        }
                        rest
                    });
                    this.finish(None);
                    return match rest {
                        Some(rest) if !rest.is_empty() => Poll::Ready(Some(Ok(Frame::data(rest)))),
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
        let trailer = (!this.completed() && this.at_event_boundary())
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

#[cfg(test)]
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
    async fn the_broken_stream_trailer_never_splits_an_event() {
        let trailer = Bytes::from_static(b"event: error\ndata: {}\n\n");
        let run = |chunks: Vec<&'static str>| {
            let body = PassthroughBody::new(
                Breaks(
                    chunks
                        .into_iter()
                        .map(|c| Bytes::from_static(c.as_bytes()))
                        .collect(),
                ),
                TapMode::sse(Dialect::Anthropic),
                Duration::from_secs(30),
                Some(trailer.clone()),
                |_| {},
            );
            drain(body)
        };
        // At a boundary: the client gets a well-formed error event.
        let out = run(vec!["event: ping\ndata: {}\n\n"]).await;
        assert!(out.ends_with(b"\n\nevent: error\ndata: {}\n\n"));
        // Mid-event: the half event is left to die with the stream, not glued to the trailer.
        let out = run(vec!["event: ping\ndata: {}\n\ndata: {\"ty"]).await;
        assert_eq!(out, b"event: ping\ndata: {}\n\ndata: {\"ty");
        // CRLF framing (Gemini) counts as a boundary too.
        let out = run(vec!["data: {}\r\n\r\n"]).await;
        assert!(out.ends_with(b"\r\n\r\nevent: error\ndata: {}\n\n"));
    }

    async fn drain<B>(mut body: PassthroughBody<B>) -> Vec<u8>
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        let mut out = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            if let Ok(Ok(data)) = frame.map(Frame::into_data) {
                out.extend_from_slice(&data);
            }
        }
        out
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
            None,
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
