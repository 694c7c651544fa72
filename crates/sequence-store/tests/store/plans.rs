//! Query plans of every query over an organization's history (and over the webhook deliverer's due
//! work, across organizations), on SQLite and PostgreSQL: each must
//! be served by index range scans in the order it returns (no sort of the rows it read, no scan
//! of a table), through the index meant for it, with the listing's cursor (or its `to` bound,
//! whichever is tighter) as the start of the range. A list page then costs the same at any
//! history size; see `sequence_store::statement` for the shapes and migration 0005 for the
//! indexes.
//!
//! The card transaction listing (`cards::list_transactions`, migration 0006) is checked the same
//! way; a pod's cards (`cards::list`) are a handful, not a history, and are not.
//!
//! The statements explained are the ones the store runs: each store function has a `…_statement`
//! twin that returns its SQL and values. Each plan checked is printed (`cargo test -p
//! sequence-store --test store plans -- --nocapture` shows them all).
//!
//! - SQLite: `EXPLAIN QUERY PLAN`. Fails on `USE TEMP B-TREE` (a sort; an aggregate may group
//!   its bounded input that way), on any `SCAN` of a table, on a missing index, or when the index
//!   search of a listing does not start at its cursor. SQLite never has statistics here (nor in
//!   production: nothing runs `ANALYZE`), so these plans are the ones production gets.
//! - PostgreSQL: `EXPLAIN`, both the custom plan (values known, what the first executions of a
//!   prepared statement get) and the generic plan (`plan_cache_mode = force_generic_plan`: what
//!   PostgreSQL may switch to after five executions of sqlx's cached statement). Fails on a
//!   `Seq Scan`, a `Sort` (or `Incremental Sort`) node, a missing index, or an index condition
//!   that does not start at the cursor. PostgreSQL rightly reads a table of a few rows
//!   sequentially, so the history is a few thousand rows in two organizations and `ANALYZE`
//!   runs first: a sequential scan or a sort is then a real choice the planner makes, not an
//!   artefact of an empty table.
//!
//! `the_check_rejects_the_listing_it_replaced` runs the same check on the listing query this
//! replaced (an `OR` of the two sides and catch-all `IS NULL OR` terms) and requires it to fail,
//! so the check is known to catch what it is for.

use std::collections::BTreeMap;
use std::future::Future;

use chrono::TimeDelta;
use sequence_core::cards::CardTransactionDirection;
use sequence_core::ledger::{TransferDirection, TransferOrigin, TransferStatus};
use sequence_core::rules::{CapPeriodStarts, ExecutionStatus, ExecutionTrigger};
use sequence_store::accounts;
use sequence_store::audit::{self, AuditEntry, AuditFilter, Outcome};
use sequence_store::cards::{self, CardTransactionFilter};
use sequence_store::rules::{self, ExecutionFilter};
use sequence_store::statement::{Cursor, Param, Statement};
use sequence_store::test_support::{TestBackend, TestDatabase};
use sequence_store::transfers::{self, AccountRole, ModeFilter, TransferFilter};
use sequence_store::webhooks;
use sequence_store::{AnyConnection, Backend, Store};
use sqlx::Row;

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
    history_queries_read_one_index_range_in_order,
    the_check_rejects_the_listing_it_replaced,
    audit_log_queries_read_one_index_range_in_order,
);

/// Runs `test` on a fresh database of `backend` holding two organizations' history (statistics
/// gathered on PostgreSQL), or prints why it is skipped.
async fn run<F, Fut>(backend: TestBackend, test: F)
where
    F: FnOnce(Store, History) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(database) = TestDatabase::create(backend).await else { return };
    let store = Store::connect(database.url()).await.expect("connect and migrate");
    let mut dice = Dice::new(9);
    let size =
        Size { transfers: 4_000, rules: 60, executions_per_rule: 600, card_transactions: 3_000 };
    let history = history::load(&store, "Listed", size, &mut dice).await;
    let other =
        Size { transfers: 2_000, rules: 60, executions_per_rule: 100, card_transactions: 1_000 };
    history::load(&store, "Other", other, &mut dice).await;
    if store.backend() == Backend::Postgres {
        // As autovacuum would after such a load: statistics, and the visibility map that lets
        // PostgreSQL answer from an index alone.
        sqlx::raw_sql("VACUUM ANALYZE").execute(store.pool()).await.expect("VACUUM ANALYZE");
    }
    test(store.clone(), history).await;
    store.close().await;
}

