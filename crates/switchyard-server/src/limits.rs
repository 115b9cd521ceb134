//! The admit phase's counters: requests and tokens per minute, and cost per day, week and in
//! total, for every key and every user. They live in memory (the request path never queries
//! the database), start from the recorded usage at startup, and grow as requests settle.
//!
//! A cost limit is checked against what has settled, so once a limit is reached no new
//! request starts; the overshoot is at most what the requests already in flight then cost.

use chrono::{DateTime, FixedOffset, Utc};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use switchyard_core::key::{ApiKey, KeyPolicy, UserLimits};
use switchyard_core::policy::{MinuteWindow, day_start, week_start};
use switchyard_store::coord::{CounterCheck, CounterVerdict};
use switchyard_store::{Spend, SpendSums};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Owner {
    Key(i64),
    User(i64),
}

#[derive(Debug, Clone, Default)]
struct Counters {
    requests: MinuteWindow,
    tokens: MinuteWindow,
    /// Start of the day and week the amounts belong to; a newer start resets them.
    day_start: Option<DateTime<Utc>>,
    day_usd: f64,
    week_start: Option<DateTime<Utc>>,
    week_usd: f64,
    total_usd: f64,
}

impl Counters {
    fn roll(&mut self, periods: &Periods) {
        if self.day_start != Some(periods.day) {
            self.day_start = Some(periods.day);
            self.day_usd = 0.0;
        }
        if self.week_start != Some(periods.week) {
            self.week_start = Some(periods.week);
            self.week_usd = 0.0;
        }
    }
}

/// The current cost periods in the configured time zone.
#[derive(Debug, Clone, Copy)]
pub struct Periods {
    pub day: DateTime<Utc>,
    pub week: DateTime<Utc>,
}

impl Periods {
    pub fn at(now: DateTime<Utc>, tz: FixedOffset) -> Self {
        Periods {
            day: day_start(now, tz),
            week: week_start(now, tz),
        }
    }

    pub fn day_end(&self) -> DateTime<Utc> {
        self.day + chrono::Duration::days(1)
    }

    pub fn week_end(&self) -> DateTime<Utc> {
        self.week + chrono::Duration::days(7)
    }
}

/// A refusal by a rate or cost limit: the message names the limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Limited {
    pub message: String,
    /// Seconds until the limit lets requests through again; `None` when it never will.
    pub retry_after: Option<u64>,
}

/// What one key (or user) has used, as the self-service endpoint reports it.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Used {
    pub day_usd: f64,
    pub week_usd: f64,
    pub total_usd: f64,
    pub requests_last_minute: f64,
    pub tokens_last_minute: f64,
}

#[derive(Default)]
pub struct Limits {
    counters: Mutex<HashMap<Owner, Counters>>,
    /// The time zone the day and week counters were last seeded in.
    zone: Mutex<Option<FixedOffset>>,
    /// First uses seen by this process whose store write may not have landed yet.
    first_use: Mutex<HashMap<i64, DateTime<Utc>>>,
}

impl Limits {
    /// Starts the cost counters from recorded usage.
    pub fn seed(&self, spend: &Spend, periods: &Periods) {
        let mut map = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        // Owners without records in these periods spent nothing in them.
        for c in map.values_mut() {
            c.day_start = Some(periods.day);
            c.week_start = Some(periods.week);
            c.day_usd = 0.0;
            c.week_usd = 0.0;
        }
        let owners = spend
            .keys
            .iter()
            .map(|(id, s)| (Owner::Key(*id), s))
            .chain(spend.users.iter().map(|(id, s)| (Owner::User(*id), s)));
        for (owner, sums) in owners {
            let c = map.entry(owner).or_default();
            let SpendSums {
                day_usd,
                week_usd,
                total_usd,
            } = *sums;
            c.day_start = Some(periods.day);
            c.week_start = Some(periods.week);
            c.day_usd = day_usd;
            c.week_usd = week_usd;
            c.total_usd = total_usd;
        }
    }

    /// Notes the time zone the periods are computed in; true when it changed since the last
    /// call (the first call only records it: the counters were seeded in it at startup).
    pub fn zone_changed(&self, tz: FixedOffset) -> bool {
        let mut zone = self.zone.lock().unwrap_or_else(PoisonError::into_inner);
        let changed = zone.is_some_and(|z| z != tz);
        *zone = Some(tz);
        changed
    }

