//! How fast rules run: `cargo bench -p sequence-server --bench rules`.
//!
//! A plain program (`harness = false`; criterion is not a dependency) that prints two figures:
//!
//! 1. **Rule evaluations per second**: `sequence_core::rules::evaluate` alone, on a realistic
//!    rule (a paycheck split: an `any`/`all` condition tree, percentages, a capped top-up and a
//!    liability payment) and its facts. This is the pure decision, with no IO.
//! 2. **End-to-end executions per second**: `POST /rules/{id}/trigger` sent through the whole
//!    application in process (router, authentication, validation, permission check, one SQLite
//!    transaction that reads the facts, evaluates, accepts the transfers with their reservations
//!    and records the execution, and the response), on a SQLite file in a temporary directory,
//!    first from one client and then from several at once (SQLite has one writer, so concurrency
//!    mostly shows the cost of waiting for the write lock).
//!
//! Each phase runs for a fixed time (`SEQUENCE_BENCH_SECONDS`, default 3) after a warm-up.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use chrono::NaiveDate;
use sequence_core::ids::{AccountId, RuleId};
use sequence_core::ledger::{AccountKind, ExternalAccountType};
use sequence_core::money::Cents;
use sequence_core::permissions::Permissions;
use sequence_core::rules::{
    AccountFacts, Action, ActionKind, CapPeriod, Condition, ConditionGroup, Fact, Facts,
    LiabilityFacts, Operand, Operator, PercentageTarget, Rule, RuleStatus, Step, TransferCap,
    Trigger, TriggerKind, ValueFact, evaluate,
};
use sequence_server::AppState;
use sequence_store::Store;
use sequence_store::orgs::{self, Organization};
use serde_json::{Value, json};
use tower::ServiceExt;

