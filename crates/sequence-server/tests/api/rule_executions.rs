//! Rule runs end to end: what triggers them, what they move, how their executions read and
//! follow their transfers, and who may read them. The scenarios drive a real server on a socket
//! through the generated client (paycheck split on deposit, a scheduled monthly transfer across a
//! month boundary, a card statement payment, a cap reached mid-month, a simulation that moves
//! nothing); the rest use the in-process app. Every test runs on SQLite and on PostgreSQL.

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};
use sequence_client::types;
use serde_json::{Value, json};

use crate::harness::{assert_error, both_backends};
use crate::rules::{RuleWorld, redact};

const FIVE_DAYS: i64 = 5 * 24 * 60 * 60;

/// The app on a free local port, for the generated client; stops when dropped, and then fails
/// the test if any response it served did not match the spec (`spec_check`).
struct Served {
    /// `http://127.0.0.1:PORT/api/v1`.
    base_url: String,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    violations: crate::spec_check::Violations,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
        if !std::thread::panicking() {
            self.violations.assert_none();
        }
    }
}

async fn serve(app: &crate::harness::TestApp) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a free port");
    let address = listener.local_addr().expect("local address");
    let (router, violations) = crate::spec_check::checked(sequence_server::app(app.state.clone()));
    let task = tokio::spawn(async move { axum::serve(listener, router).await });
    Served { base_url: format!("http://{address}/api/v1"), task, violations }
}

fn client(base_url: &str, key: &str) -> sequence_client::Client {
    sequence_client::client_with_api_key(base_url, key).expect("client")
}

fn rule_input(body: Value) -> types::RuleInput {
    serde_json::from_value(body).expect("a RuleInput")
}

/// The `available_balance_in_cents` of an income source or pod, read through the client.
async fn available(client: &sequence_client::Client, account: &str) -> i64 {
    let account = client.get_account().id(account).send().await.expect("account");
    account.data.balance.available_balance_in_cents.expect("an internal account")
}

both_backends! {
    async fn paycheck_split_on_deposit(app: TestApp) {
        let world = RuleWorld::new(app).await;
        let served = serve(&world.app).await;
        let client = client(&served.base_url, &world.key);

        let created = client.create_rule().body(rule_input(world.split_body())).send().await.expect("created");
        assert_eq!(created.data.status, types::RuleStatus::Disabled);
        let rule = created.data.id.clone();
        // Disabled: a deposit fires nothing.
        let deposit = types::SandboxDepositRequest::builder().account_id(world.income.as_str()).amount_in_cents(100_000u64);
        client.create_sandbox_deposit().body(deposit).send().await.expect("deposit");
        let none = client.list_rule_executions().rule_id(rule.as_str()).send().await.expect("listed");
        assert!(none.data.is_empty());

        client.enable_sandbox_rule().id(rule.as_str()).send().await.expect("enabled");
        let deposit = types::SandboxDepositRequest::builder().account_id(world.income.as_str()).amount_in_cents(500_000u64);
        let paycheck = client.create_sandbox_deposit().body(deposit).send().await.expect("deposit");
        assert_eq!(paycheck.data.status, types::TransferStatus::Complete);

        // The run is recorded before the deposit's response; its transfers are in flight.
        let listed = client.list_rule_executions().rule_id(rule.as_str()).send().await.expect("listed");
        assert_eq!(listed.data.len(), 1);
        let execution = &listed.data[0];
        assert_eq!(execution.trigger_type, types::RuleExecutionTriggerType::OnFundsTransferred);
        assert_eq!(execution.trigger_details.amount_in_cents, Some(500_000));
        assert_eq!(execution.status, types::RuleExecutionStatus::InProgress);
        assert_eq!((execution.transfers_attempted, execution.transfers_pending), (2, 2));
        assert_eq!(execution.step_index_matched, Some(0));
        assert_eq!(available(&client, &world.income).await, 600_000 - 150_000, "reserved at acceptance");

        // The internal transfers settle within a minute.
        let clock = types::SandboxClockAdvanceRequest::builder().seconds(60u64);
        client.advance_sandbox_clock().body(clock).send().await.expect("advanced");
        let execution = client.get_rule_execution().id(execution.id.as_str()).send().await.expect("read").into_inner();
        assert_eq!(execution.data.status, types::RuleExecutionStatus::Executed);
        assert_eq!((execution.data.transfers_completed, execution.data.transfers_pending), (2, 0));
        insta::assert_json_snapshot!("execution_executed", redact(serde_json::to_value(&execution).unwrap()));
        assert_eq!(available(&client, &world.taxes).await, 100_000);
        assert_eq!(available(&client, &world.savings).await, 50_000);
        assert_eq!(available(&client, &world.income).await, 450_000);

        // The transfers carry their rule and execution, in action order.
        let transfers = client
            .list_transfers()
            .account_id(world.income.as_str())
            .origin(types::TransferOrigin::Rule)
            .send()
            .await
            .expect("transfers");
        assert_eq!(transfers.data.len(), 2);
        for transfer in &transfers.data {
            assert_eq!(transfer.rule_id.as_deref().map(String::as_str), Some(rule.as_str()));
            assert_eq!(transfer.rule_execution_id.as_deref().map(String::as_str), Some(execution.data.id.as_str()));
            assert_eq!(transfer.status, types::TransferStatus::Complete);
            assert_eq!(transfer.direction, types::TransferDirection::Internal);
        }
        let first = client.get_transfer().id(execution.data.transfer_ids[0].as_str()).send().await.expect("transfer");
        assert_eq!(first.data.destination.as_ref().unwrap().id.as_str(), world.taxes);
        assert_eq!(first.data.amount_in_cents, 100_000);

        // Rule transfers arriving in a pod do not fire the pod's own rule (no cascades), but other
        // money arriving there does.
        let pod_rule = json!({
            "nickname": "Sweep taxes", "trigger": {"type": "ON_FUNDS_TRANSFERRED", "account_id": world.taxes},
            "steps": [{"actions": [{"type": "FIXED", "source_account_id": world.taxes,
                                    "destination_account_id": world.savings, "amount_in_cents": 100}]}]
        });
        let pod_rule = world.enabled(pod_rule).await;
        let deposit = types::SandboxDepositRequest::builder().account_id(world.income.as_str()).amount_in_cents(10_000u64);
        client.create_sandbox_deposit().body(deposit).send().await.expect("deposit");
        client.advance_sandbox_clock().body(types::SandboxClockAdvanceRequest::builder().seconds(60u64)).send().await.expect("advanced");
        assert!(world.executions(&pod_rule, "").await.is_empty(), "a rule transfer fired a rule");
        let manual = world.app.transfer(&world.key, &world.income, &world.taxes, 1_000).await;
        assert_eq!(manual.status, 201, "{}", manual.raw);
        world.app.advance_clock(&world.key, 60).await;
        assert_eq!(world.executions(&pod_rule, "").await.len(), 1, "a completed manual transfer fires it");
    }
}

