//! Talking to upstream providers.
//!
//! - [`client`]: one reused HTTP client per proxy configuration.
//! - [`headers`]: header hygiene shared by every adapter.
//! - [`anthropic`]: the `claude` and `claude-official` adapters (request building).
//! - [`tokens`]: OAuth access tokens, refreshed before expiry and once on 401, single-flight.
//! - [`classify`]: one classification of upstream failures that drives both failover and the
//!   account's state.
//! - [`passthrough`]: the response body type that forwards bytes untouched while a usage tap
//!   reads them.

pub mod anthropic;
pub mod classify;
pub mod client;
pub mod headers;
pub mod openai;
pub mod passthrough;
pub mod tokens;

pub use classify::{Classified, Failure, StateChange};
pub use client::{ClientPool, UpstreamHosts};
pub use passthrough::{Finished, PassthroughBody, TapMode};
