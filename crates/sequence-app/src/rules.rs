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
/// (stored precision).
fn first_occurrence_from(rule: &Rule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let schedule = schedule_at_stored_precision(rule.trigger.schedule?);
    next_occurrence_after(&schedule, now - TimeDelta::milliseconds(1)).map(at_stored_precision)
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
            RuleStatus::Enabled => first_occurrence_from(&record.rule, now),
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
