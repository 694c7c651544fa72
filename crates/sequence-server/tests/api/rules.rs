//! The Rules API: create/read/list/replace/delete, the sandbox's enable and disable, triggering,
//! semantic validation with field paths, unknown nested fields, and the permission matrix
//! (missing scope and out-of-list resources are `403`; another organization's ids are `404`).
//! The behaviour of runs (executions, transfers, schedules) is in `rule_executions.rs`.

use serde_json::{Value, json};

use crate::harness::{TestApp, TestResponse, assert_error, both_backends, request};

/// An organization with an all-scopes key, a funded income source, two pods and a credit card.
pub(crate) struct RuleWorld {
    pub app: TestApp,
    pub org: sequence_core::ids::OrgId,
    pub key: String,
    pub income: String,
    pub taxes: String,
    pub savings: String,
    pub card: String,
}

impl RuleWorld {
    pub(crate) async fn new(app: TestApp) -> RuleWorld {
        let (org, key) = app.org_with_admin_key().await;
        let income = app.create_income_source(&key, "Payroll").await;
        let taxes = app.create_pod(&key, "Taxes").await;
        let savings = app.create_pod(&key, "Savings").await;
        let body = json!({
            "name": "Amex Gold ••1234", "external_account_type": "LIABILITY", "institution_name": "American Express",
            "balance_in_cents": 245_000, "last_statement_balance_in_cents": 198_000,
            "next_payment_minimum_in_cents": 3_500,
        });
        let card = app.post("/api/v1/sandbox/external-accounts", Some(&key), body).await;
        assert_eq!(card.status, 201, "{}", card.raw);
        let card = card.body["data"]["id"].as_str().unwrap().to_owned();
        RuleWorld { app, org, key, income, taxes, savings, card }
    }

    /// `POST /rules`, whatever it answers.
    pub(crate) async fn create_response(&self, body: Value) -> TestResponse {
        self.app.post("/api/v1/rules", Some(&self.key), body).await
    }

    /// Creates a rule; returns its id.
    pub(crate) async fn create(&self, body: Value) -> String {
        let response = self.create_response(body).await;
        assert_eq!(response.status, 201, "creating a rule: {}", response.raw);
        response.body["data"]["id"].as_str().unwrap().to_owned()
    }

    /// Creates and enables a rule; returns its id.
    pub(crate) async fn enabled(&self, body: Value) -> String {
        let id = self.create(body).await;
        let enabled = self
            .app
            .post_empty(&format!("/api/v1/sandbox/rules/{id}/enable"), Some(&self.key))
            .await;
        assert_eq!(enabled.status, 200, "enabling: {}", enabled.raw);
        assert_eq!(enabled.body["data"]["status"], "enabled");
        id
    }

    /// `POST /rules/{id}/trigger` with `body`; returns the execution id.
    pub(crate) async fn trigger(&self, rule: &str, body: Value) -> String {
        let response =
            self.app.post(&format!("/api/v1/rules/{rule}/trigger"), Some(&self.key), body).await;
        assert_eq!(response.status, 202, "triggering: {}", response.raw);
        response.body["data"]["execution_id"].as_str().unwrap().to_owned()
    }

    /// `GET /rule-executions/{id}`'s `data`.
    pub(crate) async fn execution(&self, id: &str) -> Value {
        let response =
            self.app.get(&format!("/api/v1/rule-executions/{id}"), Some(&self.key)).await;
        assert_eq!(response.status, 200, "reading execution {id}: {}", response.raw);
        response.body["data"].clone()
    }

    /// `GET /rule-executions?rule_id=…&<query>`'s `data` (one page of up to 100).
    pub(crate) async fn executions(&self, rule: &str, query: &str) -> Vec<Value> {
        let path = format!("/api/v1/rule-executions?rule_id={rule}&first=100&{query}");
        let response = self.app.get(&path, Some(&self.key)).await;
        assert_eq!(response.status, 200, "listing executions: {}", response.raw);
        response.body["data"].as_array().unwrap().clone()
    }

