//! The listings built from the filters present (`transfers::list`, `rules::list_executions`,
//! `cards::list_transactions`) return
//! exactly what a plain reading of their filters does: for every combination of role, mode and
//! optional filters present, paging through a mixed history (both sides of the account, live and
//! simulated, every status, origin and direction, rule executions, many rows created in the same
//! millisecond, a second organization) with the cursor gives the same rows, in the same order, on
//! the same pages, as filtering and sorting every row of the history in Rust.
//!
//! The branches a listing merges (one per account side and live/simulated value), the folding of
//! `to` into the cursor and the row-value cursor are each exercised here by the combinations that
//! need them; the plan test (`plans`) checks that those listings read index ranges.

use std::future::Future;

use chrono::{DateTime, Utc};
use sequence_core::ids::{OrgId, RuleExecutionId};
use sequence_store::Store;
use sequence_store::cards::{self, CardTransactionFilter, CardTransactionRecord};
use sequence_store::rules::{self, ExecutionFilter, ExecutionRecord};
use sequence_store::test_support::{TestBackend, TestDatabase};
use sequence_store::transfers::{
    self, AccountRole, Cursor, ModeFilter, TransferFilter, TransferRecord,
};

use crate::history::{self, Dice, History, Size};

macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::run(sequence_store::test_support::TestBackend::Sqlite, super::$name).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::run(sequence_store::test_support::TestBackend::Postgres, super::$name).await;
            }
        }
    )+};
}

on_both_backends!(
    transfer_pages_match_a_reference_for_every_filter_combination,
    execution_pages_match_a_reference_for_every_filter_combination,
    card_transaction_pages_match_a_reference_for_every_filter_combination,
);

/// Runs `test` on a fresh database of `backend` holding a listed organization's history and
/// another organization's, or prints why it is skipped.
async fn run<F, Fut>(backend: TestBackend, test: F)
where
    F: FnOnce(Store, History) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(database) = TestDatabase::create(backend).await else { return };
    let store = Store::connect(database.url()).await.expect("connect and migrate");
    let mut dice = Dice::new(17);
    let size = Size { transfers: 300, rules: 4, executions_per_rule: 40, card_transactions: 300 };
    let history = history::load(&store, "Listed", size, &mut dice).await;
    history::load(&store, "Other", size, &mut dice).await;
    test(store.clone(), history).await;
    store.close().await;
}

const ROLES: [AccountRole; 3] =
    [AccountRole::Source, AccountRole::Destination, AccountRole::Either];
const MODES: [ModeFilter; 3] = [ModeFilter::Live, ModeFilter::Simulation, ModeFilter::All];
const PAGE_SIZES: [u32; 5] = [1, 2, 3, 7, 100];

fn in_mode(mode: ModeFilter, simulation: bool) -> bool {
    match mode {
        ModeFilter::Live => !simulation,
        ModeFilter::Simulation => simulation,
        ModeFilter::All => true,
    }
}

