//! Phase 7, respond: the upstream's answer becomes the client's — passed through byte for
//! byte on the native path (the usage tap reading along), reshaped or converted where the
//! adapter said so, a whole non-streaming body read (and converted) before the client sees a
//! byte, a stream-only upstream collected for a non-streaming client — and the error replies
//! for refusals.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_core::Dialect;
use switchyard_protocol::{ClientFraming, StreamTransform};
use switchyard_upstream::adapter::{Answer, Reshape};
use switchyard_upstream::classify::Failure;
use switchyard_upstream::gemini::{ResponseShape, UpstreamFraming};
use switchyard_upstream::headers::response_forwardable;
use switchyard_upstream::passthrough::{PassthroughBody, TapMode, TapSide};

use super::reply;
use super::request::{Endpoint, Outcome, response_binding};
use super::settle::{Held, settle};
use crate::state::AppState;

/// Longest error body read from a failed upstream response (for classification and to pass
/// on to the client).
pub const ERROR_BODY_CAP: usize = 64 * 1024;

/// A `content-encoding` no client could decode (Switchyard asks for `identity`; the common
/// compressions are passed on for the client to undo).
pub fn unreadable_encoding(headers: &reqwest::header::HeaderMap) -> Option<&'static str> {
    let encoding = headers.get(header::CONTENT_ENCODING)?.to_str().ok()?;
    let known = encoding.split(',').all(|e| {
        matches!(
            e.trim().to_ascii_lowercase().as_str(),
            "identity" | "gzip" | "x-gzip" | "deflate" | "br" | "zstd" | ""
        )
    });
    (!known).then_some("unknown content-encoding")
}

/// Whether the upstream answers with a stream (SSE or Bedrock's event-stream).
pub fn is_stream_response(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.starts_with("text/event-stream")
                || ct.starts_with(switchyard_upstream::bedrock::EVENTSTREAM_CONTENT_TYPE)
        })
}

/// Largest non-streaming body read whole before answering; a longer one is streamed through
/// (and a break then aborts the client's transfer).
const WHOLE_BODY_CAP: usize = 16 * 1024 * 1024;

/// A successful upstream answer, ready to hand to the client.
pub struct Upstream {
    pub response: reqwest::Response,
    /// The body when it was read whole (then `response`'s own body is spent).
    whole: Option<Bytes>,
    /// A prefix already read from a body too long to read whole.
    prefix: Option<Bytes>,
}

impl Upstream {
    pub fn streaming(response: reqwest::Response) -> Self {
        Upstream {
            response,
            whole: None,
            prefix: None,
        }
    }

    /// Reads a non-streaming body to its end (each chunk within `idle`). A break, a stall or a
    /// JSON body that does not parse is an error naming why.
    pub async fn read_whole(
        mut response: reqwest::Response,
        idle: Duration,
    ) -> Result<Upstream, &'static str> {
        if response
            .content_length()
            .is_some_and(|n| n as usize > WHOLE_BODY_CAP)
        {
            return Ok(Upstream::streaming(response));
        }
        let mut buf = Vec::new();
        loop {
            match tokio::time::timeout(idle, response.chunk()).await {
                Ok(Ok(Some(chunk))) => {
                    buf.extend_from_slice(&chunk);
                    if buf.len() > WHOLE_BODY_CAP {
                        return Ok(Upstream {
                            response,
                            whole: None,
                            prefix: Some(Bytes::from(buf)),
                        });
                    }
                }
                Ok(Ok(None)) => break,
                Ok(Err(_)) => return Err("connection broke mid-body"),
                Err(_) => return Err("idle timeout mid-body"),
            }
        }
        let json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json"));
        if json && serde_json::from_slice::<serde::de::IgnoredAny>(&buf).is_err() {
            return Err("JSON body does not parse");
        }
        Ok(Upstream {
            response,
            whole: Some(Bytes::from(buf)),
            prefix: None,
        })
    }

    /// The status, headers and the body as the client will receive it.
    fn into_parts(self) -> (u16, reqwest::header::HeaderMap, reqwest::Body) {
        let Upstream {
            response,
            whole,
            prefix,
        } = self;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match (whole, prefix) {
            (Some(whole), _) => reqwest::Body::from(whole),
            (None, Some(prefix)) => {
                use futures_util::StreamExt;
                let first = futures_util::stream::once(async move { Ok(prefix) });
                reqwest::Body::wrap_stream(first.chain(response.bytes_stream()))
            }
            (None, None) => {
                let upstream: axum::http::Response<reqwest::Body> = response.into();
                upstream.into_body()
            }
        };
        (status, headers, body)
    }
}

