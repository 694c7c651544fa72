//! The permission matrix of the ledger's endpoints (getAccount, deleteAccount, createPod,
//! createTransfer, listTransfers, getTransfer and every sandbox operation, the rule switches
//! included): a key missing the
//! operation's scope gets `403 forbidden`; a key whose resources do not list the id gets
//! `403 forbidden` whether the id exists or not; another organization's ids answer exactly like
//! ids that never existed. Every refused request is checked to have changed nothing.

use serde_json::{Value, json};

use crate::harness::{TestApp, TestResponse, assert_error};

/// A key holding every scope (with `*` resources) except `without`.
fn all_scopes_but(without: &str) -> String {
    let all: Value =
        serde_json::from_str(&sequence_core::permissions::Permissions::all_scopes().to_json())
            .unwrap();
    let kept: Vec<&Value> =
        all.as_array().unwrap().iter().filter(|entry| entry["scope"] != without).collect();
    assert_eq!(kept.len() + 1, all.as_array().unwrap().len(), "{without} is a scope");
    serde_json::to_string(&kept).unwrap()
}

/// A key holding every scope, with `scope`'s resources replaced by `resources`.
fn all_scopes_with(scope: &str, resources: Value) -> String {
    let mut all: Value =
        serde_json::from_str(&sequence_core::permissions::Permissions::all_scopes().to_json())
            .unwrap();
    let entry = all
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|entry| entry["scope"] == scope)
        .expect("a scope");
    entry["resources"] = resources;
    all.to_string()
}

/// Two organizations, each with an admin key, accounts and money; the first has a transfer
/// waiting for approval (the approve/decline targets) and one that completed.
struct World {
    app: TestApp,
    org: sequence_core::ids::OrgId,
    admin: String,
    income: String,
    pod: String,
    other_pod: String,
    waiting: String,
    settled: String,
    rule: String,
    theirs_admin: String,
    theirs_pod: String,
    theirs_waiting: String,
    theirs_settled: String,
    theirs_rule: String,
}

/// Creates a (disabled) manual rule moving 100 cents from `source` to `destination`.
async fn manual_rule(app: &TestApp, key: &str, source: &str, destination: &str) -> String {
    let body = json!({
        "nickname": "Sweep",
        "trigger": {"type": "MANUAL", "account_id": source},
        "steps": [{"actions": [{"type": "FIXED", "source_account_id": source,
                                "destination_account_id": destination, "amount_in_cents": 100}]}]
    });
    let created = app.post("/api/v1/rules", Some(key), body).await;
    assert_eq!(created.status, 201, "creating a rule: {}", created.raw);
    created.body["data"]["id"].as_str().unwrap().to_owned()
}

