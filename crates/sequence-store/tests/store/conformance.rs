//! The store's conformance suite: every test runs against SQLite and against PostgreSQL (the
//! latter when `SEQUENCE_TEST_POSTGRES_URL` is set; otherwise it prints why it is skipped), each
//! on a fresh database. The two backends must behave identically: same results, same conflicts,
//! same NULL handling, same winners of concurrent conditional updates.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use sequence_core::ids::{AccountId, ApiKeyId, AuditEntryId, OrgId, TransferId};
use sequence_core::ledger::{
    AccountKind, Endpoint, ExternalAccountType, Posting, ReportedBalances, TransferDirection,
    TransferErrorCode, TransferLegs, TransferOrigin, TransferStatus, postings_for, replay,
};
use sequence_core::money::Cents;
use sequence_store::accounts::{self, AccountRecord};
use sequence_store::audit::{self, AuditEntry, AuditFilter, Outcome};
use sequence_store::idempotency::{self, Claim, LOCK_MS, RETENTION_MS};
use sequence_store::keys::{self, ApiKeyRecord};
use sequence_store::ledger::{self, Movement, MovementId};
use sequence_store::orgs::{self, Organization};
use sequence_store::test_support::{TestBackend, TestDatabase};
use sequence_store::transfers::{
    self, AccountRole, Cursor, ModeFilter, TransferFilter, TransferRecord,
};
use sequence_store::{Backend, Store, StoreError};
use tokio::task::JoinSet;

/// Declares `name::sqlite` and `name::postgres` for each conformance test function `name`.
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
    migrations_select_the_backend_and_are_idempotent,
    organizations_round_trip_and_the_clock_only_moves_forward,
    api_keys_round_trip_and_revoke,
    accounts_round_trip_filter_and_soft_delete,
    committed_account_reads_see_commits_and_not_open_transactions,
    work_on_the_writer_lane_commits_and_abandoned_work_rolls_back,
    locking_several_accounts_reads_them_in_id_order,
    an_audit_entry_takes_its_organizations_clock,
    idempotency_claim_replay_mismatch_in_progress_and_expiry,
    idempotency_concurrent_claims_acquire_once,
    reserve_never_overdraws,
    reserve_never_overdraws_under_concurrency,
    post_writes_balanced_entries_with_before_and_after,
    concurrent_postings_keep_the_ledger_consistent,
    conditional_status_update_wins_once,
    transfers_round_trip_list_filters_and_pages,
    due_in_flight_and_reservation_queries,
    locking_an_account_serializes_deletion_with_arriving_transfers,
);

/// Runs `test` on a fresh database of `backend`, or prints why it is skipped.
async fn run<F, Fut>(backend: TestBackend, test: F)
where
    F: FnOnce(Store, TestDatabase) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(database) = TestDatabase::create(backend).await else { return };
    let store = Store::connect(database.url()).await.expect("connect and migrate");
    test(store.clone(), database).await;
    store.close().await;
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 4, 23, 9, 0, 0).unwrap() + TimeDelta::seconds(seconds)
}

async fn new_org(store: &Store, name: &str) -> Organization {
    let org = Organization::new(name, at(0));
    let mut tx = store.begin().await.unwrap();
    orgs::insert(&mut tx, &org).await.unwrap();
    tx.commit().await.unwrap();
    org
}

fn account_record(
    org: &Organization,
    kind: AccountKind,
    name: &str,
    created: DateTime<Utc>,
) -> AccountRecord {
    let external = matches!(kind, AccountKind::External(_));
    AccountRecord {
        id: AccountId::generate(),
        org_id: org.id.clone(),
        kind,
        name: name.to_owned(),
        description: None,
        icon: Some("briefcase".to_owned()),
        beneficiary_name: org.name.clone(),
        institution_name: external.then(|| "Chase".to_owned()),
        routing_number: Some("021000021".to_owned()),
        account_number: Some("000123456789".to_owned()),
        balance: Cents::ZERO,
        reserved: Cents::ZERO,
        reported_balance: external.then_some(Cents::new(245_000)),
        last_statement_balance: None,
        next_payment_minimum: None,
        next_payment_due_date: None,
        balance_updated_at: created,
        created_at: created,
        updated_at: created,
        deleted_at: None,
    }
}

async fn new_account(
    store: &Store,
    org: &Organization,
    kind: AccountKind,
    name: &str,
) -> AccountRecord {
    let record = account_record(org, kind, name, at(0));
    let mut tx = store.begin().await.unwrap();
    accounts::insert(&mut tx, &record).await.unwrap();
    tx.commit().await.unwrap();
    record
}

async fn account(store: &Store, org: &Organization, id: &AccountId) -> AccountRecord {
    let mut conn = store.pool().acquire().await.unwrap();
    accounts::find(&mut conn, &org.id, id.as_str()).await.unwrap().expect("account exists")
}

fn transfer_record(
    org: &Organization,
    source: Option<&AccountRecord>,
    destination: Option<&AccountRecord>,
    amount: i64,
    status: TransferStatus,
    created: DateTime<Utc>,
) -> TransferRecord {
    let endpoint = |a: Option<&AccountRecord>| match a {
        Some(a) => Endpoint::Account { id: a.id.clone(), kind: a.kind },
        None => Endpoint::OutsideWorld,
    };
    let direction = TransferDirection::between(&endpoint(source), &endpoint(destination)).unwrap();
    TransferRecord {
        id: TransferId::generate(),
        org_id: org.id.clone(),
        source: source.map(|a| a.id.clone()),
        destination: destination.map(|a| a.id.clone()),
        amount: Cents::new(amount),
        direction,
        origin: if source.is_none() {
            TransferOrigin::Paycheck
        } else {
            TransferOrigin::of_manual_transfer(direction)
        },
        status,
        error_code: (status == TransferStatus::Error)
            .then_some(TransferErrorCode::InsufficientFunds),
        description: None,
        simulation: false,
        reserved: Cents::ZERO,
        rule_id: None,
        rule_execution_id: None,
        processing_started_at: None,
        next_step_at: None,
        created_at: created,
        updated_at: created,
        completed_at: (status == TransferStatus::Complete).then_some(created),
    }
}

/// A completed deposit of `amount` into `account`, with its postings: the way money enters.
async fn deposit(
    store: &Store,
    org: &Organization,
    account: &AccountRecord,
    amount: i64,
) -> TransferRecord {
    let record = transfer_record(org, None, Some(account), amount, TransferStatus::Complete, at(1));
    let legs = TransferLegs {
        source: Endpoint::OutsideWorld,
        destination: Endpoint::Account { id: account.id.clone(), kind: account.kind },
        amount: Cents::new(amount),
    };
    let postings = postings_for(&legs, &org.system_accounts);
    let mut tx = store.begin().await.unwrap();
    transfers::insert(&mut tx, &record).await.unwrap();
    ledger::post(&mut tx, &org.id, Movement::Transfer(&record.id), &postings, None, at(1))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    record
}

/// The balance of every ledger account of `org` that has entries, as stored.
async fn stored_balances(
    store: &Store,
    org: &Organization,
    ids: &[&AccountId],
) -> BTreeMap<AccountId, Cents> {
    let mut conn = store.pool().acquire().await.unwrap();
    let mut balances = BTreeMap::new();
    for id in ids {
        let row: (i64,) =
            sqlx::query_as("SELECT balance_cents FROM accounts WHERE id = $1 AND org_id = $2")
                .bind(id.as_str())
                .bind(org.id.as_str())
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        balances.insert((*id).clone(), Cents::new(row.0));
    }
    balances
}

