//! The evaluation semantics as a table: one line per case, one snapshot per case.
//!
//! Each case is `case!(name, rule, facts)` with a doc comment saying what it shows and the
//! arithmetic by hand; the doc comment becomes the snapshot's description, so a reviewer reads the
//! claim and the answer side by side in `snapshots/`. Rules and facts are written with the small
//! builders below rather than JSON: they are shorter, and the compiler checks them.
//!
//! Unless a case says otherwise, facts are: today 2024-03-15; no trigger amount; accounts
//! `income` (income source), `savings` and `bills` (pods), `checking` (external depository) and
//! `card` (external liability, no statement data), all with $0.00; no cap usage.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::ids::{AccountId, RuleId};
use crate::ledger::{AccountKind, ExternalAccountType};
use crate::money::Cents;

use super::eval::{
    AccountFacts, ActionResult, Evaluation, Facts, FailReason, LiabilityFacts, SkipReason, evaluate,
};
use super::model::{
    Action, ActionKind, CapPeriod, Condition, ConditionGroup, Fact, Operand, Operator,
    PercentageTarget, Rule, RuleStatus, Step, TransferCap, Trigger, TriggerKind, ValueFact,
};

pub(super) const INCOME: &str = "acc_income";
pub(super) const SAVINGS: &str = "acc_savings";
pub(super) const BILLS: &str = "acc_bills";
pub(super) const CHECKING: &str = "acc_checking";
pub(super) const CARD: &str = "acc_card";
pub(super) const DELETED: &str = "acc_deleted";

pub(super) fn id(account: &str) -> AccountId {
    AccountId::from_raw(account)
}

// ---- Rules ---------------------------------------------------------------------------------

pub(super) fn rule(kind: TriggerKind, account: Option<&str>, steps: Vec<Step>) -> Rule {
    Rule {
        id: RuleId::from_raw("rule_test"),
        nickname: "test".to_owned(),
        description: None,
        status: RuleStatus::Enabled,
        trigger: Trigger { kind, account_id: account.map(id), schedule: None },
        steps,
    }
}

/// An `ON_FUNDS_TRANSFERRED` rule on `income`.
pub(super) fn on_deposit(steps: Vec<Step>) -> Rule {
    rule(TriggerKind::OnFundsTransferred, Some(INCOME), steps)
}

/// A `MANUAL` rule whose trigger account is `income`.
pub(super) fn manual(steps: Vec<Step>) -> Rule {
    rule(TriggerKind::Manual, Some(INCOME), steps)
}

/// A step without conditions.
pub(super) fn always(actions: Vec<Action>) -> Step {
    Step { conditions: None, actions }
}

pub(super) fn when(conditions: ConditionGroup, actions: Vec<Action>) -> Step {
    Step { conditions: Some(conditions), actions }
}

fn condition(fact: Fact, operator: Operator, operand: Operand) -> Condition {
    Condition { fact, operator, operand, account_id: None, value_account_id: None }
}

/// `fact operator value`.
pub(super) fn test(fact: Fact, operator: Operator, value: i64) -> ConditionGroup {
    ConditionGroup::Condition(condition(fact, operator, Operand::Value(value)))
}

/// `BALANCE(account) operator value`.
pub(super) fn balance_of(account: &str, operator: Operator, value: i64) -> ConditionGroup {
    let mut condition = condition(Fact::Balance, operator, Operand::Value(value));
    condition.account_id = Some(id(account));
    ConditionGroup::Condition(condition)
}

/// `fact operator value_fact(value_account)`.
pub(super) fn test_fact(
    fact: Fact,
    operator: Operator,
    value_fact: ValueFact,
    value_account: Option<&str>,
) -> ConditionGroup {
    let mut condition = condition(fact, operator, Operand::Fact(value_fact));
    condition.value_account_id = value_account.map(id);
    ConditionGroup::Condition(condition)
}

pub(super) fn any(members: Vec<ConditionGroup>) -> ConditionGroup {
    ConditionGroup::Any(members)
}

pub(super) fn all(members: Vec<ConditionGroup>) -> ConditionGroup {
    ConditionGroup::All(members)
}

// ---- Actions -------------------------------------------------------------------------------

pub(super) fn action(kind: ActionKind, source: &str, destination: &str) -> Action {
    Action {
        kind,
        source: id(source),
        destination: id(destination),
        group_index: 0,
        up_to_enabled: false,
        limit: None,
    }
}

pub(super) fn fixed(source: &str, destination: &str, cents: i64) -> Action {
    action(ActionKind::Fixed { amount: Cents::new(cents) }, source, destination)
}

pub(super) fn of_incoming(source: &str, destination: &str, basis_points: u32) -> Action {
    let target = PercentageTarget::IncomingAmount;
    action(ActionKind::Percentage { basis_points, target }, source, destination)
}

pub(super) fn of_source(source: &str, destination: &str, basis_points: u32) -> Action {
    let target = PercentageTarget::SourceAccount;
    action(ActionKind::Percentage { basis_points, target }, source, destination)
}

pub(super) fn top_up(source: &str, destination: &str, target_cents: i64) -> Action {
    let kind = ActionKind::TopUp { target_balance: Cents::new(target_cents) };
    action(kind, source, destination)
}

