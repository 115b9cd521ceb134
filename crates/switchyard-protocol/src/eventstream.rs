//! Incremental decoder for `application/vnd.amazon.eventstream`, the binary framing of Bedrock's
//! `InvokeModelWithResponseStream`.
//!
//! Every frame is self-delimiting and protected by two CRC32s (IEEE):
//!
//! ```text
//! [total_len u32 BE][headers_len u32 BE][prelude_crc u32 = CRC32(first 8 bytes)]
//! [headers: name_len u8, name, type u8, value]...
//! [payload][message_crc u32 = CRC32(every preceding byte of the frame)]
//! ```
//!
//! Upstream bytes arrive split anywhere, so the decoder buffers until a whole frame is present.
//! Lengths come from the network: the prelude CRC is checked *before* the lengths are trusted (a
//! corrupt length would otherwise make the decoder wait for, and buffer, gigabytes), and a frame
//! may not exceed [`MAX_FRAME_LEN`]. After any error the stream cannot be re-synchronised (there
//! is no frame marker to search for), so the decoder stays failed and drops further input.

use bytes::{Buf, Bytes, BytesMut};

/// Default upper bound for one frame. Bedrock chunks are a few KiB; AWS's own limit for a
/// message is 16 MiB.
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Prelude: total length, headers length, prelude CRC.
const PRELUDE_LEN: usize = 12;
/// Prelude plus the trailing message CRC: the size of a frame with no headers and no payload.
const MIN_FRAME_LEN: usize = PRELUDE_LEN + 4;

/// Wire codes of the header value types.
mod wire {
    pub const BOOL_TRUE: u8 = 0;
    pub const BOOL_FALSE: u8 = 1;
    pub const BYTE: u8 = 2;
    pub const SHORT: u8 = 3;
    pub const INT: u8 = 4;
    pub const LONG: u8 = 5;
    pub const BYTES: u8 = 6;
    pub const STRING: u8 = 7;
    pub const TIMESTAMP: u8 = 8;
    pub const UUID: u8 = 9;
}

/// A typed header value: every type the event-stream format defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(Bytes),
    String(String),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
}

impl HeaderValue {
    /// The value if it is a string (the type every Bedrock header uses).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            HeaderValue::String(s) => Some(s),
            _ => None,
        }
    }
}

/// One named header of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: HeaderValue,
}

impl Header {
    /// A string header, the common case.
    pub fn string(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: HeaderValue::String(value.into()),
        }
    }
}

/// One decoded frame. The payload is a view into the received bytes, not a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub headers: Vec<Header>,
    pub payload: Bytes,
}

impl Frame {
    /// The first header named `name`.
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| &h.value)
    }

    /// The first header named `name`, if it is a string.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(HeaderValue::as_str)
    }

    /// `:message-type`: `event`, `exception` or `error`.
    pub fn message_type(&self) -> Option<&str> {
        self.header_str(":message-type")
    }

    /// `:event-type` of an `event` frame (Bedrock: `chunk`).
    pub fn event_type(&self) -> Option<&str> {
        self.header_str(":event-type")
    }

    /// `:exception-type` of an `exception` frame (e.g. `throttlingException`).
    pub fn exception_type(&self) -> Option<&str> {
        self.header_str(":exception-type")
    }
}

