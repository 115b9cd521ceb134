//! The load generator's HTTP client: hyper's pooled HTTP/1.1 client with keep-alive, and one
//! request run to the end of its body with the first-byte and last-byte times noted.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A fresh client with its own connection pool (keep-alive, no idle limit, `TCP_NODELAY`).
pub fn new_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(10)));
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(usize::MAX)
        .pool_idle_timeout(Duration::from_secs(120))
        .build(connector)
}

/// One request, ready to be sent any number of times.
#[derive(Clone, Debug)]
pub struct Call {
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Bytes the end of a good response body contains (empty: any 2xx body is good).
    pub end_marker: &'static [u8],
}

impl Call {
    /// A JSON POST to `base` + `path` with the given headers.
    pub fn post(
        base: &str,
        path: &str,
        headers: &[(&'static str, String)],
        body: &serde_json::Value,
        end_marker: &'static [u8],
    ) -> anyhow::Result<Call> {
        let uri: Uri = format!("{base}{path}").parse()?;
        let mut map = HeaderMap::new();
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in headers {
            map.insert(HeaderName::from_static(name), HeaderValue::from_str(value)?);
        }
        Ok(Call {
            uri,
            headers: map,
            body: Bytes::from(serde_json::to_vec(body)?),
            end_marker,
        })
    }

    fn request(&self) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }
}

/// What happened to one request.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    pub status: u16,
    /// When the first body byte arrived.
    pub first_byte: Option<Instant>,
    /// When the body ended (or the request failed).
    pub end: Instant,
    /// 2xx, the whole body read, and the end marker present.
    pub ok: bool,
}

/// Sends `call` and reads the body to its end. `on_first_byte` runs once, when the first body
/// byte arrives (or when the request fails before that).
pub async fn execute(client: &HttpClient, call: &Call, on_first_byte: impl FnOnce()) -> Outcome {
    let mut on_first_byte = Some(on_first_byte);
    let mut first = || {
        if let Some(f) = on_first_byte.take() {
            f();
        }
    };
    let resp = match client.request(call.request()).await {
        Ok(r) => r,
        Err(_) => {
            first();
            return Outcome {
                status: 0,
                first_byte: None,
                end: Instant::now(),
                ok: false,
            };
        }
    };
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut first_byte = None;
    let mut tail: Vec<u8> = Vec::with_capacity(512);
    let mut complete = true;
    loop {
        match body.frame().await {
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if data.is_empty() {
                    continue;
                }
                if first_byte.is_none() {
                    first_byte = Some(Instant::now());
                    first();
                }
                tail.extend_from_slice(&data);
                if tail.len() > 256 {
                    tail.drain(..tail.len() - 256);
                }
            }
            Some(Err(_)) => {
                complete = false;
                break;
            }
            None => break,
        }
    }
    first();
    let end = Instant::now();
    let marker_ok = call.end_marker.is_empty()
        || tail
            .windows(call.end_marker.len())
            .any(|w| w == call.end_marker);
    Outcome {
        status,
        first_byte,
        end,
        ok: (200..300).contains(&status) && complete && first_byte.is_some() && marker_ok,
    }
}

/// `GET base + path`: status and body, for `/readyz` and `/metrics`.
pub async fn get(client: &HttpClient, url: &str) -> anyhow::Result<(u16, Bytes)> {
    let mut req = Request::new(Full::new(Bytes::new()));
    *req.uri_mut() = url.parse()?;
    let resp = client.request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, body))
}
