//! The rules store on SQLite and PostgreSQL (the latter when `SEQUENCE_TEST_POSTGRES_URL` is
//! set): round trips, the one-`ON_FUNDS_TRANSFERRED`-rule-per-account index, exactly-once claims
//! of scheduled occurrences and exactly-once counting of settled rule transfers under
//! concurrency, cap usage, execution listing, and the zero-amount error transfers migration 0002
//! allows.

use std::future::Future;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use sequence_core::ids::{AccountId, OrgId, RuleExecutionId, RuleId, TransferId};
use sequence_core::ledger::{
    AccountKind, TransferDirection, TransferErrorCode, TransferOrigin, TransferStatus,
};
use sequence_core::money::Cents;
use sequence_core::rules::{
    Action, ActionKind, CapPeriod, Rule, RuleStatus, Schedule, ScheduleKind, Step, Trigger,
    TriggerKind,
};
use sequence_store::accounts::{self, AccountRecord};
use sequence_store::orgs::{self, Organization};
use sequence_store::rules::{
    self, CapPeriodStarts, ExecutionFilter, ExecutionRecord, ExecutionStatus, ExecutionTrigger,
    RuleRecord, RuleTransfer, TransferCounters, TransferOutcome,
};
use sequence_store::test_support::{TestBackend, TestDatabase};
use sequence_store::transfers::{self, ModeFilter, TransferRecord};
use sequence_store::{Store, StoreError};

macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::run(sequence_store::test_support::TestBackend::Sqlite, super::$name).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                super::run(sequence_store::test_support::TestBackend::Postgres, super::$name).await;
            }
        }
    )+};
}

on_both_backends!(
    rules_round_trip_and_list_live_ones_oldest_first,
    one_live_on_funds_rule_per_account,
    a_scheduled_occurrence_is_claimed_once_under_concurrency,
    settled_transfers_are_counted_once_under_concurrency,
    cap_usage_sums_live_transfers_per_group_and_period,
    zero_amounts_are_allowed_for_error_transfers_only,
);

async fn run<F, Fut>(backend: TestBackend, test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(database) = TestDatabase::create(backend).await else { return };
    let store = Store::connect(database.url()).await.expect("connect and migrate");
    test(store.clone()).await;
    store.close().await;
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 4, 23, 9, 0, 0).unwrap() + TimeDelta::seconds(seconds)
}

/// An organization with an income source and a pod.
struct World {
    org: Organization,
    income: AccountRecord,
    pod: AccountRecord,
}

async fn world(store: &Store) -> World {
    let org = Organization::new("Org", at(0));
    let account = |kind, name: &str| AccountRecord {
        id: AccountId::generate(),
        org_id: org.id.clone(),
        kind,
        name: name.to_owned(),
        description: None,
        icon: None,
        beneficiary_name: "Org".to_owned(),
        institution_name: None,
        routing_number: None,
        account_number: None,
        balance: Cents::ZERO,
        reserved: Cents::ZERO,
        reported_balance: None,
        last_statement_balance: None,
        next_payment_minimum: None,
        next_payment_due_date: None,
        balance_updated_at: at(0),
        created_at: at(0),
        updated_at: at(0),
        deleted_at: None,
    };
    let income = account(AccountKind::IncomeSource, "Payroll");
    let pod = account(AccountKind::Pod, "Savings");
    let mut tx = store.begin().await.unwrap();
    orgs::insert(&mut tx, &org).await.unwrap();
    accounts::insert(&mut tx, &income).await.unwrap();
    accounts::insert(&mut tx, &pod).await.unwrap();
    tx.commit().await.unwrap();
    World { org, income, pod }
}