/// Checks the entries of `org`: each account's entries chain (before = previous after, versions
/// 1, 2, 3…), each transfer's entries sum to zero, and replaying them gives the stored balances.
async fn assert_ledger_consistent(store: &Store, org: &Organization) -> Vec<ledger::Entry> {
    let entries = {
        let mut conn = store.pool().acquire().await.unwrap();
        ledger::entries(&mut conn, &org.id).await.unwrap()
    };
    let mut last: BTreeMap<&AccountId, (i64, Cents)> = BTreeMap::new();
    let mut per_movement: BTreeMap<&MovementId, i64> = BTreeMap::new();
    for entry in &entries {
        let (version, before) = last.get(&entry.account).copied().unwrap_or((0, Cents::ZERO));
        assert_eq!(
            entry.account_version,
            version + 1,
            "versions of {} are consecutive",
            entry.account
        );
        assert_eq!(
            entry.balance_before, before,
            "entry {entry:?} starts where the previous one ended"
        );
        assert_eq!(entry.balance_after.get(), entry.balance_before.get() + entry.amount.get());
        last.insert(&entry.account, (entry.account_version, entry.balance_after));
        *per_movement.entry(&entry.movement).or_default() += entry.amount.get();
    }
    for (movement, sum) in per_movement {
        assert_eq!(sum, 0, "the entries of {movement:?} balance");
    }
    let postings: Vec<Posting> = entries
        .iter()
        .map(|e| Posting { account: e.account.clone(), amount_delta: e.amount })
        .collect();
    let replayed = replay(&postings).unwrap();
    let ids: Vec<&AccountId> = replayed.keys().collect();
    assert_eq!(
        stored_balances(store, org, &ids).await,
        replayed,
        "the ledger replays to the stored balances"
    );
    assert_eq!(
        replayed.values().map(|c| c.get()).sum::<i64>(),
        0,
        "an organization's postings sum to zero"
    );
    entries
}

// ------------------------------------------------------------------------------------------------

async fn migrations_select_the_backend_and_are_idempotent(store: Store, database: TestDatabase) {
    let expected = match database.backend() {
        TestBackend::Sqlite => Backend::Sqlite,
        TestBackend::Postgres => Backend::Postgres,
    };
    assert_eq!(store.backend(), expected);
    let mut conn = store.pool().acquire().await.unwrap();
    assert!(sequence_store::ping(&mut conn).await);
    drop(conn);
    // Connecting again finds every migration applied and changes nothing.
    let again = Store::connect(database.url()).await.expect("second connect");
    let mut conn = again.pool().acquire().await.unwrap();
    let applied: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert!(applied.0 >= 2, "0001 and 0002 at least");
    drop(conn);
    again.close().await;

    let unsupported =
        Store::connect("mysql://localhost/db").await.expect_err("mysql is not supported");
    assert!(matches!(unsupported, StoreError::Config(_)), "{unsupported:?}");
}

async fn organizations_round_trip_and_the_clock_only_moves_forward(
    store: Store,
    _db: TestDatabase,
) {
    let org = new_org(&store, "John Smith").await;
    let other = new_org(&store, "Jane Doe").await;
    let mut tx = store.begin().await.unwrap();
    assert_eq!(orgs::get(&mut tx, &org.id).await.unwrap(), org);
    assert!(matches!(
        orgs::get(&mut tx, &OrgId::from_raw("org_missing")).await,
        Err(StoreError::NotFound)
    ));

    let mut ids = orgs::list_ids(&mut tx).await.unwrap();
    ids.retain(|id| *id == org.id || *id == other.id);
    assert_eq!(ids.len(), 2);
    assert_eq!(orgs::find_by_name(&mut tx, "Jane Doe").await.unwrap(), Some(other.id.clone()));
    assert_eq!(orgs::find_by_name(&mut tx, "Nobody").await.unwrap(), None);

    // The clock offset only grows, whatever order advances arrive in.
    assert_eq!(orgs::advance_clock(&mut tx, &org.id, 3600).await.unwrap(), 3600);
    assert_eq!(orgs::advance_clock(&mut tx, &org.id, 60).await.unwrap(), 3600);
    assert_eq!(orgs::advance_clock(&mut tx, &org.id, 86_400).await.unwrap(), 86_400);
    assert_eq!(orgs::get(&mut tx, &other.id).await.unwrap().clock_offset_seconds, 0);

    // The approval threshold can be set and cleared (a NULL bind).
    orgs::set_approval_threshold(&mut tx, &org.id, Some(Cents::new(250_000))).await.unwrap();
    assert_eq!(
        orgs::get(&mut tx, &org.id).await.unwrap().approval_threshold,
        Some(Cents::new(250_000))
    );
    orgs::set_approval_threshold(&mut tx, &org.id, None).await.unwrap();
    assert_eq!(orgs::get(&mut tx, &org.id).await.unwrap().approval_threshold, None);
    assert!(matches!(
        orgs::set_approval_threshold(&mut tx, &OrgId::from_raw("org_missing"), None).await,
        Err(StoreError::NotFound)
    ));
    tx.commit().await.unwrap();

    // Two organizations with the same system account ids cannot exist.
    let clash = Organization { id: OrgId::generate(), ..org.clone() };
    let mut tx = store.begin().await.unwrap();
    let refused = orgs::insert(&mut tx, &clash).await.expect_err("duplicate system account ids");
    assert!(matches!(refused, StoreError::Conflict(_)), "{refused:?}");
}

