//! Running a rule once: gather the facts, let the core decide, make the transfers, record the run.
//!
//! The decision is `sequence_core::rules::evaluate`, a pure function; this module is the IO
//! around it, and it always runs inside the transaction of whatever triggered the run (a deposit,
//! a completing transfer, a scheduled occurrence, a `triggerRule` call), so a run commits
//! together with its cause or not at all.
//!
//! **Facts.** Every account the rule names is read in the transaction: income sources and pods
//! with their available balance (balance minus reservations) and settled balance; external
//! accounts with the balance their institution reports (the API gives them no available balance,
//! so what they report is what they may send); liabilities with their statement data. Deleted
//! accounts are left out, which the evaluator treats as "deleted" (the action fails with
//! `account_deleted`). Cap usage is what this rule's live transfers that are not `error` or
//! `cancelled` moved in each limit group since Monday 00:00, the 1st and 1 January (organization
//! clock, UTC). `today` is the run's date on the organization clock.
//!
//! **Transfers.** Each planned transfer is accepted through the ledger (`accept_transfer`, origin
//! `rule`), which reserves the funds atomically and applies the approval threshold. A failed
//! action is recorded as a transfer in `error` with its error code (`insufficient_funds`,
//! `account_no_minimum_payment_amount`, `account_no_last_statement_balance`, `account_deleted`;
//! amount 0 when it could not be computed), as the spec documents. A simulation records the same
//! transfers with `simulation: true`: nothing is reserved or moved, and the execution is final at
//! once (transfers a live run would have created count as completed).
//!
//! **Status.** `in_progress` while any transfer is in flight; then `executed` when none failed,
//! `failed` when none completed, `partial` otherwise ([`execution_status`]). The counters follow
//! the transfers as they settle (`Server::on_rule_transfer_changed`).

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, Utc};
use sequence_core::ids::{AccountId, RuleExecutionId, TransferId};
use sequence_core::ledger::limits::TRANSFER_AMOUNT_MAX;
use sequence_core::ledger::{
    AccountKind, Endpoint, ExternalAccountType, TransferDirection, TransferErrorCode,
    TransferOrigin, TransferStatus,
};
use sequence_core::money::Cents;
use sequence_core::rules::{
    AccountFacts, Action, ActionResult, ConditionGroup, Evaluation, Facts, FailReason,
    LiabilityDatum, LiabilityFacts, Rule, evaluate,
};
use sequence_store::Tx;
use sequence_store::accounts::{self, AccountRecord};
use sequence_store::orgs::Organization;
use sequence_store::rules::{
    self, CapPeriodStarts, ExecutionRecord, ExecutionStatus, ExecutionTrigger, RuleRecord,
    RuleTransfer, TransferCounters, TransferOutcome,
};
use sequence_store::transfers::{self, TransferRecord};

use super::ledger::NewTransfer;
use crate::error::ApiError;
use crate::state::Server;

/// One run to make.
pub(crate) struct Run<'a> {
    /// The rule (its status is the caller's business: disabled rules are refused before this).
    pub rule: &'a RuleRecord,
    /// How the run started.
    pub trigger: ExecutionTrigger,
    /// The incoming amount: the arrived transfer's, or `manual_execute_amount`.
    pub trigger_amount: Option<Cents>,
    /// The occurrence, for scheduled runs.
    pub scheduled_time: Option<DateTime<Utc>>,
    /// A dry run.
    pub simulation: bool,
}

/// The status an execution's counters add up to (see the module docs).
pub(crate) fn execution_status(
    counters: &TransferCounters,
    stopped_by_error: bool,
) -> ExecutionStatus {
    if counters.pending > 0 {
        ExecutionStatus::InProgress
    } else if counters.failed == 0 && !stopped_by_error {
        ExecutionStatus::Executed
    } else if counters.completed == 0 {
        ExecutionStatus::Failed
    } else {
        ExecutionStatus::Partial
    }
}

/// The bucket a rule transfer of this status counts in. In a simulation nothing settles, so what
/// a live run would have sent counts as completed at once.
pub(crate) fn outcome_of(status: TransferStatus, simulation: bool) -> TransferOutcome {
    match status {
        TransferStatus::Complete => TransferOutcome::Completed,
        TransferStatus::Error | TransferStatus::Cancelled => TransferOutcome::Failed,
        TransferStatus::PendingApproval | TransferStatus::Processing | TransferStatus::Pending
            if simulation =>
        {
            TransferOutcome::Completed
        }
        TransferStatus::PendingApproval | TransferStatus::Processing | TransferStatus::Pending => {
            TransferOutcome::Pending
        }
    }
}

