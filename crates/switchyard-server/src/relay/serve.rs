//! The skeleton every dialect endpoint shares: accept (authenticate, admit the key, read the
//! body) → the dialect's own inspect → admit the model and client → relay. A dialect module
//! supplies only its [`Inspect`] function.

use axum::extract::Request;
use axum::http::Method;
use axum::http::request::Parts;
use axum::response::Response;
use bytes::Bytes;
use std::sync::Arc;
use switchyard_core::session::session_key;
use switchyard_upstream::adapter::ClientRequest;

use super::accept::{Admitted, admitted};
use super::failover;
use super::request::{Endpoint, Inspected, RelayRequest, new_request_id, response_binding};
use super::settle::refused;
use super::{admit, reply};
use crate::state::AppState;

/// What inspection gets: the request as it arrived (its body read), and its id.
pub struct Received {
    pub endpoint: &'static Endpoint,
    pub parts: Parts,
    pub body: Bytes,
    /// The client's query string minus Switchyard's own `key=`, for the upstream URL.
    pub query: Option<String>,
    pub request_id: String,
}

impl Received {
    /// The client request as a POST of `model`, with nothing else read from the body yet.
    pub fn into_client(self, model: String, stream: bool) -> ClientRequest {
        ClientRequest {
            api: self.endpoint.api,
            method: Method::POST,
            query: self.query,
            headers: self.parts.headers,
            body: self.body,
            model,
            stream,
            store: None,
            include_usage: false,
            gemini: None,
            request_id: self.request_id,
            lossy: false,
        }
    }
}

/// A dialect's inspect phase: parse only what routing needs; `Err` is the 400's message.
pub type Inspect = fn(Received) -> Result<Inspected, String>;

/// Serves one request to `endpoint`.
pub async fn serve(
    state: Arc<AppState>,
    endpoint: &'static Endpoint,
    req: Request,
    inspect: Inspect,
) -> Response {
    // authenticate, admit, accept
    match admitted(&state, req, endpoint).await {
        Ok(a) => relay_admitted(state, endpoint, a, inspect).await,
        Err(resp) => resp,
    }
}

/// Inspect, admit, then route, forward, respond and settle an admitted request.
pub async fn relay_admitted(
    state: Arc<AppState>,
    endpoint: &'static Endpoint,
    admitted: Admitted,
    inspect: Inspect,
) -> Response {
    let dialect = endpoint.dialect();
    let Admitted {
        parts,
        key,
        key_slot,
        body,
        upstream_query,
        started,
        // Held until the answer is on its way: the body's bytes count against the budget.
        body_room: _body_room,
    } = admitted;

    // inspect
    let received = Received {
        endpoint,
        parts,
        body,
        query: upstream_query,
        request_id: new_request_id(),
    };
    let mut inspected = match inspect(received) {
        Ok(i) => i,
        Err(message) => {
            let resp = reply::error(dialect, 400, None, &message);
            return refused(&state, &key, endpoint, started, None, resp);
        }
    };
    let settings = state.snapshot.load().settings.clone();
    inspected.client.lossy = settings.cross_dialect_lossy;
    // An operator's alias names the model from here on: limits, routing and usage see it.
    if inspected.names_model
        && let Some(model) = settings.model_aliases.resolve(&inspected.client.model)
        && let Err(e) = inspected.client.rename_model(model)
    {
        let resp = reply::error(dialect, 400, None, &e.to_string());
        return refused(&state, &key, endpoint, started, None, resp);
    }
    let client = &inspected.client;
    let judged_body = inspected.judge_body.then_some(&client.body[..]);
    let admission = if inspected.names_model {
        admit::admit_request(
            &state,
            &key,
            &client.headers,
            judged_body,
            &client.model,
            dialect,
        )
    } else {
        admit::admit_client(&state, &key, &client.headers, judged_body, dialect)
    };
    if let Err(resp) = admission {
        let model = inspected.names_model.then(|| client.model.clone());
        return refused(&state, &key, endpoint, started, model, resp);
    }

    let key_id = key.key.id;
    let req = RelayRequest {
        session: inspected
            .session_material
            .as_deref()
            .map(|m| session_key(key_id, m)),
        pinned: inspected
            .previous_response_id
            .as_deref()
            .map(|id| response_binding(key_id, id)),
        key,
        key_slot: Some(key_slot),
        client: inspected.client,
        started,
    };
    failover::relay(state, endpoint, req).await
}
