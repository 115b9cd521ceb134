//! Phase 5, route: sticky binding, the scheduler's pick among the accounts that serve the
//! endpoint (native first, converted ones as the `cross_dialect` setting allows), the key's
//! account binding and its fallback, and the account's concurrency slot.

use chrono::Utc;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;
use switchyard_core::Dialect;
use switchyard_core::account::{Account, AccountId, AccountKind};
use switchyard_core::model_routes::CrossDialect;
use switchyard_core::scheduler::{self, NoAccount, RouteRequest};
use switchyard_core::settings::Settings;
use switchyard_store::coord::{Lease, Scope};
use switchyard_upstream::adapter::converted_api;

use super::request::{Endpoint, RelayRequest};
use crate::state::{AppState, Snapshot};

/// Whether `account` may serve `model` for a client of another family.
///
/// An account that lists no models serves any model natively, but a Claude account cannot
/// answer for `gpt-5`: across families the model must be listed or mapped explicitly, or
/// carry the family's own name prefix.
pub fn serves_converted(account: &Account, model: &str) -> bool {
    if account.model_map.contains_key(model) {
        return true;
    }
    if !account.allowed_models.is_empty() {
        return account.upstream_model(model).is_some();
    }
    let prefixes: &[&str] = match converted_api(account.kind).dialect() {
        Dialect::Anthropic => &["claude-"],
        Dialect::OpenaiChat | Dialect::OpenaiResponses => {
            &["gpt-", "o1", "o3", "o4", "chatgpt-", "codex-"]
        }
        Dialect::Gemini => &["gemini-"],
    };
    prefixes.iter().any(|p| model.starts_with(p))
}

/// The account an attempt goes to, with its slot held.
pub struct Picked {
    pub account: Arc<Account>,
    pub upstream_model: String,
    pub slot: Lease,
}

/// One request's routing: what stays the same across its attempts.
pub struct Router<'a> {
    state: &'a Arc<AppState>,
    endpoint: &'static Endpoint,
    req: &'a RelayRequest,
    cross: CrossDialect,
    ttl: Duration,
    /// The key's bound accounts, and whether it may fall back to the shared pool.
    binding: Option<(Arc<[AccountId]>, bool)>,
    /// Accounts already tried (or unusable) for this request.
    pub exclude: Vec<AccountId>,
}

impl<'a> Router<'a> {
    pub fn new(
        state: &'a Arc<AppState>,
        endpoint: &'static Endpoint,
        req: &'a RelayRequest,
        settings: &Settings,
        ttl: Duration,
    ) -> Self {
        let cross = if endpoint.converted().is_empty() {
            CrossDialect::Off
        } else {
            // The key's own choice, else the operator's setting.
            (req.key.key.policy.cross_dialect).unwrap_or(settings.cross_dialect)
        };
        Router {
            state,
            endpoint,
            req,
            cross,
            ttl,
            binding: super::admit::binding(&req.key),
            exclude: Vec::new(),
        }
    }

    /// Picks the next account and takes its slot; accounts that vanished or are full are
    /// skipped. `Err` says why none is left.
    pub async fn pick_next(&mut self) -> Result<Picked, NoAccount> {
        let (pinned, sticky) = self.sticky().await;
        loop {
            let snap = self.state.snapshot.load();
            let choice = self.pick(&snap, sticky)?;
            let Some(account) = snap.accounts_by_id.get(&choice.account_id).cloned() else {
                self.exclude.push(choice.account_id);
                continue;
            };
            let Some(slot) = self
                .state
                .coord
                .try_acquire(Scope::Account, account.id, account.max_concurrency)
                .await
            else {
                self.exclude.push(account.id);
                continue;
            };
            if pinned.is_none()
                && sticky.is_some_and(|s| s != account.id)
                && let Some(s) = &self.req.session
            {
                // The session moves: its old binding is no use any more.
                self.state.coord.sticky_unbind(s.as_str());
            }
            return Ok(Picked {
                account,
                upstream_model: choice.upstream_model,
                slot,
            });
        }
    }