/// Midnight (UTC) starting the week (Monday), month and year that contain `now`.
pub(crate) fn cap_period_starts(now: DateTime<Utc>) -> CapPeriodStarts {
    let today = now.date_naive();
    let midnight = |date: NaiveDate| date.and_time(NaiveTime::MIN).and_utc();
    let monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()));
    let first_of_month = today.with_day(1).expect("every month has a 1st");
    let first_of_year =
        NaiveDate::from_ymd_opt(today.year(), 1, 1).expect("every year has a 1 January");
    CapPeriodStarts {
        week: midnight(monday),
        month: midnight(first_of_month),
        year: midnight(first_of_year),
    }
}

/// Every account a rule names: its trigger account, its conditions' accounts, its actions' sources
/// and destinations.
pub(crate) fn referenced_accounts(rule: &Rule) -> BTreeSet<AccountId> {
    fn walk(group: &ConditionGroup, into: &mut BTreeSet<AccountId>) {
        match group {
            ConditionGroup::Condition(condition) => {
                into.extend(condition.account_id.iter().cloned());
                into.extend(condition.value_account_id.iter().cloned());
            }
            ConditionGroup::Any(items) | ConditionGroup::All(items) => {
                items.iter().for_each(|item| walk(item, into))
            }
        }
    }
    let mut ids: BTreeSet<AccountId> = rule.trigger.account_id.iter().cloned().collect();
    for step in &rule.steps {
        if let Some(group) = &step.conditions {
            walk(group, &mut ids);
        }
        for action in &step.actions {
            ids.insert(action.source.clone());
            ids.insert(action.destination.clone());
        }
    }
    ids
}

/// What the evaluator knows about one live account.
pub(crate) fn account_facts(account: &AccountRecord) -> AccountFacts {
    if account.kind.is_internal() {
        return AccountFacts {
            kind: account.kind,
            available_balance: account.available(),
            balance: account.balance,
            liability: None,
        };
    }
    let reported = account.reported_balance.unwrap_or(Cents::ZERO);
    let liability = (account.kind == AccountKind::External(ExternalAccountType::Liability))
        .then_some(LiabilityFacts {
            current_balance_owed: reported,
            last_statement_balance: account.last_statement_balance,
            next_payment_minimum: account.next_payment_minimum,
        });
    AccountFacts { kind: account.kind, available_balance: reported, balance: reported, liability }
}

/// The transfer a failed action is recorded as: its amount (0 when it could not be computed) and
/// error code; `None` for failures that are the server's own (overflow, a corrupt stored action),
/// which stop the run without a transfer.
fn failure_transfer(reason: &FailReason) -> Option<(Cents, TransferErrorCode)> {
    match reason {
        FailReason::InsufficientFunds { needed, .. } => {
            Some((*needed, TransferErrorCode::InsufficientFunds))
        }
        FailReason::MissingLiabilityData(LiabilityDatum::NextPaymentMinimum) => {
            Some((Cents::ZERO, TransferErrorCode::AccountNoMinimumPaymentAmount))
        }
        FailReason::MissingLiabilityData(LiabilityDatum::LastStatementBalance) => {
            Some((Cents::ZERO, TransferErrorCode::AccountNoLastStatementBalance))
        }
        // Every liability reports a balance (0 when unknown), so this is a liability without
        // data at all: the payment cannot be made.
        FailReason::MissingLiabilityData(LiabilityDatum::CurrentBalanceOwed) => {
            Some((Cents::ZERO, TransferErrorCode::PaymentFailed))
        }
        FailReason::UnknownAccount(_) => Some((Cents::ZERO, TransferErrorCode::AccountDeleted)),
        FailReason::Overflow | FailReason::InvalidAction(_) => None,
    }
}

