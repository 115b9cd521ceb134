//! The Redis side of coordination: sticky bindings, concurrency leases and named leases shared
//! by every instance that points at the same Redis (and the same key prefix).
//!
//! Every multi-step change is one Lua script, called by SHA (the driver loads it on first
//! use). Times inside scripts come from Redis's own clock (`TIME`), so instances whose clocks
//! disagree still agree on when a lease expires.
//!
//! Key layout, under the configured prefix `{p}`:
//! - `{p}:sticky:{session}` → account id, with a sliding time-to-live;
//! - `{p}:slots:{scope}:{id}` → sorted set of leases (`{instance}:{n}`), scored by expiry in
//!   milliseconds; expired members are removed by the next acquire;
//! - `{p}:lease:{name}` → the instance holding a named lease (the health check's round).

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use switchyard_core::AccountId;
use tokio::sync::mpsc;

use super::Scope;

/// Takes one lease in a set unless `max` live ones are there. KEYS[1] the set; ARGV: lease
/// time-to-live (ms), max, member, then this instance's releases in the set not sent yet
/// (so its own next request never sees a lease it already gave back). Returns 1 when taken,
/// 0 when full.
const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i = 4, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return 1
";

/// Extends this instance's live leases. KEYS: the sets; ARGV[1] the time-to-live (ms), then
/// one member per key. A lease already removed (released, or expired and swept) stays gone.
const RENEW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + ttl, ARGV[i + 1])
  redis.call('PEXPIRE', key, ttl * 2)
end
return #KEYS
";

/// Takes or keeps a named lease. KEYS[1] the lease; ARGV: holder, time-to-live (ms).
/// Returns 1 when the caller holds it afterwards.
const HOLD: &str = r"
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// Checks a request against its key's and owner's rate and cost counters and, when none is
/// reached, counts it. KEYS: requests this and last minute, tokens this and last minute, the
/// key's day/week/total cost, the owner's day/week/total cost, the seeded marker. ARGV: rpm,
/// tpm, the fraction of this minute gone, then six cost limits (negative: none). Returns
/// `{0}` admitted, `{99}` counters not seeded yet, else `{n, used}` for the n-th limit.
const ADMIT: &str = r"
if redis.call('EXISTS', KEYS[11]) == 0 then
  return {99, '0'}
end
local into = tonumber(ARGV[3])
local function window(cur, prev)
  return tonumber(redis.call('GET', prev) or '0') * (1 - into) + tonumber(redis.call('GET', cur) or '0')
end
local rpm = tonumber(ARGV[1])
if rpm > 0 then
  local used = window(KEYS[1], KEYS[2])
  if used >= rpm then
    return {1, tostring(used)}
  end
end
local tpm = tonumber(ARGV[2])
if tpm > 0 then
  local used = window(KEYS[3], KEYS[4])
  if used >= tpm then
    return {2, tostring(used)}
  end
end
for i = 0, 5 do
  local limit = tonumber(ARGV[4 + i])
  if limit >= 0 then
    local spent = tonumber(redis.call('GET', KEYS[5 + i]) or '0')
    if spent >= limit then
      return {3 + i, tostring(spent)}
    end
  end
end
if rpm > 0 then
  redis.call('INCR', KEYS[1])
  redis.call('PEXPIRE', KEYS[1], 120000)
end
return {0, '0'}
";

/// Raises cost counters to at least the recorded spend. KEYS: counters, then the seeded
/// marker; ARGV: one value per counter, then one time-to-live (seconds, 0: none) per counter.
const SEED: &str = r"
local n = #KEYS - 1
for i = 1, n do
  local current = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tonumber(ARGV[i]) > current then
    redis.call('SET', KEYS[i], ARGV[i])
  end
  local ttl = tonumber(ARGV[n + i])
  if ttl > 0 then
    redis.call('EXPIRE', KEYS[i], ttl)
  end
