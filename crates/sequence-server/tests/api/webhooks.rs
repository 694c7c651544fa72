//! Webhooks end to end: real HTTP receivers (axum on `127.0.0.1:0`) that verify every request's
//! signature with the client crate's `webhooks::Verifier` and check it against the spec's
//! `x-webhooks` (`spec_check::check_webhook`), driven by the application's deliverer.
//!
//! - signed events arrive in order per transfer (`transfer.created`, then each
//!   `transfer.status_changed` with its previous status), a `500` is retried with the same event
//!   id (receivers deduplicate by it), and the attempts are listed;
//! - every event type is recorded once, in the transaction of its change (and nothing for
//!   simulations, refused requests or types an endpoint did not ask for);
//! - two deliverers (two replicas) over one database never send one attempt twice;
//! - an endpoint that never answers does not delay another organization's deliveries;
//! - with a manual clock, a delivery that keeps failing is given up after 24 hours, and the next
//!   event about the same transfer goes out only then;
//! - endpoint registration: validation, the secret shown once, the limit, deletion;
//! - the newcomer's story on the real binary: `sequence webhooks listen --forward-to` a local
//!   receiver, make a transfer, advance the clock, receive `transfer.created` then
//!   `transfer.status_changed`, verified with the client's verifier.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::{TimeDelta, Utc};
use sequence_app::deliverer::{Config, Deliverer, Pass};
use sequence_client::types;
use sequence_client::webhooks::{
    ATTEMPT_HEADER, DELIVERY_ID_HEADER, EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER,
    Verifier,
};
use sequence_core::clock::{Clock, ManualClock, SystemClock};
use sequence_core::ids::OrgId;
use sequence_core::webhooks::DeliveryStatus;
use sequence_server::AppState;
use serde_json::{Value, json};

use crate::harness::{TestApp, assert_error, both_backends};

const DAY: i64 = 24 * 60 * 60;

/// How a receiver answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// `200` to everything.
    Ok,
    /// `500` to each delivery's first attempt, `200` afterwards.
    FailFirstAttempt,
    /// `500` to everything.
    Fail,
    /// Never answers.
    Hang,
}

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Received {
    /// Parsed by the client's verifier (`None` when verification failed: see `problems`).
    event: Option<types::WebhookEvent>,
    body: Value,
    delivery: String,
    attempt: u32,
    answered: u16,
}

impl Received {
    fn event(&self) -> &types::WebhookEvent {
        self.event.as_ref().expect("a verified event")
    }

    fn delivered(&self) -> bool {
        (200..300).contains(&self.answered)
    }
}