/// Why a stream could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventStreamError {
    #[error(
        "event-stream prelude CRC mismatch (frame says {expected:#010x}, computed {actual:#010x})"
    )]
    PreludeCrc { expected: u32, actual: u32 },
    #[error(
        "event-stream message CRC mismatch (frame says {expected:#010x}, computed {actual:#010x})"
    )]
    MessageCrc { expected: u32, actual: u32 },
    #[error("event-stream frame of {len} bytes is shorter than the 16-byte minimum")]
    FrameTooShort { len: u32 },
    #[error("event-stream frame of {len} bytes exceeds the {max}-byte limit")]
    FrameTooLong { len: u32, max: usize },
    #[error("event-stream headers length {headers_len} does not fit a frame of {total_len} bytes")]
    HeadersTooLong { headers_len: u32, total_len: u32 },
    #[error("event-stream header block is malformed: {0}")]
    BadHeader(&'static str),
    #[error("event-stream ended inside a frame ({buffered} bytes left over)")]
    Truncated { buffered: usize },
    #[error("cannot encode event-stream frame: {0}")]
    Encode(&'static str),
}

/// See the module documentation.
#[derive(Debug)]
pub struct EventStreamDecoder {
    buf: BytesMut,
    max_frame_len: usize,
    /// Set once decoding failed; every later call reports it again.
    failed: Option<EventStreamError>,
}

impl Default for EventStreamDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl EventStreamDecoder {
    pub fn new() -> Self {
        Self::with_max_frame_len(MAX_FRAME_LEN)
    }

    /// A decoder refusing frames longer than `max` bytes (at least the 16-byte minimum).
    pub fn with_max_frame_len(max: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max_frame_len: max.max(MIN_FRAME_LEN),
            failed: None,
        }
    }

    /// Appends upstream bytes (split anywhere). Ignored once the decoder has failed, so a broken
    /// stream cannot grow the buffer.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed, or the error that ended
    /// the stream (returned again on every later call).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, EventStreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.decode_one() {
            Ok(frame) => Ok(frame),
            Err(e) => {
                self.failed = Some(e.clone());
                self.buf = BytesMut::new();
                Err(e)
            }
        }
    }

    /// The upstream ended: an error if a partial frame is still buffered (or decoding failed).
    pub fn finish(&self) -> Result<(), EventStreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(EventStreamError::Truncated {
                buffered: self.buf.len(),
            })
        }
    }

    /// Bytes received but not yet part of a returned frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn decode_one(&mut self) -> Result<Option<Frame>, EventStreamError> {
        if self.buf.len() < PRELUDE_LEN {
            return Ok(None);
        }
        let total_len = be_u32(&self.buf[0..4]);
        let headers_len = be_u32(&self.buf[4..8]);
        let prelude_crc = be_u32(&self.buf[8..12]);
        let actual = crc32fast::hash(&self.buf[..8]);
        if actual != prelude_crc {
            return Err(EventStreamError::PreludeCrc {
                expected: prelude_crc,
                actual,
            });
        }
        let total = total_len as usize;
        if total < MIN_FRAME_LEN {
            return Err(EventStreamError::FrameTooShort { len: total_len });
        }
        if total > self.max_frame_len {
            return Err(EventStreamError::FrameTooLong {
                len: total_len,
                max: self.max_frame_len,
            });
        }
        if headers_len as usize > total - MIN_FRAME_LEN {
            return Err(EventStreamError::HeadersTooLong {
                headers_len,
                total_len,
            });
        }
        if self.buf.len() < total {
            // Reserve once for the rest of the frame instead of growing chunk by chunk.
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        let frame = self.buf.split_to(total).freeze();
        let message_crc = be_u32(&frame[total - 4..]);
        let actual = crc32fast::hash(&frame[..total - 4]);
        if actual != message_crc {
            return Err(EventStreamError::MessageCrc {
                expected: message_crc,
                actual,
            });
        }
        let headers_end = PRELUDE_LEN + headers_len as usize;
        let headers = parse_headers(frame.slice(PRELUDE_LEN..headers_end))?;
        let payload = frame.slice(headers_end..total - 4);
        Ok(Some(Frame { headers, payload }))
    }
}

fn be_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

/// Takes `n` bytes off the front of `block`, or fails: header lengths come from the network.
fn take(block: &mut Bytes, n: usize) -> Result<Bytes, EventStreamError> {
    if block.remaining() < n {
        return Err(EventStreamError::BadHeader(
            "value runs past the header block",
        ));
    }
    Ok(block.split_to(n))
}

fn take_array<const N: usize>(block: &mut Bytes) -> Result<[u8; N], EventStreamError> {
    let bytes = take(block, N)?;
    let mut a = [0u8; N];
    a.copy_from_slice(&bytes);
    Ok(a)
}

