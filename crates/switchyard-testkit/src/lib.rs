//! Test support for Switchyard: mock upstream servers with scripted faults.
//!
//! [`MockUpstream`] is a real HTTP/1.1 + h2c server on `127.0.0.1:0` serving:
//!
//! | endpoint | answer |
//! |---|---|
//! | `POST /v1/messages` (any query) | Anthropic message; SSE stream when the body has `"stream":true` |
//! | `POST /v1/messages/count_tokens` | `{"input_tokens":N}` (`N` = [`MockUsage::input`]) |
//! | `POST /v1/oauth/token`, `POST /oauth/token` | JSON or form body, `grant_type=refresh_token` (or `authorization_code`) → rotated token pair `sk-ant-oat01-mock-N` / `sk-ant-ort01-mock-N` |
//! | `POST /v1/responses`, `/responses`, `/backend-api/codex/responses` | Responses API object or stream (Codex path streams unless `"stream":false`) |
//! | `POST /v1/chat/completions`, `/chat/completions` | Chat Completions; usage chunk only with `stream_options.include_usage` |
//!
//! Anything else answers 404 (and is recorded). Response bodies are deterministic functions of
//! the request model, the configured [`MockUsage`] and the delta count; the functions in
//! [`bodies`] (e.g. [`anthropic_stream_bytes`]) give the exact bytes for byte-exact assertions.
//!
//! Faults are queued FIFO and consumed one per request: per-credential queue first
//! ([`MockUpstream::push_for`]), then the shared queue ([`MockUpstream::push`]). The OAuth
//! endpoint has its own queue ([`MockUpstream::push_oauth`]).

pub mod bodies;
mod fault;
mod mock;

pub use bodies::{MockUsage, anthropic_stream_bytes, chat_stream_bytes, responses_stream_bytes};
pub use fault::Fault;
pub use mock::{Chunking, MockUpstream, RecordedRequest};