struct Shared {
    answer: Mutex<Answer>,
    secret: Mutex<Option<String>>,
    clock: Arc<dyn Clock>,
    log: Mutex<Vec<Received>>,
    problems: Mutex<Vec<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A webhook receiver on a free local port: it verifies each request with
/// `sequence_client::webhooks::Verifier` (at `clock`'s time) and against the spec, records it, and
/// answers as told.
struct Receiver {
    url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Receiver {
    async fn start(answer: Answer, clock: Arc<dyn Clock>) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            answer: Mutex::new(answer),
            secret: Mutex::new(None),
            clock,
            log: Mutex::new(Vec::new()),
            problems: Mutex::new(Vec::new()),
        });
        let router = Router::new().route("/webhooks", post(receive)).with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Receiver { url, shared, server }
    }

    fn set_secret(&self, secret: &str) {
        *lock(&self.shared.secret) = Some(secret.to_owned());
    }

    fn log(&self) -> Vec<Received> {
        lock(&self.shared.log).clone()
    }

    #[track_caller]
    fn assert_no_problems(&self) {
        let problems = lock(&self.shared.problems).clone();
        assert!(problems.is_empty(), "the receiver found problems:\n{}", problems.join("\n"));
    }

    /// Waits (real time) until `done` holds for the log, at most `within`.
    async fn wait_for(
        &self,
        within: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let started = std::time::Instant::now();
        loop {
            let log = self.log();
            if done(&log) {
                return log;
            }
            assert!(
                started.elapsed() < within,
                "the receiver waited {within:?} in vain; got {log:#?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header =
        |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let mut problems = Vec::new();
    let secret = lock(&shared.secret).clone();
    let event = match secret {
        None => {
            problems.push("a request arrived before the test knew the secret".to_owned());
            None
        }
        Some(secret) => match Verifier::new(secret).verify_at(
            &header(SIGNATURE_HEADER),
            &body,
            shared.clock.now(),
        ) {
            Ok(event) => Some(event),
            Err(error) => {
                problems.push(format!("the client's verifier refused a delivery: {error}"));
                None
            }
        },
    };
    if let Err(violation) =
        crate::spec_check::check_webhook(&header(EVENT_TYPE_HEADER), &headers, &body)
    {
        problems.push(violation);
    }
    if let Some(event) = &event {
        if header(EVENT_ID_HEADER) != event.id() {
            problems.push(format!("{EVENT_ID_HEADER} is not the body's id {}", event.id()));
        }
        if header(EVENT_TYPE_HEADER) != event.event_type().to_string() {
            problems.push(format!("{EVENT_TYPE_HEADER} is not the body's event"));
        }
    }
    let attempt: u32 = header(ATTEMPT_HEADER).parse().unwrap_or(0);
    let answer = *lock(&shared.answer);
    let status = match answer {
        Answer::Ok => 200,
        Answer::Fail => 500,
        Answer::FailFirstAttempt if attempt == 1 => 500,
        Answer::FailFirstAttempt => 200,
        Answer::Hang => 0,
    };
    lock(&shared.problems).extend(problems);
    lock(&shared.log).push(Received {
        event,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        delivery: header(DELIVERY_ID_HEADER),
        attempt,
        answered: status,
    });
    if answer == Answer::Hang {
        std::future::pending::<()>().await;
    }
    StatusCode::from_u16(status).unwrap()
}

/// The app on a manual clock (the deliverer's retries and signatures follow it), and the clock.
fn with_manual_clock(app: TestApp) -> (TestApp, ManualClock) {
    let mut app = app;
    let start = sequence_app::at_stored_precision(Utc::now());
    let clock = ManualClock::new(start);
    app.state.clock = Arc::new(clock.clone());
    (app, clock)
}

fn deliverer(state: &AppState) -> Deliverer {
    let config = Config { timeout: Duration::from_secs(5), ..Config::default() };
    Deliverer::new(state.app(), config).expect("a deliverer")
}

/// Registers an endpoint; returns (id, secret).
async fn register(
    app: &TestApp,
    key: &str,
    url: &str,
    events: Option<&[&str]>,
) -> (String, String) {
    let mut body = json!({"url": url, "description": "test receiver"});
    if let Some(events) = events {
        body["event_types"] = json!(events);
    }
    let response = app.post("/api/v1/sandbox/webhook-endpoints", Some(key), body).await;
    assert_eq!(response.status, 201, "registering an endpoint: {}", response.raw);
    let data = &response.body["data"];
    (data["id"].as_str().unwrap().to_owned(), data["secret"].as_str().unwrap().to_owned())
}

/// Every delivery attempt listed for `endpoint`, newest first (every page).
async fn attempts(app: &TestApp, key: &str, endpoint: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/sandbox/webhook-endpoints/{endpoint}/deliveries?first=7");
        if let Some(cursor) = &after {
            path.push_str(&format!("&after={cursor}"));
        }
        let response = app.get(&path, Some(key)).await;
        assert_eq!(response.status, 200, "{}", response.raw);
        items.extend(response.body["data"].as_array().unwrap().iter().cloned());
        if response.body["page_info"]["has_next_page"] != json!(true) {
            return items;
        }
        after = Some(response.body["page_info"]["end_cursor"].as_str().unwrap().to_owned());
    }
}

/// The organization's deliveries, in event order (from the store: the API lists attempts only).
async fn deliveries(app: &TestApp, org: &OrgId) -> Vec<sequence_store::webhooks::DeliveryState> {
    let mut conn = app.state.store.pool().acquire().await.unwrap();
    sequence_store::webhooks::deliveries_of(&mut conn, org).await.unwrap()
}

/// What each subject (transfer, execution) was delivered, in the order received; fails if an
/// event about a subject arrived before the previous event about it was delivered.
fn delivered_in_order(log: &[Received]) -> BTreeMap<String, Vec<types::WebhookEvent>> {
    let mut delivered: BTreeMap<String, Vec<types::WebhookEvent>> = BTreeMap::new();
    let mut waiting: BTreeMap<String, String> = BTreeMap::new();
    for received in log {
        let event = received.event();
        let subject = event.subject_id().to_owned();
        if let Some(earlier) = waiting.get(&subject) {
            assert_eq!(
                earlier,
                event.id(),
                "{} ({}) about {subject} arrived before {earlier} was delivered",
                event.id(),
                event.event_type()
            );
        }
        let seen = delivered.entry(subject.clone()).or_default();
        if received.delivered() {
            waiting.remove(&subject);
            if !seen.iter().any(|e| e.id() == event.id()) {
                seen.push(event.clone());
            }
        } else {
            waiting.insert(subject, event.id().to_owned());
        }
    }
    delivered
}

fn event_names(events: &[types::WebhookEvent]) -> Vec<String> {
    events.iter().map(|e| e.event_type().to_string()).collect()
}

both_backends! {
    async fn events_arrive_signed_in_order_and_are_retried_after_a_500(app: TestApp) {
        let (app, clock) = with_manual_clock(app);
        let (org, key) = app.org_with_admin_key().await;
        let receiver = Receiver::start(Answer::FailFirstAttempt, Arc::new(clock.clone())).await;
        let (endpoint, secret) = register(&app, &key, &receiver.url, None).await;
        receiver.set_secret(&secret);

        let income = app.create_income_source(&key, "Payroll").await;
        let pod = app.create_pod(&key, "Savings").await;
        let deposit = app.deposit(&key, &income, 500_000).await;
        let created = app.transfer(&key, &income, &pod, 100_000).await;
        assert_eq!(created.status, 201, "{}", created.raw);
        let transfer = created.body["data"]["id"].as_str().unwrap().to_owned();
        app.advance_clock(&key, 5 * DAY).await;

        // The first attempts: both transfer.created deliveries (the status changes wait behind
        // theirs), both answered 500.
        let deliverer = deliverer(&app.state);
        let first = deliverer.run_once().await.unwrap();
        assert_eq!(first, Pass { attempts: 2, delivered: 0, retrying: 2, failed: 0 });
        assert_eq!(deliverer.run_once().await.unwrap().attempts, 0, "nothing is due before the back-off");
        // Each later round: the retries succeed, which lets the next event about the transfer go
        // (and fail its first attempt).
        let mut rounds = 0;
        loop {
            clock.advance(TimeDelta::minutes(2));
            let pass = deliverer.run_once().await.unwrap();
            rounds += 1;
            if pass.attempts == 0 {
                break;
            }
            assert!(rounds < 10, "the deliveries finish");
        }
        receiver.assert_no_problems();
        assert!(deliveries(&app, &org).await.iter().all(|d| d.status == DeliveryStatus::Delivered));

        let log = receiver.log();
        // Every event was attempted twice, with the same id (the receiver deduplicates by it).
        let ids: BTreeSet<&str> = log.iter().map(|r| r.event().id()).collect();
        assert_eq!(ids.len(), 4, "{log:#?}");
        assert_eq!(log.len(), 8);
        for id in &ids {
            let attempts: Vec<(u32, u16)> =
                log.iter().filter(|r| r.event().id() == *id).map(|r| (r.attempt, r.answered)).collect();
            assert_eq!(attempts, [(1, 500), (2, 200)], "{id}");
        }
        let by_subject = delivered_in_order(&log);
        let deposit_id = deposit["id"].as_str().unwrap();
        assert_eq!(event_names(&by_subject[deposit_id]), ["transfer.created"]);
        let events = &by_subject[&transfer];
        assert_eq!(
            event_names(events),
            ["transfer.created", "transfer.status_changed", "transfer.status_changed"]
        );
        let changes: Vec<(types::TransferStatus, types::TransferStatus)> = events
            .iter()
            .filter_map(|e| match e {
                types::WebhookEvent::TransferStatusChangedEvent(e) => {
                    Some((e.data.previous_status, e.data.status))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            changes,
            [
                (types::TransferStatus::Processing, types::TransferStatus::Pending),
                (types::TransferStatus::Pending, types::TransferStatus::Complete),
            ]
        );
        // The last event's data is the transfer as the API shows it, plus the previous status.
        let last = log.iter().rev().find(|r| r.event().subject_id() == transfer).unwrap();
        let mut expected = app.transfer_by_id(&key, &transfer).await;
        expected["previous_status"] = json!("pending");
        assert_eq!(last.body["data"], expected);
        assert_eq!(last.body["created_at"], expected["completed_at"], "dated when it completed");

        // The attempts, as listed: newest first, a retry for every first attempt.
        let listed = attempts(&app, &key, &endpoint).await;
        assert_eq!(listed.len(), 8);
        // As instants, not text: a whole second is written without a fraction (`…:44Z`).
        let times: Vec<_> = listed
            .iter()
            .map(|a| chrono::DateTime::parse_from_rfc3339(a["created_at"].as_str().unwrap()).unwrap())
            .collect();
        let mut sorted = times.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(times, sorted, "newest first");
        for attempt in &listed {
            match attempt["attempt"].as_i64() {
                Some(1) => {
                    assert_eq!(attempt["outcome"], "retrying", "{attempt}");
                    assert_eq!(attempt["response_status"], 500);
                    assert_eq!(attempt["error"], "HTTP 500");
                    assert!(attempt["next_attempt_at"].is_string(), "{attempt}");
                }
                _ => {
                    assert_eq!(attempt["outcome"], "delivered", "{attempt}");
                    assert_eq!(attempt["response_status"], 200);
                    assert_eq!(attempt["next_attempt_at"], Value::Null);
                }
            }
            assert_eq!(attempt["endpoint_id"], endpoint.as_str());
        }
        // Each event reads back exactly as it was delivered.
        for received in log.iter().filter(|r| r.delivered()) {
            let id = received.event().id();
            let read = app.get(&format!("/api/v1/sandbox/webhook-events/{id}"), Some(&key)).await;
            assert_eq!(read.status, 200, "{}", read.raw);
            assert_eq!(read.body["data"], received.body);
        }
        let receipts: BTreeSet<(&str, u32)> = log.iter().map(|r| (r.delivery.as_str(), r.attempt)).collect();
        assert_eq!(receipts.len(), log.len(), "no attempt was sent twice");
    }
}

both_backends! {
    async fn every_event_type_is_recorded_with_its_change_and_only_for_endpoints_that_want_it(app: TestApp) {
        let (org, key) = app.org_with_admin_key().await;
        let everything = register(&app, &key, "http://127.0.0.1:9/all", None).await.0;
        let changes_only =
            register(&app, &key, "http://127.0.0.1:9/changes", Some(&["transfer.status_changed"])).await.0;
        let income = app.create_income_source(&key, "Payroll").await;
        let pod = app.create_pod(&key, "Savings").await;
        let rule = app
            .post("/api/v1/rules", Some(&key), json!({
                "nickname": "Save some",
                "trigger": {"type": "ON_FUNDS_TRANSFERRED", "account_id": income},
                "steps": [{"actions": [{"type": "FIXED", "source_account_id": income,
                                        "destination_account_id": pod, "amount_in_cents": 1_000}]}]
            }))
            .await;
        assert_eq!(rule.status, 201, "{}", rule.raw);
        let rule = rule.body["data"]["id"].as_str().unwrap().to_owned();
        let enabled = app.post_empty(&format!("/api/v1/sandbox/rules/{rule}/enable"), Some(&key)).await;
        assert_eq!(enabled.status, 200, "{}", enabled.raw);

        // A deposit fires the rule: the deposit, then the rule's transfer (the execution is in
        // progress until it settles).
        let deposit = app.deposit(&key, &income, 100_000).await["id"].as_str().unwrap().to_owned();
        // A minute later the rule's transfer has completed, and with it the execution.
        app.advance_clock(&key, 60).await;
        // A transfer over the approval threshold, declined.
        app.put("/api/v1/sandbox/organization", Some(&key), json!({"approval_threshold_in_cents": 50_000})).await;
        let waiting = app.transfer(&key, &income, &pod, 60_000).await.body["data"]["id"].as_str().unwrap().to_owned();
        let declined = app.post_empty(&format!("/api/v1/sandbox/transfers/{waiting}/decline"), Some(&key)).await;
        assert_eq!(declined.status, 200, "{}", declined.raw);
        // Nothing for a simulation, or for a request that was refused.
        let simulated = app
            .post("/api/v1/transfers", Some(&key), json!({"source_account_id": income,
                "destination_account_id": pod, "amount_in_cents": 1_000, "simulation": true}))
            .await;
        assert_eq!(simulated.status, 201, "{}", simulated.raw);
        assert_error(&app.transfer(&key, &pod, &pod, 1_000).await, 400, "transfer_not_supported");
        // A transfer recorded in `error` (insufficient funds) is a transfer created.
        let short = app.transfer(&key, &pod, &income, 50_000).await;
        assert_eq!(short.status, 400, "{}", short.raw);
        let short = app.transfer(&key, &income, &pod, 10_000_000).await;
        assert_eq!(short.body["data"]["status"], "error", "{}", short.raw);
        let short = short.body["data"]["id"].as_str().unwrap().to_owned();
        // A card purchase and its refund (a declined purchase records nothing).
        let card = app.post("/api/v1/sandbox/cards", Some(&key), json!({"account_id": pod, "type": "virtual"})).await;
        let card = card.body["data"]["id"].as_str().unwrap().to_owned();
        let buy = json!({"amount_in_cents": 600, "merchant_name": "Corner Shop"}); // the pod holds $10
        let purchase = app.post(&format!("/api/v1/sandbox/cards/{card}/purchases"), Some(&key), buy).await;
        assert_eq!(purchase.status, 201, "{}", purchase.raw);
        let purchase = purchase.body["data"]["id"].as_str().unwrap().to_owned();
        let too_much = json!({"amount_in_cents": 900_000_000, "merchant_name": "Yacht"});
        let declined = app.post(&format!("/api/v1/sandbox/cards/{card}/purchases"), Some(&key), too_much).await;
        assert_error(&declined, 409, "insufficient_funds");
        let refund = json!({"purchase_id": purchase, "amount_in_cents": 200});
        let refund = app.post(&format!("/api/v1/sandbox/cards/{card}/refunds"), Some(&key), refund).await;
        assert_eq!(refund.status, 201, "{}", refund.raw);
        let refund = refund.body["data"]["id"].as_str().unwrap().to_owned();

        let all = deliveries(&app, &org).await;
        let events = |endpoint: &str| {
            all.iter().filter(|d| d.endpoint_id.as_str() == endpoint).map(|d| d.event_id.to_string()).collect::<Vec<_>>()
        };
        let mut seen = Vec::new();
        for id in events(&everything) {
            let read = app.get(&format!("/api/v1/sandbox/webhook-events/{id}"), Some(&key)).await;
            assert_eq!(read.status, 200, "{}", read.raw);
            let event: types::WebhookEvent = serde_json::from_value(read.body["data"].clone()).unwrap();
            let status = read.body["data"]["data"]["status"].as_str().unwrap_or_default().to_owned();
            seen.push((event.event_type().to_string(), event.subject_id().to_owned(), status));
        }
        let rule_transfer = seen[1].1.clone();
        let execution = seen.iter().find(|(e, ..)| e == "rule_execution.completed").map(|(_, s, _)| s.clone()).expect("the execution completed");
        let expected: Vec<(String, String, String)> = [
            ("transfer.created", &deposit, "complete"),
            ("transfer.created", &rule_transfer, "processing"),
            ("transfer.status_changed", &rule_transfer, "pending"),
            ("transfer.status_changed", &rule_transfer, "complete"),
            ("rule_execution.completed", &execution, "executed"),
            ("transfer.created", &waiting, "pending_approval"),
            ("transfer.approval_required", &waiting, "pending_approval"),
            ("transfer.status_changed", &waiting, "cancelled"),
            ("transfer.created", &short, "error"),
            ("card_transaction.created", &purchase, ""),
            ("card_transaction.created", &refund, ""),
        ]
        .iter()
        .map(|(e, s, st)| ((*e).to_owned(), (*s).to_owned(), (*st).to_owned()))
        .collect();
        assert_eq!(seen, expected);
        // The execution's event carries the execution as the API shows it.
        let position = seen.iter().position(|(e, ..)| e == "rule_execution.completed").unwrap();
        let execution_event_id = &events(&everything)[position];
        let read = app.get(&format!("/api/v1/sandbox/webhook-events/{execution_event_id}"), Some(&key)).await;
        let shown = app.get(&format!("/api/v1/rule-executions/{execution}"), Some(&key)).await;
        assert_eq!(read.body["data"]["data"], shown.body["data"]);
        // A card transaction's event carries it as the API showed it when it was recorded.
        let refund_event_id = events(&everything).last().unwrap().clone();
        let read = app.get(&format!("/api/v1/sandbox/webhook-events/{refund_event_id}"), Some(&key)).await;
        let shown = app.get(&format!("/api/v1/cards/{card}/transactions?first=1"), Some(&key)).await;
        assert_eq!(read.body["data"]["data"], shown.body["data"][0]);
        // The other endpoint only gets status changes.
        let changes: Vec<String> = events(&changes_only);
        assert_eq!(changes.len(), 3);
        for id in &changes {
            let read = app.get(&format!("/api/v1/sandbox/webhook-events/{id}"), Some(&key)).await;
            assert_eq!(read.body["data"]["event"], "transfer.status_changed");
        }
        // Both endpoints share one event for each change.
        assert!(changes.iter().all(|id| events(&everything).contains(id)));
    }
}

both_backends! {
    async fn two_replicas_never_send_one_attempt_twice(app: TestApp) {
        let (org, key) = app.org_with_admin_key().await;
        let receiver = Receiver::start(Answer::Ok, Arc::new(SystemClock)).await;
        let (_, secret) = register(&app, &key, &receiver.url, Some(&["transfer.created"])).await;
        receiver.set_secret(&secret);
        let income = app.create_income_source(&key, "Payroll").await;
        let pod = app.create_pod(&key, "Savings").await;
        app.deposit(&key, &income, 10_000_000).await;
        for _ in 0..24 {
            let response = app.transfer(&key, &income, &pod, 1_000).await;
            assert_eq!(response.status, 201, "{}", response.raw);
        }
        let replica = app.replica().await;
        let (one, two) = (deliverer(&app.state), deliverer(&replica));
        let mut attempts = 0;
        for _ in 0..10 {
            let (a, b) = tokio::join!(one.run_once(), two.run_once());
            let (a, b) = (a.unwrap(), b.unwrap());
            attempts += a.attempts + b.attempts;
            if a.attempts + b.attempts == 0 {
                break;
            }
        }
        receiver.assert_no_problems();
        let log = receiver.log();
        assert_eq!(log.len(), 25, "every event once: the deposit and 24 transfers");
        assert_eq!(attempts, 25, "the two replicas made 25 attempts between them");
        let deliveries_received: BTreeSet<&str> = log.iter().map(|r| r.delivery.as_str()).collect();
        assert_eq!(deliveries_received.len(), 25, "no delivery was sent twice");
        assert!(log.iter().all(|r| r.attempt == 1));
        let stored = deliveries(&app, &org).await;
        assert_eq!(stored.len(), 25);
        assert!(stored.iter().all(|d| d.status == DeliveryStatus::Delivered && d.attempts == 1), "{stored:#?}");
    }
}

both_backends! {
    async fn an_endpoint_that_never_answers_does_not_delay_another_organizations_deliveries(app: TestApp) {
        let (_, slow_key) = app.org_with_admin_key().await;
        let (_, key) = app.org_with_admin_key().await;
        let dead = Receiver::start(Answer::Hang, Arc::new(SystemClock)).await;
        let alive = Receiver::start(Answer::Ok, Arc::new(SystemClock)).await;
        let (_, dead_secret) = register(&app, &slow_key, &dead.url, None).await;
        dead.set_secret(&dead_secret);
        let (_, secret) = register(&app, &key, &alive.url, None).await;
        alive.set_secret(&secret);
        let slow_income = app.create_income_source(&slow_key, "Payroll").await;
        for _ in 0..12 {
            app.deposit(&slow_key, &slow_income, 1_000).await;
        }
        let config = Config {
            concurrency: 8,
            per_endpoint: 2,
            timeout: Duration::from_secs(60),
            lease: Duration::from_secs(120),
            poll_interval: Duration::from_millis(20),
        };
        let running = tokio::spawn(Deliverer::new(app.state.app(), config).unwrap().run());
        // The dead endpoint holds its share of the attempts, no more.
        dead.wait_for(Duration::from_secs(10), |log| log.len() >= 2).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(dead.log().len(), 2, "at most two attempts to one endpoint at a time");
        // Another organization's event is delivered at once all the same.
        let income = app.create_income_source(&key, "Payroll").await;
        let started = std::time::Instant::now();
        app.deposit(&key, &income, 1_000).await;
        let log = alive.wait_for(Duration::from_secs(5), |log| log.iter().any(Received::delivered)).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(log[0].event().event_type(), types::WebhookEventType::TransferCreated);
        running.abort();
        alive.assert_no_problems();
        dead.assert_no_problems();
    }
}

both_backends! {
    async fn a_failing_delivery_is_given_up_after_a_day_and_the_next_event_goes_out_then(app: TestApp) {
        let (app, clock) = with_manual_clock(app);
        let (org, key) = app.org_with_admin_key().await;
        let receiver = Receiver::start(Answer::Fail, Arc::new(clock.clone())).await;
        let (endpoint, secret) = register(&app, &key, &receiver.url, None).await;
        receiver.set_secret(&secret);
        let income = app.create_income_source(&key, "Payroll").await;
        let pod = app.create_pod(&key, "Savings").await;
        app.deposit(&key, &income, 500_000).await;
        let transfer = app.transfer(&key, &income, &pod, 1_000).await.body["data"]["id"].as_str().unwrap().to_owned();
        app.advance_clock(&key, 60).await;
        let deliverer = deliverer(&app.state);
        // Two hours between rounds: longer than any back-off, so every round makes the next
        // attempt of every delivery that is due.
        let mut rounds = 0;
        while deliveries(&app, &org).await.iter().any(|d| !d.status.is_final()) {
            deliverer.run_once().await.unwrap();
            clock.advance(TimeDelta::hours(2));
            rounds += 1;
            assert!(rounds < 100, "every delivery is given up in the end");
        }
        receiver.assert_no_problems();
        let stored = deliveries(&app, &org).await;
        assert_eq!(stored.len(), 4);
        assert!(stored.iter().all(|d| d.status == DeliveryStatus::Failed), "{stored:#?}");
        let listed = attempts(&app, &key, &endpoint).await;
        for delivery in &stored {
            let mut mine: Vec<&Value> =
                listed.iter().filter(|a| a["delivery_id"] == delivery.id.as_str()).collect();
            mine.reverse();
            assert!(mine.len() >= 12, "{} attempts", mine.len());
            let time = |a: &Value| chrono::DateTime::parse_from_rfc3339(a["created_at"].as_str().unwrap()).unwrap();
            let (first, last) = (mine[0], mine[mine.len() - 1]);
            assert!(time(last) - time(first) >= TimeDelta::hours(24), "retried for at least a day");
            assert!(time(last) - time(first) < TimeDelta::hours(27));
            assert_eq!(last["outcome"], "failed");
            assert_eq!(last["next_attempt_at"], Value::Null);
            assert!(mine[..mine.len() - 1].iter().all(|a| a["outcome"] == "retrying"));
            let numbers: Vec<i64> = mine.iter().map(|a| a["attempt"].as_i64().unwrap()).collect();
            assert_eq!(numbers, (1..=mine.len() as i64).collect::<Vec<_>>());
        }
        // The transfer's status changes went out only once the one before had failed for good.
        let log = receiver.log();
        let about_transfer: Vec<&Received> = log.iter().filter(|r| r.event().subject_id() == transfer).collect();
        let kinds: Vec<String> = about_transfer.iter().map(|r| r.event().event_type().to_string()).collect();
        let first_change = kinds.iter().position(|k| k == "transfer.status_changed").unwrap();
        assert!(kinds[..first_change].iter().all(|k| k == "transfer.created"));
        let created_attempts = first_change;
        assert!(created_attempts >= 12);
    }
}

#[tokio::test]
async fn endpoints_are_validated_limited_listed_without_their_secret_and_deleted() {
    let app = TestApp::new().await;
    let (org, key) = app.org_with_admin_key().await;
    let (_, other_key) = app.org_with_admin_key().await;
    let created = app
        .post(
            "/api/v1/sandbox/webhook-endpoints",
            Some(&key),
            json!({
                "url": "http://localhost:4242/hooks",
                "event_types": ["transfer.status_changed", "transfer.created", "transfer.created"],
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.raw);
    let data = &created.body["data"];
    let id = data["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("whe_"));
    assert_eq!(data["event_types"], json!(["transfer.created", "transfer.status_changed"]));
    assert_eq!(data["description"], Value::Null);
    let secret = data["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() == 70, "{secret}");

    let listed = app.get("/api/v1/sandbox/webhook-endpoints", Some(&key)).await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    assert!(!listed.raw.contains(secret), "lists never show the secret");
    assert_eq!(listed.body["data"][0]["id"], id.as_str());
    let theirs = app.get("/api/v1/sandbox/webhook-endpoints", Some(&other_key)).await;
    assert_eq!(theirs.body["data"], json!([]));

    for (url, why) in [
        ("http://user:pass@example.com/hooks", "credentials"),
        ("http://example.com/hooks#x", "fragment"),
        ("https://example.com/hooks", "TLS"),
    ] {
        let refused =
            app.post("/api/v1/sandbox/webhook-endpoints", Some(&key), json!({"url": url})).await;
        if why == "TLS" && sequence_app::webhooks::TLS {
            assert_eq!(refused.status, 201);
            continue;
        }
        assert_error(&refused, 400, "invalid_request");
        assert!(
            refused.body["error"]["message"].as_str().unwrap().contains(why),
            "{}",
            refused.raw
        );
    }
    for body in [
        json!({"url": "localhost:4242"}),
        json!({"url": "ftp://example.com/hooks"}),
        json!({"url": "http://h/x", "event_types": []}),
        json!({"url": "http://h/x", "event_types": ["transfer.deleted"]}),
    ] {
        assert_error(
            &app.post("/api/v1/sandbox/webhook-endpoints", Some(&key), body).await,
            400,
            "invalid_request",
        );
    }
    let existing = app.get("/api/v1/sandbox/webhook-endpoints", Some(&key)).await.body["data"]
        .as_array()
        .unwrap()
        .len();
    for n in existing..16 {
        register(&app, &key, &format!("http://localhost:4242/{n}"), None).await;
    }
    let over = app
        .post(
            "/api/v1/sandbox/webhook-endpoints",
            Some(&key),
            json!({"url": "http://localhost/17"}),
        )
        .await;
    assert_error(&over, 409, "webhook_endpoint_limit_reached");

    // Deleting cancels what was not delivered yet, and the endpoint is gone.
    let income = app.create_income_source(&key, "Payroll").await;
    app.deposit(&key, &income, 1_000).await;
    let pending = deliveries(&app, &org).await;
    assert_eq!(pending.len(), 16, "one delivery per endpoint");
    assert!(pending.iter().all(|d| d.status == DeliveryStatus::Pending));
    assert_error(
        &app.delete(&format!("/api/v1/sandbox/webhook-endpoints/{id}"), Some(&other_key)).await,
        404,
        "webhook_endpoint_not_found",
    );
    let deleted = app.delete(&format!("/api/v1/sandbox/webhook-endpoints/{id}"), Some(&key)).await;
    assert_eq!(deleted.status, 204, "{}", deleted.raw);
    assert_error(
        &app.delete(&format!("/api/v1/sandbox/webhook-endpoints/{id}"), Some(&key)).await,
        404,
        "webhook_endpoint_not_found",
    );
    assert_error(
        &app.get(&format!("/api/v1/sandbox/webhook-endpoints/{id}/deliveries"), Some(&key)).await,
        404,
        "webhook_endpoint_not_found",
    );
    let after = deliveries(&app, &org).await;
    let cancelled: Vec<_> =
        after.iter().filter(|d| d.status == DeliveryStatus::Cancelled).collect();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0].endpoint_id.as_str(), id);
    // Room for one more now.
    register(&app, &key, "http://localhost:4242/again", None).await;
    // An event of another organization is not found.
    let event = after[0].event_id.to_string();
    assert_error(
        &app.get(&format!("/api/v1/sandbox/webhook-events/{event}"), Some(&other_key)).await,
        404,
        "webhook_event_not_found",
    );

    // Without --sandbox there are no webhook operations.
    let closed = TestApp::with_sandbox(false).await;
    let (_, closed_key) = closed.org_with_admin_key().await;
    assert_error(
        &closed.get("/api/v1/sandbox/webhook-endpoints", Some(&closed_key)).await,
        404,
        "not_found",
    );
}

/// A `Write` the test can read while `listen` writes to it.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Output {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        lock(&self.0).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Output {
    fn text(&self) -> String {
        String::from_utf8_lossy(&lock(&self.0)).into_owned()
    }
}

both_backends! {
    async fn a_newcomer_listens_with_the_cli_and_receives_signed_transfer_events(app: TestApp) {
        // The real binary (`serve --demo`, which runs the deliverer), the generated client and
        // `sequence webhooks listen --forward-to` a local receiver.
        let server = crate::newcomer::RunningServer::start(app.database_url()).await;
        let receiver = Receiver::start(Answer::Ok, Arc::new(SystemClock)).await;
        let command = [
            "sequence", "--base-url", server.base_url.as_str(), "--api-key", server.api_key.as_str(),
            "webhooks", "listen", "--forward-to", receiver.url.as_str(), "--poll-ms", "100",
        ];
        let cli = <sequence_cli::Cli as clap::Parser>::try_parse_from(command).expect("a command line");
        let sequence_cli::cli::Command::Webhooks(sequence_cli::cli::WebhooksCommand::Listen(args)) = &cli.command else {
            panic!("webhooks listen")
        };
        let args = args.clone();
        let output = Output::default();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let listening = {
            let mut out = output.clone();
            tokio::spawn(async move {
                let ctx = sequence_cli::commands::Ctx::from_cli(&cli).expect("a context");
                let stop = async { let _ = stopped.await; };
                sequence_cli::commands::webhooks::listen(&ctx, &args, &mut out, stop).await
            })
        };
        // The secret `listen` prints is what the receiver verifies with.
        let started = std::time::Instant::now();
        let secret = loop {
            let text = output.text();
            if let Some(secret) = text.split_whitespace().find(|w| w.starts_with("whsec_")) {
                break secret.to_owned();
            }
            assert!(started.elapsed() < Duration::from_secs(10), "listen printed no secret: {text}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        receiver.set_secret(&secret);

        let client = sequence_client::client_with_api_key(&server.base_url, &server.api_key).unwrap();
        let accounts = client.list_accounts().send().await.unwrap().into_inner().data;
        let pod = accounts.iter().find(|a| a.type_ == types::AccountType::Pod).unwrap().id.clone();
        let second_pod = accounts.iter().filter(|a| a.type_ == types::AccountType::Pod).nth(1).unwrap().id.clone();
        client
            .create_sandbox_deposit()
            .body(types::SandboxDepositRequest::builder().account_id(pod.as_str()).amount_in_cents(std::num::NonZeroU64::new(50_000).unwrap()))
            .send()
            .await
            .unwrap();
        let moved = client
            .create_transfer()
            .idempotency_key(sequence_client::new_idempotency_key())
            .body(types::CreateTransferRequest::builder().source_account_id(pod.as_str()).destination_account_id(second_pod.as_str()).amount_in_cents(10_000))
            .send()
            .await
            .unwrap()
            .into_inner()
            .data;
        client
            .advance_sandbox_clock()
            .body(types::SandboxClockAdvanceRequest::builder().seconds(std::num::NonZeroU64::new(5 * DAY as u64).unwrap()))
            .send()
            .await
            .unwrap();

        // transfer.created, then transfer.status_changed to pending and to complete, verified
        // by the client's verifier, in order.
        let about = |log: &[Received]| -> Vec<types::WebhookEvent> {
            log.iter().filter(|r| r.delivered() && r.event().subject_id() == moved.id.as_str()).map(|r| r.event().clone()).collect()
        };
        let log = receiver.wait_for(Duration::from_secs(20), |log| about(log).len() >= 3).await;
        receiver.assert_no_problems();
        let events = about(&log);
        assert_eq!(event_names(&events), ["transfer.created", "transfer.status_changed", "transfer.status_changed"]);
        let types::WebhookEvent::TransferStatusChangedEvent(last) = &events[2] else { panic!("a status change") };
        assert_eq!(last.data.status, types::TransferStatus::Complete);
        assert_eq!(last.data.previous_status, types::TransferStatus::Pending);
        delivered_in_order(&log);

        // `listen` printed the attempts; stopping it deletes its endpoint.
        let printed = loop {
            let text = output.text();
            if text.matches("HTTP 200, delivered").count() >= 3 {
                break text;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "listen printed no attempts: {text}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(printed.contains("transfer.created"), "{printed}");
        assert!(printed.contains("transfer.status_changed"), "{printed}");
        stop.send(()).unwrap();
        listening.await.unwrap().expect("listen stops cleanly");
        assert!(output.text().contains("Stopped; deleted endpoint whe_"), "{}", output.text());
        let endpoints = client.list_sandbox_webhook_endpoints().send().await.unwrap().into_inner().data;
        assert!(endpoints.is_empty(), "{endpoints:?}");
        server.assert_responses_matched_the_spec();
    }
}
