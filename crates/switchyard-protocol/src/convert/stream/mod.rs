//! Streaming conversion: upstream SSE in, client SSE out, event by event.
//!
//! [`StreamConverter`] decodes each upstream event into neutral events ([`event`]), keeps them
//! well formed — one block open at a time, every block closed, the finale exactly once — and
//! hands them to the client dialect's encoder, which appends whole client events to the output.
//! Nothing waits for the end of the answer except what a client format itself needs whole (a
//! Gemini function call; the item list Responses repeats in its terminal event).
//!
//! The same upstream events go to the relay's usage tap for the upstream dialect, so the usage
//! the client is shown and the usage the relay bills are both the upstream's own report.

mod decode;
mod encode;
pub(crate) mod event;

use switchyard_core::{Dialect, TokenUsage};

use self::decode::Decoder;
use self::event::{Block, Encoder, Event, Meta};
use super::errors::{ErrorClass, stream_event};
use super::ir::StopReason;
use crate::sse::{SseDecoder, SseEvent};
use crate::stream_end::Break;
use crate::transform::StreamTransform;
use crate::usage::{StreamError, UsageTap};

/// What the client's stream needs beyond the upstream's events.
#[derive(Debug, Clone, Default)]
pub struct StreamOptions {
    /// Unix seconds for Chat's `created` and Responses' `created_at`.
    pub created: u64,
    /// The model name to show the client; `None` shows the upstream's.
    pub model: Option<String>,
    /// Chat clients: whether they asked for the usage chunk (`stream_options.include_usage`).
    /// The upstream is always asked for usage; the client only sees it when it asked.
    pub chat_include_usage: bool,
    /// [`ConvertedRequest::freeform_tools`](crate::convert::ConvertedRequest::freeform_tools).
    pub freeform_tools: Vec<String>,
    /// Gemini clients of Code Assist (`v1internal`): each chunk wrapped as `{"response": …}`.
    pub gemini_code_assist: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing written yet.
    Idle,
    Started,
    /// The finale or an error was written; nothing more will be.
    Ended,
}

/// Converts one upstream stream into the client's dialect; see the module documentation.
///
/// Feed it upstream bytes with [`StreamTransform::push`] (it decodes SSE itself) or already
/// decoded events with [`on_event`](Self::on_event), then call
/// [`StreamTransform::finish`] when the upstream ends, or [`fail`](Self::fail) when the relay
/// breaks the stream off.
pub struct StreamConverter {
    client: Dialect,
    decoder: Decoder,
    encoder: Box<dyn Encoder>,
    tap: UsageTap,
    sse: SseDecoder,
    meta: Meta,
    model_override: bool,
    phase: Phase,
    open: Option<Block>,
    stop: Option<(StopReason, Option<String>)>,
    completed: bool,
    events: Vec<Event>,
    /// Tests render upstream streams from neutral events with a usage of their choosing.
    #[cfg(test)]
    fixed_usage: Option<TokenUsage>,
}

