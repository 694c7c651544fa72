//! Rules: create, replace, delete, trigger, enable/disable, list and read.
//!
//! Rules created or replaced through the API are always stored `disabled` and have no scheduled
//! occurrence; only a person (here `POST /sandbox/rules/{id}/enable`) enables them, which is also
//! when a scheduled rule's next occurrence is computed, from the organization clock: occurrences
//! that fell while it was disabled are skipped, not caught up.
//!
//! **Concurrency.** Every change to a rule (replace, delete, enable, disable) and every run locks
//! the rule's row first (`sequence_store::rules::lock`) and only then reads it, so a change is
//! decided on the rule as it is, and a concurrent replace and switch cannot lose one another's
//! write under PostgreSQL's READ COMMITTED.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use sequence_core::ids::{AccountId, OrgId, RuleId};
use sequence_core::ledger::AccountKind;
use sequence_core::money::Cents;
use sequence_core::rules::{
    ExecutionTrigger, Rule, RuleDraft, RuleStatus, next_occurrence_after, validate_rule,
};
use sequence_store::accounts::{self, AccountRecord};
use sequence_store::rules::{self, ExecutionRecord, RuleRecord};
use sequence_store::{AnyConnection, StoreError, Tx};

use crate::rule_engine::{Run, run_rule};
use crate::rule_hooks::schedule_at_stored_precision;
use crate::{App, AppError, Resource, at_stored_precision};

fn invalid_rule(path: &str, message: impl std::fmt::Display) -> AppError {
    AppError::InvalidRule { path: path.to_owned(), message: message.to_string() }
}

/// The rule `id` of the organization if it is not deleted: `404` / `410` otherwise.
pub async fn live(conn: &mut AnyConnection, org: &OrgId, id: &str) -> Result<RuleRecord, AppError> {
    match rules::find(conn, org, id).await? {
        None => Err(AppError::not_found(Resource::Rule, id)),
        Some(record) if record.is_deleted() => Err(AppError::RuleDeleted(id.to_owned())),
        Some(record) => Ok(record),
    }
}

/// Locks the rule's row, then reads it (see the module docs): `404` / `410` as [`live`].
async fn live_locked(tx: &mut Tx, org: &OrgId, id: &str) -> Result<RuleRecord, AppError> {
    if !rules::lock(tx, org, id).await? {
        return Err(AppError::not_found(Resource::Rule, id));
    }
    live(tx, org, id).await
}

/// The next occurrence a scheduled rule enabled at `now` runs: the first at or after `now`
/// (stored precision) and strictly after `last_run`, the latest occurrence that already ran (so
/// switching a rule off and on again within the millisecond of a run never runs it twice).
fn first_occurrence_from(
    rule: &Rule,
    now: DateTime<Utc>,
    last_run: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let schedule = schedule_at_stored_precision(rule.trigger.schedule?);
    let after =
        (now - TimeDelta::milliseconds(1)).max(last_run.unwrap_or(DateTime::<Utc>::MIN_UTC));
    next_occurrence_after(&schedule, after).map(at_stored_precision)
}

/// A draft with its timestamps at stored precision: the boundary where a finer `start_date` is
/// normalised, so that what is stored, compared and returned is one instant.
fn normalised(draft: &RuleDraft) -> RuleDraft {
    let mut draft = draft.clone();
    draft.trigger.start_date = draft.trigger.start_date.map(at_stored_precision);
    draft
}

/// Validates a draft against the organization as it is now: its live accounts, and the
/// one-`ON_FUNDS_TRANSFERRED`-rule-per-account constraint (`replacing` may keep its own).
async fn validated_rule(
    tx: &mut Tx,
    org: &OrgId,
    id: RuleId,
    draft: &RuleDraft,
    replacing: Option<&RuleId>,
) -> Result<Rule, AppError> {
    let kinds: BTreeMap<AccountId, AccountKind> = accounts::list(tx, org, None)
        .await?
        .into_iter()
        .map(|account| (account.id, account.kind))
        .collect();
    let watched = rules::on_funds_trigger_accounts(tx, org, replacing).await?;
    let rule = validate_rule(
        id,
        &normalised(draft),
        |id| kinds.get(id).copied(),
        |id| watched.contains(id),
    )
    .map_err(|invalid| invalid_rule(&invalid.path, invalid.message))?;
    assert_eq!(rule.status, RuleStatus::Disabled, "rules from the API are stored disabled");
    Ok(rule)
}