fn parse_headers(mut block: Bytes) -> Result<Vec<Header>, EventStreamError> {
    let mut headers = Vec::new();
    while block.has_remaining() {
        let [name_len] = take_array::<1>(&mut block)?;
        if name_len == 0 {
            return Err(EventStreamError::BadHeader("empty header name"));
        }
        let name = take(&mut block, usize::from(name_len))?;
        let name = std::str::from_utf8(&name)
            .map_err(|_| EventStreamError::BadHeader("header name is not UTF-8"))?
            .to_owned();
        let [kind] = take_array::<1>(&mut block)?;
        let value = match kind {
            wire::BOOL_TRUE => HeaderValue::Bool(true),
            wire::BOOL_FALSE => HeaderValue::Bool(false),
            wire::BYTE => HeaderValue::Byte(i8::from_be_bytes(take_array(&mut block)?)),
            wire::SHORT => HeaderValue::Short(i16::from_be_bytes(take_array(&mut block)?)),
            wire::INT => HeaderValue::Int(i32::from_be_bytes(take_array(&mut block)?)),
            wire::LONG => HeaderValue::Long(i64::from_be_bytes(take_array(&mut block)?)),
            wire::BYTES | wire::STRING => {
                let len = u16::from_be_bytes(take_array(&mut block)?);
                let raw = take(&mut block, usize::from(len))?;
                if kind == wire::BYTES {
                    HeaderValue::Bytes(raw)
                } else {
                    HeaderValue::String(
                        String::from_utf8(raw.to_vec()).map_err(|_| {
                            EventStreamError::BadHeader("string header is not UTF-8")
                        })?,
                    )
                }
            }
            wire::TIMESTAMP => HeaderValue::Timestamp(i64::from_be_bytes(take_array(&mut block)?)),
            wire::UUID => HeaderValue::Uuid(take_array(&mut block)?),
            _ => return Err(EventStreamError::BadHeader("unknown header value type")),
        };
        headers.push(Header { name, value });
    }
    Ok(headers)
}

