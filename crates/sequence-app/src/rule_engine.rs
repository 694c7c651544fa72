//! Running a rule once: gather the facts, let the core decide, make the transfers, record the run.
//!
//! The decision is `sequence_core::rules::evaluate`, a pure function; this module is the IO
//! around it, and it always runs inside the transaction of whatever triggered the run (a deposit,
//! a completing transfer, a scheduled occurrence, a `triggerRule` call), so a run commits
//! together with its cause or not at all.
//!
//! **Serialized runs.** The caller holds the rule's lock (`sequence_store::rules::lock`, or the
//! claim of a scheduled occurrence, which is a conditional update of the rule's row), and
//! [`run_rule`] locks every account the rule names (in id order, as transfers do) before it reads
//! them. So under PostgreSQL's READ COMMITTED the facts a run decides on (cap usage, balances,
//! money in flight) include every earlier run's committed transfers and cannot change before this
//! run's transfers are made: caps and `TOP_UP` hold across concurrent triggers, deposits and
//! replicas. On SQLite the write transaction already serializes everything.
//!
//! **Facts.** Every account the rule names is read in the transaction, after those locks: income sources and pods
//! with their available balance (balance minus reservations) and settled balance; external
//! accounts with the balance their institution reports (the API gives them no available balance,
//! so what they report is what they may send); what live in-flight transfers will bring each
//! account (counted as arrived by `TOP_UP` and liability payments); liabilities with their statement data. Deleted
//! accounts are left out, which the evaluator treats as "deleted" (the action fails with
//! `account_deleted`). Cap usage is what this rule's live transfers that are not `error` or
//! `cancelled` moved in each limit group since Monday 00:00, the 1st and 1 January (organization
//! clock, UTC). `today` is the run's date on the organization clock.
//!
//! **Transfers.** Each planned transfer is accepted through the ledger ([`accept_transfer`], origin
//! `rule`), which reserves the funds atomically and applies the approval threshold. A failed
//! action is recorded as a transfer in `error` with its error code (`insufficient_funds`,
//! `account_no_minimum_payment_amount`, `account_no_last_statement_balance`, `account_deleted`;
//! amount 0 when it could not be computed), as the spec documents. A simulation records the same
//! transfers with `simulation: true`: nothing is reserved or moved, and the execution is final at
//! once (transfers a live run would have created count as completed).
//!
//! **Status.** decided by `sequence_core::rules::execution_status`. The counters follow the
//! transfers as they settle ([`crate::rule_hooks::on_rule_transfer_changed`]).

use chrono::{DateTime, Utc};
use sequence_core::ids::{AccountId, RuleExecutionId, TransferId};
use sequence_core::ledger::limits::TRANSFER_AMOUNT_MAX;
use sequence_core::ledger::{
    AccountKind, Endpoint, ExternalAccountType, TransferDirection, TransferErrorCode,
    TransferOrigin, TransferStatus,
};
use sequence_core::money::Cents;
use sequence_core::rules::{
    AccountFacts, Action, ActionResult, Evaluation, ExecutionStatus, ExecutionTrigger, Facts,
    FailReason, LiabilityDatum, LiabilityFacts, TransferCounters, TransferOutcome,
    cap_period_starts, evaluate, execution_status, outcome_of, referenced_accounts,
};
use sequence_store::Tx;
use sequence_store::accounts::{self, AccountRecord};
use sequence_store::orgs::Organization;
use sequence_store::rules::{self, ExecutionRecord, RuleRecord, RuleTransfer};
use sequence_store::transfers::{self, TransferRecord};

use crate::AppError;
use crate::ledger::{NewTransfer, accept_transfer};

/// One run to make.
pub struct Run<'a> {
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