end
redis.call('SET', KEYS[#KEYS], '1', 'EX', 8 * 86400)
return n
";

/// The admin sign-in throttle (the rules of `throttle.rs`, over every instance): KEYS the
/// counted keys; ARGV free failures, longest wait (s), window (ms). Returns the seconds to
/// wait, or 0 after counting this attempt against every key.
const SIGN_IN: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local free = tonumber(ARGV[1])
local longest = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
for _, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'n', 'last')
  local n = tonumber(v[1] or '0')
  local since = now - tonumber(v[2] or '0')
  if n >= free then
    local wait = math.min(2 ^ math.min(n - free, 20), longest) * 1000
    if since < window and since < wait then
      return math.max(1, math.ceil((wait - since) / 1000))
    end
  end
end
for _, key in ipairs(KEYS) do
  local last = tonumber(redis.call('HGET', key, 'last') or '0')
  if now - last >= window then
    redis.call('HSET', key, 'n', 0)
  end
  redis.call('HINCRBY', key, 'n', 1)
  redis.call('HSET', key, 'last', now)
  redis.call('PEXPIRE', key, window)
end
return 0
";

/// A sign-in succeeded: KEYS[1] (the user name's count) is forgotten, KEYS[2] (the
/// address's) loses one.
const SIGNED_IN: &str = r"
redis.call('DEL', KEYS[1])
if tonumber(redis.call('HGET', KEYS[2], 'n') or '0') > 0 then
  redis.call('HINCRBY', KEYS[2], 'n', -1)
end
return 1
";

/// Writes waiting to be sent; beyond this they are dropped: a release then waits for its
/// lease to expire, a binding is lost (stickiness only).
const WRITE_QUEUE: usize = 65_536;

/// A write the request path does not wait for.
enum Write {
    Release {
        set: String,
        member: String,
    },
    Bind {
        key: String,
        account: AccountId,
        ttl_ms: u64,
    },
    Unbind(String),
    Spend(SpendWrite),
}

/// A settled request's tokens and cost, added to the shared counters.
pub struct SpendWrite {
    pub key_id: i64,
    pub user_id: i64,
    pub tokens: u64,
    pub cost_usd: f64,
    pub periods: CounterPeriods,
}

/// The minute, day and week a counter belongs to (epoch milliseconds of the minute, epoch
/// seconds of the day's and week's start in the cost time zone).
#[derive(Debug, Clone, Copy)]
pub struct CounterPeriods {
    pub now_ms: i64,
    pub day: i64,
    pub week: i64,
}

impl CounterPeriods {
    fn minute(&self) -> i64 {
        self.now_ms.div_euclid(60_000)
    }

    fn minute_fraction(&self) -> f64 {
        self.now_ms.rem_euclid(60_000) as f64 / 60_000.0
    }
}

/// One admission against the shared rate and cost counters.
#[derive(Debug, Clone)]
pub struct CounterCheck {
    pub key_id: i64,
    pub user_id: i64,
    pub rpm: u64,
    pub tpm: u64,
    /// The key's day, week and total limits in USD.
    pub key_costs: [Option<f64>; 3],
    /// The owner's day, week and total limits in USD.
    pub user_costs: [Option<f64>; 3],
    pub periods: CounterPeriods,
}

/// What the shared counters said.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CounterVerdict {
    Admitted,
    /// Not seeded from the store yet (a new deployment, a new day, or Redis lost its data):
    /// decide locally and seed.
    Unseeded,
    RequestsPerMinute(f64),
    TokensPerMinute(f64),
    /// The key's (`owner: false`) or its owner's limit of `period` (0 day, 1 week, 2 total).
    Cost {
        owner: bool,
        period: usize,
        spent: f64,
    },
}
/// While Redis is failing, the request path tries it again at most this often (one request
/// pays the attempt; the others go straight to the per-instance fallback).
const RETRY_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum RedisSetupError {
    #[error("the Redis URL is not valid: {0}")]
    Url(String),
}

