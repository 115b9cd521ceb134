//! The web console, served from the binary: the built assets of `console/` embedded at compile
//! time (see `build.rs`, ADR 0009). `/` redirects to `/ui/`; every `/ui/…` path that is not a
//! file gets `index.html` so the single-page app's own routes survive a reload. Hashed files
//! under `/ui/assets/` are cached for a year; the page itself is revalidated every time.
//!
//! Every answer carries a strict Content-Security-Policy (only this origin, no inline script,
//! no framing) and `Referrer-Policy: no-referrer`: the console talks to nothing but this
//! server's `/api/admin` and `/api/self`.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use std::sync::Arc;

use crate::state::AppState;

/// `(path below /ui/, bytes)`, sorted by path.
static FILES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
    font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(|| async { page() }))
        .route("/ui/{*path}", get(file))
}

fn find(path: &str) -> Option<&'static [u8]> {
    FILES
        .binary_search_by(|(name, _)| (*name).cmp(path))
        .ok()
        .map(|i| FILES[i].1)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn respond(status: StatusCode, path: &str, body: &'static [u8], cache: &'static str) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

/// The single page, for `/ui/` and every route of the app.
fn page() -> Response {
    match find("index.html") {
        Some(body) => respond(StatusCode::OK, "index.html", body, "no-cache"),
        None => respond(
            StatusCode::NOT_FOUND,
            "x.txt",
            b"the console was not built into this binary",
            "no-store",
        ),
    }
}

async fn file(Path(path): Path<String>) -> Response {
    if let Some(body) = find(&path).filter(|_| path != "index.html") {
        let cache = if path.starts_with("assets/") {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        return respond(StatusCode::OK, &path, body, cache);
    }
    // A missing file is a 404; anything else is a route of the app.
    if path.starts_with("assets/") || path.rsplit('/').next().is_some_and(|s| s.contains('.')) {
        return respond(StatusCode::NOT_FOUND, "x.txt", b"not found", "no-store");
    }
    page()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(FILES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn content_types() {
        assert_eq!(
            content_type("assets/index-abc.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("assets/index-abc.css"),
            "text/css; charset=utf-8"
        );
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
    }
}
