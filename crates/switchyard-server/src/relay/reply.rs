//! The one place relay errors become responses, in the client's dialect.

use axum::body::Body;
use axum::http::{HeaderValue, Response, header};
use switchyard_core::Dialect;
use switchyard_protocol::error_body_typed;

pub fn error(
    dialect: Dialect,
    status: u16,
    error_type: Option<&str>,
    message: &str,
) -> Response<Body> {
    let body = error_body_typed(dialect, status, error_type, message);
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() =
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