    /// The first use of `key` known to this process or the store.
    pub fn first_use(&self, key: &ApiKey) -> Option<DateTime<Utc>> {
        key.first_used_at.or_else(|| {
            self.first_use
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&key.id)
                .copied()
        })
    }

    /// Notes the first use of `key`; true when this call was it (the caller persists it).
    pub fn mark_first_use(&self, key: &ApiKey, now: DateTime<Utc>) -> bool {
        if key.first_used_at.is_some() {
            return false;
        }
        let mut map = self
            .first_use
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map.contains_key(&key.id) {
            return false;
        }
        map.insert(key.id, now);
        true
    }

    /// Checks the key's and its user's rate and cost limits and, if none is reached, counts
    /// the request against the per-minute request limits.
    pub fn admit(
        &self,
        key: &ApiKey,
        user: &UserLimits,
        now: DateTime<Utc>,
        periods: &Periods,
    ) -> Result<(), Limited> {
        let now_ms = now.timestamp_millis();
        let mut map = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let p = &key.policy;
        {
            let c = map.entry(Owner::Key(key.id)).or_default();
            c.roll(periods);
            check_rates(c, p, now_ms)?;
            check_costs(
                c,
                "this API key's",
                [
                    p.daily_cost_limit_usd,
                    p.weekly_cost_limit_usd,
                    p.total_cost_limit_usd,
                ],
                now,
                periods,
            )?;
        }
        {
            let c = map.entry(Owner::User(key.user_id)).or_default();
            c.roll(periods);
            check_costs(
                c,
                "this key owner's",
                [
                    user.daily_cost_limit_usd,
                    user.weekly_cost_limit_usd,
                    user.total_cost_limit_usd,
                ],
                now,
                periods,
            )?;
        }
        if p.rate_limit_per_minute > 0
            && let Some(c) = map.get_mut(&Owner::Key(key.id))
        {
            c.requests.add(now_ms, 1);
        }
        Ok(())
    }

    /// Adds a settled request's tokens and cost to its key and user.
    pub fn record(
        &self,
        key_id: i64,
        user_id: i64,
        tokens: u64,
        cost_usd: f64,
        now: DateTime<Utc>,
        periods: &Periods,
    ) {
        let now_ms = now.timestamp_millis();
        let cost = if cost_usd.is_finite() && cost_usd > 0.0 {
            cost_usd
        } else {
            0.0
        };
        let mut map = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        for owner in [Owner::Key(key_id), Owner::User(user_id)] {
            let c = map.entry(owner).or_default();
            c.roll(periods);
            c.day_usd += cost;
            c.week_usd += cost;
            c.total_usd += cost;
            if matches!(owner, Owner::Key(_)) && tokens > 0 {
                c.tokens.add(now_ms, tokens);
            }
        }
    }

    pub fn used_by_key(&self, key_id: i64, now: DateTime<Utc>, periods: &Periods) -> Used {
        self.used(Owner::Key(key_id), now, periods)
    }

    pub fn used_by_user(&self, user_id: i64, now: DateTime<Utc>, periods: &Periods) -> Used {
        self.used(Owner::User(user_id), now, periods)
    }

    fn used(&self, owner: Owner, now: DateTime<Utc>, periods: &Periods) -> Used {
        let now_ms = now.timestamp_millis();
        let mut map = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let c = map.entry(owner).or_default();
        c.roll(periods);
        Used {
            day_usd: c.day_usd,
            week_usd: c.week_usd,
            total_usd: c.total_usd,
            requests_last_minute: c.requests.used(now_ms),
            tokens_last_minute: c.tokens.used(now_ms),
        }
    }
}

fn rpm_limited(rpm: u64, retry_after: u64) -> Limited {
    Limited {
        message: format!("this API key's rate limit of {rpm} requests per minute is reached"),
        retry_after: Some(retry_after),
    }
}

fn tpm_limited(tpm: u64, retry_after: u64) -> Limited {
    Limited {
        message: format!("this API key's limit of {tpm} tokens per minute is reached"),
        retry_after: Some(retry_after),
    }
}

fn check_rates(c: &mut Counters, p: &KeyPolicy, now_ms: i64) -> Result<(), Limited> {
    let rpm = u64::from(p.rate_limit_per_minute);
    if rpm > 0 && c.requests.used(now_ms) >= rpm as f64 {
        return Err(rpm_limited(
            rpm,
            c.requests.seconds_until_below(now_ms, rpm),
        ));
    }
    let tpm = p.tokens_per_minute;
    if tpm > 0 && c.tokens.used(now_ms) >= tpm as f64 {
        return Err(tpm_limited(tpm, c.tokens.seconds_until_below(now_ms, tpm)));
    }
    Ok(())
}