/// A connection to the shared state, cheap to clone.
#[derive(Clone)]
pub struct Shared {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    prefix: String,
    /// This process among the instances (random, so a restarted process is a new holder).
    instance: String,
    lease_ttl: Duration,
    next_lease: AtomicU64,
    /// Leases this instance holds, for the heartbeat: number → (set key, member).
    held: Mutex<HashMap<u64, (String, String)>>,
    /// Leases given back whose release has not reached Redis yet, per set.
    releasing: Mutex<HashMap<String, Vec<String>>>,
    writes: mpsc::Sender<Write>,
    write_queue: Mutex<Option<mpsc::Receiver<Write>>>,
    acquire: Script,
    renew: Script,
    hold: Script,
    admit: Script,
    seed: Script,
    sign_in: Script,
    signed_in: Script,
    /// A reseed from the store is running (one at a time per instance).
    seeding: AtomicBool,
    health: Health,
}

/// Whether Redis is answering, as the request path last saw it.
#[derive(Default)]
struct Health {
    degraded: AtomicBool,
    /// Milliseconds since `epoch` before which the request path does not try Redis again.
    retry_at_ms: AtomicU64,
    epoch: std::sync::OnceLock<Instant>,
    /// Degraded minutes already logged.
    logged_minutes: AtomicU64,
    since: Mutex<Option<Instant>>,
    last_error: Mutex<String>,
}

impl Health {
    fn now_ms(&self) -> u64 {
        self.epoch.get_or_init(Instant::now).elapsed().as_millis() as u64
    }

    fn should_try(&self) -> bool {
        !self.degraded.load(Ordering::Acquire)
            || self.now_ms() >= self.retry_at_ms.load(Ordering::Acquire)
    }

    fn failed(&self, what: &str, error: &redis::RedisError) {
        self.retry_at_ms.store(
            self.now_ms() + RETRY_EVERY.as_millis() as u64,
            Ordering::Release,
        );
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = error.to_string();
        let mut since = self.since.lock().unwrap_or_else(PoisonError::into_inner);
        let started = *since.get_or_insert_with(Instant::now);
        let first = !self.degraded.swap(true, Ordering::AcqRel);
        let minute = started.elapsed().as_secs() / 60 + 1;
        // One line when it starts and one per further minute it lasts, not one per request.
        if first || self.logged_minutes.fetch_max(minute, Ordering::AcqRel) < minute {
            if first {
                self.logged_minutes.store(1, Ordering::Release);
            }
            tracing::error!(operation = what, error = %error, degraded_minutes = minute,
                "Redis is not answering: stickiness and concurrency fall back to this instance alone");
        }
    }

    fn succeeded(&self) {
        if self.degraded.swap(false, Ordering::AcqRel) {
            let took = self
                .since
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .map_or(0, |s| s.elapsed().as_secs());
            self.logged_minutes.store(0, Ordering::Release);
            tracing::warn!(
                degraded_seconds = took,
                "Redis answers again: shared coordination restored"
            );
        }
    }
}

/// What the status endpoints show about the shared state.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SharedStatus {
    pub degraded: bool,
    /// How long it has been degraded, in seconds.
    pub degraded_seconds: u64,
    /// The last error seen (never contains the URL or its password).
    pub last_error: Option<String>,
}

/// A lease on a shared concurrency slot; dropping it releases the slot (in the background,
/// and by expiry if that cannot be sent).
pub struct SharedLease {
    inner: Arc<Inner>,
    number: u64,
}

impl Drop for SharedLease {
    fn drop(&mut self) {
        let taken = self
            .inner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.number);
        if let Some((set, member)) = taken {
            self.inner
                .releasing
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(set.clone())
                .or_default()
                .push(member.clone());
            // A full queue (Redis down for long) leaves the lease to expire.
            let _ = self.inner.writes.try_send(Write::Release { set, member });
        }
    }
}

