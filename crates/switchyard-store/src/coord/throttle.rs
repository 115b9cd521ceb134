//! The admin sign-in throttle. Failed logins are counted per key (a user name with the
//! client's address, or the address alone). After [`FREE_FAILURES`] a key must wait before its
//! next attempt, twice as long after each further failure (up to [`MAX_DELAY`]); a key's
//! failures are forgotten after [`WINDOW`] without one. This is the count of one instance
//! alone; [`super::Coordinator::sign_in_attempt`] keeps it in Redis when there is one, so
//! guesses spread over several instances are counted together.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Failed sign-ins a key may make before it has to wait.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait between attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Names and addresses tracked at once.
const MAX_TRACKED: usize = 100_000;
/// How long a key's failures are remembered without a new one.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Default)]
pub struct LoginThrottle {
    /// Key → (failures, time of the last one).
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

/// How long a key with `failures` must wait after its last failure.
fn delay(failures: u32) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (failures - FREE_FAILURES).min(20);
    Duration::from_secs(1u64 << doublings).min(MAX_DELAY)
}

impl LoginThrottle {
    /// Seconds until `key` may try again, if it has to wait.
    pub fn locked(&self, key: &str) -> Option<u64> {
        let map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(key).and_then(|(n, last)| {
            let since = last.elapsed();
            let wait = delay(*n);
            (since < WINDOW && since < wait)
                .then(|| (wait - since).as_secs_f64().ceil().max(1.0) as u64)
        })
    }

    /// Counts an attempt as failed until it proves otherwise ([`Self::succeeded`]), so
    /// parallel guesses cannot all slip past the check before any of them is counted.
    pub fn attempt(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_TRACKED {
            // Bounded whatever an attacker sends: drop what was forgotten, then the keys
            // that need no wait, never a wait in force.
            map.retain(|_, (_, last)| last.elapsed() < WINDOW);
            if map.len() >= MAX_TRACKED {
                map.retain(|_, (n, _)| *n >= FREE_FAILURES);
            }
        }
        let entry = map.entry(key.to_string()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            entry.0 = 0;
        }
        entry.0 += 1;
        entry.1 = Instant::now();
    }

    /// Takes back this attempt's count; `forget` clears the key's earlier failures too (a
    /// user who signed in; an address keeps the count of others' failed guesses).
    pub fn succeeded(&self, key: &str, forget: bool) {
        let mut map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if forget {
            map.remove(key);
        } else if let Some(entry) = map.get_mut(key) {
            entry.0 = entry.0.saturating_sub(1);
        }
    }
}
