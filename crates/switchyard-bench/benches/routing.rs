//! The per-request routing work that does not touch the network: the scheduler's pick over a
//! large pool (with and without a sticky binding looked up among many), and API key lookup.
//!
//! Throughput is reported in elements per second, i.e. picks (or lookups) per second.

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::Duration;

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchyard_core::account::{Account, AccountKind, AccountStatus, Credentials};
use switchyard_core::key;
use switchyard_core::scheduler::{self, RouteRequest};
use switchyard_core::session::session_key;
use switchyard_store::coord::StickyMap;

const ACCOUNTS: usize = 1_000;
const STICKY: usize = 10_000;
const KEYS: usize = 10_000;
const MODEL: &str = "claude-sonnet-4-20250514";
const KINDS: &[AccountKind] = &[AccountKind::ClaudeOfficial, AccountKind::Claude];

/// A pool that looks like a large deployment: four priority tiers, weights 1–10, a mix of
/// kinds (a tenth of another dialect's), some accounts cooling or disabled, some restricted to
/// other models, some model maps.
fn pool() -> Vec<Account> {
    let now = Utc::now();
    (0..ACCOUNTS)
        .map(|i| {
            let kind = match i % 10 {
                0 => AccountKind::Openai,
                1..=4 => AccountKind::ClaudeOfficial,
                _ => AccountKind::Claude,
            };
            let status = match i % 17 {
                0 => AccountStatus::Cooling,
                1 => AccountStatus::Disabled,
                _ => AccountStatus::Active,
            };
            let allowed_models = if i % 7 == 0 {
                vec!["claude-opus-*".to_owned(), "claude-haiku-*".to_owned()]
            } else if i % 5 == 0 {
                vec!["claude-sonnet-*".to_owned()]
            } else {
                Vec::new()
            };
            let mut model_map = BTreeMap::new();
            if i % 11 == 0 {
                model_map.insert("claude-3-5-haiku".to_owned(), "claude-haiku-4-5".to_owned());
            }
            Account {
                id: i as i64 + 1,
                kind,
                name: format!("account-{i}"),
                base_url: None,
                priority: (i % 4) as i32 * 10,
                weight: (i % 10) as u32 + 1,
                allowed_models,
                model_map,
                max_concurrency: if i % 3 == 0 { 8 } else { 0 },
                proxy_url: None,
                status,
                status_reason: None,
                status_until: (status == AccountStatus::Cooling)
                    .then(|| now + chrono::Duration::minutes(5)),
                consecutive_errors: 0,
                last_check_at: None,
                last_check_result: None,
                extra: serde_json::Map::new(),
                credentials: Credentials::default(),
                created_at: now,
                updated_at: now,
            }
        })
        .collect()
}

fn scheduler_benches(c: &mut Criterion) {
    let accounts = pool();
    let now = Utc::now();
    let load = |id: i64| (id % 5) as u32;
    // The relay draws from the thread-local generator too.
    let mut rng = rand::rng();

    let sticky = StickyMap::default();
    let ttl = Duration::from_secs(3600);
    let sessions: Vec<String> = (0..STICKY)
        .map(|i| session_key(1, &format!("session-{i}")).into_string())
        .collect();
    for (i, s) in sessions.iter().enumerate() {
        // Bind to tier-0 and other-tier accounts alike.
        sticky.bind(s, (i % ACCOUNTS) as i64 + 1, ttl);
    }

    let mut group = c.benchmark_group("scheduler");
    group.throughput(Throughput::Elements(1));
    group.bench_function("pick_1000_accounts", |b| {
        b.iter(|| {
            let req = RouteRequest {
                kinds: KINDS,
                model: MODEL,
                exclude: &[],
                sticky: None,
                only: None,
                now,
            };
            black_box(scheduler::pick(black_box(&accounts), &req, &load, &mut rng))
        })
    });
    let mut next = 0usize;
    group.bench_function("sticky_lookup_10000_then_pick_1000_accounts", |b| {
        b.iter(|| {
            next = (next + 7919) % STICKY;
            let bound = sticky.get(black_box(&sessions[next]), ttl);
            let req = RouteRequest {
                kinds: KINDS,
                model: MODEL,
                exclude: &[],
                sticky: bound,
                only: None,
                now,
            };
            black_box(scheduler::pick(black_box(&accounts), &req, &load, &mut rng))
        })
    });
    group.bench_function("sticky_lookup_10000", |b| {
        b.iter(|| {
            next = (next + 7919) % STICKY;
            black_box(sticky.get(black_box(&sessions[next]), ttl))
        })
    });
    group.finish();
}

fn key_benches(c: &mut Criterion) {
    let presented: Vec<String> = (0..KEYS).map(|_| key::generate().full).collect();
    let table: HashMap<String, usize> = presented
        .iter()
        .enumerate()
        .map(|(i, k)| (key::hash(k), i))
        .collect();
    let unknown = key::generate().full;

    let mut group = c.benchmark_group("key");
    group.throughput(Throughput::Elements(1));
    let mut next = 0usize;
    group.bench_function("hash_and_lookup_10000_keys", |b| {
        b.iter(|| {
            next = (next + 7919) % KEYS;
            black_box(table.get(&key::hash(black_box(&presented[next]))))
        })
    });
    group.bench_function("hash_and_lookup_unknown_key", |b| {
        b.iter(|| black_box(table.get(&key::hash(black_box(&unknown)))))
    });
    group.finish();
}

criterion_group!(benches, scheduler_benches, key_benches);
criterion_main!(benches);