impl Shared {
    /// A lazily connecting client: nothing is sent until first use, so a Redis that is down at
    /// start leaves the instance degraded (and saying so), not unable to start.
    pub fn new(url: &str, prefix: &str, lease_ttl: Duration) -> Result<Self, RedisSetupError> {
        let client = redis::Client::open(url).map_err(|e| RedisSetupError::Url(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| RedisSetupError::Url(e.to_string()))?;
        let (writes, queue) = mpsc::channel(WRITE_QUEUE);
        let instance = format!("{:016x}", rand::random::<u64>());
        Ok(Shared {
            inner: Arc::new(Inner {
                conn,
                prefix: prefix.to_string(),
                instance,
                lease_ttl,
                next_lease: AtomicU64::new(1),
                held: Mutex::default(),
                releasing: Mutex::default(),
                writes,
                write_queue: Mutex::new(Some(queue)),
                acquire: Script::new(ACQUIRE),
                renew: Script::new(RENEW),
                hold: Script::new(HOLD),
                admit: Script::new(ADMIT),
                seed: Script::new(SEED),
                sign_in: Script::new(SIGN_IN),
                signed_in: Script::new(SIGNED_IN),
                seeding: AtomicBool::new(false),
                health: Health::default(),
            }),
        })
    }

    fn conn(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    /// Whether the request path should ask Redis now (not while it is failing, but for one
    /// attempt a second).
    pub fn usable(&self) -> bool {
        self.inner.health.should_try()
    }

    fn note<T>(&self, what: &str, result: redis::RedisResult<T>) -> Option<T> {
        match result {
            Ok(v) => {
                self.inner.health.succeeded();
                Some(v)
            }
            Err(e) => {
                self.inner.health.failed(what, &e);
                None
            }
        }
    }

    pub fn status(&self) -> SharedStatus {
        let h = &self.inner.health;
        let degraded = h.degraded.load(Ordering::Acquire);
        SharedStatus {
            degraded,
            degraded_seconds: h
                .since
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .map_or(0, |s| s.elapsed().as_secs()),
            last_error: degraded
                .then(|| {
                    h.last_error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone()
                })
                .filter(|e| !e.is_empty()),
        }
    }

    /// Round trip to Redis (for readiness and status), also clearing a degraded state.
    pub async fn ping(&self) -> Result<Duration, String> {
        let started = Instant::now();
        let result: redis::RedisResult<String> =
            redis::cmd("PING").query_async(&mut self.conn()).await;
        match self.note("ping", result) {
            Some(_) => Ok(started.elapsed()),
            None => Err(self.status().last_error.unwrap_or_default()),
        }
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}:{kind}:{name}", self.inner.prefix)
    }

    /// `None` when Redis did not answer (the caller falls back); `Some(None)` when unbound.
    pub async fn sticky_get(&self, session: &str, ttl: Duration) -> Option<Option<AccountId>> {
        let result: redis::RedisResult<Option<AccountId>> = redis::cmd("GETEX")
            .arg(self.key("sticky", session))
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async(&mut self.conn())
            .await;
        self.note("sticky get", result)
    }

    /// Queues the binding (sent by [`Shared::maintain`], in order with unbinds): callers
    /// include a stream's end, which cannot wait for Redis.
    pub fn sticky_bind(&self, session: &str, account: AccountId, ttl: Duration) {
        let _ = self.inner.writes.try_send(Write::Bind {
            key: self.key("sticky", session),
            account,
            ttl_ms: ttl.as_millis().max(1) as u64,
        });
    }

    pub fn sticky_unbind(&self, session: &str) {
        let _ = self
            .inner
            .writes
            .try_send(Write::Unbind(self.key("sticky", session)));
    }

    fn counter_key(&self, owner: &str, id: i64, period: usize, p: &CounterPeriods) -> String {
        let (name, start) = match period {
            0 => ("day", p.day.to_string()),
            1 => ("week", p.week.to_string()),
            _ => ("total", String::new()),
        };
        format!("{}:cost:{owner}:{id}:{name}:{start}", self.inner.prefix)
    }

    fn rate_key(&self, what: &str, key_id: i64, minute: i64) -> String {
        format!("{}:rate:{what}:{key_id}:{minute}", self.inner.prefix)
    }

    fn seeded_key(&self, p: &CounterPeriods) -> String {
        format!("{}:cost:seeded:{}:{}", self.inner.prefix, p.day, p.week)
    }

    /// Seconds a cost counter of `period` is kept (past its period, for late settles).
    fn counter_ttl(period: usize) -> i64 {
        match period {
            0 => 2 * 86_400,
            1 => 8 * 86_400,
            _ => 0,
        }
    }

    /// `None` when Redis did not answer (the caller decides locally).
    pub async fn admit_counters(&self, check: &CounterCheck) -> Option<CounterVerdict> {
        let p = &check.periods;
        let minute = p.minute();
        let mut call = self.inner.admit.prepare_invoke();
        call.key(self.rate_key("req", check.key_id, minute))
            .key(self.rate_key("req", check.key_id, minute - 1))
            .key(self.rate_key("tok", check.key_id, minute))
            .key(self.rate_key("tok", check.key_id, minute - 1));
        for period in 0..3 {
            call.key(self.counter_key("key", check.key_id, period, p));
        }
        for period in 0..3 {
            call.key(self.counter_key("user", check.user_id, period, p));
        }
        call.key(self.seeded_key(p))
            .arg(check.rpm)
            .arg(check.tpm)
            .arg(p.minute_fraction());
        for limit in check.key_costs.iter().chain(&check.user_costs) {
            call.arg(limit.unwrap_or(-1.0));
        }
        let result: redis::RedisResult<(i64, String)> = call.invoke_async(&mut self.conn()).await;
        let (code, used) = self.note("counters", result)?;
        let used: f64 = used.parse().unwrap_or(0.0);
        Some(match code {
            0 => CounterVerdict::Admitted,
            1 => CounterVerdict::RequestsPerMinute(used),
            2 => CounterVerdict::TokensPerMinute(used),
            3..=8 => CounterVerdict::Cost {
                owner: code >= 6,
                period: ((code - 3) % 3) as usize,
                spent: used,
            },
            _ => CounterVerdict::Unseeded,
        })
    }

    /// Queues a settled request's tokens and cost.
    pub fn record_spend(&self, spend: SpendWrite) {
        let _ = self.inner.writes.try_send(Write::Spend(spend));
    }

    fn add_spend(&self, pipe: &mut redis::Pipeline, spend: &SpendWrite) {
        let p = &spend.periods;
        if spend.tokens > 0 {
            let key = self.rate_key("tok", spend.key_id, p.minute());
            pipe.incr(&key, spend.tokens).ignore();
            pipe.pexpire(&key, 120_000).ignore();
        }
        if spend.cost_usd > 0.0 && spend.cost_usd.is_finite() {
            for (owner, id) in [("key", spend.key_id), ("user", spend.user_id)] {
                for period in 0..3 {
                    let key = self.counter_key(owner, id, period, p);
                    pipe.cmd("INCRBYFLOAT")
                        .arg(&key)
                        .arg(spend.cost_usd)
                        .ignore();
                    let ttl = Self::counter_ttl(period);
                    if ttl > 0 {
                        pipe.expire(&key, ttl).ignore();
                    }
                }
            }
        }
    }

    /// Claims the reseed for this instance; false when one is already running here.
    pub fn begin_seeding(&self) -> bool {
        !self.inner.seeding.swap(true, Ordering::AcqRel)
    }

    /// Gives up a reseed claimed with [`Shared::begin_seeding`] (the store did not answer).
    pub fn abandon_seeding(&self) {
        self.inner.seeding.store(false, Ordering::Release);
    }

    /// Raises the shared cost counters to at least the recorded spend, and marks the periods
    /// seeded. Ends a reseed claimed with [`Shared::begin_seeding`].
    pub async fn seed_spend(&self, spend: &crate::Spend, p: &CounterPeriods) -> bool {
        let owners: Vec<(&str, i64, &crate::SpendSums)> = spend
            .keys
            .iter()
            .map(|(id, s)| ("key", *id, s))
            .chain(spend.users.iter().map(|(id, s)| ("user", *id, s)))
            .collect();
        let mut ok = true;
        // At least one call, so the marker is set even with nothing spent yet.
        let chunks: Vec<&[(&str, i64, &crate::SpendSums)]> = if owners.is_empty() {
            vec![&[]]
        } else {
            owners.chunks(300).collect()
        };
        for chunk in chunks {
            let mut call = self.inner.seed.prepare_invoke();
            let mut values = Vec::new();
            for (owner, id, sums) in chunk {
                for (period, value) in [sums.day_usd, sums.week_usd, sums.total_usd]
                    .into_iter()
                    .enumerate()
                {
                    call.key(self.counter_key(owner, *id, period, p));
                    values.push((value, Self::counter_ttl(period)));
                }
            }
            call.key(self.seeded_key(p));
            for (value, _) in &values {
                call.arg(*value);
            }
            for (_, ttl) in &values {
                call.arg(*ttl);
            }
            let result: redis::RedisResult<i64> = call.invoke_async(&mut self.conn()).await;
            ok &= self.note("seed counters", result).is_some();
        }
        self.inner.seeding.store(false, Ordering::Release);
        ok
    }

    /// `None` when Redis did not answer; else `Err(seconds)` to wait, or `Ok` with this
    /// attempt counted.
    pub async fn sign_in_attempt(&self, keys: [&str; 2]) -> Option<Result<(), u64>> {
        use super::throttle::{FREE_FAILURES, MAX_DELAY, WINDOW};
        let mut call = self.inner.sign_in.prepare_invoke();
        for key in keys {
            call.key(self.key("login", key));
        }
        call.arg(FREE_FAILURES)
            .arg(MAX_DELAY.as_secs())
            .arg(WINDOW.as_millis() as u64);
        let result: redis::RedisResult<u64> = call.invoke_async(&mut self.conn()).await;
        let wait = self.note("sign-in throttle", result)?;
        Some(if wait == 0 { Ok(()) } else { Err(wait) })
    }

    /// False when Redis did not answer.
    pub async fn sign_in_succeeded(&self, name_key: &str, address_key: &str) -> bool {
        let result: redis::RedisResult<i64> = self
            .inner
            .signed_in
            .key(self.key("login", name_key))
            .key(self.key("login", address_key))
            .invoke_async(&mut self.conn())
            .await;
        self.note("sign-in throttle", result).is_some()
    }

    /// Deletes the shared bindings to `account`; `None` when Redis did not answer.
    pub async fn clear_account_bindings(&self, account: AccountId) -> Option<usize> {
        let pattern = format!("{}:sticky:*", self.inner.prefix);
        let mut conn = self.conn();
        let mut cursor: u64 = 0;
        let mut cleared = 0;
        loop {
            let step: redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await;
            let (next, keys) = self.note("sticky scan", step)?;
            if !keys.is_empty() {
                let values: redis::RedisResult<Vec<Option<AccountId>>> = conn.mget(&keys).await;
                let values = self.note("sticky scan", values)?;
                let mine: Vec<&String> = keys
                    .iter()
                    .zip(values)
                    .filter(|(_, v)| *v == Some(account))
                    .map(|(k, _)| k)
                    .collect();
                if !mine.is_empty() {
                    let deleted: redis::RedisResult<usize> = conn.del(mine).await;
                    cleared += self.note("sticky clear", deleted)?;
                }
            }
            if next == 0 {
                return Some(cleared);
            }
            cursor = next;
        }
    }

    /// `None` when Redis did not answer; `Some(None)` when `max` leases are live already.
    pub async fn try_lease(&self, scope: Scope, id: i64, max: u32) -> Option<Option<SharedLease>> {
        let set = self.key("slots", &format!("{}:{id}", scope.as_str()));
        let number = self.inner.next_lease.fetch_add(1, Ordering::Relaxed);
        let member = format!("{}:{number}", self.inner.instance);
        let released = self
            .inner
            .releasing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&set)
            .unwrap_or_default();
        let mut call = self.inner.acquire.prepare_invoke();
        call.key(&set)
            .arg(self.inner.lease_ttl.as_millis() as u64)
            .arg(max)
            .arg(&member);
        for gone in &released {
            call.arg(gone);
        }
        let result: redis::RedisResult<i64> = call.invoke_async(&mut self.conn()).await;
        let taken = self.note("lease", result)?;
        if taken != 1 {
            return Some(None);
        }
        self.inner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(number, (set, member));
        Some(Some(SharedLease {
            inner: self.inner.clone(),
            number,
        }))
    }

