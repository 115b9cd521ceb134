//! Removes the usage chunk that the relay asked a Chat Completions upstream for.
//!
//! Without `stream_options.include_usage` a Chat Completions stream carries no usage, so the
//! relay sets it on requests whose client did not, to be able to bill them. The upstream then
//! sends one extra chunk, `{"choices":[],"usage":{…}}`, which such a client never asked for and
//! may mishandle (some treat an empty `choices` as an error). This transform forwards every
//! event byte-identically and drops exactly that one event. The caller still feeds the
//! *unstripped* upstream bytes to its usage tap.
//!
//! Asking for usage also makes the upstream add `"usage":null` to every other chunk, which it
//! does not send to a client that did not ask; that member is removed from each kept event too,
//! so the client receives exactly what it would have without the relay's request.
//!
//! Events are held back only until their terminating blank line (upstreams send whole events
//! per chunk, so this adds no real latency). An event longer than the bound cannot be the small
//! usage chunk and is forwarded as it comes, so memory stays bounded.

use memchr::{memchr2, memmem};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

/// Default hold-back bound. A usage chunk is a few hundred bytes.
pub const DEFAULT_MAX_HELD_EVENT: usize = 64 * 1024;

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct ChatUsageStripper {
    /// Bytes of the current event not yet forwarded.
    pending: Vec<u8>,
    /// The current line has at least one byte (so its terminator does not end the event).
    line_has_content: bool,
    /// The last byte seen was a `\r` line terminator; a `\n` next belongs to it.
    prev_cr: bool,
    /// When that `\r` ended an event: whether the event was kept, which decides the `\n`.
    cr_ended_event: Option<bool>,
    /// The current event outgrew the bound and is being forwarded as it arrives.
    passthrough: bool,
    max_held: usize,
    stripped: u64,
}

impl Default for ChatUsageStripper {
    fn default() -> Self {
        Self::new()
    }
}

impl ChatUsageStripper {
    pub fn new() -> Self {
        Self::with_max_held_event(DEFAULT_MAX_HELD_EVENT)
    }

    /// A stripper that holds back at most `max_held` bytes of an unfinished event.
    pub fn with_max_held_event(max_held: usize) -> Self {
        Self {
            pending: Vec::new(),
            line_has_content: false,
            prev_cr: false,
            cr_ended_event: None,
            passthrough: false,
            max_held,
            stripped: 0,
        }
    }

    /// How many usage events were removed (0 or 1 on a well-formed stream).
    pub fn stripped(&self) -> u64 {
        self.stripped
    }

    /// Takes an upstream chunk (split anywhere) and appends to `out` the bytes to send to the
    /// client now.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if chunk.is_empty() {
            return;
        }
        let mut i = 0;
        let mut seg_start = 0;
        if self.prev_cr && chunk[0] == b'\n' {
            i = 1;
            if let Some(kept) = self.cr_ended_event {
                // Second half of the CRLF that ended the previous event: it goes wherever
                // that event went.
                if kept {
                    out.push(b'\n');
                }
                seg_start = 1;
            }
        }
        self.prev_cr = false;
        self.cr_ended_event = None;

        while i < chunk.len() {
            let Some(off) = memchr2(b'\n', b'\r', &chunk[i..]) else {
                self.line_has_content = true;
                break;
            };
            let p = i + off;
            if off > 0 {
                self.line_has_content = true;
            }
            let term_end = if chunk[p] == b'\r' {
                match chunk.get(p + 1) {
                    Some(b'\n') => p + 2,
                    Some(_) => p + 1,
                    None => {
                        self.prev_cr = true;
                        p + 1
                    }
                }
            } else {
                p + 1
            };
            if !self.line_has_content {
                let kept = self.end_event(&chunk[seg_start..term_end], out);
                if self.prev_cr {
                    self.cr_ended_event = Some(kept);
                }
                seg_start = term_end;
            }
            self.line_has_content = false;
            i = term_end;
        }
        self.hold(&chunk[seg_start..], out);
    }

    /// End of the upstream stream: an unterminated final event is forwarded unless it is the
    /// usage chunk.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.pending.is_empty() {
            if is_usage_chunk(&self.pending) {
                self.stripped += 1;
            } else {
                emit_without_null_usage(&self.pending, out);
            }
        }
        self.pending.clear();
        self.line_has_content = false;
        self.prev_cr = false;
        self.cr_ended_event = None;
        self.passthrough = false;
    }

    /// Holds the unfinished tail of an event, or forwards it if the event is too big to be the
    /// usage chunk.
    fn hold(&mut self, tail: &[u8], out: &mut Vec<u8>) {
        if tail.is_empty() {
            return;
        }
        if self.passthrough {
            out.extend_from_slice(tail);
        } else if self.pending.len() + tail.len() > self.max_held {
            out.extend_from_slice(&self.pending);
            out.extend_from_slice(tail);
            self.pending.clear();
            self.passthrough = true;
        } else {
            self.pending.extend_from_slice(tail);
        }
    }

    /// Completes the current event with `last` (which includes its blank line) and forwards or
    /// drops it. Returns whether it was kept.
    fn end_event(&mut self, last: &[u8], out: &mut Vec<u8>) -> bool {
        if self.passthrough {
            self.passthrough = false;
            out.extend_from_slice(last);
            return true;
        }
        let kept = if self.pending.is_empty() {
            // Common case: the whole event is inside this chunk, judge it in place.
            let keep = !is_usage_chunk(last);
            if keep {
                emit_without_null_usage(last, out);
            }
            keep
        } else if self.pending.len() + last.len() > self.max_held {
            out.extend_from_slice(&self.pending);
            out.extend_from_slice(last);
            true
        } else {
            self.pending.extend_from_slice(last);
            let keep = !is_usage_chunk(&self.pending);
            if keep {
                emit_without_null_usage(&self.pending, out);
            }
            keep
        };
        self.pending.clear();
        if self.pending.capacity() > self.max_held {
            self.pending.shrink_to(self.max_held);
        }
        if !kept {
            self.stripped += 1;
        }
        kept
    }
}

