//! Coordination state kept by this process: sticky session bindings and concurrency slots.
//! Alone it is the whole state; with Redis it is this instance's own view and its fallback.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use switchyard_core::AccountId;
use tokio::sync::Notify;

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

    /// Live (unexpired) bindings per account.
    pub fn per_account(&self) -> HashMap<AccountId, usize> {
        let map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let mut counts = HashMap::new();
        for (id, expires) in map.values() {
            if *expires > now {
                *counts.entry(*id).or_insert(0) += 1;
            }
        }
        counts
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

/// Counters of requests in flight per id (accounts, API keys or users), with RAII release: a
/// [`Slot`] gives its place back when dropped, on every exit path including a client that
/// disconnects mid-stream. Requests over a limit may wait for a slot in a short, bounded
/// queue ([`Slots::acquire`]).
#[derive(Default)]
pub struct Slots {
    inner: Mutex<HashMap<i64, Arc<Counter>>>,
}

#[derive(Default)]
struct Counter {
    held: AtomicU32,
    waiting: AtomicU32,
    released: Notify,
}

pub struct Slot {
    counter: Arc<Counter>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.counter.held.fetch_sub(1, Ordering::AcqRel);
        if self.counter.waiting.load(Ordering::Acquire) > 0 {
            self.counter.released.notify_one();
        }
    }
}

/// Why [`Slots::acquire`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotRefusal {
    /// The wait queue was already full.
    QueueFull,
    /// No slot freed up within the wait.
    TimedOut,
}

/// Removes a waiter from the count however its wait ends (including being cancelled).
struct Waiting<'a>(&'a AtomicU32);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Slots {
    fn counter(&self, id: i64) -> Arc<Counter> {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(id).or_default().clone()
    }

    fn take(counter: &Arc<Counter>, max: u32) -> Option<Slot> {
        let taken = counter
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (max == 0 || n < max).then_some(n + 1)
            });
        taken.ok().map(|_| Slot {
            counter: counter.clone(),
        })
    }

    /// Takes a slot unless `max` are already held; `max == 0` means unlimited.
    pub fn try_acquire(&self, id: i64, max: u32) -> Option<Slot> {
        Self::take(&self.counter(id), max)
    }

    /// Takes a slot, waiting until `deadline` for one to free up if `max` are held. At most
    /// `max_waiting` requests wait per id; more are refused at once.
    pub async fn acquire(
        &self,
        id: i64,
        max: u32,
        deadline: tokio::time::Instant,
        max_waiting: u32,
    ) -> Result<Slot, SlotRefusal> {
        let counter = self.counter(id);
        if let Some(slot) = Self::take(&counter, max) {
            return Ok(slot);
        }
        let queued = counter
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max_waiting).then_some(n + 1)
            });
        if queued.is_err() {
            return Err(SlotRefusal::QueueFull);
        }
        let _waiting = Waiting(&counter.waiting);
        loop {
            // Register for the wake-up before looking again, so a release in between is not
            // missed.
            let released = counter.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if let Some(slot) = Self::take(&counter, max) {
                return Ok(slot);
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                return Self::take(&counter, max).ok_or(SlotRefusal::TimedOut);
            }
        }
    }

    /// Slots held across all ids.
    pub fn total(&self) -> u64 {
        let map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.values()
            .map(|c| u64::from(c.held.load(Ordering::Acquire)))
            .sum()
    }

    pub fn in_flight(&self, id: i64) -> u32 {
        let map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(&id).map_or(0, |c| c.held.load(Ordering::Acquire))
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "test tasks are joined or dropped by their test"
)]
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

    #[tokio::test]
    async fn waiters_get_released_slots_or_time_out() {
        let slots = Arc::new(Slots::default());
        let held = slots.try_acquire(1, 1).unwrap();
        let soon = tokio::time::Instant::now() + Duration::from_secs(5);
        let s2 = slots.clone();
        let waiter = tokio::spawn(async move { s2.acquire(1, 1, soon, 4).await.is_ok() });
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        assert!(waiter.await.unwrap(), "the waiter gets the released slot");
        assert_eq!(slots.in_flight(1), 0);

        let _held = slots.try_acquire(2, 1).unwrap();
        let quick = tokio::time::Instant::now() + Duration::from_millis(50);
        assert_eq!(
            slots.acquire(2, 1, quick, 4).await.err(),
            Some(SlotRefusal::TimedOut)
        );
        assert_eq!(
            slots.acquire(2, 1, quick, 0).await.err(),
            Some(SlotRefusal::QueueFull)
        );
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