fn rule_record(world: &World, kind: TriggerKind, created: i64) -> RuleRecord {
    let schedule = (kind == TriggerKind::Scheduled)
        .then_some(Schedule { kind: ScheduleKind::Daily, start: at(0) });
    let action = |group_index| Action {
        kind: ActionKind::Fixed { amount: Cents::new(1_000) },
        source: world.income.id.clone(),
        destination: world.pod.id.clone(),
        group_index,
        up_to_enabled: false,
        limit: None,
    };
    RuleRecord {
        rule: Rule {
            id: RuleId::generate(),
            nickname: format!("{kind} rule"),
            description: Some("a description".to_owned()),
            status: RuleStatus::Disabled,
            trigger: Trigger { kind, account_id: Some(world.income.id.clone()), schedule },
            steps: vec![Step { conditions: None, actions: vec![action(0), action(1)] }],
        },
        org_id: world.org.id.clone(),
        next_run_at: None,
        created_at: at(created),
        updated_at: at(created),
        deleted_at: None,
    }
}

async fn insert_rule(store: &Store, record: &RuleRecord) {
    let mut tx = store.begin().await.unwrap();
    rules::insert(&mut tx, record).await.unwrap();
    tx.commit().await.unwrap();
}

fn transfer(
    world: &World,
    rule: &RuleRecord,
    execution: &RuleExecutionId,
    cents: i64,
    status: TransferStatus,
    created: i64,
) -> TransferRecord {
    TransferRecord {
        id: TransferId::generate(),
        org_id: world.org.id.clone(),
        source: Some(world.income.id.clone()),
        destination: Some(world.pod.id.clone()),
        amount: Cents::new(cents),
        direction: TransferDirection::Internal,
        origin: TransferOrigin::Rule,
        status,
        error_code: (status == TransferStatus::Error)
            .then_some(TransferErrorCode::InsufficientFunds),
        description: None,
        simulation: false,
        reserved: Cents::ZERO,
        rule_id: Some(rule.rule.id.clone()),
        rule_execution_id: Some(execution.clone()),
        processing_started_at: None,
        next_step_at: None,
        created_at: at(created),
        updated_at: at(created),
        completed_at: (status == TransferStatus::Complete).then_some(at(created)),
    }
}

/// An execution of `rule` at `created` with `transfers` (inserted, linked in order, group i % 2).
async fn execution(
    store: &Store,
    world: &World,
    rule: &RuleRecord,
    created: i64,
    transfers: &[TransferRecord],
) -> ExecutionRecord {
    let outcomes: Vec<TransferOutcome> = transfers
        .iter()
        .map(|t| match t.status {
            TransferStatus::Complete => TransferOutcome::Completed,
            TransferStatus::Error | TransferStatus::Cancelled => TransferOutcome::Failed,
            _ => TransferOutcome::Pending,
        })
        .collect();
    let count =
        |outcome| u32::try_from(outcomes.iter().filter(|o| **o == outcome).count()).unwrap();
    let record = ExecutionRecord {
        id: transfers
            .first()
            .and_then(|t| t.rule_execution_id.clone())
            .unwrap_or_else(RuleExecutionId::generate),
        org_id: world.org.id.clone(),
        rule_id: rule.rule.id.clone(),
        rule_name: rule.rule.nickname.clone(),
        trigger: ExecutionTrigger::Manual,
        simulation: false,
        status: ExecutionStatus::InProgress,
        trigger_amount: Some(Cents::new(5_000)),
        scheduled_time: None,
        step_index_matched: Some(0),
        conditions_not_met: false,
        counters: TransferCounters {
            attempted: u32::try_from(transfers.len()).unwrap(),
            completed: count(TransferOutcome::Completed),
            failed: count(TransferOutcome::Failed),
            pending: count(TransferOutcome::Pending),
            skipped: 1,
        },
        stopped_by_error: false,
        error_message: None,
        created_at: at(created),
        updated_at: at(created),
    };
    let links: Vec<RuleTransfer> = transfers
        .iter()
        .zip(&outcomes)
        .enumerate()
        .map(|(i, (t, outcome))| RuleTransfer {
            transfer_id: t.id.clone(),
            position: u32::try_from(i).unwrap(),
            step_index: 0,
            action_index: u32::try_from(i).unwrap(),
            group_index: u32::try_from(i % 2).unwrap(),
            outcome: *outcome,
        })
        .collect();
    let mut tx = store.begin().await.unwrap();
    for t in transfers {
        transfers::insert(&mut tx, t).await.unwrap();
    }
    rules::insert_execution(&mut tx, &record).await.unwrap();
    rules::insert_rule_transfers(&mut tx, &world.org.id, &rule.rule.id, &record.id, &links)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    record
}