#[derive(Deserialize)]
struct UsageChunkShape<'a> {
    choices: Option<Vec<IgnoredAny>>,
    #[serde(borrow)]
    usage: Option<&'a RawValue>,
}

/// Whether the raw event is a chunk with `"choices":[]` and a non-null `usage`.
fn is_usage_chunk(event: &[u8]) -> bool {
    // Cheap reject first: content chunks say `"usage":null` or nothing.
    let has_usage = memmem::find_iter(event, b"\"usage\"").any(|at| {
        let rest = trim_ws(&event[at + 7..]);
        rest.strip_prefix(b":")
            .is_some_and(|v| !trim_ws(v).starts_with(b"null"))
    });
    if !has_usage {
        return false;
    }
    let data = event_data(event);
    match serde_json::from_slice::<UsageChunkShape<'_>>(&data) {
        Ok(shape) => {
            shape.choices.is_some_and(|c| c.is_empty())
                && shape.usage.is_some_and(|u| u.get() != "null")
        }
        Err(_) => false,
    }
}

/// Appends `event` to `out` without its `"usage":null` member (and the comma that joined it),
/// if it has one. Inside a JSON string a quote is escaped, so an unescaped `"usage"` followed by
/// `:` and `null` is always a member.
fn emit_without_null_usage(event: &[u8], out: &mut Vec<u8>) {
    for at in memmem::find_iter(event, b"\"usage\"") {
        let after_key = at + 7;
        let rest = &event[after_key..];
        let Some(v) = trim_ws(rest).strip_prefix(b":") else {
            continue;
        };
        let v = trim_ws(v);
        if !v.starts_with(b"null") {
            continue;
        }
        let mut end = event.len() - v.len() + 4;
        let mut start = at;
        // Take the comma before the member, or else the one after it.
        let before = event[..start]
            .iter()
            .rposition(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
        match before {
            Some(i) if event[i] == b',' => start = i,
            _ => {
                let after = trim_ws(&event[end..]);
                if after.starts_with(b",") {
                    end = event.len() - after.len() + 1;
                }
            }
        }
        out.extend_from_slice(&event[..start]);
        out.extend_from_slice(&event[end..]);
        return;
    }
    out.extend_from_slice(event);
}

/// The event's data lines joined with `\n`, as an SSE decoder would see them.
fn event_data(event: &[u8]) -> Vec<u8> {
    let event = event.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(event);
    let mut data = Vec::with_capacity(event.len());
    let mut first = true;
    for line in event.split(|b| *b == b'\n' || *b == b'\r') {
        let value = if let Some(v) = line.strip_prefix(b"data:") {
            v.strip_prefix(b" ").unwrap_or(v)
        } else if line == b"data" {
            &[][..]
        } else {
            continue;
        };
        if !first {
            data.push(b'\n');
        }
        first = false;
        data.extend_from_slice(value);
    }
    data
}

fn trim_ws(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .unwrap_or(bytes.len());
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::StreamTap;
    use proptest::prelude::*;
    use switchyard_core::Dialect;

    use crate::test_fixtures::CHAT;

    fn strip(chunks: &[&[u8]]) -> (Vec<u8>, u64) {
        let mut s = ChatUsageStripper::new();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut out);
        }
        s.finish(&mut out);
        (out, s.stripped())
    }

    fn without_usage(stream: &str, sep: &str) -> String {
        stream
            .split_inclusive(sep)
            .filter(|e| !e.contains("\"prompt_tokens\""))
            .map(|e| e.replace(",\"usage\":null", ""))
            .collect()
    }

    #[test]
    fn null_usage_members_are_removed_and_nothing_else() {
        let (out, _) = strip(&[b"data: {\"a\":1, \"usage\" : null }\n\n"]);
        assert_eq!(out, b"data: {\"a\":1 }\n\n");
        let (out, _) = strip(&[b"data: {\"usage\":null,\"a\":1}\n\n"]);
        assert_eq!(out, b"data: {\"a\":1}\n\n");
        // In a string the quotes are escaped: untouched.
        let body = b"data: {\"c\":\"\\\"usage\\\":null\"}\n\n";
        assert_eq!(strip(&[body]).0, body.to_vec());
        let (out, _) = strip(&[CHAT.as_bytes()]);
        assert!(!String::from_utf8(out).unwrap().contains("\"usage\""));
    }

    #[test]
    fn removes_exactly_the_usage_event() {
        let (out, n) = strip(&[CHAT.as_bytes()]);
        assert_eq!(n, 1);
        let expected = without_usage(CHAT, "\n\n");
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        assert!(expected.ends_with("data: [DONE]\n\n"));
        assert!(
            expected.contains("\"choices\":[],\"created\":0"),
            "Azure's first chunk stays"
        );

        // The caller's tap on the raw upstream bytes still sees the usage.
        let mut tap = StreamTap::new(Dialect::OpenaiChat);
        tap.feed(CHAT.as_bytes());
        tap.finish();
        assert_eq!(tap.usage().map(|u| u.output_tokens), Some(76));
    }

    #[test]
    fn any_split_and_single_bytes() {
        for (stream, sep) in [
            (CHAT.to_owned(), "\n\n"),
            (CHAT.replace('\n', "\r\n"), "\r\n\r\n"),
            (CHAT.replace('\n', "\r"), "\r\r"),
        ] {
            let expected = without_usage(&stream, sep).into_bytes();
            let bytes = stream.as_bytes();
            for split in 0..=bytes.len() {
                let (a, b) = bytes.split_at(split);
                assert_eq!(strip(&[a, b]), (expected.clone(), 1), "split at {split}");
            }
            let singles: Vec<&[u8]> = bytes.chunks(1).collect();
            assert_eq!(strip(&singles), (expected, 1));
        }
    }

    #[test]
    fn keeps_streams_without_usage_and_usage_with_choices() {
        let body = "data: {\"choices\":[{\"delta\":{}}],\"usage\":{\"prompt_tokens\":1}}\n\n: comment\n\ndata: [DONE]\n\n";
        assert_eq!(strip(&[body.as_bytes()]), (body.as_bytes().to_vec(), 0));
    }

    #[test]
    fn unterminated_usage_event_at_eof_is_dropped() {
        let body = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}";
        assert_eq!(
            strip(&[b"data: x\n\n", body.as_bytes()]),
            (b"data: x\n\n".to_vec(), 1)
        );
    }

    #[test]
    fn large_events_pass_through_bounded() {
        let big = format!(
            "data: {{\"choices\":[{{\"delta\":{{\"content\":\"{}\"}}}}]}}\n\n",
            "x".repeat(5000)
        );
        let stream = format!("{big}{}", CHAT);
        let mut s = ChatUsageStripper::with_max_held_event(1024);
        let mut out = Vec::new();
        for c in stream.as_bytes().chunks(100) {
            s.push(c, &mut out);
            assert!(s.pending.len() <= 1024);
        }
        s.finish(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{big}{}", without_usage(CHAT, "\n\n"))
        );
    }

    proptest! {
        #[test]
        fn random_chunking(cuts in proptest::collection::vec(any::<usize>(), 0..16), crlf in any::<bool>()) {
            let (stream, sep) = if crlf { (CHAT.replace('\n', "\r\n"), "\r\n\r\n") } else { (CHAT.to_owned(), "\n\n") };
            let bytes = stream.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut prev = 0;
            for c in cuts {
                chunks.push(&bytes[prev..c]);
                prev = c;
            }
            chunks.push(&bytes[prev..]);
            prop_assert_eq!(strip(&chunks), (without_usage(&stream, sep).into_bytes(), 1));
        }
    }
}