impl std::fmt::Debug for StreamConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamConverter")
            .field("client", &self.client)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl StreamConverter {
    pub fn new(upstream: Dialect, client: Dialect, options: &StreamOptions) -> StreamConverter {
        StreamConverter {
            client,
            decoder: Decoder::new(upstream),
            encoder: encode::for_client(client, options),
            tap: UsageTap::for_dialect(upstream),
            sse: SseDecoder::new(),
            meta: Meta {
                id: String::new(),
                model: options.model.clone().unwrap_or_default(),
                created: options.created,
            },
            model_override: options.model.is_some(),
            phase: Phase::Idle,
            open: None,
            stop: None,
            completed: false,
            events: Vec::new(),
            #[cfg(test)]
            fixed_usage: None,
        }
    }

    /// Converts one decoded upstream event, appending the client's bytes to `out`.
    pub fn on_event(&mut self, ev: &SseEvent<'_>, out: &mut Vec<u8>) {
        self.tap.on_event(ev);
        if self.phase == Phase::Ended {
            return;
        }
        let mut events = std::mem::take(&mut self.events);
        self.decoder.decode(ev, &mut events);
        for e in events.drain(..) {
            self.apply(e, out);
        }
        self.events = events;
    }

    /// Ends the client's stream with its own error signal (the relay broke the stream off:
    /// upstream failure, idle timeout, shutdown). Nothing is written if it already ended.
    pub fn fail(&mut self, why: Break, out: &mut Vec<u8>) {
        if self.phase == Phase::Ended {
            return;
        }
        // The native path's signal (`StreamEnd`), with the same words; written here so that a
        // Responses client also gets the next `sequence_number`. Every write of the converter
        // ends at an event boundary, so the signal always fits.
        let class = match why.status() {
            503 => ErrorClass::Overloaded,
            _ => ErrorClass::Server,
        };
        self.error(class, why.message(), out);
    }

    /// What the upstream billed so far, normalised; read by the relay's own tap.
    pub fn usage(&self) -> Option<TokenUsage> {
        self.tap.usage()
    }

    /// The model the upstream reports.
    pub fn upstream_model(&self) -> Option<&str> {
        self.tap.model()
    }

    /// The upstream's response id.
    pub fn response_id(&self) -> Option<&str> {
        self.tap.response_id()
    }

    /// An error the upstream reported inside the stream.
    pub fn stream_error(&self) -> Option<&StreamError> {
        self.tap.stream_error()
    }

    /// Whether the client's stream got its normal end (the finale, not an error).
    pub fn completed(&self) -> bool {
        self.completed
    }

    /// Tool-call argument pieces that could not be placed (a Chat upstream interleaving two
    /// calls); worth a log line, never seen from OpenAI itself.
    pub fn misplaced_deltas(&self) -> u64 {
        match &self.decoder {
            Decoder::Chat(d) => d.late,
            _ => 0,
        }
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if self.phase == Phase::Idle {
            if self.meta.id.is_empty() {
                self.meta.id = format!("sy_{}", self.meta.created);
            }
            self.encoder.start(&self.meta, out);
            self.phase = Phase::Started;
        }
    }

    fn open(&mut self, block: Block, out: &mut Vec<u8>) {
        self.close(out);
        self.ensure_started(out);
        self.encoder.block_start(&self.meta, &block, out);
        self.open = Some(block);
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if self.open.take().is_some() {
            self.encoder.block_stop(&self.meta, out);
        }
    }

    fn apply(&mut self, e: Event, out: &mut Vec<u8>) {
        match e {
            Event::Meta { id, model } => {
                if let Some(id) = id.filter(|_| self.phase == Phase::Idle) {
                    self.meta.id = id;
                }
                if let Some(model) =
                    model.filter(|_| !self.model_override && self.phase == Phase::Idle)
                {
                    self.meta.model = model;
                }
            }
            Event::Text(t) => {
                if t.is_empty() {
                    return;
                }
                if self.open != Some(Block::Text) {
                    self.open(Block::Text, out);
                }
                self.encoder.text(&self.meta, &t, out);
            }
            Event::Thinking(t) => {
                if t.is_empty() {
                    return;
                }
                if self.open != Some(Block::Thinking) {
                    self.open(Block::Thinking, out);
                }
                self.encoder.thinking(&self.meta, &t, out);
            }
            Event::Signature(sig) => {
                if sig.value.is_empty() {
                    return;
                }
                if self.open == Some(Block::Thinking) {
                    self.encoder.signature(&self.meta, &sig, out);
                } else {
                    self.open(Block::Thinking, out);
                    self.encoder.signature(&self.meta, &sig, out);
                    self.close(out);
                }
            }
            Event::ToolStart { id, name } => self.open(Block::Tool { id, name }, out),
            Event::Args(a) => {
                if !a.is_empty() && matches!(self.open, Some(Block::Tool { .. })) {
                    self.encoder.args(&self.meta, &a, out);
                }
            }
            Event::Redacted(sig) => {
                self.close(out);
                self.ensure_started(out);
                self.encoder.redacted(&self.meta, &sig, out);
            }
            Event::BlockEnd => self.close(out),
            Event::Stop { reason, sequence } => self.stop = Some((reason, sequence)),
            Event::Done => self.finale(out),
            Event::Error { class, message } => self.error(class, &message, out),
        }
    }

    fn finale(&mut self, out: &mut Vec<u8>) {
        if self.phase == Phase::Ended {
            return;
        }
        self.close(out);
        self.ensure_started(out);
        let (stop, sequence) = self.stop.take().unwrap_or((StopReason::EndTurn, None));
        let usage = self.tap.usage().unwrap_or_default();
        #[cfg(test)]
        let usage = self.fixed_usage.unwrap_or(usage);
        self.encoder
            .finish(&self.meta, stop, sequence.as_deref(), &usage, out);
        self.phase = Phase::Ended;
        self.completed = true;
    }

    fn error(&mut self, class: ErrorClass, message: &str, out: &mut Vec<u8>) {
        if self.phase == Phase::Ended {
            return;
        }
        let id = if self.meta.id.is_empty() {
            "sy_error"
        } else {
            &self.meta.id
        };
        out.extend(stream_event(
            self.client,
            class,
            message,
            id,
            self.encoder.sequence(),
        ));
        self.phase = Phase::Ended;
    }
}

#[cfg(test)]
impl StreamConverter {
    /// A `dialect` stream written from neutral events, as an upstream of that dialect would
    /// send it: the property tests' source of arbitrary but valid upstream streams.
    pub(crate) fn render(dialect: Dialect, events: Vec<Event>, usage: TokenUsage) -> Vec<u8> {
        let options = StreamOptions {
            created: 1_759_350_264,
            model: Some("upstream-model".into()),
            chat_include_usage: true,
            freeform_tools: Vec::new(),
            gemini_code_assist: false,
        };
        let mut c = StreamConverter::new(dialect, dialect, &options);
        c.meta.id = "up_1".into();
        c.fixed_usage = Some(usage);
        let mut out = Vec::new();
        for e in events {
            c.apply(e, &mut out);
        }
        out
    }
}

impl StreamTransform for StreamConverter {
    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let mut sse = std::mem::take(&mut self.sse);
        sse.feed(chunk, &mut |ev| self.on_event(ev, out));
        self.sse = sse;
    }

    /// The upstream ended. A stream that reached its stop (Gemini has no other end marker) gets
    /// its finale; one that did not is cut, and the client gets its error signal instead of a
    /// clean end of a truncated answer.
    fn finish(&mut self, out: &mut Vec<u8>) {
        let mut sse = std::mem::take(&mut self.sse);
        sse.finish(&mut |ev| {
            if !ev.truncated {
                self.on_event(ev, out);
            }
        });
        self.sse = sse;
        if self.phase == Phase::Ended {
            return;
        }
        if self.stop.is_some() {
            self.finale(out);
        } else {
            self.fail(Break::Upstream, out);
        }
    }
}
