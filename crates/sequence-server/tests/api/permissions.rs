//! The permission matrix, derived from the spec. Every operation of the generated route table
//! (`OPERATIONS`, one row per operation of `openapi.yaml`, carrying its `x-required-scope`) is
//! checked on three axes:
//!
//! 1. a key without the declared scope gets the documented `403 forbidden`, and changes nothing;
//! 2. a key whose resources for that scope do not list the addressed resource gets `403` whether
//!    or not the resource exists — for ids the router sees (path, query, body) and for those the
//!    spec declares as checked later (`transfer-pair`, `loaded`);
//! 3. another organization's id answers exactly like an id that never existed (`404`).
//!
//! What each operation needs and where its resource comes from is read from the declaration, not
//! written here, so an operation added to the spec is covered (or fails here) without touching
//! this file. The only hand-written part is [`body_for`], a valid body for each operation that
//! takes one; it panics for an operation it does not know. Operations marked `x-not-implemented`
//! (none today) must still refuse a missing scope; past that they answer `501`.

use std::collections::BTreeMap;
use std::str::FromStr;

use sequence_api::runtime::{OperationInfo, ResourceSource};
use sequence_api::server::OPERATIONS;
use sequence_core::permissions::{Permissions, ResourceIdKind, Scope};
use serde_json::{Value, json};

use crate::harness::{TestApp, TestResponse, assert_error};

const FORBIDDEN_MESSAGE: &str = "This API key does not have the required permission.";

/// A key holding every scope (with `*` resources) except `without`.
fn all_scopes_but(without: &str) -> String {
    let all: Value = serde_json::from_str(&Permissions::all_scopes().to_json()).unwrap();
    let kept: Vec<&Value> =
        all.as_array().unwrap().iter().filter(|entry| entry["scope"] != without).collect();
    assert_eq!(kept.len() + 1, all.as_array().unwrap().len(), "{without} is a scope");
    serde_json::to_string(&kept).unwrap()
}

/// A key holding every scope, with `scope`'s resources replaced by `resources`.
fn all_scopes_with(scope: &str, resources: Value) -> String {
    let mut all: Value = serde_json::from_str(&Permissions::all_scopes().to_json()).unwrap();
    let entry = all
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|entry| entry["scope"] == scope)
        .expect("a scope");
    entry["resources"] = resources;
    all.to_string()
}

/// The kinds of resource an operation can address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Account,
    Rule,
    RuleExecution,
    Transfer,
    Card,
    WebhookEndpoint,
    WebhookEvent,
}

impl Kind {
    /// The kind of the `{id}` of a path template: the collection it follows
    /// (`/sandbox/transfers/{id}/approve` → a transfer).
    fn of_path(template: &str) -> Option<Kind> {
        let before = template.split("/{id}").next().filter(|_| template.contains("{id}"))?;
        Some(match before.rsplit('/').next()? {
            "accounts" => Kind::Account,
            "rules" => Kind::Rule,
            "rule-executions" => Kind::RuleExecution,
            "transfers" => Kind::Transfer,
            "cards" => Kind::Card,
            "webhook-endpoints" => Kind::WebhookEndpoint,
            "webhook-events" => Kind::WebhookEvent,
            other => panic!("{template}: no test ids for `{other}`; add the kind"),
        })
    }

    /// The kind of id a scope's resources list.
    fn of_scope(scope: &str) -> Kind {
        let scope = Scope::from_str(scope).expect("the spec's scopes are the domain's");
        match scope.resource_id_kind() {
            Some(ResourceIdKind::Account) => Kind::Account,
            Some(ResourceIdKind::Rule) => Kind::Rule,
            None => panic!("{scope} lists no ids"),
        }
    }

    /// The `404` code for an id of this kind that is not in the organization.
    fn not_found(self) -> &'static str {
        match self {
            Kind::Account => "account_not_found",
            Kind::Rule => "rule_not_found",
            Kind::RuleExecution => "rule_execution_not_found",
            Kind::Transfer => "transfer_not_found",
            Kind::Card => "card_not_found",
            Kind::WebhookEndpoint => "webhook_endpoint_not_found",
            Kind::WebhookEvent => "webhook_event_not_found",
        }
    }
}

/// One id of each kind.
#[derive(Clone, Debug)]
struct Ids {
    account: String,
    rule: String,
    execution: String,
    transfer: String,
    card: String,
    webhook_endpoint: String,
    webhook_event: String,
}

