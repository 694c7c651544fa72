//! Evaluating a rule: `evaluate(rule, facts)` decides which transfers an execution should make.
//!
//! The evaluator is a pure function. Everything it needs — the trigger amount, today's date on the
//! organization's clock, balances, liability statements, how much the rule already moved this
//! week/month/year — arrives as [`Facts`] gathered by the caller, and the answer is an
//! [`Evaluation`]: which step matched and, per action, the amount to transfer or why not. Making the
//! transfers durable (and idempotent) is the store's job. Keeping the decision pure is what lets the
//! semantics below be pinned down as a table of snapshot tests (`eval_tests.rs`).
//!
//! # Semantics
//!
//! **Steps.** Steps are tried in order; the first whose conditions pass runs its actions and no
//! later step is tried. A step without conditions always passes. When no step passes the
//! evaluation has `conditions_not_met` and plans nothing. The rule's status is not consulted:
//! whether a disabled rule may run is the caller's decision (the API says it may not).
//!
//! **Conditions.** `any` is OR and `all` is AND, nested freely. Validation refuses empty groups,
//! but should one reach the evaluator, an empty `all` is true and an empty `any` is false (the
//! identities of AND and OR). Facts: `TRANSFER_AMOUNT` is the trigger amount; `BALANCE` is the *available*
//! balance of the condition's `account_id`, else of the trigger account; `DATE` is today's day of
//! the month. Value facts: `LAST_DAY_OF_MONTH` is the last day of today's month;
//! `NEXT_PAYMENT_MINIMUM_AMOUNT` and `LAST_STATEMENT_BALANCE` read the `value_account_id` liability.
//! Conditions see the facts as given, before any action of this evaluation. **A condition whose
//! fact or operand is unknown is false whatever its operator, `NOT_EQUALS` included**: a rule that
//! cannot tell must not move money on a guess (no trigger amount on a scheduled run; an account
//! deleted since the rule was written; a liability without statement data).
//!
//! **Amounts.** Actions run top to bottom and see the effect of earlier actions of the same
//! evaluation: a planned transfer lowers what the source has available, and counts as arrived for
//! the destination's `TOP_UP` and liability figures (so `TOP_UP` twice to one destination tops up
//! once), but it does **not** make money available at the destination (incoming money counts at
//! completion, as the API's balances do), so it cannot be moved onwards in the same step.
//! - `FIXED`: the amount; the trigger amount never overrides it.
//! - `PERCENTAGE` of `INCOMING_AMOUNT`: `floor(trigger amount × bp / 10 000)`; every such action
//!   takes its share of the *full* trigger amount (no cascading). Without a trigger amount the
//!   action is skipped (`NoIncomingAmount`), as the API documents.
//! - `PERCENTAGE` of `SOURCE_ACCOUNT`: `floor(source available × bp / 10 000)`, from what is left
//!   after earlier actions, so two 50% actions on one source move 50% and then 25%.
//! - `TOP_UP`: `max(0, target − destination balance)`, where a pod's balance is its *available*
//!   balance and any other destination's is its balance (the API's definition), plus what earlier
//!   actions sent it and what live transfers already in flight will bring it
//!   ([`AccountFacts::incoming_in_flight`]).
//! - `ROUND_DOWN(multiple)`: `source available mod multiple`, the remainder whose removal leaves
//!   the source at a multiple.
//! - `NEXT_PAYMENT_MINIMUM`, `TOTAL_AMOUNT_DUE` (the balance owed), `LAST_STATEMENT_BALANCE` and
//!   `PERCENTAGE_LIABILITY_BALANCE` (`floor(owed × bp / 10 000)`) read the destination
//!   liability, less what earlier actions paid it and what is in flight to it (the API lowers all three figures when a payment
//!   completes, the statement figures not below zero): paying the minimum and then the statement
//!   balance pays the statement balance in total. Missing data fails the action
//!   (`MissingLiabilityData`).
//!
//! Negative bases (an overdrawn source, a card in credit) count as zero. Rounding is always down to
//! the cent.
//!
//! **Then, in this order:**
//! 1. A computed amount of 0 is skipped as `NothingToMove` (before caps: nothing was wanted).
//! 2. Caps. Actions with the same `group_index` in a step share one limit: the first non-null
//!    `limit` of the group (validation makes them all equal) binds every action of the group, even
//!    one without a `limit` of its own. `PER_TRANSFER` clips the amount. A periodic cap
//!    (`PER_WEEK`, `PER_MONTH`, `PER_YEAR`) has room = cap − the caller's `cap_usage` for (group,
//!    period) − everything already planned for the group in this evaluation; the amount is
//!    clipped to the room, and with no room left the action is skipped as `CapReached`.
//! 3. Below the $1.00 transfer minimum: skipped as `BelowMinimum` (counted, not a failure).
//! 4. More than the source has available: with `up_to_enabled` the available amount is sent
//!    instead (and steps 1 and 3 apply again to it); without, the action fails with
//!    `InsufficientFunds` and **every later action of the step is `NotRun`**. Skips never stop a
//!    step; only failures do.
//!
//! All money arithmetic is checked; an overflow fails the action (`Overflow`) like any other
//! failure, never panics. Assertions guard the evaluator's own invariants: a planned amount is at
//! least the minimum, at most the computed amount and at most what the source has available, and
//! a matched step has one outcome per action.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};