async fn rules_round_trip_and_list_live_ones_oldest_first(store: Store) {
    let world = world(&store).await;
    let manual = rule_record(&world, TriggerKind::Manual, 2);
    let scheduled = rule_record(&world, TriggerKind::Scheduled, 1);
    insert_rule(&store, &manual).await;
    insert_rule(&store, &scheduled).await;
    let mut conn = store.pool().acquire().await.unwrap();
    let found = rules::find(&mut conn, &world.org.id, manual.rule.id.as_str()).await.unwrap();
    assert_eq!(found.as_ref(), Some(&manual));
    let listed = rules::list(&mut conn, &world.org.id, None).await.unwrap();
    assert_eq!(listed, [scheduled.clone(), manual.clone()]);
    assert_eq!(
        rules::list(&mut conn, &world.org.id, Some(world.pod.id.as_str())).await.unwrap(),
        []
    );
    assert_eq!(
        rules::list(&mut conn, &world.org.id, Some(world.income.id.as_str())).await.unwrap().len(),
        2
    );
    // Another organization sees nothing.
    assert_eq!(
        rules::find(&mut conn, &OrgId::generate(), manual.rule.id.as_str()).await.unwrap(),
        None
    );
    drop(conn);

    // Enable the scheduled rule, then delete the manual one.
    let enabled = RuleRecord {
        rule: Rule { status: RuleStatus::Enabled, ..scheduled.rule.clone() },
        next_run_at: Some(at(86_400)),
        updated_at: at(3),
        ..scheduled.clone()
    };
    let deleted = RuleRecord { deleted_at: Some(at(4)), updated_at: at(4), ..manual.clone() };
    let mut tx = store.begin().await.unwrap();
    rules::update(&mut tx, &enabled).await.unwrap();
    rules::update(&mut tx, &deleted).await.unwrap();
    assert!(matches!(
        rules::update(&mut tx, &rule_record(&world, TriggerKind::Manual, 0)).await,
        Err(StoreError::NotFound)
    ));
    tx.commit().await.unwrap();
    let mut conn = store.pool().acquire().await.unwrap();
    assert_eq!(
        rules::list(&mut conn, &world.org.id, None).await.unwrap(),
        std::slice::from_ref(&enabled)
    );
    assert_eq!(
        rules::find(&mut conn, &world.org.id, manual.rule.id.as_str()).await.unwrap(),
        Some(deleted)
    );
    assert_eq!(rules::next_due(&mut conn, &world.org.id, at(86_399)).await.unwrap(), None);
    assert_eq!(rules::next_due(&mut conn, &world.org.id, at(86_400)).await.unwrap(), Some(enabled));
}

async fn one_live_on_funds_rule_per_account(store: Store) {
    let world = world(&store).await;
    let first = rule_record(&world, TriggerKind::OnFundsTransferred, 0);
    insert_rule(&store, &first).await;
    let mut conn = store.pool().acquire().await.unwrap();
    let watched = rules::on_funds_trigger_accounts(&mut conn, &world.org.id, None).await.unwrap();
    assert!(watched.contains(&world.income.id));
    let except = rules::on_funds_trigger_accounts(&mut conn, &world.org.id, Some(&first.rule.id))
        .await
        .unwrap();
    assert!(except.is_empty(), "a rule being replaced may keep its account");
    drop(conn);
    let mut tx = store.begin().await.unwrap();
    let second =
        rules::insert(&mut tx, &rule_record(&world, TriggerKind::OnFundsTransferred, 1)).await;
    assert!(matches!(second, Err(StoreError::Conflict(_))), "{second:?}");
    drop(tx);
    // Deleting the first frees the account.
    let mut tx = store.begin().await.unwrap();
    rules::update(&mut tx, &RuleRecord { deleted_at: Some(at(2)), ..first }).await.unwrap();
    rules::insert(&mut tx, &rule_record(&world, TriggerKind::OnFundsTransferred, 3)).await.unwrap();
    tx.commit().await.unwrap();
}