/// Stores a rule; a concurrent creation that took the trigger account first is reported like
/// the validation would have.
async fn store_rule(tx: &mut Tx, record: &RuleRecord, new: bool) -> Result<(), AppError> {
    let written =
        if new { rules::insert(tx, record).await } else { rules::update(tx, record).await };
    match written {
        Err(StoreError::Conflict(_)) => Err(invalid_rule(
            "trigger.account_id",
            "this account already has an ON_FUNDS_TRANSFERRED rule; edit that rule instead",
        )),
        other => Ok(other?),
    }
}

/// Creates a rule (stored `disabled`).
pub async fn create(
    app: &App,
    tx: &mut Tx,
    org: &OrgId,
    draft: &RuleDraft,
) -> Result<RuleRecord, AppError> {
    let (org, now) = app.organization(tx, org).await?;
    let rule = validated_rule(tx, &org.id, RuleId::generate(), draft, None).await?;
    let record = RuleRecord {
        rule,
        org_id: org.id,
        next_run_at: None,
        created_at: now,
        updated_at: now,
        deleted_at: None,
    };
    store_rule(tx, &record, true).await?;
    Ok(record)
}

/// Replaces a rule (which disables it).
pub async fn update(
    app: &App,
    tx: &mut Tx,
    org: &OrgId,
    id: &str,
    draft: &RuleDraft,
) -> Result<RuleRecord, AppError> {
    let (org, now) = app.organization(tx, org).await?;
    let existing = live_locked(tx, &org.id, id).await?;
    let rule_id = existing.rule.id.clone();
    let rule = validated_rule(tx, &org.id, rule_id.clone(), draft, Some(&rule_id)).await?;
    let record = RuleRecord { rule, next_run_at: None, updated_at: now, ..existing };
    store_rule(tx, &record, false).await?;
    Ok(record)
}

/// Deletes a rule (soft: its executions stay readable).
pub async fn delete(app: &App, tx: &mut Tx, org: &OrgId, id: &str) -> Result<(), AppError> {
    let (org, now) = app.organization(tx, org).await?;
    let mut record = live_locked(tx, &org.id, id).await?;
    record.rule.status = RuleStatus::Disabled;
    record.next_run_at = None;
    record.updated_at = now;
    record.deleted_at = Some(now);
    rules::update(tx, &record).await?;
    Ok(())
}

/// A manual run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Trigger {
    /// `manual_execute_amount`: the trigger amount.
    pub amount: Option<Cents>,
    /// A dry run.
    pub simulation: bool,
}

/// Runs an enabled rule now. Runs of one rule are serialized by the rule's lock, so periodic
/// caps hold however many triggers arrive at once.
pub async fn trigger(
    app: &App,
    tx: &mut Tx,
    org: &OrgId,
    id: &str,
    trigger: Trigger,
) -> Result<ExecutionRecord, AppError> {
    let (org, now) = app.organization(tx, org).await?;
    let record = live_locked(tx, &org.id, id).await?;
    if record.rule.status != RuleStatus::Enabled {
        return Err(AppError::RuleDisabled(id.to_owned()));
    }
    let run = Run {
        rule: &record,
        trigger: ExecutionTrigger::Manual,
        trigger_amount: trigger.amount,
        scheduled_time: None,
        simulation: trigger.simulation,
    };
    run_rule(tx, &org, run, now).await
}

/// Enables or disables a rule (a no-op when it already is), returning it. Only the status (and
/// the schedule it implies) changes, under the rule's lock.
pub async fn switch(
    app: &App,
    tx: &mut Tx,
    org: &OrgId,
    id: &str,
    status: RuleStatus,
) -> Result<RuleRecord, AppError> {
    let (org, now) = app.organization(tx, org).await?;
    let mut record = live_locked(tx, &org.id, id).await?;
    if record.rule.status != status {
        record.rule.status = status;
        record.updated_at = now;
        record.next_run_at = match status {
            RuleStatus::Enabled => {
                let last_run = rules::last_scheduled_run(tx, &org.id, &record.rule.id).await?;
                first_occurrence_from(&record.rule, now, last_run)
            }
            RuleStatus::Disabled => None,
        };
        rules::update(tx, &record).await?;
    }
    Ok(record)
}