use crate::ids::AccountId;
use crate::ledger::AccountKind;
use crate::money::{Cents, Overflow, TRANSFER_MINIMUM};

use super::model::{
    Action, ActionKind, BASIS_POINTS_MAX, CapPeriod, Condition, ConditionGroup, Fact, Operand,
    PercentageTarget, Rule, Step, TransferCap, ValueFact,
};
use super::schedule::last_day_of_month;

/// Everything the evaluator may know, gathered by the caller at execution time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The deposit amount (`ON_FUNDS_TRANSFERRED`) or `manual_execute_amount` (manual trigger);
    /// `None` on scheduled runs and manual runs without an amount.
    pub trigger_amount: Option<Cents>,
    /// Today on the organization's clock (for `DATE` and `LAST_DAY_OF_MONTH`).
    pub today: NaiveDate,
    /// Every account the rule mentions. An account missing here is treated as deleted.
    pub accounts: BTreeMap<AccountId, AccountFacts>,
    /// What this rule already moved in the current week/month/year, per (group index, period).
    /// Missing entries are zero; `PER_TRANSFER` entries are ignored.
    pub cap_usage: BTreeMap<(u32, CapPeriod), Cents>,
}

/// One account's state at execution time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountFacts {
    /// What kind of account it is.
    pub kind: AccountKind,
    /// What may be moved out now: the `BALANCE` fact, the limit on a source, and what a pod's
    /// `TOP_UP` fills. The API gives external accounts no available balance; the caller decides
    /// what they may send (their balance is the natural choice).
    pub available_balance: Cents,
    /// The settled balance: what `TOP_UP` fills for accounts other than pods.
    pub balance: Cents,
    /// Money already on its way in: live transfers to this account that are in flight
    /// (`pending_approval`, `processing`, `pending`). `TOP_UP` and the liability actions count it
    /// as arrived, exactly like a transfer planned by an earlier action, so two runs in a row (or
    /// a run while the last one's transfer settles) never fill the same gap twice.
    pub incoming_in_flight: Cents,
    /// Statement data, for liabilities that have it.
    pub liability: Option<LiabilityFacts>,
}

/// A liability's statement data, as last reported by its institution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiabilityFacts {
    /// The balance owed now (`TOTAL_AMOUNT_DUE`, `PERCENTAGE_LIABILITY_BALANCE`).
    pub current_balance_owed: Cents,
    /// The last statement's balance, when known.
    pub last_statement_balance: Option<Cents>,
    /// The next payment's minimum, when known.
    pub next_payment_minimum: Option<Cents>,
}

/// The decision for one execution of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    /// The index of the step that ran, if any.
    pub step_index_matched: Option<usize>,
    /// `true` when no step's conditions passed (then `outcomes` is empty).
    pub conditions_not_met: bool,
    /// One outcome per action of the matched step, in order.
    pub outcomes: Vec<ActionOutcome>,
}