/// The refusal for a cost limit of `period` (0 day, 1 week, 2 total) reached at `spent`.
fn cost_limited(
    whose: &str,
    period: usize,
    limit: f64,
    spent: f64,
    now: DateTime<Utc>,
    periods: &Periods,
) -> Limited {
    let until = |end: DateTime<Utc>| Some((end - now).num_seconds().max(1) as u64);
    match period {
        0 => Limited {
            message: format!(
                "{whose} daily cost limit of ${limit:.2} is reached (spent ${spent:.4}); it resets at {}",
                periods.day_end().to_rfc3339()
            ),
            retry_after: until(periods.day_end()),
        },
        1 => Limited {
            message: format!(
                "{whose} weekly cost limit of ${limit:.2} is reached (spent ${spent:.4}); it resets at {}",
                periods.week_end().to_rfc3339()
            ),
            retry_after: until(periods.week_end()),
        },
        _ => Limited {
            message: format!(
                "{whose} total cost limit of ${limit:.2} is reached (spent ${spent:.4}); it does not reset"
            ),
            retry_after: None,
        },
    }
}

fn check_costs(
    c: &Counters,
    whose: &str,
    limits: [Option<f64>; 3],
    now: DateTime<Utc>,
    periods: &Periods,
) -> Result<(), Limited> {
    let spent = [c.day_usd, c.week_usd, c.total_usd];
    for (period, limit) in limits.into_iter().enumerate() {
        if let Some(limit) = limit
            && spent[period] >= limit
        {
            return Err(cost_limited(
                whose,
                period,
                limit,
                spent[period],
                now,
                periods,
            ));
        }
    }
    Ok(())
}

/// The refusal the shared counters' verdict stands for, worded as the local counters word it.
pub fn shared_refusal(
    verdict: CounterVerdict,
    check: &CounterCheck,
    now: DateTime<Utc>,
    periods: &Periods,
) -> Limited {
    // The shared windows are counted per calendar minute: the next one starts within 60 s.
    let next_minute = (60 - now.timestamp().rem_euclid(60)).max(1) as u64;
    match verdict {
        CounterVerdict::RequestsPerMinute(_) => rpm_limited(check.rpm, next_minute),
        CounterVerdict::TokensPerMinute(_) => tpm_limited(check.tpm, next_minute),
        CounterVerdict::Cost {
            owner,
            period,
            spent,
        } => {
            let (whose, limits) = if owner {
                ("this key owner's", check.user_costs)
            } else {
                ("this API key's", check.key_costs)
            };
            let limit = limits.get(period).copied().flatten().unwrap_or(0.0);
            cost_limited(whose, period, limit, spent, now, periods)
        }
        CounterVerdict::Admitted | CounterVerdict::Unseeded => Limited {
            message: "this API key's limits are reached".into(),
            retry_after: Some(1),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::key::KeyStatus;

    fn key(policy: KeyPolicy) -> ApiKey {
        ApiKey {
            id: 1,
            user_id: 7,
            name: "k".into(),
            prefix: "sk-sy-x".into(),
            hash: "h".into(),
            status: KeyStatus::Active,
            policy,
            first_used_at: None,
            created_at: Utc::now(),
            last_used_at: None,
        }
    }

    #[test]
    fn cost_limits_reset_with_their_period() {
        let limits = Limits::default();
        let k = key(KeyPolicy {
            daily_cost_limit_usd: Some(1.0),
            ..Default::default()
        });
        let tz = FixedOffset::east_opt(0).unwrap();
        let now = Utc::now();
        let today = Periods::at(now, tz);
        assert!(
            limits
                .admit(&k, &UserLimits::default(), now, &today)
                .is_ok()
        );
        limits.record(1, 7, 10, 1.5, now, &today);
        let refused = limits
            .admit(&k, &UserLimits::default(), now, &today)
            .unwrap_err();
        assert!(refused.message.contains("daily cost limit"), "{refused:?}");
        assert!(refused.retry_after.is_some_and(|s| s <= 86_400));
        let tomorrow = Periods::at(now + chrono::Duration::days(1), tz);
        assert!(
            limits
                .admit(&k, &UserLimits::default(), now, &tomorrow)
                .is_ok()
        );
        // The user's own limit covers all its keys.
        let user = UserLimits {
            total_cost_limit_usd: Some(1.0),
            ..Default::default()
        };
        let other_key = ApiKey {
            id: 2,
            ..key(KeyPolicy::default())
        };
        let refused = limits.admit(&other_key, &user, now, &tomorrow).unwrap_err();
        assert!(refused.message.contains("owner's total"), "{refused:?}");
        assert_eq!(refused.retry_after, None);
    }
}