/// Where a listing's index range must start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Not checked (no cursor and no `to`, or not a listing).
    Unchecked,
    /// At the cursor: `(created_at_ms, id) < (…)`.
    Cursor,
    /// At `to`: `created_at_ms <= …`.
    To,
}

/// One statement and what its plan must show.
struct Check {
    name: String,
    statement: Statement,
    /// Indexes the plan must read (each at least once).
    indexes: Vec<&'static str>,
    /// Where each read of those indexes must start.
    start: Start,
    /// A `GROUP BY` over the rows its range scan read, which may hash or sort them.
    aggregate: bool,
    /// Reading any one of `indexes` will do (several filters, each with an ordered index: the
    /// planner picks one by its estimates).
    any_index: bool,
}

impl Check {
    fn new(name: impl Into<String>, statement: Statement, indexes: &[&'static str]) -> Check {
        Check {
            name: name.into(),
            statement,
            indexes: indexes.to_vec(),
            start: Start::Unchecked,
            aggregate: false,
            any_index: false,
        }
    }

    fn starting(self, start: Start) -> Check {
        Check { start, ..self }
    }
}

/// A plan as indented lines (for printing) and as nodes with their detail lines (for checking).
struct Plan {
    lines: Vec<String>,
}

impl Plan {
    /// Each node line followed by its property lines (`Index Cond: …`; PostgreSQL only).
    fn nodes(&self) -> Vec<(String, Vec<String>)> {
        let mut nodes: Vec<(String, Vec<String>)> = Vec::new();
        for line in &self.lines {
            let text = line.trim_start().trim_start_matches("->").trim_start();
            let property = text
                .split_once(": ")
                .is_some_and(|(key, _)| key.chars().all(|c| c.is_ascii_alphabetic() || c == ' '));
            match nodes.last_mut() {
                Some((_, properties)) if property => properties.push(text.to_owned()),
                _ => nodes.push((text.to_owned(), Vec::new())),
            }
        }
        nodes
    }
}

async fn explain_sqlite(conn: &mut AnyConnection, statement: &Statement) -> Plan {
    let explain = statement.with_sql(format!("EXPLAIN QUERY PLAN {}", statement.sql()));
    let rows = explain.query().fetch_all(&mut *conn).await.expect("EXPLAIN QUERY PLAN");
    let mut depth: BTreeMap<i64, usize> = BTreeMap::new();
    let mut lines = Vec::new();
    for row in rows {
        let (id, parent, detail): (i64, i64, String) =
            (row.try_get(0).unwrap(), row.try_get(1).unwrap(), row.try_get(3).unwrap());
        let level = depth.get(&parent).map_or(0, |d| d + 1);
        depth.insert(id, level);
        lines.push(format!("{}{detail}", "  ".repeat(level)));
    }
    Plan { lines }
}

async fn explain_postgres_custom(conn: &mut AnyConnection, statement: &Statement) -> Plan {
    let explain = statement.with_sql(format!("EXPLAIN (COSTS OFF) {}", statement.sql()));
    let rows = explain.query().fetch_all(&mut *conn).await.expect("EXPLAIN");
    Plan { lines: rows.iter().map(|row| row.try_get::<String, _>(0).unwrap()).collect() }
}

/// The plan PostgreSQL would use once it settles on a generic plan for the prepared statement.
async fn explain_postgres_generic(conn: &mut AnyConnection, statement: &Statement) -> Plan {
    let literals: Vec<String> = statement
        .params()
        .iter()
        .map(|param| match param {
            Param::Text(text) => format!("'{}'", text.replace('\'', "''")),
            Param::Int(int) => int.to_string(),
            Param::NullText => "NULL::text".to_owned(),
            Param::NullInt => "NULL::bigint".to_owned(),
        })
        .collect();
    let setup = format!(
        "SET plan_cache_mode = force_generic_plan; PREPARE plan_check AS {}",
        statement.sql()
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(setup)).execute(&mut *conn).await.expect("PREPARE");
    let explain = format!("EXPLAIN (COSTS OFF) EXECUTE plan_check({})", literals.join(", "));
    let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(explain))
        .fetch_all(&mut *conn)
        .await
        .expect("EXPLAIN EXECUTE");
    sqlx::raw_sql("DEALLOCATE plan_check; RESET plan_cache_mode")
        .execute(&mut *conn)
        .await
        .expect("DEALLOCATE");
    Plan { lines: rows.iter().map(|row| row.try_get::<String, _>(0).unwrap()).collect() }
}

