//! Regressions for the money core's adversarial cases (issue: "the money-moving core as a layer
//! of its own"), each failing without its fix, on SQLite and on PostgreSQL:
//!
//! - a `SCHEDULED` rule whose start has sub-millisecond precision runs once per occurrence, and
//!   the clock advance past it returns at once (it used to loop forever holding the write lock);
//! - one organization's broken data (a reported balance at the edge of 64-bit arithmetic, a
//!   corrupt clock offset that panics) fails that organization's work only: the worker goes on
//!   settling every other organization in the same pass;
//! - 40 parallel triggers of a rule with a `PER_WEEK` cap move at most the cap (each run read the
//!   cap usage before the others committed under READ COMMITTED);
//! - 20 parallel triggers of "TOP_UP the pod to $100" move $100 in all (money in flight did not
//!   count);
//! - a concurrent replace and enable of one rule never lose one another's write;
//! - a balance past the spec's bound is refused with 400.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::harness::{TestApp, assert_error, both_backends, both_backends_parallel};

const DAY: i64 = 24 * 60 * 60;

/// The organization's sandbox time now.
async fn org_now(app: &TestApp, key: &str) -> DateTime<Utc> {
    let response = app.get("/api/v1/sandbox/organization", Some(key)).await;
    assert_eq!(response.status, 200, "{}", response.raw);
    response.body["data"]["now"].as_str().unwrap().parse().unwrap()
}

/// Creates and enables a rule; returns its id.
async fn enabled_rule(app: &TestApp, key: &str, body: Value) -> String {
    let created = app.post("/api/v1/rules", Some(key), body).await;
    assert_eq!(created.status, 201, "{}", created.raw);
    let id = created.body["data"]["id"].as_str().unwrap().to_owned();
    let enabled = app.post_empty(&format!("/api/v1/sandbox/rules/{id}/enable"), Some(key)).await;
    assert_eq!(enabled.status, 200, "{}", enabled.raw);
    id
}

async fn executions(app: &TestApp, key: &str, rule: &str) -> Vec<Value> {
    let response =
        app.get(&format!("/api/v1/rule-executions?rule_id={rule}&first=100"), Some(key)).await;
    assert_eq!(response.status, 200, "{}", response.raw);
    response.body["data"].as_array().unwrap().clone()
}

/// Live rule transfers into `account` that did not fail (in flight or complete): what a rule
/// moved, or will have moved.
async fn moved_by_rules(app: &TestApp, key: &str, account: &str) -> i64 {
    app.all_transfers(key, account, "&account_role=destination&origin=rule")
        .await
        .iter()
        .filter(|t| !matches!(t["status"].as_str(), Some("error" | "cancelled")))
        .map(|t| t["amount_in_cents"].as_i64().unwrap())
        .sum()
}

/// Fires `count` `triggerRule` calls at once (one router, built before, and a barrier, so that
/// the runs really overlap in the database); every one must be accepted.
async fn trigger_in_parallel(app: &TestApp, key: &str, rule: &str, count: usize) {
    let router = app.router();
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(count));
    let mut calls = JoinSet::new();
    for _ in 0..count {
        let (router, start) = (router.clone(), start.clone());
        let request = crate::harness::request(
            "POST",
            &format!("/api/v1/rules/{rule}/trigger"),
            Some(key),
            None,
            &[],
        );
        calls.spawn(async move {
            start.wait().await;
            crate::harness::send_to(router, request).await
        });
    }
    for response in calls.join_all().await {
        assert_eq!(response.status, 202, "{}", response.raw);
    }
}

both_backends! {
    async fn a_sub_millisecond_schedule_runs_once_per_occurrence(app: TestApp) {
        let (_, key) = app.org_with_admin_key().await;
        let income = app.create_income_source(&key, "Checking").await;
        let pod = app.create_pod(&key, "Savings").await;
        app.deposit(&key, &income, 1_000_000).await;
        let start = org_now(&app, &key).await + TimeDelta::hours(1) + TimeDelta::microseconds(500);
        let rule = enabled_rule(&app, &key, json!({
            "nickname": "Daily, just past the millisecond",
            "trigger": {"type": "SCHEDULED", "schedule_type": "DAILY",
                        "start_date": start.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)},
            "steps": [{"actions": [{"type": "FIXED", "source_account_id": income,
                                    "destination_account_id": pod, "amount_in_cents": 1_000}]}]
        })).await;
        // The stored start is the millisecond, as the rule reads back.
        let read = app.get(&format!("/api/v1/rules/{rule}"), Some(&key)).await;
        let stored: DateTime<Utc> =
            read.body["data"]["trigger"]["start_date"].as_str().unwrap().parse().unwrap();
        assert_eq!(stored, start - TimeDelta::microseconds(500));
        // Three days pass: three occurrences, and the advance answers at once (it used to loop).
        let advance = app.post("/api/v1/sandbox/clock/advance", Some(&key), json!({"seconds": 3 * DAY}));
        let advanced = tokio::time::timeout(std::time::Duration::from_secs(20), advance)
            .await
            .expect("the clock advance returns");
        assert_eq!(advanced.status, 200, "{}", advanced.raw);
        assert_eq!(advanced.body["data"]["rules_executed"], 3, "{}", advanced.raw);
        let runs = executions(&app, &key, &rule).await;
        let mut times: Vec<&str> =
            runs.iter().map(|r| r["trigger_details"]["scheduled_time"].as_str().unwrap()).collect();
        times.sort_unstable();
        times.dedup();
        assert_eq!(times.len(), 3, "one run per occurrence: {runs:#?}");
    }
}