/// A sentence for `error_message`.
fn describe(reason: &FailReason) -> String {
    match reason {
        FailReason::InsufficientFunds { needed, available } => {
            format!(
                "insufficient funds: the action needed {needed} and the source had {available} available"
            )
        }
        FailReason::MissingLiabilityData(datum) => {
            let what = match datum {
                LiabilityDatum::NextPaymentMinimum => "next payment minimum",
                LiabilityDatum::LastStatementBalance => "last statement balance",
                LiabilityDatum::CurrentBalanceOwed => "balance",
            };
            format!("the destination liability reports no {what}")
        }
        FailReason::UnknownAccount(id) => format!("account `{id}` was deleted"),
        FailReason::Overflow => "the amount is too large to compute".to_owned(),
        FailReason::InvalidAction(what) => format!("the stored action is invalid ({what})"),
    }
}

/// What the transfers of one run add up to so far.
#[derive(Default)]
struct Made {
    links: Vec<RuleTransfer>,
    counters: TransferCounters,
}

impl Made {
    fn push(
        &mut self,
        transfer: &TransferRecord,
        step_index: u32,
        action: &Action,
        action_index: usize,
        simulation: bool,
    ) {
        let outcome = outcome_of(transfer.status, simulation);
        let counters = &mut self.counters;
        counters.attempted += 1;
        match outcome {
            TransferOutcome::Pending => counters.pending += 1,
            TransferOutcome::Completed => counters.completed += 1,
            TransferOutcome::Failed => counters.failed += 1,
        }
        self.links.push(RuleTransfer {
            transfer_id: transfer.id.clone(),
            position: u32::try_from(self.links.len()).expect("a step has at most 20 actions"),
            step_index,
            action_index: u32::try_from(action_index).expect("a step has at most 20 actions"),
            group_index: action.group_index,
            outcome,
        });
    }
}

impl Server {
    /// Runs `run.rule` once at `now` inside `tx` and records the execution (see the module docs).
    pub(crate) async fn run_rule(
        &self,
        tx: &mut Tx,
        org: &Organization,
        run: Run<'_>,
        now: DateTime<Utc>,
    ) -> Result<ExecutionRecord, ApiError> {
        let rule = &run.rule.rule;
        let ids = referenced_accounts(rule);
        let ids: Vec<&AccountId> = ids.iter().collect();
        let named = accounts::by_ids(tx, &org.id, &ids).await?;
        let facts = Facts {
            trigger_amount: run.trigger_amount,
            today: now.date_naive(),
            accounts: named
                .values()
                .filter(|a| !a.is_deleted())
                .map(|a| (a.id.clone(), account_facts(a)))
                .collect(),
            cap_usage: rules::cap_usage(tx, &rule.id, cap_period_starts(now)).await?,
        };
        let evaluation = evaluate(rule, &facts);
        let execution_id = RuleExecutionId::generate();
        let (made, error_message, stopped_by_error) =
            self.carry_out(tx, org, &run, &execution_id, &evaluation, now).await?;
        let counters = TransferCounters { skipped: evaluation.skipped_count(), ..made.counters };
        let execution = ExecutionRecord {
            id: execution_id,
            org_id: org.id.clone(),
            rule_id: rule.id.clone(),
            rule_name: rule.nickname.clone(),
            trigger: run.trigger,
            simulation: run.simulation,
            status: execution_status(&counters, stopped_by_error),
            trigger_amount: run.trigger_amount,
            scheduled_time: run.scheduled_time,
            step_index_matched: evaluation
                .step_index_matched
                .map(|i| u32::try_from(i).expect("at most 20 steps")),
            conditions_not_met: evaluation.conditions_not_met,
            counters,
            stopped_by_error,
            error_message,
            created_at: now,
            updated_at: now,
        };
        assert!(
            !run.simulation || execution.status != ExecutionStatus::InProgress,
            "simulations are final at once"
        );
        rules::insert_execution(tx, &execution).await?;
        rules::insert_rule_transfers(tx, &org.id, &rule.id, &execution.id, &made.links).await?;
        tracing::debug!(rule = %rule.id, execution = %execution.id, status = %execution.status, "rule ran");
        Ok(execution)
    }