/// What is wrong with `plan` for `check` on `backend` (empty: nothing).
fn problems(backend: Backend, check: &Check, plan: &Plan) -> Vec<String> {
    let mut problems = Vec::new();
    let nodes = plan.nodes();
    for (node, _) in &nodes {
        let bad = match backend {
            Backend::Sqlite => {
                (node.starts_with("SCAN ") && node != "SCAN CONSTANT ROW")
                    || (node.contains("USE TEMP B-TREE")
                        && !(check.aggregate && node.contains("GROUP BY")))
            }
            Backend::Postgres => {
                node.starts_with("Seq Scan")
                    || ((node.starts_with("Sort") || node.starts_with("Incremental Sort"))
                        && !check.aggregate)
            }
        };
        if bad {
            problems.push(format!("`{node}`"));
        }
    }
    let reads = |node: &str, index: &str| match backend {
        Backend::Sqlite => {
            node.contains(&format!("INDEX {index} ")) || node.ends_with(&format!("INDEX {index}"))
        }
        Backend::Postgres => {
            node.contains(&format!(" using {index} ")) || node.contains(&format!(" on {index}"))
        }
    };
    let read = |index: &&str| nodes.iter().any(|(node, _)| reads(node, index));
    if check.any_index {
        if !check.indexes.iter().any(read) {
            problems.push(format!("reads none of the indexes {:?}", check.indexes));
        }
    } else {
        for index in check.indexes.iter().filter(|index| !read(index)) {
            problems.push(format!("does not read index {index}"));
        }
    }
    let start = match (backend, check.start) {
        (_, Start::Unchecked) => None,
        (Backend::Sqlite, Start::Cursor) => Some("(created_at_ms,id)<(?,?)"),
        (Backend::Sqlite, Start::To) => Some("created_at_ms<?"),
        (Backend::Postgres, Start::Cursor) => Some("ROW(created_at_ms, id) < ROW("),
        (Backend::Postgres, Start::To) => Some("created_at_ms <= "),
    };
    if let Some(start) = start {
        for (node, properties) in &nodes {
            if !check.indexes.iter().any(|index| reads(node, index)) {
                continue;
            }
            let starts = match backend {
                Backend::Sqlite => node.contains(start),
                Backend::Postgres => {
                    properties.iter().any(|p| p.starts_with("Index Cond:") && p.contains(start))
                }
            };
            if !starts {
                problems.push(format!("`{node}` does not start its range at `{start}`"));
            }
        }
    }
    problems
}

/// Explains `check` (both plans on PostgreSQL), prints the plans, and returns its problems.
async fn examine(conn: &mut AnyConnection, backend: Backend, check: &Check) -> Vec<String> {
    let plans = match backend {
        Backend::Sqlite => vec![("plan", explain_sqlite(conn, &check.statement).await)],
        Backend::Postgres => vec![
            ("custom plan", explain_postgres_custom(conn, &check.statement).await),
            ("generic plan", explain_postgres_generic(conn, &check.statement).await),
        ],
    };
    println!("== {backend:?}: {}", check.name);
    println!("   SQL: {}", check.statement.sql());
    println!("   values: {:?}", check.statement.params());
    let mut found = Vec::new();
    for (label, plan) in plans {
        println!("   {label}:");
        for line in &plan.lines {
            println!("     {line}");
        }
        for problem in problems(backend, check, &plan) {
            found.push(format!("{} ({label}): {problem}", check.name));
        }
    }
    found
}

