//! Account selection for one attempt of one request (the **route** phase).
//!
//! The scheduler is a pure function of the account snapshot, the request, the current slot
//! counts and a random source, so every rule below is property-tested and the server decides
//! separately how to acquire the slot it picked. Rules, in order:
//!
//! 1. An account is *eligible* when its kind is one the endpoint accepts, it was not already
//!    tried in this request, it is schedulable now (active, or cooling with the cool-down over),
//!    it serves the requested model, and it has a free concurrency slot.
//! 2. The session's sticky account wins if it is eligible, whatever its tier: moving a
//!    conversation throws away the upstream prompt cache, which costs more than a tier.
//! 3. Otherwise the lowest `priority` number with any eligible account is the only tier
//!    considered (strict tiers: lower tiers are fallbacks, not load sharing).
//! 4. Inside that tier the choice is weighted random by `weight` (0 counts as 1, so a
//!    forgotten weight never silently removes an account from rotation).
//!
//! It runs on every request over the whole pool, so it avoids allocation and sorting: one pass
//! finds the best tier and its total weight, a second pass over just that tier's index range
//! walks to the drawn weight. The only allocation is the chosen upstream model name.

use std::borrow::{Borrow, Cow};

use chrono::{DateTime, Utc};
use rand::Rng;

use crate::account::{Account, AccountId, AccountKind};

/// What the route phase knows about a request when it asks for an account.
#[derive(Debug, Clone, Copy)]
pub struct RouteRequest<'a> {
    /// Account kinds that can serve the endpoint (e.g. `/v1/responses` takes two).
    pub kinds: &'a [AccountKind],
    /// The model the client asked for (before any per-account mapping).
    pub model: &'a str,
    /// Accounts already tried by this request; failover must not retry them.
    pub exclude: &'a [AccountId],
    /// The account the session is bound to, if any.
    pub sticky: Option<AccountId>,
    /// When set, only these accounts may be chosen (an API key bound to an account or group).
    pub only: Option<&'a [AccountId]>,
    pub now: DateTime<Utc>,
}

impl RouteRequest<'_> {
    /// Kind and binding: whether the account can be considered at all.
    fn admits(&self, account: &Account) -> bool {
        self.kinds.contains(&account.kind)
            && self.only.is_none_or(|only| only.contains(&account.id))
    }
}

/// Current concurrency slot usage, supplied by the coordination layer.
///
/// A trait rather than a map so that the in-memory and Redis coordinators can answer from their
/// own structures without building a copy per request.
pub trait Load {
    /// Slots currently held on account `id`.
    fn in_flight(&self, id: AccountId) -> u32;
}

impl<F: Fn(AccountId) -> u32> Load for F {
    fn in_flight(&self, id: AccountId) -> u32 {
        self(id)
    }
}

/// The scheduler's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub account_id: AccountId,
    /// The model name to send upstream (the account's mapping applied).
    pub upstream_model: String,
    /// True when the session's existing binding was honoured, so the caller need not rebind.
    pub sticky_hit: bool,
}

/// Why no account could be chosen. The three cases need different answers to the client:
/// a configuration problem, a temporary outage, or plain overload worth retrying soon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoAccount {
    /// No account of the endpoint's kinds serves the model at all.
    #[error("no upstream account is configured to serve this model")]
    NoneForModel,
    /// Some accounts serve the model but all are cooling down, in error, disabled, or already
    /// tried by this request.
    #[error("all upstream accounts for this model are temporarily unavailable")]
    AllUnavailable,
    /// The only accounts left are at their concurrency limit.
    #[error("all upstream accounts for this model are busy; retry shortly")]
    AllBusy,
}

/// Weight used for drawing; 0 is treated as 1 (see module docs).
fn weight_of(account: &Account) -> u64 {
    u64::from(account.weight.max(1))
}

fn is_full(account: &Account, load: &impl Load) -> bool {
    account.max_concurrency != 0 && load.in_flight(account.id) >= account.max_concurrency
}

/// Whether an account is usable now, ignoring model and load (the cheap checks).
fn is_available(account: &Account, req: &RouteRequest<'_>) -> bool {
    account.is_schedulable(req.now) && !req.exclude.contains(&account.id)
}