/// 09:00 UTC on the 1st of the month after `now`'s.
fn first_of_next_month(now: DateTime<Utc>) -> DateTime<Utc> {
    let first = NaiveDate::from_ymd_opt(now.year(), now.month(), 1)
        .unwrap()
        .checked_add_months(Months::new(1))
        .unwrap();
    Utc.from_utc_datetime(&first.and_hms_opt(9, 0, 0).unwrap())
}

both_backends! {
    async fn scheduled_monthly_transfer_across_a_month_boundary(app: TestApp) {
        let world = RuleWorld::new(app).await;
        world.app.deposit(&world.key, &world.income, 1_000_000).await;
        let served = serve(&world.app).await;
        let client = client(&served.base_url, &world.key);
        let now = client.get_sandbox_organization().send().await.expect("org").data.now;
        let start = first_of_next_month(now);
        let body = json!({
            "nickname": "Monthly savings",
            "trigger": {"type": "SCHEDULED", "schedule_type": "MONTHLY", "start_date": start.to_rfc3339(),
                        "account_id": world.income},
            "steps": [{"actions": [{"type": "FIXED", "source_account_id": world.income,
                                    "destination_account_id": world.savings, "amount_in_cents": 20_000}]}]
        });
        let rule = client.create_rule().body(rule_input(body)).send().await.expect("created").data.id.clone();
        client.enable_sandbox_rule().id(rule.as_str()).send().await.expect("enabled");
        let advance = |seconds: i64| {
            let client = &client;
            async move {
                let body = types::SandboxClockAdvanceRequest::builder().seconds(u64::try_from(seconds).unwrap());
                client.advance_sandbox_clock().body(body).send().await.expect("advanced").into_inner().data
            }
        };

        // Just before the boundary: nothing. Just after: one run, dated at its occurrence.
        let clock = advance((start - now).num_seconds() - 120).await;
        assert_eq!(clock.rules_executed, 0);
        assert!(world.executions(&rule, "").await.is_empty());
        let clock = advance(240).await;
        assert_eq!((clock.rules_executed, clock.transfers_settled), (1, 1));
        let runs = world.executions(&rule, "").await;
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0]["trigger_type"], "scheduled");
        let scheduled = DateTime::parse_from_rfc3339(runs[0]["trigger_details"]["scheduled_time"].as_str().unwrap()).unwrap();
        assert_eq!(scheduled, start);
        assert_eq!(runs[0]["created_at"], runs[0]["trigger_details"]["scheduled_time"]);
        assert_eq!(runs[0]["trigger_details"]["amount_in_cents"], Value::Null);
        assert_eq!(runs[0]["status"], "executed", "its transfer settled within the advance: {}", runs[0]);
        assert_eq!(available(&client, &world.savings).await, 20_000);

        // Advancing across two more month boundaries at once runs both occurrences, in order.
        let third = start.checked_add_months(Months::new(2)).unwrap();
        let now = client.get_sandbox_organization().send().await.expect("org").data.now;
        let clock = advance((third - now).num_seconds() + 60).await;
        assert_eq!(clock.rules_executed, 2);
        assert_eq!(clock.transfers_settled, 2, "settlements between occurrences are counted too");
        let runs = world.executions(&rule, "").await;
        let times: Vec<&str> = runs.iter().map(|r| r["trigger_details"]["scheduled_time"].as_str().unwrap()).collect();
        assert_eq!(times.len(), 3);
        assert_eq!(DateTime::parse_from_rfc3339(times[0]).unwrap(), third, "newest first");
        assert_eq!(DateTime::parse_from_rfc3339(times[1]).unwrap(), start.checked_add_months(Months::new(1)).unwrap());
        assert_eq!(available(&client, &world.savings).await, 60_000);

        // An occurrence that falls while the rule is disabled is skipped, not caught up.
        client.disable_sandbox_rule().id(rule.as_str()).send().await.expect("disabled");
        let fourth = start.checked_add_months(Months::new(3)).unwrap();
        let now = client.get_sandbox_organization().send().await.expect("org").data.now;
        assert_eq!(advance((fourth - now).num_seconds() + 60).await.rules_executed, 0);
        client.enable_sandbox_rule().id(rule.as_str()).send().await.expect("enabled");
        assert_eq!(advance(60).await.rules_executed, 0);
        assert_eq!(world.executions(&rule, "").await.len(), 3);
        let fifth = start.checked_add_months(Months::new(4)).unwrap();
        let now = client.get_sandbox_organization().send().await.expect("org").data.now;
        assert_eq!(advance((fifth - now).num_seconds() + 60).await.rules_executed, 1);
        assert_eq!(available(&client, &world.savings).await, 80_000);
    }
}