    /// Makes the transfers of the matched step's outcomes, in action order. Returns them, the
    /// run's error message, and whether an error without a transfer stopped the run.
    async fn carry_out(
        &self,
        tx: &mut Tx,
        org: &Organization,
        run: &Run<'_>,
        execution: &RuleExecutionId,
        evaluation: &Evaluation,
        now: DateTime<Utc>,
    ) -> Result<(Made, Option<String>, bool), ApiError> {
        let mut made = Made::default();
        let Some(step_index) = evaluation.step_index_matched else {
            return Ok((made, None, false));
        };
        let step = &run.rule.rule.steps[step_index];
        let step_index = u32::try_from(step_index).expect("at most 20 steps");
        for outcome in &evaluation.outcomes {
            let action = &step.actions[outcome.action_index];
            let path = format!("steps[{step_index}].actions[{}]", outcome.action_index);
            // The actions after this one, which a stop here leaves unrun.
            let remaining = u32::try_from(evaluation.outcomes.len() - outcome.action_index - 1)
                .expect("at most 20 actions");
            let (amount, failure) = match &outcome.result {
                ActionResult::Planned(amount) if *amount <= TRANSFER_AMOUNT_MAX => (*amount, None),
                ActionResult::Planned(amount) => {
                    let why =
                        format!("{amount} is above the largest transfer, {TRANSFER_AMOUNT_MAX}");
                    (*amount, Some((TransferErrorCode::PaymentFailed, why)))
                }
                ActionResult::Failed(reason) => match failure_transfer(reason) {
                    Some((amount, code)) => (amount, Some((code, describe(reason)))),
                    None => {
                        return Ok((
                            made,
                            Some(stopped(&path, &describe(reason), remaining)),
                            true,
                        ));
                    }
                },
                ActionResult::Skipped(_) | ActionResult::NotRun => continue,
            };
            let Some((source, destination, direction)) =
                self.action_accounts(tx, org, action).await?
            else {
                let why = "money cannot move between two external accounts";
                return Ok((made, Some(stopped(&path, why, remaining)), true));
            };
            let transfer = match failure {
                None => {
                    let new = NewTransfer {
                        source: Some(&source),
                        destination: Some(&destination),
                        amount,
                        origin: TransferOrigin::Rule,
                        description: None,
                        simulation: run.simulation,
                        rule: Some((run.rule.rule.id.clone(), execution.clone())),
                    };
                    self.accept_transfer(tx, org, new, now).await?
                }
                Some((code, why)) => {
                    let record = failed_transfer(
                        org,
                        run,
                        execution,
                        &source,
                        &destination,
                        direction,
                        amount,
                        code,
                        now,
                    );
                    transfers::insert(tx, &record).await?;
                    made.push(&record, step_index, action, outcome.action_index, run.simulation);
                    return Ok((made, Some(stopped(&path, &why, remaining)), false));
                }
            };
            made.push(&transfer, step_index, action, outcome.action_index, run.simulation);
            if let Some(code) = transfer.error_code {
                // The ledger refused what the evaluation planned (a concurrent transfer took the
                // money between the read and the reservation): a failure like any other.
                let why = format!("the transfer was refused at acceptance ({code})");
                return Ok((made, Some(stopped(&path, &why, remaining)), false));
            }
        }
        Ok((made, None, false))
    }

    /// The action's two accounts as they are now (deleted ones included: a failure still names
    /// them) and the direction between them; `None` when both are external, which no transfer can
    /// do (rule validation refuses such actions, so only a rule stored before that check meets it).
    async fn action_accounts(
        &self,
        tx: &mut Tx,
        org: &Organization,
        action: &Action,
    ) -> Result<Option<(AccountRecord, AccountRecord, TransferDirection)>, ApiError> {
        let find = async |tx: &mut Tx, id: &AccountId| {
            accounts::find(tx, &org.id, id.as_str()).await?.ok_or_else(|| {
                ApiError::internal(format!("rule account {id} is missing from the organization"))
            })
        };
        let source = find(tx, &action.source).await?;
        let destination = find(tx, &action.destination).await?;
        let endpoint = |a: &AccountRecord| Endpoint::Account { id: a.id.clone(), kind: a.kind };
        Ok(TransferDirection::between(&endpoint(&source), &endpoint(&destination))
            .ok()
            .map(|direction| (source, destination, direction)))
    }
}

/// `path: why`, noting the actions a stop left unrun.
fn stopped(path: &str, why: &str, not_run: u32) -> String {
    match not_run {
        0 => format!("{path}: {why}"),
        1 => format!("{path}: {why}; the next action of the step was not run"),
        n => format!("{path}: {why}; the next {n} actions of the step were not run"),
    }
}

