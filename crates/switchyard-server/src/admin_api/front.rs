//! What every handler over the operations layer shares, as extractors: [`Front`] (the server,
//! the signed-in caller, and the operations' context for them), [`Body`] and [`Params`] (a
//! JSON body or query string, refused in the problem shape). A handler is then one line: call
//! the operation, render its outcome.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

use super::Caller;
use super::problem::{Problem, bad_body, bad_query};
use crate::ops::{Ctx, OpError};
use crate::state::AppState;

/// The operations' context for a request of the API: the caller is the audit log's actor,
/// and changes reload this server's snapshot.
pub fn ctx<'a>(state: &'a AppState, actor: &'a str) -> Ctx<'a> {
    Ctx {
        store: state.store.as_ref(),
        clients: &state.clients,
        hosts: &state.hosts,
        actor,
        live: Some(state),
    }
}

/// The server and the signed-in caller of an operation (put there by `authorize`).
pub struct Front {
    pub state: Arc<AppState>,
    pub caller: Caller,
    actor: String,
}

impl FromRequestParts<Arc<AppState>> for Front {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let caller = parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Problem::unauthorized("sign in first: POST /api/admin/login"))?;
        Ok(Front {
            state: state.clone(),
            actor: caller.actor(),
            caller,
        })
    }
}

impl Front {
    pub fn ctx(&self) -> Ctx<'_> {
        ctx(&self.state, &self.actor)
    }

    /// An operation's value as JSON with `status`, or its refusal as a problem.
    pub fn done<T: Serialize>(&self, status: u16, r: Result<T, OpError>) -> Response {
        match r {
            Ok(v) => {
                // The change reaches the request path at once instead of at the next poll.
                self.state.reload.notify_one();
                let code = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                (code, Json(v)).into_response()
            }
            Err(e) => Problem::from_op(e),
        }
    }

    /// An operation that answers with no body (`204`).
    pub fn done_empty<T>(&self, r: Result<T, OpError>) -> Response {
        match r {
            Ok(_) => {
                self.state.reload.notify_one();
                StatusCode::NO_CONTENT.into_response()
            }
            Err(e) => Problem::from_op(e),
        }
    }
}

/// A JSON body; one that does not parse is a validation problem naming the field.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(e) => Err(bad_body(e)),
        }
    }
}

/// A query string; one that does not parse is a `400` problem.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Params(v)),
            Err(e) => Err(bad_query(e)),
        }
    }
}
