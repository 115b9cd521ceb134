//! How a client learns that its stream ended early, in its own dialect and framing.
//!
//! After the first byte the relay cannot fail over, so a broken upstream, an idle timeout, an
//! undecodable or over-long event, or the server's shutdown must reach the client as an error
//! it recognises — never as a clean end of a truncated answer. [`StreamEnd`] follows the bytes
//! the client has been sent, knows whether they stand at an event boundary (SSE: a blank line;
//! Gemini's streamed JSON array: between elements), and gives the dialect's error signal to
//! append there:
//!
//! | client framing | signal |
//! |---|---|
//! | Anthropic SSE | `event: error` with an `api_error` / `overloaded_error` |
//! | Chat Completions SSE | a final `data: {"error": …}` and no `[DONE]` |
//! | Responses SSE | `response.failed` carrying the response id |
//! | Gemini SSE | a `data:` Google error object |
//! | Gemini JSON array | a Google error object as the last element, and `]` |
//!
//! The signal is only ever written at a boundary: glued to half an event it would corrupt that
//! event instead. The caller then aborts the connection, so the client also sees an incomplete
//! transfer where its protocol allows.

use memchr::memchr;
use switchyard_core::Dialect;

use crate::errors::error_body_typed;

/// The framing of what the client receives, which decides its end-of-stream signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFraming {
    /// An SSE stream in this dialect.
    Sse(Dialect),
    /// Gemini's streamed JSON array (`streamGenerateContent` without `alt=sse`).
    GeminiArray,
    /// One JSON body (or anything else without an in-band error signal): the only signal is
    /// the aborted transfer.
    Plain,
}

/// Why a stream ended before the upstream finished it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Break {
    /// The upstream connection failed mid-body.
    Upstream,
    /// Nothing arrived from the upstream for the idle timeout.
    IdleTimeout,
    /// An event longer than the decoder's bound: it cannot be read for usage or checked.
    OverLong,
    /// The server is shutting down and its grace period is over.
    Shutdown,
}

impl Break {
    /// The `error_kind` recorded in the usage record.
    pub fn kind(self) -> &'static str {
        match self {
            Break::Upstream => "upstream_stream_broken",
            Break::IdleTimeout => "upstream_idle_timeout",
            Break::OverLong => "upstream_event_too_large",
            Break::Shutdown => "server_shutdown",
        }
    }

    pub(crate) fn message(self) -> &'static str {
        match self {
            Break::Upstream => "upstream stream ended unexpectedly",
            Break::IdleTimeout => "upstream stream stalled (idle timeout)",
            Break::OverLong => "upstream sent an event larger than the relay accepts",
            Break::Shutdown => "the relay is shutting down; the stream was ended",
        }
    }

    /// A shutdown is worth retrying elsewhere at once; the others are upstream faults.
    pub(crate) fn status(self) -> u16 {
        match self {
            Break::Shutdown => 503,
            Break::Upstream | Break::IdleTimeout | Break::OverLong => 502,
        }
    }
}

/// Follows the client-side bytes of one response; see the module documentation.
#[derive(Debug, Clone)]
pub struct StreamEnd {
    framing: ClientFraming,
    /// SSE: the last (up to four) bytes sent.
    tail: [u8; 4],
    tail_len: u8,
    /// JSON array: nesting depth, string state and the last significant byte.
    depth: u32,
    in_string: bool,
    escaped: bool,
    last_significant: u8,
    sent_any: bool,
}

impl StreamEnd {
    pub fn new(framing: ClientFraming) -> Self {
        Self {
            framing,
            tail: [0; 4],
            tail_len: 0,
            depth: 0,
            in_string: false,
            escaped: false,
            last_significant: 0,
            sent_any: false,
        }
    }

    pub fn framing(&self) -> ClientFraming {
        self.framing
    }

    /// Records bytes that were sent to the client.
    pub fn sent(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.sent_any = true;
        match self.framing {
            ClientFraming::Sse(_) => {
                for &b in &bytes[bytes.len().saturating_sub(4)..] {
                    if self.tail_len < 4 {
                        self.tail[self.tail_len as usize] = b;
                        self.tail_len += 1;
                    } else {
                        self.tail.rotate_left(1);
                        self.tail[3] = b;
                    }
                }
            }
            ClientFraming::GeminiArray => {
                for &b in bytes {
                    self.scan(b);
                }
            }
            ClientFraming::Plain => {}
        }
    }