/// A transfer recording a failed action: `error` from the start, reserving nothing.
#[allow(clippy::too_many_arguments)]
fn failed_transfer(
    org: &Organization,
    run: &Run<'_>,
    execution: &RuleExecutionId,
    source: &AccountRecord,
    destination: &AccountRecord,
    direction: TransferDirection,
    amount: Cents,
    code: TransferErrorCode,
    now: DateTime<Utc>,
) -> TransferRecord {
    TransferRecord {
        id: TransferId::generate(),
        org_id: org.id.clone(),
        source: Some(source.id.clone()),
        destination: Some(destination.id.clone()),
        amount,
        direction,
        origin: TransferOrigin::Rule,
        status: TransferStatus::Error,
        error_code: Some(code),
        description: None,
        simulation: run.simulation,
        reserved: Cents::ZERO,
        rule_id: Some(run.rule.rule.id.clone()),
        rule_execution_id: Some(execution.clone()),
        processing_started_at: None,
        next_step_at: None,
        created_at: now,
        updated_at: now,
        completed_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn counters(completed: u32, failed: u32, pending: u32) -> TransferCounters {
        TransferCounters {
            attempted: completed + failed + pending,
            completed,
            failed,
            pending,
            skipped: 0,
        }
    }

    #[test]
    fn execution_status_follows_the_counters() {
        // Goal: the spec's RuleExecutionStatus table, case by case.
        use ExecutionStatus::*;
        let cases = [
            (counters(0, 0, 0), false, Executed), // nothing to do (no match, all skipped)
            (counters(2, 0, 0), false, Executed),
            (counters(1, 0, 1), false, InProgress),
            (counters(0, 1, 1), false, InProgress), // still in flight, whatever failed
            (counters(1, 1, 0), false, Partial),
            (counters(0, 2, 0), false, Failed),
            (counters(0, 0, 0), true, Failed), // an error stopped the run before anything
            (counters(1, 0, 0), true, Partial), // ... after something completed
        ];
        for (counters, stopped, expected) in cases {
            assert_eq!(
                execution_status(&counters, stopped),
                expected,
                "{counters:?} stopped={stopped}"
            );
        }
    }

    #[test]
    fn simulated_transfers_are_final_at_once() {
        assert_eq!(outcome_of(TransferStatus::Processing, true), TransferOutcome::Completed);
        assert_eq!(outcome_of(TransferStatus::PendingApproval, true), TransferOutcome::Completed);
        assert_eq!(outcome_of(TransferStatus::Error, true), TransferOutcome::Failed);
        assert_eq!(outcome_of(TransferStatus::Processing, false), TransferOutcome::Pending);
        assert_eq!(outcome_of(TransferStatus::Cancelled, false), TransferOutcome::Failed);
        assert_eq!(outcome_of(TransferStatus::Complete, false), TransferOutcome::Completed);
    }

    #[test]
    fn cap_periods_start_on_monday_the_first_and_new_year_in_utc() {
        // 2025-01-01 is a Wednesday: its week started in 2024.
        let now = Utc.with_ymd_and_hms(2025, 1, 1, 23, 59, 59).unwrap();
        let starts = cap_period_starts(now);
        assert_eq!(starts.week, Utc.with_ymd_and_hms(2024, 12, 30, 0, 0, 0).unwrap());
        assert_eq!(starts.month, Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap());
        assert_eq!(starts.year, Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap());
        // A Monday is its own week's start.
        let monday = Utc.with_ymd_and_hms(2024, 3, 18, 0, 0, 0).unwrap();
        assert_eq!(cap_period_starts(monday).week, monday);
    }

    #[test]
    fn failed_actions_map_to_the_documented_error_codes() {
        let cases = [
            (
                FailReason::InsufficientFunds { needed: Cents::new(500), available: Cents::new(1) },
                Some((500, "insufficient_funds")),
            ),
            (
                FailReason::MissingLiabilityData(LiabilityDatum::NextPaymentMinimum),
                Some((0, "account_no_minimum_payment_amount")),
            ),
            (
                FailReason::MissingLiabilityData(LiabilityDatum::LastStatementBalance),
                Some((0, "account_no_last_statement_balance")),
            ),
            (
                FailReason::UnknownAccount(AccountId::from_raw("acc_x")),
                Some((0, "account_deleted")),
            ),
            (FailReason::Overflow, None),
        ];
        for (reason, expected) in cases {
            let actual =
                failure_transfer(&reason).map(|(amount, code)| (amount.get(), code.as_str()));
            assert_eq!(actual, expected, "{reason:?}");
        }
    }
}
