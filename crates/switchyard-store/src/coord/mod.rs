//! The request path's shared, ephemeral state behind one interface, [`Coordinator`]: sticky
//! session bindings, concurrency slots (as leases) and named leases. Nothing here touches the
//! database; losing it only loses stickiness.
//!
//! Alone (the default) everything lives in this process ([`local`]). With a Redis URL the
//! state is shared by every instance ([`redis`]); this process still counts its own requests
//! in flight (for load balancing and draining on shutdown). When Redis stops answering,
//! requests keep flowing: each instance falls back to its own bindings and counts slots
//! against the full limit on its own, until Redis answers again (ADR 0015).

pub mod local;
pub mod redis;
pub mod throttle;

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use switchyard_core::AccountId;

pub use local::{MAX_BINDINGS, Slot, SlotRefusal, Slots, StickyMap};
pub use redis::{
    CounterCheck, CounterPeriods, CounterVerdict, RedisSetupError, Shared, SharedStatus, SpendWrite,
};

/// What a concurrency slot is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Account,
    Key,
    User,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Account => "account",
            Scope::Key => "key",
            Scope::User => "user",
        }
    }
}

/// How often a request waiting for a slot held on another instance looks again (a release on
/// this instance wakes it at once).
const SHARED_WAIT_POLL: Duration = Duration::from_millis(25);

/// A held concurrency slot: this instance's count, and the shared lease when there is one.
/// Dropping it gives both back.
pub struct Lease {
    _local: Slot,
    _shared: Option<redis::SharedLease>,
}

/// The coordination interface of the request path.
#[derive(Default)]
pub struct Coordinator {
    sticky: StickyMap,
    accounts: Slots,
    keys: Slots,
    users: Slots,
    shared: Option<Shared>,
    /// Requests of this instance waiting for a shared slot, per (scope, id).
    waiting: Mutex<HashMap<(Scope, i64), u32>>,
    /// The admin sign-in throttle's counts (alone, or while Redis does not answer).
    throttle: throttle::LoginThrottle,
}

/// Removes a waiter from the count however its wait ends.
struct Waiter<'a> {
    coord: &'a Coordinator,
    at: (Scope, i64),
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let mut waiting = self
            .coord
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = waiting.get_mut(&self.at) {
            *n -= 1;
            if *n == 0 {
                waiting.remove(&self.at);
            }
        }
    }
}

impl Coordinator {
    /// State kept by this process alone.
    pub fn local() -> Self {
        Self::default()
    }

    /// State shared through Redis.
    pub fn shared(shared: Shared) -> Self {
        Coordinator {
            shared: Some(shared),
            ..Self::default()
        }
    }

    /// The shared side, if any (for its background upkeep and status).
    pub fn shared_side(&self) -> Option<&Shared> {
        self.shared.as_ref()
    }

    fn slots(&self, scope: Scope) -> &Slots {
        match scope {
            Scope::Account => &self.accounts,
            Scope::Key => &self.keys,
            Scope::User => &self.users,
        }
    }

    fn usable_shared(&self) -> Option<&Shared> {
        self.shared.as_ref().filter(|s| s.usable())
    }

    /// The account `session` is bound to, extending the binding by `ttl`.
    pub async fn sticky_get(&self, session: &str, ttl: Duration) -> Option<AccountId> {
        let local = self.sticky.get(session, ttl);
        if let Some(shared) = self.usable_shared()
            && let Some(found) = shared.sticky_get(session, ttl).await
        {
            // A binding this instance made whose queued write has not reached Redis yet
            // still counts: the session's next request must not move it.
            return found.or(local);
        }
        local
    }

    /// Binds `session` to `account`. With Redis the binding is also kept here, so the live
    /// view counts this instance's sessions and a Redis outage keeps what this instance saw.
    /// The shared write is queued, not awaited (a stream's end binds, and cannot wait).
    pub fn sticky_bind(&self, session: &str, account: AccountId, ttl: Duration) {
        self.sticky.bind(session, account, ttl);
        if let Some(shared) = &self.shared {
            shared.sticky_bind(session, account, ttl);
        }
    }

    pub fn sticky_unbind(&self, session: &str) {
        self.sticky.unbind(session);
        if let Some(shared) = &self.shared {
            shared.sticky_unbind(session);
        }
    }

    /// Forgets this instance's bindings to `account`; returns how many. Shared bindings to it
    /// stay until they expire or move: a binding to an account that cannot serve is passed
    /// over by the pick, and the session is bound anew where it lands.
    pub fn sticky_drop_account(&self, account: AccountId) -> usize {
        self.sticky.drop_account(account)
    }

    /// Forgets every binding to `account`, this instance's and the shared ones (an operator's
    /// action: the shared ones are found by a scan, never on the request path). Returns how
    /// many were forgotten.
    pub async fn clear_account_bindings(&self, account: AccountId) -> usize {
        let here = self.sticky.drop_account(account);
        match &self.shared {
            Some(shared) => shared.clear_account_bindings(account).await.unwrap_or(here),
            None => here,
        }
    }