both_backends! {
    async fn card_statement_payment_from_the_liability(app: TestApp) {
        let world = RuleWorld::new(app).await;
        world.app.deposit(&world.key, &world.income, 300_000).await;
        let served = serve(&world.app).await;
        let client = client(&served.base_url, &world.key);
        let body = json!({
            "nickname": "Pay the Amex statement",
            "trigger": {"type": "MANUAL", "account_id": world.income},
            "steps": [{
                "conditions": {"condition": {"fact": "BALANCE", "operator": "GREATER_THAN_OR_EQUAL",
                    "value_fact": "LAST_STATEMENT_BALANCE", "params": {"value_account_id": world.card}}},
                "actions": [{"type": "LAST_STATEMENT_BALANCE", "source_account_id": world.income,
                             "destination_account_id": world.card}]
            }]
        });
        let rule = world.enabled(body).await;
        let triggered = client.trigger_rule().id(rule.as_str()).body(types::TriggerRuleRequest::builder()).send().await.expect("triggered");
        assert_eq!(triggered.status(), 202);
        let execution = client.get_rule_execution().id(triggered.data.execution_id.as_str()).send().await.expect("read");
        assert_eq!(execution.data.step_index_matched, Some(0));
        assert_eq!(execution.data.transfers_attempted, 1);
        let payment = client.get_transfer().id(execution.data.transfer_ids[0].as_str()).send().await.expect("payment");
        assert_eq!(payment.data.amount_in_cents, 198_000);
        assert_eq!(payment.data.direction, types::TransferDirection::MoneyOut);
        assert_eq!(payment.data.origin, types::TransferOrigin::Rule);

        let clock = types::SandboxClockAdvanceRequest::builder().seconds(u64::try_from(FIVE_DAYS).unwrap());
        client.advance_sandbox_clock().body(clock).send().await.expect("advanced");
        let execution = client.get_rule_execution().id(triggered.data.execution_id.as_str()).send().await.expect("read");
        assert_eq!(execution.data.status, types::RuleExecutionStatus::Executed);
        let card = client.get_account().id(world.card.as_str()).send().await.expect("card");
        assert_eq!(card.data.balance.balance_in_cents, 245_000 - 198_000);
        assert_eq!(card.data.balance.last_statement_balance_in_cents, Some(0));
        assert_eq!(available(&client, &world.income).await, 300_000 - 198_000);

        // Paid: the statement balance is now 0, so the condition (balance >= 0) passes and the
        // action has nothing to move.
        let again = client.trigger_rule().id(rule.as_str()).send().await.expect("triggered");
        let again = client.get_rule_execution().id(again.data.execution_id.as_str()).send().await.expect("read");
        assert_eq!((again.data.transfers_attempted, again.data.transfers_skipped), (0, 1));
        assert_eq!(again.data.status, types::RuleExecutionStatus::Executed);
    }
}

