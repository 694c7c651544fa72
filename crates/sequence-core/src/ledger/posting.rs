//! Postings: the two ledger entries a completed transfer writes, the zero-sum invariant, and
//! how external accounts' reported balances follow completed transfers.

use std::collections::BTreeMap;

use super::{AccountKind, Endpoint, ExternalAccountType, LedgerError, TransferDirection};
use crate::ids::AccountId;
use crate::money::{Cents, Overflow};

/// One ledger entry: `amount_delta` added to `account`'s balance. Negative on the side money
/// leaves, positive on the side it arrives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posting {
    /// An internal account or a system account.
    pub account: AccountId,
    /// The change, never zero.
    pub amount_delta: Cents,
}

/// An organization's two system accounts: ledger accounts with ids like any other, created
/// with the organization and never returned by the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemAccounts {
    /// Counterparty of money arriving from (or leaving to) the outside world with no account:
    /// deposits, card purchases and card refunds. Its balance is what card purchases paid out,
    /// less refunds and deposits.
    pub outside_world: AccountId,
    /// Counterparty of transfers to and from linked external accounts. Its balance is what was
    /// paid out to external accounts minus what was pulled in from them.
    pub external_clearing: AccountId,
}

impl SystemAccounts {
    /// Mints the system accounts for a new organization.
    pub fn generate() -> SystemAccounts {
        let accounts = SystemAccounts {
            outside_world: AccountId::generate(),
            external_clearing: AccountId::generate(),
        };
        assert_ne!(accounts.outside_world, accounts.external_clearing);
        accounts
    }

    /// Whether `account` is one of them.
    pub fn contains(&self, account: &AccountId) -> bool {
        *account == self.outside_world || *account == self.external_clearing
    }

    /// The ledger account that books `endpoint`: the account itself when it is internal, the
    /// clearing account for an external account, `outside_world` for the outside world.
    fn ledger_account(&self, endpoint: &Endpoint) -> AccountId {
        match endpoint {
            Endpoint::Account { id, kind } if kind.is_internal() => {
                assert!(!self.contains(id), "a system account is never a transfer side");
                id.clone()
            }
            Endpoint::Account { .. } => self.external_clearing.clone(),
            Endpoint::OutsideWorld => self.outside_world.clone(),
        }
    }
}

/// The parts of a transfer its postings depend on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferLegs {
    /// Where the money comes from.
    pub source: Endpoint,
    /// Where it goes.
    pub destination: Endpoint,
    /// How much; positive.
    pub amount: Cents,
}

/// The two postings a transfer writes when it completes: `-amount` on the source's ledger
/// account, `+amount` on the destination's.
///
/// # Panics
/// If the amount is not positive, the transfer has no internal side, or both sides book to the
/// same ledger account; validation rules all of these out before a transfer is accepted.
pub fn postings_for(legs: &TransferLegs, system: &SystemAccounts) -> [Posting; 2] {
    assert!(legs.amount.is_positive(), "transfer amount {} is not positive", legs.amount);
    TransferDirection::between(&legs.source, &legs.destination)
        .expect("validated transfers have an internal side");
    let debit = system.ledger_account(&legs.source);
    let credit = system.ledger_account(&legs.destination);
    assert_ne!(debit, credit, "a transfer must move money between two ledger accounts");
    let amount_delta = legs.amount.checked_neg().expect("a positive amount negates");
    let postings = [
        Posting { account: debit, amount_delta },
        Posting { account: credit, amount_delta: legs.amount },
    ];
    assert_balanced(&postings);
    postings
}

/// Asserts that `postings` are a balanced set: none is zero and they sum to exactly zero. Run it
/// on each transfer's postings before writing them, and on a whole organization's postings in
/// tests and consistency checks.
///
/// # Panics
/// If the set is unbalanced: money was created or destroyed, a bug.
pub fn assert_balanced(postings: &[Posting]) {
    // An i128 sum of i64 deltas cannot overflow for any slice that fits in memory.
    let mut sum: i128 = 0;
    for posting in postings {
        assert!(posting.amount_delta != Cents::ZERO, "zero posting on {}", posting.account);
        sum += i128::from(posting.amount_delta.get());
    }
    assert_eq!(sum, 0, "postings do not balance: they sum to {sum} cents");
}