    /// A rule splitting every deposit into `income`: 20% to Taxes, 10% to Savings.
    pub(crate) fn split_body(&self) -> Value {
        json!({
            "nickname": "Paycheck split",
            "description": "20% to taxes, 10% to savings",
            "trigger": {"type": "ON_FUNDS_TRANSFERRED", "account_id": self.income},
            "steps": [{"actions": [
                {"type": "PERCENTAGE", "source_account_id": self.income, "destination_account_id": self.taxes,
                 "percentage_value": 20},
                {"type": "PERCENTAGE", "source_account_id": self.income, "destination_account_id": self.savings,
                 "percentage_value": 10}
            ]}]
        })
    }

    /// A `MANUAL` rule moving a fixed amount from `income` to Savings.
    pub(crate) fn manual_body(&self, cents: i64) -> Value {
        json!({
            "nickname": "Top savings",
            "trigger": {"type": "MANUAL", "account_id": self.income},
            "steps": [{"actions": [{"type": "FIXED", "source_account_id": self.income,
                                    "destination_account_id": self.savings, "amount_in_cents": cents}]}]
        })
    }
}

/// Replaces ids and timestamps so bodies can be snapshotted.
pub(crate) fn redact(mut body: Value) -> Value {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    let is_id = key == "id" || key.ends_with("_id") || key == "request_id";
                    if is_id && v.is_string() {
                        *v = json!("[id]");
                    } else if (key.ends_with("_at")
                        || key.ends_with("_date")
                        || key == "scheduled_time")
                        && v.is_string()
                    {
                        *v = json!("[timestamp]");
                    } else if key == "transfer_ids" {
                        let count = v.as_array().map_or(0, Vec::len);
                        *v = json!(vec!["[id]"; count]);
                    } else {
                        walk(v);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut body);
    body
}

both_backends! {
    async fn create_read_list_replace_enable_and_delete(app: TestApp) {
        let world = RuleWorld::new(app).await;
        let app = &world.app;
        let key = Some(world.key.as_str());

        // Created disabled, whatever it was asked; the rendering fills in the defaults.
        let created = world.create_response(world.split_body()).await;
        assert_eq!(created.status, 201, "{}", created.raw);
        let rule = created.body["data"]["id"].as_str().unwrap().to_owned();
        assert!(rule.starts_with("rule_"));
        assert_eq!(created.body["data"]["status"], "disabled");
        insta::assert_json_snapshot!("rule_created", redact(created.body.clone()));

        let read = app.get(&format!("/api/v1/rules/{rule}"), key).await;
        assert_eq!(read.status, 200);
        assert_eq!(read.body["data"], created.body["data"], "a read returns what the create returned");

        let listed = app.get("/api/v1/rules", key).await;
        assert_eq!(listed.status, 200);
        insta::assert_json_snapshot!("rule_list", redact(listed.body.clone()));
        assert_eq!(listed.body["data"][0]["source"]["id"], world.income.as_str());
        let by_source = app.get(&format!("/api/v1/rules?source_id={}", world.income), key).await;
        assert_eq!(by_source.body["data"].as_array().unwrap().len(), 1);
        let other_source = app.get(&format!("/api/v1/rules?source_id={}", world.taxes), key).await;
        assert_eq!(other_source.body["data"], json!([]));

        // Enabled by a person; enabling again is a no-op that returns the rule unchanged.
        let enabled = app.post_empty(&format!("/api/v1/sandbox/rules/{rule}/enable"), key).await;
        assert_eq!(enabled.status, 200, "{}", enabled.raw);
        assert_eq!(enabled.body["data"]["status"], "enabled");
        let again = app.post_empty(&format!("/api/v1/sandbox/rules/{rule}/enable"), key).await;
        assert_eq!(again.body["data"], enabled.body["data"]);

        // A full replacement disables it again and keeps created_at.
        let mut replacement = world.split_body();
        replacement["nickname"] = json!("Bigger split");
        replacement["steps"][0]["actions"][0]["percentage_value"] = json!(25.5);
        let replaced = app.put(&format!("/api/v1/rules/{rule}"), key, replacement).await;
        assert_eq!(replaced.status, 200, "{}", replaced.raw);
        let data = &replaced.body["data"];
        assert_eq!(data["status"], "disabled");
        assert_eq!(data["nickname"], "Bigger split");
        assert_eq!(data["steps"][0]["actions"][0]["percentage_value"], 25.5);
        assert_eq!(data["created_at"], created.body["data"]["created_at"]);
        assert!(data.get("description") == Some(&json!("20% to taxes, 10% to savings")));

        // Disabled rules are refused by triggerRule.
        let refused = app.post(&format!("/api/v1/rules/{rule}/trigger"), key, json!({})).await;
        assert_error(&refused, 403, "rule_disabled");

        // Deleted: gone from reads, lists and changes, and its account is free again.
        assert_eq!(app.delete(&format!("/api/v1/rules/{rule}"), key).await.status, 204);
        assert_error(&app.get(&format!("/api/v1/rules/{rule}"), key).await, 410, "rule_deleted");
        assert_eq!(app.get("/api/v1/rules", key).await.body["data"], json!([]));
        assert_error(&app.delete(&format!("/api/v1/rules/{rule}"), key).await, 410, "rule_deleted");
        assert_error(&app.put(&format!("/api/v1/rules/{rule}"), key, world.split_body()).await, 410, "rule_deleted");
        assert_error(&app.post(&format!("/api/v1/rules/{rule}/trigger"), key, json!({})).await, 410, "rule_deleted");
        assert_error(&app.post_empty(&format!("/api/v1/sandbox/rules/{rule}/enable"), key).await, 410, "rule_deleted");
        assert_error(&app.post_empty(&format!("/api/v1/sandbox/rules/{rule}/disable"), key).await, 410, "rule_deleted");
        let history = app.get(&format!("/api/v1/rule-executions?rule_id={rule}"), key).await;
        assert_eq!(history.status, 200, "a deleted rule keeps its history: {}", history.raw);
        world.create(world.split_body()).await;

        // Unknown ids.
        assert_error(&app.get("/api/v1/rules/rule_nope", key).await, 404, "rule_not_found");
        assert_error(&app.put("/api/v1/rules/rule_nope", key, world.split_body()).await, 404, "rule_not_found");
        assert_error(&app.delete("/api/v1/rules/rule_nope", key).await, 404, "rule_not_found");
        assert_error(&app.post("/api/v1/rules/rule_nope/trigger", key, json!({})).await, 404, "rule_not_found");
        assert_error(&app.post_empty("/api/v1/sandbox/rules/rule_nope/enable", key).await, 404, "rule_not_found");
    }
}