both_backends! {
    async fn a_cap_reached_mid_month(app: TestApp) {
        let world = RuleWorld::new(app).await;
        world.app.deposit(&world.key, &world.income, 1_000_000).await;
        let served = serve(&world.app).await;
        let client = client(&served.base_url, &world.key);
        // Never more than $1,000 a month to savings; the clock sits early in a month so three
        // runs fall in the same one.
        let now = client.get_sandbox_organization().send().await.expect("org").data.now;
        let early = first_of_next_month(now);
        let seconds = u64::try_from((early - now).num_seconds()).unwrap();
        client.advance_sandbox_clock().body(types::SandboxClockAdvanceRequest::builder().seconds(seconds)).send().await.expect("advanced");
        let body = json!({
            "nickname": "Save half, capped",
            "trigger": {"type": "MANUAL", "account_id": world.income},
            "steps": [{"actions": [{"type": "PERCENTAGE", "source_account_id": world.income,
                "destination_account_id": world.savings, "percentage_value": 50,
                "limit": {"period": "PER_MONTH", "amount_in_cents": 100_000}}]}]
        });
        let rule = world.enabled(body).await;
        let run = |amount: i64, simulation: bool| {
            let client = &client;
            let rule = rule.clone();
            async move {
                let body = types::TriggerRuleRequest::builder().manual_execute_amount(Some(amount)).simulation(simulation);
                let id = client.trigger_rule().id(rule.as_str()).body(body).send().await.expect("triggered").data.execution_id.clone();
                client.get_rule_execution().id(id.as_str()).send().await.expect("read").into_inner().data
            }
        };
        let amount = |execution: &types::RuleExecution| {
            let world = &world;
            let id = execution.transfer_ids[0].clone();
            async move { world.app.transfer_by_id(&world.key, &id).await["amount_in_cents"].as_i64().unwrap() }
        };
        let first = run(120_000, false).await;
        assert_eq!(amount(&first).await, 60_000);
        // A simulation sees the remaining room but does not use it up.
        let simulated = run(120_000, true).await;
        assert_eq!(amount(&simulated).await, 40_000);
        let second = run(120_000, false).await;
        assert_eq!(amount(&second).await, 40_000, "clipped to what is left of the month's cap");
        let third = run(120_000, false).await;
        assert_eq!((third.transfers_attempted, third.transfers_skipped), (0, 1));
        assert_eq!(third.status, types::RuleExecutionStatus::Executed);
        // In flight or complete, the month's transfers count; next month there is room again.
        let next = first_of_next_month(early);
        let now = client.get_sandbox_organization().send().await.expect("org").data.now;
        let seconds = u64::try_from((next - now).num_seconds()).unwrap();
        client.advance_sandbox_clock().body(types::SandboxClockAdvanceRequest::builder().seconds(seconds)).send().await.expect("advanced");
        let fourth = run(120_000, false).await;
        assert_eq!(amount(&fourth).await, 60_000);
        assert_eq!(available(&client, &world.savings).await, 100_000, "the first month's two settled");
    }
}