/// Encodes one frame (both CRCs computed). Used by tests and by anything that must produce
/// event-stream bytes; fails only on values the format cannot carry (names over 255 bytes,
/// byte/string values over 65535 bytes, a frame over 4 GiB).
pub fn encode_frame(headers: &[Header], payload: &[u8]) -> Result<Vec<u8>, EventStreamError> {
    let mut block = Vec::new();
    for h in headers {
        let name_len =
            u8::try_from(h.name.len())
                .ok()
                .filter(|n| *n > 0)
                .ok_or(EventStreamError::Encode(
                    "header name must be 1..=255 bytes",
                ))?;
        block.push(name_len);
        block.extend_from_slice(h.name.as_bytes());
        match &h.value {
            HeaderValue::Bool(true) => block.push(wire::BOOL_TRUE),
            HeaderValue::Bool(false) => block.push(wire::BOOL_FALSE),
            HeaderValue::Byte(v) => {
                block.push(wire::BYTE);
                block.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Short(v) => {
                block.push(wire::SHORT);
                block.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Int(v) => {
                block.push(wire::INT);
                block.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Long(v) => {
                block.push(wire::LONG);
                block.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Bytes(v) => encode_sized(&mut block, wire::BYTES, v)?,
            HeaderValue::String(v) => encode_sized(&mut block, wire::STRING, v.as_bytes())?,
            HeaderValue::Timestamp(v) => {
                block.push(wire::TIMESTAMP);
                block.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Uuid(v) => {
                block.push(wire::UUID);
                block.extend_from_slice(v);
            }
        }
    }
    let too_long = || EventStreamError::Encode("frame longer than 4 GiB");
    let total =
        u32::try_from(MIN_FRAME_LEN + block.len() + payload.len()).map_err(|_| too_long())?;
    let headers_len = u32::try_from(block.len()).map_err(|_| too_long())?;
    let mut out = Vec::with_capacity(total as usize);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&headers_len.to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&block);
    out.extend_from_slice(payload);
    let message_crc = crc32fast::hash(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    Ok(out)
}

fn encode_sized(block: &mut Vec<u8>, kind: u8, value: &[u8]) -> Result<(), EventStreamError> {
    let len = u16::try_from(value.len())
        .map_err(|_| EventStreamError::Encode("header value longer than 65535 bytes"))?;
    block.push(kind);
    block.extend_from_slice(&len.to_be_bytes());
    block.extend_from_slice(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The three string headers of a Bedrock `chunk` frame, in Bedrock's order.
    fn chunk_headers() -> Vec<Header> {
        vec![
            Header::string(":event-type", "chunk"),
            Header::string(":content-type", "application/json"),
            Header::string(":message-type", "event"),
        ]
    }

    fn all_types() -> Vec<Header> {
        vec![
            Header {
                name: "t".into(),
                value: HeaderValue::Bool(true),
            },
            Header {
                name: "f".into(),
                value: HeaderValue::Bool(false),
            },
            Header {
                name: "byte".into(),
                value: HeaderValue::Byte(-7),
            },
            Header {
                name: "short".into(),
                value: HeaderValue::Short(-300),
            },
            Header {
                name: "int".into(),
                value: HeaderValue::Int(0x1234_5678),
            },
            Header {
                name: "long".into(),
                value: HeaderValue::Long(-0x1234_5678_9abc),
            },
            Header {
                name: "bytes".into(),
                value: HeaderValue::Bytes(Bytes::from_static(&[0, 1, 2, 255])),
            },
            Header::string("string", "héllo"),
            Header {
                name: "ts".into(),
                value: HeaderValue::Timestamp(1_440_938_160_000),
            },
            Header {
                name: "uuid".into(),
                value: HeaderValue::Uuid(*b"0123456789abcdef"),
            },
        ]
    }

    fn decode_all(bytes: &[u8]) -> Result<Vec<Frame>, EventStreamError> {
        let mut d = EventStreamDecoder::new();
        d.push(bytes);
        let mut frames = Vec::new();
        while let Some(f) = d.next_frame()? {
            frames.push(f);
        }
        d.finish()?;
        Ok(frames)
    }

    #[test]
    fn prelude_of_the_recorded_bedrock_frame() {
        // docs/upstream-protocols.md §5: the first frame of a recorded Bedrock stream has
        // total 0x1DC, headers 0x4B and prelude CRC 0x0375068C.
        assert_eq!(
            crc32fast::hash(&[0, 0, 0x01, 0xDC, 0, 0, 0, 0x4B]),
            0x0375_068C
        );
        // Our encoder produces that prelude for the same headers and a 385-byte payload.
        let payload = vec![b'x'; 0x1DC - 16 - 0x4B];
        let frame = encode_frame(&chunk_headers(), &payload).unwrap();
        assert_eq!(
            &frame[..12],
            &[0, 0, 0x01, 0xDC, 0, 0, 0, 0x4B, 0x03, 0x75, 0x06, 0x8C]
        );
        assert_eq!(frame[12], 0x0B);
        assert_eq!(&frame[13..24], b":event-type");
        assert_eq!(&frame[24..27], &[7, 0, 5]);
        let decoded = decode_all(&frame).unwrap();
        assert_eq!(decoded.len(), 1);
        assert_eq!(decoded[0].event_type(), Some("chunk"));
        assert_eq!(decoded[0].message_type(), Some("event"));
        assert_eq!(
            decoded[0].header_str(":content-type"),
            Some("application/json")
        );
        assert_eq!(decoded[0].payload.len(), 385);
    }

    #[test]
    fn round_trip_every_header_type() {
        let headers = all_types();
        let bytes = encode_frame(&headers, b"{\"a\":1}").unwrap();
        let frames = decode_all(&bytes).unwrap();
        assert_eq!(
            frames,
            vec![Frame {
                headers,
                payload: Bytes::from_static(b"{\"a\":1}")
            }]
        );
        // Empty headers and payload: the 16-byte minimum frame.
        let empty = encode_frame(&[], b"").unwrap();
        assert_eq!(empty.len(), 16);
        assert_eq!(decode_all(&empty).unwrap()[0].payload.len(), 0);
    }

    #[test]
    fn every_split_point_of_two_frames() {
        let mut stream = encode_frame(&chunk_headers(), b"first payload").unwrap();
        stream.extend(encode_frame(&all_types(), b"second").unwrap());
        let whole = decode_all(&stream).unwrap();
        assert_eq!(whole.len(), 2);
        for a in 0..=stream.len() {
            for b in a..=stream.len() {
                let mut d = EventStreamDecoder::new();
                let mut got = Vec::new();
                for part in [&stream[..a], &stream[a..b], &stream[b..]] {
                    d.push(part);
                    while let Some(f) = d.next_frame().unwrap() {
                        got.push(f);
                    }
                }
                d.finish().unwrap();
                assert_eq!(got, whole, "split at {a}/{b}");
            }
        }
    }

    #[test]
    fn byte_by_byte() {
        let stream = encode_frame(&chunk_headers(), b"{}").unwrap();
        let mut d = EventStreamDecoder::new();
        let mut n = 0;
        for (i, b) in stream.iter().enumerate() {
            d.push(&[*b]);
            match d.next_frame().unwrap() {
                Some(_) => {
                    assert_eq!(i, stream.len() - 1);
                    n += 1;
                }
                None => assert!(i < stream.len() - 1),
            }
        }
        assert_eq!(n, 1);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn bad_prelude_crc_fails_before_waiting_for_the_frame() {
        let mut frame = encode_frame(&chunk_headers(), b"{}").unwrap();
        frame[11] ^= 0x01;
        let mut d = EventStreamDecoder::new();
        d.push(&frame[..12]);
        assert!(matches!(
            d.next_frame(),
            Err(EventStreamError::PreludeCrc { .. })
        ));
        // Stays failed, drops input.
        d.push(&frame[12..]);
        assert_eq!(d.buffered(), 0);
        assert!(d.next_frame().is_err());
        assert!(d.finish().is_err());
        // A corrupt length is caught by the same CRC.
        let mut frame = encode_frame(&chunk_headers(), b"{}").unwrap();
        frame[1] = 0x7F;
        assert!(matches!(
            decode_all(&frame),
            Err(EventStreamError::PreludeCrc { .. })
        ));
    }

    #[test]
    fn bad_message_crc() {
        let mut frame = encode_frame(&chunk_headers(), b"{\"x\":true}").unwrap();
        let last = frame.len() - 6;
        frame[last] ^= 0x20; // a payload byte
        let err = decode_all(&frame).unwrap_err();
        assert!(matches!(err, EventStreamError::MessageCrc { .. }), "{err}");
        let mut frame = encode_frame(&chunk_headers(), b"{}").unwrap();
        let end = frame.len() - 1;
        frame[end] ^= 0xFF; // the CRC itself
        assert!(matches!(
            decode_all(&frame),
            Err(EventStreamError::MessageCrc { .. })
        ));
    }

    /// A frame with a valid prelude CRC around arbitrary lengths.
    fn prelude(total: u32, headers: u32) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&headers.to_be_bytes());
        let crc = crc32fast::hash(&p);
        p.extend_from_slice(&crc.to_be_bytes());
        p
    }

    #[test]
    fn bad_lengths() {
        assert_eq!(
            decode_all(&prelude(15, 0)).unwrap_err(),
            EventStreamError::FrameTooShort { len: 15 }
        );
        assert_eq!(
            decode_all(&prelude(u32::MAX, 0)).unwrap_err(),
            EventStreamError::FrameTooLong {
                len: u32::MAX,
                max: MAX_FRAME_LEN
            }
        );
        assert_eq!(
            decode_all(&prelude(20, 5)).unwrap_err(),
            EventStreamError::HeadersTooLong {
                headers_len: 5,
                total_len: 20
            }
        );
        let mut small = EventStreamDecoder::with_max_frame_len(64);
        small.push(&encode_frame(&[], &[0u8; 100]).unwrap());
        assert!(matches!(
            small.next_frame(),
            Err(EventStreamError::FrameTooLong { len: 116, max: 64 })
        ));
    }

    #[test]
    fn malformed_headers_with_valid_crcs() {
        // A header block that claims a 10-byte string but holds 2: both CRCs are right, so only
        // the header parser can catch it.
        let mut frame = prelude(16 + 6, 6);
        frame.extend_from_slice(&[1, b'a', wire::STRING, 0, 10, b'x']);
        let crc = crc32fast::hash(&frame);
        frame.extend_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            decode_all(&frame),
            Err(EventStreamError::BadHeader(_))
        ));
        let mut frame = prelude(16 + 3, 3);
        frame.extend_from_slice(&[1, b'a', 42]);
        let crc = crc32fast::hash(&frame);
        frame.extend_from_slice(&crc.to_be_bytes());
        assert_eq!(
            decode_all(&frame).unwrap_err(),
            EventStreamError::BadHeader("unknown header value type")
        );
    }

    #[test]
    fn truncated_input() {
        let frame = encode_frame(&chunk_headers(), b"{\"a\":1}").unwrap();
        for cut in 1..frame.len() {
            let mut d = EventStreamDecoder::new();
            d.push(&frame[..cut]);
            assert_eq!(d.next_frame().unwrap(), None, "cut {cut}");
            assert_eq!(
                d.finish().unwrap_err(),
                EventStreamError::Truncated { buffered: cut }
            );
        }
    }

    #[test]
    fn encoder_rejects_what_the_format_cannot_carry() {
        assert!(encode_frame(&[Header::string("", "x")], b"").is_err());
        assert!(encode_frame(&[Header::string("n".repeat(256), "x")], b"").is_err());
        assert!(encode_frame(&[Header::string("n", "v".repeat(70_000))], b"").is_err());
    }

    proptest! {
        /// Arbitrary bytes split at an arbitrary point never panic, and an error is sticky.
        #[test]
        fn no_panic_on_arbitrary_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..256),
            split in any::<usize>(),
        ) {
            let split = split % (bytes.len() + 1);
            let mut d = EventStreamDecoder::with_max_frame_len(1024);
            for part in [&bytes[..split], &bytes[split..]] {
                d.push(part);
                while let Ok(Some(_)) = d.next_frame() {}
            }
            let _ = d.finish();
        }

        /// Valid frames with mutated bytes: still no panic, whatever field the mutation hits.
        #[test]
        fn no_panic_on_mutated_frames(
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            at in any::<usize>(),
            xor in 1u8..,
            split in any::<usize>(),
        ) {
            let mut frame = encode_frame(&all_types(), &payload).unwrap();
            let at = at % frame.len();
            frame[at] ^= xor;
            let split = split % (frame.len() + 1);
            let mut d = EventStreamDecoder::new();
            d.push(&frame[..split]);
            let _ = d.next_frame();
            d.push(&frame[split..]);
            let _ = d.next_frame();
            let _ = d.finish();
        }

        /// Round trip at any split of any payload.
        #[test]
        fn round_trip_any_payload(
            payload in proptest::collection::vec(any::<u8>(), 0..512),
            split in any::<usize>(),
        ) {
            let frame = encode_frame(&chunk_headers(), &payload).unwrap();
            let split = split % (frame.len() + 1);
            let mut d = EventStreamDecoder::new();
            d.push(&frame[..split]);
            let first = d.next_frame().unwrap();
            d.push(&frame[split..]);
            let f = match first {
                Some(f) => f,
                None => d.next_frame().unwrap().unwrap(),
            };
            prop_assert_eq!(&f.payload[..], &payload[..]);
            prop_assert!(d.finish().is_ok());
        }
    }
}