both_backends! {
    async fn invalid_rules_name_the_offending_field(app: TestApp) {
        let world = RuleWorld::new(app).await;
        let existing = world.create(world.split_body()).await;
        let action = |destination: &str| json!({"type": "FIXED", "source_account_id": world.income,
                                                "destination_account_id": destination, "amount_in_cents": 100});
        let with_trigger = |trigger: Value| json!({"nickname": "x", "trigger": trigger, "steps": [{"actions": [action(&world.taxes)]}]});
        let with_actions = |actions: Value| json!({"nickname": "x", "trigger": {"type": "MANUAL"}, "steps": [{"actions": actions}]});
        let cases = [
            // Semantic: 400 invalid_rule, the message starts with the path.
            (with_trigger(json!({"type": "MANUAL", "account_id": "acc_unknown"})), "invalid_rule", "trigger.account_id"),
            (with_trigger(json!({"type": "ON_FUNDS_TRANSFERRED", "account_id": world.card})), "invalid_rule", "trigger.account_id"),
            (with_trigger(json!({"type": "ON_FUNDS_TRANSFERRED", "account_id": world.income})), "invalid_rule", "trigger.account_id"),
            (with_trigger(json!({"type": "SCHEDULED", "schedule_type": "MONTHLY"})), "invalid_rule", "trigger.start_date"),
            (with_actions(json!([action("acc_unknown")])), "invalid_rule", "steps[0].actions[0].destination_account_id"),
            (with_actions(json!([action(&world.income)])), "invalid_rule", "steps[0].actions[0].destination_account_id"),
            (with_actions(json!([{"type": "NEXT_PAYMENT_MINIMUM", "source_account_id": world.income,
                                  "destination_account_id": world.taxes}])),
             "invalid_rule", "steps[0].actions[0].destination_account_id"),
            (with_actions(json!([{"type": "FIXED", "source_account_id": world.income,
                                  "destination_account_id": world.taxes, "amount_in_cents": 100, "percentage_value": 5}])),
             "invalid_rule", "steps[0].actions[0].percentage_value"),
            (with_actions(json!([{"type": "FIXED", "source_account_id": world.card,
                                  "destination_account_id": world.taxes, "amount_in_cents": 100}])),
             "invalid_rule", "steps[0].actions[0].source_account_id"),
            (json!({"nickname": "x", "trigger": {"type": "MANUAL"},
                    "steps": [{"conditions": {}, "actions": [action(&world.taxes)]}]}),
             "invalid_rule", "steps[0].conditions"),
            // Structural: 400 invalid_request from the schema, naming the field.
            (with_actions(json!([{"type": "PERCENTAGE", "source_account_id": world.income,
                                  "destination_account_id": world.taxes, "percentage_value": 100.5}])),
             "invalid_request", "steps[0].actions[0].percentage_value"),
            (with_actions(json!([{"type": "PERCENTAGE", "source_account_id": world.income,
                                  "destination_account_id": world.taxes, "percentage_value": -1}])),
             "invalid_request", "steps[0].actions[0].percentage_value"),
            (json!({"nickname": "x", "trigger": {"type": "MANUAL"}, "steps": []}), "invalid_request", "steps"),
            (with_actions(json!([])), "invalid_request", "steps[0].actions"),
            (json!({"nickname": "x", "status": "on", "trigger": {"type": "MANUAL"}, "steps": [{"actions": [action(&world.taxes)]}]}),
             "invalid_request", "status"),
            // Unknown fields are refused at every depth.
            (with_actions(json!([{"type": "FIXED", "source_account_id": world.income,
                                  "destination_account_id": world.taxes, "amount_in_cents": 100, "up_to_enable": true}])),
             "invalid_request", "steps[0].actions[0].up_to_enable"),
            (with_trigger(json!({"type": "MANUAL", "acount_id": world.income})), "invalid_request", "trigger.acount_id"),
        ];
        for (body, code, path) in cases {
            let response = world.create_response(body.clone()).await;
            assert_error(&response, 400, code);
            let message = response.body["error"]["message"].as_str().unwrap();
            assert!(message.contains(path), "{body}\nexpected `{path}` in: {message}");
            // The same validation guards a replacement, except that a rule may keep its own
            // ON_FUNDS_TRANSFERRED account.
            let replaced = world.app.put(&format!("/api/v1/rules/{existing}"), Some(&world.key), body.clone()).await;
            let keeps_its_account =
                body["trigger"]["type"] == "ON_FUNDS_TRANSFERRED" && body["trigger"]["account_id"] == world.income.as_str();
            if keeps_its_account {
                assert_eq!(replaced.status, 200, "{}", replaced.raw);
            } else {
                assert_error(&replaced, 400, code);
            }
        }
        // Nothing was created by the refused requests (only `existing`).
        let listed = world.app.get("/api/v1/rules", Some(&world.key)).await;
        assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    }
}