fn within(at: DateTime<Utc>, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> bool {
    from.is_none_or(|from| at >= from) && to.is_none_or(|to| at <= to)
}

/// The reference: every transfer of the history that the filter selects, newest first.
fn expected_transfers(history: &History, filter: &TransferFilter) -> Vec<TransferRecord> {
    let account = Some(&filter.account);
    let mut rows: Vec<TransferRecord> = history
        .transfers
        .iter()
        .filter(|t| match filter.role {
            AccountRole::Source => t.source.as_ref() == account,
            AccountRole::Destination => t.destination.as_ref() == account,
            AccountRole::Either => {
                t.source.as_ref() == account || t.destination.as_ref() == account
            }
        })
        .filter(|t| in_mode(filter.mode, t.simulation))
        .filter(|t| filter.direction.is_none_or(|d| t.direction == d))
        .filter(|t| filter.origin.is_none_or(|o| t.origin == o))
        .filter(|t| filter.status.is_none_or(|s| t.status == s))
        .filter(|t| within(t.created_at, filter.from, filter.to))
        .filter(|t| filter.rule_execution.is_none() || t.rule_execution_id == filter.rule_execution)
        .cloned()
        .collect();
    rows.sort_by(|a, b| (b.created_at, b.id.as_str()).cmp(&(a.created_at, a.id.as_str())));
    rows
}

/// Pages through a listing with the cursor (`list` is the store call for one page) and checks
/// every page against the matching slice of `expected`.
async fn page_through<T, F, Fut>(what: &str, expected: &[T], page_size: u32, list: F)
where
    T: PartialEq + std::fmt::Debug + Clone,
    F: Fn(Option<Cursor>) -> Fut,
    Fut: Future<Output = Vec<(T, Cursor)>>,
{
    let mut cursor = None;
    let mut seen = 0;
    loop {
        let page = list(cursor.clone()).await;
        let rows: Vec<T> = page.iter().map(|(row, _)| row.clone()).collect();
        let end = (seen + page_size as usize).min(expected.len());
        assert_eq!(rows, expected[seen..end], "{what}: the page after row {seen}");
        let Some((_, last)) = page.last() else { break };
        cursor = Some(last.clone());
        seen = end;
    }
    assert_eq!(seen, expected.len(), "{what}: every row listed");
}

fn cursor_of(created_at: DateTime<Utc>, id: &str) -> Cursor {
    Cursor { created_at_ms: created_at.timestamp_millis(), id: id.to_owned() }
}

async fn transfer_pages_match_a_reference_for_every_filter_combination(
    store: Store,
    history: History,
) {
    let org = history.org.id.clone();
    let mut dice = Dice::new(23);
    let mut combinations = 0;
    let mut rows_listed = 0;
    // A pod (on both sides of plain and rule transfers) and the bank account (never a rule's).
    for account in [&history.accounts[1], &history.accounts[4]] {
        let involved: Vec<&TransferRecord> = history
            .transfers
            .iter()
            .filter(|t| {
                t.source.as_ref() == Some(&account.id)
                    || t.destination.as_ref() == Some(&account.id)
            })
            .collect();
        let executions: Vec<&RuleExecutionId> =
            involved.iter().filter_map(|t| t.rule_execution_id.as_ref()).collect();
        for role in ROLES {
            for mode in MODES {
                // Bit i of `present`: the i-th optional filter is given.
                for present in 0..64_u32 {
                    let given = |bit: u32| present & (1 << bit) != 0;
                    // Values taken from the account's own transfers, so that most combinations
                    // select something.
                    let sample = *dice.pick(&involved);
                    let (a, b) = (dice.pick(&involved).created_at, dice.pick(&involved).created_at);
                    let filter = TransferFilter {
                        account: account.id.clone(),
                        role,
                        mode,
                        direction: given(0).then_some(sample.direction),
                        origin: given(1).then_some(sample.origin),
                        status: given(2).then_some(sample.status),
                        from: given(3).then_some(a.min(b)),
                        to: given(4).then_some(a.max(b)),
                        rule_execution: given(5).then(|| {
                            if executions.is_empty() {
                                RuleExecutionId::generate()
                            } else {
                                (*dice.pick(&executions)).clone()
                            }
                        }),
                    };
                    let expected = expected_transfers(&history, &filter);
                    let page_size = *dice.pick(&PAGE_SIZES);
                    let what = format!("{filter:?}, pages of {page_size}");
                    page_through(&what, &expected, page_size, |cursor| {
                        let (store, org, filter) = (&store, &org, &filter);
                        async move {
                            let mut conn = store.pool().acquire().await.unwrap();
                            transfers::list(&mut conn, org, filter, cursor.as_ref(), page_size)
                                .await
                                .unwrap()
                                .into_iter()
                                .map(|t| {
                                    let cursor = cursor_of(t.created_at, t.id.as_str());
                                    (t, cursor)
                                })
                                .collect()
                        }
                    })
                    .await;
                    combinations += 1;
                    rows_listed += expected.len();
                }
            }
        }
    }
    println!("{combinations} filter combinations, {rows_listed} rows listed in all");
    assert!(rows_listed > 5_000, "the combinations select rows ({rows_listed})");
}

/// The reference for executions.
fn expected_executions(
    history: &History,
    org: &OrgId,
    filter: &ExecutionFilter,
) -> Vec<ExecutionRecord> {
    let mut rows: Vec<ExecutionRecord> = history
        .executions
        .iter()
        .filter(|e| &e.org_id == org && e.rule_id == filter.rule)
        .filter(|e| in_mode(filter.mode, e.simulation))
        .filter(|e| filter.status.is_none_or(|s| e.status == s))
        .filter(|e| filter.trigger.is_none_or(|t| e.trigger == t))
        .filter(|e| within(e.created_at, filter.from, filter.to))
        .cloned()
        .collect();
    rows.sort_by(|a, b| (b.created_at, b.id.as_str()).cmp(&(a.created_at, a.id.as_str())));
    rows
}

async fn execution_pages_match_a_reference_for_every_filter_combination(
    store: Store,
    history: History,
) {
    let org = history.org.id.clone();
    let mut dice = Dice::new(29);
    let mut rows_listed = 0;
    for rule in &history.rules[..2] {
        let own: Vec<&ExecutionRecord> =
            history.executions.iter().filter(|e| e.rule_id == rule.rule.id).collect();
        for mode in MODES {
            for present in 0..16_u32 {
                let given = |bit: u32| present & (1 << bit) != 0;
                let sample = *dice.pick(&own);
                let (a, b) = (dice.pick(&own).created_at, dice.pick(&own).created_at);
                let filter = ExecutionFilter {
                    rule: rule.rule.id.clone(),
                    mode,
                    status: given(0).then_some(sample.status),
                    trigger: given(1).then_some(sample.trigger),
                    from: given(2).then_some(a.min(b)),
                    to: given(3).then_some(a.max(b)),
                };
                let expected = expected_executions(&history, &org, &filter);
                let page_size = *dice.pick(&PAGE_SIZES);
                let what = format!("{filter:?}, pages of {page_size}");
                page_through(&what, &expected, page_size, |cursor| {
                    let (store, org, filter) = (&store, &org, &filter);
                    async move {
                        let mut conn = store.pool().acquire().await.unwrap();
                        rules::list_executions(&mut conn, org, filter, cursor.as_ref(), page_size)
                            .await
                            .unwrap()
                            .into_iter()
                            .map(|e| {
                                let cursor = cursor_of(e.created_at, e.id.as_str());
                                (e, cursor)
                            })
                            .collect()
                    }
                })
                .await;
                rows_listed += expected.len();
            }
        }
    }
    // Every status and trigger value was generated, so the unfiltered listings select rows.
    assert!(rows_listed > 200, "the combinations select rows ({rows_listed})");
}

/// The reference for card transactions.
fn expected_card_transactions(
    history: &History,
    filter: &CardTransactionFilter,
) -> Vec<CardTransactionRecord> {
    let mut rows: Vec<CardTransactionRecord> = history
        .card_transactions
        .iter()
        .filter(|t| t.card_id == filter.card)
        .filter(|t| filter.direction.is_none_or(|d| t.direction == d))
        .filter(|t| within(t.created_at, filter.from, filter.to))
        .cloned()
        .collect();
    rows.sort_by(|a, b| (b.created_at, b.id.as_str()).cmp(&(a.created_at, a.id.as_str())));
    rows
}

async fn card_transaction_pages_match_a_reference_for_every_filter_combination(
    store: Store,
    history: History,
) {
    let org = history.org.id.clone();
    let mut dice = Dice::new(31);
    let mut rows_listed = 0;
    for card in &history.cards {
        let own: Vec<&CardTransactionRecord> =
            history.card_transactions.iter().filter(|t| t.card_id == card.id).collect();
        for present in 0..8_u32 {
            for _ in 0..3 {
                let given = |bit: u32| present & (1 << bit) != 0;
                let sample = *dice.pick(&own);
                let (a, b) = (dice.pick(&own).created_at, dice.pick(&own).created_at);
                let filter = CardTransactionFilter {
                    card: card.id.clone(),
                    direction: given(0).then_some(sample.direction),
                    from: given(1).then_some(a.min(b)),
                    to: given(2).then_some(a.max(b)),
                };
                let expected = expected_card_transactions(&history, &filter);
                let page_size = *dice.pick(&PAGE_SIZES);
                let what = format!("{filter:?}, pages of {page_size}");
                page_through(&what, &expected, page_size, |cursor| {
                    let (store, org, filter) = (&store, &org, &filter);
                    async move {
                        let mut conn = store.pool().acquire().await.unwrap();
                        cards::list_transactions(&mut conn, org, filter, cursor.as_ref(), page_size)
                            .await
                            .unwrap()
                            .into_iter()
                            .map(|t| {
                                let cursor = cursor_of(t.created_at, t.id.as_str());
                                (t, cursor)
                            })
                            .collect()
                    }
                })
                .await;
                rows_listed += expected.len();
            }
        }
    }
    assert!(rows_listed > 300, "the combinations select rows ({rows_listed})");
}