async fn api_keys_round_trip_and_revoke(store: Store, _db: TestDatabase) {
    let org = new_org(&store, "Org").await;
    let key = |n: i64| ApiKeyRecord {
        id: ApiKeyId::generate(),
        org_id: org.id.clone(),
        name: format!("key {n}"),
        secret_sha256: "ab".repeat(32),
        permissions_json: r#"[{"scope":"LIST_ACCOUNTS"}]"#.to_owned(),
        created_at: at(n),
        revoked_at: None,
    };
    let (first, second) = (key(1), key(2));
    let mut tx = store.begin().await.unwrap();
    keys::insert(&mut tx, &second).await.unwrap();
    keys::insert(&mut tx, &first).await.unwrap();
    assert_eq!(keys::find(&mut tx, &first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(keys::find(&mut tx, &ApiKeyId::from_raw("key_missing")).await.unwrap(), None);
    assert_eq!(
        keys::list(&mut tx, &org.id).await.unwrap(),
        [first.clone(), second.clone()],
        "oldest first"
    );

    let orphan = ApiKeyRecord { org_id: OrgId::from_raw("org_missing"), ..key(3) };
    assert!(matches!(keys::insert(&mut tx, &orphan).await, Err(StoreError::NotFound)));

    keys::revoke(&mut tx, &first.id, at(10)).await.unwrap();
    keys::revoke(&mut tx, &first.id, at(20)).await.unwrap();
    assert_eq!(
        keys::find(&mut tx, &first.id).await.unwrap().unwrap().revoked_at,
        Some(at(10)),
        "revoking is idempotent"
    );
    assert!(matches!(
        keys::revoke(&mut tx, &ApiKeyId::from_raw("key_missing"), at(10)).await,
        Err(StoreError::NotFound)
    ));
    tx.commit().await.unwrap();
}

async fn accounts_round_trip_filter_and_soft_delete(store: Store, _db: TestDatabase) {
    let org = new_org(&store, "Org").await;
    let other_org = new_org(&store, "Other").await;
    let mut tx = store.begin().await.unwrap();
    let pod = account_record(&org, AccountKind::Pod, "Pod", at(3));
    let income = account_record(&org, AccountKind::IncomeSource, "Payroll", at(5));
    let mut card =
        account_record(&org, AccountKind::External(ExternalAccountType::Liability), "Amex", at(1));
    card.last_statement_balance = Some(Cents::new(198_000));
    card.next_payment_minimum = Some(Cents::new(3_500));
    card.next_payment_due_date = chrono::NaiveDate::from_ymd_opt(2024, 5, 15);
    let theirs = account_record(&other_org, AccountKind::Pod, "Theirs", at(0));
    for record in [&pod, &income, &card, &theirs] {
        accounts::insert(&mut tx, record).await.unwrap();
    }
    assert_eq!(accounts::find(&mut tx, &org.id, pod.id.as_str()).await.unwrap(), Some(pod.clone()));
    assert_eq!(
        accounts::find(&mut tx, &org.id, card.id.as_str()).await.unwrap(),
        Some(card.clone()),
        "every field round-trips"
    );
    assert_eq!(
        accounts::find(&mut tx, &org.id, theirs.id.as_str()).await.unwrap(),
        None,
        "another organization's account"
    );
    let system = org.system_accounts.outside_world.as_str();
    assert_eq!(
        accounts::find(&mut tx, &org.id, system).await.unwrap(),
        None,
        "system accounts are hidden"
    );

    let names =
        |records: Vec<AccountRecord>| records.into_iter().map(|a| a.name).collect::<Vec<_>>();
    assert_eq!(
        names(accounts::list(&mut tx, &org.id, None).await.unwrap()),
        ["Payroll", "Pod", "Amex"]
    );
    assert_eq!(names(accounts::list(&mut tx, &org.id, Some("pod")).await.unwrap()), ["Pod"]);
    assert_eq!(
        names(accounts::list(&mut tx, &org.id, Some("external_account")).await.unwrap()),
        ["Amex"]
    );
    assert_eq!(
        names(accounts::list(&mut tx, &org.id, Some("system")).await.unwrap()),
        Vec::<String>::new()
    );

    let both = accounts::by_ids(&mut tx, &org.id, &[&pod.id, &income.id, &pod.id, &theirs.id])
        .await
        .unwrap();
    assert_eq!(both.keys().cloned().collect::<Vec<_>>(), {
        let mut ids = vec![pod.id.to_string(), income.id.to_string()];
        ids.sort();
        ids
    });

    tx.commit().await.unwrap();

    // Duplicate ids conflict. (On PostgreSQL a failed statement aborts its transaction, so a
    // use case must stop at its first error; the server's always do.)
    let mut tx = store.begin().await.unwrap();
    let refused = accounts::insert(&mut tx, &pod).await.expect_err("duplicate id");
    assert!(matches!(refused, StoreError::Conflict(_)), "{refused:?}");
    drop(tx);

    // Deleting: an internal account with money is refused; an empty one and an external one go.
    deposit(&store, &org, &pod, 10_000).await;
    let mut tx = store.begin().await.unwrap();
    assert!(
        !accounts::soft_delete_if_empty(&mut tx, &org.id, &pod.id, at(9)).await.unwrap(),
        "pod holds money"
    );
    assert!(accounts::soft_delete_if_empty(&mut tx, &org.id, &income.id, at(9)).await.unwrap());
    assert!(
        accounts::soft_delete_if_empty(&mut tx, &org.id, &card.id, at(9)).await.unwrap(),
        "external balances do not block"
    );
    assert!(
        !accounts::soft_delete_if_empty(&mut tx, &org.id, &income.id, at(10)).await.unwrap(),
        "already deleted"
    );
    assert!(
        !accounts::soft_delete_if_empty(&mut tx, &org.id, &theirs.id, at(9)).await.unwrap(),
        "another organization's"
    );
    let system_id = org.system_accounts.outside_world.clone();
    assert!(
        !accounts::soft_delete_if_empty(&mut tx, &org.id, &system_id, at(9)).await.unwrap(),
        "system accounts stay"
    );

    let deleted = accounts::find(&mut tx, &org.id, income.id.as_str()).await.unwrap().unwrap();
    assert_eq!(deleted.deleted_at, Some(at(9)));
    assert!(matches!(
        accounts::get_live(&mut tx, &org.id, income.id.as_str()).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        accounts::get_live(&mut tx, &org.id, pod.id.as_str()).await.unwrap().balance,
        Cents::new(10_000)
    );
    assert_eq!(
        names(accounts::list(&mut tx, &org.id, None).await.unwrap()),
        ["Pod"],
        "deleted accounts are not listed"
    );
    tx.commit().await.unwrap();
}

/// `accounts::lock_and_find_all` (a transfer's two sides in one statement): the organization's
/// accounts among the ids, deleted ones included, in id order, once each; never a system account,
/// another organization's account or an unknown id.
async fn locking_several_accounts_reads_them_in_id_order(store: Store, _database: TestDatabase) {
    let org = new_org(&store, "Org").await;
    let other = new_org(&store, "Other").await;
    let pod = account_record(&org, AccountKind::Pod, "Pod", at(1));
    let income = account_record(&org, AccountKind::IncomeSource, "Income", at(2));
    let elsewhere = account_record(&other, AccountKind::Pod, "Elsewhere", at(3));
    let mut tx = store.begin().await.unwrap();
    for account in [&pod, &income, &elsewhere] {
        accounts::insert(&mut tx, account).await.unwrap();
    }
    assert!(accounts::soft_delete_if_empty(&mut tx, &org.id, &income.id, at(4)).await.unwrap());
    let system = org.system_accounts.outside_world.as_str();
    let ids = [income.id.as_str(), elsewhere.id.as_str(), pod.id.as_str(), system, "acc_missing"];
    let locked = accounts::lock_and_find_all(&mut tx, &org.id, &ids).await.unwrap();
    let mut expected = vec![pod.id.clone(), income.id.clone()];
    expected.sort();
    assert_eq!(locked.iter().map(|a| a.id.clone()).collect::<Vec<_>>(), expected);
    assert!(locked.iter().any(|a| a.id == income.id && a.is_deleted()), "deleted ones included");
    let twice = [pod.id.as_str(), pod.id.as_str()];
    assert_eq!(accounts::lock_and_find_all(&mut tx, &org.id, &twice).await.unwrap().len(), 1);
    assert!(accounts::lock_and_find_all(&mut tx, &org.id, &[]).await.unwrap().is_empty());
    tx.commit().await.unwrap();
}

/// `audit::insert_at_org_clock` stamps an entry with real time plus its organization's sandbox
/// offset, read in the same statement; an organization that does not exist records nothing.
async fn an_audit_entry_takes_its_organizations_clock(store: Store, _database: TestDatabase) {
    let org = new_org(&store, "Org").await;
    let mut tx = store.begin().await.unwrap();
    assert_eq!(orgs::advance_clock(&mut tx, &org.id, 86_400).await.unwrap(), 86_400);
    let entry = |org_id: &OrgId| AuditEntry {
        id: AuditEntryId::generate(),
        org_id: org_id.clone(),
        created_at: at(5),
        api_key_id: ApiKeyId::from_raw("key_audit"),
        operation_id: "createTransfer".to_owned(),
        method: "POST".to_owned(),
        path: "/transfers".to_owned(),
        resource_ids: vec!["tr_1".to_owned()],
        outcome: Outcome::Success,
        status: 201,
        error_code: None,
        request_id: "req_1".to_owned(),
        called_reason: None,
    };
    let recorded = entry(&org.id);
    audit::insert_at_org_clock(&mut tx, &recorded).await.unwrap();
    let missing = entry(&OrgId::from_raw("org_missing"));
    assert!(matches!(
        audit::insert_at_org_clock(&mut tx, &missing).await,
        Err(StoreError::NotFound)
    ));
    let listed = audit::list(&mut tx, &org.id, &AuditFilter::default(), None, 10).await.unwrap();
    let shifted = AuditEntry { created_at: at(5) + TimeDelta::days(1), ..recorded };
    assert_eq!(listed, [shifted]);
    tx.commit().await.unwrap();
}

/// `Store::on_writer_lane` (where the server runs every request that may write): a transaction
/// run there commits like any other; one whose caller stops waiting is cancelled and rolls back,
/// leaving nothing half-written and the writer free. On SQLite the lane is pinned to a CPU and the
/// writer connection's own thread, opened from the lane, is pinned to the same one (that is the
/// point of the lane: see `sequence_store::lane`); PostgreSQL has no lane.
async fn work_on_the_writer_lane_commits_and_abandoned_work_rolls_back(
    store: Store,
    database: TestDatabase,
) {
    let org = new_org(&store, "Org").await;
    let kept = account_record(&org, AccountKind::Pod, "Kept", at(1));
    let abandoned = account_record(&org, AccountKind::Pod, "Abandoned", at(2));

    let (lane_store, record) = (store.clone(), kept.clone());
    let committed = store.on_writer_lane(async move {
        let mut tx = lane_store.begin().await.expect("the writer");
        accounts::insert(&mut tx, &record).await.expect("an insert");
        tx.commit().await.expect("a commit");
    });
    committed.await.expect("the lane ran it");

    let (lane_store, record) = (store.clone(), abandoned.clone());
    let (inserted_tx, inserted_rx) = tokio::sync::oneshot::channel();
    let caller = store.clone();
    let waiting = tokio::spawn(async move {
        let never_commits = caller.on_writer_lane(async move {
            let mut tx = lane_store.begin().await.expect("the writer");
            accounts::insert(&mut tx, &record).await.expect("an insert");
            let _ = inserted_tx.send(());
            std::future::pending::<()>().await;
            tx.commit().await.expect("unreachable");
        });
        never_commits.await
    });
    inserted_rx.await.expect("the abandoned work inserted its row");
    waiting.abort();
    // The writer is free again (on SQLite the abandoned transaction held the one connection).
    let mut tx = tokio::time::timeout(std::time::Duration::from_secs(10), store.begin())
        .await
        .expect("the abandoned transaction let the writer go")
        .expect("the writer");
    let names: Vec<String> =
        accounts::list(&mut tx, &org.id, None).await.unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["Kept"], "the abandoned insert rolled back");
    tx.commit().await.unwrap();

    match database.backend() {
        TestBackend::Postgres => assert_eq!(store.writer_cpu(), None, "no lane on PostgreSQL"),
        TestBackend::Sqlite => {
            #[cfg(target_os = "linux")]
            {
                let cpu = store.writer_cpu().expect("Linux lets the lane pin itself");
                assert!(
                    sqlite_connection_threads_pinned_to(cpu) >= 1,
                    "the writer connection's thread inherited the lane's CPU {cpu}"
                );
            }
        }
    }
}

/// How many of this process's threads are sqlx SQLite connection threads (`sqlx-sqlite-worker-N`,
/// which `/proc` shortens to 15 bytes) allowed to run on `cpu` only.
#[cfg(target_os = "linux")]
fn sqlite_connection_threads_pinned_to(cpu: usize) -> usize {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    tasks
        .filter_map(Result::ok)
        .filter(|task| {
            let read = |file: &str| std::fs::read_to_string(task.path().join(file));
            let named = read("comm").is_ok_and(|name| name.starts_with("sqlx-sqlite-wor"));
            let pinned = read("status").is_ok_and(|status| {
                status.lines().any(|line| {
                    line.strip_prefix("Cpus_allowed_list:")
                        .is_some_and(|list| list.trim() == cpu.to_string())
                })
            });
            named && pinned
        })
        .count()
}

/// `list_committed` and `find_committed` (the API's reads, on the caller's thread on a SQLite
/// file) return what the transaction reads return once committed, never an open transaction's
/// writes, and are not blocked by an open write transaction.
async fn committed_account_reads_see_commits_and_not_open_transactions(
    store: Store,
    database: TestDatabase,
) {
    let on_a_file = database.backend() == TestBackend::Sqlite;
    assert_eq!(store.reads_on_caller_thread(), on_a_file, "local readers exactly on a SQLite file");
    let org = new_org(&store, "Org").await;
    let names =
        |records: Vec<AccountRecord>| records.into_iter().map(|a| a.name).collect::<Vec<_>>();
    let pod = account_record(&org, AccountKind::Pod, "Pod", at(3));
    let mut card =
        account_record(&org, AccountKind::External(ExternalAccountType::Liability), "Amex", at(1));
    card.next_payment_due_date = chrono::NaiveDate::from_ymd_opt(2024, 5, 15);
    card.reported_balance = Some(Cents::new(-42));

    let mut tx = store.begin().await.unwrap();
    accounts::insert(&mut tx, &pod).await.unwrap();
    // The write transaction is open (on SQLite it holds the write lock): the committed reads do
    // not wait for it and do not see its row.
    assert!(accounts::list_committed(&store, &org.id, None).await.unwrap().is_empty());
    assert_eq!(accounts::find_committed(&store, &org.id, pod.id.as_str()).await.unwrap(), None);
    accounts::insert(&mut tx, &card).await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(
        names(accounts::list_committed(&store, &org.id, None).await.unwrap()),
        ["Pod", "Amex"]
    );
    for filter in [None, Some("pod"), Some("external_account"), Some("income_source")] {
        let mut conn = store.read().await.unwrap();
        assert_eq!(
            accounts::list_committed(&store, &org.id, filter).await.unwrap(),
            accounts::list(&mut conn, &org.id, filter).await.unwrap(),
            "filter {filter:?}"
        );
    }
    assert_eq!(
        accounts::find_committed(&store, &org.id, card.id.as_str()).await.unwrap(),
        Some(card.clone()),
        "every field round-trips"
    );
    let system = org.system_accounts.outside_world.as_str();
    assert_eq!(accounts::find_committed(&store, &org.id, system).await.unwrap(), None);
    let other = new_org(&store, "Other").await;
    assert_eq!(accounts::find_committed(&store, &other.id, pod.id.as_str()).await.unwrap(), None);

    // A committed change is visible to the next read at once.
    let mut tx = store.begin().await.unwrap();
    assert!(accounts::soft_delete_if_empty(&mut tx, &org.id, &pod.id, at(9)).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(names(accounts::list_committed(&store, &org.id, None).await.unwrap()), ["Amex"]);
    let deleted = accounts::find_committed(&store, &org.id, pod.id.as_str()).await.unwrap();
    assert_eq!(deleted.and_then(|a| a.deleted_at), Some(at(9)));
}

async fn idempotency_claim_replay_mismatch_in_progress_and_expiry(store: Store, _db: TestDatabase) {
    let org = new_org(&store, "Org").await;
    let other = new_org(&store, "Other").await;
    let t0 = at(0).timestamp_millis();
    let claim = |org: OrgId, key: &'static str, fingerprint: &'static str, now: i64| {
        let store = store.clone();
        async move {
            let mut tx = store.begin().await.unwrap();
            let claim = idempotency::claim(&mut tx, &org, key, fingerprint, now).await.unwrap();
            tx.commit().await.unwrap();
            claim
        }
    };
    assert_eq!(claim(org.id.clone(), "k", "fp-a", t0).await, Claim::Acquired);
    assert_eq!(
        claim(org.id.clone(), "k", "fp-a", t0 + 10).await,
        Claim::InProgress,
        "the original is still running"
    );
    assert_eq!(claim(org.id.clone(), "k", "fp-b", t0 + 10).await, Claim::Mismatch);
    assert_eq!(
        claim(other.id.clone(), "k", "fp-b", t0 + 10).await,
        Claim::Acquired,
        "keys are per organization"
    );

    // Completing records the response in the use case's transaction; a rollback records nothing.
    let mut tx = store.begin().await.unwrap();
    idempotency::complete(&mut tx, &org.id, "k", 201, r#"{"data":1}"#).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(claim(org.id.clone(), "k", "fp-a", t0 + 20).await, Claim::InProgress);
    let mut tx = store.begin().await.unwrap();
    idempotency::complete(&mut tx, &org.id, "k", 201, r#"{"data":1}"#).await.unwrap();
    tx.commit().await.unwrap();
    let replay = Claim::Replay { status: 201, body: r#"{"data":1}"#.to_owned() };
    assert_eq!(claim(org.id.clone(), "k", "fp-a", t0 + 30).await, replay);
    assert_eq!(claim(org.id.clone(), "k", "fp-b", t0 + 30).await, Claim::Mismatch);
    // Long after the lock expired, a finished key still replays, until its retention ends.
    assert_eq!(claim(org.id.clone(), "k", "fp-a", t0 + LOCK_MS * 10).await, replay);
    assert_eq!(
        claim(org.id.clone(), "k", "fp-b", t0 + RETENTION_MS + 1).await,
        Claim::Acquired,
        "expired keys are forgotten"
    );

    // Release deletes an unfinished claim, never a finished one.
    let mut tx = store.begin().await.unwrap();
    idempotency::release(&mut tx, &org.id, "k").await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(claim(org.id.clone(), "k", "fp-c", t0 + RETENTION_MS + 2).await, Claim::Acquired);
    let mut tx = store.begin().await.unwrap();
    idempotency::complete(&mut tx, &org.id, "k", 200, "{}").await.unwrap();
    idempotency::release(&mut tx, &org.id, "k").await.unwrap();
    tx.commit().await.unwrap();
    let finished = Claim::Replay { status: 200, body: "{}".to_owned() };
    assert_eq!(claim(org.id.clone(), "k", "fp-c", t0 + RETENTION_MS + 3).await, finished);

    // A claim abandoned by a crashed request blocks duplicates until its lock expires.
    assert_eq!(claim(org.id.clone(), "crashed", "fp", t0).await, Claim::Acquired);
    assert_eq!(claim(org.id.clone(), "crashed", "fp", t0 + LOCK_MS - 1).await, Claim::InProgress);
    assert_eq!(
        claim(org.id.clone(), "crashed", "fp", t0 + LOCK_MS + 1).await,
        Claim::Acquired,
        "taken over"
    );
}

async fn idempotency_concurrent_claims_acquire_once(store: Store, _db: TestDatabase) {
    let org = new_org(&store, "Org").await;
    let now = Utc::now().timestamp_millis();
    let mut tasks = JoinSet::new();
    for _ in 0..20 {
        let (store, org) = (store.clone(), org.id.clone());
        tasks.spawn(async move {
            loop {
                let mut tx = store.begin().await.unwrap();
                match idempotency::claim(&mut tx, &org, "race", "fp", now).await {
                    Ok(claim) => {
                        tx.commit().await.unwrap();
                        return claim;
                    }
                    Err(error) if error.is_retryable() => continue,
                    Err(error) => panic!("claim failed: {error}"),
                }
            }
        });
    }
    let claims = tasks.join_all().await;
    let acquired = claims.iter().filter(|c| **c == Claim::Acquired).count();
    assert_eq!(acquired, 1, "exactly one claim wins: {claims:?}");
    assert!(claims.iter().all(|c| matches!(c, Claim::Acquired | Claim::InProgress)), "{claims:?}");
}

async fn reserve_never_overdraws(store: Store, _db: TestDatabase) {
    let org = new_org(&store, "Org").await;
    let pod = new_account(&store, &org, AccountKind::Pod, "Pod").await;
    deposit(&store, &org, &pod, 10_000).await;
    let other = new_org(&store, "Other").await;
    let mut tx = store.begin().await.unwrap();
    assert!(ledger::reserve(&mut tx, &org.id, &pod.id, Cents::new(6_000)).await.unwrap());
    assert!(
        !ledger::reserve(&mut tx, &org.id, &pod.id, Cents::new(4_001)).await.unwrap(),
        "only 4000 available"
    );
    assert!(
        ledger::reserve(&mut tx, &org.id, &pod.id, Cents::new(4_000)).await.unwrap(),
        "exactly the rest"
    );
    assert!(!ledger::reserve(&mut tx, &org.id, &pod.id, Cents::new(100)).await.unwrap());
    assert!(
        !ledger::reserve(&mut tx, &other.id, &pod.id, Cents::new(100)).await.unwrap(),
        "wrong organization"
    );
    let record = accounts::find(&mut tx, &org.id, pod.id.as_str()).await.unwrap().unwrap();
    assert_eq!(
        (record.balance, record.reserved, record.available()),
        (Cents::new(10_000), Cents::new(10_000), Cents::ZERO)
    );

    ledger::release(&mut tx, &pod.id, Cents::new(6_000)).await.unwrap();
    let record = accounts::find(&mut tx, &org.id, pod.id.as_str()).await.unwrap().unwrap();
    assert_eq!(record.available(), Cents::new(6_000));
    let missing = ledger::release(&mut tx, &pod.id, Cents::new(4_001))
        .await
        .expect_err("more than is reserved");
    assert!(matches!(missing, StoreError::Config(_)), "{missing:?}");
    tx.rollback().await.unwrap();

    // A deleted account reserves nothing.
    let empty = new_account(&store, &org, AccountKind::Pod, "Empty").await;
    let mut tx = store.begin().await.unwrap();
    assert!(accounts::soft_delete_if_empty(&mut tx, &org.id, &empty.id, at(5)).await.unwrap());
    assert!(!ledger::reserve(&mut tx, &org.id, &empty.id, Cents::new(100)).await.unwrap());
    tx.commit().await.unwrap();
}

async fn reserve_never_overdraws_under_concurrency(store: Store, _db: TestDatabase) {
    let org = new_org(&store, "Org").await;
    let pod = new_account(&store, &org, AccountKind::Pod, "Pod").await;
    deposit(&store, &org, &pod, 100_000).await;
    let mut tasks = JoinSet::new();
    for _ in 0..30 {
        let (store, org, pod) = (store.clone(), org.id.clone(), pod.id.clone());
        tasks.spawn(async move {
            let mut tx = store.begin().await.unwrap();
            let won = ledger::reserve(&mut tx, &org, &pod, Cents::new(7_000)).await.unwrap();
            tx.commit().await.unwrap();
            won
        });
    }
    let won = tasks.join_all().await.into_iter().filter(|won| *won).count();
    assert_eq!(won, 14, "100000 / 7000 = 14 reservations fit, and no more");
    let record = account(&store, &org, &pod.id).await;
    assert_eq!(record.reserved, Cents::new(98_000));
    assert_eq!(record.available(), Cents::new(2_000));
}

async fn post_writes_balanced_entries_with_before_and_after(store: Store, _db: TestDatabase) {
    let org = new_org(&store, "Org").await;
    let income = new_account(&store, &org, AccountKind::IncomeSource, "Payroll").await;
    let pod = new_account(&store, &org, AccountKind::Pod, "Pod").await;
    let card =
        new_account(&store, &org, AccountKind::External(ExternalAccountType::Liability), "Amex")
            .await;
    let paycheck = deposit(&store, &org, &income, 500_000).await;

    // An internal transfer that held a reservation consumes it when it posts.
    let mut tx = store.begin().await.unwrap();
    let mut move_to_pod =
        transfer_record(&org, Some(&income), Some(&pod), 120_000, TransferStatus::Pending, at(2));
    assert!(ledger::reserve(&mut tx, &org.id, &income.id, move_to_pod.amount).await.unwrap());
    move_to_pod.reserved = move_to_pod.amount;
    transfers::insert(&mut tx, &move_to_pod).await.unwrap();
    let legs =
        |t: &TransferRecord, source: &AccountRecord, destination: &AccountRecord| TransferLegs {
            source: Endpoint::Account { id: source.id.clone(), kind: source.kind },
            destination: Endpoint::Account { id: destination.id.clone(), kind: destination.kind },
            amount: t.amount,
        };
    let postings = postings_for(&legs(&move_to_pod, &income, &pod), &org.system_accounts);
    ledger::post(
        &mut tx,
        &org.id,
        Movement::Transfer(&move_to_pod.id),
        &postings,
        Some((&income.id, move_to_pod.reserved)),
        at(3),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // A payment to a card books against the clearing account and updates reported balances.
    let mut tx = store.begin().await.unwrap();
    let payment =
        transfer_record(&org, Some(&pod), Some(&card), 20_000, TransferStatus::Pending, at(4));
    transfers::insert(&mut tx, &payment).await.unwrap();
    let postings = postings_for(&legs(&payment, &pod, &card), &org.system_accounts);
    ledger::post(&mut tx, &org.id, Movement::Transfer(&payment.id), &postings, None, at(5))
        .await
        .unwrap();
    let reported = ReportedBalances {
        balance: Cents::new(225_000),
        last_statement_balance: Some(Cents::new(178_000)),
        next_payment_minimum: None,
    };
    ledger::set_reported(&mut tx, &card.id, reported, at(5)).await.unwrap();
    tx.commit().await.unwrap();

    let income_now = account(&store, &org, &income.id).await;
    assert_eq!(
        (income_now.balance, income_now.reserved),
        (Cents::new(380_000), Cents::ZERO),
        "reservation consumed"
    );
    assert_eq!(income_now.balance_updated_at, at(3));
    assert_eq!(account(&store, &org, &pod.id).await.balance, Cents::new(100_000));
    let card_now = account(&store, &org, &card.id).await;
    assert_eq!(card_now.balance, Cents::ZERO, "external accounts have no ledger balance");
    assert_eq!(card_now.reported_balance, Some(Cents::new(225_000)));
    assert_eq!(card_now.last_statement_balance, Some(Cents::new(178_000)));
    assert_eq!(card_now.next_payment_minimum, None);

    let entries = assert_ledger_consistent(&store, &org).await;
    assert_eq!(entries.len(), 6, "two entries per completed transfer");
    let of = |transfer: &TransferId, account: &AccountId| {
        entries
            .iter()
            .find(|e| e.movement == MovementId::Transfer(transfer.clone()) && e.account == *account)
            .cloned()
            .expect("entry exists")
    };
    let debit = of(&move_to_pod.id, &income.id);
    assert_eq!(
        (debit.amount, debit.balance_before, debit.balance_after),
        (Cents::new(-120_000), Cents::new(500_000), Cents::new(380_000))
    );
    let credit = of(&payment.id, &org.system_accounts.external_clearing);
    assert_eq!(
        (credit.amount, credit.balance_before, credit.balance_after),
        (Cents::new(20_000), Cents::ZERO, Cents::new(20_000))
    );
    let outside = of(&paycheck.id, &org.system_accounts.outside_world);
    assert_eq!(
        outside.balance_after,
        Cents::new(-500_000),
        "the outside world is minus what entered"
    );

    // Posting a transfer twice is refused by the entries' uniqueness; nothing changes.
    let mut tx = store.begin().await.unwrap();
    let postings = postings_for(&legs(&payment, &pod, &card), &org.system_accounts);
    assert!(
        ledger::post(&mut tx, &org.id, Movement::Transfer(&payment.id), &postings, None, at(6))
            .await
            .is_err()
    );
    drop(tx);
    // Consuming a reservation that is not there is refused.
    let mut tx = store.begin().await.unwrap();
    let again =
        transfer_record(&org, Some(&pod), Some(&income), 100, TransferStatus::Pending, at(7));
    transfers::insert(&mut tx, &again).await.unwrap();
    let postings = [
        Posting { account: pod.id.clone(), amount_delta: Cents::new(-100) },
        Posting {
            account: org.system_accounts.external_clearing.clone(),
            amount_delta: Cents::new(100),
        },
    ];
    assert!(
        ledger::post(
            &mut tx,
            &org.id,
            Movement::Transfer(&again.id),
            &postings,
            Some((&pod.id, Cents::new(100))),
            at(7)
        )
        .await
        .is_err()
    );
    drop(tx);
    // An internal account cannot be overdrawn even by a direct posting (a database CHECK).
    let mut tx = store.begin().await.unwrap();
    let overdraft =
        transfer_record(&org, Some(&pod), Some(&card), 100_001, TransferStatus::Pending, at(8));
    transfers::insert(&mut tx, &overdraft).await.unwrap();
    let postings = postings_for(&legs(&overdraft, &pod, &card), &org.system_accounts);
    assert!(
        ledger::post(&mut tx, &org.id, Movement::Transfer(&overdraft.id), &postings, None, at(8))
            .await
            .is_err()
    );
    drop(tx);
    assert_eq!(
        assert_ledger_consistent(&store, &org).await,
        entries,
        "failed postings left no trace"
    );
}

async fn concurrent_postings_keep_the_ledger_consistent(store: Store, _db: TestDatabase) {
    let org = Arc::new(new_org(&store, "Org").await);
    let mut pods = Vec::new();
    for n in 0..4 {
        let pod = new_account(&store, &org, AccountKind::Pod, &format!("Pod {n}")).await;
        deposit(&store, &org, &pod, 100_000).await;
        pods.push(pod);
    }
    let pods = Arc::new(pods);
    let mut tasks = JoinSet::new();
    for n in 0..40_usize {
        let (store, org, pods) = (store.clone(), Arc::clone(&org), Arc::clone(&pods));
        tasks.spawn(async move {
            let (source, destination) = (&pods[n % 4], &pods[(n / 4 + n + 1) % 4]);
            if source.id == destination.id {
                return false;
            }
            let amount = 1_000 + i64::try_from(n).unwrap() * 37;
            // Reserve, then (later, in another transaction) post: the lifecycle the server uses.
            let mut tx = store.begin().await.unwrap();
            if !ledger::reserve(&mut tx, &org.id, &source.id, Cents::new(amount)).await.unwrap() {
                return false;
            }
            let mut record = transfer_record(
                &org,
                Some(source),
                Some(destination),
                amount,
                TransferStatus::Pending,
                at(2),
            );
            record.reserved = record.amount;
            transfers::insert(&mut tx, &record).await.unwrap();
            tx.commit().await.unwrap();
            loop {
                let mut tx = store.begin().await.unwrap();
                let legs = TransferLegs {
                    source: Endpoint::Account { id: source.id.clone(), kind: source.kind },
                    destination: Endpoint::Account {
                        id: destination.id.clone(),
                        kind: destination.kind,
                    },
                    amount: record.amount,
                };
                let postings = postings_for(&legs, &org.system_accounts);
                match ledger::post(
                    &mut tx,
                    &org.id,
                    Movement::Transfer(&record.id),
                    &postings,
                    Some((&source.id, record.amount)),
                    at(3),
                )
                .await
                {
                    Ok(()) => {}
                    Err(error) if error.is_retryable() => continue,
                    Err(error) => panic!("posting failed: {error}"),
                }
                match tx.commit().await.map_err(StoreError::from) {
                    Ok(()) => return true,
                    Err(error) if error.is_retryable() => continue,
                    Err(error) => panic!("commit failed: {error}"),
                }
            }
        });
    }
    let posted = tasks.join_all().await.into_iter().filter(|p| *p).count();
    assert!(posted > 20, "most transfers fit: {posted}");
    let entries = assert_ledger_consistent(&store, &org).await;
    assert_eq!(entries.len(), 2 * (4 + posted));
    let mut total = 0;
    for pod in pods.iter() {
        let record = account(&store, &org, &pod.id).await;
        assert_eq!(record.reserved, Cents::ZERO);
        assert!(record.balance.get() >= 0);
        total += record.balance.get();
    }
    assert_eq!(total, 400_000, "money moved between pods, none created or lost");
}

async fn conditional_status_update_wins_once(store: Store, _db: TestDatabase) {
    let org = new_org(&store, "Org").await;
    let income = new_account(&store, &org, AccountKind::IncomeSource, "Payroll").await;
    let pod = new_account(&store, &org, AccountKind::Pod, "Pod").await;
    let other = new_org(&store, "Other").await;
    let mut record =
        transfer_record(&org, Some(&income), Some(&pod), 5_000, TransferStatus::Processing, at(0));
    record.processing_started_at = Some(at(0));
    record.next_step_at = Some(at(0));
    let mut tx = store.begin().await.unwrap();
    transfers::insert(&mut tx, &record).await.unwrap();
    tx.commit().await.unwrap();

    let mut tasks = JoinSet::new();
    for n in 0..12 {
        let (store, org, record) = (store.clone(), org.id.clone(), record.clone());
        tasks.spawn(async move {
            let mut tx = store.begin().await.unwrap();
            let read = transfers::find(&mut tx, &org, record.id.as_str()).await.unwrap().unwrap();
            let updated = TransferRecord {
                status: TransferStatus::Pending,
                next_step_at: Some(at(30)),
                updated_at: at(n),
                ..read.clone()
            };
            // Every worker read the transfer (possibly before another one committed) and
            // computed the same step from `processing`; only one may apply it.
            let won = transfers::update_if_status(&mut tx, &updated, TransferStatus::Processing)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            won
        });
    }
    let winners = tasks.join_all().await.into_iter().filter(|won| *won).count();
    assert_eq!(winners, 1, "one worker applies the step; the others see it already applied");

    let mut tx = store.begin().await.unwrap();
    let now = transfers::find(&mut tx, &org.id, record.id.as_str()).await.unwrap().unwrap();
    assert_eq!(now.status, TransferStatus::Pending);
    assert_eq!(now.next_step_at, Some(at(30)));
    // The next step, then a stale repeat of it.
    let complete = TransferRecord {
        status: TransferStatus::Complete,
        next_step_at: None,
        completed_at: Some(at(30)),
        updated_at: at(30),
        ..now.clone()
    };
    assert!(
        transfers::update_if_status(&mut tx, &complete, TransferStatus::Pending).await.unwrap()
    );
    assert!(
        !transfers::update_if_status(&mut tx, &complete, TransferStatus::Pending).await.unwrap()
    );
    assert_eq!(
        transfers::find(&mut tx, &org.id, record.id.as_str()).await.unwrap().unwrap(),
        complete
    );
    // Another organization cannot move it.
    let foreign = TransferRecord {
        org_id: other.id.clone(),
        status: TransferStatus::Cancelled,
        completed_at: None,
        ..complete
    };
    assert!(
        !transfers::update_if_status(&mut tx, &foreign, TransferStatus::Complete).await.unwrap()
    );
    tx.commit().await.unwrap();
}

async fn transfers_round_trip_list_filters_and_pages(store: Store, _db: TestDatabase) {
    let org = new_org(&store, "Org").await;
    let income = new_account(&store, &org, AccountKind::IncomeSource, "Payroll").await;
    let pod = new_account(&store, &org, AccountKind::Pod, "Pod").await;
    let bank =
        new_account(&store, &org, AccountKind::External(ExternalAccountType::Depository), "Bank")
            .await;
    let other = new_org(&store, "Other").await;
    let mut tx = store.begin().await.unwrap();
    let mut rows = Vec::new();
    // (source, destination, status, simulation, created second); two share a timestamp.
    let plan: [(Option<&AccountRecord>, &AccountRecord, TransferStatus, bool, i64); 7] = [
        (None, &income, TransferStatus::Complete, false, 10),
        (Some(&income), &pod, TransferStatus::Processing, false, 20),
        (Some(&income), &pod, TransferStatus::Error, false, 20),
        (Some(&pod), &bank, TransferStatus::Pending, false, 30),
        (Some(&bank), &pod, TransferStatus::Complete, false, 40),
        (Some(&income), &pod, TransferStatus::Processing, true, 50),
        (Some(&pod), &income, TransferStatus::PendingApproval, false, 60),
    ];
    for (source, destination, status, simulation, second) in plan {
        let mut record =
            transfer_record(&org, source, Some(destination), 1_000 + second, status, at(second));
        record.simulation = simulation;
        record.description = Some("PAYROLL".to_owned());
        transfers::insert(&mut tx, &record).await.unwrap();
        rows.push(record);
    }
    assert_eq!(
        transfers::find(&mut tx, &org.id, rows[3].id.as_str()).await.unwrap().as_ref(),
        Some(&rows[3]),
        "round trip"
    );
    assert_eq!(transfers::find(&mut tx, &other.id, rows[3].id.as_str()).await.unwrap(), None);
    tx.commit().await.unwrap();

    let base = |account: &AccountRecord| TransferFilter {
        account: account.id.clone(),
        role: AccountRole::Either,
        direction: None,
        origin: None,
        status: None,
        mode: ModeFilter::Live,
        from: None,
        to: None,
        rule_execution: None,
    };
    let ids = |filter: TransferFilter| {
        let store = store.clone();
        let org = org.id.clone();
        async move {
            let mut conn = store.pool().acquire().await.unwrap();
            let found = transfers::list(&mut conn, &org, &filter, None, 100).await.unwrap();
            found.into_iter().map(|t| t.id).collect::<Vec<_>>()
        }
    };
    let newest_first = |indexes: &[usize]| {
        let mut picked: Vec<&TransferRecord> = indexes.iter().map(|i| &rows[*i]).collect();
        picked.sort_by(|a, b| (b.created_at, b.id.as_str()).cmp(&(a.created_at, a.id.as_str())));
        picked.into_iter().map(|t| t.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(base(&pod)).await, newest_first(&[1, 2, 3, 4, 6]), "live only by default");
    assert_eq!(
        ids(TransferFilter { mode: ModeFilter::All, ..base(&pod) }).await,
        newest_first(&[1, 2, 3, 4, 5, 6])
    );
    assert_eq!(
        ids(TransferFilter { mode: ModeFilter::Simulation, ..base(&pod) }).await,
        newest_first(&[5])
    );
    assert_eq!(
        ids(TransferFilter { role: AccountRole::Source, ..base(&pod) }).await,
        newest_first(&[3, 6])
    );
    assert_eq!(
        ids(TransferFilter { role: AccountRole::Destination, ..base(&pod) }).await,
        newest_first(&[1, 2, 4])
    );
    let by_direction = TransferFilter { direction: Some(TransferDirection::MoneyIn), ..base(&pod) };
    assert_eq!(ids(by_direction).await, newest_first(&[4]));
    let by_status = TransferFilter { status: Some(TransferStatus::Processing), ..base(&pod) };
    assert_eq!(ids(by_status).await, newest_first(&[1]));
    let by_origin = TransferFilter { origin: Some(TransferOrigin::Paycheck), ..base(&income) };
    assert_eq!(ids(by_origin).await, newest_first(&[0]));
    let window = TransferFilter { from: Some(at(20)), to: Some(at(40)), ..base(&pod) };
    assert_eq!(ids(window).await, newest_first(&[1, 2, 3, 4]), "from and to are inclusive");
    let execution = sequence_core::ids::RuleExecutionId::generate();
    assert_eq!(
        ids(TransferFilter { rule_execution: Some(execution), ..base(&pod) }).await,
        Vec::<TransferId>::new()
    );
    assert_eq!(ids(base(&bank)).await, newest_first(&[3, 4]));

    // Pages of two, following the cursor, cover everything exactly once in order.
    let mut conn = store.pool().acquire().await.unwrap();
    let mut cursor: Option<Cursor> = None;
    let mut paged = Vec::new();
    loop {
        let page =
            transfers::list(&mut conn, &org.id, &base(&pod), cursor.as_ref(), 2).await.unwrap();
        let Some(last) = page.last() else { break };
        cursor = Some(Cursor {
            created_at_ms: last.created_at.timestamp_millis(),
            id: last.id.to_string(),
        });
        paged.extend(page.into_iter().map(|t| t.id));
    }
    assert_eq!(paged, newest_first(&[1, 2, 3, 4, 6]));
}

async fn due_in_flight_and_reservation_queries(store: Store, _db: TestDatabase) {
    let org = new_org(&store, "Org").await;
    let other = new_org(&store, "Other").await;
    let income = new_account(&store, &org, AccountKind::IncomeSource, "Payroll").await;
    let pod = new_account(&store, &org, AccountKind::Pod, "Pod").await;
    let idle = new_account(&store, &org, AccountKind::Pod, "Idle").await;
    deposit(&store, &org, &income, 50_000).await;
    let mut tx = store.begin().await.unwrap();
    let mut scheduled = Vec::new();
    for (second, status) in [
        (30, TransferStatus::Pending),
        (10, TransferStatus::Processing),
        (20, TransferStatus::PendingApproval),
    ] {
        let mut record = transfer_record(&org, Some(&income), Some(&pod), 1_000, status, at(0));
        assert!(ledger::reserve(&mut tx, &org.id, &income.id, record.amount).await.unwrap());
        record.reserved = record.amount;
        if status != TransferStatus::PendingApproval {
            record.processing_started_at = Some(at(0));
            record.next_step_at = Some(at(second));
        }
        transfers::insert(&mut tx, &record).await.unwrap();
        scheduled.push(record);
    }
    let mut simulated =
        transfer_record(&org, Some(&pod), Some(&idle), 1_000, TransferStatus::Processing, at(0));
    simulated.simulation = true;
    transfers::insert(&mut tx, &simulated).await.unwrap();

    assert_eq!(
        transfers::due(&mut tx, &org.id, at(5), 10).await.unwrap(),
        Vec::<TransferId>::new()
    );
    assert_eq!(
        transfers::due(&mut tx, &org.id, at(10), 10).await.unwrap(),
        [scheduled[1].id.clone()],
        "due is inclusive"
    );
    assert_eq!(
        transfers::due(&mut tx, &org.id, at(60), 10).await.unwrap(),
        [scheduled[1].id.clone(), scheduled[0].id.clone()],
        "oldest step first"
    );
    assert_eq!(transfers::due(&mut tx, &org.id, at(60), 1).await.unwrap().len(), 1, "limit");
    assert_eq!(
        transfers::due_records(&mut tx, &org.id, at(60), 10).await.unwrap(),
        [scheduled[1].clone(), scheduled[0].clone()],
        "the same range, whole records"
    );
    assert_eq!(transfers::due_records(&mut tx, &org.id, at(60), 1).await.unwrap().len(), 1);
    assert_eq!(
        transfers::due(&mut tx, &other.id, at(60), 10).await.unwrap(),
        Vec::<TransferId>::new(),
        "per organization"
    );

    assert_eq!(transfers::count_in_flight(&mut tx, &org.id, &pod.id).await.unwrap(), 3);
    assert_eq!(transfers::count_in_flight(&mut tx, &org.id, &income.id).await.unwrap(), 3);
    assert_eq!(
        transfers::count_in_flight(&mut tx, &org.id, &idle.id).await.unwrap(),
        0,
        "simulations are never in flight"
    );

    let reserved = transfers::reserved_by_transfers(&mut tx, &income.id).await.unwrap();
    assert_eq!(reserved, Cents::new(3_000));
    assert_eq!(
        accounts::find(&mut tx, &org.id, income.id.as_str()).await.unwrap().unwrap().reserved,
        reserved
    );
    assert_eq!(transfers::reserved_by_transfers(&mut tx, &pod.id).await.unwrap(), Cents::ZERO);
    tx.commit().await.unwrap();
}

async fn locking_an_account_serializes_deletion_with_arriving_transfers(
    store: Store,
    _db: TestDatabase,
) {
    let org = new_org(&store, "Org").await;
    let other = new_org(&store, "Other").await;
    let income = new_account(&store, &org, AccountKind::IncomeSource, "Payroll").await;
    let pod = new_account(&store, &org, AccountKind::Pod, "Pod").await;
    let gone = new_account(&store, &org, AccountKind::Pod, "Gone").await;
    let mut tx = store.begin().await.unwrap();
    assert!(accounts::lock_live(&mut tx, &org.id, pod.id.as_str()).await.unwrap());
    assert!(accounts::soft_delete_if_empty(&mut tx, &org.id, &gone.id, at(1)).await.unwrap());
    assert!(!accounts::lock_live(&mut tx, &org.id, gone.id.as_str()).await.unwrap(), "deleted");
    assert!(
        !accounts::lock_live(&mut tx, &other.id, pod.id.as_str()).await.unwrap(),
        "another organization's"
    );
    assert!(
        !accounts::lock_live(&mut tx, &org.id, org.system_accounts.outside_world.as_str())
            .await
            .unwrap(),
        "system"
    );
    assert!(!accounts::lock_live(&mut tx, &org.id, "acc_missing").await.unwrap());
    tx.commit().await.unwrap();

    // A transfer into the pod holds the pod's lock until it commits; a deletion that locks the pod
    // meanwhile waits, and then sees the transfer in flight.
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let arriving = {
        let (store, org, income, pod) = (store.clone(), org.clone(), income.clone(), pod.clone());
        tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            assert!(accounts::lock_live(&mut tx, &org.id, pod.id.as_str()).await.unwrap());
            locked_tx.send(()).unwrap();
            let mut record = transfer_record(
                &org,
                Some(&income),
                Some(&pod),
                1_000,
                TransferStatus::Processing,
                at(2),
            );
            record.processing_started_at = Some(at(2));
            transfers::insert(&mut tx, &record).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            tx.commit().await.unwrap();
        })
    };
    locked_rx.await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(accounts::lock_live(&mut tx, &org.id, pod.id.as_str()).await.unwrap());
    let in_flight = transfers::count_in_flight(&mut tx, &org.id, &pod.id).await.unwrap();
    tx.commit().await.unwrap();
    arriving.await.unwrap();
    assert_eq!(in_flight, 1, "the deletion's check ran after the arriving transfer committed");
}