/// How the passthrough body behaves.
pub struct BodyOptions {
    pub idle: Duration,
    /// Lifetime of the response-id binding (Responses continuations).
    pub ttl: Duration,
    pub answer: Answer,
}

/// Builds the client response around the upstream body; settlement runs when it ends.
pub fn passthrough(
    state: &Arc<AppState>,
    endpoint: &Endpoint,
    upstream: Upstream,
    mut outcome: Outcome,
    sent_at: Instant,
    opts: BodyOptions,
    held: Held,
) -> Response<Body> {
    let BodyOptions { idle, ttl, answer } = opts;
    let Answer {
        reshape,
        convert: conversion,
        strip_chat_usage,
        ..
    } = answer;
    // A whole answer is converted now, before the status is sent: one that cannot be is a 502
    // in the client's dialect (its usage still recorded from the upstream's bytes), never a
    // 200 whose body is an error.
    let converted_whole = match (&conversion, &upstream.whole) {
        (Some(c), Some(bytes)) => Some(c.whole(&unwrapped(reshape, bytes))),
        _ => None,
    };
    let (status, upstream_headers, upstream_body) = upstream.into_parts();
    let mut status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let content_type = upstream_headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let bedrock_stream = reshape == Reshape::Bedrock
        && content_type.starts_with(switchyard_upstream::bedrock::EVENTSTREAM_CONTENT_TYPE);
    // Whether the client receives SSE (which decides its end-of-stream signal). A converted
    // stream is always SSE in the client's dialect.
    let is_sse = match reshape {
        _ if conversion.is_some() => outcome.stream,
        Reshape::Gemini { client_sse, .. } => client_sse,
        _ => content_type.starts_with("text/event-stream") || bedrock_stream,
    };
    let framing = match reshape {
        _ if conversion.is_some() && is_sse => ClientFraming::Sse(endpoint.dialect()),
        _ if conversion.is_some() => ClientFraming::Plain,
        Reshape::Gemini { .. } if is_sse => ClientFraming::Sse(Dialect::Gemini),
        Reshape::Gemini { .. } if outcome.stream => ClientFraming::GeminiArray,
        _ if is_sse => ClientFraming::Sse(endpoint.dialect()),
        _ => ClientFraming::Plain,
    };
    let tap_dialect = conversion
        .as_ref()
        .map_or(endpoint.dialect(), |c| c.upstream);
    let mut headers = if reshape == Reshape::Bedrock {
        switchyard_upstream::bedrock::response_headers(&upstream_headers, bedrock_stream)
    } else {
        response_forwardable(&upstream_headers)
    };
    let reframed = conversion.is_some()
        || matches!(reshape, Reshape::Gemini { shape, .. } if shape != ResponseShape::Passthrough);
    if reframed {
        // The body is rewritten: its length, encoding and type are the client's, not the
        // upstream's.
        headers.remove(header::CONTENT_LENGTH);
        headers.remove(header::CONTENT_ENCODING);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(match (is_sse, endpoint.dialect()) {
                (true, _) => "text/event-stream",
                (false, Dialect::Gemini) => "application/json; charset=UTF-8",
                (false, _) => "application/json",
            }),
        );
    }
    if is_sse {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    }
    // The tap reads the upstream's bytes (Bedrock's once they are Anthropic SSE), so it
    // follows the upstream's framing, and usage is what the upstream reported.
    let tap = match reshape {
        Reshape::Gemini { framing, .. } => match framing {
            UpstreamFraming::Sse => TapMode::sse(Dialect::Gemini),
            UpstreamFraming::JsonArray => TapMode::gemini_array(),
            UpstreamFraming::Json => TapMode::json(Dialect::Gemini),
        },
        _ if is_sse => TapMode::sse(tap_dialect),
        _ => TapMode::json(tap_dialect),
    };
    headers.insert("x-switchyard-request-id", header_value(&outcome.request_id));
    let mut stopping = state.shutdown.subscribe();
    let state = state.clone();
    let remember_response = endpoint.dialect() == Dialect::OpenaiResponses;
    let convert: Option<Box<dyn StreamTransform>> = match (&conversion, converted_whole) {
        (None, _) => None,
        (Some(c), None) if is_sse => Some(c.stream()),
        (Some(_), Some(Ok(bytes))) => Some(Box::new(Replace(Some(bytes)))),
        (Some(_), Some(Err(e))) => {
            status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY);
            outcome.status = status.as_u16();
            outcome.error_kind = Some("answer_not_convertible".into());
            Some(Box::new(Replace(Some(e.body.into_bytes()))))
        }
        (Some(_), None) => {
            // A non-streaming client, and an answer not read whole (it streamed, or is longer
            // than a whole body is read): it cannot be converted at once.
            status = StatusCode::BAD_GATEWAY;
            outcome.status = 502;
            outcome.error_kind = Some("answer_not_convertible".into());
            let message = "the upstream's answer could not be converted: it streamed or is too long to read whole";
            let body = switchyard_protocol::error_body(endpoint.dialect(), 502, message);
            Some(Box::new(Replace(Some(body.into_bytes()))))
        }
    };
    let mut body = PassthroughBody::new(upstream_body, tap, idle, framing, move |finished| {
        outcome.upstream_time += sent_at.elapsed();
        if remember_response
            && let (Some(id), Some(account)) = (&finished.response_id, outcome.account_id)
        {
            let binding = response_binding(outcome.api_key_id, id);
            state.coord.sticky_bind(binding.as_str(), account, ttl);
        }
        settle(&state, outcome, Some(finished), held);
    });
    // The upstream's own reshaping first (the tap reads its input or, for Bedrock, its
    // output), then the conversion to the client's dialect.
    let reshaping: Option<(Box<dyn StreamTransform>, TapSide)> = match reshape {
        Reshape::Gemini { shape, .. } => shape.transform().map(|t| (t, TapSide::Before)),
        Reshape::Bedrock if bedrock_stream => Some((
            Box::new(switchyard_protocol::BedrockToAnthropic::new()),
            TapSide::After,
        )),
        _ => None,
    };
    body = match (reshaping, convert) {
        (Some((first, side)), Some(then)) => body.with_transform(first, side).and_then(then),
        (Some((first, side)), None) => body.with_transform(first, side),
        (None, Some(then)) => body.with_transform(then, TapSide::Before),
        (None, None) if strip_chat_usage && is_sse => body.strip_chat_usage(),
        (None, None) => body,
    };
    body = body.stop_on(async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    });
    let mut out = Response::new(Body::new(body));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

