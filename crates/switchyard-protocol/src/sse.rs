//! Incremental Server-Sent Events decoder (WHATWG HTML §9.2 event-stream parsing).
//!
//! The relay forwards upstream bytes untouched and feeds a *copy* of every chunk to this decoder
//! to learn what happened (usage, errors, completion). Chunks arrive split at arbitrary bytes —
//! inside a field name, between `\r` and `\n`, inside a multi-byte UTF-8 character — so the
//! decoder buffers raw bytes and only decodes complete lines. A line that lies entirely inside
//! one chunk is processed straight from that chunk without being copied into the line buffer,
//! which is what keeps the decoder fast on the common path.
//!
//! Deviations from the spec, both deliberate:
//! - `id` and `retry` are ignored: the relay never reconnects, so it has no use for them.
//! - At end of stream the spec discards a partial event; [`SseDecoder::finish`] dispatches it
//!   anyway with [`SseEvent::truncated`] set, because a cut-off stream must still be billed for
//!   whatever it carried.

use memchr::{memchr, memchr2};

/// Default bound on one event (data plus event type plus any pending partial line). Real events
/// are at most a few hundred KiB (a large tool call); the bound exists so that a broken or
/// hostile upstream cannot make the side decoder grow without limit.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 8 * 1024 * 1024;

/// After an event this large, buffers are shrunk back so one huge event does not pin its memory
/// for the rest of a long stream.
const RETAIN_CAPACITY: usize = 64 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched event. Borrowed from the decoder; copy out what you need to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The event type; `"message"` when the event had no (or an empty) `event:` field.
    pub event: &'a str,
    /// The data lines joined with `\n`.
    pub data: &'a str,
    /// The stream ended before this event's terminating blank line: the spec would discard it,
    /// we hand it out for billing but it may be incomplete.
    pub truncated: bool,
}