/// What became of one action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionOutcome {
    /// The action's index within its step.
    pub action_index: usize,
    /// The action's source.
    pub source: AccountId,
    /// The action's destination.
    pub destination: AccountId,
    /// Planned, skipped, failed or not run.
    pub result: ActionResult,
}

/// The result of one action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionResult {
    /// Transfer this amount (at least [`TRANSFER_MINIMUM`]).
    Planned(Cents),
    /// Nothing to transfer, and that is fine.
    Skipped(SkipReason),
    /// The action could not be carried out; later actions in the step did not run.
    Failed(FailReason),
    /// An earlier action in the step failed.
    NotRun,
}

/// Why an action moved nothing without failing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// The amount came out below the $1.00 transfer minimum.
    BelowMinimum {
        /// The amount after caps (and after `up_to_enabled` reduced it).
        computed: Cents,
    },
    /// A cap of this period has no room left.
    CapReached {
        /// The period of the cap that is exhausted.
        period: CapPeriod,
    },
    /// The amount came out as zero (or the up-to source had nothing available).
    NothingToMove,
    /// A `PERCENTAGE` of `INCOMING_AMOUNT` in a run without a trigger amount.
    NoIncomingAmount,
}

/// Why an action failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailReason {
    /// The source has less available than the amount, and `up_to_enabled` is off.
    InsufficientFunds {
        /// The amount the action wanted to move.
        needed: Cents,
        /// The source's (simulated) available balance.
        available: Cents,
    },
    /// The destination liability lacks the statement figure this action needs.
    MissingLiabilityData(LiabilityDatum),
    /// The source or destination is not among the facts (deleted since the rule was saved).
    UnknownAccount(AccountId),
    /// Money arithmetic left the range of `i64`.
    Overflow,
    /// The stored action has parameters validation would have refused (corrupted storage).
    InvalidAction(&'static str),
}

/// A figure of a liability's statement data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiabilityDatum {
    /// The current balance owed (missing only when the account has no liability data at all).
    CurrentBalanceOwed,
    /// The last statement balance.
    LastStatementBalance,
    /// The next payment minimum.
    NextPaymentMinimum,
}

/// One transfer to make, from a [`ActionResult::Planned`] outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedTransfer {
    /// The action's index within the matched step.
    pub action_index: usize,
    /// Debit this account.
    pub source: AccountId,
    /// Credit this account.
    pub destination: AccountId,
    /// This much (at least [`TRANSFER_MINIMUM`]).
    pub amount: Cents,
}

impl From<Overflow> for FailReason {
    fn from(_: Overflow) -> Self {
        FailReason::Overflow
    }
}

impl Evaluation {
    /// The transfers to make, in action order.
    pub fn planned_transfers(&self) -> Vec<PlannedTransfer> {
        self.outcomes
            .iter()
            .filter_map(|outcome| match outcome.result {
                ActionResult::Planned(amount) => Some(PlannedTransfer {
                    action_index: outcome.action_index,
                    source: outcome.source.clone(),
                    destination: outcome.destination.clone(),
                    amount,
                }),
                _ => None,
            })
            .collect()
    }

    /// Actions that planned a transfer.
    pub fn planned_count(&self) -> u32 {
        self.count(|result| matches!(result, ActionResult::Planned(_)))
    }

    /// Actions skipped (below minimum, cap reached, nothing to move, no incoming amount).
    pub fn skipped_count(&self) -> u32 {
        self.count(|result| matches!(result, ActionResult::Skipped(_)))
    }

    /// Actions that failed (at most one per evaluation: a failure stops the step).
    pub fn failed_count(&self) -> u32 {
        self.count(|result| matches!(result, ActionResult::Failed(_)))
    }

    /// Actions not run because an earlier one failed.
    pub fn not_run_count(&self) -> u32 {
        self.count(|result| matches!(result, ActionResult::NotRun))
    }

