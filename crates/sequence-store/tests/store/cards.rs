//! Cards and card transactions as stored (migration 0006), on SQLite and PostgreSQL:
//!
//! - the migration keeps every ledger entry written before it (SQLite rebuilds the `entries`
//!   table), entry ids keep counting up after it, and an entry names exactly one movement;
//! - a card's status changes only from the status read, so of several concurrent changes from
//!   one status exactly one wins;
//! - a purchase's refunded total only grows by what remains, so concurrent refunds never take
//!   more than the purchase, and the database refuses a total above it;
//! - a card transaction's postings go through `ledger::post` like a transfer's and read back as
//!   card movements.

use std::borrow::Cow;
use std::future::Future;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use sequence_core::cards::{CardStatus, CardTransactionDirection, CardType, postings_for};
use sequence_core::ids::{AccountId, CardId, CardTransactionId, TransferId};
use sequence_core::ledger::{AccountKind, Posting};
use sequence_core::money::Cents;
use sequence_store::accounts::{self, AccountRecord};
use sequence_store::cards::{self, CardRecord, CardTransactionRecord};
use sequence_store::ledger::{self, Movement, MovementId};
use sequence_store::orgs::{self, Organization};
use sequence_store::test_support::{TestBackend, TestDatabase};
use sequence_store::{Store, StoreError};
use tokio::task::JoinSet;

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
    migration_0006_keeps_the_entries_it_rebuilds,
    a_status_change_from_a_stale_read_loses,
    concurrent_refunds_never_exceed_the_purchase,
    card_transactions_post_like_transfers,
);

/// Runs `test` on a fresh, empty database of `backend` (not migrated: each test connects), or
/// prints why it is skipped.
async fn run<F, Fut>(backend: TestBackend, test: F)
where
    F: FnOnce(TestDatabase) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(database) = TestDatabase::create(backend).await else { return };
    test(database).await;
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 4, 23, 9, 0, 0).unwrap() + TimeDelta::seconds(seconds)
}

fn pod_record(org: &Organization) -> AccountRecord {
    AccountRecord {
        id: AccountId::generate(),
        org_id: org.id.clone(),
        kind: AccountKind::Pod,
        name: "Spending".to_owned(),
        description: None,
        icon: None,
        beneficiary_name: org.name.clone(),
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
    }
}

fn card_record(org: &Organization, pod: &AccountRecord, status: CardStatus) -> CardRecord {
    CardRecord {
        id: CardId::generate(),
        org_id: org.id.clone(),
        account_id: pod.id.clone(),
        card_type: CardType::Virtual,
        status,
        last_four: "4242".to_owned(),
        holder_name: "John Smith".to_owned(),
        expiration_date: "04/27".to_owned(),
        created_at: at(1),
        updated_at: at(1),
    }
}

fn purchase_record(org: &Organization, card: &CardRecord, amount: i64) -> CardTransactionRecord {
    CardTransactionRecord {
        id: CardTransactionId::generate(),
        org_id: org.id.clone(),
        card_id: card.id.clone(),
        direction: CardTransactionDirection::Debit,
        amount: Cents::new(amount),
        description: None,
        merchant_name: Some("Shop".to_owned()),
        purchase_id: None,
        refunded: Some(Cents::ZERO),
        created_at: at(2),
    }
}

/// An organization with a pod and an active card on it, inserted.
async fn world(store: &Store) -> (Organization, AccountRecord, CardRecord) {
    let org = Organization::new("John Smith", at(0));
    let pod = pod_record(&org);
    let card = card_record(&org, &pod, CardStatus::Active);
    let mut tx = store.begin().await.unwrap();
    orgs::insert(&mut tx, &org).await.unwrap();
    accounts::insert(&mut tx, &pod).await.unwrap();
    cards::insert(&mut tx, &card).await.unwrap();
    tx.commit().await.unwrap();
    (org, pod, card)
}

