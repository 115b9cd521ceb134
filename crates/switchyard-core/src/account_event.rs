//! Every automatic change of an account's runtime state is one [`AccountEvent`], turned into
//! the account's next state here, in one place. The rule that an account an operator disabled
//! is never changed automatically is written once, in [`Account::is_operator_disabled`].

use chrono::{DateTime, Utc};

use crate::account::{Account, AccountStatus};

/// The runtime state of an account, written by the relay and the health check.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountState {
    pub status: AccountStatus,
    pub reason: Option<String>,
    pub until: Option<DateTime<Utc>>,
    pub consecutive_errors: u32,
}

/// Something that happened to an account without an operator.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountEvent {
    /// A failure that heals by itself (rate limit, overload, server errors, a token endpoint
    /// that did not answer): out of rotation until `until`, counted as an error.
    Cooled {
        until: DateTime<Utc>,
        reason: String,
    },
    /// A failure that needs an operator (credentials rejected, no Code Assist project).
    Failed { reason: String },
    /// A usage window crossed the operator's threshold: out of rotation until it resets. Not
    /// an error.
    Paused {
        until: DateTime<Utc>,
        reason: String,
    },
    /// A request succeeded: the error count starts over.
    Succeeded,
    /// A cool-down's time has passed.
    CooldownEnded,
    /// A health check's verdict, which decides the whole state.
    Checked(AccountState),
}

impl AccountEvent {
    /// The account's next state, or `None` when the event changes nothing (including every
    /// event on an account an operator disabled).
    pub fn next_state(&self, account: &Account) -> Option<AccountState> {
        if account.is_operator_disabled() {
            return None;
        }
        let errors = account.consecutive_errors.saturating_add(1);
        let next = match self {
            AccountEvent::Cooled { until, reason } => AccountState {
                status: AccountStatus::Cooling,
                reason: Some(reason.clone()),
                until: Some(*until),
                consecutive_errors: errors,
            },
            AccountEvent::Failed { reason } => AccountState {
                status: AccountStatus::Error,
                reason: Some(reason.clone()),
                until: None,
                consecutive_errors: errors,
            },
            AccountEvent::Paused { until, reason } => AccountState {
                status: AccountStatus::Cooling,
                reason: Some(reason.clone()),
                until: Some(*until),
                consecutive_errors: account.consecutive_errors,
            },
            AccountEvent::Succeeded => AccountState {
                status: account.status,
                reason: account.status_reason.clone(),
                until: account.status_until,
                consecutive_errors: 0,
            },
            AccountEvent::CooldownEnded => {
                if account.status != AccountStatus::Cooling {
                    return None;
                }
                AccountState {
                    status: AccountStatus::Active,
                    reason: None,
                    until: None,
                    consecutive_errors: account.consecutive_errors,
                }
            }
            AccountEvent::Checked(state) => state.clone(),
        };
        let unchanged = account.status == next.status
            && account.status_until == next.until
            && account.consecutive_errors == next.consecutive_errors;
        (!unchanged).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::HEALTH_CHECK_REASON;

    fn account(status: AccountStatus, reason: Option<&str>) -> Account {
        Account {
            status,
            status_reason: reason.map(str::to_string),
            consecutive_errors: 2,
            ..crate::account::tests::sample()
        }
    }

    #[test]
    fn an_operator_disabled_account_never_changes() {
        let disabled = account(AccountStatus::Disabled, Some("disabled by an operator"));
        let until = Utc::now();
        for event in [
            AccountEvent::Cooled {
                until,
                reason: "429".into(),
            },
            AccountEvent::Failed {
                reason: "401".into(),
            },
            AccountEvent::Succeeded,
            AccountEvent::CooldownEnded,
            AccountEvent::Checked(AccountState {
                status: AccountStatus::Active,
                reason: None,
                until: None,
                consecutive_errors: 0,
            }),
        ] {
            assert_eq!(event.next_state(&disabled), None, "{event:?}");
        }
        // One the health check disabled is the health check's to bring back.
        let by_check = account(AccountStatus::Disabled, Some(HEALTH_CHECK_REASON));
        let back = AccountEvent::Checked(AccountState {
            status: AccountStatus::Active,
            reason: None,
            until: None,
            consecutive_errors: 0,
        });
        assert_eq!(
            back.next_state(&by_check).map(|s| s.status),
            Some(AccountStatus::Active)
        );
    }

    #[test]
    fn failures_count_and_pauses_do_not() {
        let active = account(AccountStatus::Active, None);
        let until = Utc::now();
        let cooled = AccountEvent::Cooled {
            until,
            reason: "429".into(),
        }
        .next_state(&active);
        assert_eq!(
            cooled.map(|s| (s.status, s.consecutive_errors)),
            Some((AccountStatus::Cooling, 3))
        );
        let paused = AccountEvent::Paused {
            until,
            reason: "5h window at 95%".into(),
        }
        .next_state(&active);
        assert_eq!(
            paused.map(|s| (s.status, s.consecutive_errors)),
            Some((AccountStatus::Cooling, 2))
        );
        let ok = AccountEvent::Succeeded.next_state(&active);
        assert_eq!(
            ok.map(|s| (s.status, s.consecutive_errors)),
            Some((AccountStatus::Active, 0))
        );
        // Nothing to end on an active account, nothing to reset on one without errors.
        assert_eq!(AccountEvent::CooldownEnded.next_state(&active), None);
        let clean = Account {
            consecutive_errors: 0,
            ..active
        };
        assert_eq!(AccountEvent::Succeeded.next_state(&clean), None);
    }
}
