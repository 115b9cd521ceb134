//! The bottom of the relay: what every phase speaks of — the endpoint a request came to, the
//! request after inspection, the outcome that settlement records — and request ids. Nothing
//! here imports a phase.

use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_core::Dialect;
use switchyard_core::account::{AccountId, AccountKind};
use switchyard_core::session::SessionKey;
use switchyard_upstream::adapter::{self, Api, ClientRequest};

use super::admit::KeySlots;
use crate::state::KeyEntry;

/// How one dialect's endpoint is served: which accounts, natively and converted, come from
/// the adapter table for its [`Api`].
pub struct Endpoint {
    pub api: Api,
    /// The endpoint's name in usage records and metrics.
    pub name: &'static str,
}

impl Endpoint {
    pub const fn new(api: Api, name: &'static str) -> Self {
        Endpoint { api, name }
    }

    pub const fn dialect(&self) -> Dialect {
        self.api.dialect()
    }

    pub const fn kinds(&self) -> &'static [AccountKind] {
        adapter::native_kinds(self.api)
    }

    /// Kinds of other families that may serve the endpoint through conversion.
    pub const fn converted(&self) -> &'static [AccountKind] {
        adapter::converted_kinds(self.api)
    }
}

/// What a dialect module's inspect phase found, beyond the client request itself.
pub struct Inspected {
    pub client: ClientRequest,
    /// Tagged material that identifies the conversation, if any (sticky sessions).
    pub session_material: Option<String>,
    /// A Responses continuation (`previous_response_id`), which must go to the account that
    /// produced the earlier response while it is usable.
    pub previous_response_id: Option<String>,
    /// Whether the request names a model (account-level Code Assist calls do not: only the
    /// client rule is admitted for them).
    pub names_model: bool,
    /// Whether the body is judged for the client rule (count_tokens carries no `metadata`: its
    /// client is judged on the headers).
    pub judge_body: bool,
}

/// The request after authentication, admission and inspection.
pub struct RelayRequest {
    pub key: Arc<KeyEntry>,
    /// The key's concurrency slots, held until the request is settled (taken by the attempt
    /// that settles it).
    pub key_slot: Option<KeySlots>,
    pub client: ClientRequest,
    pub session: Option<SessionKey>,
    /// A continuation that must go to the account that produced the earlier response while
    /// it is usable; looked up before `session`.
    pub pinned: Option<SessionKey>,
    pub started: Instant,
}

impl RelayRequest {
    pub fn model(&self) -> &str {
        &self.client.model
    }
}

/// Everything known about a request when it ends.
pub struct Outcome {
    pub request_id: String,
    pub dialect: Dialect,
    pub endpoint: &'static str,
    pub api_key_id: i64,
    pub user_id: i64,
    pub account_id: Option<AccountId>,
    pub requested_model: Option<String>,
    pub upstream_model: Option<String>,
    pub stream: bool,
    pub status: u16,
    pub error_kind: Option<String>,
    pub attempts: u32,
    pub session_hash: Option<String>,
    /// What a lossy conversion left out, for the usage record.
    pub dropped_fields: Option<String>,
    pub started: Instant,
    /// Time spent waiting on upstreams (failed attempts and the successful one).
    pub upstream_time: Duration,
    /// Size of the client's body, for a usage estimate when the upstream's usage never came.
    pub request_bytes: usize,
}

impl Outcome {
    /// The outcome of `req` before anything happened to it (no account yet, status 503).
    pub fn of(req: &RelayRequest, endpoint: &Endpoint) -> Self {
        Outcome {
            request_id: req.client.request_id.clone(),
            dialect: endpoint.dialect(),
            endpoint: endpoint.name,
            api_key_id: req.key.key.id,
            user_id: req.key.key.user_id,
            account_id: None,
            requested_model: Some(req.client.model.clone()),
            upstream_model: None,
            stream: req.client.stream,
            status: 503,
            error_kind: None,
            attempts: 0,
            session_hash: req.session.as_ref().map(|s| s.as_str().to_string()),
            dropped_fields: None,
            started: req.started,
            upstream_time: Duration::ZERO,
            request_bytes: req.client.body.len(),
        }
    }
}

/// A fresh id for a relay request (returned as `x-switchyard-request-id`, kept in usage).
pub fn new_request_id() -> String {
    use rand::Rng;
    let n: u128 = rand::rng().random();
    format!("req_sy_{n:032x}")
}

/// The sticky identity under which a Responses id is remembered (scoped by API key).
pub fn response_binding(api_key_id: i64, response_id: &str) -> SessionKey {
    switchyard_core::session::session_key(api_key_id, &format!("response:{response_id}"))
}