async fn a_scheduled_occurrence_is_claimed_once_under_concurrency(store: Store) {
    let world = world(&store).await;
    let mut record = rule_record(&world, TriggerKind::Scheduled, 0);
    record.rule.status = RuleStatus::Enabled;
    record.next_run_at = Some(at(60));
    insert_rule(&store, &record).await;
    let claims = (0..8).map(|_| {
        let (store, org, rule) = (store.clone(), world.org.id.clone(), record.rule.id.clone());
        tokio::spawn(async move {
            loop {
                let mut tx = store.begin().await?;
                let won =
                    rules::claim_occurrence(&mut tx, &org, &rule, at(60), Some(at(120))).await?;
                match tx.commit().await.map_err(StoreError::from) {
                    Ok(()) => return Ok::<bool, StoreError>(won),
                    Err(StoreError::Retry) => continue,
                    Err(error) => return Err(error),
                }
            }
        })
    });
    let mut winners = 0;
    for claim in claims.collect::<Vec<_>>() {
        if claim.await.unwrap().unwrap() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    let mut conn = store.pool().acquire().await.unwrap();
    let stored =
        rules::find(&mut conn, &world.org.id, record.rule.id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.next_run_at, Some(at(120)));
    // A disabled rule cannot be claimed.
    let disabled = RuleRecord {
        rule: Rule { status: RuleStatus::Disabled, ..stored.rule.clone() },
        next_run_at: None,
        ..stored
    };
    rules::update(&mut conn, &disabled).await.unwrap();
    assert!(
        !rules::claim_occurrence(&mut conn, &world.org.id, &record.rule.id, at(120), None)
            .await
            .unwrap()
    );
}

async fn settled_transfers_are_counted_once_under_concurrency(store: Store) {
    let world = world(&store).await;
    let rule = rule_record(&world, TriggerKind::Manual, 0);
    insert_rule(&store, &rule).await;
    let id = RuleExecutionId::generate();
    let made: Vec<TransferRecord> = (0..6)
        .map(|i| transfer(&world, &rule, &id, 1_000, TransferStatus::Processing, i))
        .collect();
    execution(&store, &world, &rule, 0, &made).await;
    // Each transfer is reported settled three times, from concurrent transactions.
    let reports = made.iter().enumerate().flat_map(|(i, t)| {
        let outcome = if i < 4 { TransferOutcome::Completed } else { TransferOutcome::Failed };
        (0..3).map(move |_| (t.id.clone(), outcome))
    });
    let tasks: Vec<_> = reports
        .map(|(transfer, outcome)| {
            let (store, org) = (store.clone(), world.org.id.clone());
            tokio::spawn(async move {
                loop {
                    let mut tx = store.begin().await?;
                    let counted =
                        rules::record_transfer_outcome(&mut tx, &org, &transfer, outcome, at(10))
                            .await?;
                    match tx.commit().await.map_err(StoreError::from) {
                        Ok(()) => return Ok::<bool, StoreError>(counted.is_some()),
                        Err(StoreError::Retry) => continue,
                        Err(error) => return Err(error),
                    }
                }
            })
        })
        .collect();
    let mut counted = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() {
            counted += 1;
        }
    }
    assert_eq!(counted, 6, "each transfer counted once");
    let mut conn = store.pool().acquire().await.unwrap();
    let stored =
        rules::find_execution(&mut conn, &world.org.id, id.as_str()).await.unwrap().unwrap();
    assert_eq!(
        stored.counters,
        TransferCounters { attempted: 6, completed: 4, failed: 2, pending: 0, skipped: 1 }
    );
    rules::set_execution_status(&mut conn, &id, ExecutionStatus::Partial, Some("first"), at(11))
        .await
        .unwrap();
    rules::set_execution_status(&mut conn, &id, ExecutionStatus::Partial, Some("second"), at(12))
        .await
        .unwrap();
    let stored =
        rules::find_execution(&mut conn, &world.org.id, id.as_str()).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.error_message.as_deref()),
        (ExecutionStatus::Partial, Some("first"))
    );
    // Transfer ids come back in action order, whatever their ids.
    let ids = rules::transfer_ids(&mut conn, &[&id]).await.unwrap();
    assert_eq!(ids[&id], made.iter().map(|t| t.id.clone()).collect::<Vec<_>>());
}