both_backends! {
    async fn a_simulation_moves_nothing(app: TestApp) {
        let world = RuleWorld::new(app).await;
        world.app.deposit(&world.key, &world.income, 100_000).await;
        let served = serve(&world.app).await;
        let client = client(&served.base_url, &world.key);
        let rule = world.enabled(world.split_body()).await;
        let body = types::TriggerRuleRequest::builder().manual_execute_amount(Some(50_000)).simulation(true);
        let id = client.trigger_rule().id(rule.as_str()).body(body).send().await.expect("triggered").data.execution_id.clone();
        let execution = client.get_rule_execution().id(id.as_str()).send().await.expect("read").into_inner().data;
        assert!(execution.simulation);
        assert_eq!(execution.status, types::RuleExecutionStatus::Executed, "final at once");
        assert_eq!((execution.transfers_attempted, execution.transfers_completed, execution.transfers_pending), (2, 2, 0));
        insta::assert_json_snapshot!("execution_simulated", redact(serde_json::to_value(&execution).unwrap()));
        for transfer in &execution.transfer_ids {
            let transfer = client.get_transfer().id(transfer.as_str()).send().await.expect("transfer");
            assert!(transfer.data.simulation);
            assert_eq!(transfer.data.status, types::TransferStatus::Processing);
        }
        assert_eq!(available(&client, &world.income).await, 100_000, "nothing reserved");
        // Lists leave simulations out unless asked.
        assert!(world.executions(&rule, "").await.is_empty());
        assert_eq!(world.executions(&rule, "execution_mode=simulation").await.len(), 1);
        assert_eq!(world.executions(&rule, "execution_mode=all").await.len(), 1);
        assert!(world.app.all_transfers(&world.key, &world.income, "origin=rule").await.is_empty());
        assert_eq!(world.app.all_transfers(&world.key, &world.income, "origin=rule&execution_mode=simulation").await.len(), 2);
        // Time passing changes nothing.
        world.app.advance_clock(&world.key, FIVE_DAYS).await;
        let after = client.get_rule_execution().id(id.as_str()).send().await.expect("read").into_inner().data;
        assert_eq!(serde_json::to_value(&after).unwrap(), serde_json::to_value(&execution).unwrap());
        assert_eq!(available(&client, &world.taxes).await, 0);
        assert_eq!(world.app.balances(&world.key, &world.income).await, (100_000, 100_000));
    }
}

both_backends! {
    async fn failures_are_recorded_as_error_transfers_and_stop_the_step(app: TestApp) {
        let world = RuleWorld::new(app).await;
        world.app.deposit(&world.key, &world.income, 30_000).await;
        // Two fixed amounts from a source that has enough for the first only; a third never runs.
        let body = json!({
            "nickname": "Too much",
            "trigger": {"type": "MANUAL"},
            "steps": [{"actions": [
                {"type": "FIXED", "source_account_id": world.income, "destination_account_id": world.taxes, "amount_in_cents": 20_000},
                {"type": "FIXED", "source_account_id": world.income, "destination_account_id": world.savings, "amount_in_cents": 20_000},
                {"type": "FIXED", "source_account_id": world.income, "destination_account_id": world.savings, "amount_in_cents": 100}
            ]}]
        });
        let rule = world.enabled(body).await;
        let id = world.trigger(&rule, json!({})).await;
        let execution = world.execution(&id).await;
        assert_eq!(execution["status"], "in_progress");
        assert_eq!(execution["transfers_failed"], 1);
        assert_eq!(execution["transfers_pending"], 1);
        let message = execution["error_message"].as_str().unwrap();
        assert!(message.starts_with("steps[0].actions[1]: insufficient funds"), "{message}");
        assert!(message.contains("the next action of the step was not run"), "{message}");
        let failed = world.app.transfer_by_id(&world.key, execution["transfer_ids"][1].as_str().unwrap()).await;
        assert_eq!((failed["status"].as_str(), failed["error_code"].as_str()), (Some("error"), Some("insufficient_funds")));
        assert_eq!(failed["amount_in_cents"], 20_000);
        world.app.advance_clock(&world.key, 60).await;
        let execution = world.execution(&id).await;
        assert_eq!(execution["status"], "partial");
        assert_eq!((execution["transfers_completed"].as_i64(), execution["transfers_failed"].as_i64()), (Some(1), Some(1)));

        // A liability without statement data: the action fails with its code and amount 0.
        let bare = world.app.create_external_account(&world.key, "LIABILITY", 10_000).await;
        let body = json!({
            "nickname": "Pay the minimum", "trigger": {"type": "MANUAL"},
            "steps": [{"actions": [{"type": "NEXT_PAYMENT_MINIMUM", "source_account_id": world.income, "destination_account_id": bare}]}]
        });
        let rule = world.enabled(body).await;
        let execution = world.execution(&world.trigger(&rule, json!({})).await).await;
        assert_eq!(execution["status"], "failed");
        let failed = world.app.transfer_by_id(&world.key, execution["transfer_ids"][0].as_str().unwrap()).await;
        assert_eq!(failed["error_code"], "account_no_minimum_payment_amount");
        assert_eq!(failed["amount_in_cents"], 0);

        // A deleted destination: `account_deleted`.
        let doomed = world.app.create_pod(&world.key, "Doomed").await;
        let body = json!({
            "nickname": "To a pod", "trigger": {"type": "MANUAL"},
            "steps": [{"actions": [{"type": "FIXED", "source_account_id": world.income, "destination_account_id": doomed, "amount_in_cents": 100}]}]
        });
        let rule = world.enabled(body).await;
        assert_eq!(world.app.delete(&format!("/api/v1/accounts/{doomed}"), Some(&world.key)).await.status, 204);
        let execution = world.execution(&world.trigger(&rule, json!({})).await).await;
        assert_eq!(execution["status"], "failed");
        assert_eq!(execution["error_message"].as_str().unwrap(), format!("steps[0].actions[0]: account `{doomed}` was deleted"));
        let failed = world.app.transfer_by_id(&world.key, execution["transfer_ids"][0].as_str().unwrap()).await;
        assert_eq!(failed["error_code"], "account_deleted");
        assert_eq!(failed["destination"]["is_deleted"], true);
    }
}