impl Ids {
    fn get(&self, kind: Kind) -> &str {
        match kind {
            Kind::Account => &self.account,
            Kind::Rule => &self.rule,
            Kind::RuleExecution => &self.execution,
            Kind::Transfer => &self.transfer,
            Kind::Card => &self.card,
            Kind::WebhookEndpoint => &self.webhook_endpoint,
            Kind::WebhookEvent => &self.webhook_event,
        }
    }

    fn missing() -> Ids {
        Ids {
            account: "acc_01HNEVEREXISTED0000000000".into(),
            rule: "rule_01HNEVEREXISTED000000000".into(),
            execution: "rex_01HNEVEREXISTED0000000000".into(),
            transfer: "txr_01HNEVEREXISTED0000000000".into(),
            card: "card_01HNEVEREXISTED000000000".into(),
            webhook_endpoint: "whe_01HNEVEREXISTED000000000".into(),
            webhook_event: "evt_01HNEVEREXISTED0000000000".into(),
        }
    }
}

/// Two organizations with accounts, money, transfers (one waiting for approval), an enabled rule
/// with an execution, a second rule, and a card on each of two pods (one with a purchase).
struct World {
    app: TestApp,
    org: sequence_core::ids::OrgId,
    admin: String,
    income: String,
    /// Our resources, addressed by default.
    ours: Ids,
    /// Other resources of our organization: the only ones listed by the keys of axis 2.
    decoy: Ids,
    theirs_admin: String,
    theirs: Ids,
    theirs_decoy: Ids,
    /// A purchase made with our card (`ours.card`).
    purchase: String,
}

/// Creates a (disabled) manual rule moving 100 cents from `source` to `destination`.
async fn manual_rule(app: &TestApp, key: &str, source: &str, destination: &str) -> String {
    let created = app.post("/api/v1/rules", Some(key), rule_body(source, destination)).await;
    assert_eq!(created.status, 201, "creating a rule: {}", created.raw);
    created.body["data"]["id"].as_str().unwrap().to_owned()
}

fn rule_body(source: &str, destination: &str) -> Value {
    json!({
        "nickname": "Sweep",
        "trigger": {"type": "MANUAL", "account_id": source},
        "steps": [{"actions": [{"type": "FIXED", "source_account_id": source,
                                "destination_account_id": destination, "amount_in_cents": 100}]}]
    })
}

fn id_of(response: &TestResponse) -> String {
    assert!(response.status.is_success(), "{}", response.raw);
    let data = &response.body["data"];
    data.get("id").or_else(|| data.get("execution_id")).and_then(Value::as_str).unwrap().to_owned()
}

/// Issues a virtual (active) card on `pod`; returns its id.
async fn card_on(app: &TestApp, admin: &str, pod: &str) -> String {
    let body = json!({"account_id": pod, "type": "virtual"});
    id_of(&app.post("/api/v1/sandbox/cards", Some(admin), body).await)
}