/// The upstream model if `account` is eligible for `req`, else `None`.
fn eligible<'a>(
    account: &'a Account,
    req: &RouteRequest<'a>,
    load: &impl Load,
) -> Option<Cow<'a, str>> {
    if !req.admits(account) || !is_available(account, req) {
        return None;
    }
    let upstream = account.upstream_model(req.model)?;
    if is_full(account, load) {
        return None;
    }
    Some(upstream)
}

/// The best tier found so far in the first pass.
struct Tier {
    priority: i32,
    total_weight: u64,
    /// Index range of the tier's eligible accounts in the slice, so pass two scans only it.
    first: usize,
    last: usize,
}

/// Chooses the account for one attempt. See the module docs for the rules.
///
/// Accepts `&[Account]`, `&[&Account]` or `&[Arc<Account>]`. The order of `accounts` does not
/// matter for the outcome distribution.
pub fn pick<A, R>(
    accounts: &[A],
    req: &RouteRequest<'_>,
    load: &impl Load,
    rng: &mut R,
) -> Result<Choice, NoAccount>
where
    A: Borrow<Account>,
    R: Rng + ?Sized,
{
    // Pass one: sticky hit, or the best tier with its total weight; plus enough bookkeeping to
    // explain a failure.
    let mut serves_model = false;
    let mut saw_busy = false;
    let mut best: Option<Tier> = None;

    for (index, account) in accounts.iter().enumerate() {
        let account = account.borrow();
        if !req.admits(account) {
            continue;
        }
        let is_sticky = req.sticky == Some(account.id);
        // Once some tier is eligible, worse tiers cannot win (and no failure needs explaining),
        // so skip their model and load checks unless the account is the sticky one.
        if let Some(tier) = &best
            && account.priority > tier.priority
            && !is_sticky
        {
            continue;
        }
        if !is_available(account, req) {
            if !serves_model && account.upstream_model(req.model).is_some() {
                serves_model = true;
            }
            continue;
        }
        let Some(upstream) = account.upstream_model(req.model) else {
            continue;
        };
        serves_model = true;
        if is_full(account, load) {
            saw_busy = true;
            continue;
        }
        if is_sticky {
            return Ok(Choice {
                account_id: account.id,
                upstream_model: upstream.into_owned(),
                sticky_hit: true,
            });
        }
        let weight = weight_of(account);
        match &mut best {
            Some(tier) if tier.priority == account.priority => {
                tier.total_weight += weight;
                tier.last = index;
            }
            // A strictly better tier (worse ones were skipped above), or the first one.
            _ => {
                best = Some(Tier {
                    priority: account.priority,
                    total_weight: weight,
                    first: index,
                    last: index,
                });
            }
        }
    }

    let Some(tier) = best else {
        return Err(if saw_busy {
            NoAccount::AllBusy
        } else if serves_model {
            NoAccount::AllUnavailable
        } else {
            NoAccount::NoneForModel
        });
    };

    // Pass two: walk the tier to the drawn weight. Slot counts may move between the passes
    // (other requests run concurrently), so an account that became full is skipped and the
    // last eligible one seen stands in if the draw runs past the end.
    let mut remaining = rng.random_range(0..tier.total_weight);
    let mut fallback: Option<(AccountId, Cow<'_, str>)> = None;
    for account in &accounts[tier.first..=tier.last] {
        let account = account.borrow();
        if account.priority != tier.priority {
            continue;
        }
        let Some(upstream) = eligible(account, req, load) else {
            continue;
        };
        let weight = weight_of(account);
        if remaining < weight {
            return Ok(Choice {
                account_id: account.id,
                upstream_model: upstream.into_owned(),
                sticky_hit: false,
            });
        }
        remaining -= weight;
        fallback = Some((account.id, upstream));
    }
    fallback
        .map(|(account_id, upstream)| Choice {
            account_id,
            upstream_model: upstream.into_owned(),
            sticky_hit: false,
        })
        .ok_or(NoAccount::AllBusy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{AccountStatus, Credentials};
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::collections::HashMap;
    use std::sync::Arc;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()
    }

    fn acct(id: AccountId, kind: AccountKind, priority: i32, weight: u32) -> Account {
        Account {
            id,
            kind,
            name: format!("a{id}"),
            base_url: None,
            priority,
            weight,
            allowed_models: Vec::new(),
            model_map: Default::default(),
            max_concurrency: 0,
            proxy_url: None,
            status: AccountStatus::Active,
            status_reason: None,
            status_until: None,
            consecutive_errors: 0,
            last_check_at: None,
            last_check_result: None,
            extra: Default::default(),
            credentials: Credentials::default(),
            created_at: now(),
            updated_at: now(),
        }
    }

    fn req<'a>(kinds: &'a [AccountKind], model: &'a str) -> RouteRequest<'a> {
        RouteRequest {
            kinds,
            model,
            exclude: &[],
            sticky: None,
            only: None,
            now: now(),
        }
    }

    fn idle(_: AccountId) -> u32 {
        0
    }

    #[test]
    fn binding_limits_the_choice() {
        let accounts: Vec<Account> = (1..=5)
            .map(|i| acct(i, AccountKind::Claude, 50, 1))
            .collect();
        let kinds = [AccountKind::Claude];
        let only = [4];
        let mut r = req(&kinds, "m");
        r.only = Some(&only);
        let mut rng = rand::rng();
        for _ in 0..50 {
            assert_eq!(pick(&accounts, &r, &idle, &mut rng).unwrap().account_id, 4);
        }
        let empty: [AccountId; 0] = [];
        r.only = Some(&empty);
        assert_eq!(
            pick(&accounts, &r, &idle, &mut rng),
            Err(NoAccount::NoneForModel)
        );
    }

    const CLAUDE: &[AccountKind] = &[AccountKind::Claude];

    #[test]
    fn picks_only_eligible() {
        let mut disabled = acct(1, AccountKind::Claude, 0, 1);
        disabled.status = AccountStatus::Disabled;
        let mut error = acct(2, AccountKind::Claude, 0, 1);
        error.status = AccountStatus::Error;
        let mut cooling = acct(3, AccountKind::Claude, 0, 1);
        cooling.status = AccountStatus::Cooling;
        cooling.status_until = Some(now() + Duration::minutes(5));
        let excluded = acct(4, AccountKind::Claude, 0, 1);
        let wrong_kind = acct(5, AccountKind::Openai, 0, 1);
        let mut wrong_model = acct(6, AccountKind::Claude, 0, 1);
        wrong_model.allowed_models = vec!["other".into()];
        let mut full = acct(7, AccountKind::Claude, 0, 1);
        full.max_concurrency = 2;
        let good = acct(8, AccountKind::Claude, 5, 1);
        let pool = vec![
            disabled,
            error,
            cooling,
            excluded,
            wrong_kind,
            wrong_model,
            full,
            good,
        ];
        let mut r = req(CLAUDE, "m");
        r.exclude = &[4];
        let load = |id| if id == 7 { 2 } else { 0 };
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..200 {
            let c = pick(&pool, &r, &load, &mut rng).unwrap();
            assert_eq!(c.account_id, 8);
            assert!(!c.sticky_hit);
        }
    }

    #[test]
    fn best_tier_wins_and_model_is_mapped() {
        let mut a = acct(1, AccountKind::Claude, 10, 100);
        a.model_map.insert("m".into(), "a-model".into());
        let mut b = acct(2, AccountKind::Claude, 1, 1);
        b.model_map.insert("m".into(), "b-model".into());
        let pool = vec![Arc::new(a), Arc::new(b)];
        let mut rng = StdRng::seed_from_u64(2);
        for _ in 0..100 {
            let c = pick(&pool, &req(CLAUDE, "m"), &idle, &mut rng).unwrap();
            assert_eq!(c.account_id, 2);
            assert_eq!(c.upstream_model, "b-model");
        }
    }

    #[test]
    fn weights_respected() {
        let pool = [
            acct(1, AccountKind::Claude, 0, 1),
            acct(2, AccountKind::Claude, 0, 3),
        ];
        let refs: Vec<&Account> = pool.iter().collect();
        let mut rng = StdRng::seed_from_u64(42);
        let draws = 20_000;
        let mut first = 0;
        for _ in 0..draws {
            if pick(&refs, &req(CLAUDE, "m"), &idle, &mut rng)
                .unwrap()
                .account_id
                == 1
            {
                first += 1;
            }
        }
        let share = f64::from(first) / f64::from(draws);
        assert!(
            (share - 0.25).abs() < 0.015,
            "share of weight-1 account: {share}"
        );
    }

    #[test]
    fn zero_weight_counts_as_one() {
        let pool = [
            acct(1, AccountKind::Claude, 0, 0),
            acct(2, AccountKind::Claude, 0, 1),
        ];
        let mut rng = StdRng::seed_from_u64(3);
        let mut first = 0u32;
        for _ in 0..10_000 {
            if pick(&pool, &req(CLAUDE, "m"), &idle, &mut rng)
                .unwrap()
                .account_id
                == 1
            {
                first += 1;
            }
        }
        assert!((4_500..5_500).contains(&first), "{first}");
    }

    #[test]
    fn sticky_stays_then_moves() {
        let mut pool = vec![
            acct(1, AccountKind::Claude, 0, 1),
            acct(2, AccountKind::Claude, 0, 1),
            acct(3, AccountKind::Claude, 9, 1),
        ];
        let mut rng = StdRng::seed_from_u64(4);
        let mut r = req(CLAUDE, "m");
        // Sticky wins even from a worse tier.
        r.sticky = Some(3);
        for _ in 0..50 {
            let c = pick(&pool, &r, &idle, &mut rng).unwrap();
            assert_eq!((c.account_id, c.sticky_hit), (3, true));
        }
        // The bound account starts cooling: the session moves to the best tier.
        pool[2].status = AccountStatus::Cooling;
        pool[2].status_until = Some(now() + Duration::seconds(30));
        let c = pick(&pool, &r, &idle, &mut rng).unwrap();
        assert!(!c.sticky_hit);
        assert_ne!(c.account_id, 3);
        // Full, or already tried in this request: also moves.
        pool[2].status = AccountStatus::Active;
        pool[2].max_concurrency = 1;
        let busy = |id| u32::from(id == 3);
        assert_ne!(pick(&pool, &r, &busy, &mut rng).unwrap().account_id, 3);
        r.exclude = &[3];
        assert_ne!(pick(&pool, &r, &idle, &mut rng).unwrap().account_id, 3);
        // Unknown sticky id: ordinary choice.
        r.exclude = &[];
        r.sticky = Some(99);
        assert!(!pick(&pool, &r, &idle, &mut rng).unwrap().sticky_hit);
    }

    #[test]
    fn cooling_over_is_eligible_again() {
        let mut a = acct(1, AccountKind::Claude, 0, 1);
        a.status = AccountStatus::Cooling;
        a.status_until = Some(now() - Duration::seconds(1));
        let mut rng = StdRng::seed_from_u64(5);
        assert_eq!(
            pick(&[a], &req(CLAUDE, "m"), &idle, &mut rng)
                .unwrap()
                .account_id,
            1
        );
    }

    #[test]
    fn failure_reasons() {
        let mut rng = StdRng::seed_from_u64(6);
        let none: [Account; 0] = [];
        assert_eq!(
            pick(&none, &req(CLAUDE, "m"), &idle, &mut rng),
            Err(NoAccount::NoneForModel)
        );
        let mut limited = acct(1, AccountKind::Claude, 0, 1);
        limited.allowed_models = vec!["x-*".into()];
        let other_kind = acct(2, AccountKind::Gemini, 0, 1);
        assert_eq!(
            pick(&[limited, other_kind], &req(CLAUDE, "m"), &idle, &mut rng),
            Err(NoAccount::NoneForModel)
        );

        let mut cooling = acct(1, AccountKind::Claude, 0, 1);
        cooling.status = AccountStatus::Cooling;
        cooling.status_until = Some(now() + Duration::minutes(1));
        let mut disabled = acct(2, AccountKind::Claude, 0, 1);
        disabled.status = AccountStatus::Disabled;
        let mut r = req(CLAUDE, "m");
        assert_eq!(
            pick(&[cooling.clone(), disabled.clone()], &r, &idle, &mut rng),
            Err(NoAccount::AllUnavailable)
        );
        let tried = acct(3, AccountKind::Claude, 0, 1);
        r.exclude = &[3];
        assert_eq!(
            pick(&[tried], &r, &idle, &mut rng),
            Err(NoAccount::AllUnavailable)
        );

        let mut full = acct(4, AccountKind::Claude, 0, 1);
        full.max_concurrency = 1;
        let one = |_| 1;
        assert_eq!(
            pick(&[cooling, disabled, full], &r, &one, &mut rng),
            Err(NoAccount::AllBusy)
        );
        assert!(!NoAccount::AllBusy.to_string().is_empty());
    }

    #[test]
    fn multiple_kinds_share_a_tier() {
        let pool = [
            acct(1, AccountKind::OpenaiResponses, 0, 1),
            acct(2, AccountKind::Openai, 0, 1),
            acct(3, AccountKind::Claude, 0, 1),
        ];
        let kinds = [AccountKind::OpenaiResponses, AccountKind::Openai];
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen = [false; 4];
        for _ in 0..200 {
            let id = pick(&pool, &req(&kinds, "gpt-5"), &idle, &mut rng)
                .unwrap()
                .account_id;
            seen[usize::try_from(id).unwrap()] = true;
        }
        assert_eq!(seen, [false, true, true, false]);
    }

    // ---- property tests -------------------------------------------------------------------

    /// One generated account plus the state around it.
    #[derive(Debug, Clone)]
    struct Gen {
        kind: AccountKind,
        priority: i32,
        weight: u32,
        max_concurrency: u32,
        in_flight: u32,
        /// 0 active, 1 cooling (future), 2 cooling (past), 3 cooling (no end), 4 error, 5 disabled
        status: u8,
        /// 0 any model, 1 only "m", 2 only "other", 3 mapped m → "up"
        models: u8,
        excluded: bool,
    }

    fn gen_account() -> impl Strategy<Value = Gen> {
        (
            prop::sample::select(vec![
                AccountKind::Claude,
                AccountKind::ClaudeOfficial,
                AccountKind::Openai,
            ]),
            0i32..4,
            0u32..5,
            0u32..3,
            0u32..4,
            0u8..6,
            0u8..4,
            prop::bool::weighted(0.15),
        )
            .prop_map(
                |(kind, priority, weight, max_concurrency, in_flight, status, models, excluded)| {
                    Gen {
                        kind,
                        priority,
                        weight,
                        max_concurrency,
                        in_flight,
                        status,
                        models,
                        excluded,
                    }
                },
            )
    }

    fn build(gens: &[Gen]) -> (Vec<Account>, Vec<AccountId>, HashMap<AccountId, u32>) {
        let mut accounts = Vec::new();
        let mut exclude = Vec::new();
        let mut load = HashMap::new();
        for (i, g) in gens.iter().enumerate() {
            let id = i64::try_from(i).unwrap() + 1;
            let mut a = acct(id, g.kind, g.priority, g.weight);
            a.max_concurrency = g.max_concurrency;
            (a.status, a.status_until) = match g.status {
                0 => (AccountStatus::Active, None),
                1 => (AccountStatus::Cooling, Some(now() + Duration::seconds(10))),
                2 => (AccountStatus::Cooling, Some(now() - Duration::seconds(10))),
                3 => (AccountStatus::Cooling, None),
                4 => (AccountStatus::Error, None),
                _ => (AccountStatus::Disabled, None),
            };
            match g.models {
                1 => a.allowed_models = vec!["m".into()],
                2 => a.allowed_models = vec!["other".into()],
                3 => {
                    a.allowed_models = vec!["other".into()];
                    a.model_map.insert("m".into(), "up".into());
                }
                _ => {}
            }
            if g.excluded {
                exclude.push(id);
            }
            load.insert(id, g.in_flight);
            accounts.push(a);
        }
        (accounts, exclude, load)
    }

    /// Independent statement of eligibility, written from the rules rather than the code.
    fn oracle_eligible(g: &Gen, kinds: &[AccountKind]) -> bool {
        kinds.contains(&g.kind)
            && !g.excluded
            && matches!(g.status, 0 | 2 | 3)
            && g.models != 2
            && (g.max_concurrency == 0 || g.in_flight < g.max_concurrency)
    }

    fn kinds_strategy() -> impl Strategy<Value = Vec<AccountKind>> {
        prop::sample::subsequence(
            vec![
                AccountKind::Claude,
                AccountKind::ClaudeOfficial,
                AccountKind::Openai,
            ],
            1..=3,
        )
    }

    proptest! {
        #[test]
        fn choice_is_eligible_and_in_best_tier(
            gens in prop::collection::vec(gen_account(), 0..30),
            kinds in kinds_strategy(),
            sticky_index in prop::option::of(0usize..30),
            seed in any::<u64>(),
        ) {
            let (accounts, exclude, load_map) = build(&gens);
            let load = |id| load_map.get(&id).copied().unwrap_or(0);
            let sticky = sticky_index.map(|i| i64::try_from(i).unwrap() + 1);
            let r = RouteRequest { kinds: &kinds, model: "m", exclude: &exclude, sticky, only: None, now: now() };
            let mut rng = StdRng::seed_from_u64(seed);
            let result = pick(&accounts, &r, &load, &mut rng);

            let eligible: Vec<usize> =
                (0..gens.len()).filter(|&i| oracle_eligible(&gens[i], &kinds)).collect();
            match result {
                Ok(choice) => {
                    let i = usize::try_from(choice.account_id - 1).unwrap();
                    prop_assert!(eligible.contains(&i), "picked ineligible {:?}", gens[i]);
                    let sticky_eligible = sticky_index.is_some_and(|s| eligible.contains(&s));
                    if sticky_eligible {
                        prop_assert_eq!(Some(i), sticky_index);
                        prop_assert!(choice.sticky_hit);
                    } else {
                        let best = eligible.iter().map(|&j| gens[j].priority).min();
                        prop_assert_eq!(Some(gens[i].priority), best);
                        prop_assert!(!choice.sticky_hit);
                    }
                    let expected_model = if gens[i].models == 3 { "up" } else { "m" };
                    prop_assert_eq!(choice.upstream_model.as_str(), expected_model);
                }
                Err(reason) => {
                    prop_assert!(eligible.is_empty());
                    let serves: Vec<&Gen> = gens
                        .iter()
                        .filter(|g| kinds.contains(&g.kind) && g.models != 2)
                        .collect();
                    let busy = serves.iter().any(|g| {
                        !g.excluded && matches!(g.status, 0 | 2 | 3)
                    });
                    let expected = if serves.is_empty() {
                        NoAccount::NoneForModel
                    } else if busy {
                        NoAccount::AllBusy
                    } else {
                        NoAccount::AllUnavailable
                    };
                    prop_assert_eq!(reason, expected);
                }
            }
        }

        #[test]
        fn order_of_pool_does_not_change_eligibility(
            gens in prop::collection::vec(gen_account(), 1..20),
            seed in any::<u64>(),
        ) {
            let kinds = [AccountKind::Claude, AccountKind::ClaudeOfficial, AccountKind::Openai];
            let (accounts, exclude, load_map) = build(&gens);
            let load = |id| load_map.get(&id).copied().unwrap_or(0);
            let r = RouteRequest { kinds: &kinds, model: "m", exclude: &exclude, sticky: None, only: None, now: now() };
            let reversed: Vec<&Account> = accounts.iter().rev().collect();
            let mut rng = StdRng::seed_from_u64(seed);
            let a = pick(&accounts, &r, &load, &mut rng).map(|c| accounts[usize::try_from(c.account_id - 1).unwrap()].priority);
            let b = pick(&reversed, &r, &load, &mut rng).map(|c| accounts[usize::try_from(c.account_id - 1).unwrap()].priority);
            prop_assert_eq!(a, b);
        }
    }

    /// Weighted choice in a tier matches the weights for arbitrary small pools.
    #[test]
    fn weights_respected_for_mixed_tiers() {
        let pool = [
            acct(1, AccountKind::Claude, 1, 2),
            acct(2, AccountKind::Claude, 1, 5),
            acct(3, AccountKind::Claude, 1, 3),
            acct(4, AccountKind::Claude, 2, 100),
        ];
        let mut rng = StdRng::seed_from_u64(9);
        let mut counts = [0u32; 5];
        let draws = 20_000;
        for _ in 0..draws {
            let id = pick(&pool, &req(CLAUDE, "m"), &idle, &mut rng)
                .unwrap()
                .account_id;
            counts[usize::try_from(id).unwrap()] += 1;
        }
        assert_eq!(counts[4], 0);
        for (id, expected) in [(1, 0.2), (2, 0.5), (3, 0.3)] {
            let share = f64::from(counts[id]) / f64::from(draws);
            assert!((share - expected).abs() < 0.015, "account {id}: {share}");
        }
    }
}