/// The public docs define `status` as `enabled|disabled` on create and update; both are accepted,
/// and the rule is stored `disabled` either way (a person enables it).
#[tokio::test]
async fn status_enabled_is_accepted_and_the_rule_is_still_stored_disabled() {
    let world = RuleWorld::new(TestApp::new().await).await;
    let (app, key) = (&world.app, Some(world.key.as_str()));
    for asked in ["enabled", "disabled"] {
        let mut body = world.manual_body(100);
        body["status"] = json!(asked);
        let created = world.create_response(body.clone()).await;
        assert_eq!(created.status, 201, "{}", created.raw);
        assert_eq!(created.body["data"]["status"], "disabled", "created asking {asked}");
        let rule = created.body["data"]["id"].as_str().unwrap().to_owned();

        let enabled = app.post_empty(&format!("/api/v1/sandbox/rules/{rule}/enable"), key).await;
        assert_eq!(enabled.body["data"]["status"], "enabled", "{}", enabled.raw);
        let updated = app.put(&format!("/api/v1/rules/{rule}"), key, body).await;
        assert_eq!(updated.status, 200, "{}", updated.raw);
        assert_eq!(updated.body["data"]["status"], "disabled", "updated asking {asked}");
        let read = app.get(&format!("/api/v1/rules/{rule}"), key).await;
        assert_eq!(read.body["data"]["status"], "disabled");
        assert_eq!(app.delete(&format!("/api/v1/rules/{rule}"), key).await.status, 204);
    }
}