both_backends! {
    async fn approvals_hold_the_execution_until_decided(app: TestApp) {
        let world = RuleWorld::new(app).await;
        world.app.deposit(&world.key, &world.income, 1_000_000).await;
        let threshold = json!({"approval_threshold_in_cents": 50_000});
        assert_eq!(world.app.put("/api/v1/sandbox/organization", Some(&world.key), threshold).await.status, 200);
        let rule = world.enabled(world.manual_body(60_000)).await;
        let approved = world.trigger(&rule, json!({})).await;
        let declined = world.trigger(&rule, json!({})).await;
        for id in [&approved, &declined] {
            let execution = world.execution(id).await;
            let transfer = world.app.transfer_by_id(&world.key, execution["transfer_ids"][0].as_str().unwrap()).await;
            assert_eq!(transfer["status"], "pending_approval");
            assert_eq!(execution["status"], "in_progress");
        }
        let transfer = |id: &str| {
            let world = &world;
            let id = id.to_owned();
            async move { world.execution(&id).await["transfer_ids"][0].as_str().unwrap().to_owned() }
        };
        let yes = world.app.post_empty(&format!("/api/v1/sandbox/transfers/{}/approve", transfer(&approved).await), Some(&world.key)).await;
        assert_eq!(yes.status, 200, "{}", yes.raw);
        let no = world.app.post_empty(&format!("/api/v1/sandbox/transfers/{}/decline", transfer(&declined).await), Some(&world.key)).await;
        assert_eq!(no.status, 200, "{}", no.raw);
        let declined = world.execution(&declined).await;
        assert_eq!(declined["status"], "failed");
        assert_eq!((declined["transfers_failed"].as_i64(), declined["transfers_pending"].as_i64()), (Some(1), Some(0)));
        assert!(declined["error_message"].as_str().unwrap().contains("cancelled"), "{declined}");
        assert_eq!(world.execution(&approved).await["status"], "in_progress");
        world.app.advance_clock(&world.key, 60).await;
        let approved = world.execution(&approved).await;
        assert_eq!(approved["status"], "executed");
        assert_eq!(approved["error_message"], Value::Null);
    }
}