    fn count(&self, predicate: impl Fn(&ActionResult) -> bool) -> u32 {
        let count = self.outcomes.iter().filter(|outcome| predicate(&outcome.result)).count();
        u32::try_from(count).expect("a step has at most ACTIONS_PER_STEP_MAX actions")
    }
}

/// Decides what one execution of `rule` does, given `facts`. See the module docs for semantics.
pub fn evaluate(rule: &Rule, facts: &Facts) -> Evaluation {
    let trigger_account = rule.trigger.account_id.as_ref();
    for (step_index, step) in rule.steps.iter().enumerate() {
        let passes =
            step.conditions.as_ref().is_none_or(|group| group_holds(group, trigger_account, facts));
        if passes {
            let outcomes = run_step(step, facts);
            assert_eq!(outcomes.len(), step.actions.len());
            return Evaluation {
                step_index_matched: Some(step_index),
                conditions_not_met: false,
                outcomes,
            };
        }
    }
    Evaluation { step_index_matched: None, conditions_not_met: true, outcomes: Vec::new() }
}

fn group_holds(group: &ConditionGroup, trigger_account: Option<&AccountId>, facts: &Facts) -> bool {
    match group {
        ConditionGroup::Condition(condition) => condition_holds(condition, trigger_account, facts),
        ConditionGroup::Any(items) => {
            items.iter().any(|item| group_holds(item, trigger_account, facts))
        }
        ConditionGroup::All(items) => {
            items.iter().all(|item| group_holds(item, trigger_account, facts))
        }
    }
}

fn condition_holds(
    condition: &Condition,
    trigger_account: Option<&AccountId>,
    facts: &Facts,
) -> bool {
    let fact = match condition.fact {
        Fact::TransferAmount => facts.trigger_amount.map(Cents::get),
        Fact::Balance => condition
            .account_id
            .as_ref()
            .or(trigger_account)
            .and_then(|account| facts.accounts.get(account))
            .map(|account| account.available_balance.get()),
        Fact::Date => Some(i64::from(facts.today.day())),
    };
    let operand = match condition.operand {
        Operand::Value(value) => Some(value),
        Operand::Fact(value_fact) => value_fact_of(value_fact, condition, facts),
    };
    match (fact, operand) {
        (Some(fact), Some(operand)) => condition.operator.compare(fact, operand),
        // Unknown facts make the condition false, whatever the operator.
        _ => false,
    }
}

fn value_fact_of(value_fact: ValueFact, condition: &Condition, facts: &Facts) -> Option<i64> {
    let liability = || {
        let account = condition.value_account_id.as_ref()?;
        facts.accounts.get(account)?.liability
    };
    match value_fact {
        ValueFact::LastDayOfMonth => {
            last_day_of_month(facts.today.year(), facts.today.month()).map(i64::from)
        }
        ValueFact::NextPaymentMinimumAmount => liability()?.next_payment_minimum.map(Cents::get),
        ValueFact::LastStatementBalance => liability()?.last_statement_balance.map(Cents::get),
    }
}

/// What earlier actions of the step planned, on top of the facts (which are never modified).
struct Simulation<'facts> {
    facts: &'facts Facts,
    /// Each group's limit: the first non-null `limit` among the step's actions of that group.
    group_limits: BTreeMap<u32, TransferCap>,
    planned_out: BTreeMap<AccountId, Cents>,
    planned_in: BTreeMap<AccountId, Cents>,
    planned_by_group: BTreeMap<u32, Cents>,
}

fn run_step(step: &Step, facts: &Facts) -> Vec<ActionOutcome> {
    let mut group_limits = BTreeMap::new();
    for action in &step.actions {
        if let Some(limit) = action.limit {
            group_limits.entry(action.group_index).or_insert(limit);
        }
    }
    let mut simulation = Simulation {
        facts,
        group_limits,
        planned_out: BTreeMap::new(),
        // Money in flight towards an account counts as arrived, as if an earlier action planned it.
        planned_in: facts
            .accounts
            .iter()
            .filter(|(_, account)| account.incoming_in_flight.is_positive())
            .map(|(id, account)| (id.clone(), account.incoming_in_flight))
            .collect(),
        planned_by_group: BTreeMap::new(),
    };
    let mut failed = false;
    let mut outcomes = Vec::with_capacity(step.actions.len());
    for (action_index, action) in step.actions.iter().enumerate() {
        let result = if failed {
            ActionResult::NotRun
        } else {
            simulation.run_action(action).unwrap_or_else(ActionResult::Failed)
        };
        failed = failed || matches!(result, ActionResult::Failed(_));
        outcomes.push(ActionOutcome {
            action_index,
            source: action.source.clone(),
            destination: action.destination.clone(),
            result,
        });
    }
    assert!(outcomes.iter().filter(|o| matches!(o.result, ActionResult::Failed(_))).count() <= 1);
    outcomes
}