    /// The account a continuation (`pinned`) or the session is bound to, if any.
    /// Read once per request: failover moves the request, not the binding.
    async fn sticky(&self) -> (Option<AccountId>, Option<AccountId>) {
        let coord = &self.state.coord;
        let pinned = match &self.req.pinned {
            Some(p) => coord.sticky_get(p.as_str(), self.ttl).await,
            None => None,
        };
        let session = match (pinned, &self.req.session) {
            (None, Some(s)) => coord.sticky_get(s.as_str(), self.ttl).await,
            _ => pinned,
        };
        (pinned, session)
    }

    fn pick(
        &self,
        snap: &Snapshot,
        sticky: Option<AccountId>,
    ) -> Result<scheduler::Choice, NoAccount> {
        let endpoint = self.endpoint;
        let converted = endpoint.converted();
        match self.cross {
            CrossDialect::Off => self.pick_among(snap, sticky, endpoint.kinds(), None),
            CrossDialect::Any => {
                // One pool: native accounts as they are, converted ones that serve the model.
                let kinds: Vec<AccountKind> =
                    endpoint.kinds().iter().chain(converted).copied().collect();
                let ids = self.eligible(snap, |a| {
                    endpoint.kinds().contains(&a.kind) || converted.contains(&a.kind)
                });
                self.pick_among(snap, sticky, &kinds, Some(&ids))
            }
            CrossDialect::Fallback => {
                let native = match self.pick_among(snap, sticky, endpoint.kinds(), None) {
                    Ok(c) => return Ok(c),
                    Err(no) => no,
                };
                // No native account can serve now: try the accounts that serve it converted.
                let ids = self.eligible(snap, |a| converted.contains(&a.kind));
                self.pick_among(snap, sticky, converted, Some(&ids))
                    .map_err(|no| {
                        // Say why the closer pool failed: a native pool that exists but is
                        // busy is the better answer than "no account for this model".
                        if native == NoAccount::NoneForModel {
                            no
                        } else {
                            native
                        }
                    })
            }
        }
    }

    /// Ids of the accounts `of_kind` accepts, keeping converted ones only where they may
    /// serve the model.
    fn eligible(&self, snap: &Snapshot, of_kind: impl Fn(&Account) -> bool) -> Vec<AccountId> {
        let native = self.endpoint.kinds();
        snap.accounts
            .iter()
            .filter(|a| of_kind(a))
            .filter(|a| native.contains(&a.kind) || serves_converted(a, self.req.model()))
            .map(|a| a.id)
            .collect()
    }

    /// Picks among `kinds`, limited to `only` (and the key's binding); a key allowed to fall
    /// back to the shared pool tries it when none of its bound accounts can serve.
    fn pick_among(
        &self,
        snap: &Snapshot,
        sticky: Option<AccountId>,
        kinds: &[AccountKind],
        only: Option<&[AccountId]>,
    ) -> Result<scheduler::Choice, NoAccount> {
        let load = |id| self.state.coord.in_flight(Scope::Account, id);
        // Native routing (`only` is `None`) borrows the binding as it is: no copy.
        let bound_only = self.binding.as_ref().map(|(ids, _)| match only {
            None => Cow::Borrowed(&ids[..]),
            Some(o) => ids.iter().copied().filter(|id| o.contains(id)).collect(),
        });
        let route = RouteRequest {
            kinds,
            model: self.req.model(),
            exclude: &self.exclude,
            sticky,
            only: bound_only.as_deref().or(only),
            now: Utc::now(),
        };
        let picked = scheduler::pick(&snap.accounts, &route, &load, &mut rand::rng());
        let may_leave_binding = self.binding.as_ref().is_some_and(|(_, fallback)| *fallback);
        if picked.is_err() && may_leave_binding {
            let shared = RouteRequest { only, ..route };
            return scheduler::pick(&snap.accounts, &shared, &load, &mut rand::rng());
        }
        picked
    }
}