#[tokio::test]
async fn checks_keep_the_documented_order_for_rule_bodies() {
    // Goal: 401 before 400 before 403, also for unknown nested fields (the generated validator
    // treats request objects as closed).
    let world = RuleWorld::new(TestApp::new().await).await;
    let mut body = world.split_body();
    body["steps"][0]["actions"][0]["colour"] = json!("red");
    let unauthenticated = world.app.post("/api/v1/rules", Some("seqk_nope"), body.clone()).await;
    assert_error(&unauthenticated, 401, "unauthorized");
    let reader = world.app.key(&world.org, r#"[{"scope":"LIST_RULES"}]"#).await;
    let invalid = world.app.post("/api/v1/rules", Some(&reader), body.clone()).await;
    assert_error(&invalid, 400, "invalid_request");
    assert!(
        invalid.body["error"]["message"].as_str().unwrap().contains("steps[0].actions[0].colour")
    );
    let forbidden = world.app.post("/api/v1/rules", Some(&reader), world.split_body()).await;
    assert_error(&forbidden, 403, "forbidden");
    // A body the generated validator refuses gets the validator's own answer.
    let mut both = body.clone();
    both["nickname"] = json!("");
    let first = world.app.post("/api/v1/rules", Some(&world.key), both).await;
    assert_error(&first, 400, "invalid_request");
    assert!(first.body["error"]["message"].as_str().unwrap().contains("nickname"), "{}", first.raw);
    // Oversized and non-JSON bodies still get 413 and 415.
    let huge =
        json!({"nickname": "x".repeat(70 * 1024), "trigger": {"type": "MANUAL"}, "steps": []});
    assert_error(
        &world.app.post("/api/v1/rules", Some(&world.key), huge).await,
        413,
        "payload_too_large",
    );
    let text = world
        .app
        .send(
            axum::http::Request::builder()
                .method("PUT")
                .uri("/api/v1/rules/rule_x")
                .header("Authorization", format!("ApiKey {}", world.key))
                .header("Content-Type", "text/plain")
                .body(axum::body::Body::from("{}"))
                .unwrap(),
        )
        .await;
    assert_error(&text, 415, "unsupported_media_type");
}

both_backends! {
    async fn trigger_answers_202_and_honours_idempotency_keys(app: TestApp) {
        let world = RuleWorld::new(app).await;
        world.app.deposit(&world.key, &world.income, 100_000).await;
        let rule = world.enabled(world.manual_body(1_000)).await;
        let path = format!("/api/v1/rules/{rule}/trigger");
        let first = world.app.post_idempotent(&path, &world.key, "trigger-1", json!({"manual_execute_amount": 5})).await;
        assert_eq!(first.status, 202, "{}", first.raw);
        insta::assert_json_snapshot!("rule_triggered", redact(first.body.clone()));
        let replay = world.app.post_idempotent(&path, &world.key, "trigger-1", json!({"manual_execute_amount": 5})).await;
        assert_eq!(replay.status, 202);
        assert_eq!(replay.raw, first.raw, "a replay is byte for byte");
        let mismatch = world.app.post_idempotent(&path, &world.key, "trigger-1", json!({"manual_execute_amount": 6})).await;
        assert_error(&mismatch, 400, "idempotency_key_mismatch");
        assert_eq!(world.executions(&rule, "").await.len(), 1, "the replay ran nothing");

        // No body at all is a live run without an amount.
        let bare = world.app.post_empty(&path, Some(&world.key)).await;
        assert_eq!(bare.status, 202, "{}", bare.raw);
        let execution = world.execution(bare.body["data"]["execution_id"].as_str().unwrap()).await;
        assert_eq!(execution["trigger_details"], json!({"type": "manual", "amount_in_cents": null, "scheduled_time": null}));
        assert_eq!(execution["simulation"], false);
    }
}

both_backends! {
    async fn disabling_stops_runs_and_enabling_restores_them(app: TestApp) {
        let world = RuleWorld::new(app).await;
        let rule = world.enabled(world.split_body()).await;
        let disabled = world.app.post_empty(&format!("/api/v1/sandbox/rules/{rule}/disable"), Some(&world.key)).await;
        assert_eq!(disabled.status, 200, "{}", disabled.raw);
        assert_eq!(disabled.body["data"]["status"], "disabled");
        world.app.deposit(&world.key, &world.income, 100_000).await;
        assert!(world.executions(&rule, "").await.is_empty(), "a disabled rule does not fire");
        world.app.post_empty(&format!("/api/v1/sandbox/rules/{rule}/enable"), Some(&world.key)).await;
        world.app.deposit(&world.key, &world.income, 100_000).await;
        assert_eq!(world.executions(&rule, "").await.len(), 1);
    }
}

/// A key holding every scope, with `scope`'s entry replaced by `entry` (`None`: removed).
fn all_scopes_but(scope: &str, entry: Option<Value>) -> String {
    let all: Value =
        serde_json::from_str(&sequence_core::permissions::Permissions::all_scopes().to_json())
            .unwrap();
    let mut kept: Vec<Value> =
        all.as_array().unwrap().iter().filter(|e| e["scope"] != scope).cloned().collect();
    assert_eq!(kept.len() + 1, all.as_array().unwrap().len(), "{scope} is a scope");
    kept.extend(entry);
    serde_json::to_string(&kept).unwrap()
}

both_backends! {
    async fn permissions_of_every_rules_endpoint(app: TestApp) {
        let world = RuleWorld::new(app).await;
        let app = &world.app;
        let rule = world.enabled(world.manual_body(100)).await;
        let other = world.create(world.manual_body(200)).await;
        let count_rules = || async { app.get("/api/v1/rules", Some(&world.key)).await.body["data"].as_array().unwrap().len() };
        let before = count_rules().await;

        // Missing scope: 403 for every operation, whether or not the id exists.
        let no_list = app.key(&world.org, &all_scopes_but("LIST_RULES", None)).await;
        assert_error(&app.get("/api/v1/rules", Some(&no_list)).await, 403, "forbidden");
        let no_read = app.key(&world.org, &all_scopes_but("READ_RULES", None)).await;
        assert_error(&app.get(&format!("/api/v1/rules/{rule}"), Some(&no_read)).await, 403, "forbidden");
        assert_error(&app.get("/api/v1/rules/rule_nope", Some(&no_read)).await, 403, "forbidden");
        let no_edit = app.key(&world.org, &all_scopes_but("CREATE_AND_EDIT_RULES", None)).await;
        assert_error(&app.post("/api/v1/rules", Some(&no_edit), world.manual_body(1)).await, 403, "forbidden");
        assert_error(&app.put(&format!("/api/v1/rules/{rule}"), Some(&no_edit), world.manual_body(1)).await, 403, "forbidden");
        assert_error(&app.delete(&format!("/api/v1/rules/{rule}"), Some(&no_edit)).await, 403, "forbidden");
        let no_trigger = app.key(&world.org, &all_scopes_but("TRIGGER_RULES", None)).await;
        assert_error(&app.post(&format!("/api/v1/rules/{rule}/trigger"), Some(&no_trigger), json!({})).await, 403, "forbidden");
        let no_sandbox = app.key(&world.org, &all_scopes_but("SANDBOX", None)).await;
        assert_error(&app.post_empty(&format!("/api/v1/sandbox/rules/{other}/enable"), Some(&no_sandbox)).await, 403, "forbidden");
        assert_error(&app.post_empty(&format!("/api/v1/sandbox/rules/{rule}/disable"), Some(&no_sandbox)).await, 403, "forbidden");

        // Resources listing only `other`: `rule` is forbidden (and so is an unknown id); `other` works.
        let only_other = json!([other]);
        let read_other = app.key(&world.org, &all_scopes_but("READ_RULES", Some(json!({"scope": "READ_RULES", "resources": only_other})))).await;
        assert_error(&app.get(&format!("/api/v1/rules/{rule}"), Some(&read_other)).await, 403, "forbidden");
        assert_error(&app.get("/api/v1/rules/rule_nope", Some(&read_other)).await, 403, "forbidden");
        assert_eq!(app.get(&format!("/api/v1/rules/{other}"), Some(&read_other)).await.status, 200);
        let trigger_other = app.key(&world.org, &all_scopes_but("TRIGGER_RULES", Some(json!({"scope": "TRIGGER_RULES", "resources": only_other})))).await;
        assert_error(&app.post(&format!("/api/v1/rules/{rule}/trigger"), Some(&trigger_other), json!({})).await, 403, "forbidden");
        // `other` is in the list but disabled: the permission passes, the rule's state refuses.
        assert_error(&app.post(&format!("/api/v1/rules/{other}/trigger"), Some(&trigger_other), json!({})).await, 403, "rule_disabled");

        // Nothing changed.
        assert_eq!(count_rules().await, before);
        assert!(world.executions(&rule, "").await.is_empty());
        let still = app.get(&format!("/api/v1/rules/{rule}"), Some(&world.key)).await;
        assert_eq!(still.body["data"]["status"], "enabled");

        // Another organization's ids answer like ids that never existed.
        let (_, theirs) = app.org_with_admin_key().await;
        let theirs = Some(theirs.as_str());
        assert_error(&app.get(&format!("/api/v1/rules/{rule}"), theirs).await, 404, "rule_not_found");
        assert_error(&app.put(&format!("/api/v1/rules/{rule}"), theirs, json!({"nickname": "x", "trigger": {"type": "MANUAL"},
            "steps": [{"actions": [{"type": "FIXED", "source_account_id": "acc_a", "destination_account_id": "acc_b", "amount_in_cents": 1}]}]})).await,
            404, "rule_not_found");
        assert_error(&app.delete(&format!("/api/v1/rules/{rule}"), theirs).await, 404, "rule_not_found");
        assert_error(&app.post(&format!("/api/v1/rules/{rule}/trigger"), theirs, json!({})).await, 404, "rule_not_found");
        assert_error(&app.post_empty(&format!("/api/v1/sandbox/rules/{rule}/enable"), theirs).await, 404, "rule_not_found");
        assert_error(&app.post_empty(&format!("/api/v1/sandbox/rules/{rule}/disable"), theirs).await, 404, "rule_not_found");
        assert_eq!(app.get("/api/v1/rules", theirs).await.body["data"], json!([]));
        // Their rule bodies cannot name our accounts either.
        let stolen = app.post("/api/v1/rules", theirs, world.manual_body(100)).await;
        assert_error(&stolen, 400, "invalid_rule");
        assert_eq!(world.executions(&rule, "").await.len(), 0);
    }
}

#[tokio::test]
async fn sandbox_rule_switches_need_the_sandbox() {
    let app = TestApp::with_sandbox(false).await;
    let (_, key) = app.org_with_admin_key().await;
    let response = app
        .send(request("POST", "/api/v1/sandbox/rules/rule_x/enable", Some(&key), None, &[]))
        .await;
    assert_error(&response, 404, "not_found");
}

both_backends! {
    async fn the_demo_organization_ships_rules_and_splits_a_deposit(app: TestApp) {
        // Goal: the README's walk-through works as written. Method: seed the demo, then follow it.
        let seed = sequence_server::demo::seed(&app.state.store, chrono::Utc::now()).await.expect("seeded");
        let key = Some(seed.api_key.as_str());
        let accounts = app.get("/api/v1/accounts", key).await.body["data"].clone();
        let id_of = |name: &str| {
            accounts.as_array().unwrap().iter().find(|a| a["name"] == name).unwrap()["id"].as_str().unwrap().to_owned()
        };
        let checking = app.get("/api/v1/accounts?type=income_source", key).await.body["data"][0]["id"].as_str().unwrap().to_owned();
        assert_eq!(checking, id_of("Chase Checking ••4567"));
        let pod = app.get("/api/v1/accounts?type=pod", key).await.body["data"][0]["name"].clone();
        assert_eq!(pod, "Emergency Fund", "the README's first pod");

        let rules = app.get("/api/v1/rules", key).await.body["data"].clone();
        let names: Vec<&str> = rules.as_array().unwrap().iter().map(|r| r["nickname"].as_str().unwrap()).collect();
        assert_eq!(names, ["Paycheck split", "Pay the Amex statement", "Sweep to savings", "Monthly savings"]);
        assert!(rules.as_array().unwrap().iter().all(|r| r["status"] == "enabled"));
        let rule = app.get(&format!("/api/v1/rules?source_id={checking}"), key).await.body["data"][0]["id"].as_str().unwrap().to_owned();
        let full = app.get(&format!("/api/v1/rules/{rule}"), key).await;
        assert_eq!(full.body["data"]["nickname"], "Paycheck split");

        let deposit = app.post("/api/v1/sandbox/deposits", key, json!({"account_id": checking, "amount_in_cents": 300_000})).await;
        assert_eq!(deposit.status, 201, "{}", deposit.raw);
        let executions = app.get(&format!("/api/v1/rule-executions?rule_id={rule}"), key).await.body["data"].clone();
        assert_eq!(executions.as_array().unwrap().len(), 1);
        assert_eq!(executions[0]["step_index_matched"], 0);
        assert_eq!(executions[0]["status"], "in_progress");
        let transfer_ids = executions[0]["transfer_ids"].as_array().unwrap().clone();
        assert!(app.advance_clock(&seed.api_key, FIVE_DAYS).await["transfers_settled"].as_i64().unwrap() >= 3);
        let execution = app.get(&format!("/api/v1/rule-executions/{}", executions[0]["id"].as_str().unwrap()), key).await;
        assert_eq!(execution.body["data"]["status"], "executed", "{}", execution.raw);

        // The split, in action order: 20% to Taxes, 10% to Savings, the Amex minimum payment.
        let mut moved = Vec::new();
        for id in &transfer_ids {
            let transfer = app.transfer_by_id(&seed.api_key, id.as_str().unwrap()).await;
            assert_eq!((transfer["origin"].as_str(), transfer["status"].as_str()), (Some("rule"), Some("complete")));
            moved.push((transfer["destination"]["name"].as_str().unwrap().to_owned(), transfer["amount_in_cents"].as_i64().unwrap()));
        }
        let expected = [("Taxes", 60_000), ("Savings", 30_000), ("Amex Gold ••1234", 3_500)];
        assert_eq!(moved, expected.map(|(name, cents)| (name.to_owned(), cents)));
        let listed = app.get(&format!("/api/v1/transfers?account_id={checking}&origin=rule"), key).await;
        assert!(listed.body["data"].as_array().unwrap().len() >= 3, "{}", listed.raw);
        let amex = id_of("Amex Gold ••1234");
        let card = app.account(&seed.api_key, &amex).await["balance"].clone();
        assert_eq!((card["next_payment_minimum_in_cents"].as_i64(), card["last_statement_balance_in_cents"].as_i64()), (Some(0), Some(194_500)));

        // The statement payment, on demand: what the card now reports.
        let statement = rules.as_array().unwrap().iter().find(|r| r["nickname"] == "Pay the Amex statement").unwrap()["id"].as_str().unwrap().to_owned();
        let triggered = app.post(&format!("/api/v1/rules/{statement}/trigger"), key, json!({})).await;
        assert_eq!(triggered.status, 202, "{}", triggered.raw);
        let run = app.get(&format!("/api/v1/rule-executions/{}", triggered.body["data"]["execution_id"].as_str().unwrap()), key).await;
        assert_eq!(run.body["data"]["step_index_matched"], 0, "{}", run.raw);
        let payment = app.transfer_by_id(&seed.api_key, run.body["data"]["transfer_ids"][0].as_str().unwrap()).await;
        assert_eq!((payment["amount_in_cents"].as_i64(), payment["direction"].as_str()), (Some(194_500), Some("money_out")));
    }
}

const FIVE_DAYS: i64 = 5 * 24 * 60 * 60;
