//! Errors of the admin API as RFC 9457 `application/problem+json`, with a stable `type` a
//! client can switch on, and the offending field named for validation errors.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::Serialize;
use switchyard_store::StoreError;

use crate::ops::OpError;

/// The body of every admin API error.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Problem {
    /// A stable identifier, e.g. `https://switchyard.dev/problems/validation`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For validation errors: the request field that was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Problem {
    pub fn response(status: u16, slug: &str, detail: &str, field: Option<&str>) -> Response {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = Problem {
            kind: format!("https://switchyard.dev/problems/{slug}"),
            title: code.canonical_reason().unwrap_or("error").to_string(),
            status,
            detail: detail.to_string(),
            field: field.map(str::to_string),
        };
        let mut resp = (code, axum::Json(body)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        resp
    }

    pub fn unauthorized(detail: &str) -> Response {
        let mut resp = Self::response(401, "unauthorized", detail, None);
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        resp
    }

    pub fn forbidden(slug: &str, detail: &str) -> Response {
        Self::response(403, slug, detail, None)
    }

    pub fn not_found(detail: &str) -> Response {
        Self::response(404, "not-found", detail, None)
    }

    pub fn invalid(field: &str, detail: &str) -> Response {
        Self::response(422, "validation", detail, Some(field))
    }

    /// An operation's refusal.
    pub fn from_op(e: OpError) -> Response {
        match e {
            OpError::Invalid { field, message } => Self::invalid(&field, &message),
            OpError::NotFound(what) => Self::not_found(&format!("{what} not found")),
            OpError::Conflict(m) => Self::response(409, "conflict", &m, None),
            OpError::Forbidden(m) => Self::forbidden("forbidden", &m),
            OpError::Upstream(m) => Self::response(502, "upstream", &m, None),
            OpError::Store(e) => Self::from_store(e),
        }
    }

    pub fn from_store(e: StoreError) -> Response {
        match e {
            StoreError::NotFound(what) => Self::not_found(&format!("{what} not found")),
            StoreError::Conflict(m) => Self::response(409, "conflict", &m, None),
            StoreError::Invalid(m) => Self::response(422, "validation", &m, None),
            other => {
                tracing::error!(error = %other, "admin API store error");
                Self::response(503, "unavailable", "the store is unavailable", None)
            }
        }
    }
}

/// A query string that failed to parse: 400 in the problem shape (axum's own answer is text).
pub fn bad_query(e: axum::extract::rejection::QueryRejection) -> Response {
    Problem::response(400, "bad-query", &e.body_text(), None)
}

/// A JSON body that failed to parse becomes a validation problem naming the field when serde
/// says which one.
pub fn bad_body(e: axum::extract::rejection::JsonRejection) -> Response {
    let text = e.body_text();
    let field = text
        .split('`')
        .nth(1)
        .filter(|_| text.contains("field"))
        .map(str::to_string);
    Problem::response(422, "validation", &text, field.as_deref())
}