/// The organization's live rules (optionally only those triggered by one account), each with its
/// trigger account.
pub async fn list(
    conn: &mut AnyConnection,
    org: &OrgId,
    source: Option<&str>,
) -> Result<Vec<(RuleRecord, Option<AccountRecord>)>, AppError> {
    let records = rules::list(conn, org, source).await?;
    let triggers: Vec<&AccountId> =
        records.iter().filter_map(|r| r.rule.trigger.account_id.as_ref()).collect();
    let named = accounts::by_ids(conn, org, &triggers).await?;
    Ok(records
        .into_iter()
        .map(|record| {
            let source = record
                .rule
                .trigger
                .account_id
                .as_ref()
                .and_then(|id| named.get(id.as_str()))
                .cloned();
            (record, source)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;
    use sequence_core::clock::ManualClock;
    use sequence_core::rules::{ActionDraft, ActionType, ScheduleKind, StepDraft, TriggerDraft};
    use sequence_store::Store;
    use sequence_store::orgs::{self, Organization};
    use sequence_store::test_support::{TestBackend, TestDatabase};

    use super::*;
    use crate::{accounts, ledger, unit_of_work, worker};

    /// Runs one use case in its own transaction.
    async fn run<T>(
        app: &App,
        use_case: impl AsyncFn(&mut sequence_store::Tx) -> Result<T, AppError>,
    ) -> T {
        let mut tx = unit_of_work::begin(&app.store).await.expect("begin");
        let value = use_case(&mut tx).await.expect("the use case succeeds");
        tx.commit().await.expect("commit");
        value
    }

    #[tokio::test]
    async fn switching_a_rule_off_and_on_in_the_millisecond_of_its_run_does_not_run_it_again() {
        // Regression (found by the simulator): enabling computed the first occurrence "at or
        // after now", so an occurrence that had just run at exactly `now` was scheduled again.
        let database = TestDatabase::create(TestBackend::Sqlite).await.expect("sqlite");
        let store = Store::connect(database.url()).await.expect("store");
        let start = Utc.with_ymd_and_hms(2025, 4, 20, 13, 25, 14).unwrap();
        let app = App::with_clock(store, Arc::new(ManualClock::new(start)));
        let org = Organization::new("Org", start);
        let id = org.id.clone();
        run(&app, async |tx| Ok(orgs::insert(tx, &org).await?)).await;
        let income = run(&app, async |tx| {
            accounts::open(
                &app,
                tx,
                &id,
                sequence_core::ledger::AccountKind::IncomeSource,
                "In",
                None,
            )
            .await
        })
        .await;
        let pod = run(&app, async |tx| {
            accounts::open(&app, tx, &id, sequence_core::ledger::AccountKind::Pod, "Pod", None)
                .await
        })
        .await;
        let deposit = ledger::Deposit {
            account_id: income.id.to_string(),
            amount: Cents::new(100_000),
            origin: None,
            description: None,
        };
        run(&app, async |tx| ledger::deposit(&app, tx, &id, deposit.clone()).await).await;
        let draft = RuleDraft {
            nickname: "Daily".to_owned(),
            description: None,
            status: RuleStatus::Disabled,
            trigger: TriggerDraft {
                kind: sequence_core::rules::TriggerKind::Scheduled,
                account_id: None,
                schedule_type: Some(ScheduleKind::Daily),
                start_date: Some(start),
            },
            steps: vec![StepDraft {
                conditions: None,
                actions: vec![ActionDraft {
                    action_type: ActionType::Fixed,
                    source_account_id: income.id.clone(),
                    destination_account_id: pod.id.clone(),
                    group_index: 0,
                    up_to_enabled: false,
                    limit: None,
                    amount_in_cents: Some(Cents::new(1_000)),
                    percentage_value: None,
                    percentage_target: None,
                }],
            }],
        };
        let rule = run(&app, async |tx| create(&app, tx, &id, &draft).await).await;
        let rule_id = rule.rule.id.to_string();
        let switch_to = async |status| {
            run(&app, async |tx| switch(&app, tx, &id, &rule_id, status).await).await
        };
        assert_eq!(switch_to(RuleStatus::Enabled).await.next_run_at, Some(start));
        let pass = worker::tick(&app).await.expect("a pass");
        assert_eq!(pass.rules_executed, 1, "{pass:?}");
        // Off and on again, still in the millisecond of the run.
        switch_to(RuleStatus::Disabled).await;
        let enabled = switch_to(RuleStatus::Enabled).await;
        assert_eq!(enabled.next_run_at, Some(start + TimeDelta::days(1)));
        let pass = worker::tick(&app).await.expect("a pass");
        assert_eq!(pass.rules_executed, 0, "the occurrence ran again: {pass:?}");
    }
}