    fn scan(&mut self, b: u8) {
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
                self.last_significant = b'"';
            }
            return;
        }
        match b {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => self.depth = self.depth.saturating_sub(1),
            b' ' | b'\t' | b'\r' | b'\n' => return,
            _ => {}
        }
        self.last_significant = b;
    }

    /// Whether everything sent so far ends with a whole event (or nothing was sent).
    pub fn at_boundary(&self) -> bool {
        if !self.sent_any {
            return true;
        }
        match self.framing {
            ClientFraming::Sse(_) => {
                let t = &self.tail[..self.tail_len as usize];
                t.ends_with(b"\n\n") || t.ends_with(b"\r\r") || t.ends_with(b"\r\n\r\n")
            }
            ClientFraming::GeminiArray => {
                !self.in_string
                    && ((self.depth == 1 && matches!(self.last_significant, b'[' | b'}' | b','))
                        || (self.depth == 0 && self.last_significant == b']'))
            }
            ClientFraming::Plain => false,
        }
    }

    /// Where in `chunk` (about to be sent) the stream first reaches a boundary: the length of
    /// the prefix to send so that the client stands at one. `None` if it does not within it.
    /// Used at shutdown to end a stream after its current event instead of inside it.
    pub fn boundary_within(&self, chunk: &[u8]) -> Option<usize> {
        let mut probe = self.clone();
        match self.framing {
            ClientFraming::Sse(_) => {
                // Only line ends can complete an event; test after each.
                let mut start = 0;
                while let Some(off) = memchr_line_end(&chunk[start..]) {
                    let end = start + off + 1;
                    probe.sent(&chunk[start..end]);
                    if probe.at_boundary() {
                        return Some(end);
                    }
                    start = end;
                }
                None
            }
            ClientFraming::GeminiArray => {
                for (i, &b) in chunk.iter().enumerate() {
                    probe.sent_any = true;
                    probe.scan(b);
                    if b == b'}' && probe.at_boundary() {
                        return Some(i + 1);
                    }
                }
                None
            }
            ClientFraming::Plain => None,
        }
    }

    /// `]` when a JSON array stream stands between elements but was never closed: the upstream
    /// ended it after an error element of its own, and the client still needs valid JSON.
    pub fn unclosed_array_end(&self) -> Option<&'static [u8]> {
        (self.framing == ClientFraming::GeminiArray
            && self.sent_any
            && self.depth == 1
            && self.at_boundary())
        .then_some(b"]")
    }

    /// The bytes that tell the client its stream broke, if it stands at a boundary and its
    /// framing has an in-band signal. `response_id` is the Responses stream's id, if seen.
    pub fn signal(&self, why: Break, response_id: Option<&str>) -> Option<Vec<u8>> {
        if !self.at_boundary() {
            return None;
        }
        let status = why.status();
        let message = why.message();
        match self.framing {
            ClientFraming::Plain => None,
            ClientFraming::Sse(Dialect::Anthropic) => Some(
                format!(
                    "event: error\ndata: {}\n\n",
                    error_body_typed(Dialect::Anthropic, status, None, message)
                )
                .into_bytes(),
            ),
            ClientFraming::Sse(Dialect::OpenaiChat) => Some(
                format!(
                    "data: {}\n\n",
                    error_body_typed(Dialect::OpenaiChat, status, Some("server_error"), message)
                )
                .into_bytes(),
            ),
            ClientFraming::Sse(Dialect::OpenaiResponses) => {
                let failed = serde_json::json!({
                    "type": "response.failed",
                    "response": {
                        "id": response_id.unwrap_or(""),
                        "object": "response",
                        "status": "failed",
                        "error": {"code": "server_error", "message": message},
                        "output": [],
                    }
                });
                Some(format!("event: response.failed\ndata: {failed}\n\n").into_bytes())
            }
            ClientFraming::Sse(Dialect::Gemini) => Some(
                format!(
                    "data: {}\r\n\r\n",
                    error_body_typed(Dialect::Gemini, status, None, message)
                )
                .into_bytes(),
            ),
            ClientFraming::GeminiArray => {
                let error = error_body_typed(Dialect::Gemini, status, None, message);
                let open = if !self.sent_any {
                    "["
                } else if self.depth == 0 {
                    // The array was already closed: nothing can be added inside it.
                    return None;
                } else if self.last_significant == b'}' {
                    ",\r\n"
                } else {
                    ""
                };
                Some(format!("{open}{error}]").into_bytes())
            }
        }
    }
}