async fn cap_usage_sums_live_transfers_per_group_and_period(store: Store) {
    let world = world(&store).await;
    let rule = rule_record(&world, TriggerKind::Manual, 0);
    insert_rule(&store, &rule).await;
    // at(0) is Tuesday 2024-04-23 09:00. Week from Monday 04-22, month from 04-01, year from 01-01.
    let starts = CapPeriodStarts {
        week: Utc.with_ymd_and_hms(2024, 4, 22, 0, 0, 0).unwrap(),
        month: Utc.with_ymd_and_hms(2024, 4, 1, 0, 0, 0).unwrap(),
        year: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
    };
    let day = 86_400;
    // One transfer per execution, each at position 0, so all in group 0.
    let cases = [
        (100, TransferStatus::Complete, 0),            // this week
        (200, TransferStatus::Processing, 0),          // this week: in flight counts
        (400, TransferStatus::Complete, -10 * day),    // this month
        (800, TransferStatus::Error, 0),               // failed: never counts
        (1_600, TransferStatus::Complete, -60 * day),  // this year
        (3_200, TransferStatus::Complete, -400 * day), // last year
    ];
    for (cents, status, created) in cases {
        let id = RuleExecutionId::generate();
        let made = [transfer(&world, &rule, &id, cents, status, created)];
        execution(&store, &world, &rule, created, &made).await;
    }
    // A two-transfer execution: a cancelled one in group 0 (never counts) and one in group 1.
    let id = RuleExecutionId::generate();
    let pair = [
        transfer(&world, &rule, &id, 10_000, TransferStatus::Cancelled, 0),
        transfer(&world, &rule, &id, 20_000, TransferStatus::Complete, 0),
    ];
    execution(&store, &world, &rule, 0, &pair).await;
    let mut conn = store.pool().acquire().await.unwrap();
    let usage = rules::cap_usage(&mut conn, &rule.rule.id, starts).await.unwrap();
    let expected = [
        ((0, CapPeriod::PerWeek), 300),
        ((0, CapPeriod::PerMonth), 700),
        ((0, CapPeriod::PerYear), 2_300),
        ((1, CapPeriod::PerWeek), 20_000),
        ((1, CapPeriod::PerMonth), 20_000),
        ((1, CapPeriod::PerYear), 20_000),
    ];
    let expected = expected.into_iter().map(|(key, cents)| (key, Cents::new(cents))).collect();
    assert_eq!(usage, expected);

    // Executions list newest first, filtered.
    let filter = ExecutionFilter {
        rule: rule.rule.id.clone(),
        status: None,
        trigger: Some(ExecutionTrigger::Manual),
        mode: ModeFilter::Live,
        from: Some(at(-11 * day)),
        to: None,
    };
    let listed =
        rules::list_executions(&mut conn, &world.org.id, &filter, None, 100).await.unwrap();
    let created: Vec<DateTime<Utc>> = listed.iter().map(|e| e.created_at).collect();
    assert_eq!(created.len(), 5);
    assert!(created.is_sorted_by(|a, b| a >= b), "newest first: {created:?}");
}

async fn zero_amounts_are_allowed_for_error_transfers_only(store: Store) {
    let world = world(&store).await;
    let rule = rule_record(&world, TriggerKind::Manual, 0);
    insert_rule(&store, &rule).await;
    let id = RuleExecutionId::generate();
    let mut tx = store.begin().await.unwrap();
    let failed = TransferRecord {
        error_code: Some(TransferErrorCode::AccountNoLastStatementBalance),
        ..transfer(&world, &rule, &id, 0, TransferStatus::Error, 0)
    };
    transfers::insert(&mut tx, &failed).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let refused =
        transfers::insert(&mut tx, &transfer(&world, &rule, &id, 0, TransferStatus::Processing, 0))
            .await;
    assert!(refused.is_err(), "a zero-amount transfer that is not an error is refused");
    drop(tx);
    let mut conn = store.pool().acquire().await.unwrap();
    assert_eq!(
        transfers::find(&mut conn, &world.org.id, failed.id.as_str()).await.unwrap(),
        Some(failed)
    );
}
