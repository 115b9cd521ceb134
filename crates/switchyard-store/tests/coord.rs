//! The coordination interface, the same tests for both implementations: this process alone,
//! and Redis (the machine's, at `SWITCHYARD_TEST_REDIS_URL` or 127.0.0.1:6379; each test
//! under a key prefix of its own). A Redis that does not answer fails these tests, it never
//! skips them. Tests named `shared_*` cover what only exists with several instances.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "test tasks are joined or dropped by their test"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use switchyard_store::coord::{Coordinator, Scope, Shared, SlotRefusal};
use tokio::time::Instant;

fn redis_url() -> String {
    std::env::var("SWITCHYARD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn unique_prefix() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "sy-test-{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

/// One instance on `prefix` with its upkeep running (releases, renewals).
async fn instance(prefix: &str, lease: Duration) -> Arc<Coordinator> {
    let shared = Shared::new(&redis_url(), prefix, lease).unwrap();
    shared.ping().await.unwrap_or_else(|e| {
        panic!(
            "Redis at {} does not answer (these tests need it): {e}",
            redis_url()
        )
    });
    tokio::spawn(shared.clone().maintain());
    Arc::new(Coordinator::shared(shared))
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Local,
    Redis,
}

async fn coordinator(kind: Kind) -> Arc<Coordinator> {
    match kind {
        Kind::Local => Arc::new(Coordinator::local()),
        Kind::Redis => instance(&unique_prefix(), Duration::from_secs(30)).await,
    }
}

/// Waits up to two seconds for `check` (a release travels through the upkeep task).
async fn eventually(mut check: impl AsyncFnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn local() {
                super::$name(super::Kind::Local).await;
            }
            #[tokio::test]
            async fn redis() {
                super::$name(super::Kind::Redis).await;
            }
        }
    };
}

async fn sticky_binds_slide_and_expire(kind: Kind) {
    let c = coordinator(kind).await;
    let ttl = Duration::from_millis(400);
    assert_eq!(c.sticky_get("s1", ttl).await, None);
    c.sticky_bind("s1", 7, ttl);
    // At once, also before a shared write has been sent: the session's next request follows.
    assert_eq!(c.sticky_get("s1", ttl).await, Some(7));
    // Each read extends the binding: reads every 200 ms keep it past its first 400 ms.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(c.sticky_get("s1", ttl).await, Some(7));
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(c.sticky_get("s1", ttl).await, None, "unread, it expires");
    c.sticky_bind("s2", 8, Duration::from_secs(60));
    assert!(eventually(async || c.sticky_get("s2", ttl).await == Some(8)).await);
    c.sticky_unbind("s2");
    assert!(eventually(async || c.sticky_get("s2", ttl).await.is_none()).await);
}
both!(sticky_binds_slide_and_expire);

async fn slots_hold_the_limit_and_free_on_drop(kind: Kind) {
    let c = coordinator(kind).await;
    let a = c.try_acquire(Scope::Key, 1, 2).await.expect("first");
    let _b = c.try_acquire(Scope::Key, 1, 2).await.expect("second");
    assert!(
        c.try_acquire(Scope::Key, 1, 2).await.is_none(),
        "a third is over the limit"
    );
    assert!(
        c.try_acquire(Scope::User, 1, 2).await.is_some(),
        "scopes are apart"
    );
    assert!(
        c.try_acquire(Scope::Key, 2, 2).await.is_some(),
        "ids are apart"
    );
    assert_eq!(c.in_flight(Scope::Key, 1), 2);
    drop(a);
    assert_eq!(c.in_flight(Scope::Key, 1), 1);
    assert!(
        c.try_acquire(Scope::Key, 1, 2).await.is_some(),
        "the released slot is free again at once"
    );
    // One request after another on a limit of one: each finds the slot its predecessor gave
    // back (with Redis, before that release has been sent).
    for n in 0..50 {
        let slot = c.try_acquire(Scope::Account, 3, 1).await;
        assert!(slot.is_some(), "request {n} found the slot taken");
    }
    let unlimited: Vec<_> = unlimited_slots(&c, 50).await;
    assert_eq!(unlimited.len(), 50, "max 0 is unlimited");
}
both!(slots_hold_the_limit_and_free_on_drop);

async fn unlimited_slots(c: &Coordinator, n: usize) -> Vec<switchyard_store::coord::Lease> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(c.try_acquire(Scope::Account, 9, 0).await.unwrap());
    }
    held
}

