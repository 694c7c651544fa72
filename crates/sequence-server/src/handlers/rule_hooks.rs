//! Where the ledger hands over to the rules engine. The ledger code calls these at the moments
//! rules care about; the rules engine decides what, if anything, happens. Each runs inside the
//! caller's transaction, so a rule execution commits together with the event that caused it.
//!
//! - Money arriving fires the trigger account's enabled `ON_FUNDS_TRANSFERRED` rule, unless the
//!   money was itself sent by a rule (spec decision 15: no cascades between rules).
//! - A rule transfer settling moves its execution's counters and status.
//! - Scheduled occurrences run once each, oldest first, each after the settlements due before it
//!   (spec decision 16). An occurrence is claimed by a conditional update of the rule's
//!   `next_run_at` in the same transaction as its execution, so with several replicas processing
//!   one organization exactly one of them runs it.

use chrono::{DateTime, Utc};
use sequence_core::ledger::{TransferOrigin, TransferStatus};
use sequence_core::rules::next_occurrence_after;
use sequence_store::Tx;
use sequence_store::orgs::Organization;
use sequence_store::rules::{self, ExecutionTrigger, TransferOutcome};
use sequence_store::transfers::TransferRecord;

use super::rule_engine::{Run, execution_status, outcome_of};
use crate::error::ApiError;
use crate::state::Server;

/// Upper bound on the occurrences one call looks at; the caller's loop (`process_everything_due`)
/// calls again until nothing is due, so this bounds one call's work, not what eventually runs.
const OCCURRENCES_PER_CALL_MAX: u32 = 10_000;

impl Server {
    /// Money arrived in `transfer.destination` (a sandbox deposit, or an incoming transfer that
    /// just completed): fire the account's `ON_FUNDS_TRANSFERRED` rule, if any.
    pub(crate) async fn on_funds_arrived(
        &self,
        tx: &mut Tx,
        org: &Organization,
        transfer: &TransferRecord,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let from_a_rule =
            transfer.origin == TransferOrigin::Rule || transfer.rule_execution_id.is_some();
        if transfer.simulation || from_a_rule || transfer.status != TransferStatus::Complete {
            return Ok(());
        }
        let Some(account) = &transfer.destination else { return Ok(()) };
        let Some(rule) = rules::enabled_on_funds_rule(tx, &org.id, account).await? else {
            return Ok(());
        };
        let run = Run {
            rule: &rule,
            trigger: ExecutionTrigger::OnFundsTransferred,
            trigger_amount: Some(transfer.amount),
            scheduled_time: None,
            simulation: false,
        };
        self.run_rule(tx, org, run, now).await?;
        Ok(())
    }

    /// A transfer made by a rule changed status: keep its execution's counters and status in step.
    pub(crate) async fn on_rule_transfer_changed(
        &self,
        tx: &mut Tx,
        transfer: &TransferRecord,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        if transfer.simulation {
            return Ok(());
        }
        let outcome = outcome_of(transfer.status, false);
        if outcome == TransferOutcome::Pending {
            return Ok(());
        }
        let Some(execution) =
            rules::record_transfer_outcome(tx, &transfer.org_id, &transfer.id, outcome, now)
                .await?
        else {
            return Ok(());
        };
        let status = execution_status(&execution.counters, execution.stopped_by_error);
        let message = (outcome == TransferOutcome::Failed).then(|| {
            let code = transfer.error_code.map(|code| format!(" ({code})")).unwrap_or_default();
            format!("transfer `{}` ended {}{code}", transfer.id, transfer.status)
        });
        rules::set_execution_status(tx, &execution.id, status, message.as_deref(), now).await?;
        Ok(())
    }

    /// Runs every scheduled rule occurrence of `org` due at or before `now`, oldest first, in
    /// the caller's transaction. Returns how many executions ran.
    ///
    /// Each occurrence runs at its own time (its execution and transfers are dated then, and its
    /// `DATE` conditions and caps see that day), after the settlements due by then, so a clock
    /// advance past several events replays them in order. The transfers those settlements
    /// complete are added to `settled`, so the caller's count of completed transfers stays whole.
    pub(crate) async fn run_due_schedules(
        &self,
        tx: &mut Tx,
        org: &Organization,
        now: DateTime<Utc>,
        settled: &mut u32,
    ) -> Result<u32, ApiError> {
        let mut executed = 0;
        for _ in 0..OCCURRENCES_PER_CALL_MAX {
            let Some(record) = rules::next_due(tx, &org.id, now).await? else { break };
            let (Some(due), Some(schedule)) = (record.next_run_at, record.rule.trigger.schedule)
            else {
                return Err(ApiError::internal(format!(
                    "rule {} is due without a schedule",
                    record.rule.id
                )));
            };
            // Settlements before rule runs due at the same instant.
            *settled += self.process_due(tx, org, due).await?;
            let next = next_occurrence_after(&schedule, due);
            if !rules::claim_occurrence(tx, &org.id, &record.rule.id, due, next).await? {
                // Another replica ran this occurrence (or the rule changed); look again.
                continue;
            }
            let run = Run {
                rule: &record,
                trigger: ExecutionTrigger::Scheduled,
                trigger_amount: None,
                scheduled_time: Some(due),
                simulation: false,
            };
            self.run_rule(tx, org, run, due).await?;
            executed += 1;
        }
        Ok(executed)
    }
}