/// What an earlier action planned for `account` in `planned`, zero if nothing.
fn planned(planned: &BTreeMap<AccountId, Cents>, account: &AccountId) -> Cents {
    planned.get(account).copied().unwrap_or(Cents::ZERO)
}

impl Simulation<'_> {
    fn account(&self, id: &AccountId) -> Result<&AccountFacts, FailReason> {
        self.facts.accounts.get(id).ok_or_else(|| FailReason::UnknownAccount(id.clone()))
    }

    /// What `id` has available now: its available balance less what earlier actions take out.
    fn available(&self, id: &AccountId) -> Result<Cents, FailReason> {
        let account = self.account(id)?;
        Ok(account.available_balance.checked_sub(planned(&self.planned_out, id))?)
    }

    /// The balance `TOP_UP` fills: a pod's available balance, any other account's balance; plus
    /// what earlier actions sent, less what they took.
    fn top_up_balance(&self, id: &AccountId) -> Result<Cents, FailReason> {
        let account = self.account(id)?;
        let base = match account.kind {
            AccountKind::Pod => account.available_balance,
            AccountKind::IncomeSource | AccountKind::External(_) => account.balance,
        };
        let balance = base
            .checked_add(planned(&self.planned_in, id))?
            .checked_sub(planned(&self.planned_out, id))?;
        Ok(balance)
    }

    /// Steps 1–4 of the module docs for one action; plans it when it moves money.
    fn run_action(&mut self, action: &Action) -> Result<ActionResult, FailReason> {
        let Some(computed) = self.compute_amount(action)? else {
            return Ok(ActionResult::Skipped(SkipReason::NoIncomingAmount));
        };
        let computed = computed.max(Cents::ZERO);
        if computed == Cents::ZERO {
            return Ok(ActionResult::Skipped(SkipReason::NothingToMove));
        }
        let capped = match self.group_limits.get(&action.group_index).copied() {
            None => computed,
            Some(cap) => {
                let room = self.cap_room(action.group_index, cap)?;
                if !room.is_positive() {
                    return Ok(ActionResult::Skipped(SkipReason::CapReached {
                        period: cap.period,
                    }));
                }
                computed.min(room)
            }
        };
        if capped < TRANSFER_MINIMUM {
            return Ok(ActionResult::Skipped(SkipReason::BelowMinimum { computed: capped }));
        }
        let available = self.available(&action.source)?;
        let amount = if capped <= available {
            capped
        } else if action.up_to_enabled {
            if !available.is_positive() {
                return Ok(ActionResult::Skipped(SkipReason::NothingToMove));
            }
            if available < TRANSFER_MINIMUM {
                return Ok(ActionResult::Skipped(SkipReason::BelowMinimum { computed: available }));
            }
            available
        } else {
            return Err(FailReason::InsufficientFunds { needed: capped, available });
        };
        assert!(amount >= TRANSFER_MINIMUM);
        assert!(amount <= available);
        assert!(amount <= computed);
        self.plan(action, amount)?;
        Ok(ActionResult::Planned(amount))
    }

    /// The amount the action asks for, before caps; `None` for a percentage of a missing
    /// incoming amount.
    fn compute_amount(&self, action: &Action) -> Result<Option<Cents>, FailReason> {
        // Both accounts must still exist, whatever the action reads.
        self.account(&action.source)?;
        let destination = self.account(&action.destination)?;
        let liability = destination.liability;
        let paid = planned(&self.planned_in, &action.destination);
        let amount = match action.kind {
            ActionKind::Fixed { amount } => amount,
            ActionKind::Percentage { basis_points, target } => {
                let base = match target {
                    PercentageTarget::IncomingAmount => match self.facts.trigger_amount {
                        Some(amount) => amount,
                        None => return Ok(None),
                    },
                    PercentageTarget::SourceAccount => self.available(&action.source)?,
                };
                percentage_of(base, basis_points)?
            }
            ActionKind::TopUp { target_balance } => {
                target_balance.checked_sub(self.top_up_balance(&action.destination)?)?
            }
            ActionKind::RoundDown { multiple } => {
                if !multiple.is_positive() {
                    return Err(FailReason::InvalidAction("ROUND_DOWN multiple is not positive"));
                }
                let available = self.available(&action.source)?.max(Cents::ZERO).get();
                let remainder = available.checked_rem(multiple.get()).ok_or(Overflow)?;
                assert!((0..multiple.get()).contains(&remainder));
                Cents::new(remainder)
            }
            ActionKind::NextPaymentMinimum => {
                let minimum = liability.and_then(|facts| facts.next_payment_minimum);
                let minimum = minimum.ok_or(missing(LiabilityDatum::NextPaymentMinimum))?;
                minimum.checked_sub(paid)?
            }
            ActionKind::LastStatementBalance => {
                let statement = liability.and_then(|facts| facts.last_statement_balance);
                let statement = statement.ok_or(missing(LiabilityDatum::LastStatementBalance))?;
                statement.checked_sub(paid)?
            }
            ActionKind::TotalAmountDue => owed(liability)?.checked_sub(paid)?,
            ActionKind::PercentageLiabilityBalance { basis_points } => {
                percentage_of(owed(liability)?.checked_sub(paid)?, basis_points)?
            }
        };
        Ok(Some(amount))
    }

    /// How much more the group's cap lets it move now (zero or negative: no room).
    fn cap_room(&self, group_index: u32, cap: TransferCap) -> Result<Cents, FailReason> {
        if !cap.period.is_periodic() {
            return Ok(cap.amount);
        }
        let used = self.facts.cap_usage.get(&(group_index, cap.period)).copied();
        let planned = self.planned_by_group.get(&group_index).copied();
        let room = cap
            .amount
            .checked_sub(used.unwrap_or(Cents::ZERO))?
            .checked_sub(planned.unwrap_or(Cents::ZERO))?;
        Ok(room)
    }

    /// Records a planned transfer for the actions after it.
    fn plan(&mut self, action: &Action, amount: Cents) -> Result<(), FailReason> {
        assert!(amount.is_positive());
        let out = planned(&self.planned_out, &action.source).checked_add(amount)?;
        let into = planned(&self.planned_in, &action.destination).checked_add(amount)?;
        let group = self.planned_by_group.get(&action.group_index).copied();
        let group = group.unwrap_or(Cents::ZERO).checked_add(amount)?;
        // Every fallible computation is done: commit, so that a failure leaves no trace.
        self.planned_out.insert(action.source.clone(), out);
        self.planned_in.insert(action.destination.clone(), into);
        self.planned_by_group.insert(action.group_index, group);
        Ok(())
    }
}

fn missing(datum: LiabilityDatum) -> FailReason {
    FailReason::MissingLiabilityData(datum)
}

/// The balance owed of a liability, which every liability with data has.
fn owed(liability: Option<LiabilityFacts>) -> Result<Cents, FailReason> {
    let liability = liability.ok_or(missing(LiabilityDatum::CurrentBalanceOwed))?;
    Ok(liability.current_balance_owed)
}

/// `floor(base × basis_points / 10 000)`, with a negative base counting as zero.
fn percentage_of(base: Cents, basis_points: u32) -> Result<Cents, FailReason> {
    if basis_points > BASIS_POINTS_MAX {
        return Err(FailReason::InvalidAction("percentage above 100"));
    }
    let amount = base.max(Cents::ZERO).percentage_floor(basis_points)?;
    assert!(amount <= base.max(Cents::ZERO));
    Ok(amount)
}