/// The transfer listings (representative filter combinations) and every other query over the
/// history, with what each plan must show.
fn checks(backend: Backend, history: &History) -> Vec<Check> {
    let org = &history.org.id;
    let pod = &history.accounts[1];
    let mut newest: Vec<_> = history
        .transfers
        .iter()
        .filter(|t| t.source.as_ref() == Some(&pod.id) || t.destination.as_ref() == Some(&pod.id))
        .collect();
    newest.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    // A cursor a few pages in, and a `to` bound before and after it.
    let anchor = newest[200];
    let cursor =
        Cursor { created_at_ms: anchor.created_at.timestamp_millis(), id: anchor.id.to_string() };
    let later = anchor.created_at + TimeDelta::hours(1);
    let earlier = anchor.created_at - TimeDelta::hours(1);
    let from = newest[newest.len() - 100].created_at;
    let base = TransferFilter {
        account: pod.id.clone(),
        role: AccountRole::Either,
        direction: None,
        origin: None,
        status: None,
        mode: ModeFilter::Live,
        from: None,
        to: None,
        rule_execution: None,
    };
    let sides = ["transfers_list_by_source", "transfers_list_by_destination"];
    let list =
        |name: &str, filter: TransferFilter, cursor: Option<&Cursor>, indexes: &[&'static str]| {
            Check::new(
                format!("transfers::list ({name})"),
                transfers::list_statement(backend, org, &filter, cursor, 21),
                indexes,
            )
        };
    let execution = history
        .executions
        .iter()
        .find(|e| e.counters.attempted > 1)
        .expect("an execution with transfers");
    let rule = &history.rules[0];
    let execution_base = ExecutionFilter {
        rule: rule.rule.id.clone(),
        status: None,
        trigger: None,
        mode: ModeFilter::Live,
        from: None,
        to: None,
    };
    let mut executions: Vec<_> =
        history.executions.iter().filter(|e| e.rule_id == rule.rule.id).collect();
    executions.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    let execution_cursor = Cursor {
        created_at_ms: executions[50].created_at.timestamp_millis(),
        id: executions[50].id.to_string(),
    };
    let list_executions = |name: &str, filter: ExecutionFilter, cursor: Option<&Cursor>| {
        Check::new(
            format!("rules::list_executions ({name})"),
            rules::list_executions_statement(backend, org, &filter, cursor, 21),
            &["rule_executions_list_by_rule"],
        )
    };
    let card = &history.cards[0];
    let mut card_rows: Vec<_> =
        history.card_transactions.iter().filter(|t| t.card_id == card.id).collect();
    card_rows.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    let card_anchor = card_rows[200];
    let card_cursor = Cursor {
        created_at_ms: card_anchor.created_at.timestamp_millis(),
        id: card_anchor.id.to_string(),
    };
    let card_base =
        CardTransactionFilter { card: card.id.clone(), direction: None, from: None, to: None };
    let card_from = card_rows[card_rows.len() - 100].created_at;
    let list_card = |name: &str, filter: CardTransactionFilter, cursor: Option<&Cursor>| {
        Check::new(
            format!("cards::list_transactions ({name})"),
            cards::list_transactions_statement(backend, org, &filter, cursor, 21),
            &["card_transactions_list_by_card"],
        )
    };
    let now = history::epoch() + TimeDelta::days(20);
    let webhook = &history.webhooks;
    let endpoint = &webhook.endpoints[0].id;
    let subject = webhook.deliveries[0].subject_id.as_str();
    let mut endpoint_attempts: Vec<_> =
        webhook.attempts.iter().filter(|a| &a.endpoint_id == endpoint).collect();
    endpoint_attempts.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    let anchor = endpoint_attempts[100];
    let attempt_cursor =
        Cursor { created_at_ms: anchor.created_at.timestamp_millis(), id: anchor.id.to_string() };
    vec![
        list_card("the default first page", card_base.clone(), None),
        list_card("after a cursor", card_base.clone(), Some(&card_cursor)).starting(Start::Cursor),
        list_card(
            "direction, from and a later `to`, after a cursor",
            CardTransactionFilter {
                direction: Some(CardTransactionDirection::Debit),
                from: Some(card_from),
                to: Some(card_anchor.created_at + TimeDelta::hours(1)),
                ..card_base.clone()
            },
            Some(&card_cursor),
        )
        .starting(Start::Cursor),
        list_card(
            "refunds, from and an earlier `to`, after a cursor",
            CardTransactionFilter {
                direction: Some(CardTransactionDirection::Credit),
                from: Some(card_from),
                to: Some(card_anchor.created_at - TimeDelta::hours(1)),
                ..card_base.clone()
            },
            Some(&card_cursor),
        )
        .starting(Start::To),
        list("either side, live: the default first page", base.clone(), None, &sides),
        list("either side, live, after a cursor", base.clone(), Some(&cursor), &sides)
            .starting(Start::Cursor),
        list(
            "source side, live, after a cursor",
            TransferFilter { role: AccountRole::Source, ..base.clone() },
            Some(&cursor),
            &sides[..1],
        )
        .starting(Start::Cursor),
        list(
            "destination side, simulations, after a cursor",
            TransferFilter {
                role: AccountRole::Destination,
                mode: ModeFilter::Simulation,
                ..base.clone()
            },
            Some(&cursor),
            &sides[1..],
        )
        .starting(Start::Cursor),
        list(
            "either side, live and simulated, after a cursor",
            TransferFilter { mode: ModeFilter::All, ..base.clone() },
            Some(&cursor),
            &sides,
        )
        .starting(Start::Cursor),
        list(
            "either side, status, from and a later `to`, after a cursor",
            TransferFilter {
                status: Some(TransferStatus::Complete),
                from: Some(from),
                to: Some(later),
                ..base.clone()
            },
            Some(&cursor),
            &sides,
        )
        .starting(Start::Cursor),
        list(
            "either side, direction and origin, after a cursor",
            TransferFilter {
                direction: Some(TransferDirection::Internal),
                origin: Some(TransferOrigin::User),
                ..base.clone()
            },
            Some(&cursor),
            &sides,
        )
        .starting(Start::Cursor),
        list(
            "either side, from and an earlier `to`, after a cursor",
            TransferFilter { from: Some(from), to: Some(earlier), ..base.clone() },
            Some(&cursor),
            &sides,
        )
        .starting(Start::To),
        list(
            "either side, one rule execution's transfers",
            TransferFilter { rule_execution: Some(execution.id.clone()), ..base.clone() },
            None,
            &["transfers_by_execution_time"],
        ),
        list(
            "source side, one rule execution's transfers, all modes, after a cursor",
            TransferFilter {
                role: AccountRole::Source,
                mode: ModeFilter::All,
                rule_execution: Some(execution.id.clone()),
                ..base.clone()
            },
            Some(&cursor),
            &["transfers_by_execution_time"],
        )
        .starting(Start::Cursor),
        list_executions("live: the default first page", execution_base.clone(), None),
        list_executions(
            "simulations, after a cursor",
            ExecutionFilter { mode: ModeFilter::Simulation, ..execution_base.clone() },
            Some(&execution_cursor),
        )
        .starting(Start::Cursor),
        list_executions(
            "live and simulated, status, from and to, after a cursor",
            ExecutionFilter {
                mode: ModeFilter::All,
                status: Some(ExecutionStatus::Executed),
                from: Some(history::epoch()),
                to: Some(now + TimeDelta::days(365)),
                ..execution_base.clone()
            },
            Some(&execution_cursor),
        )
        .starting(Start::Cursor),
        list_executions(
            "live, trigger, after a cursor",
            ExecutionFilter { trigger: Some(ExecutionTrigger::Manual), ..execution_base.clone() },
            Some(&execution_cursor),
        )
        .starting(Start::Cursor),
        Check::new(
            "transfers::list_for_execution",
            transfers::list_for_execution_statement(&execution.id),
            &["transfers_by_execution_time"],
        ),
        Check::new(
            "transfers::count_in_flight",
            transfers::count_in_flight_statement(org, &pod.id),
            &["transfers_in_flight_by_source", "transfers_in_flight_by_destination"],
        ),
        Check::new(
            "transfers::incoming_in_flight",
            transfers::incoming_in_flight_statement(org, &pod.id),
            &["transfers_in_flight_by_destination"],
        ),
        Check::new(
            "transfers::due",
            transfers::due_statement(org, now, 100),
            &["transfers_due_by_org"],
        ),
        Check::new(
            "transfers::due_records",
            transfers::due_records_statement(org, now, 50),
            &["transfers_due_by_org"],
        ),
        Check::new(
            "transfers::due_with_sides",
            transfers::due_with_sides_statement(org, now, 50),
            &["transfers_due_by_org"],
        ),
        Check::new("rules::next_due", rules::next_due_statement(org, now), &["rules_due_by_org"]),
        Check::new(
            "webhooks::live_endpoints",
            webhooks::live_endpoints_statement(org),
            &["webhook_endpoints_live_by_org"],
        ),
        Check::new(
            "webhooks::due (every organization's due deliveries)",
            webhooks::due_statement(now, &[], 64),
            &["webhook_deliveries_due"],
        ),
        Check::new(
            "webhooks::due, leaving busy endpoints out",
            webhooks::due_statement(now, std::slice::from_ref(endpoint), 64),
            &["webhook_deliveries_due"],
        ),
        Check::new(
            "webhooks::last_unfinished",
            webhooks::last_unfinished_statement(backend, endpoint, subject),
            &["webhook_deliveries_unfinished"],
        ),
        Check::new(
            "webhooks::promote_next's look-up",
            webhooks::next_waiting_statement(endpoint, subject),
            &["webhook_deliveries_unfinished"],
        ),
        Check::new(
            "webhooks::list_attempts: the first page",
            webhooks::list_attempts_statement(backend, org, endpoint, None, 21),
            &["webhook_attempts_list_by_endpoint"],
        ),
        Check::new(
            "webhooks::list_attempts, after a cursor",
            webhooks::list_attempts_statement(backend, org, endpoint, Some(&attempt_cursor), 21),
            &["webhook_attempts_list_by_endpoint"],
        )
        .starting(Start::Cursor),
        Check {
            aggregate: true,
            ..Check::new(
                "rules::cap_usage",
                rules::cap_usage_statement(
                    &rule.rule.id,
                    CapPeriodStarts {
                        week: now - TimeDelta::days(3),
                        month: now - TimeDelta::days(19),
                        year: history::epoch(),
                    },
                ),
                &["transfers_by_rule_time"],
            )
        },
    ]
}