async fn world() -> World {
    let app = TestApp::new().await;
    let (org, admin) = app.org_with_admin_key().await;
    let income = app.create_income_source(&admin, "Payroll").await;
    let pod = app.create_pod(&admin, "Bills").await;
    let other_pod = app.create_pod(&admin, "Savings").await;
    app.deposit(&admin, &income, 1_000_000).await;
    let settled = app.transfer(&admin, &income, &pod, 10_000).await.body["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.advance_clock(&admin, 60).await;
    app.put(
        "/api/v1/sandbox/organization",
        Some(&admin),
        json!({"approval_threshold_in_cents": 500_000}),
    )
    .await;
    let waiting = app.transfer(&admin, &income, &pod, 500_000).await.body["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rule = manual_rule(&app, &admin, &income, &pod).await;

    let (_, theirs_admin) = app.org_with_admin_key().await;
    let theirs_income = app.create_income_source(&theirs_admin, "Their payroll").await;
    let theirs_pod = app.create_pod(&theirs_admin, "Their pod").await;
    app.deposit(&theirs_admin, &theirs_income, 1_000_000).await;
    let theirs_settled =
        app.transfer(&theirs_admin, &theirs_income, &theirs_pod, 10_000).await.body["data"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    app.put(
        "/api/v1/sandbox/organization",
        Some(&theirs_admin),
        json!({"approval_threshold_in_cents": 500_000}),
    )
    .await;
    let theirs_waiting =
        app.transfer(&theirs_admin, &theirs_income, &theirs_pod, 500_000).await.body["data"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let theirs_rule = manual_rule(&app, &theirs_admin, &theirs_income, &theirs_pod).await;
    World {
        app,
        org,
        admin,
        income,
        pod,
        other_pod,
        waiting,
        settled,
        rule,
        theirs_admin,
        theirs_pod,
        theirs_waiting,
        theirs_settled,
        theirs_rule,
    }
}

/// One operation as a request: method, path and body (`None`: no body).
struct Call {
    operation: &'static str,
    method: &'static str,
    path: String,
    body: Option<Value>,
}

impl Call {
    fn new(
        operation: &'static str,
        method: &'static str,
        path: impl Into<String>,
        body: Option<Value>,
    ) -> Call {
        Call { operation, method, path: path.into(), body }
    }

    async fn send(&self, app: &TestApp, key: &str) -> TestResponse {
        let body = self.body.as_ref().map(Value::to_string);
        app.send(crate::harness::request(self.method, &self.path, Some(key), body, &[])).await
    }
}

impl World {
    /// Every ledger operation, addressed at the first organization's resources, with a body that
    /// would succeed for a key holding every scope.
    fn calls(&self) -> Vec<(Call, &'static str)> {
        let transfer = json!({"source_account_id": self.income, "destination_account_id": self.pod, "amount_in_cents": 1_000});
        vec![
            (
                Call::new("getAccount", "GET", format!("/api/v1/accounts/{}", self.pod), None),
                "READ_ACCOUNTS",
            ),
            (
                Call::new(
                    "deleteAccount",
                    "DELETE",
                    format!("/api/v1/accounts/{}", self.other_pod),
                    None,
                ),
                "MANAGE_ACCOUNTS",
            ),
            (
                Call::new(
                    "createPod",
                    "POST",
                    "/api/v1/accounts/pods",
                    Some(json!({"nickname": "New"})),
                ),
                "MANAGE_ACCOUNTS",
            ),
            (
                Call::new("createTransfer", "POST", "/api/v1/transfers", Some(transfer)),
                "MANUAL_TRANSFER",
            ),
            (
                Call::new(
                    "listTransfers",
                    "GET",
                    format!("/api/v1/transfers?account_id={}", self.pod),
                    None,
                ),
                "READ_TRANSFERS",
            ),
            (
                Call::new(
                    "getTransfer",
                    "GET",
                    format!("/api/v1/transfers/{}", self.settled),
                    None,
                ),
                "READ_TRANSFERS",
            ),
            (
                Call::new(
                    "createSandboxDeposit",
                    "POST",
                    "/api/v1/sandbox/deposits",
                    Some(json!({"account_id": self.pod, "amount_in_cents": 100})),
                ),
                "SANDBOX",
            ),
            (
                Call::new(
                    "createSandboxExternalAccount",
                    "POST",
                    "/api/v1/sandbox/external-accounts",
                    Some(
                        json!({"name": "Bank", "external_account_type": "DEPOSITORY", "institution_name": "Chase", "balance_in_cents": 0}),
                    ),
                ),
                "SANDBOX",
            ),
            (
                Call::new(
                    "approveSandboxTransfer",
                    "POST",
                    format!("/api/v1/sandbox/transfers/{}/approve", self.waiting),
                    None,
                ),
                "SANDBOX",
            ),
            (
                Call::new(
                    "declineSandboxTransfer",
                    "POST",
                    format!("/api/v1/sandbox/transfers/{}/decline", self.waiting),
                    None,
                ),
                "SANDBOX",
            ),
            (
                Call::new(
                    "advanceSandboxClock",
                    "POST",
                    "/api/v1/sandbox/clock/advance",
                    Some(json!({"seconds": 60})),
                ),
                "SANDBOX",
            ),
            (
                Call::new("getSandboxOrganization", "GET", "/api/v1/sandbox/organization", None),
                "SANDBOX",
            ),
            (
                Call::new(
                    "updateSandboxOrganization",
                    "PUT",
                    "/api/v1/sandbox/organization",
                    Some(json!({"approval_threshold_in_cents": 100})),
                ),
                "SANDBOX",
            ),
            (
                Call::new(
                    "enableSandboxRule",
                    "POST",
                    format!("/api/v1/sandbox/rules/{}/enable", self.rule),
                    None,
                ),
                "SANDBOX",
            ),
            (
                Call::new(
                    "disableSandboxRule",
                    "POST",
                    format!("/api/v1/sandbox/rules/{}/disable", self.rule),
                    None,
                ),
                "SANDBOX",
            ),
        ]
    }

    /// Everything a refused request could have changed: the organization's accounts with their
    /// balances, its transfers, its clock and threshold.
    async fn snapshot(&self) -> Value {
        let app = &self.app;
        let accounts = app.get("/api/v1/accounts", Some(&self.admin)).await.body["data"].clone();
        let mut details = Vec::new();
        for account in accounts.as_array().unwrap() {
            let id = account["id"].as_str().unwrap();
            let mut full = app.account(&self.admin, id).await;
            full["transfers"] =
                json!(app.all_transfers(&self.admin, id, "execution_mode=all").await);
            details.push(full);
        }
        // The stored organization: its clock offset and threshold (`now` moves with real time).
        let mut conn = app.state.store.pool().acquire().await.unwrap();
        let organization = sequence_store::orgs::get(&mut conn, &self.org).await.unwrap();
        let rule = app.get(&format!("/api/v1/rules/{}", self.rule), Some(&self.admin)).await;
        json!({
            "accounts": details,
            "organization": format!("{organization:?}"),
            "rule": rule.body["data"],
        })
    }
}

#[tokio::test]
async fn a_key_without_the_operations_scope_gets_403_and_changes_nothing() {
    let world = world().await;
    let before = world.snapshot().await;
    for (call, scope) in world.calls() {
        let key = world.app.key(&world.org, &all_scopes_but(scope)).await;
        let response = call.send(&world.app, &key).await;
        assert_eq!(response.status, 403, "{} without {scope}: {}", call.operation, response.raw);
        assert_error(&response, 403, "forbidden");
        assert_eq!(
            response.body["error"]["message"],
            "This API key does not have the required permission."
        );
    }
    assert_eq!(world.snapshot().await, before, "refused requests changed nothing");

    // A key with no scope at all is refused everywhere too, and one with the scope succeeds
    // (so the 403s above are about the scope, not about the requests).
    let nothing = world.app.key(&world.org, "[]").await;
    for (call, _) in world.calls() {
        assert_error(&call.send(&world.app, &nothing).await, 403, "forbidden");
    }
    for (call, scope) in world.calls() {
        // Approving would leave nothing to decline.
        if call.operation == "approveSandboxTransfer" {
            continue;
        }
        let response = call.send(&world.app, &world.admin).await;
        assert!(response.status.is_success(), "{} with {scope}: {}", call.operation, response.raw);
    }
}

#[tokio::test]
async fn ids_outside_the_keys_resources_get_403_whether_or_not_they_exist() {
    let world = world().await;
    let (app, org) = (&world.app, &world.org);
    let before = world.snapshot().await;
    let only_other_pod = json!([world.other_pod]);

    // getAccount: READ_ACCOUNTS lists other_pod only.
    let reader = app.key(org, &all_scopes_with("READ_ACCOUNTS", only_other_pod.clone())).await;
    assert_eq!(
        app.get(&format!("/api/v1/accounts/{}", world.other_pod), Some(&reader)).await.status,
        200
    );
    for id in [world.pod.as_str(), "acc_missing", world.theirs_pod.as_str()] {
        assert_error(
            &app.get(&format!("/api/v1/accounts/{id}"), Some(&reader)).await,
            403,
            "forbidden",
        );
    }

    // listTransfers: the account_id filter must be listed.
    let lister = app.key(org, &all_scopes_with("READ_TRANSFERS", only_other_pod.clone())).await;
    assert_eq!(
        app.get(&format!("/api/v1/transfers?account_id={}", world.other_pod), Some(&lister))
            .await
            .status,
        200
    );
    for id in [world.pod.as_str(), "acc_missing", world.theirs_pod.as_str()] {
        let response = app.get(&format!("/api/v1/transfers?account_id={id}"), Some(&lister)).await;
        assert_error(&response, 403, "forbidden");
    }

    // getTransfer: neither side listed (the transfer exists, so this is the permission).
    assert_error(
        &app.get(&format!("/api/v1/transfers/{}", world.settled), Some(&lister)).await,
        403,
        "forbidden",
    );

    // createTransfer: no pair covers income → pod, whether the accounts exist or not.
    let pair = json!([{"source": world.income, "target": world.other_pod}]);
    let mover = app.key(org, &all_scopes_with("MANUAL_TRANSFER", pair)).await;
    for (source, destination) in [
        (world.income.as_str(), world.pod.as_str()),
        (world.pod.as_str(), world.other_pod.as_str()),
        (world.income.as_str(), "acc_missing"),
        (world.income.as_str(), world.theirs_pod.as_str()),
    ] {
        let response = app.transfer(&mover, source, destination, 1_000).await;
        assert_error(&response, 403, "forbidden");
    }
    assert_eq!(world.snapshot().await, before, "refused requests changed nothing");
    assert_eq!(
        app.transfer(&mover, &world.income, &world.other_pod, 1_000).await.status,
        201,
        "the listed pair works"
    );
}

#[tokio::test]
async fn another_organizations_ids_answer_like_ids_that_never_existed() {
    let world = world().await;
    let (app, admin) = (&world.app, world.admin.as_str());
    let before = world.snapshot().await;
    let theirs_before = world.app.balances(&world.theirs_admin, &world.theirs_pod).await;

    // With `*` resources, and with their ids listed explicitly: the permission check passes, the
    // lookup does not.
    let never = "acc_01HNEVEREXISTED0000000000";
    let listed = json!([world.theirs_pod, never]);
    let reading_theirs =
        app.key(&world.org, &all_scopes_with("READ_ACCOUNTS", listed.clone())).await;
    let listing_theirs = app.key(&world.org, &all_scopes_with("READ_TRANSFERS", listed)).await;
    for id in [world.theirs_pod.as_str(), never] {
        assert_error(
            &app.get(&format!("/api/v1/accounts/{id}"), Some(&reading_theirs)).await,
            404,
            "account_not_found",
        );
        let listing =
            app.get(&format!("/api/v1/transfers?account_id={id}"), Some(&listing_theirs)).await;
        assert_error(&listing, 404, "account_not_found");
    }
    for id in [world.theirs_pod.as_str(), never] {
        let missing = app.get(&format!("/api/v1/accounts/{id}"), Some(admin)).await;
        assert_error(
            &app.delete(&format!("/api/v1/accounts/{id}"), Some(admin)).await,
            404,
            "account_not_found",
        );
        let listing = app.get(&format!("/api/v1/transfers?account_id={id}"), Some(admin)).await;
        assert_error(&listing, 404, "account_not_found");
        let deposit = app.deposit_response(admin, id, 100).await;
        assert_error(&deposit, 404, "account_not_found");
        // Same message shape as for an id that never existed.
        assert_eq!(
            missing.body["error"]["message"],
            format!("No account `{id}` exists in this organization.")
        );
        // createTransfer reports unknown accounts as 400 (the spec's validation order).
        assert_error(
            &app.transfer(admin, id, &world.pod, 1_000).await,
            400,
            "transfer_source_not_found",
        );
        assert_error(
            &app.transfer(admin, &world.income, id, 1_000).await,
            400,
            "transfer_destination_not_found",
        );
    }
    for id in [
        world.theirs_settled.as_str(),
        world.theirs_waiting.as_str(),
        "txr_01HNEVEREXISTED0000000000",
    ] {
        assert_error(
            &app.get(&format!("/api/v1/transfers/{id}"), Some(admin)).await,
            404,
            "transfer_not_found",
        );
        let approve =
            app.post_empty(&format!("/api/v1/sandbox/transfers/{id}/approve"), Some(admin)).await;
        assert_error(&approve, 404, "transfer_not_found");
        let decline =
            app.post_empty(&format!("/api/v1/sandbox/transfers/{id}/decline"), Some(admin)).await;
        assert_error(&decline, 404, "transfer_not_found");
    }
    for id in [world.theirs_rule.as_str(), "rule_01HNEVEREXISTED000000000"] {
        for switch in ["enable", "disable"] {
            let path = format!("/api/v1/sandbox/rules/{id}/{switch}");
            assert_error(&app.post_empty(&path, Some(admin)).await, 404, "rule_not_found");
        }
    }
    assert_eq!(world.snapshot().await, before);
    let theirs =
        app.get(&format!("/api/v1/rules/{}", world.theirs_rule), Some(&world.theirs_admin)).await;
    assert_eq!(theirs.body["data"]["status"], "disabled", "their rule was not switched");

    // Organization-wide sandbox operations act on the key's organization only.
    app.advance_clock(admin, 86_400).await;
    app.put(
        "/api/v1/sandbox/organization",
        Some(admin),
        json!({"approval_threshold_in_cents": null}),
    )
    .await;
    let theirs =
        app.get("/api/v1/sandbox/organization", Some(&world.theirs_admin)).await.body["data"]
            .clone();
    assert_eq!(theirs["approval_threshold_in_cents"], 500_000);
    let their_now = chrono::DateTime::parse_from_rfc3339(theirs["now"].as_str().unwrap()).unwrap();
    assert!(
        (their_now.timestamp() - chrono::Utc::now().timestamp()).abs() < 60,
        "their clock did not move"
    );
    let their_transfer = app.transfer_by_id(&world.theirs_admin, &world.theirs_settled).await;
    assert_eq!(
        their_transfer["status"], "processing",
        "their transfers did not settle with our clock"
    );
    assert_eq!(app.balances(&world.theirs_admin, &world.theirs_pod).await, theirs_before);
    let external = app.create_external_account(admin, "DEPOSITORY", 0).await;
    assert_error(
        &app.get(&format!("/api/v1/accounts/{external}"), Some(&world.theirs_admin)).await,
        404,
        "account_not_found",
    );
}