/// Every account's balance, recomputed from postings alone. Tests and consistency checks compare
/// it with the balances the store reports, proving those are ledger-derived.
pub fn replay<'a>(
    postings: impl IntoIterator<Item = &'a Posting>,
) -> Result<BTreeMap<AccountId, Cents>, LedgerError> {
    let mut balances: BTreeMap<AccountId, Cents> = BTreeMap::new();
    for posting in postings {
        let balance = balances.entry(posting.account.clone()).or_default();
        *balance = balance.checked_add(posting.amount_delta).map_err(|Overflow| {
            LedgerError::BalanceOverflow { account: posting.account.clone() }
        })?;
    }
    Ok(balances)
}

/// Which side of a transfer an account is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferSide {
    /// Money leaves it.
    Source,
    /// Money arrives in it.
    Destination,
}

/// What an external account's bank reports, in cents. The liability fields are `None` for
/// `DEPOSITORY`/`INVESTMENT` accounts and for liabilities that do not report them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportedBalances {
    /// `balance_in_cents`: money held, or for a `LIABILITY` the amount owed (may go negative:
    /// overpaying a card leaves a credit).
    pub balance: Cents,
    /// `last_statement_balance_in_cents` (`LIABILITY` only).
    pub last_statement_balance: Option<Cents>,
    /// `next_payment_minimum_in_cents` (`LIABILITY` only).
    pub next_payment_minimum: Option<Cents>,
}