pub(super) fn round_down(source: &str, destination: &str, multiple_cents: i64) -> Action {
    action(ActionKind::RoundDown { multiple: Cents::new(multiple_cents) }, source, destination)
}

impl Action {
    pub(super) fn up_to(mut self) -> Self {
        self.up_to_enabled = true;
        self
    }

    pub(super) fn cap(mut self, period: CapPeriod, cents: i64) -> Self {
        self.limit = Some(TransferCap { period, amount: Cents::new(cents) });
        self
    }

    pub(super) fn group(mut self, group_index: u32) -> Self {
        self.group_index = group_index;
        self
    }
}

// ---- Facts ---------------------------------------------------------------------------------

fn facts() -> Facts {
    let accounts = [
        (INCOME, AccountKind::IncomeSource),
        (SAVINGS, AccountKind::Pod),
        (BILLS, AccountKind::Pod),
        (CHECKING, AccountKind::External(ExternalAccountType::Depository)),
        (CARD, AccountKind::External(ExternalAccountType::Liability)),
    ];
    Facts {
        trigger_amount: None,
        today: NaiveDate::from_ymd_opt(2024, 3, 15).expect("date"),
        accounts: accounts
            .into_iter()
            .map(|(account, kind)| {
                let facts = AccountFacts {
                    kind,
                    available_balance: Cents::ZERO,
                    balance: Cents::ZERO,
                    incoming_in_flight: Cents::ZERO,
                    liability: None,
                };
                (id(account), facts)
            })
            .collect(),
        cap_usage: BTreeMap::new(),
    }
}

impl Facts {
    /// The trigger amount (a deposit, or a manual execute amount).
    fn amount(mut self, cents: i64) -> Self {
        self.trigger_amount = Some(Cents::new(cents));
        self
    }

    fn today(mut self, year: i32, month: u32, day: u32) -> Self {
        self.today = NaiveDate::from_ymd_opt(year, month, day).expect("date");
        self
    }

    /// Sets both the available balance and the balance.
    fn funds(self, account: &str, cents: i64) -> Self {
        self.balances(account, cents, cents)
    }

    fn balances(mut self, account: &str, available_cents: i64, balance_cents: i64) -> Self {
        let facts = self.accounts.get_mut(&id(account)).expect("known test account");
        facts.available_balance = Cents::new(available_cents);
        facts.balance = Cents::new(balance_cents);
        self
    }

    /// The card's statement data: balance owed, last statement balance, next payment minimum.
    fn card(mut self, owed: i64, statement: Option<i64>, minimum: Option<i64>) -> Self {
        let facts = self.accounts.get_mut(&id(CARD)).expect("card");
        facts.liability = Some(LiabilityFacts {
            current_balance_owed: Cents::new(owed),
            last_statement_balance: statement.map(Cents::new),
            next_payment_minimum: minimum.map(Cents::new),
        });
        self
    }

    fn used(mut self, group_index: u32, period: CapPeriod, cents: i64) -> Self {
        self.cap_usage.insert((group_index, period), Cents::new(cents));
        self
    }
}

// ---- The check -----------------------------------------------------------------------------

/// What a snapshot shows: the matched step, one line per action, the counters.
#[derive(serde::Serialize)]
struct Rendering {
    matched: String,
    outcomes: Vec<String>,
    counts: String,
}

fn render(rule: &Rule, evaluation: &Evaluation) -> Rendering {
    let matched = match evaluation.step_index_matched {
        Some(index) => format!("step {index}"),
        None => "none (conditions not met)".to_owned(),
    };
    let outcomes = evaluation
        .outcomes
        .iter()
        .map(|outcome| {
            let step = evaluation.step_index_matched.expect("outcomes only with a matched step");
            let kind = rule.steps[step].actions[outcome.action_index].kind.action_type();
            let short =
                |account: &AccountId| account.as_str().trim_start_matches("acc_").to_owned();
            format!(
                "{} {kind} {} -> {}: {}",
                outcome.action_index,
                short(&outcome.source),
                short(&outcome.destination),
                render_result(&outcome.result)
            )
        })
        .collect();
    let counts = format!(
        "planned {}, skipped {}, failed {}, not run {}",
        evaluation.planned_count(),
        evaluation.skipped_count(),
        evaluation.failed_count(),
        evaluation.not_run_count()
    );
    Rendering { matched, outcomes, counts }
}

fn render_result(result: &ActionResult) -> String {
    match result {
        ActionResult::Planned(amount) => format!("planned {amount}"),
        ActionResult::Skipped(SkipReason::BelowMinimum { computed }) => {
            format!("skipped, below the $1.00 minimum ({computed})")
        }
        ActionResult::Skipped(SkipReason::CapReached { period }) => {
            format!("skipped, {period} cap reached")
        }
        ActionResult::Skipped(SkipReason::NothingToMove) => "skipped, nothing to move".to_owned(),
        ActionResult::Skipped(SkipReason::NoIncomingAmount) => {
            "skipped, no incoming amount".to_owned()
        }
        ActionResult::Failed(FailReason::InsufficientFunds { needed, available }) => {
            format!("FAILED, insufficient funds (needed {needed}, available {available})")
        }
        ActionResult::Failed(FailReason::MissingLiabilityData(datum)) => {
            format!("FAILED, missing liability data ({datum:?})")
        }
        ActionResult::Failed(FailReason::UnknownAccount(account)) => {
            format!("FAILED, unknown account {account}")
        }
        ActionResult::Failed(FailReason::Overflow) => "FAILED, overflow".to_owned(),
        ActionResult::Failed(FailReason::InvalidAction(why)) => {
            format!("FAILED, invalid action ({why})")
        }
        ActionResult::NotRun => "not run".to_owned(),
    }
}