async fn history_queries_read_one_index_range_in_order(store: Store, history: History) {
    let backend = store.backend();
    let mut conn = store.pool().acquire().await.unwrap();
    let mut found = Vec::new();
    let mut checks = checks(backend, &history);
    // The account listing (migration 0009) on SQLite, where `listAccounts` runs it on the
    // request's thread. An organization has a handful of accounts, which PostgreSQL rightly
    // reads and sorts as its statistics say, so its plan is not checked there.
    if backend == Backend::Sqlite {
        for filter in [None, Some("pod")] {
            let statement = accounts::list_statement(&history.org.id, filter);
            checks.push(Check::new(
                format!("accounts::list {filter:?}"),
                statement,
                &["accounts_listing"],
            ));
        }
    }
    for check in checks {
        found.extend(examine(&mut conn, backend, &check).await);
    }
    assert!(
        found.is_empty(),
        "plans that read more than one index range in order:\n{}",
        found.join("\n")
    );
}

/// The listing query before migration 0005, verbatim (the same values as the store's, in the
/// same order): an `OR` of the two sides and a catch-all term per optional filter.
fn replaced_listing(history: &History) -> Statement {
    let sql = "SELECT id FROM transfers WHERE org_id = $1 AND (source_account_id = $2 OR destination_account_id = $2) \
         AND simulation = 0 \
         AND (CAST($3 AS TEXT) IS NULL OR direction = $3) \
         AND (CAST($4 AS TEXT) IS NULL OR origin = $4) \
         AND (CAST($5 AS TEXT) IS NULL OR status = $5) \
         AND (CAST($6 AS BIGINT) IS NULL OR created_at_ms >= $6) \
         AND (CAST($7 AS BIGINT) IS NULL OR created_at_ms <= $7) \
         AND (CAST($8 AS TEXT) IS NULL OR rule_execution_id = $8) \
         AND (CAST($9 AS BIGINT) IS NULL OR created_at_ms < $9 OR (created_at_ms = $9 AND id < $10)) \
         ORDER BY created_at_ms DESC, id DESC LIMIT $11";
    // The values of a first page with no optional filter, as the old code bound them.
    let values = vec![
        Param::Text(history.org.id.to_string()),
        Param::Text(history.accounts[1].id.to_string()),
        Param::NullText,
        Param::NullText,
        Param::NullText,
        Param::NullInt,
        Param::NullInt,
        Param::NullText,
        Param::NullInt,
        Param::Text(String::new()),
        Param::Int(21),
    ];
    Statement::from_parts(sql.to_owned(), values)
}

