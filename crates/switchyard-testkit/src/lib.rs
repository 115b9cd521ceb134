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
//! | `POST /v1beta/models/{m}:{action}`, `/v1/models/…`, `/v1internal:{method}`, `POST /token` | Gemini public API, Code Assist and Google OAuth: see [`gemini`] |
//!
//! Probe endpoints (account health checks; the credential they need must be present, else 401,
//! or 403 for Gemini):
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /api/oauth/usage` (Bearer) | Claude OAuth usage; utilization via [`MockUpstream::set_claude_utilization`] |
//! | `GET /api/organizations` (`Cookie: sessionKey=…`) | one claude.ai org with `chat` |
//! | `GET /v1/models`, `/models` | OpenAI model list; Anthropic shape with `anthropic-version` |
//! | `GET /v1beta/models` (or `/v1/models` with `x-goog-api-key`) | Gemini model list |
//! | `GET /backend-api/accounts/check/v4-2023-04-27` (Bearer) | ChatGPT account check |
//! | `GET /backend-api/wham/usage` (Bearer) | ChatGPT usage; see [`MockUpstream::set_codex_used_percent`] |
//! | `POST /webhook` | 204 (body recorded) |
//!
//! Anything else answers 404 (and is recorded). Response bodies are deterministic functions of
//! the request model, the configured [`MockUsage`] and the delta count; the functions in
//! [`bodies`] (e.g. [`anthropic_stream_bytes`]) give the exact bytes for byte-exact assertions.
//!
//! Faults are queued FIFO and consumed one per request: per-credential queue first
//! ([`MockUpstream::push_for`]), then the shared queue ([`MockUpstream::push`]). The OAuth
//! endpoint has its own queue ([`MockUpstream::push_oauth`]). Probe endpoints use only their own
//! queues ([`MockUpstream::push_probe_for`], then [`MockUpstream::push_probe`]) and are counted
//! by [`MockUpstream::probe_count_for`], not [`MockUpstream::count_for`].

#![allow(
    clippy::disallowed_methods,
    reason = "mock servers live as long as their test; nothing to wait for at a shutdown"
)]

pub mod bodies;
mod fault;
pub mod gemini;
mod mock;
pub mod oauth;
pub mod proxy;

pub use bodies::{MockUsage, anthropic_stream_bytes, chat_stream_bytes, responses_stream_bytes};
pub use fault::Fault;
pub use mock::{Chunking, MockUpstream, RecordedRequest, chatgpt_jwt};
pub use oauth::OAuthMock;
pub use proxy::{TestProxy, dead_proxy_url};