/// One organization's resources: (ids, decoy ids, income source, a purchase with the card).
async fn organization(app: &TestApp, admin: &str) -> (Ids, Ids, String, String) {
    // Registered first, so the transfers below record events (nothing delivers them here).
    let endpoint = json!({"url": "http://127.0.0.1:9/webhooks", "description": "Ours"});
    let endpoint =
        id_of(&app.post("/api/v1/sandbox/webhook-endpoints", Some(admin), endpoint).await);
    let decoy_endpoint = json!({"url": "http://127.0.0.1:9/decoy"});
    let decoy_endpoint =
        id_of(&app.post("/api/v1/sandbox/webhook-endpoints", Some(admin), decoy_endpoint).await);
    let income = app.create_income_source(admin, "Payroll").await;
    let pod = app.create_pod(admin, "Bills").await;
    let other_pod = app.create_pod(admin, "Savings").await;
    app.deposit(admin, &income, 1_000_000).await;
    app.deposit(admin, &pod, 100_000).await;
    let card = card_on(app, admin, &pod).await;
    let decoy_card = card_on(app, admin, &other_pod).await;
    let purchase = json!({"amount_in_cents": 1_000, "merchant_name": "Corner Shop"});
    let purchase = id_of(
        &app.post(&format!("/api/v1/sandbox/cards/{card}/purchases"), Some(admin), purchase).await,
    );
    let settled = id_of(&app.transfer(admin, &income, &pod, 10_000).await);
    app.advance_clock(admin, 60).await;
    let threshold = json!({"approval_threshold_in_cents": 500_000});
    app.put("/api/v1/sandbox/organization", Some(admin), threshold).await;
    let waiting = id_of(&app.transfer(admin, &income, &pod, 500_000).await);
    let rule = manual_rule(app, admin, &income, &pod).await;
    let other_rule = manual_rule(app, admin, &income, &other_pod).await;
    let enabled =
        app.post_empty(&format!("/api/v1/sandbox/rules/{rule}/enable"), Some(admin)).await;
    assert_eq!(enabled.status, 200, "{}", enabled.raw);
    let triggered =
        app.post(&format!("/api/v1/rules/{rule}/trigger"), Some(admin), json!({})).await;
    let execution = id_of(&triggered);
    let org = app.get("/api/v1/sandbox/organization", Some(admin)).await.body["data"]["id"].clone();
    let org = sequence_core::ids::OrgId::from_raw(org.as_str().unwrap());
    let mut conn = app.state.store.pool().acquire().await.unwrap();
    let deliveries = sequence_store::webhooks::deliveries_of(&mut conn, &org).await.unwrap();
    let event = deliveries.first().expect("the transfers recorded events").event_id.to_string();
    let ours = Ids {
        account: pod,
        rule,
        execution,
        transfer: waiting,
        card,
        webhook_endpoint: endpoint,
        webhook_event: event,
    };
    let decoy = Ids {
        account: other_pod,
        rule: other_rule,
        execution: "rex_01HDECOY000000000000000000".into(),
        transfer: settled,
        card: decoy_card,
        webhook_endpoint: decoy_endpoint,
        webhook_event: "evt_01HDECOY00000000000000000".into(),
    };
    (ours, decoy, income, purchase)
}

async fn world() -> World {
    let app = TestApp::new().await;
    let (org, admin) = app.org_with_admin_key().await;
    let (ours, decoy, income, purchase) = organization(&app, &admin).await;
    let (_, theirs_admin) = app.org_with_admin_key().await;
    let (theirs, theirs_decoy, _, _) = organization(&app, &theirs_admin).await;
    World { app, org, admin, income, ours, decoy, theirs_admin, theirs, theirs_decoy, purchase }
}

/// A valid body for each operation that takes one, naming our resources. The one hand-written
/// part of the matrix: an operation with a body that is not listed here fails the tests.
fn body_for(op: &OperationInfo, world: &World) -> Value {
    let (income, pod) = (&world.income, &world.ours.account);
    match op.operation_id {
        "createIncomeSource" => json!({"nickname": "New income"}),
        "createPod" => json!({"nickname": "New pod"}),
        "createRule" | "updateRule" => rule_body(income, pod),
        "triggerRule" => json!({"simulation": true}),
        "createTransfer" => {
            json!({"source_account_id": income, "destination_account_id": pod, "amount_in_cents": 1_000})
        }
        "createSandboxDeposit" => json!({"account_id": pod, "amount_in_cents": 100}),
        "createSandboxExternalAccount" => {
            json!({"name": "Bank", "external_account_type": "DEPOSITORY",
                                                 "institution_name": "Chase", "balance_in_cents": 0})
        }
        "advanceSandboxClock" => json!({"seconds": 60}),
        "updateSandboxOrganization" => json!({"approval_threshold_in_cents": 100}),
        "createSandboxWebhookEndpoint" => json!({"url": "http://127.0.0.1:9/new"}),
        "issueSandboxCard" => json!({"account_id": pod, "type": "physical"}),
        "createSandboxCardPurchase" => {
            json!({"amount_in_cents": 100, "merchant_name": "Corner Shop"})
        }
        "createSandboxCardRefund" => json!({"purchase_id": world.purchase, "amount_in_cents": 1}),
        other => {
            panic!("{other} takes a body ({:?}); add a valid one to body_for", op.request_body)
        }
    }
}

/// One operation as a request.
struct Call {
    op: &'static OperationInfo,
    path: String,
    body: Option<Value>,
}

