//! Reading a request body: within the size limit, within the time limits, and within the
//! memory budget shared by every request.
//!
//! A declared `content-length` over the limit is refused before a byte of the body is read. A
//! client that stops sending (a pause longer than `client_body_idle_seconds`) or sends too
//! slowly (longer than `client_body_seconds` in all) gets 408 and its connection back. The
//! bytes of bodies held at once are bounded by `body_budget_bytes`: a body that does not fit
//! waits for room, then is refused with 503, so twenty 31 MB uploads cannot take the process
//! to gigabytes.

use axum::body::{Body, Bytes};
use axum::response::Response;
use bytes::BytesMut;
use http::HeaderMap;
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use switchyard_core::Dialect;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::reply;
use crate::config::Config;
use crate::metrics;

/// Budget granularity: permits are KiB, so the semaphore's count stays small.
const UNIT: usize = 1024;
/// A body without a declared length reserves room in steps of this many bytes.
const STEP: usize = 64 * 1024;

/// The bytes of request bodies held in memory at once, across all requests.
pub struct BodyBudget {
    units: Arc<Semaphore>,
}

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        Self {
            units: Arc::new(Semaphore::new(
                bytes.div_ceil(UNIT).min(Semaphore::MAX_PERMITS),
            )),
        }
    }
}

/// Room in the budget held by one request's body; given back when the request ends.
#[derive(Default)]
pub struct BodyRoom {
    permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
}

impl BodyRoom {
    /// Makes room for `total` bytes in all, waiting until `deadline` at most.
    async fn grow_to(
        &mut self,
        budget: &BodyBudget,
        total: usize,
        deadline: Instant,
    ) -> Result<(), ()> {
        if total <= self.bytes {
            return Ok(());
        }
        let want = (total.div_ceil(UNIT) - self.bytes.div_ceil(UNIT)) as u32;
        let more = match budget.units.clone().try_acquire_many_owned(want) {
            Ok(p) => p,
            Err(_) => {
                ::metrics::counter!(metrics::BODY_BUDGET_WAITS).increment(1);
                let wait = budget.units.clone().acquire_many_owned(want);
                match tokio::time::timeout_at(deadline, wait).await {
                    Ok(Ok(p)) => p,
                    _ => {
                        ::metrics::counter!(metrics::BODY_BUDGET_REFUSED).increment(1);
                        return Err(());
                    }
                }
            }
        };
        match &mut self.permit {
            Some(p) => p.merge(more),
            None => self.permit = Some(more),
        }
        self.bytes = total.div_ceil(UNIT) * UNIT;
        Ok(())
    }
}

/// Reads the whole body, or answers in the client's dialect why not.
pub async fn read(
    config: &Config,
    budget: &BodyBudget,
    headers: &HeaderMap,
    body: Body,
    dialect: Dialect,
) -> Result<(Bytes, BodyRoom), Response> {
    let limit = config.body_limit_bytes;
    let too_large = || {
        reply::error(
            dialect,
            413,
            None,
            &format!("request body exceeds the limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let idle = Duration::from_secs(config.timeouts.client_body_idle_seconds);
    let all_by = Instant::now() + Duration::from_secs(config.timeouts.client_body_seconds);
    let no_room = || {
        let mut resp = reply::error(
            dialect,
            503,
            None,
            "the server is holding too many request bodies; retry shortly",
        );
        resp.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        );
        resp
    };
    let mut room = BodyRoom::default();
    let mut buf = match declared {
        Some(n) => {
            room.grow_to(budget, n as usize, Instant::now() + idle)
                .await
                .map_err(|()| no_room())?;
            BytesMut::with_capacity(n as usize)
        }
        None => BytesMut::new(),
    };
    let mut body = body;
    loop {
        let frame = tokio::time::timeout_at((Instant::now() + idle).min(all_by), body.frame());
        let frame = match frame.await {
            Err(_) => {
                return Err(reply::error(
                    dialect,
                    408,
                    None,
                    "the request body did not arrive in time",
                ));
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(reply::error(
                    dialect,
                    400,
                    None,
                    &format!("could not read request body: {e}"),
                ));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry nothing the relay uses
        };
        let total = buf.len() + data.len();
        if total > limit {
            return Err(too_large());
        }
        if total > room.bytes {
            let step = total.max(room.bytes + STEP).min(limit);
            room.grow_to(budget, step, Instant::now() + idle)
                .await
                .map_err(|()| no_room())?;
        }
        buf.extend_from_slice(&data);
    }
    Ok((buf.freeze(), room))
}