/// What the evaluator knows about one live account.
pub(crate) fn account_facts(account: &AccountRecord, incoming_in_flight: Cents) -> AccountFacts {
    if account.kind.is_internal() {
        return AccountFacts {
            kind: account.kind,
            available_balance: account.available(),
            balance: account.balance,
            incoming_in_flight,
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
    AccountFacts {
        kind: account.kind,
        available_balance: reported,
        balance: reported,
        incoming_in_flight,
        liability,
    }
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
        // No figures: the key reading the execution may not be allowed to read the source's
        // balance, and the amounts would reveal it.
        FailReason::InsufficientFunds { .. } => {
            "insufficient funds: the source account did not have the amount available".to_owned()
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

/// Runs `run.rule` once at `now` inside `tx` and records the execution (see the module docs).
pub async fn run_rule(
    tx: &mut Tx,
    org: &Organization,
    run: Run<'_>,
    now: DateTime<Utc>,
) -> Result<ExecutionRecord, AppError> {
    let rule = &run.rule.rule;
    let ids = referenced_accounts(rule);
    // In id order (a BTreeSet), as transfers lock their sides; see the module docs.
    for id in &ids {
        accounts::lock_live(tx, &org.id, id.as_str()).await?;
    }
    let ids: Vec<&AccountId> = ids.iter().collect();
    let named = accounts::by_ids(tx, &org.id, &ids).await?;
    let mut live = std::collections::BTreeMap::new();
    for account in named.values().filter(|a| !a.is_deleted()) {
        let incoming = transfers::incoming_in_flight(tx, &org.id, &account.id).await?;
        live.insert(account.id.clone(), account_facts(account, incoming));
    }
    let facts = Facts {
        trigger_amount: run.trigger_amount,
        today: now.date_naive(),
        accounts: live,
        cap_usage: rules::cap_usage(tx, &rule.id, cap_period_starts(now)).await?,
    };
    let evaluation = evaluate(rule, &facts);
    let execution_id = RuleExecutionId::generate();
    let (made, error_message, stopped_by_error) =
        carry_out(tx, org, &run, &execution_id, &evaluation, now).await?;
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
    crate::events::execution_if_completed(tx, org, &execution, now).await?;
    tracing::debug!(rule = %rule.id, execution = %execution.id, status = %execution.status, "rule ran");
    Ok(execution)
}

/// Makes the transfers of the matched step's outcomes, in action order. Returns them, the
/// run's error message, and whether an error without a transfer stopped the run.
async fn carry_out(
    tx: &mut Tx,
    org: &Organization,
    run: &Run<'_>,
    execution: &RuleExecutionId,
    evaluation: &Evaluation,
    now: DateTime<Utc>,
) -> Result<(Made, Option<String>, bool), AppError> {
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
                let why = format!("{amount} is above the largest transfer, {TRANSFER_AMOUNT_MAX}");
                (*amount, Some((TransferErrorCode::PaymentFailed, why)))
            }
            ActionResult::Failed(reason) => match failure_transfer(reason) {
                Some((amount, code)) => (amount, Some((code, describe(reason)))),
                None => {
                    return Ok((made, Some(stopped(&path, &describe(reason), remaining)), true));
                }
            },
            ActionResult::Skipped(_) | ActionResult::NotRun => continue,
        };
        let Some((source, destination, direction)) = action_accounts(tx, org, action).await? else {
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
                accept_transfer(tx, org, new, now).await?
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
                crate::events::transfer_created(tx, org, &record).await?;
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
    tx: &mut Tx,
    org: &Organization,
    action: &Action,
) -> Result<Option<(AccountRecord, AccountRecord, TransferDirection)>, AppError> {
    let find = async |tx: &mut Tx, id: &AccountId| {
        accounts::find(tx, &org.id, id.as_str()).await?.ok_or_else(|| {
            AppError::internal(format!("rule account {id} is missing from the organization"))
        })
    };
    let source = find(tx, &action.source).await?;
    let destination = find(tx, &action.destination).await?;
    let endpoint = |a: &AccountRecord| Endpoint::Account { id: a.id.clone(), kind: a.kind };
    Ok(TransferDirection::between(&endpoint(&source), &endpoint(&destination))
        .ok()
        .map(|direction| (source, destination, direction)))
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
    use sequence_core::ids::AccountId;

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

    #[test]
    fn failure_messages_never_quote_balances() {
        // A key that reads a rule's executions may not read the source account: the message
        // must not reveal what it holds (regression: it quoted "needed $500.00 and the source
        // had $497.00 available").
        let reason = FailReason::InsufficientFunds {
            needed: Cents::new(50_000),
            available: Cents::new(49_700),
        };
        let message = describe(&reason);
        for figure in ["500", "497", "$", "49700", "50000"] {
            assert!(!message.contains(figure), "{message:?} reveals {figure}");
        }
    }
}
