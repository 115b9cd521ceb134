//! Account onboarding: OAuth sign-in (start, finish, the claude.ai session-key variant) and
//! credential import/export. A front over [`crate::ops::oauth`] and [`crate::ops::import`],
//! which validate, store and audit; secrets are never echoed.

use axum::Json;
use axum::response::Response;
use axum::routing::post;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{Body, Front, Operation};
use crate::ops::import::{self, ExportFile, ImportOptions, ImportReport};
use crate::ops::oauth::{self, Finished, LoginRequest, Started};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishBody {
    /// From the start answer; may be omitted when `code_or_url` carries it.
    pub state: Option<String>,
    /// What the provider showed or redirected to: the code, `code#state`, or the whole URL.
    pub code_or_url: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionKeyBody {
    /// The claude.ai `sessionKey` cookie (`sk-ant-sid01-…`). Stored encrypted, never returned.
    pub session_key: String,
    /// The account to create or re-authorise (`kind` may be left out).
    pub login: LoginRequest,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// The file's text: Claude Code's `.credentials.json`, Codex's `auth.json`, Gemini CLI's
    /// `oauth_creds.json`, or a Switchyard export.
    pub content: String,
    /// The account kind, when the file could be read as another.
    pub kind: Option<switchyard_core::account::AccountKind>,
    /// Name of the new account (credential files only).
    pub name: Option<String>,
    /// Proxy URL or proxy name for the new account (credential files only).
    pub proxy: Option<String>,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ExportBody {
    /// Include tokens, keys and proxy passwords (audited).
    #[serde(default)]
    pub include_secrets: bool,
}

pub fn operations() -> Vec<Operation> {
    vec![
        Operation::post(
            "/accounts/import",
            "accounts",
            "Import a credential file or an export (all or nothing)",
            post(import_accounts),
        )
        .body::<ImportBody>()
        .ok::<ImportReport>(200),
        Operation::post(
            "/accounts/export",
            "accounts",
            "Export every account (secrets only when asked for)",
            post(export_accounts),
        )
        .body::<ExportBody>()
        .ok::<ExportFile>(200),
        Operation::post(
            "/accounts/oauth/start",
            "accounts",
            "Start signing in with a subscription (returns the URL to open)",
            post(start),
        )
        .body::<LoginRequest>()
        .ok::<Started>(200),
        Operation::post(
            "/accounts/oauth/finish",
            "accounts",
            "Finish a sign-in with what the provider showed; creates or re-authorises the account",
            post(finish),
        )
        .body::<FinishBody>()
        .ok::<Finished>(200),
        Operation::post(
            "/accounts/oauth/session-key",
            "accounts",
            "Sign in to Claude from a claude.ai session key (no browser step)",
            post(session_key),
        )
        .body::<SessionKeyBody>()
        .ok::<Finished>(200),
    ]
}

async fn start(f: Front, Body(b): Body<LoginRequest>) -> Response {
    f.done(200, oauth::start(&f.ctx(), b).await)
}

async fn finish(f: Front, Body(b): Body<FinishBody>) -> Response {
    let code = &b.code_or_url;
    f.done(200, oauth::finish(&f.ctx(), b.state.as_deref(), code).await)
}

async fn session_key(f: Front, Body(b): Body<SessionKeyBody>) -> Response {
    let key = &b.session_key;
    f.done(200, oauth::session_key_login(&f.ctx(), b.login, key).await)
}

async fn import_accounts(f: Front, Body(b): Body<ImportBody>) -> Response {
    let opts = ImportOptions {
        kind: b.kind,
        name: b.name,
        proxy: b.proxy,
    };
    f.done(200, import::import(&f.ctx(), &b.content, &opts).await)
}

async fn export_accounts(f: Front, body: Option<Json<ExportBody>>) -> Response {
    let include_secrets = body.is_some_and(|Json(b)| b.include_secrets);
    f.done(200, import::export(&f.ctx(), include_secrets).await)
}