both_backends! {
    async fn executions_list_newest_first_with_filters_and_cursors(app: TestApp) {
        let world = RuleWorld::new(app).await;
        world.app.deposit(&world.key, &world.income, 1_000_000).await;
        let rule = world.enabled(world.manual_body(1_000)).await;
        let mut ids = Vec::new();
        for _ in 0..5 {
            ids.push(world.trigger(&rule, json!({})).await);
        }
        world.trigger(&rule, json!({"simulation": true})).await;
        // Walk pages of two.
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/rule-executions?rule_id={rule}&first=2");
            if let Some(cursor) = &after {
                path.push_str(&format!("&after={cursor}"));
            }
            let page = world.app.get(&path, Some(&world.key)).await;
            assert_eq!(page.status, 200, "{}", page.raw);
            let items = page.body["data"].as_array().unwrap();
            assert!(items.len() <= 2);
            seen.extend(items.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
            if page.body["page_info"]["has_next_page"] != json!(true) {
                break;
            }
            after = Some(page.body["page_info"]["end_cursor"].as_str().unwrap().to_owned());
        }
        let all = world.executions(&rule, "").await;
        let listed: Vec<String> = all.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(seen, listed, "pages add up to the whole list");
        let mut expected = all.clone();
        // Compared as instants: a timestamp on a whole second is written without a fraction
        // (`…:44Z`), which sorts after `…:44.581Z` as text.
        let instant = |e: &Value| {
            DateTime::parse_from_rfc3339(e["created_at"].as_str().unwrap()).unwrap()
        };
        expected.sort_by(|a, b| {
            (instant(b), b["id"].as_str()).cmp(&(instant(a), a["id"].as_str()))
        });
        assert_eq!(all, expected, "newest first, then id descending");
        let mut sorted_ids = ids.clone();
        sorted_ids.sort();
        let mut listed_sorted = listed.clone();
        listed_sorted.sort();
        assert_eq!(listed_sorted, sorted_ids, "live runs only by default");

        // Filters.
        assert_eq!(world.executions(&rule, "status=in_progress").await.len(), 5);
        assert!(world.executions(&rule, "status=executed").await.is_empty());
        world.app.advance_clock(&world.key, 60).await;
        assert_eq!(world.executions(&rule, "status=executed").await.len(), 5);
        assert_eq!(world.executions(&rule, "trigger_type=manual").await.len(), 5);
        assert!(world.executions(&rule, "trigger_type=scheduled").await.is_empty());
        let created = all[2]["created_at"].as_str().unwrap();
        let encoded = created.replace('+', "%2B");
        for item in world.executions(&rule, &format!("to={encoded}")).await {
            assert!(instant(&item) <= instant(&all[2]));
        }
        assert!(world.executions(&rule, "from=2999-01-01T00:00:00Z").await.is_empty());
        let response = world.app.get(&format!("/api/v1/rule-executions?rule_id={rule}&after=nope"), Some(&world.key)).await;
        assert_error(&response, 400, "invalid_request");
        let response = world
            .app
            .get(&format!("/api/v1/rule-executions?rule_id={rule}&from=2024-02-01T00:00:00Z&to=2024-01-01T00:00:00Z"), Some(&world.key))
            .await;
        assert_error(&response, 400, "invalid_request");
        assert_error(&world.app.get("/api/v1/rule-executions", Some(&world.key)).await, 400, "invalid_request");
    }
}

both_backends! {
    async fn rule_execution_permissions(app: TestApp) {
        let world = RuleWorld::new(app).await;
        world.app.deposit(&world.key, &world.income, 100_000).await;
        let rule = world.enabled(world.manual_body(100)).await;
        let other = world.enabled(world.manual_body(200)).await;
        let execution = world.trigger(&rule, json!({})).await;
        let other_execution = world.trigger(&other, json!({})).await;
        let app = &world.app;
        let entry = |resources: Value| {
            let all: Value = serde_json::from_str(&sequence_core::permissions::Permissions::all_scopes().to_json()).unwrap();
            let mut entries: Vec<Value> =
                all.as_array().unwrap().iter().filter(|e| e["scope"] != "READ_RULE_EXECUTIONS").cloned().collect();
            if !resources.is_null() {
                entries.push(json!({"scope": "READ_RULE_EXECUTIONS", "resources": resources}));
            }
            serde_json::to_string(&entries).unwrap()
        };

        // Missing scope.
        let none = app.key(&world.org, &entry(Value::Null)).await;
        assert_error(&app.get(&format!("/api/v1/rule-executions?rule_id={rule}"), Some(&none)).await, 403, "forbidden");
        assert_error(&app.get(&format!("/api/v1/rule-executions/{execution}"), Some(&none)).await, 403, "forbidden");
        // Out-of-list rule: 403 whether it exists or not; the listed rule works.
        let only_other = app.key(&world.org, &entry(json!([other]))).await;
        assert_error(&app.get(&format!("/api/v1/rule-executions?rule_id={rule}"), Some(&only_other)).await, 403, "forbidden");
        assert_error(&app.get("/api/v1/rule-executions?rule_id=rule_nope", Some(&only_other)).await, 403, "forbidden");
        assert_error(&app.get(&format!("/api/v1/rule-executions/{execution}"), Some(&only_other)).await, 403, "forbidden");
        assert_eq!(app.get(&format!("/api/v1/rule-executions?rule_id={other}"), Some(&only_other)).await.status, 200);
        assert_eq!(app.get(&format!("/api/v1/rule-executions/{other_execution}"), Some(&only_other)).await.status, 200);
        // Unknown ids: the execution is looked up before the permission.
        assert_error(&app.get("/api/v1/rule-executions/rex_nope", Some(&only_other)).await, 404, "rule_execution_not_found");
        assert_error(&app.get("/api/v1/rule-executions?rule_id=rule_nope", Some(&world.key)).await, 404, "rule_not_found");

        // Another organization's ids are not found.
        let (_, theirs) = app.org_with_admin_key().await;
        assert_error(&app.get(&format!("/api/v1/rule-executions?rule_id={rule}"), Some(&theirs)).await, 404, "rule_not_found");
        assert_error(&app.get(&format!("/api/v1/rule-executions/{execution}"), Some(&theirs)).await, 404, "rule_execution_not_found");
    }
}

