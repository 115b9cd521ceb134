//! Signing in with a subscription, in two steps that any front (CLI, admin API, the web
//! console later) can drive:
//!
//! 1. [`start`] makes a random `state` and PKCE verifier, keeps them in the store for ten
//!    minutes (so any instance can finish what another started), and returns the provider's
//!    authorize URL — only the S256 challenge leaves Switchyard.
//! 2. [`finish`] takes what the operator pasted (the code, `code#state`, or the whole
//!    redirect URL), uses the pending state once, exchanges the code through the account's
//!    proxy, reads the profile, and creates the account — or, when re-authorising, replaces
//!    the credentials of the existing one, which keeps its id, groups, keys and history.
//!
//! [`session_key_login`] is Claude's browserless variant from a claude.ai `sessionKey`.
//! A refusal at any step stores nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_core::Secret;
use switchyard_core::account::{Account, AccountKind, Credentials};
use switchyard_core::settings::Settings;
use switchyard_store::{AccountPatch, NewAccount, OAuthPending};
use switchyard_upstream::oauth::{self, Flow, SignedIn};

use super::{Ctx, OpError, invalid};
use crate::views::AccountView;

/// How long a started sign-in can be finished.
pub const PENDING_MINUTES: i64 = 10;

/// What to sign in to, and the account it makes (or re-authorises).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// `claude-official`, `openai-responses` or `gemini`.
    pub kind: Option<AccountKind>,
    /// Claude only: the long-lived setup token (scope `user:inference`, no refresh token).
    #[serde(default)]
    pub setup_token: bool,
    /// Name of the new account.
    pub name: Option<String>,
    /// Re-authorise this existing account (name or id) instead of creating one.
    pub account: Option<String>,
    /// A proxy URL or the name of a proxy; the code exchange already goes through it.
    pub proxy: Option<String>,
    pub priority: Option<i32>,
    pub weight: Option<u32>,
    #[serde(default)]
    pub allowed_models: Vec<String>,
    pub max_concurrency: Option<u32>,
}

/// The answer to [`start`].
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Started {
    /// Open this in a browser and sign in.
    pub url: String,
    pub state: String,
    pub expires_at: DateTime<Utc>,
}

/// The answer to [`finish`]: the account, and what the provider said about the sign-in.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Finished {
    /// Whether a new account was created (false: an existing one was re-authorised).
    pub created: bool,
    pub email: Option<String>,
    pub organization: Option<String>,
    pub plan: Option<String>,
    /// Google sign-ins: the Code Assist project found (or onboarded) for the account.
    pub project: Option<String>,
    /// Anything the operator should know that did not stop the sign-in.
    pub note: Option<String>,
    pub account: AccountView,
}