async fn migration_0006_keeps_the_entries_it_rebuilds(database: TestDatabase) {
    // The schema as it was before cards: migrations 0001–0005 only.
    sqlx::any::install_default_drivers();
    let backend = match database.backend() {
        TestBackend::Sqlite => "sqlite",
        TestBackend::Postgres => "postgres",
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
    let mut before = sqlx::migrate::Migrator::new(dir).await.expect("the migrations");
    let all = before.migrations.len();
    assert!(all >= 6, "0006 exists");
    before.migrations = Cow::Owned(before.migrations[..5].to_vec());
    let url = match database.backend() {
        TestBackend::Sqlite => format!("{}?mode=rwc", database.url()),
        TestBackend::Postgres => database.url().to_owned(),
    };
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&url).await.unwrap();
    before.run(&pool).await.expect("0001-0005");
    // An organization, a pod and a deposit's two entries, written as the old schema had them.
    let org = Organization::new("Before", at(0));
    let pod = pod_record(&org);
    let deposit = TransferId::generate();
    {
        let mut conn = pool.acquire().await.unwrap();
        orgs::insert(&mut conn, &org).await.unwrap();
        accounts::insert(&mut conn, &pod).await.unwrap();
        sqlx::query(
            "INSERT INTO transfers (id, org_id, source_account_id, destination_account_id, amount_cents, direction, \
             origin, status, simulation, created_at_ms, updated_at_ms, completed_at_ms) \
             VALUES ($1, $2, NULL, $3, 500, 'money_in', 'paycheck', 'complete', 0, 1, 1, 1)",
        )
        .bind(deposit.as_str())
        .bind(org.id.as_str())
        .bind(pod.id.as_str())
        .execute(&mut *conn)
        .await
        .unwrap();
        for (account, amount) in [(&org.system_accounts.outside_world, -500), (&pod.id, 500)] {
            sqlx::query(
                "INSERT INTO entries (org_id, transfer_id, account_id, amount_cents, balance_before_cents, \
                 balance_after_cents, account_version, created_at_ms) VALUES ($1, $2, $3, $4, 0, $4, 1, 1)",
            )
            .bind(org.id.as_str())
            .bind(deposit.as_str())
            .bind(account.as_str())
            .bind(amount)
            .execute(&mut *conn)
            .await
            .unwrap();
            sqlx::query("UPDATE accounts SET balance_cents = $1, version = 1 WHERE id = $2")
                .bind(amount)
                .bind(account.as_str())
                .execute(&mut *conn)
                .await
                .unwrap();
        }
    }
    pool.close().await;

    // Connecting applies 0006 (and only it).
    let store = Store::connect(database.url()).await.expect("0006 applies");
    let mut conn = store.pool().acquire().await.unwrap();
    let applied: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(applied.0, i64::try_from(all).unwrap());
    let kept = ledger::entries(&mut conn, &org.id).await.unwrap();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept.iter().all(|e| e.movement == MovementId::Transfer(deposit.clone())));
    let max_before: (i64,) =
        sqlx::query_as("SELECT MAX(id) FROM entries").fetch_one(&mut *conn).await.unwrap();
    drop(conn);

    // Card movements post after them, with larger ids.
    let card = card_record(&org, &pod, CardStatus::Active);
    let purchase = purchase_record(&org, &card, 200);
    let mut tx = store.begin().await.unwrap();
    cards::insert(&mut tx, &card).await.unwrap();
    cards::insert_transaction(&mut tx, &purchase).await.unwrap();
    let postings = postings_for(&pod.id, purchase.direction, purchase.amount, &org.system_accounts);
    ledger::post(&mut tx, &org.id, Movement::CardTransaction(&purchase.id), &postings, None, at(3))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut conn = store.pool().acquire().await.unwrap();
    let min_after: (i64,) =
        sqlx::query_as("SELECT MIN(id) FROM entries WHERE card_transaction_id IS NOT NULL")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert!(min_after.0 > max_before.0, "ids keep counting up: {min_after:?} after {max_before:?}");
    let pod_now = accounts::find(&mut conn, &org.id, pod.id.as_str()).await.unwrap().unwrap();
    assert_eq!((pod_now.balance, pod_now.balance_updated_at), (Cents::new(300), at(3)));

    // An entry names exactly one movement.
    for (transfer, card_transaction) in
        [(None, None), (Some(deposit.as_str()), Some(purchase.id.as_str()))]
    {
        let refused = sqlx::query(
            "INSERT INTO entries (org_id, transfer_id, card_transaction_id, account_id, amount_cents, \
             balance_before_cents, balance_after_cents, account_version, created_at_ms) \
             VALUES ($1, $2, $3, $4, 1, 300, 301, 99, 1)",
        )
        .bind(org.id.as_str())
        .bind(transfer)
        .bind(card_transaction)
        .bind(pod.id.as_str())
        .execute(&mut *conn)
        .await;
        assert!(refused.is_err(), "{transfer:?} / {card_transaction:?} was accepted");
    }
    drop(conn);
    store.close().await;
}