/// The offset of the next `\n` or `\r` in `bytes`.
fn memchr_line_end(bytes: &[u8]) -> Option<usize> {
    match (memchr(b'\n', bytes), memchr(b'\r', bytes)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse(d: Dialect) -> StreamEnd {
        StreamEnd::new(ClientFraming::Sse(d))
    }

    #[test]
    fn sse_signals_only_at_event_boundaries() {
        let mut end = sse(Dialect::OpenaiChat);
        assert!(end.at_boundary());
        end.sent(b"data: {\"choices\":[]}\n\ndata: {\"cho");
        assert!(!end.at_boundary());
        assert_eq!(end.signal(Break::Upstream, None), None);
        end.sent(b"ices\":[]}\n\n");
        let signal = String::from_utf8(end.signal(Break::Upstream, None).unwrap()).unwrap();
        assert!(signal.starts_with("data: {\"error\":{"));
        assert!(signal.contains("\"type\":\"server_error\""));
        assert!(!signal.contains("[DONE]"));
        let v: serde_json::Value =
            serde_json::from_str(signal.trim_start_matches("data: ").trim()).unwrap();
        assert_eq!(v["error"]["message"], "upstream stream ended unexpectedly");
    }

    #[test]
    fn responses_signal_is_response_failed_with_the_id() {
        let mut end = sse(Dialect::OpenaiResponses);
        end.sent(b"event: response.created\ndata: {}\n\n");
        let signal =
            String::from_utf8(end.signal(Break::IdleTimeout, Some("resp_1")).unwrap()).unwrap();
        let data = signal.lines().nth(1).unwrap().trim_start_matches("data: ");
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["type"], "response.failed");
        assert_eq!(v["response"]["id"], "resp_1");
        assert_eq!(v["response"]["status"], "failed");
    }

    #[test]
    fn anthropic_and_gemini_sse_signals() {
        let end = sse(Dialect::Anthropic);
        let s = String::from_utf8(end.signal(Break::Shutdown, None).unwrap()).unwrap();
        assert!(s.starts_with("event: error\ndata: {\"type\":\"error\""));
        assert!(s.contains("overloaded_error"));
        let mut end = sse(Dialect::Gemini);
        end.sent(b"data: {}\r\n\r\n");
        let s = String::from_utf8(end.signal(Break::Upstream, None).unwrap()).unwrap();
        assert!(s.starts_with("data: {\"error\":{\"code\":502"));
        assert!(s.ends_with("\r\n\r\n"));
    }

    #[test]
    fn gemini_array_is_closed_with_an_error_element() {
        let parse = |sent: &[u8], end: &StreamEnd| {
            let mut all = sent.to_vec();
            all.extend(end.signal(Break::Upstream, None).unwrap());
            serde_json::from_slice::<serde_json::Value>(&all).unwrap()
        };
        let mut end = StreamEnd::new(ClientFraming::GeminiArray);
        let v = parse(b"", &end);
        assert_eq!(v[0]["error"]["code"], 502);
        let sent = b"[{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"}]\"}]}}]}";
        end.sent(sent);
        let v = parse(sent, &end);
        assert_eq!(v.as_array().unwrap().len(), 2);
        assert_eq!(v[1]["error"]["status"], "UNAVAILABLE");
        // Mid-element: no signal.
        end.sent(b",\r\n{\"candid");
        assert_eq!(end.signal(Break::Upstream, None), None);
        assert_eq!(end.unclosed_array_end(), None, "mid-element");
        let mut open = StreamEnd::new(ClientFraming::GeminiArray);
        open.sent(b"[{\"error\":{}}");
        assert_eq!(open.unclosed_array_end(), Some(&b"]"[..]));
        // A closed array takes nothing more.
        let mut closed = StreamEnd::new(ClientFraming::GeminiArray);
        closed.sent(b"[{}]");
        assert_eq!(closed.signal(Break::Upstream, None), None);
    }

    #[test]
    fn plain_bodies_have_no_in_band_signal() {
        let end = StreamEnd::new(ClientFraming::Plain);
        assert_eq!(end.signal(Break::Upstream, None), None);
    }

    #[test]
    fn boundary_within_finds_the_end_of_the_current_event() {
        let mut end = sse(Dialect::Anthropic);
        end.sent(b"event: ping\ndata: {}\n\neve");
        let chunk = b"nt: x\ndata: {}\n\nevent: y\ndata";
        assert_eq!(end.boundary_within(chunk), Some(16));
        assert_eq!(end.boundary_within(b"nt: x\ndata: {"), None);
        // A CRLF boundary split across chunks.
        let mut end = sse(Dialect::Gemini);
        end.sent(b"data: {}\r\n");
        assert_eq!(end.boundary_within(b"\r\ndata"), Some(2));
        let mut arr = StreamEnd::new(ClientFraming::GeminiArray);
        arr.sent(b"[{\"a\":{\"b\":");
        assert_eq!(arr.boundary_within(b"1}},\r\n{\"c\""), Some(3));
    }
}
