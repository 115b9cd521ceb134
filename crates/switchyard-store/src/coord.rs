//! Ephemeral coordination state for one instance: sticky session bindings and concurrency
//! slots. Nothing here touches the database; losing it on restart only loses stickiness.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use switchyard_core::AccountId;

/// Most bindings kept at once (sessions and Responses continuations); beyond it the oldest
/// are forgotten, so memory stays bounded whatever the traffic.
pub const MAX_BINDINGS: usize = 1_000_000;

/// Session key → account, with a sliding time-to-live.
#[derive(Default)]
pub struct StickyMap {
    inner: Mutex<HashMap<String, (AccountId, Instant)>>,
}

impl StickyMap {
    /// The bound account, extending the binding's life by `ttl` when found.
    pub fn get(&self, session: &str, ttl: Duration) -> Option<AccountId> {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match map.get_mut(session) {
            Some((id, expires)) if *expires > now => {
                *expires = now + ttl;
                Some(*id)
            }
            Some(_) => {
                map.remove(session);
                None
            }
            None => None,
        }
    }

    pub fn bind(&self, session: &str, account: AccountId, ttl: Duration) {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if map.len() >= MAX_BINDINGS && !map.contains_key(session) {
            map.retain(|_, (_, expires)| *expires > now);
            if map.len() >= MAX_BINDINGS {
                // Still full of live bindings: forget the tenth closest to expiring. A lost
                // binding only costs stickiness, never a request.
                let mut expiries: Vec<Instant> = map.values().map(|(_, e)| *e).collect();
                let cut = expiries.len() / 10;
                expiries.select_nth_unstable(cut);
                let threshold = expiries[cut];
                map.retain(|_, (_, expires)| *expires > threshold);
            }
        }
        map.insert(session.to_string(), (account, now + ttl));
    }

    pub fn unbind(&self, session: &str) {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.remove(session);
    }

    /// Drops every binding to `account` (it became unusable); returns how many.
    pub fn drop_account(&self, account: AccountId) -> usize {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let before = map.len();
        map.retain(|_, (id, _)| *id != account);
        before - map.len()
    }

    /// Removes expired bindings, so memory stays bounded by live sessions.
    pub fn sweep(&self) {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        map.retain(|_, (_, expires)| *expires > now);
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Counters of requests in flight per id (accounts, or API keys), with RAII release: a
/// [`Slot`] gives its place back when dropped, on every exit path including a client that
/// disconnects mid-stream.
#[derive(Default)]
pub struct Slots {
    inner: Mutex<HashMap<i64, Arc<AtomicU32>>>,
}

pub struct Slot {
    counter: Arc<AtomicU32>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Slots {
    fn counter(&self, id: i64) -> Arc<AtomicU32> {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(id).or_default().clone()
    }

    /// Takes a slot unless `max` are already held; `max == 0` means unlimited.
    pub fn try_acquire(&self, id: i64, max: u32) -> Option<Slot> {
        let counter = self.counter(id);
        let taken = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (max == 0 || n < max).then_some(n + 1)
        });
        taken.ok().map(|_| Slot { counter })
    }

    /// Slots held across all ids.
    pub fn total(&self) -> u64 {
        let map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.values()
            .map(|c| u64::from(c.load(Ordering::Acquire)))
            .sum()
    }

    pub fn in_flight(&self, id: i64) -> u32 {
        let map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(&id).map_or(0, |c| c.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_release_on_drop() {
        let slots = Slots::default();
        let a = slots.try_acquire(1, 2).unwrap();
        let _b = slots.try_acquire(1, 2).unwrap();
        assert!(slots.try_acquire(1, 2).is_none());
        drop(a);
        assert_eq!(slots.in_flight(1), 1);
        assert!(slots.try_acquire(1, 2).is_some());
        assert!(slots.try_acquire(9, 0).is_some());
    }

    #[test]
    fn sticky_expires_and_drops() {
        let m = StickyMap::default();
        m.bind("s", 7, Duration::from_secs(60));
        assert_eq!(m.get("s", Duration::from_secs(60)), Some(7));
        m.bind("t", 7, Duration::from_millis(0));
        assert_eq!(m.get("t", Duration::from_secs(60)), None);
        assert_eq!(m.drop_account(7), 1);
        assert_eq!(m.get("s", Duration::from_secs(60)), None);
    }
}