impl Call {
    /// `op` addressed at `ids`: the path's `{id}` and the declared resource (path, query or body)
    /// come from `ids`, everything else from our organization.
    fn new(op: &'static OperationInfo, world: &World, ids: &Ids) -> Call {
        let mut path = op.path.to_owned();
        if let Some(kind) = Kind::of_path(op.path) {
            path = path.replace("{id}", ids.get(kind));
        }
        let mut body = op.request_body.map(|_| body_for(op, world));
        let required = op.required_scope.expect("every operation of this API is secured");
        match required.resource {
            ResourceSource::Query(name) => {
                path = format!("{path}?{name}={}", ids.get(Kind::of_scope(required.scope)));
            }
            ResourceSource::Body(name) => {
                let body = body.as_mut().expect("a body resource needs a body");
                body[name] = json!(ids.get(Kind::of_scope(required.scope)));
            }
            ResourceSource::None
            | ResourceSource::Path(_)
            | ResourceSource::TransferPair { .. }
            | ResourceSource::Loaded { .. } => {}
        }
        Call { op, path: format!("/api/v1{path}"), body }
    }

    async fn send(&self, app: &TestApp, key: &str) -> TestResponse {
        let body = self.body.as_ref().map(Value::to_string);
        app.send(crate::harness::request(self.op.method, &self.path, Some(key), body, &[])).await
    }

    fn scope(&self) -> &'static str {
        self.op.required_scope.expect("secured").scope
    }

    fn describe(&self) -> String {
        format!("{} ({} {})", self.op.operation_id, self.op.method, self.path)
    }
}

impl World {
    fn calls(&self, ids: &Ids) -> Vec<Call> {
        OPERATIONS.iter().map(|op| Call::new(op, self, ids)).collect()
    }

    /// Everything a refused request could have changed: the organization's accounts with their
    /// balances, transfers and cards, its clock and threshold, its rules and their executions,
    /// and our card's transactions.
    async fn snapshot(&self) -> Value {
        let app = &self.app;
        let accounts = app.get("/api/v1/accounts", Some(&self.admin)).await.body["data"].clone();
        let mut details = Vec::new();
        for account in accounts.as_array().unwrap() {
            let id = account["id"].as_str().unwrap();
            let mut full = app.account(&self.admin, id).await;
            full["transfers"] =
                json!(app.all_transfers(&self.admin, id, "execution_mode=all").await);
            let cards = app.get(&format!("/api/v1/cards?account_id={id}"), Some(&self.admin)).await;
            full["cards"] = cards.body["data"].clone();
            details.push(full);
        }
        let mut conn = app.state.store.pool().acquire().await.unwrap();
        let organization = sequence_store::orgs::get(&mut conn, &self.org).await.unwrap();
        let mut rules = Vec::new();
        for rule in [&self.ours.rule, &self.decoy.rule] {
            let found = app.get(&format!("/api/v1/rules/{rule}"), Some(&self.admin)).await;
            let executions = app
                .get(
                    &format!("/api/v1/rule-executions?rule_id={rule}&execution_mode=all"),
                    Some(&self.admin),
                )
                .await;
            rules.push(json!({"rule": found.body["data"], "executions": executions.body["data"]}));
        }
        let endpoints = app.get("/api/v1/sandbox/webhook-endpoints", Some(&self.admin)).await.body
            ["data"]
            .clone();
        let card = &self.ours.card;
        let transactions = app
            .get(&format!("/api/v1/cards/{card}/transactions?first=100"), Some(&self.admin))
            .await;
        json!({
            "accounts": details,
            "organization": format!("{organization:?}"),
            "rules": rules,
            "webhook_endpoints": endpoints,
            "card_transactions": transactions.body["data"],
        })
    }
}

#[track_caller]
fn assert_forbidden(response: &TestResponse, what: &str) {
    assert_eq!(response.status, 403, "{what}: {}", response.raw);
    assert_error(response, 403, "forbidden");
    assert_eq!(response.body["error"]["message"], FORBIDDEN_MESSAGE, "{what}");
}

#[test]
fn every_operation_declares_a_scope_the_domain_knows() {
    for op in OPERATIONS {
        let required = op.required_scope.unwrap_or_else(|| panic!("{} is public", op.operation_id));
        let scope = Scope::from_str(required.scope).expect("a domain scope");
        if let ResourceSource::Path(_) = required.resource {
            assert_eq!(
                Kind::of_path(op.path),
                Some(Kind::of_scope(scope.as_str())),
                "{}: the path id is the kind of id {scope} lists",
                op.operation_id
            );
        }
    }
}