async fn waiters_get_a_freed_slot_or_time_out(kind: Kind) {
    let c = coordinator(kind).await;
    let held = c.try_acquire(Scope::Key, 5, 1).await.unwrap();
    let c2 = c.clone();
    let waiter = tokio::spawn(async move {
        let soon = Instant::now() + Duration::from_secs(5);
        c2.acquire(Scope::Key, 5, 1, soon, 4).await.is_ok()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(held);
    assert!(waiter.await.unwrap(), "the waiter gets the released slot");

    let _held = c.try_acquire(Scope::Key, 6, 1).await.unwrap();
    let quick = Instant::now() + Duration::from_millis(100);
    assert_eq!(
        c.acquire(Scope::Key, 6, 1, quick, 4).await.err(),
        Some(SlotRefusal::TimedOut)
    );
    assert_eq!(
        c.acquire(Scope::Key, 6, 1, quick, 0).await.err(),
        Some(SlotRefusal::QueueFull)
    );
}
both!(waiters_get_a_freed_slot_or_time_out);

async fn clearing_an_account_forgets_its_bindings(kind: Kind) {
    let c = coordinator(kind).await;
    let ttl = Duration::from_secs(60);
    c.sticky_bind("a", 1, ttl);
    c.sticky_bind("b", 1, ttl);
    c.sticky_bind("c", 2, ttl);
    assert!(eventually(async || c.sticky_get("c", ttl).await == Some(2)).await);
    assert_eq!(c.clear_account_bindings(1).await, 2);
    assert_eq!(c.sticky_get("a", ttl).await, None);
    assert_eq!(c.sticky_get("c", ttl).await, Some(2));
}
both!(clearing_an_account_forgets_its_bindings);

/// Two instances on one Redis: one limit, one binding table, one health-check round.
#[tokio::test]
async fn shared_instances_share_limits_bindings_and_named_leases() {
    let prefix = unique_prefix();
    let a = instance(&prefix, Duration::from_secs(30)).await;
    let b = instance(&prefix, Duration::from_secs(30)).await;
    let ttl = Duration::from_secs(60);
    a.sticky_bind("session-1", 3, ttl);
    assert!(eventually(async || b.sticky_get("session-1", ttl).await == Some(3)).await);

    let held_a = a.try_acquire(Scope::Key, 1, 2).await.unwrap();
    let _held_b = b.try_acquire(Scope::Key, 1, 2).await.unwrap();
    assert!(a.try_acquire(Scope::Key, 1, 2).await.is_none());
    assert!(b.try_acquire(Scope::Key, 1, 2).await.is_none());
    // A waiter on B gets the slot A gives back.
    let b2 = b.clone();
    let waiter = tokio::spawn(async move {
        let soon = Instant::now() + Duration::from_secs(5);
        b2.acquire(Scope::Key, 1, 2, soon, 4).await.is_ok()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(held_a);
    assert!(waiter.await.unwrap());

    let round = Duration::from_secs(2);
    assert!(a.hold("health-check", round).await);
    assert!(a.hold("health-check", round).await, "the holder keeps it");
    assert!(
        !b.hold("health-check", round).await,
        "one instance at a time"
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert!(
        b.hold("health-check", round).await,
        "an abandoned lease passes on"
    );
    assert!(!a.hold("health-check", round).await);
}

/// An instance that dies holding slots (no release, no renewal) loses them when its leases
/// expire; a live instance keeps its own by renewing them.
#[tokio::test]
async fn shared_a_dead_instances_leases_expire_and_live_ones_are_renewed() {
    let prefix = unique_prefix();
    let lease = Duration::from_secs(3);
    let live = instance(&prefix, lease).await;
    // The dead instance runs no upkeep: its leases are never renewed nor released.
    let dead_shared = Shared::new(&redis_url(), &prefix, lease).unwrap();
    let dead = Coordinator::shared(dead_shared);
    let lost = dead.try_acquire(Scope::Account, 4, 2).await.unwrap();
    std::mem::forget(lost);
    let kept = live.try_acquire(Scope::Account, 4, 2).await.unwrap();
    assert!(live.try_acquire(Scope::Account, 4, 2).await.is_none());
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let freed = live.try_acquire(Scope::Account, 4, 2).await;
    assert!(freed.is_some(), "the dead instance's lease expired");
    assert!(
        live.try_acquire(Scope::Account, 4, 2).await.is_none(),
        "the live instance's own lease was renewed past its first 3 s"
    );
    drop(kept);
}

/// Redis gone: requests still get slots (each instance counts the limit alone), bindings
/// stay on this instance, and the state says degraded.
#[tokio::test]
async fn shared_without_redis_each_instance_falls_back_to_itself() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let shared = Shared::new(
        &format!("redis://127.0.0.1:{port}"),
        &unique_prefix(),
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(shared.ping().await.is_err());
    let c = Coordinator::shared(shared);
    let status = c.shared_status().unwrap();
    assert!(status.degraded, "{status:?}");
    assert!(status.last_error.is_some());
    let _one = c
        .try_acquire(Scope::Key, 1, 1)
        .await
        .expect("slot while degraded");
    assert!(
        c.try_acquire(Scope::Key, 1, 1).await.is_none(),
        "the limit holds per instance"
    );
    c.sticky_bind("s", 4, Duration::from_secs(60));
    assert_eq!(c.sticky_get("s", Duration::from_secs(60)).await, Some(4));
    assert!(
        c.hold("health-check", Duration::from_secs(5)).await,
        "alone, it runs the round"
    );
}

fn periods_now() -> switchyard_store::coord::CounterPeriods {
    let now = chrono::Utc::now();
    switchyard_store::coord::CounterPeriods {
        now_ms: now.timestamp_millis(),
        day: now.timestamp() - now.timestamp().rem_euclid(86_400),
        week: 0,
    }
}

fn check(rpm: u64, daily_usd: Option<f64>) -> switchyard_store::coord::CounterCheck {
    switchyard_store::coord::CounterCheck {
        key_id: 1,
        user_id: 1,
        rpm,
        tpm: 0,
        key_costs: [daily_usd, None, None],
        user_costs: [None, None, Some(100.0)],
        periods: periods_now(),
    }
}

/// Shared counters: unseeded until seeded from the store's spend (never lowered by a seed),
/// then one count for every instance.
#[tokio::test]
async fn shared_rate_and_cost_counters_count_every_instance() {
    use switchyard_store::coord::{CounterVerdict, SpendWrite};
    use switchyard_store::{Spend, SpendSums};
    let prefix = unique_prefix();
    let a = instance(&prefix, Duration::from_secs(30)).await;
    let b = instance(&prefix, Duration::from_secs(30)).await;
    assert_eq!(
        a.admit_counters(&check(3, None)).await,
        Some(CounterVerdict::Unseeded)
    );
    let mut spend = Spend::default();
    spend.keys.insert(
        1,
        SpendSums {
            day_usd: 0.5,
            week_usd: 0.5,
            total_usd: 2.0,
        },
    );
    let shared = a.shared_side().unwrap();
    assert!(shared.begin_seeding());
    assert!(shared.seed_spend(&spend, &periods_now()).await);
    for c in [&a, &b, &a] {
        assert_eq!(
            c.admit_counters(&check(3, Some(1.0))).await,
            Some(CounterVerdict::Admitted)
        );
    }
    assert!(matches!(
        b.admit_counters(&check(3, Some(1.0))).await,
        Some(CounterVerdict::RequestsPerMinute(used)) if used >= 3.0
    ));
    // Cost recorded on B counts on A.
    b.record_spend(SpendWrite {
        key_id: 1,
        user_id: 1,
        tokens: 10,
        cost_usd: 0.6,
        periods: periods_now(),
    });
    let a2 = a.clone();
    assert!(
        eventually(async || matches!(
            a2.admit_counters(&check(0, Some(1.0))).await,
            Some(CounterVerdict::Cost { owner: false, period: 0, spent }) if (spent - 1.1).abs() < 1e-9
        ))
        .await
    );
    // A later seed with less recorded (the store lags) does not lower the count.
    assert!(shared.begin_seeding());
    assert!(shared.seed_spend(&spend, &periods_now()).await);
    assert!(matches!(
        a.admit_counters(&check(0, Some(1.0))).await,
        Some(CounterVerdict::Cost { spent, .. }) if spent > 1.0
    ));
    // Alone there are no shared counters: the caller decides.
    assert_eq!(
        Coordinator::local().admit_counters(&check(3, None)).await,
        None
    );
}

async fn sign_in_failures_lock_then_success_forgets(kind: Kind) {
    let c = coordinator(kind).await;
    let keys = ["user:admin@ip:10.0.0.9", "ip:10.0.0.9"];
    for n in 0..5 {
        assert_eq!(c.sign_in_attempt(keys).await, Ok(()), "attempt {n} is free");
    }
    let wait = c
        .sign_in_attempt(keys)
        .await
        .expect_err("the sixth must wait");
    assert!((1..=2).contains(&wait), "{wait}");
    // Another address is not held up by this one's failures.
    assert_eq!(
        c.sign_in_attempt(["user:admin@ip:10.0.0.7", "ip:10.0.0.7"])
            .await,
        Ok(())
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        c.sign_in_attempt(keys).await,
        Ok(()),
        "after the wait, one more try"
    );
    c.sign_in_succeeded(keys[0], keys[1]).await;
    // The name's count is gone; the address keeps the five failures before it.
    assert_eq!(
        c.sign_in_attempt(["user:other@ip:10.0.0.9", "ip:10.0.0.8"])
            .await,
        Ok(())
    );
    assert!(
        c.sign_in_attempt(["user:x@ip:10.0.0.9", keys[1]])
            .await
            .is_err()
    );
}
both!(sign_in_failures_lock_then_success_forgets);

/// Guesses spread over instances are counted together.
#[tokio::test]
async fn shared_sign_in_failures_count_across_instances() {
    let prefix = unique_prefix();
    let a = instance(&prefix, Duration::from_secs(30)).await;
    let b = instance(&prefix, Duration::from_secs(30)).await;
    let keys = ["user:admin@ip:10.1.1.1", "ip:10.1.1.1"];
    for c in [&a, &b, &a, &b, &a] {
        assert_eq!(c.sign_in_attempt(keys).await, Ok(()));
    }
    assert!(b.sign_in_attempt(keys).await.is_err());
    assert!(a.sign_in_attempt(keys).await.is_err());
}