both_backends! {
    async fn scheduled_occurrences_run_once_with_two_replicas(app: TestApp) {
        // Goal: several replicas processing the same organization run each occurrence once.
        // Method: move the organization clock past three daily occurrences without processing
        // (as if every replica had been down), then let two replicas' workers race.
        let world = RuleWorld::new(app).await;
        world.app.deposit(&world.key, &world.income, 1_000_000).await;
        let org = world.app.get("/api/v1/sandbox/organization", Some(&world.key)).await.body["data"].clone();
        let now = DateTime::parse_from_rfc3339(org["now"].as_str().unwrap()).unwrap().with_timezone(&Utc);
        let start = now + chrono::TimeDelta::hours(1);
        let body = json!({
            "nickname": "Daily sweep",
            "trigger": {"type": "SCHEDULED", "schedule_type": "DAILY", "start_date": start.to_rfc3339()},
            "steps": [{"actions": [{"type": "FIXED", "source_account_id": world.income,
                                    "destination_account_id": world.savings, "amount_in_cents": 1_000}]}]
        });
        let rule = world.enabled(body).await;
        {
            let mut tx = world.app.state.store.begin().await.unwrap();
            let current = sequence_store::orgs::get(&mut tx, &world.org).await.unwrap();
            let offset = current.clock_offset_seconds + 3 * 24 * 3600;
            sequence_store::orgs::advance_clock(&mut tx, &world.org, offset).await.unwrap();
            tx.commit().await.unwrap();
        }
        let replica = sequence_server::state::Server::new(world.app.replica().await);
        let local = world.app.server();
        let (a, b) = tokio::join!(
            tokio::spawn(async move { local.tick().await }),
            tokio::spawn(async move { replica.tick().await })
        );
        for result in [a.unwrap(), b.unwrap()] {
            // A replica that lost a race retries its transaction; nothing is lost.
            let pass = result.expect("the organizations list");
            for (org, why) in &pass.failed {
                assert!(why.contains("retry"), "{org} failed: {why}");
            }
        }
        world.app.server().tick().await.expect("a final pass");
        let runs = world.executions(&rule, "").await;
        assert_eq!(runs.len(), 3, "one run per occurrence: {runs:#?}");
        let mut times: Vec<&str> = runs.iter().map(|r| r["trigger_details"]["scheduled_time"].as_str().unwrap()).collect();
        times.dedup();
        assert_eq!(times.len(), 3);
        assert_eq!(world.app.balances(&world.key, &world.savings).await.0, 3_000);
    }
}

both_backends! {
    async fn a_run_whose_conditions_fail_does_nothing_and_says_so(app: TestApp) {
        let world = RuleWorld::new(app).await;
        world.app.deposit(&world.key, &world.income, 100_000).await;
        let body = json!({
            "nickname": "Big deposits only",
            "trigger": {"type": "MANUAL", "account_id": world.income},
            "steps": [{
                "conditions": {"all": [
                    {"condition": {"fact": "TRANSFER_AMOUNT", "operator": "GREATER_THAN", "value": 1_000}},
                    {"condition": {"fact": "BALANCE", "operator": "GREATER_THAN_OR_EQUAL", "value": 50_000}}
                ]},
                "actions": [{"type": "FIXED", "source_account_id": world.income,
                             "destination_account_id": world.savings, "amount_in_cents": 1_000}]
            }]
        });
        let rule = world.enabled(body).await;
        // No incoming amount: TRANSFER_AMOUNT is unknown, so the condition is not met.
        let execution = world.execution(&world.trigger(&rule, json!({})).await).await;
        assert_eq!(execution["conditions_not_met"], true);
        assert_eq!(execution["step_index_matched"], Value::Null);
        assert_eq!(execution["status"], "executed");
        assert_eq!(execution["transfer_ids"], json!([]));
        // With one, both conditions hold.
        let execution = world.execution(&world.trigger(&rule, json!({"manual_execute_amount": 5_000})).await).await;
        assert_eq!(execution["conditions_not_met"], false);
        assert_eq!(execution["step_index_matched"], 0);
        assert_eq!(execution["transfers_attempted"], 1);
    }
}