/// Goal: pin what `evaluate` decides for one rule and one set of facts. Method: evaluate, check
/// the evaluation's internal consistency, and snapshot a readable rendering under `name`, with
/// the case's doc comment (the claim and the hand computation) as the snapshot description.
#[track_caller]
fn check(name: &str, description: &str, rule: Rule, facts: Facts) {
    let evaluation = evaluate(&rule, &facts);
    assert_eq!(evaluation.conditions_not_met, evaluation.step_index_matched.is_none());
    let planned = evaluation.planned_transfers();
    assert_eq!(planned.len(), usize::try_from(evaluation.planned_count()).unwrap());
    assert!(planned.iter().all(|transfer| transfer.amount >= crate::money::TRANSFER_MINIMUM));
    assert!(evaluation.failed_count() <= 1);
    let rendering = render(&rule, &evaluation);
    let mut settings = insta::Settings::clone_current();
    let description: Vec<&str> = description.lines().map(str::trim).collect();
    settings.set_description(description.join(" "));
    settings.set_omit_expression(true);
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_yaml_snapshot!(format!("eval__{name}"), rendering));
}

/// One `#[test]` per case, named after it; the doc comment becomes the snapshot description.
macro_rules! case {
    ($(#[doc = $doc:literal])+ $name:ident: $rule:expr, $facts:expr $(,)?) => {
        $(#[doc = $doc])+
        #[test]
        fn $name() {
            check(stringify!($name), concat!($($doc, "\n"),+), $rule, $facts);
        }
    };
}

use CapPeriod::{PerMonth, PerTransfer, PerWeek, PerYear};
use Fact::{Balance, Date, TransferAmount};
use Operator::{Equals, GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual, NotEquals};

// ---- Action types --------------------------------------------------------------------------

case! {
    /// FIXED moves its amount: $50.00 of a $1,000.00 deposit.
    fixed_moves_its_amount:
    on_deposit(vec![always(vec![fixed(INCOME, SAVINGS, 5_000)])]),
    facts().amount(100_000).funds(INCOME, 100_000),
}

case! {
    /// FIXED is never overridden by the trigger amount: a manual run with an execute amount of
    /// $200.00 still moves the fixed $50.00.
    fixed_ignores_the_trigger_amount:
    manual(vec![always(vec![fixed(INCOME, SAVINGS, 5_000)])]),
    facts().amount(20_000).funds(INCOME, 100_000),
}

case! {
    /// 20% of a $1,234.56 deposit: 123 456 × 2 000 / 10 000 = 24 691.2, rounded down to $246.91.
    percentage_of_incoming_rounds_down:
    on_deposit(vec![always(vec![of_incoming(INCOME, SAVINGS, 2_000)])]),
    facts().amount(123_456).funds(INCOME, 123_456),
}

case! {
    /// Several INCOMING_AMOUNT percentages each take their share of the full $1,000.00 deposit
    /// (no cascading): 30% = $300.00, 30% = $300.00, 40% = $400.00 (cascading would have made
    /// the last 40% of $400.00).
    percentages_share_the_full_incoming_amount:
    on_deposit(vec![always(vec![
        of_incoming(INCOME, SAVINGS, 3_000),
        of_incoming(INCOME, BILLS, 3_000),
        of_incoming(INCOME, CHECKING, 4_000),
    ])]),
    facts().amount(100_000).funds(INCOME, 100_000),
}

case! {
    /// Rounding edges on a $100.01 deposit: 33.33% is 3 333.33 → $33.33; 0.01% is 1.0001 → 1
    /// cent, below the minimum; 66.67% is 6 667.67 → $66.67. One cent stays behind.
    percentage_rounding_edges:
    on_deposit(vec![always(vec![
        of_incoming(INCOME, SAVINGS, 3_333),
        of_incoming(INCOME, BILLS, 1),
        of_incoming(INCOME, CHECKING, 6_667),
    ])]),
    facts().amount(10_001).funds(INCOME, 10_001),
}

case! {
    /// 33.33% of 100 cents is 33.33 → 33 cents: below the $1.00 minimum, skipped.
    percentage_of_one_dollar_is_below_the_minimum:
    on_deposit(vec![always(vec![of_incoming(INCOME, SAVINGS, 3_333)])]),
    facts().amount(100).funds(INCOME, 100),
}

case! {
    /// An INCOMING_AMOUNT percentage in a run without a trigger amount (a scheduled run) is
    /// skipped, as the API documents (its base is 0); the next action still runs.
    percentage_of_incoming_without_trigger_amount_is_skipped:
    rule(TriggerKind::Scheduled, None, vec![always(vec![
        of_incoming(INCOME, SAVINGS, 1_000),
        fixed(INCOME, BILLS, 1_000),
    ])]),
    facts().funds(INCOME, 100_000),
}

case! {
    /// SOURCE_ACCOUNT percentages read the simulated available balance: 50% of $100.00 is
    /// $50.00, then 50% of the remaining $50.00 is $25.00.
    percentage_of_source_sees_earlier_actions:
    manual(vec![always(vec![
        of_source(INCOME, SAVINGS, 5_000),
        of_source(INCOME, BILLS, 5_000),
    ])]),
    facts().funds(INCOME, 10_000),
}

case! {
    /// SOURCE_ACCOUNT percentages use the available balance ($80.00), not the balance ($100.00):
    /// 25% is $20.00. An overdrawn source (-$5.00) counts as zero: nothing to move.
    percentage_of_source_uses_available_balance:
    manual(vec![always(vec![
        of_source(INCOME, SAVINGS, 2_500),
        of_source(BILLS, SAVINGS, 2_500),
    ])]),
    facts().balances(INCOME, 8_000, 10_000).funds(BILLS, -500),
}

case! {
    /// TOP_UP savings ($300.00) to $500.00 moves $200.00; a second TOP_UP of savings to $500.00
    /// sees the first and moves nothing; bills already holds $120.00, above its $100.00 target.
    top_up_to_target:
    manual(vec![always(vec![
        top_up(INCOME, SAVINGS, 50_000),
        top_up(INCOME, SAVINGS, 50_000),
        top_up(INCOME, BILLS, 10_000),
    ])]),
    facts().funds(INCOME, 100_000).funds(SAVINGS, 30_000).funds(BILLS, 12_000),
}

/// A transfer already on its way to savings counts as arrived for `TOP_UP`: savings holds $300.00
/// with $150.00 in flight, so topping it up to $500.00 moves $50.00, and with $200.00 or more in
/// flight nothing at all (a second trigger while the first run's transfer settles).
#[test]
fn top_up_counts_money_in_flight() {
    let rule = manual(vec![always(vec![top_up(INCOME, SAVINGS, 50_000)])]);
    for (in_flight, expected) in [(0, Some(20_000)), (15_000, Some(5_000)), (20_000, None)] {
        let mut facts = facts().funds(INCOME, 100_000).funds(SAVINGS, 30_000);
        facts.accounts.get_mut(&id(SAVINGS)).expect("savings").incoming_in_flight =
            Cents::new(in_flight);
        let planned: Vec<i64> =
            evaluate(&rule, &facts).planned_transfers().iter().map(|p| p.amount.get()).collect();
        assert_eq!(planned, expected.into_iter().collect::<Vec<_>>(), "in flight {in_flight}");
    }
}

case! {
    /// TOP_UP reads a pod's available balance ($300.00 of a $450.00 balance: $200.00 to reach
    /// $500.00) and an external account's balance ($450.00: $50.00 to reach $500.00).
    top_up_reads_pod_available_and_external_balance:
    manual(vec![always(vec![top_up(INCOME, SAVINGS, 50_000), top_up(INCOME, CHECKING, 50_000)])]),
    facts().funds(INCOME, 100_000).balances(SAVINGS, 30_000, 45_000).balances(CHECKING, 0, 45_000),
}

case! {
    /// ROUND_DOWN to $100.00 multiples: $1,234.56 available leaves a $34.56 remainder, moved. A
    /// second ROUND_DOWN to $10.00 finds $1,200.00, already a multiple: nothing to move. On
    /// savings ($500.01, multiple $1.00) the remainder is 1 cent: below the minimum.
    round_down_sweeps_the_remainder:
    manual(vec![always(vec![
        round_down(INCOME, BILLS, 10_000),
        round_down(INCOME, BILLS, 1_000),
        round_down(SAVINGS, BILLS, 100),
    ])]),
    facts().funds(INCOME, 123_456).funds(SAVINGS, 50_001),
}

case! {
    /// Liability payments treat the card's figures as outstanding amounts: the $25.00 minimum,
    /// then the statement balance less what was just paid ($800.00 − $25.00 = $775.00), then the
    /// balance owed less both ($1,200.00 − $800.00 = $400.00); a final 10% of the balance owed
    /// finds $0.00 owed: nothing to move. Total paid: the $1,200.00 owed.
    liability_payments_see_earlier_payments:
    manual(vec![always(vec![
        action(ActionKind::NextPaymentMinimum, INCOME, CARD),
        action(ActionKind::LastStatementBalance, INCOME, CARD),
        action(ActionKind::TotalAmountDue, INCOME, CARD),
        action(ActionKind::PercentageLiabilityBalance { basis_points: 1_000 }, INCOME, CARD),
    ])]),
    facts().funds(INCOME, 500_000).card(120_000, Some(80_000), Some(2_500)),
}

case! {
    /// PERCENTAGE_LIABILITY_BALANCE pays 25% of the $1,234.59 owed: 30 864.75 → $308.64.
    percentage_liability_balance_rounds_down:
    manual(vec![always(vec![action(
        ActionKind::PercentageLiabilityBalance { basis_points: 2_500 },
        INCOME,
        CARD,
    )])]),
    facts().funds(INCOME, 500_000).card(123_459, None, None),
}

case! {
    /// TOTAL_AMOUNT_DUE pays the whole balance owed, $987.65, whatever the statement says.
    total_amount_due_pays_the_balance_owed:
    manual(vec![always(vec![action(ActionKind::TotalAmountDue, INCOME, CARD)])]),
    facts().funds(INCOME, 500_000).card(98_765, Some(50_000), Some(2_500)),
}

case! {
    /// A card credit balance (−$10.00 owed) means nothing is due.
    total_amount_due_on_a_credit_balance_moves_nothing:
    manual(vec![always(vec![action(ActionKind::TotalAmountDue, INCOME, CARD)])]),
    facts().funds(INCOME, 500_000).card(-1_000, Some(0), Some(0)),
}

case! {
    /// LAST_STATEMENT_BALANCE without a statement fails (missing data), and the next action does
    /// not run.
    last_statement_balance_without_data_fails:
    manual(vec![always(vec![
        action(ActionKind::LastStatementBalance, INCOME, CARD),
        fixed(INCOME, SAVINGS, 1_000),
    ])]),
    facts().funds(INCOME, 500_000).card(50_000, None, Some(2_500)),
}

case! {
    /// NEXT_PAYMENT_MINIMUM without a known minimum fails.
    next_payment_minimum_without_data_fails:
    manual(vec![always(vec![action(ActionKind::NextPaymentMinimum, INCOME, CARD)])]),
    facts().funds(INCOME, 500_000).card(50_000, Some(50_000), None),
}

case! {
    /// A card with no liability data at all: TOTAL_AMOUNT_DUE and PERCENTAGE_LIABILITY_BALANCE
    /// need the balance owed. The first fails; the second does not run.
    liability_without_any_data_fails:
    manual(vec![always(vec![
        action(ActionKind::TotalAmountDue, INCOME, CARD),
        action(ActionKind::PercentageLiabilityBalance { basis_points: 100 }, INCOME, CARD),
    ])]),
    facts().funds(INCOME, 500_000),
}

// ---- Minimum, funds and up-to --------------------------------------------------------------

case! {
    /// 99 cents is below the $1.00 minimum and skipped (not a failure: the next action runs);
    /// exactly $1.00 is planned.
    below_minimum_is_skipped_not_failed:
    manual(vec![always(vec![fixed(INCOME, SAVINGS, 99), fixed(INCOME, BILLS, 100)])]),
    facts().funds(INCOME, 10_000),
}

case! {
    /// With $100.00 available: $50.00 is planned; $80.00 is more than the $50.00 left, so the
    /// action fails and the last action does not run.
    insufficient_funds_fails_and_stops_the_step:
    manual(vec![always(vec![
        fixed(INCOME, SAVINGS, 5_000),
        fixed(INCOME, BILLS, 8_000),
        fixed(INCOME, CHECKING, 100),
    ])]),
    facts().funds(INCOME, 10_000),
}

case! {
    /// With $100.00 available and up-to: $50.00 planned; $80.00 becomes the $50.00 left; $20.00
    /// finds nothing left (skipped); then a $10.00 action without up-to fails.
    up_to_sends_what_is_available:
    manual(vec![always(vec![
        fixed(INCOME, SAVINGS, 5_000),
        fixed(INCOME, BILLS, 8_000).up_to(),
        fixed(INCOME, CHECKING, 2_000).up_to(),
        fixed(INCOME, CHECKING, 1_000),
    ])]),
    facts().funds(INCOME, 10_000),
}

case! {
    /// With $100.50 available: $100.00 planned; an up-to $50.00 finds 50 cents, below the
    /// minimum (skipped); a 50-cent action is below the minimum before funds are even looked at.
    up_to_reapplies_the_minimum:
    manual(vec![always(vec![
        fixed(INCOME, SAVINGS, 10_000),
        fixed(INCOME, BILLS, 5_000).up_to(),
        fixed(INCOME, CHECKING, 50),
    ])]),
    facts().funds(INCOME, 10_050),
}

case! {
    /// The available balance ($30.00), not the balance ($100.00), limits the source: a $50.00
    /// transfer fails.
    funds_are_the_available_balance:
    manual(vec![always(vec![fixed(INCOME, SAVINGS, 5_000)])]),
    facts().balances(INCOME, 3_000, 10_000),
}

case! {
    /// Money planned into savings is in flight, not available: moving it onwards in the same
    /// step fails (savings had $0.00 available).
    incoming_money_is_not_yet_available:
    manual(vec![always(vec![fixed(INCOME, SAVINGS, 5_000), fixed(SAVINGS, BILLS, 5_000)])]),
    facts().funds(INCOME, 10_000),
}

// ---- Caps ----------------------------------------------------------------------------------

case! {
    /// PER_TRANSFER clips $500.00 to the $200.00 cap, and ignores any cap usage recorded for it.
    /// A PER_TRANSFER cap of $0.00 leaves no room: cap reached.
    per_transfer_cap_clips:
    manual(vec![always(vec![
        fixed(INCOME, SAVINGS, 50_000).cap(PerTransfer, 20_000),
        fixed(INCOME, BILLS, 1_000).cap(PerTransfer, 0).group(1),
    ])]),
    facts().funds(INCOME, 100_000).used(0, PerTransfer, 999_999),
}

case! {
    /// PER_WEEK: $150.00 of the $200.00 cap already moved this week leaves $50.00 of the $100.00.
    per_week_cap_clips_to_the_room_left:
    manual(vec![always(vec![fixed(INCOME, SAVINGS, 10_000).cap(PerWeek, 20_000)])]),
    facts().funds(INCOME, 100_000).used(0, PerWeek, 15_000),
}

case! {
    /// PER_MONTH mid-month, usage near the cap: $299.50 of $300.00 used leaves 50 cents, below
    /// the minimum; in group 1 the month's $300.00 is fully used: cap reached.
    per_month_cap_nearly_reached:
    manual(vec![always(vec![
        fixed(INCOME, SAVINGS, 10_000).cap(PerMonth, 30_000),
        fixed(INCOME, BILLS, 10_000).cap(PerMonth, 30_000).group(1),
    ])]),
    facts().funds(INCOME, 100_000).used(0, PerMonth, 29_950).used(1, PerMonth, 30_000),
}

case! {
    /// PER_YEAR $1,000.00 shared by group 1, $700.00 used: $200.00 planned (room $300.00), then
    /// $200.00 clipped to the $100.00 left, then cap reached. Group 2 has its own room: $50.00.
    per_year_cap_is_shared_by_the_group:
    manual(vec![always(vec![
        fixed(INCOME, SAVINGS, 20_000).cap(PerYear, 100_000).group(1),
        fixed(INCOME, BILLS, 20_000).cap(PerYear, 100_000).group(1),
        fixed(INCOME, CHECKING, 5_000).cap(PerYear, 100_000).group(1),
        fixed(INCOME, CHECKING, 5_000).cap(PerYear, 100_000).group(2),
    ])]),
    facts().funds(INCOME, 500_000).used(1, PerYear, 70_000),
}

case! {
    /// A group shares one limit: the $150.00 PER_MONTH cap of action 1 also binds action 0 of
    /// the same group, which has no limit of its own ($200.00 clipped to $150.00), leaving no
    /// room for action 1. Group 1 is not bound by it: $10.00.
    group_limit_binds_every_action_of_the_group:
    manual(vec![always(vec![
        fixed(INCOME, SAVINGS, 20_000),
        fixed(INCOME, BILLS, 1_000).cap(PerMonth, 15_000),
        fixed(INCOME, CHECKING, 1_000).group(1),
    ])]),
    facts().funds(INCOME, 100_000),
}

case! {
    /// Caps apply before funds: the $300.00 ask is capped to $200.00, which the $250.00
    /// available covers, so it is planned rather than failing.
    caps_apply_before_the_funds_check:
    manual(vec![always(vec![fixed(INCOME, SAVINGS, 30_000).cap(PerTransfer, 20_000)])]),
    facts().funds(INCOME, 25_000),
}

// ---- Steps ---------------------------------------------------------------------------------

case! {
    /// The first matching step runs and stops the search: a $500.00 deposit is not above
    /// $1,000.00 (step 0) but is above $100.00 (step 1); the catch-all step 2 is never reached.
    first_matching_step_wins:
    on_deposit(vec![
        when(test(TransferAmount, GreaterThan, 100_000), vec![fixed(INCOME, SAVINGS, 1_000)]),
        when(test(TransferAmount, GreaterThan, 10_000), vec![fixed(INCOME, BILLS, 2_000)]),
        always(vec![fixed(INCOME, CHECKING, 3_000)]),
    ]),
    facts().amount(50_000).funds(INCOME, 50_000),
}

case! {
    /// No step matches: conditions not met, nothing planned.
    no_step_matches:
    on_deposit(vec![
        when(test(TransferAmount, GreaterThan, 100_000), vec![fixed(INCOME, SAVINGS, 1_000)]),
        when(test(Date, Equals, 1), vec![fixed(INCOME, BILLS, 2_000)]),
    ]),
    facts().amount(50_000).funds(INCOME, 50_000),
}

// ---- Operators (each at the boundary: a $500.00 deposit against 50 000) ---------------------

case! {
    /// EQUALS at the boundary: 50 000 = 50 000, step 0.
    operator_equals:
    on_deposit(vec![
        when(test(TransferAmount, Equals, 50_000), vec![fixed(INCOME, SAVINGS, 1_000)]),
        always(vec![fixed(INCOME, BILLS, 1_000)]),
    ]),
    facts().amount(50_000).funds(INCOME, 50_000),
}

case! {
    /// NOT_EQUALS at the boundary: 50 000 ≠ 50 000 is false, step 1.
    operator_not_equals:
    on_deposit(vec![
        when(test(TransferAmount, NotEquals, 50_000), vec![fixed(INCOME, SAVINGS, 1_000)]),
        always(vec![fixed(INCOME, BILLS, 1_000)]),
    ]),
    facts().amount(50_000).funds(INCOME, 50_000),
}

case! {
    /// GREATER_THAN at the boundary: 50 000 > 50 000 is false, step 1.
    operator_greater_than:
    on_deposit(vec![
        when(test(TransferAmount, GreaterThan, 50_000), vec![fixed(INCOME, SAVINGS, 1_000)]),
        always(vec![fixed(INCOME, BILLS, 1_000)]),
    ]),
    facts().amount(50_000).funds(INCOME, 50_000),
}

case! {
    /// LESS_THAN at the boundary: 50 000 < 50 000 is false, step 1.
    operator_less_than:
    on_deposit(vec![
        when(test(TransferAmount, LessThan, 50_000), vec![fixed(INCOME, SAVINGS, 1_000)]),
        always(vec![fixed(INCOME, BILLS, 1_000)]),
    ]),
    facts().amount(50_000).funds(INCOME, 50_000),
}

case! {
    /// GREATER_THAN_OR_EQUAL at the boundary: 50 000 ≥ 50 000, step 0.
    operator_greater_than_or_equal:
    on_deposit(vec![
        when(test(TransferAmount, GreaterThanOrEqual, 50_000), vec![fixed(INCOME, SAVINGS, 1_000)]),
        always(vec![fixed(INCOME, BILLS, 1_000)]),
    ]),
    facts().amount(50_000).funds(INCOME, 50_000),
}

case! {
    /// LESS_THAN_OR_EQUAL at the boundary: 50 000 ≤ 50 000, step 0.
    operator_less_than_or_equal:
    on_deposit(vec![
        when(test(TransferAmount, LessThanOrEqual, 50_000), vec![fixed(INCOME, SAVINGS, 1_000)]),
        always(vec![fixed(INCOME, BILLS, 1_000)]),
    ]),
    facts().amount(50_000).funds(INCOME, 50_000),
}

// ---- Facts ---------------------------------------------------------------------------------

case! {
    /// Without a trigger amount every TRANSFER_AMOUNT condition is false, NOT_EQUALS included:
    /// neither "< $1.00" nor "≠ 0" matches.
    unknown_trigger_amount_makes_conditions_false:
    manual(vec![
        when(test(TransferAmount, LessThan, 100), vec![fixed(INCOME, SAVINGS, 1_000)]),
        when(test(TransferAmount, NotEquals, 0), vec![fixed(INCOME, BILLS, 1_000)]),
    ]),
    facts().funds(INCOME, 50_000),
}

case! {
    /// BALANCE defaults to the trigger account (income, $600.00 > $500.00) and can name another
    /// (savings, $50.00 < $100.00): both hold, step 0.
    balance_of_trigger_account_and_named_account:
    on_deposit(vec![
        when(
            all(vec![
                test(Balance, GreaterThan, 50_000),
                balance_of(SAVINGS, LessThan, 10_000),
            ]),
            vec![fixed(INCOME, SAVINGS, 1_000)],
        ),
        always(vec![fixed(INCOME, BILLS, 1_000)]),
    ]),
    facts().amount(60_000).funds(INCOME, 60_000).funds(SAVINGS, 5_000),
}

case! {
    /// BALANCE is the available balance: $400.00 available (balance $600.00) is not above
    /// $500.00, step 1.
    balance_reads_the_available_balance:
    on_deposit(vec![
        when(test(Balance, GreaterThan, 50_000), vec![fixed(INCOME, SAVINGS, 1_000)]),
        always(vec![fixed(INCOME, BILLS, 1_000)]),
    ]),
    facts().amount(10_000).balances(INCOME, 40_000, 60_000),
}

case! {
    /// BALANCE of an account missing from the facts (deleted) is unknown, so false; the
    /// fallback step's transfer to that account fails as an unknown account.
    balance_of_deleted_account_is_false:
    manual(vec![
        when(balance_of(DELETED, GreaterThanOrEqual, 0), vec![fixed(INCOME, SAVINGS, 1_000)]),
        always(vec![fixed(INCOME, DELETED, 1_000)]),
    ]),
    facts().funds(INCOME, 50_000),
}

case! {
    /// DATE is today's day of the month: on March 15th "DATE = 15" holds.
    date_is_the_day_of_the_month:
    manual(vec![
        when(test(Date, Equals, 15), vec![fixed(INCOME, SAVINGS, 1_000)]),
        always(vec![fixed(INCOME, BILLS, 1_000)]),
    ]),
    facts().funds(INCOME, 50_000),
}

case! {
    /// LAST_DAY_OF_MONTH in a leap February is the 29th: on 2024-02-28 "DATE = LAST_DAY_OF_MONTH"
    /// is false, step 1.
    last_day_of_month_leap_february_28th:
    manual(vec![
        when(
            test_fact(Date, Equals, ValueFact::LastDayOfMonth, None),
            vec![fixed(INCOME, SAVINGS, 1_000)],
        ),
        always(vec![fixed(INCOME, BILLS, 1_000)]),
    ]),
    facts().today(2024, 2, 28).funds(INCOME, 50_000),
}

case! {
    /// On 2024-02-29 "DATE = LAST_DAY_OF_MONTH" holds, step 0.
    last_day_of_month_leap_february_29th:
    manual(vec![
        when(
            test_fact(Date, Equals, ValueFact::LastDayOfMonth, None),
            vec![fixed(INCOME, SAVINGS, 1_000)],
        ),
        always(vec![fixed(INCOME, BILLS, 1_000)]),
    ]),
    facts().today(2024, 2, 29).funds(INCOME, 50_000),
}

case! {
    /// "Pay the statement balance if income can cover it, else the minimum": $500.00 available
    /// is less than the $800.00 statement (step 0 fails its condition) but at least the $25.00
    /// minimum (step 1): the minimum is paid.
    liability_value_facts_choose_the_payment:
    manual(vec![
        when(
            test_fact(Balance, GreaterThanOrEqual, ValueFact::LastStatementBalance, Some(CARD)),
            vec![action(ActionKind::LastStatementBalance, INCOME, CARD)],
        ),
        when(
            test_fact(Balance, GreaterThanOrEqual, ValueFact::NextPaymentMinimumAmount, Some(CARD)),
            vec![action(ActionKind::NextPaymentMinimum, INCOME, CARD)],
        ),
    ]),
    facts().funds(INCOME, 50_000).card(120_000, Some(80_000), Some(2_500)),
}

case! {
    /// A liability value fact without data is unknown, so false whatever the operator: "balance
    /// ≠ statement balance" does not hold when there is no statement; the catch-all runs.
    liability_value_fact_without_data_is_false:
    manual(vec![
        when(
            test_fact(Balance, NotEquals, ValueFact::LastStatementBalance, Some(CARD)),
            vec![fixed(INCOME, SAVINGS, 1_000)],
        ),
        always(vec![fixed(INCOME, BILLS, 1_000)]),
    ]),
    facts().funds(INCOME, 50_000).card(120_000, None, Some(2_500)),
}

// ---- any / all -----------------------------------------------------------------------------

case! {
    /// Nesting: all[ any[DATE = 1, DATE = 15], all[TRANSFER_AMOUNT ≥ $100.00, BALANCE > 0] ] on
    /// the 15th with a $200.00 deposit: any is true (the 15th), the inner all is true, step 0.
    any_and_all_nest:
    on_deposit(vec![
        when(
            all(vec![
                any(vec![test(Date, Equals, 1), test(Date, Equals, 15)]),
                all(vec![
                    test(TransferAmount, GreaterThanOrEqual, 10_000),
                    test(Balance, GreaterThan, 0),
                ]),
            ]),
            vec![fixed(INCOME, SAVINGS, 1_000)],
        ),
        always(vec![fixed(INCOME, BILLS, 1_000)]),
    ]),
    facts().amount(20_000).funds(INCOME, 20_000),
}

case! {
    /// any[ all[DATE = 15, TRANSFER_AMOUNT > $1,000.00], DATE = 1 ] on the 15th with a $200.00
    /// deposit: the all fails on its second member, DATE = 1 fails, so the any is false, step 1.
    nested_any_of_failing_alls_is_false:
    on_deposit(vec![
        when(
            any(vec![
                all(vec![test(Date, Equals, 15), test(TransferAmount, GreaterThan, 100_000)]),
                test(Date, Equals, 1),
            ]),
            vec![fixed(INCOME, SAVINGS, 1_000)],
        ),
        always(vec![fixed(INCOME, BILLS, 1_000)]),
    ]),
    facts().amount(20_000).funds(INCOME, 20_000),
}

case! {
    /// An empty any is false (step 0 is passed over) and an empty all is true (step 1 runs).
    empty_any_is_false_and_empty_all_is_true:
    manual(vec![
        when(any(vec![]), vec![fixed(INCOME, SAVINGS, 1_000)]),
        when(all(vec![]), vec![fixed(INCOME, BILLS, 1_000)]),
        always(vec![fixed(INCOME, CHECKING, 1_000)]),
    ]),
    facts().funds(INCOME, 50_000),
}

// ---- Robustness ----------------------------------------------------------------------------

case! {
    /// Overflow fails the action instead of panicking: savings holds i64::MAX cents available,
    /// and the TOP_UP adds the $1.00 just planned into it. Like any failure, it stops the step.
    overflow_fails_instead_of_panicking:
    manual(vec![always(vec![
        fixed(INCOME, SAVINGS, 100),
        top_up(INCOME, SAVINGS, 50_000),
        fixed(INCOME, BILLS, 100),
    ])]),
    facts().funds(INCOME, 10_000).funds(SAVINGS, i64::MAX),
}

case! {
    /// TOP_UP of i64::MAX to bills at −1 cent overflows computing the amount: a failure.
    overflow_computing_an_amount_fails:
    manual(vec![always(vec![top_up(INCOME, BILLS, i64::MAX)])]),
    facts().funds(INCOME, i64::MAX).funds(BILLS, -1),
}

case! {
    /// A stored ROUND_DOWN with a multiple of 0 (corrupted storage: validation refuses it) fails
    /// instead of dividing by zero.
    corrupted_round_down_fails:
    manual(vec![always(vec![round_down(INCOME, SAVINGS, 0)])]),
    facts().funds(INCOME, 50_000),
}

case! {
    /// A PERCENTAGE above 10 000 basis points (corrupted storage) fails instead of moving more
    /// than the base.
    corrupted_percentage_fails:
    manual(vec![always(vec![of_source(INCOME, BILLS, 10_001)])]),
    facts().funds(INCOME, 50_000),
}

case! {
    /// A destination deleted since the rule was saved is missing from the facts: the action
    /// fails and the rest of the step does not run.
    deleted_account_fails:
    manual(vec![always(vec![fixed(INCOME, DELETED, 1_000), fixed(INCOME, SAVINGS, 1_000)])]),
    facts().funds(INCOME, 50_000),
}