/// What the store keeps between the two steps (encrypted).
#[derive(Serialize, Deserialize)]
struct Pending {
    flow: String,
    verifier: String,
    request: LoginRequest,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Checks the request against the store; returns the flow and, when re-authorising, the
/// account.
async fn checked(ctx: &Ctx<'_>, req: &LoginRequest) -> Result<(Flow, Option<Account>), OpError> {
    let existing = match &req.account {
        Some(sel) => Some(ctx.store.find_account(sel).await?),
        None => None,
    };
    let kind = match (req.kind, &existing) {
        (Some(k), Some(a)) if k != a.kind => {
            return Err(invalid(
                "kind",
                format!("account `{}` is a {} account", a.name, a.kind),
            ));
        }
        (Some(k), _) => k,
        (None, Some(a)) => a.kind,
        (None, None) => {
            return Err(invalid("kind", "say which kind of account to sign in to"));
        }
    };
    let flow = Flow::for_kind(kind, req.setup_token).ok_or_else(|| {
        invalid(
            "kind",
            format!("`{kind}` has no sign-in; use claude-official, openai-responses or gemini"),
        )
    })?;
    if req.setup_token && kind != AccountKind::ClaudeOfficial {
        return Err(invalid(
            "setup_token",
            "setup tokens exist only for claude-official",
        ));
    }
    match (&req.name, &existing) {
        (None, None) => {
            return Err(invalid(
                "name",
                "give the new account a name (or --account to re-authorise one)",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(invalid(
                "name",
                "give either a new name or --account, not both",
            ));
        }
        (Some(n), None) => {
            if n.trim().is_empty() || n.chars().all(|c| c.is_ascii_digit()) {
                return Err(invalid(
                    "name",
                    "an account name must not be empty or a number",
                ));
            }
            if ctx.store.find_account(n).await.is_ok() {
                return Err(OpError::Conflict(format!(
                    "account `{n}` already exists (use --account {n} to re-authorise it)"
                )));
            }
        }
        (None, Some(_)) => {}
    }
    if let Some(p) = &req.proxy {
        super::proxies::check_account_proxy(ctx.store, p).await?;
    }
    Ok((flow, existing))
}

pub async fn start(ctx: &Ctx<'_>, req: LoginRequest) -> Result<Started, OpError> {
    let (flow, _) = checked(ctx, &req).await?;
    let state = random_token();
    let verifier = random_token();
    let now = Utc::now();
    let expires_at = now + Duration::minutes(PENDING_MINUTES);
    let target = req.name.clone().or(req.account.clone()).unwrap_or_default();
    let data = serde_json::to_string(&Pending {
        flow: flow.as_str().into(),
        verifier: verifier.clone(),
        request: req,
    })
    .map_err(|e| OpError::Store(switchyard_store::StoreError::Invalid(e.to_string())))?;
    ctx.store
        .put_oauth_pending(&OAuthPending {
            state: state.clone(),
            kind: flow.as_str().into(),
            data: Secret::new(data),
            created_at: now,
            expires_at,
        })
        .await?;
    ctx.audit(
        "account.oauth.start",
        &target,
        serde_json::json!({"flow": flow.as_str(), "expires_at": expires_at}),
    )
    .await;
    Ok(Started {
        url: oauth::authorize_url(flow, ctx.hosts, &state, &oauth::code_challenge(&verifier)),
        state,
        expires_at,
    })
}

/// The proxy URL the sign-in's own calls go through: the one requested, else the
/// re-authorised account's, else `default_proxy`.
async fn exchange_proxy(
    ctx: &Ctx<'_>,
    req: &LoginRequest,
    existing: Option<&Account>,
) -> Result<Option<String>, OpError> {
    let own = req
        .proxy
        .clone()
        .or_else(|| existing.and_then(|a| a.proxy_url.clone()));
    let proxies = crate::state::proxy_table(ctx.store).await?;
    let default = Settings::from_stored(&ctx.store.settings().await?).default_proxy;
    Ok(crate::state::effective_proxy(
        own.as_deref(),
        &proxies,
        &default,
    ))
}

/// Finishes a sign-in. `state` may be omitted when the pasted text carries it.
pub async fn finish(
    ctx: &Ctx<'_>,
    state: Option<&str>,
    code_or_url: &str,
) -> Result<Finished, OpError> {
    let (code, pasted_state) =
        oauth::parse_pasted(code_or_url).map_err(|e| invalid("code_or_url", e.to_string()))?;
    let state = match (state.filter(|s| !s.is_empty()), pasted_state.as_deref()) {
        (Some(s), _) => s.to_string(),
        (None, Some(p)) => p.to_string(),
        (None, None) => {
            return Err(invalid(
                "state",
                "the state is missing: paste `code#state` or the whole redirect URL, or pass the state",
            ));
        }
    };
    // Used once, whatever happens next: a failed or foreign attempt burns the state.
    let pending = ctx.store.take_oauth_pending(&state).await?.ok_or_else(|| {
        invalid(
            "state",
            "unknown or already used sign-in state; start the sign-in again",
        )
    })?;
    if pasted_state.as_deref().is_some_and(|p| p != state) {
        return Err(invalid(
            "state",
            "the pasted answer belongs to a different sign-in (state mismatch); nothing was stored",
        ));
    }
    if pending.expires_at < Utc::now() {
        return Err(invalid(
            "state",
            format!("this sign-in expired ({PENDING_MINUTES} minutes); start it again"),
        ));
    }
    let p: Pending = serde_json::from_str(pending.data.expose())
        .map_err(|e| OpError::Store(switchyard_store::StoreError::Crypto(e.to_string())))?;
    let flow = Flow::parse(&p.flow)
        .ok_or_else(|| invalid("state", "the stored sign-in names an unknown flow"))?;
    // The store may have changed since start (a name taken, an account removed).
    let (_, existing) = checked(ctx, &p.request).await?;
    let proxy = exchange_proxy(ctx, &p.request, existing.as_ref()).await?;
    let http = ctx
        .clients
        .get(proxy.as_deref())
        .map_err(|e| invalid("proxy", e.to_string()))?;
    let signed = oauth::exchange(
        &http,
        flow,
        ctx.hosts,
        &code,
        &p.verifier,
        &state,
        Utc::now(),
    )
    .await
    .map_err(|e| OpError::Upstream(format!("the code exchange failed: {e}; nothing was stored")))?;
    save(ctx, &http, flow, &p.request, existing, signed, None).await
}

/// Claude from a claude.ai `sessionKey`: organisations → authorize → code → exchange, with no
/// browser step.
pub async fn session_key_login(
    ctx: &Ctx<'_>,
    req: LoginRequest,
    session_key: &str,
) -> Result<Finished, OpError> {
    let req = LoginRequest {
        kind: Some(AccountKind::ClaudeOfficial),
        setup_token: false,
        ..req
    };
    let (flow, existing) = checked(ctx, &req).await?;
    if session_key.trim().is_empty() {
        return Err(invalid("session_key", "the session key is empty"));
    }
    let proxy = exchange_proxy(ctx, &req, existing.as_ref()).await?;
    let http = ctx
        .clients
        .get(proxy.as_deref())
        .map_err(|e| invalid("proxy", e.to_string()))?;
    let state = random_token();
    let verifier = random_token();
    let fail = |e: oauth::OAuthError| OpError::Upstream(format!("{e}; nothing was stored"));
    let code = oauth::claude_code_from_session_key(
        &http,
        ctx.hosts,
        session_key.trim(),
        &state,
        &oauth::code_challenge(&verifier),
    )
    .await
    .map_err(fail)?;
    let signed = oauth::exchange(&http, flow, ctx.hosts, &code, &verifier, &state, Utc::now())
        .await
        .map_err(fail)?;
    save(
        ctx,
        &http,
        flow,
        &req,
        existing,
        signed,
        Some(session_key.trim()),
    )
    .await
}

async fn save(
    ctx: &Ctx<'_>,
    http: &reqwest::Client,
    flow: Flow,
    req: &LoginRequest,
    existing: Option<Account>,
    signed: SignedIn,
    session_key: Option<&str>,
) -> Result<Finished, OpError> {
    let signed_in = serde_json::json!({
        "email": signed.email,
        "organization": signed.organization,
        "plan": signed.plan,
        "scope": signed.scope,
        "flow": flow.as_str(),
        "at": Utc::now(),
    });
    let (account, created) = match existing {
        Some(old) => {
            let mut extra = old.extra.clone();
            extra.insert("signed_in".into(), signed_in);
            let credentials = Credentials {
                access_token: Some(signed.access_token.clone()),
                // A setup token comes without a refresh token: the old one is of no use with it.
                refresh_token: signed.refresh_token.clone(),
                expires_at: signed.expires_at,
                session_key: session_key
                    .map(Secret::new)
                    .or(old.credentials.session_key.clone()),
                ..old.credentials.clone()
            };
            let updated = ctx
                .store
                .update_account(
                    old.id,
                    AccountPatch {
                        proxy_url: req.proxy.clone().map(Some),
                        priority: req.priority,
                        weight: req.weight,
                        max_concurrency: req.max_concurrency,
                        allowed_models: (!req.allowed_models.is_empty())
                            .then(|| req.allowed_models.clone()),
                        extra: Some(extra),
                        credentials: Some(credentials),
                        ..Default::default()
                    },
                )
                .await?;
            (updated, false)
        }
        None => {
            let mut extra = serde_json::Map::new();
            extra.insert("signed_in".into(), signed_in);
            let created = ctx
                .store
                .create_account(NewAccount {
                    kind: Some(flow.kind()),
                    name: req.name.clone().unwrap_or_default(),
                    priority: req.priority,
                    weight: req.weight,
                    allowed_models: req.allowed_models.clone(),
                    max_concurrency: req.max_concurrency,
                    proxy_url: req.proxy.clone(),
                    extra,
                    credentials: Credentials {
                        access_token: Some(signed.access_token.clone()),
                        refresh_token: signed.refresh_token.clone(),
                        expires_at: signed.expires_at,
                        session_key: session_key.map(Secret::new),
                        ..Default::default()
                    },
                    ..Default::default()
                })
                .await?;
            (created, true)
        }
    };
    // Code Assist serves a Google account through a project, found (or onboarded) once; do
    // it now so the operator sees the outcome. A failure does not undo the sign-in: the relay
    // discovers again on first use.
    let (project, note) = if flow == Flow::Gemini {
        let found = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            switchyard_upstream::gemini::CodeAssistProjects::new().project_for(
                &account,
                http,
                ctx.hosts,
                &signed.access_token,
            ),
        )
        .await;
        match found {
            Ok(Ok(p)) => (Some(p), None),
            Ok(Err(e)) => (
                None,
                Some(format!("Code Assist project not found yet: {e}")),
            ),
            Err(_) => (
                None,
                Some("Code Assist project discovery timed out; it is retried on first use".into()),
            ),
        }
    } else {
        (None, None)
    };
    let view = AccountView::new(&account, None);
    ctx.audit(
        if created {
            "account.oauth.create"
        } else {
            "account.oauth.reauthorize"
        },
        &account.name,
        serde_json::json!({
            "flow": flow.as_str(),
            "email": signed.email,
            "organization": signed.organization,
            "plan": signed.plan,
            "account_id": account.id,
        }),
    )
    .await;
    ctx.changed().await;
    Ok(Finished {
        created,
        email: signed.email,
        organization: signed.organization,
        plan: signed.plan,
        project,
        note,
        account: view,
    })
}