async fn a_status_change_from_a_stale_read_loses(database: TestDatabase) {
    let store = Store::connect(database.url()).await.unwrap();
    let (org, _, card) = world(&store).await;
    let mut winners = JoinSet::new();
    for (n, status) in
        [CardStatus::Frozen, CardStatus::Lost, CardStatus::Stolen, CardStatus::Frozen]
            .into_iter()
            .enumerate()
    {
        let store = store.clone();
        let changed =
            CardRecord { status, updated_at: at(10 + i64::try_from(n).unwrap()), ..card.clone() };
        winners.spawn(async move {
            let mut tx = store.begin().await?;
            let won = cards::update_status_if(&mut tx, &changed, CardStatus::Active).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(won.then_some(changed.status))
        });
    }
    let outcomes: Vec<Option<CardStatus>> = winners
        .join_all()
        .await
        .into_iter()
        .map(|r| r.expect("no error: a loser sees 0 rows"))
        .collect();
    let won: Vec<CardStatus> = outcomes.iter().flatten().copied().collect();
    assert_eq!(won.len(), 1, "exactly one change from `active` wins: {outcomes:?}");
    let mut conn = store.pool().acquire().await.unwrap();
    let stored = cards::find(&mut conn, &org.id, card.id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.status, won[0]);
    // Another organization cannot touch it.
    let other = Organization::new("Other", at(0));
    let theirs =
        CardRecord { org_id: other.id.clone(), status: CardStatus::Active, ..stored.clone() };
    assert!(!cards::update_status_if(&mut conn, &theirs, stored.status).await.unwrap());
    assert!(cards::find(&mut conn, &other.id, card.id.as_str()).await.unwrap().is_none());
    drop(conn);
    store.close().await;
}

async fn concurrent_refunds_never_exceed_the_purchase(database: TestDatabase) {
    let store = Store::connect(database.url()).await.unwrap();
    let (org, _, card) = world(&store).await;
    let purchase = purchase_record(&org, &card, 1_000);
    let mut tx = store.begin().await.unwrap();
    cards::insert_transaction(&mut tx, &purchase).await.unwrap();
    tx.commit().await.unwrap();
    let mut refunds = JoinSet::new();
    for _ in 0..16 {
        let (store, org, purchase) = (store.clone(), org.id.clone(), purchase.id.clone());
        refunds.spawn(async move {
            loop {
                let mut tx = store.begin().await?;
                match cards::add_refunded(&mut tx, &org, &purchase, Cents::new(150)).await {
                    Ok(added) => {
                        tx.commit().await?;
                        return Ok::<_, StoreError>(added);
                    }
                    // SQLite busy or a PostgreSQL serialization failure: try again, as the
                    // transaction runner does.
                    Err(StoreError::Retry) => continue,
                    Err(other) => return Err(other),
                }
            }
        });
    }
    let added = refunds.join_all().await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(added, 6, "six refunds of 150 fit in 1000");
    let mut conn = store.pool().acquire().await.unwrap();
    let stored =
        cards::find_transaction(&mut conn, &org.id, &card.id, purchase.id.as_str()).await.unwrap();
    assert_eq!(stored.unwrap().refunded, Some(Cents::new(900)));
    // Refunds only to purchases: a refund row has no refunded total to grow.
    let refund = CardTransactionRecord {
        id: CardTransactionId::generate(),
        direction: CardTransactionDirection::Credit,
        amount: Cents::new(100),
        purchase_id: Some(purchase.id.clone()),
        refunded: None,
        ..purchase.clone()
    };
    cards::insert_transaction(&mut conn, &refund).await.unwrap();
    assert!(!cards::add_refunded(&mut conn, &org.id, &refund.id, Cents::new(1)).await.unwrap());
    // The database refuses a total above the purchase, whoever writes it.
    let over = sqlx::query("UPDATE card_transactions SET refunded_cents = 1001 WHERE id = $1")
        .bind(purchase.id.as_str())
        .execute(&mut *conn)
        .await;
    assert!(over.is_err(), "refunded above the purchase was accepted");
    drop(conn);
    store.close().await;
}

