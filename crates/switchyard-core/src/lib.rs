//! Switchyard's domain: the vocabulary of DESIGN.md as types, and the pure decisions made on
//! them (which account serves a request, what a request costs). Nothing here does I/O, so every
//! rule can be unit- and property-tested without a server.

pub mod account;
pub mod account_event;
pub mod dialect;
pub mod key;
pub mod model_routes;
pub mod policy;
pub mod pricing;
pub mod scheduler;
pub mod secret;
pub mod session;
pub mod settings;
pub mod time;
pub mod usage;

pub use account::{Account, AccountId, AccountKind, AccountStatus};
pub use dialect::Dialect;
pub use secret::Secret;
pub use usage::TokenUsage;