#[tokio::test]
async fn a_key_without_the_operations_scope_gets_403_and_changes_nothing() {
    let world = world().await;
    let before = world.snapshot().await;
    let nothing = world.app.key(&world.org, "[]").await;
    for call in world.calls(&world.ours) {
        let key = world.app.key(&world.org, &all_scopes_but(call.scope())).await;
        let what = format!("{} without {}", call.describe(), call.scope());
        assert_forbidden(&call.send(&world.app, &key).await, &what);
        assert_forbidden(&call.send(&world.app, &nothing).await, &call.describe());
    }
    assert_eq!(world.snapshot().await, before, "refused requests changed nothing");

    // With every scope, no request is refused for want of permission (so the 403s above are
    // about the scope, not about the requests).
    for call in world.calls(&world.ours) {
        let response = call.send(&world.app, &world.admin).await;
        assert_ne!(response.status, 401, "{}: {}", call.describe(), response.raw);
        assert!(
            response.status != 403 || response.body["error"]["code"] != "forbidden",
            "{} with every scope: {}",
            call.describe(),
            response.raw
        );
        assert_ne!(response.body["error"]["code"], "invalid_request", "{}", response.raw);
    }
}

#[tokio::test]
async fn ids_outside_the_keys_resources_get_403_whether_or_not_they_exist() {
    let world = world().await;
    let (app, org) = (&world.app, &world.org);
    let before = world.snapshot().await;
    let mut covered = BTreeMap::new();
    for op in OPERATIONS {
        let required = op.required_scope.expect("secured");
        let call = Call::new(op, &world, &world.ours);
        let outcome = match required.resource {
            ResourceSource::None => "no resources",
            ResourceSource::Path(_) | ResourceSource::Query(_) | ResourceSource::Body(_) => {
                let kind = Kind::of_scope(required.scope);
                let listed = json!([world.decoy.get(kind)]);
                let key = app.key(org, &all_scopes_with(required.scope, listed)).await;
                // Ours (unlisted), one that never existed, and another organization's: all 403,
                // before any lookup. The decoy, listed, passes the check.
                for ids in [&world.ours, &Ids::missing(), &world.theirs] {
                    let call = Call::new(op, &world, ids);
                    assert_forbidden(&call.send(app, &key).await, &call.describe());
                }
                let listed = Call::new(op, &world, &world.decoy).send(app, &key).await;
                assert!(
                    listed.status != 403 || listed.body["error"]["code"] != "forbidden",
                    "{}: the listed id passes: {}",
                    op.operation_id,
                    listed.raw
                );
                "403 by the router"
            }
            ResourceSource::TransferPair { source, destination, .. } => {
                let body = call.body.as_ref().expect("a transfer pair is in the body");
                let (ours_source, ours_destination) = (&body[source], &body[destination]);
                // A pair that covers our source, but not our destination.
                let pair = json!([{"source": ours_source, "target": world.decoy.account}]);
                let key = app.key(org, &all_scopes_with(required.scope, pair)).await;
                for (from, to) in [
                    (ours_source.clone(), ours_destination.clone()),
                    (ours_source.clone(), json!(Ids::missing().account)),
                    (ours_source.clone(), json!(world.theirs.account)),
                    (json!(world.decoy.account), json!(world.ours.account)),
                ] {
                    let mut call = Call::new(op, &world, &world.ours);
                    let body = call.body.as_mut().unwrap();
                    body[source] = from;
                    body[destination] = to;
                    assert_forbidden(&call.send(app, &key).await, &call.describe());
                }
                "403 by the pair check"
            }
            ResourceSource::Loaded { .. } => {
                let kind = Kind::of_scope(required.scope);
                let listed = json!([world.decoy.get(kind)]);
                let key = app.key(org, &all_scopes_with(required.scope, listed)).await;
                let response = call.send(app, &key).await;
                if op.not_implemented {
                    assert_error(&response, 501, "not_implemented");
                    "not implemented (501)"
                } else {
                    assert_forbidden(&response, &call.describe());
                    "403 after the lookup"
                }
            }
        };
        covered.insert(op.operation_id, outcome);
    }
    assert_eq!(world.snapshot().await, before, "refused requests changed nothing");
    let table: Vec<String> =
        covered.iter().map(|(op, outcome)| format!("{op:<30} {outcome}")).collect();
    insta::assert_snapshot!("out_of_list_resources", table.join("\n"));
}

