//! Phase 1, accept: read the request body within the configured limit.

use axum::body::{Body, Bytes};
use axum::response::Response;
use switchyard_core::Dialect;

use super::reply;

pub async fn read_body(body: Body, limit: usize, dialect: Dialect) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.to_string().contains("length limit"))
            || e.to_string().contains("length limit");
        if too_large {
            reply::error(
                dialect,
                413,
                None,
                &format!("request body exceeds the limit of {limit} bytes"),
            )
        } else {
            reply::error(
                dialect,
                400,
                None,
                &format!("could not read request body: {e}"),
            )
        }
    })
}