    /// Takes or keeps the named lease for `ttl`; false when another instance holds it. When
    /// Redis does not answer, every instance acts alone and takes it.
    pub async fn hold(&self, name: &str, ttl: Duration) -> bool {
        if !self.usable() {
            return true;
        }
        let result: redis::RedisResult<i64> = self
            .inner
            .hold
            .key(self.key("lease", name))
            .arg(&self.inner.instance)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut self.conn())
            .await;
        self.note("named lease", result)
            .is_none_or(|held| held == 1)
    }

    /// Sends queued writes as they come and renews every held lease a third of its life before
    /// it would expire. Runs until the process stops; a lease it cannot renew (Redis down)
    /// expires, so a crashed or cut-off instance's slots free themselves.
    pub async fn maintain(self) {
        let Some(mut queue) = self
            .inner
            .write_queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let mut renew = tokio::time::interval(self.inner.lease_ttl / 3);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                n = queue.recv_many(&mut batch, 512) => {
                    if n == 0 {
                        return;
                    }
                    let mut pipe = redis::pipe();
                    let mut sent = Vec::new();
                    for write in batch.drain(..) {
                        match write {
                            Write::Spend(spend) => self.add_spend(&mut pipe, &spend),
                            Write::Release { set, member } => {
                                pipe.zrem(&set, &member).ignore();
                                sent.push((set, member));
                            }
                            Write::Bind { key, account, ttl_ms } => {
                                pipe.pset_ex(key, account, ttl_ms).ignore();
                            }
                            Write::Unbind(key) => {
                                pipe.del(key).ignore();
                            }
                        }
                    }
                    // A batch of no-ops (a free request's spend) sends nothing.
                    if !pipe.is_empty() {
                        let result: redis::RedisResult<()> =
                            pipe.query_async(&mut self.conn()).await;
                        self.note("queued writes", result);
                    }
                    // Sent (or expiring anyway): later acquires need not carry them.
                    for (set, member) in sent {
                        self.sent_release(&set, &member);
                    }
                }
                _ = renew.tick() => self.renew_held().await,
            }
        }
    }

    /// A release reached Redis (or failed and will expire): acquires need not carry it.
    fn sent_release(&self, set: &str, member: &str) {
        let mut releasing = self
            .inner
            .releasing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(members) = releasing.get_mut(set) {
            members.retain(|m| m != member);
            if members.is_empty() {
                releasing.remove(set);
            }
        }
    }

    async fn renew_held(&self) {
        let held: Vec<(String, String)> = self
            .inner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for chunk in held.chunks(1000) {
            let mut call = self.inner.renew.prepare_invoke();
            call.arg(self.inner.lease_ttl.as_millis() as u64);
            for (set, member) in chunk {
                call.key(set).arg(member);
            }
            let result: redis::RedisResult<i64> = call.invoke_async(&mut self.conn()).await;
            self.note("lease renewal", result);
        }
    }
}