#[tokio::test]
async fn another_organizations_ids_answer_like_ids_that_never_existed() {
    let world = world().await;
    let app = &world.app;
    let before = world.snapshot().await;
    let theirs_before = app.balances(&world.theirs_admin, &world.theirs.account).await;
    let mut covered = BTreeMap::new();
    for op in OPERATIONS {
        let required = op.required_scope.expect("secured");
        let resource_kind = match required.resource {
            ResourceSource::Query(_) | ResourceSource::Body(_) => {
                Some(Kind::of_scope(required.scope))
            }
            _ => None,
        };
        let Some(kind) = Kind::of_path(op.path).or(resource_kind) else {
            let outcome = match required.resource {
                ResourceSource::TransferPair { .. } => "body ids: see below",
                _ => "names no id",
            };
            covered.insert(op.operation_id, outcome.to_owned());
            continue;
        };
        // With `*` resources, and (for a declared ids resource) with their id listed: the
        // permission check passes, the lookup does not.
        let mut keys = vec![world.admin.clone()];
        if resource_kind.is_some() || matches!(required.resource, ResourceSource::Path(_)) {
            let listed = json!([
                world.theirs.get(Kind::of_scope(required.scope)),
                Ids::missing().get(Kind::of_scope(required.scope))
            ]);
            keys.push(app.key(&world.org, &all_scopes_with(required.scope, listed)).await);
        }
        for key in &keys {
            let theirs = Call::new(op, &world, &world.theirs).send(app, key).await;
            let missing = Call::new(op, &world, &Ids::missing()).send(app, key).await;
            if op.not_implemented {
                assert_error(&theirs, 501, "not_implemented");
                assert_error(&missing, 501, "not_implemented");
                continue;
            }
            assert_error(&theirs, 404, kind.not_found());
            assert_error(&missing, 404, kind.not_found());
            assert_eq!(
                theirs.body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .replace(world.theirs.get(kind), "ID"),
                missing.body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .replace(Ids::missing().get(kind), "ID"),
                "{}: the same answer",
                op.operation_id
            );
        }
        let outcome = if op.not_implemented {
            "not implemented (501)".to_owned()
        } else {
            format!("404 {}", kind.not_found())
        };
        covered.insert(op.operation_id, outcome);
    }
    let table: Vec<String> =
        covered.iter().map(|(op, outcome)| format!("{op:<30} {outcome}")).collect();
    insta::assert_snapshot!("another_organizations_ids", table.join("\n"));

    // Ids inside bodies: createTransfer reports unknown accounts as 400 (the spec's validation
    // order), a deposit as 404.
    let admin = world.admin.as_str();
    for id in [world.theirs.account.as_str(), Ids::missing().account.as_str()] {
        assert_error(
            &app.transfer(admin, id, &world.ours.account, 1_000).await,
            400,
            "transfer_source_not_found",
        );
        assert_error(
            &app.transfer(admin, &world.income, id, 1_000).await,
            400,
            "transfer_destination_not_found",
        );
        assert_error(&app.deposit_response(admin, id, 100).await, 404, "account_not_found");
    }
    assert_eq!(world.snapshot().await, before);
    assert_eq!(app.balances(&world.theirs_admin, &world.theirs.account).await, theirs_before);
    let theirs =
        app.get(&format!("/api/v1/rules/{}", world.theirs.rule), Some(&world.theirs_admin)).await;
    assert_eq!(theirs.body["data"]["status"], "enabled", "their rule was not switched");
}

#[tokio::test]
async fn organization_wide_sandbox_operations_act_on_the_keys_organization_only() {
    let world = world().await;
    let (app, admin) = (&world.app, world.admin.as_str());
    let (their_pod, their_other_pod) = (&world.theirs.account, &world.theirs_decoy.account);
    let their_transfer =
        &id_of(&app.transfer(&world.theirs_admin, their_pod, their_other_pod, 1_000).await);
    let their_status =
        app.transfer_by_id(&world.theirs_admin, their_transfer).await["status"].clone();
    assert_eq!(their_status, "processing");
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
        (their_now.timestamp() - chrono::Utc::now().timestamp()).abs() < 600,
        "their clock did not move"
    );
    assert_eq!(
        app.transfer_by_id(&world.theirs_admin, their_transfer).await["status"],
        their_status,
        "their transfers did not settle with our clock"
    );
    let external = app.create_external_account(admin, "DEPOSITORY", 0).await;
    assert_error(
        &app.get(&format!("/api/v1/accounts/{external}"), Some(&world.theirs_admin)).await,
        404,
        "account_not_found",
    );
}
