//! Switchyard's HTTP side.
//!
//! [`App`] is the whole server as a value: built from a [`Config`] and a store, it binds its
//! listener (port 0 in tests), serves until told to stop, then drains in-flight requests and
//! flushes usage records. Relay requests go through the phases of [`relay`].

pub mod admin_api;
pub mod app;
pub mod bootstrap;
pub mod config;
pub mod connections;
pub mod console;
pub mod health;
pub mod health_check;
pub mod limits;
pub mod metrics;
pub mod ops;
pub mod quota;
pub mod relay;
pub mod state;
pub mod views;

pub use app::App;
pub use config::Config;