/// An external account's reported balances after a transfer of `amount` to or from it
/// completes (and only then: in-flight transfers do not change what the bank reports).
///
/// * `DEPOSITORY`/`INVESTMENT`: `+amount` as destination, `-amount` as source (a pull; the
///   figure may go negative, as an overdraft would).
/// * `LIABILITY` (destination only): a payment lowers the amount owed by `amount`, and the
///   statement balance and minimum payment by `amount` but not below zero, as the API documents.
///
/// # Panics
/// If `amount` is not positive or a liability is the source (validation forbids both).
pub fn reported_balances_after(
    account_type: ExternalAccountType,
    before: ReportedBalances,
    side: TransferSide,
    amount: Cents,
) -> Result<ReportedBalances, Overflow> {
    assert!(amount.is_positive(), "transfer amount {amount} is not positive");
    match (account_type, side) {
        (ExternalAccountType::Depository | ExternalAccountType::Investment, side) => {
            let balance = match side {
                TransferSide::Destination => before.balance.checked_add(amount)?,
                TransferSide::Source => before.balance.checked_sub(amount)?,
            };
            Ok(ReportedBalances { balance, ..before })
        }
        (ExternalAccountType::Liability, TransferSide::Destination) => {
            let pay_down = |owed: Cents| owed.checked_sub(amount).map(|left| left.max(Cents::ZERO));
            let after = ReportedBalances {
                balance: before.balance.checked_sub(amount)?,
                last_statement_balance: before.last_statement_balance.map(pay_down).transpose()?,
                next_payment_minimum: before.next_payment_minimum.map(pay_down).transpose()?,
            };
            assert!(after.balance < before.balance);
            Ok(after)
        }
        (ExternalAccountType::Liability, TransferSide::Source) => {
            assert!(!AccountKind::External(account_type).can_be_source());
            panic!("a LIABILITY account is never a transfer source")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{
        AcceptanceRequest, ExecutionMode, InternalBalance, TransferEvent, TransferStatus,
        plan_acceptance, transition,
    };

    fn account(raw: &str, kind: AccountKind) -> Endpoint {
        Endpoint::Account { id: AccountId::from_raw(raw), kind }
    }

    fn system() -> SystemAccounts {
        SystemAccounts {
            outside_world: AccountId::from_raw("acc_sys_world"),
            external_clearing: AccountId::from_raw("acc_sys_clearing"),
        }
    }

    fn posting(raw: &str, cents: i64) -> Posting {
        Posting { account: AccountId::from_raw(raw), amount_delta: Cents::new(cents) }
    }

    #[test]
    fn postings_debit_the_source_and_credit_the_destination() {
        // Goal: each kind of side books to the right ledger account. Method: one row per shape.
        let income = account("acc_in", AccountKind::IncomeSource);
        let pod = account("acc_pod", AccountKind::Pod);
        let bank = account("acc_bank", AccountKind::External(ExternalAccountType::Depository));
        let card = account("acc_card", AccountKind::External(ExternalAccountType::Liability));
        type Row<'a> = (&'a Endpoint, &'a Endpoint, [(&'a str, i64); 2]);
        let table: &[Row] = &[
            (&income, &pod, [("acc_in", -500), ("acc_pod", 500)]),
            (&pod, &card, [("acc_pod", -500), ("acc_sys_clearing", 500)]),
            (&bank, &pod, [("acc_sys_clearing", -500), ("acc_pod", 500)]),
            (&Endpoint::OutsideWorld, &income, [("acc_sys_world", -500), ("acc_in", 500)]),
        ];
        for (source, destination, expected) in table {
            let legs = TransferLegs {
                source: (*source).clone(),
                destination: (*destination).clone(),
                amount: Cents::new(500),
            };
            let expected = expected.map(|(raw, cents)| posting(raw, cents));
            assert_eq!(postings_for(&legs, &system()), expected);
        }
    }

    #[test]
    fn postings_refuse_impossible_transfers() {
        let bank = account("acc_bank", AccountKind::External(ExternalAccountType::Depository));
        let card = account("acc_card", AccountKind::External(ExternalAccountType::Liability));
        let pod = account("acc_pod", AccountKind::Pod);
        let sys = account("acc_sys_world", AccountKind::Pod);
        let table: Vec<TransferLegs> = vec![
            TransferLegs { source: bank, destination: card, amount: Cents::new(100) },
            TransferLegs { source: pod.clone(), destination: pod.clone(), amount: Cents::new(100) },
            TransferLegs { source: pod.clone(), destination: sys, amount: Cents::new(100) },
            TransferLegs { source: Endpoint::OutsideWorld, destination: pod, amount: Cents::ZERO },
        ];
        for legs in table {
            let outcome = std::panic::catch_unwind(|| postings_for(&legs, &system()));
            assert!(outcome.is_err(), "{legs:?}");
        }
    }

    #[test]
    fn assert_balanced_catches_created_or_destroyed_money() {
        assert_balanced(&[]);
        assert_balanced(&[posting("acc_a", -5), posting("acc_b", 2), posting("acc_c", 3)]);
        // Partial sums beyond i64 are fine as long as the total is zero.
        assert_balanced(&[
            posting("acc_a", i64::MAX),
            posting("acc_b", i64::MAX),
            posting("acc_c", -i64::MAX),
            posting("acc_d", -i64::MAX),
        ]);
        let unbalanced: [&[Posting]; 2] = [
            &[posting("acc_a", -5), posting("acc_b", 4)],
            &[posting("acc_a", -5), posting("acc_b", 5), posting("acc_c", 0)],
        ];
        for postings in unbalanced {
            assert!(std::panic::catch_unwind(|| assert_balanced(postings)).is_err());
        }
    }

    #[test]
    fn replay_reports_overflow_with_the_account() {
        let overflowing = [posting("acc_a", i64::MAX), posting("acc_a", 1)];
        assert_eq!(
            replay(&overflowing),
            Err(LedgerError::BalanceOverflow { account: AccountId::from_raw("acc_a") })
        );
    }

    #[test]
    fn a_day_of_transfers_replays_to_ledger_balances_that_sum_to_zero() {
        // Goal: the use cases compose: deposits, accepted transfers, reservations, settlement,
        // a failure and a simulation leave balances that the postings alone reproduce.
        // Method: drive a tiny in-memory "store" through the public API and compare at the end.
        let system = system();
        let income = account("acc_in", AccountKind::IncomeSource);
        let pod = account("acc_pod", AccountKind::Pod);
        let card = account("acc_card", AccountKind::External(ExternalAccountType::Liability));
        let mut ledger: Vec<Posting> = Vec::new();
        // (legs, status, mode)
        let mut transfers: Vec<(TransferLegs, TransferStatus, ExecutionMode)> = Vec::new();

        let balance_of = |ledger: &[Posting], id: &str| {
            replay(ledger).unwrap().get(&AccountId::from_raw(id)).copied().unwrap_or_default()
        };
        let reserved_on = |transfers: &[(TransferLegs, TransferStatus, ExecutionMode)],
                           id: &str| {
            transfers
                .iter()
                .filter(|(legs, status, mode)| {
                    legs.source.account_id().is_some_and(|a| a.as_str() == id)
                        && crate::ledger::holds_reservation(
                            *status,
                            *mode,
                            legs.source.is_internal(),
                        )
                })
                .map(|(legs, _, _)| legs.amount.get())
                .sum::<i64>()
        };

        // A $5,000 paycheck arrives: booked complete at once.
        let deposit = TransferLegs {
            source: Endpoint::OutsideWorld,
            destination: income.clone(),
            amount: Cents::new(500_000),
        };
        ledger.extend(postings_for(&deposit, &system));

        // Three transfers from the income source: $1,000 to the pod, $3,500 to the card
        // (approval threshold $3,000), and a simulated $4,000 to the pod.
        let requests = [
            (pod.clone(), 100_000, ExecutionMode::Live),
            (card.clone(), 350_000, ExecutionMode::Live),
            (pod.clone(), 400_000, ExecutionMode::Simulation),
        ];
        for (destination, cents, mode) in requests {
            let available = InternalBalance::from_ledger(
                balance_of(&ledger, "acc_in"),
                Cents::new(reserved_on(&transfers, "acc_in")),
            )
            .available;
            let acceptance = plan_acceptance(&AcceptanceRequest {
                amount: Cents::new(cents),
                source_available: Some(available),
                mode,
                approval_threshold: Some(Cents::new(300_000)),
            });
            let legs =
                TransferLegs { source: income.clone(), destination, amount: Cents::new(cents) };
            transfers.push((legs, acceptance.status, mode));
        }
        let statuses: Vec<_> = transfers.iter().map(|(_, status, _)| *status).collect();
        // The simulation sees $5,000 − $1,000 − $3,500 = $500 available: insufficient.
        assert_eq!(
            statuses,
            [TransferStatus::Processing, TransferStatus::PendingApproval, TransferStatus::Error]
        );
        let balance = InternalBalance::from_ledger(
            balance_of(&ledger, "acc_in"),
            Cents::new(reserved_on(&transfers, "acc_in")),
        );
        assert_eq!(
            balance,
            InternalBalance { balance: Cents::new(500_000), available: Cents::new(50_000) }
        );

        // The pod transfer settles; the card payment is approved, then fails at the network.
        for (index, events) in [
            (0, vec![TransferEvent::Submit, TransferEvent::Settle]),
            (
                1,
                vec![
                    TransferEvent::Approve,
                    TransferEvent::Submit,
                    TransferEvent::Fail(crate::ledger::TransferErrorCode::PaymentFailed),
                ],
            ),
        ] {
            for event in events {
                let (legs, status, _) = &mut transfers[index];
                *status = transition(*status, event).unwrap();
                if *status == TransferStatus::Complete {
                    ledger.extend(postings_for(legs, &system));
                }
            }
        }

        assert_balanced(&ledger);
        let balances = replay(&ledger).unwrap();
        let expected: BTreeMap<AccountId, Cents> =
            [("acc_in", 400_000), ("acc_pod", 100_000), ("acc_sys_world", -500_000)]
                .into_iter()
                .map(|(raw, cents)| (AccountId::from_raw(raw), Cents::new(cents)))
                .collect();
        assert_eq!(balances, expected);
        assert_eq!(reserved_on(&transfers, "acc_in"), 0, "nothing is in flight any more");
    }

    #[test]
    fn external_reported_balances_follow_completed_transfers() {
        use ExternalAccountType::{Depository, Investment, Liability};
        use TransferSide::{Destination, Source};
        let plain = |cents: i64| ReportedBalances {
            balance: Cents::new(cents),
            last_statement_balance: None,
            next_payment_minimum: None,
        };
        let owed = |balance: i64, statement: Option<i64>, minimum: Option<i64>| ReportedBalances {
            balance: Cents::new(balance),
            last_statement_balance: statement.map(Cents::new),
            next_payment_minimum: minimum.map(Cents::new),
        };
        let table: &[(
            ExternalAccountType,
            ReportedBalances,
            TransferSide,
            i64,
            ReportedBalances,
        )] = &[
            (Depository, plain(10_000), Destination, 2_500, plain(12_500)),
            (Depository, plain(10_000), Source, 2_500, plain(7_500)),
            (Investment, plain(1_000), Source, 2_500, plain(-1_500)),
            // Paying $300 on $2,450 owed, statement $1,980, minimum $35.
            (
                Liability,
                owed(245_000, Some(198_000), Some(3_500)),
                Destination,
                30_000,
                owed(215_000, Some(168_000), Some(0)),
            ),
            // Overpaying leaves a credit; statement fields stop at zero; absent ones stay absent.
            (
                Liability,
                owed(1_000, Some(1_000), None),
                Destination,
                1_500,
                owed(-500, Some(0), None),
            ),
        ];
        for (account_type, before, side, cents, expected) in table {
            let after = reported_balances_after(*account_type, *before, *side, Cents::new(*cents));
            assert_eq!(after, Ok(*expected), "{account_type} {side:?} {cents}");
        }
        assert_eq!(
            reported_balances_after(Depository, plain(i64::MAX), Destination, Cents::new(1)),
            Err(Overflow)
        );
        let pull_from_card = std::panic::catch_unwind(|| {
            reported_balances_after(Liability, plain(0), Source, Cents::new(100))
        });
        assert!(pull_from_card.is_err());
    }
}