/// Reads a whole Responses stream (bounded) and answers with the final `response` object,
/// for a non-streaming client served by a stream-only upstream.
pub async fn collect(
    state: &Arc<AppState>,
    resp: reqwest::Response,
    mut outcome: Outcome,
    sent_at: Instant,
    opts: BodyOptions,
    held: Held,
) -> Response<Body> {
    const CAP: usize = 64 * 1024 * 1024;
    let BodyOptions { idle, ttl, answer } = opts;
    let conversion = answer.convert.as_ref();
    let client = conversion.map_or(Dialect::OpenaiResponses, |c| c.client);
    let mut tap = switchyard_protocol::StreamTap::new(Dialect::OpenaiResponses);
    let mut decoder = switchyard_protocol::SseDecoder::new();
    let mut last: Option<serde_json::Value> = None;
    let mut first_byte_at = None;
    let mut bytes = 0u64;
    let mut broken = None;
    let mut resp = resp;
    loop {
        match tokio::time::timeout(idle, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                first_byte_at.get_or_insert_with(Instant::now);
                bytes += chunk.len() as u64;
                if bytes as usize > CAP {
                    broken = Some("response_too_large");
                    break;
                }
                tap.feed(&chunk);
                decoder.feed(&chunk, &mut |ev: &switchyard_protocol::SseEvent<'_>| {
                    if matches!(
                        ev.event,
                        "response.completed" | "response.incomplete" | "response.failed"
                    ) && let Ok(v) = serde_json::from_str::<serde_json::Value>(ev.data)
                    {
                        last = Some(v);
                    }
                });
            }
            Ok(Ok(None)) => break,
            Ok(Err(_)) => {
                broken = Some("upstream_stream_broken");
                break;
            }
            Err(_) => {
                broken = Some("upstream_idle_timeout");
                break;
            }
        }
    }
    tap.finish();
    let finished = switchyard_upstream::Finished {
        usage: tap.usage(),
        model: tap.model().map(str::to_string),
        response_id: tap.response_id().map(str::to_string),
        completed: tap.completed(),
        error_kind: broken.map(str::to_string),
        first_byte_at,
        bytes,
        events: tap.events(),
    };
    if let (Some(id), Some(account)) = (&finished.response_id, outcome.account_id) {
        let binding = response_binding(outcome.api_key_id, id);
        state.coord.sticky_bind(binding.as_str(), account, ttl);
    }
    let failed = last
        .as_ref()
        .and_then(|v| v.get("type"))
        .and_then(|t| t.as_str())
        == Some("response.failed");
    let reply = match last.and_then(|mut v| v.get_mut("response").map(serde_json::Value::take)) {
        Some(response) if !failed => {
            let body = response.to_string();
            match conversion.map(|c| c.whole(body.as_bytes())) {
                None => json_response(200, body),
                Some(Ok(converted)) => {
                    json_response(200, String::from_utf8_lossy(&converted).into_owned())
                }
                Some(Err(e)) => {
                    outcome.status = e.status;
                    outcome.error_kind = Some("answer_not_convertible".into());
                    json_response(e.status, e.body)
                }
            }
        }
        Some(response) => {
            outcome.status = 502;
            let message = response
                .pointer("/error/message")
                .and_then(|m| m.as_str())
                .unwrap_or("upstream response failed")
                .to_string();
            reply::error(client, 502, Some("server_error"), &message)
        }
        None => {
            outcome.status = 502;
            reply::error(
                client,
                502,
                Some("server_error"),
                "upstream stream ended without a final response",
            )
        }
    };
    outcome.upstream_time += sent_at.elapsed();
    settle(state, outcome, Some(finished), held);
    reply
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("-"))
}

