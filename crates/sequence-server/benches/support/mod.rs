//! What the load benches share: the demo organization's accounts and a fast bulk load of
//! transfer history **through the store** (`sequence_store::transfers::insert`, [`BATCH`] rows
//! per transaction, no HTTP), so a bench can start from a database that already holds a large
//! history (`history`: the listing at 1k–1M transfers; `transfers`: createTransfer on 100k).
//!
//! The history is `N` live transfers of the listed account ("Savings"), on both sides in turn
//! (from and to the other pods, from the income source, to the card), one in eight created in the
//! same millisecond as its predecessor (ties on `created_at`), mostly `complete` with some
//! `cancelled` and `error`; plus `N / 4` transfers between other accounts and `N / 10`
//! simulations of the listed account, which a live listing must skip. Every row is finished
//! (nothing reserved, nothing due), so the load changes no balance and gives the settlement
//! worker nothing to do: it is history, not work.
//!
//! It also holds the benches' small helpers: reading their `BENCH_*` settings and percentiles.

use chrono::{DateTime, TimeDelta, Utc};
use rand::{Rng, SeedableRng};
use sequence_core::ids::{AccountId, OrgId, TransferId};
use sequence_core::ledger::{
    AccountKind, TransferDirection, TransferErrorCode, TransferOrigin, TransferStatus,
};
use sequence_core::money::Cents;
use sequence_store::transfers::{self, TransferRecord};
use sequence_store::{Backend, Store, accounts};

/// `name` as a non-negative integer, `None` when unset; anything else stops the bench.
pub fn env_usize(name: &str) -> Option<usize> {
    let value = std::env::var(name).ok()?;
    let parsed = value.parse();
    Some(parsed.unwrap_or_else(|_| panic!("{name} must be a non-negative integer, not {value:?}")))
}

/// `name` as a comma-separated list of non-negative integers, `None` when unset.
pub fn env_list(name: &str) -> Option<Vec<usize>> {
    let list = std::env::var(name).ok()?;
    let parse = |n: &str| {
        n.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must list non-negative integers, not {list:?}"))
    };
    Some(list.split(',').map(parse).collect())
}

/// The `p` quantile (0 < p <= 1) of `sorted` latencies, in milliseconds.
pub fn percentile_ms(sorted: &[std::time::Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1e3
}

/// Rows per bulk-load transaction.
pub const BATCH: usize = 5_000;

/// The accounts the history moves between.
pub struct Accounts {
    pub listed: AccountId,
    pub pods: Vec<AccountId>,
    pub income: AccountId,
    pub card: AccountId,
}

pub async fn demo_accounts(store: &Store, org: &OrgId) -> Accounts {
    let mut conn = store.pool().acquire().await.expect("a connection");
    let all = accounts::list(&mut conn, org, None).await.expect("the demo accounts");
    let named = |name: &str| {
        all.iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("the demo has no account {name:?}"))
            .id
            .clone()
    };
    Accounts {
        listed: named("Savings"),
        pods: vec![named("Emergency Fund"), named("Taxes")],
        income: named("Chase Checking ••4567"),
        card: all
            .iter()
            .find(|a| matches!(a.kind, AccountKind::External(_)))
            .expect("the demo card")
            .id
            .clone(),
    }
}

/// Inserts the history described in the module docs, oldest first, ending before `now`.
/// Returns how many transfers the organization then has from this load.
pub async fn load_history(
    store: &Store,
    org: &OrgId,
    accounts: &Accounts,
    history: usize,
    now: DateTime<Utc>,
) -> usize {
    let noise = history / 4;
    let simulations = history / 10;
    let total = history + noise + simulations;
    let mut rng = rand::rngs::StdRng::seed_from_u64(history as u64);
    // Which rows are noise and which are simulations, spread evenly through time.
    let mut kinds: Vec<u8> = std::iter::repeat_n(0, history)
        .chain(std::iter::repeat_n(1, noise))
        .chain(std::iter::repeat_n(2, simulations))
        .collect();
    for i in (1..kinds.len()).rev() {
        kinds.swap(i, rng.random_range(0..=i));
    }
    let start = now - TimeDelta::milliseconds(i64::try_from(total).unwrap() * 1_000 + 60_000);
    let mut created = start;
    let mut tx = store.begin().await.expect("begin");
    for (n, kind) in kinds.into_iter().enumerate() {
        if n % 8 != 7 {
            created += TimeDelta::milliseconds(rng.random_range(1..2_000));
        }
        let pod = &accounts.pods[n % accounts.pods.len()];
        let (source, destination, direction) = match (kind, n % 4) {
            (1, _) => (Some(&accounts.income), Some(pod), TransferDirection::Internal),
            (_, 0) => (Some(&accounts.listed), Some(pod), TransferDirection::Internal),
            (_, 1) => (Some(pod), Some(&accounts.listed), TransferDirection::Internal),
            (_, 2) => (Some(&accounts.income), Some(&accounts.listed), TransferDirection::Internal),
            _ => (Some(&accounts.listed), Some(&accounts.card), TransferDirection::MoneyOut),
        };
        let status = match rng.random_range(0..20) {
            0 => TransferStatus::Cancelled,
            1 => TransferStatus::Error,
            _ => TransferStatus::Complete,
        };
        let record = TransferRecord {
            id: TransferId::generate(),
            org_id: org.clone(),
            source: source.cloned(),
            destination: destination.cloned(),
            amount: Cents::new(rng.random_range(100..100_000)),
            direction,
            origin: TransferOrigin::User,
            status,
            error_code: (status == TransferStatus::Error)
                .then_some(TransferErrorCode::InsufficientFunds),
            description: None,
            simulation: kind == 2,
            reserved: Cents::ZERO,
            rule_id: None,
            rule_execution_id: None,
            processing_started_at: Some(created),
            next_step_at: None,
            created_at: created,
            updated_at: created,
            completed_at: (status == TransferStatus::Complete).then_some(created),
        };
        transfers::insert(&mut tx, &record).await.expect("inserting a transfer");
        if n % BATCH == BATCH - 1 {
            tx.commit().await.expect("commit");
            tx = store.begin().await.expect("begin");
        }
    }
    tx.commit().await.expect("commit");
    total
}

/// Loads `history` transfers (see the module docs) and, on PostgreSQL, runs `ANALYZE` as
/// autovacuum would after such a load (SQLite never gathers statistics in production, so it gets
/// none here either). Returns how many rows the organization gained.
pub async fn load_history_and_analyze(
    store: &Store,
    org: &OrgId,
    accounts: &Accounts,
    history: usize,
    now: DateTime<Utc>,
) -> usize {
    let rows = load_history(store, org, accounts, history, now).await;
    if store.backend() == Backend::Postgres {
        sqlx::query("ANALYZE").execute(store.pool()).await.expect("ANALYZE");
    }
    rows
}