async fn card_transactions_post_like_transfers(database: TestDatabase) {
    let store = Store::connect(database.url()).await.unwrap();
    let (org, pod, card) = world(&store).await;
    let mut tx = store.begin().await.unwrap();
    // A deposit of 1000 funds the pod (a transfer from the outside world).
    let deposit = TransferId::generate();
    sqlx::query(
        "INSERT INTO transfers (id, org_id, source_account_id, destination_account_id, amount_cents, direction, \
         origin, status, simulation, created_at_ms, updated_at_ms, completed_at_ms) \
         VALUES ($1, $2, NULL, $3, 1000, 'money_in', 'paycheck', 'complete', 0, 1, 1, 1)",
    )
    .bind(deposit.as_str())
    .bind(org.id.as_str())
    .bind(pod.id.as_str())
    .execute(&mut *tx)
    .await
    .unwrap();
    let funding = [
        Posting {
            account: org.system_accounts.outside_world.clone(),
            amount_delta: Cents::new(-1_000),
        },
        Posting { account: pod.id.clone(), amount_delta: Cents::new(1_000) },
    ];
    ledger::post(&mut tx, &org.id, Movement::Transfer(&deposit), &funding, None, at(2))
        .await
        .unwrap();
    // A purchase of 700 reserves, then its posting consumes the reservation.
    let purchase = purchase_record(&org, &card, 700);
    cards::insert_transaction(&mut tx, &purchase).await.unwrap();
    assert!(ledger::reserve(&mut tx, &org.id, &pod.id, purchase.amount).await.unwrap());
    let debit = postings_for(&pod.id, purchase.direction, purchase.amount, &org.system_accounts);
    let consume = Some((&pod.id, purchase.amount));
    ledger::post(&mut tx, &org.id, Movement::CardTransaction(&purchase.id), &debit, consume, at(3))
        .await
        .unwrap();
    // Only 300 are left to reserve.
    assert!(!ledger::reserve(&mut tx, &org.id, &pod.id, Cents::new(301)).await.unwrap());
    // A refund of 200 of it.
    assert!(cards::add_refunded(&mut tx, &org.id, &purchase.id, Cents::new(200)).await.unwrap());
    let refund = CardTransactionRecord {
        id: CardTransactionId::generate(),
        direction: CardTransactionDirection::Credit,
        amount: Cents::new(200),
        purchase_id: Some(purchase.id.clone()),
        refunded: None,
        created_at: at(4),
        ..purchase.clone()
    };
    cards::insert_transaction(&mut tx, &refund).await.unwrap();
    let credit = postings_for(&pod.id, refund.direction, refund.amount, &org.system_accounts);
    ledger::post(&mut tx, &org.id, Movement::CardTransaction(&refund.id), &credit, None, at(4))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut conn = store.pool().acquire().await.unwrap();
    let entries = ledger::entries(&mut conn, &org.id).await.unwrap();
    assert_eq!(entries.len(), 6);
    let pod_entries: Vec<_> = entries.iter().filter(|e| e.account == pod.id).collect();
    assert_eq!(
        pod_entries
            .iter()
            .map(|e| (e.movement.clone(), e.amount.get(), e.balance_after.get(), e.account_version))
            .collect::<Vec<_>>(),
        [
            (MovementId::Transfer(deposit.clone()), 1_000, 1_000, 1),
            (MovementId::CardTransaction(purchase.id.clone()), -700, 300, 2),
            (MovementId::CardTransaction(refund.id.clone()), 200, 500, 3),
        ]
    );
    let world_balance: i64 = entries
        .iter()
        .filter(|e| e.account == org.system_accounts.outside_world)
        .map(|e| e.amount.get())
        .sum();
    assert_eq!(
        world_balance, -500,
        "the outside world: -1000 deposited, +700 spent, -200 refunded"
    );
    let pod_now = accounts::find(&mut conn, &org.id, pod.id.as_str()).await.unwrap().unwrap();
    assert_eq!((pod_now.balance, pod_now.reserved), (Cents::new(500), Cents::ZERO));
    assert_eq!(pod_now.balance_updated_at, at(4));
    // The card's listing shows both, newest first.
    let filter = cards::CardTransactionFilter {
        card: card.id.clone(),
        direction: None,
        from: None,
        to: None,
    };
    let listed = cards::list_transactions(&mut conn, &org.id, &filter, None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|t| (t.id.clone(), t.refunded)).collect::<Vec<_>>(),
        [(refund.id.clone(), None), (purchase.id.clone(), Some(Cents::new(200)))]
    );
    drop(conn);
    store.close().await;
}