fn main() {
    let seconds =
        std::env::var("SEQUENCE_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let phase = Duration::from_secs(seconds);

    let (rule, facts) = split_rule_and_facts();
    let planned = evaluate(&rule, &facts).planned_count();
    assert_eq!(planned, 4, "the benchmark rule plans its four transfers");
    let rate = measure(phase, || {
        black_box(evaluate(black_box(&rule), black_box(&facts)));
    });
    println!("rule evaluations:          {rate:>12.0} /s  (pure evaluate, 2 steps, 4 actions)");

    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(end_to_end(phase));
}

/// Calls `f` repeatedly for `phase` (after a tenth of it as warm-up); returns calls per second.
fn measure(phase: Duration, mut f: impl FnMut()) -> f64 {
    let warm_up = Instant::now();
    while warm_up.elapsed() < phase / 10 {
        f();
    }
    let start = Instant::now();
    let mut calls: u64 = 0;
    while start.elapsed() < phase {
        for _ in 0..64 {
            f();
        }
        calls += 64;
    }
    calls as f64 / start.elapsed().as_secs_f64()
}

fn id(name: &str) -> AccountId {
    AccountId::from_raw(format!("acc_{name}"))
}

/// A paycheck split like the demo's, and facts under which every action plans a transfer.
fn split_rule_and_facts() -> (Rule, Facts) {
    let action = |kind, destination: &str| Action {
        kind,
        source: id("income"),
        destination: id(destination),
        group_index: 0,
        up_to_enabled: false,
        limit: None,
    };
    let percentage = |basis_points| ActionKind::Percentage {
        basis_points,
        target: PercentageTarget::IncomingAmount,
    };
    let condition = |fact, operator, operand| {
        ConditionGroup::Condition(Condition {
            fact,
            operator,
            operand,
            account_id: None,
            value_account_id: None,
        })
    };
    let card_statement = ConditionGroup::Condition(Condition {
        fact: Fact::Balance,
        operator: Operator::GreaterThan,
        operand: Operand::Fact(ValueFact::LastStatementBalance),
        account_id: None,
        value_account_id: Some(id("card")),
    });
    let conditions = ConditionGroup::All(vec![
        condition(Fact::TransferAmount, Operator::GreaterThanOrEqual, Operand::Value(100_000)),
        ConditionGroup::Any(vec![
            card_statement,
            condition(Fact::Date, Operator::LessThan, Operand::Value(28)),
        ]),
    ]);
    let top_up = Action {
        group_index: 1,
        up_to_enabled: true,
        limit: Some(TransferCap { period: CapPeriod::PerMonth, amount: Cents::new(50_000) }),
        ..action(ActionKind::TopUp { target_balance: Cents::new(1_000_000) }, "emergency")
    };
    let rule = Rule {
        id: RuleId::from_raw("rule_bench"),
        nickname: "Paycheck split".to_owned(),
        description: None,
        status: RuleStatus::Enabled,
        trigger: Trigger {
            kind: TriggerKind::OnFundsTransferred,
            account_id: Some(id("income")),
            schedule: None,
        },
        steps: vec![
            Step {
                conditions: Some(conditions),
                actions: vec![
                    action(percentage(2_000), "taxes"),
                    action(percentage(1_000), "savings"),
                    top_up,
                    Action {
                        up_to_enabled: true,
                        ..action(ActionKind::LastStatementBalance, "card")
                    },
                ],
            },
            Step { conditions: None, actions: vec![action(percentage(1_000), "savings")] },
        ],
    };
    let internal = |kind, cents| AccountFacts {
        kind,
        available_balance: Cents::new(cents),
        balance: Cents::new(cents),
        incoming_in_flight: Cents::ZERO,
        liability: None,
    };
    let card = AccountFacts {
        kind: AccountKind::External(ExternalAccountType::Liability),
        available_balance: Cents::new(245_000),
        balance: Cents::new(245_000),
        incoming_in_flight: Cents::ZERO,
        liability: Some(LiabilityFacts {
            current_balance_owed: Cents::new(245_000),
            last_statement_balance: Some(Cents::new(198_000)),
            next_payment_minimum: Some(Cents::new(3_500)),
        }),
    };
    let accounts = BTreeMap::from([
        (id("income"), internal(AccountKind::IncomeSource, 800_000)),
        (id("taxes"), internal(AccountKind::Pod, 0)),
        (id("savings"), internal(AccountKind::Pod, 0)),
        (id("emergency"), internal(AccountKind::Pod, 200_000)),
        (id("card"), card),
    ]);
    let facts = Facts {
        trigger_amount: Some(Cents::new(500_000)),
        today: NaiveDate::from_ymd_opt(2024, 4, 23).expect("a date"),
        accounts,
        cap_usage: BTreeMap::from([((1, CapPeriod::PerMonth), Cents::new(10_000))]),
    };
    (rule, facts)
}

/// Sends one request through the app; returns the status and the JSON body.
async fn send(
    app: &axum::Router,
    method: &str,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let builder = Request::builder()
        .method(method)
        .uri(path)
        .header("Authorization", format!("ApiKey {key}"));
    let request = match body {
        Some(body) => {
            builder.header("Content-Type", "application/json").body(Body::from(body.to_string()))
        }
        None => builder.body(Body::empty()),
    }
    .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn end_to_end(phase: Duration) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("bench.db").display()))
        .await
        .expect("store");
    let org = Organization::new("Bench", chrono::Utc::now());
    let minted = sequence_server::auth::mint(
        &org.id,
        "bench",
        &Permissions::all_scopes(),
        chrono::Utc::now(),
    );
    let mut tx = store.begin().await.expect("tx");
    orgs::insert(&mut tx, &org).await.expect("org");
    sequence_store::keys::insert(&mut tx, &minted.record).await.expect("key");
    tx.commit().await.expect("commit");
    let key = minted.plaintext;
    let app = sequence_server::app(AppState::new(store, true));

    let create = |path: &'static str, nickname: &'static str| {
        let (app, key) = (&app, &key);
        async move {
            let (status, body) =
                send(app, "POST", path, key, Some(json!({"nickname": nickname}))).await;
            assert_eq!(status, 201, "{body}");
            body["data"]["id"].as_str().expect("id").to_owned()
        }
    };
    let income = create("/api/v1/accounts/income-sources", "Payroll").await;
    let taxes = create("/api/v1/accounts/pods", "Taxes").await;
    let savings = create("/api/v1/accounts/pods", "Savings").await;
    let deposit = json!({"account_id": income, "amount_in_cents": 100_000_000_000_i64});
    assert_eq!(send(&app, "POST", "/api/v1/sandbox/deposits", &key, Some(deposit)).await.0, 201);
    let rule = json!({
        "nickname": "Split on demand",
        "trigger": {"type": "MANUAL", "account_id": income},
        "steps": [{
            "conditions": {"condition": {"fact": "TRANSFER_AMOUNT", "operator": "GREATER_THAN_OR_EQUAL", "value": 1000}},
            "actions": [
                {"type": "PERCENTAGE", "source_account_id": income, "destination_account_id": taxes, "percentage_value": 20},
                {"type": "PERCENTAGE", "source_account_id": income, "destination_account_id": savings, "percentage_value": 10,
                 "limit": {"period": "PER_MONTH", "amount_in_cents": 1_000_000_000_000_i64}}
            ]
        }]
    });
    let (status, body) = send(&app, "POST", "/api/v1/rules", &key, Some(rule)).await;
    assert_eq!(status, 201, "{body}");
    let rule = body["data"]["id"].as_str().expect("id").to_owned();
    assert_eq!(
        send(&app, "POST", &format!("/api/v1/sandbox/rules/{rule}/enable"), &key, None).await.0,
        200
    );

    let path = format!("/api/v1/rules/{rule}/trigger");
    let trigger = |app: axum::Router, key: String, path: String, deadline: Instant| async move {
        let mut runs: u64 = 0;
        while Instant::now() < deadline {
            let (status, body) =
                send(&app, "POST", &path, &key, Some(json!({"manual_execute_amount": 50_000})))
                    .await;
            assert_eq!(status, 202, "{body}");
            runs += 1;
        }
        runs
    };
    // Warm-up, then one client, then several.
    trigger(app.clone(), key.clone(), path.clone(), Instant::now() + phase / 10).await;
    let start = Instant::now();
    let runs = trigger(app.clone(), key.clone(), path.clone(), start + phase).await;
    let rate = runs as f64 / start.elapsed().as_secs_f64();
    println!(
        "end-to-end executions:     {rate:>12.0} /s  (triggerRule in process, SQLite, 1 client, 2 transfers each)"
    );
    let clients = 4;
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| tokio::spawn(trigger(app.clone(), key.clone(), path.clone(), start + phase)))
        .collect();
    let mut runs = 0;
    for task in tasks {
        runs += task.await.expect("client task");
    }
    let rate = runs as f64 / start.elapsed().as_secs_f64();
    println!(
        "end-to-end executions:     {rate:>12.0} /s  (triggerRule in process, SQLite, {clients} clients)"
    );

    let (_, executions) =
        send(&app, "GET", &format!("/api/v1/rule-executions?rule_id={rule}&first=1"), &key, None)
            .await;
    assert_eq!(
        executions["data"][0]["transfers_attempted"], 2,
        "the last run made its two transfers"
    );
}