async fn the_check_rejects_the_listing_it_replaced(store: Store, history: History) {
    let backend = store.backend();
    let mut conn = store.pool().acquire().await.unwrap();
    let check = Check::new("the listing before migration 0005", replaced_listing(&history), &[]);
    let found = examine(&mut conn, backend, &check).await;
    println!("   problems found (as required): {found:#?}");
    assert!(!found.is_empty(), "the plan check passed the listing it was written to reject");
}

/// `GET /audit-logs` over an organization's log of 6,000 calls (another organization holds
/// 2,000): each filter that has an index reads that index's range from the cursor, in order.
async fn audit_log_queries_read_one_index_range_in_order(store: Store, history: History) {
    use sequence_core::ids::{ApiKeyId, AuditEntryId};
    let backend = store.backend();
    let operations = ["createTransfer", "triggerRule", "createPod", "listAccounts"];
    let mut tx = store.begin().await.unwrap();
    let other = sequence_store::orgs::Organization::new("Other log", history::epoch());
    sequence_store::orgs::insert(&mut tx, &other).await.unwrap();
    let orgs = [history.org.id.clone(), other.id];
    let mut listed = Vec::new();
    // Through the background writer's multi-row INSERT (the same statement many times, which is
    // when PostgreSQL holds it to its parameter types).
    let mut batch = Vec::new();
    for (org, calls) in orgs.iter().zip([6_000, 2_000]) {
        for i in 0..calls {
            let entry = AuditEntry {
                id: AuditEntryId::generate(),
                org_id: org.clone(),
                created_at: history::epoch() + TimeDelta::seconds(i),
                api_key_id: ApiKeyId::from_raw(format!("key_{}", i % 7)),
                operation_id: operations[(i % 4) as usize].to_owned(),
                method: "POST".to_owned(),
                path: "/transfers".to_owned(),
                resource_ids: vec![],
                outcome: Outcome::ALL[(i % 3) as usize],
                status: 201,
                error_code: None,
                request_id: format!("req_{i}"),
                called_reason: None,
            };
            if org == &orgs[0] {
                listed.push(entry.clone());
            }
            batch.push(entry);
        }
    }
    audit::insert_many(&mut tx, &batch).await.unwrap();
    tx.commit().await.unwrap();
    if backend == Backend::Postgres {
        sqlx::raw_sql("VACUUM ANALYZE audit_logs").execute(store.pool()).await.unwrap();
    }
    listed.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    let anchor = &listed[300];
    let cursor =
        Cursor { created_at_ms: anchor.created_at.timestamp_millis(), id: anchor.id.to_string() };
    let org = &orgs[0];
    let check = |name: &str, filter: AuditFilter, cursor: Option<&Cursor>, index: &'static str| {
        let check = Check::new(
            format!("audit::list ({name})"),
            audit::list_statement(backend, org, &filter, cursor, 21),
            &[index],
        );
        if cursor.is_some() { check.starting(Start::Cursor) } else { check }
    };
    let all = [
        "audit_logs_by_org",
        "audit_logs_by_key",
        "audit_logs_by_operation",
        "audit_logs_by_outcome",
    ];
    let any = |check: Check| Check { indexes: all.to_vec(), any_index: true, ..check };
    let checks = [
        check("no filter: the first page", AuditFilter::default(), None, "audit_logs_by_org"),
        check(
            "no filter, after a cursor",
            AuditFilter::default(),
            Some(&cursor),
            "audit_logs_by_org",
        ),
        check(
            "by key, after a cursor",
            AuditFilter { api_key_id: Some("key_3".into()), ..AuditFilter::default() },
            Some(&cursor),
            "audit_logs_by_key",
        ),
        any(check(
            "by operation and outcome, after a cursor",
            AuditFilter {
                operation_id: Some("createTransfer".into()),
                outcome: Some(Outcome::Denied),
                ..AuditFilter::default()
            },
            Some(&cursor),
            "audit_logs_by_operation",
        )),
        any(check(
            "by outcome, from, after a cursor",
            AuditFilter {
                outcome: Some(Outcome::Failure),
                from: Some(history::epoch()),
                ..AuditFilter::default()
            },
            Some(&cursor),
            "audit_logs_by_outcome",
        )),
    ];
    let mut conn = store.pool().acquire().await.unwrap();
    let mut found = Vec::new();
    for check in &checks {
        found.extend(examine(&mut conn, backend, check).await);
    }
    assert!(found.is_empty(), "audit plans that read more than one range:\n{}", found.join("\n"));
}