    /// Removes this instance's expired bindings.
    pub fn sweep(&self) {
        self.sticky.sweep();
    }

    /// This instance's live bindings per account.
    pub fn sticky_per_account(&self) -> HashMap<AccountId, usize> {
        self.sticky.per_account()
    }

    /// This instance's bindings (live or not yet swept).
    pub fn sticky_len(&self) -> usize {
        self.sticky.len()
    }

    /// A slot unless `max` are held (across instances with Redis); `max == 0` is unlimited
    /// and never asks Redis.
    pub async fn try_acquire(&self, scope: Scope, id: i64, max: u32) -> Option<Lease> {
        let slots = self.slots(scope);
        if max == 0 {
            return slots.try_acquire(id, 0).map(|s| Lease {
                _local: s,
                _shared: None,
            });
        }
        if let Some(shared) = self.usable_shared()
            && let Some(taken) = shared.try_lease(scope, id, max).await
        {
            let shared_lease = taken?;
            return slots.try_acquire(id, 0).map(|s| Lease {
                _local: s,
                _shared: Some(shared_lease),
            });
        }
        // Alone, or Redis is not answering: this instance's own count.
        slots.try_acquire(id, max).map(|s| Lease {
            _local: s,
            _shared: None,
        })
    }

    /// A slot, waiting until `deadline` for one to free up when `max` are held. At most
    /// `max_waiting` requests of this instance wait per id; more are refused at once.
    pub async fn acquire(
        &self,
        scope: Scope,
        id: i64,
        max: u32,
        deadline: tokio::time::Instant,
        max_waiting: u32,
    ) -> Result<Lease, SlotRefusal> {
        let slots = self.slots(scope);
        if max == 0 || self.shared.is_none() {
            return slots
                .acquire(id, max, deadline, max_waiting)
                .await
                .map(|s| Lease {
                    _local: s,
                    _shared: None,
                });
        }
        if let Some(lease) = self.try_acquire(scope, id, max).await {
            return Ok(lease);
        }
        {
            let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
            let n = waiting.entry((scope, id)).or_insert(0);
            if *n >= max_waiting {
                return Err(SlotRefusal::QueueFull);
            }
            *n += 1;
        }
        let _waiter = Waiter {
            coord: self,
            at: (scope, id),
        };
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(SlotRefusal::TimedOut);
            }
            tokio::time::sleep_until((now + SHARED_WAIT_POLL).min(deadline)).await;
            if let Some(lease) = self.try_acquire(scope, id, max).await {
                return Ok(lease);
            }
        }
    }

    /// This instance's requests in flight for `id`.
    pub fn in_flight(&self, scope: Scope, id: i64) -> u32 {
        self.slots(scope).in_flight(id)
    }

    /// This instance's slots held in `scope`, across all ids.
    pub fn total(&self, scope: Scope) -> u64 {
        self.slots(scope).total()
    }

    /// Takes or keeps the named lease (e.g. the health check's round) for `ttl`; false when
    /// another instance holds it. Alone, this instance always holds it.
    pub async fn hold(&self, name: &str, ttl: Duration) -> bool {
        match &self.shared {
            Some(shared) => shared.hold(name, ttl).await,
            None => true,
        }
    }

    /// The shared rate and cost counters' verdict; `None` alone or while Redis is not
    /// answering (the caller's own counters decide).
    pub async fn admit_counters(&self, check: &CounterCheck) -> Option<CounterVerdict> {
        self.usable_shared()?.admit_counters(check).await
    }

    /// Adds a settled request to the shared counters (queued, not awaited).
    pub fn record_spend(&self, spend: SpendWrite) {
        if let Some(shared) = &self.shared {
            shared.record_spend(spend);
        }
    }

    /// The admin sign-in throttle: `Err(seconds)` when one of `keys` (a user name with an
    /// address, and the address) must wait; otherwise this attempt is counted against each
    /// as failed until [`Coordinator::sign_in_succeeded`] says otherwise (so parallel guesses
    /// cannot all pass the check before any is counted).
    pub async fn sign_in_attempt(&self, keys: [&str; 2]) -> Result<(), u64> {
        if let Some(shared) = self.usable_shared()
            && let Some(verdict) = shared.sign_in_attempt(keys).await
        {
            return verdict;
        }
        if let Some(wait) = keys.iter().find_map(|k| self.throttle.locked(k)) {
            return Err(wait);
        }
        for key in keys {
            self.throttle.attempt(key);
        }
        Ok(())
    }

    /// A sign-in succeeded: the user name's failures are forgotten, the address's count only
    /// loses this attempt (it keeps others' failed guesses).
    pub async fn sign_in_succeeded(&self, name_key: &str, address_key: &str) {
        if let Some(shared) = self.usable_shared()
            && shared.sign_in_succeeded(name_key, address_key).await
        {
            return;
        }
        self.throttle.succeeded(name_key, true);
        self.throttle.succeeded(address_key, false);
    }

    /// The shared side's state, when there is one.
    pub fn shared_status(&self) -> Option<SharedStatus> {
        self.shared.as_ref().map(Shared::status)
    }
}