/// Byte-level incremental SSE decoder. See the module documentation.
#[derive(Debug, Clone)]
pub struct SseDecoder {
    /// Bytes of a line whose terminator has not arrived yet.
    line: Vec<u8>,
    /// Data buffer of the event being assembled (lines joined with `\n`).
    data: String,
    /// Whether any `data` field was seen; distinguishes `data:` (dispatches `""`) from no data.
    has_data: bool,
    event_type: String,
    /// The previous chunk ended in `\r`: a `\n` at the start of the next chunk belongs to it.
    pending_cr: bool,
    /// No line has been processed yet, so a leading BOM must still be stripped.
    at_stream_start: bool,
    /// The current partial line belongs to an oversize event and its bytes are being dropped.
    skipping_line: bool,
    /// The current event went over the size bound; ignore fields until the next blank line.
    discarding_event: bool,
    max_event_size: usize,
    dropped_oversize: u64,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SseDecoder {
    /// A decoder with the default event size bound ([`DEFAULT_MAX_EVENT_SIZE`]).
    pub fn new() -> Self {
        Self::with_max_event_size(DEFAULT_MAX_EVENT_SIZE)
    }

    /// A decoder that drops any event larger than `max_event_size` bytes.
    pub fn with_max_event_size(max_event_size: usize) -> Self {
        Self {
            line: Vec::new(),
            data: String::new(),
            has_data: false,
            event_type: String::new(),
            pending_cr: false,
            at_stream_start: true,
            skipping_line: false,
            discarding_event: false,
            max_event_size,
            dropped_oversize: 0,
        }
    }

    /// The configured event size bound.
    pub fn max_event_size(&self) -> usize {
        self.max_event_size
    }

    /// How many events were dropped for exceeding the size bound (worth a metric: it means
    /// usage may be missing).
    pub fn dropped_oversize(&self) -> u64 {
        self.dropped_oversize
    }

    /// Decodes one chunk, calling `on_event` for every event completed inside it.
    pub fn feed<F>(&mut self, chunk: &[u8], on_event: &mut F)
    where
        F: FnMut(&SseEvent<'_>),
    {
        if chunk.is_empty() {
            // Must not clear `pending_cr`: the `\n` of a split CRLF may still come next.
            return;
        }
        let mut pos = 0;
        if self.pending_cr {
            self.pending_cr = false;
            if chunk.first() == Some(&b'\n') {
                pos = 1;
            }
        }
        while pos < chunk.len() {
            let rest = &chunk[pos..];
            let Some(off) = memchr2(b'\n', b'\r', rest) else {
                self.buffer_partial(rest);
                return;
            };
            let end = pos + off;
            let next = if chunk[end] == b'\r' {
                match chunk.get(end + 1) {
                    Some(b'\n') => end + 2,
                    Some(_) => end + 1,
                    None => {
                        self.pending_cr = true;
                        end + 1
                    }
                }
            } else {
                end + 1
            };
            self.complete_line(&chunk[pos..end], on_event);
            pos = next;
        }
    }

    /// Ends the stream: a pending partial line is processed and a pending event is dispatched
    /// with `truncated: true`. The decoder is then ready for a new stream (the
    /// [`dropped_oversize`](Self::dropped_oversize) counter is kept).
    pub fn finish<F>(&mut self, on_event: &mut F)
    where
        F: FnMut(&SseEvent<'_>),
    {
        if !self.skipping_line && !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, on_event);
            self.line = line;
        }
        if !self.discarding_event && self.has_data {
            self.dispatch(true, on_event);
        }
        self.line.clear();
        self.reset_event();
        self.pending_cr = false;
        self.at_stream_start = true;
        self.skipping_line = false;
        self.discarding_event = false;
    }

    /// Stores the unterminated tail of a chunk, or starts dropping the event if it would exceed
    /// the bound.
    fn buffer_partial(&mut self, bytes: &[u8]) {
        if self.skipping_line {
            return;
        }
        if self.size_with(self.line.len() + bytes.len()) > self.max_event_size {
            self.drop_event();
            self.line.clear();
            self.skipping_line = true;
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    /// Handles a line terminator; `tail` is the part of the line inside the current chunk.
    fn complete_line<F>(&mut self, tail: &[u8], on_event: &mut F)
    where
        F: FnMut(&SseEvent<'_>),
    {
        if self.skipping_line {
            // The end of an over-long (hence non-blank) line: nothing to do but stop skipping.
            self.skipping_line = false;
            return;
        }
        if self.line.is_empty() {
            self.process_line(tail, on_event);
            return;
        }
        if self.size_with(self.line.len() + tail.len()) > self.max_event_size {
            self.drop_event();
            self.line.clear();
            return;
        }
        let mut line = std::mem::take(&mut self.line);
        line.extend_from_slice(tail);
        self.process_line(&line, on_event);
        line.clear();
        if line.capacity() > RETAIN_CAPACITY {
            line.shrink_to(RETAIN_CAPACITY);
        }
        self.line = line;
    }

    fn size_with(&self, extra: usize) -> usize {
        self.data
            .len()
            .saturating_add(self.event_type.len())
            .saturating_add(extra)
    }

    fn process_line<F>(&mut self, mut line: &[u8], on_event: &mut F)
    where
        F: FnMut(&SseEvent<'_>),
    {
        if self.at_stream_start {
            self.at_stream_start = false;
            if let Some(rest) = line.strip_prefix(BOM) {
                line = rest;
            }
        }
        if line.is_empty() {
            if self.discarding_event {
                self.discarding_event = false;
                self.reset_event();
            } else {
                self.dispatch(false, on_event);
            }
            return;
        }
        if self.discarding_event || line[0] == b':' {
            return;
        }
        let (name, value) = match memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match name {
            b"data" => {
                if self.size_with(value.len() + 1) > self.max_event_size {
                    self.drop_event();
                    return;
                }
                if self.has_data {
                    self.data.push('\n');
                }
                push_lossy(&mut self.data, value);
                self.has_data = true;
            }
            b"event" => {
                if self.data.len().saturating_add(value.len()) > self.max_event_size {
                    self.drop_event();
                    return;
                }
                self.event_type.clear();
                push_lossy(&mut self.event_type, value);
            }
            // `id` and `retry` only matter for reconnection, which the relay never does;
            // unknown fields are ignored by the spec.
            _ => {}
        }
    }

    fn dispatch<F>(&mut self, truncated: bool, on_event: &mut F)
    where
        F: FnMut(&SseEvent<'_>),
    {
        if self.has_data {
            let event = if self.event_type.is_empty() {
                "message"
            } else {
                self.event_type.as_str()
            };
            on_event(&SseEvent {
                event,
                data: &self.data,
                truncated,
            });
        }
        self.reset_event();
    }

    fn drop_event(&mut self) {
        if !self.discarding_event {
            self.dropped_oversize += 1;
            self.discarding_event = true;
        }
        self.reset_event();
    }

    fn reset_event(&mut self) {
        self.data.clear();
        if self.data.capacity() > RETAIN_CAPACITY {
            self.data.shrink_to(RETAIN_CAPACITY);
        }
        self.has_data = false;
        self.event_type.clear();
    }
}

/// Appends `bytes` as UTF-8, replacing invalid sequences: a broken line must never stop the
/// tap, and the forwarded bytes are unaffected anyway.
fn push_lossy(buf: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => buf.push_str(s),
        Err(_) => buf.push_str(&String::from_utf8_lossy(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::ANTHROPIC;
    use proptest::prelude::*;

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) struct Owned {
        event: String,
        data: String,
        truncated: bool,
    }

    fn collect_chunks(dec: &mut SseDecoder, chunks: &[&[u8]]) -> Vec<Owned> {
        let mut out = Vec::new();
        let mut push = |ev: &SseEvent<'_>| {
            out.push(Owned {
                event: ev.event.to_owned(),
                data: ev.data.to_owned(),
                truncated: ev.truncated,
            })
        };
        for c in chunks {
            dec.feed(c, &mut push);
        }
        dec.finish(&mut push);
        out
    }

    fn decode(chunks: &[&[u8]]) -> Vec<Owned> {
        collect_chunks(&mut SseDecoder::new(), chunks)
    }

    fn ev(event: &str, data: &str) -> Owned {
        Owned {
            event: event.into(),
            data: data.into(),
            truncated: false,
        }
    }

    #[test]
    fn anthropic_stream_events_keep_data_verbatim() {
        let events = decode(&[ANTHROPIC.as_bytes()]);
        let names: Vec<_> = events.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "ping",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert!(events[0].data.ends_with("}}               }"));
        assert!(events[2].data.contains("Olá!"));
        assert!(events.iter().all(|e| !e.truncated));
    }

    #[test]
    fn every_two_way_split_and_single_bytes_match_one_shot() {
        let bytes = ANTHROPIC.as_bytes();
        let expected = decode(&[bytes]);
        for split in 0..=bytes.len() {
            let (a, b) = bytes.split_at(split);
            assert_eq!(decode(&[a, b]), expected, "split at {split}");
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(decode(&singles), expected);
    }

    #[test]
    fn crlf_and_cr_only_line_ends() {
        let lf = ANTHROPIC.as_bytes();
        let expected = decode(&[lf]);
        let crlf = ANTHROPIC.replace('\n', "\r\n");
        let cr = ANTHROPIC.replace('\n', "\r");
        for variant in [crlf.as_bytes(), cr.as_bytes()] {
            assert_eq!(decode(&[variant]), expected);
            for split in 0..=variant.len() {
                let (a, b) = variant.split_at(split);
                assert_eq!(decode(&[a, b]), expected, "split at {split}");
            }
        }
    }

    #[test]
    fn cr_at_chunk_end_then_lf_is_one_line_end() {
        // If the split CRLF were two line ends, the blank line would dispatch "a" early and "b"
        // would become a separate event.
        let events = decode(&[b"data: a\r", b"", b"\ndata: b\r", b"\n\r", b"\n"]);
        assert_eq!(events, vec![ev("message", "a\nb")]);
    }

    #[test]
    fn gemini_crlf_crlf_terminators() {
        let body = b"data: {\"a\": 1}\r\n\r\ndata: {\"b\": 2}\r\n\r\n";
        assert_eq!(
            decode(&[body]),
            vec![ev("message", "{\"a\": 1}"), ev("message", "{\"b\": 2}")]
        );
    }

    #[test]
    fn field_parsing_rules() {
        let body = b":comment\ndata\n\ndata:x\ndata:  y\n\nevent\ndata: z\n\nevent: e\n\ndata : ignored\ndata:w\nid: 1\nretry: x\nfoo: bar\n\n";
        assert_eq!(
            decode(&[body]),
            vec![
                ev("message", ""),
                ev("message", "x\n y"),
                ev("message", "z"),
                ev("message", "w"),
            ]
        );
    }

    #[test]
    fn event_type_resets_after_dispatch_and_empty_event_dispatches_nothing() {
        let body = b"event: a\n\ndata: 1\n\nevent: b\ndata: 2\n\n";
        assert_eq!(decode(&[body]), vec![ev("message", "1"), ev("b", "2")]);
    }

    #[test]
    fn bom_stripped_once_even_when_split() {
        let body = b"\xEF\xBB\xBFdata: 1\n\n\xEF\xBB\xBFdata: 2\n\n";
        let expected = vec![ev("message", "1")];
        assert_eq!(decode(&[body]), expected);
        for split in 0..=body.len() {
            let (a, b) = body.split_at(split);
            assert_eq!(decode(&[a, b]), expected, "split at {split}");
        }
    }

    #[test]
    fn invalid_utf8_is_lossy_not_fatal() {
        let events = decode(&[b"data: a\xFFb\n\n"]);
        assert_eq!(events, vec![ev("message", "a\u{FFFD}b")]);
    }

    #[test]
    fn partial_event_at_eof_is_dispatched_truncated() {
        let events = decode(&[b"data: 1\n\nevent: x\ndata: {\"partial"]);
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[1],
            Owned {
                event: "x".into(),
                data: "{\"partial".into(),
                truncated: true
            }
        );
        assert!(decode(&[b"event: x\n"]).is_empty());
    }

    #[test]
    fn oversize_event_dropped_and_decoding_resumes() {
        let mut dec = SseDecoder::with_max_event_size(16);
        let big = format!("data: {}\n\ndata: ok\n\n", "x".repeat(100));
        let events = collect_chunks(&mut dec, &[big.as_bytes()]);
        assert_eq!(events, vec![ev("message", "ok")]);
        assert_eq!(dec.dropped_oversize(), 1);

        // Same, but the long line arrives in pieces so it sits in the line buffer.
        let mut dec = SseDecoder::with_max_event_size(16);
        let chunks: Vec<&[u8]> = big.as_bytes().chunks(3).collect();
        assert_eq!(collect_chunks(&mut dec, &chunks), vec![ev("message", "ok")]);
        assert_eq!(dec.dropped_oversize(), 1);

        // Many data lines that are each small but add up.
        let mut dec = SseDecoder::with_max_event_size(16);
        let many = format!("{}\ndata: ok\n\n", "data: 12345\n".repeat(10));
        assert_eq!(
            collect_chunks(&mut dec, &[many.as_bytes()]),
            vec![ev("message", "ok")]
        );
        assert_eq!(dec.dropped_oversize(), 1);
    }

    fn chunked(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut out = Vec::new();
        let mut prev = 0;
        for c in cuts {
            out.push(bytes[prev..c].to_vec());
            prev = c;
        }
        out.push(bytes[prev..].to_vec());
        out
    }

    fn sse_like() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"data".to_vec()),
            Just(b"data: ".to_vec()),
            Just(b"event: ".to_vec()),
            Just(b":".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"\r\n".to_vec()),
            Just("Olá".as_bytes().to_vec()),
            Just(b"\xEF\xBB\xBF".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..6),
            "[a-z {}\":]{0,8}".prop_map(String::into_bytes),
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn random_chunking_matches_one_shot(
            body in sse_like(),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let expected = decode(&[&body]);
            let chunks = chunked(&body, &cuts);
            let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(decode(&refs), expected);
        }

        #[test]
        fn random_chunking_of_real_stream(cuts in proptest::collection::vec(any::<usize>(), 0..20)) {
            let bytes = ANTHROPIC.replace('\n', "\r\n").into_bytes();
            let expected = decode(&[&bytes]);
            let chunks = chunked(&bytes, &cuts);
            let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(decode(&refs), expected);
        }
    }
}