fn upstream_error_response(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut h = response_forwardable(headers);
    h.remove(header::CONTENT_ENCODING);
    *out.headers_mut() = h;
    out
}

pub async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Bytes {
    let mut buf = Vec::new();
    let read = async {
        while let Ok(Some(chunk)) = resp.chunk().await {
            let room = cap.saturating_sub(buf.len());
            buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if buf.len() >= cap {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
    Bytes::from(buf)
}

/// Writes a body decided in advance (a converted whole answer, or the error that replaced it)
/// once the upstream's bytes, which the usage tap reads, have gone by.
struct Replace(Option<Vec<u8>>);

impl StreamTransform for Replace {
    fn push(&mut self, _chunk: &[u8], _out: &mut Vec<u8>) {}

    fn finish(&mut self, out: &mut Vec<u8>) {
        if let Some(body) = self.0.take() {
            out.extend_from_slice(&body);
        }
    }
}

/// The client's answer to an upstream refusal: in the client's dialect where the upstream
/// speaks another (Bedrock's errors, a converted account's), passed on as it came otherwise.
pub fn refusal(
    endpoint: &Endpoint,
    answer: &Answer,
    failure: Failure,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: Bytes,
) -> Response<Body> {
    match failure {
        // A rejected account credential is Switchyard's problem, not the client's: passed on
        // as 401/403 it would read as "your key is invalid" (Claude Code then asks to log in).
        Failure::Unauthorized | Failure::Forbidden | Failure::OrganizationDisabled => reply::error(
            endpoint.dialect(),
            502,
            None,
            "an upstream account's credentials were rejected and no other account could serve the request",
        ),
        _ if answer.reshape == Reshape::Bedrock => json_response(
            status,
            switchyard_upstream::bedrock::error_body(status, headers, &body),
        ),
        _ => match &answer.convert {
            Some(c) => {
                let (status, body) = c.error(status, &body);
                json_response(status, body)
            }
            None => upstream_error_response(status, headers, body),
        },
    }
}

pub fn json_response(status: u16, body: String) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A whole Code Assist answer unwrapped to the public Gemini shape (what conversion reads);
/// any other body as it is.
fn unwrapped(reshape: Reshape, body: &Bytes) -> std::borrow::Cow<'_, [u8]> {
    match reshape {
        Reshape::Gemini {
            shape: ResponseShape::UnwrapBody,
            ..
        } => {
            let mut out = Vec::new();
            if let Some(mut t) = ResponseShape::UnwrapBody.transform() {
                t.push(body, &mut out);
                t.finish(&mut out);
            }
            std::borrow::Cow::Owned(out)
        }
        _ => std::borrow::Cow::Borrowed(&body[..]),
    }
}