both_backends! {
    async fn one_organizations_broken_data_never_stops_another(app: TestApp) {
        use sequence_store::orgs;
        // Three organizations in id order: the first two are broken, the last is healthy.
        let mut orgs_and_keys = Vec::new();
        for _ in 0..3 {
            orgs_and_keys.push(app.org_with_admin_key().await);
        }
        let mut in_flight = Vec::new();
        for (_, key) in &orgs_and_keys {
            let income = app.create_income_source(key, "Checking").await;
            let external = app.create_external_account(key, "DEPOSITORY", 0).await;
            app.deposit(key, &income, 100_000).await;
            let sent = app.transfer(key, &income, &external, 10_000).await;
            assert_eq!(sent.status, 201, "{}", sent.raw);
            in_flight.push(sent.body["data"]["id"].as_str().unwrap().to_owned());
        }
        // Broken data as a database from an earlier release may hold it: organization 0's
        // external account reports a balance at the edge of i64 (settling into it overflows);
        // organization 1's clock offset is corrupt (reading its time panics).
        {
            let mut tx = app.state.store.begin().await.unwrap();
            let (org0, org1) = (&orgs_and_keys[0].0, &orgs_and_keys[1].0);
            sqlx::query("UPDATE accounts SET reported_balance_cents = $1 WHERE org_id = $2 AND kind = 'external_account'")
                .bind(i64::MAX - 5)
                .bind(org0.as_str())
                .execute(&mut *tx)
                .await
                .unwrap();
            for (org, _) in &orgs_and_keys {
                orgs::advance_clock(&mut tx, org, 5 * DAY).await.unwrap();
            }
            sqlx::query("UPDATE organizations SET clock_offset_seconds = $1 WHERE id = $2")
                .bind(sequence_core::clock::CLOCK_OFFSET_SECONDS_MAX + 1)
                .bind(org1.as_str())
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        let pass = app.server().tick().await.expect("the organizations list");
        let failed: Vec<&str> = pass.failed.iter().map(|(org, _)| org.as_str()).collect();
        assert!(failed.contains(&orgs_and_keys[0].0.as_str()), "{pass:?}");
        assert!(failed.contains(&orgs_and_keys[1].0.as_str()), "{pass:?}");
        assert!(pass.failed.iter().any(|(_, why)| why.contains("panicked")), "{pass:?}");
        // The healthy organization settled in the same pass.
        let (_, key) = &orgs_and_keys[2];
        assert_eq!(app.transfer_by_id(key, &in_flight[2]).await["status"], "complete");
        assert!(!failed.contains(&orgs_and_keys[2].0.as_str()));
        // And its writes carry on.
        let more = app.advance_clock(key, 60).await;
        assert!(more["now"].is_string());
    }
}

both_backends! {
    async fn an_external_balance_past_the_bound_is_refused(app: TestApp) {
        let (_, key) = app.org_with_admin_key().await;
        let body = json!({"name": "Huge", "external_account_type": "DEPOSITORY",
                          "institution_name": "Bank", "balance_in_cents": i64::MAX});
        let response = app.post("/api/v1/sandbox/external-accounts", Some(&key), body).await;
        assert_error(&response, 400, "invalid_request");
    }
}

both_backends_parallel! {
    async fn a_weekly_cap_holds_under_forty_parallel_triggers(app: TestApp) {
        let (_, key) = app.org_with_admin_key().await;
        let income = app.create_income_source(&key, "Checking").await;
        let pod = app.create_pod(&key, "Fun money").await;
        app.deposit(&key, &income, 1_000_000).await;
        let rule = enabled_rule(&app, &key, json!({
            "nickname": "$100 a week, at most",
            "trigger": {"type": "MANUAL"},
            "steps": [{"actions": [{"type": "FIXED", "source_account_id": income,
                                    "destination_account_id": pod, "amount_in_cents": 10_000,
                                    "limit": {"period": "PER_WEEK", "amount_in_cents": 10_000}}]}]
        })).await;
        trigger_in_parallel(&app, &key, &rule, 40).await;
        assert_eq!(moved_by_rules(&app, &key, &pod).await, 10_000);
        assert_eq!(executions(&app, &key, &rule).await.len(), 40);
    }
}

both_backends_parallel! {
    async fn top_up_holds_under_twenty_parallel_triggers(app: TestApp) {
        let (_, key) = app.org_with_admin_key().await;
        let income = app.create_income_source(&key, "Checking").await;
        let pod = app.create_pod(&key, "Buffer").await;
        app.deposit(&key, &income, 1_000_000).await;
        let rule = enabled_rule(&app, &key, json!({
            "nickname": "Keep $100 in the buffer",
            "trigger": {"type": "MANUAL"},
            "steps": [{"actions": [{"type": "TOP_UP", "source_account_id": income,
                                    "destination_account_id": pod, "amount_in_cents": 10_000}]}]
        })).await;
        trigger_in_parallel(&app, &key, &rule, 20).await;
        assert_eq!(moved_by_rules(&app, &key, &pod).await, 10_000);
        // Once it settles, the pod holds exactly the target and another trigger moves nothing.
        app.advance_clock(&key, 5 * DAY).await;
        assert_eq!(app.balances(&key, &pod).await, (10_000, 10_000));
        trigger_in_parallel(&app, &key, &rule, 3).await;
        assert_eq!(moved_by_rules(&app, &key, &pod).await, 10_000);
    }
}

both_backends! {
    async fn a_concurrent_replace_and_enable_lose_nothing(app: TestApp) {
        let (_, key) = app.org_with_admin_key().await;
        let income = app.create_income_source(&key, "Checking").await;
        let pod = app.create_pod(&key, "Savings").await;
        let body = |nickname: &str| json!({
            "nickname": nickname,
            "trigger": {"type": "MANUAL"},
            "steps": [{"actions": [{"type": "FIXED", "source_account_id": income,
                                    "destination_account_id": pod, "amount_in_cents": 1_000}]}]
        });
        for round in 0..10 {
            let created = app.post("/api/v1/rules", Some(&key), body("before")).await;
            let id = created.body["data"]["id"].as_str().unwrap().to_owned();
            let renamed = format!("after {round}");
            let (rule_path, enable_path) =
                (format!("/api/v1/rules/{id}"), format!("/api/v1/sandbox/rules/{id}/enable"));
            let update = app.put(&rule_path, Some(&key), body(&renamed));
            let enable = app.post_empty(&enable_path, Some(&key));
            let (updated, enabled) = tokio::join!(update, enable);
            assert!(updated.status == 200 && enabled.status == 200, "{} {}", updated.raw, enabled.raw);
            let rule = app.get(&format!("/api/v1/rules/{id}"), Some(&key)).await.body["data"].clone();
            // Whichever went first, the replacement is never lost: an update after the enable
            // disables the rule; an enable after the update keeps the new definition.
            assert_eq!(rule["nickname"], renamed.as_str(), "round {round}: {rule}");
            let enabled_last = enabled.body["data"]["nickname"] == renamed.as_str();
            let expected = if enabled_last { "enabled" } else { "disabled" };
            assert_eq!(rule["status"], expected, "round {round}: {rule}");
        }
    }
}

both_backends! {
    async fn a_backlog_larger_than_one_worker_transaction_settles_in_one_pass(app: TestApp) {
        use sequence_app::worker::STEPS_PER_TRANSACTION;
        use sequence_store::orgs;
        // The worker applies at most STEPS_PER_TRANSACTION settlement steps per transaction (so
        // requests never queue behind a whole backlog); a pass still settles every due step.
        let (org, key) = app.org_with_admin_key().await;
        let (a, b) = (app.create_pod(&key, "A").await, app.create_pod(&key, "B").await);
        app.deposit(&key, &a, 1_000_000).await;
        let count = usize::try_from(STEPS_PER_TRANSACTION).unwrap() * 2 + 7;
        let mut sent = Vec::new();
        for _ in 0..count {
            let transfer = app.transfer(&key, &a, &b, 100).await;
            assert_eq!(transfer.status, 201, "{}", transfer.raw);
            sent.push(transfer.body["data"]["id"].as_str().unwrap().to_owned());
        }
        // Each internal transfer has two steps due after a minute (submit, settle): about five
        // slices of work, found by the worker rather than by the sandbox's clock advance.
        let mut tx = app.state.store.begin().await.unwrap();
        orgs::advance_clock(&mut tx, &org, 60).await.unwrap();
        tx.commit().await.unwrap();
        let pass = app.server().tick().await.expect("the organizations list");
        assert!(pass.failed.is_empty(), "{pass:?}");
        assert_eq!(pass.transfers_settled, u32::try_from(count).unwrap(), "{pass:?}");
        for id in [&sent[0], &sent[count / 2], &sent[count - 1]] {
            assert_eq!(app.transfer_by_id(&key, id).await["status"], "complete");
        }
        assert_eq!(app.balances(&key, &b).await.0, i64::try_from(count).unwrap() * 100);
    }
}
