//! Money under concurrency, on SQLite and on PostgreSQL:
//!
//! - many concurrent random transfers (and approvals, declines and clock advances) between a
//!   handful of pods: afterwards the sum of balances is unchanged, no balance is negative, the
//!   reserved amounts always equal the in-flight reservations, every `201` transfer is in the
//!   ledger exactly as its final status says, and the ledger replays to the reported balances;
//! - two server replicas' background workers (`Server::tick`) and a clock advance racing over
//!   the same due transfers settle each exactly once, losing none;
//! - N concurrent identical requests with one `Idempotency-Key` create exactly one transfer (or
//!   deposit), the others replaying it or answering `409 idempotency_request_in_progress`, on one
//!   server and spread over two replicas.
//!
//! The random choices come from a seeded generator; the seed is printed (`--nocapture`) and can
//! be fixed with `SEQUENCE_TEST_SEED` to replay a failure.

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sequence_core::ids::OrgId;
use sequence_core::ledger::{Posting, replay};
use sequence_core::money::Cents;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::harness::{Backend, TestApp, TestResponse, request, send_to};

const FIVE_DAYS: i64 = 5 * 24 * 60 * 60;
const PODS: usize = 5;
const FUNDS_PER_POD: i64 = 100_000;

/// Declares `name::sqlite` and `name::postgres` running `name` on a multi-threaded runtime.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                if let Some(app) = crate::harness::TestApp::on(crate::harness::Backend::Sqlite).await {
                    super::$name(app).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some(app) = crate::harness::TestApp::on(crate::harness::Backend::Postgres).await {
                    super::$name(app).await;
                }
            }
        }
    )+};
}

on_both_backends!(
    concurrent_random_transfers_conserve_money,
    racing_workers_settle_every_transfer_exactly_once,
    concurrent_identical_requests_with_one_key_create_one_transfer,
    deleting_an_account_while_money_arrives_never_strands_it,
);

fn rng(backend: Backend) -> StdRng {
    let seed = std::env::var("SEQUENCE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random::<u64>());
    eprintln!("{backend:?}: SEQUENCE_TEST_SEED={seed}");
    StdRng::seed_from_u64(seed)
}

/// An organization with an all-scopes key and `PODS` pods holding `FUNDS_PER_POD` each.
async fn funded_pods(app: &TestApp) -> (OrgId, String, Vec<String>) {
    let (org, key) = app.org_with_admin_key().await;
    let mut pods = Vec::new();
    for n in 0..PODS {
        let pod = app.create_pod(&key, &format!("Pod {n}")).await;
        app.deposit(&key, &pod, FUNDS_PER_POD).await;
        pods.push(pod);
    }
    (org, key, pods)
}

fn transfer_request(
    key: &str,
    source: &str,
    destination: &str,
    amount: i64,
    simulation: bool,
) -> axum::http::Request<axum::body::Body> {
    let body = json!({
        "source_account_id": source,
        "destination_account_id": destination,
        "amount_in_cents": amount,
        "simulation": simulation,
    });
    request("POST", "/api/v1/transfers", Some(key), Some(body.to_string()), &[])
}

/// Sends `requests` all at once, each from its own task; returns the responses in order.
async fn send_all(
    app: &TestApp,
    requests: Vec<axum::http::Request<axum::body::Body>>,
) -> Vec<TestResponse> {
    let mut tasks = JoinSet::new();
    for (index, request) in requests.into_iter().enumerate() {
        let router = app.router();
        tasks.spawn(async move { (index, send_to(router, request).await) });
    }
    let mut responses: Vec<(usize, TestResponse)> = tasks.join_all().await;
    responses.sort_by_key(|(index, _)| *index);
    responses.into_iter().map(|(_, response)| response).collect()
}

/// Every transfer from or to the pods as the API now lists them (live and simulated, deposits
/// included), by id; also checks that each accepted transfer is listed on both of its sides.
async fn listed(
    app: &TestApp,
    key: &str,
    pods: &[String],
    accepted: &BTreeMap<String, Value>,
) -> BTreeMap<String, Value> {
    let mut all = BTreeMap::new();
    for pod in pods {
        let here: BTreeMap<String, Value> = app
            .all_transfers(key, pod, "execution_mode=all")
            .await
            .into_iter()
            .map(|t| (t["id"].as_str().unwrap().to_owned(), t))
            .collect();
        let expected: BTreeSet<&String> = accepted
            .iter()
            .filter(|(_, t)| {
                t["source"]["id"] == pod.as_str() || t["destination"]["id"] == pod.as_str()
            })
            .map(|(id, _)| id)
            .collect();
        let got: BTreeSet<&String> =
            here.iter().filter(|(_, t)| t["origin"] != "paycheck").map(|(id, _)| id).collect();
        assert_eq!(got, expected, "{pod}'s history lists each of its transfers once");
        all.extend(here);
    }
    all
}

/// Asserts, for every pod, that what the API reports as reserved (balance − available) equals
/// both the stored sum of the transfers' reservations and the amounts of the live transfers
/// from it that are still in flight.
async fn assert_reservations_match(
    app: &TestApp,
    key: &str,
    pods: &[String],
    accepted: &BTreeMap<String, Value>,
) {
    let now = listed(app, key, pods, accepted).await;
    let mut conn = app.state.store.pool().acquire().await.unwrap();
    for pod in pods {
        let (balance, available) = app.balances(key, pod).await;
        let reserved = balance - available;
        let account = sequence_core::ids::AccountId::from_raw(pod.as_str());
        let stored =
            sequence_store::transfers::reserved_by_transfers(&mut conn, &account).await.unwrap();
        let in_flight: i64 = now
            .values()
            .filter(|t| {
                t["source"]["id"] == pod.as_str()
                    && t["simulation"] == false
                    && ["pending_approval", "processing", "pending"]
                        .contains(&t["status"].as_str().unwrap())
            })
            .map(|t| t["amount_in_cents"].as_i64().unwrap())
            .sum();
        assert_eq!(reserved, stored.get(), "{pod}: reported reservation = stored reservations");
        assert_eq!(reserved, in_flight, "{pod}: reservation = in-flight outgoing transfers");
        assert!(balance >= 0 && available >= 0, "{pod}: never negative ({balance}, {available})");
    }
}

/// The final audit: balances conserved and non-negative, every accepted transfer in the ledger
/// exactly as its status says, and the ledger replaying to the reported balances.
async fn assert_ledger_agrees(
    app: &TestApp,
    org: &OrgId,
    key: &str,
    pods: &[String],
    transfers: &BTreeMap<String, Value>,
) {
    let listed = listed(app, key, pods, transfers).await;
    let mut reported = BTreeMap::new();
    for pod in pods {
        let (balance, available) = app.balances(key, pod).await;
        assert!(balance >= 0, "{pod} is negative: {balance}");
        assert_eq!(balance, available, "{pod}: nothing is in flight any more");
        reported.insert(pod.clone(), balance);
    }
    let total: i64 = reported.values().sum();
    assert_eq!(
        total,
        FUNDS_PER_POD * PODS as i64,
        "money moved between pods; none was created or lost"
    );

    let (entries, system) = {
        let mut conn = app.state.store.pool().acquire().await.unwrap();
        let entries = sequence_store::ledger::entries(&mut conn, org).await.unwrap();
        let system = sequence_store::orgs::get(&mut conn, org).await.unwrap().system_accounts;
        (entries, system)
    };
    let mut by_transfer: BTreeMap<String, Vec<&sequence_store::ledger::Entry>> = BTreeMap::new();
    for entry in &entries {
        let sequence_store::ledger::MovementId::Transfer(transfer) = &entry.movement else {
            panic!("no card is used here: {entry:?}");
        };
        by_transfer.entry(transfer.to_string()).or_default().push(entry);
    }
    // Every accepted transfer: complete ones posted exactly once (−amount at the source, +amount
    // at the destination), all others not at all.
    let mut expected =
        reported.keys().map(|pod| (pod.clone(), FUNDS_PER_POD)).collect::<BTreeMap<_, _>>();
    for (id, accepted) in transfers {
        let now = &listed[id];
        let amount = accepted["amount_in_cents"].as_i64().unwrap();
        let (source, destination) =
            (now["source"]["id"].as_str().unwrap(), now["destination"]["id"].as_str().unwrap());
        let posted = by_transfer.get(id).map(Vec::as_slice).unwrap_or_default();
        if now["status"] == "complete" {
            assert_eq!(now["simulation"], false);
            let mut sides: Vec<(String, i64)> =
                posted.iter().map(|e| (e.account.to_string(), e.amount.get())).collect();
            sides.sort();
            let mut want = vec![(source.to_owned(), -amount), (destination.to_owned(), amount)];
            want.sort();
            assert_eq!(sides, want, "{id} is posted exactly once");
            *expected.get_mut(source).unwrap() -= amount;
            *expected.get_mut(destination).unwrap() += amount;
        } else {
            assert!(posted.is_empty(), "{id} ({}) has no entries", now["status"]);
            let final_states = ["error", "cancelled"];
            assert!(
                final_states.contains(&now["status"].as_str().unwrap())
                    || now["simulation"] == true,
                "{id} is settled or final: {now}"
            );
        }
    }
    assert_eq!(expected, reported, "balances = deposits + completed transfers in − out");

    // The ledger alone reproduces every balance: replaying the entries (including the deposits
    // against the outside world) gives the reported balances.
    let postings: Vec<Posting> = entries
        .iter()
        .map(|e| Posting { account: e.account.clone(), amount_delta: e.amount })
        .collect();
    sequence_core::ledger::assert_balanced(&postings);
    let replayed = replay(&postings).unwrap();
    for (pod, balance) in &reported {
        let account = sequence_core::ids::AccountId::from_raw(pod.as_str());
        assert_eq!(
            replayed.get(&account).copied().unwrap_or(Cents::ZERO),
            Cents::new(*balance),
            "{pod} replays"
        );
    }
    assert_eq!(
        replayed[&system.outside_world],
        Cents::new(-FUNDS_PER_POD * PODS as i64),
        "the deposits"
    );
    // Per account, the entries chain: each starts where the previous ended, versions count up.
    let mut last: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for entry in &entries {
        let (version, after) = last.get(entry.account.as_str()).copied().unwrap_or((0, 0));
        assert_eq!(
            (entry.account_version, entry.balance_before.get()),
            (version + 1, after),
            "{entry:?}"
        );
        last.insert(entry.account.to_string(), (entry.account_version, entry.balance_after.get()));
    }
}

async fn concurrent_random_transfers_conserve_money(app: TestApp) {
    let mut rng = rng(app.backend);
    let (org, key, pods) = funded_pods(&app).await;
    // Transfers of 35000 or more wait for approval, so every status occurs.
    let threshold = app
        .put(
            "/api/v1/sandbox/organization",
            Some(&key),
            json!({"approval_threshold_in_cents": 35_000}),
        )
        .await;
    assert_eq!(threshold.status, 200, "{}", threshold.raw);

    let random_transfer = |rng: &mut StdRng| {
        let source = rng.random_range(0..PODS);
        let destination = (source + rng.random_range(1..PODS)) % PODS;
        let amount = rng.random_range(100..=45_000);
        let simulation = rng.random_bool(0.1);
        transfer_request(&key, &pods[source], &pods[destination], amount, simulation)
    };

    // Wave 1: 200 transfers at once.
    let requests = (0..200).map(|_| random_transfer(&mut rng)).collect();
    let mut accepted: BTreeMap<String, Value> = BTreeMap::new();
    for response in send_all(&app, requests).await {
        assert_eq!(
            response.status, 201,
            "every request is accepted or recorded as an error: {}",
            response.raw
        );
        let data = response.body["data"].clone();
        accepted.insert(data["id"].as_str().unwrap().to_owned(), data);
    }
    assert_eq!(accepted.len(), 200, "200 distinct transfers");
    let statuses: BTreeSet<&str> =
        accepted.values().map(|t| t["status"].as_str().unwrap()).collect();
    eprintln!("wave 1 statuses: {statuses:?}");
    assert_reservations_match(&app, &key, &pods, &accepted).await;

    // Wave 2: approve or decline every waiting transfer, 100 more transfers and clock advances,
    // all at once.
    let mut requests = Vec::new();
    for transfer in accepted.values() {
        if transfer["status"] == "pending_approval" && transfer["simulation"] == false {
            let decision = if rng.random_bool(0.5) { "approve" } else { "decline" };
            let path = format!(
                "/api/v1/sandbox/transfers/{}/{decision}",
                transfer["id"].as_str().unwrap()
            );
            requests.push(request("POST", &path, Some(&key), None, &[]));
        }
    }
    let decisions = requests.len();
    for n in 0..100 {
        requests.push(random_transfer(&mut rng));
        if n % 25 == 0 {
            let body = json!({"seconds": rng.random_range(1..=40)}).to_string();
            requests.push(request(
                "POST",
                "/api/v1/sandbox/clock/advance",
                Some(&key),
                Some(body),
                &[],
            ));
        }
    }
    for response in send_all(&app, requests).await {
        assert!(response.status.is_success(), "{}", response.raw);
        let data = &response.body["data"];
        if let Some(id) = data["id"].as_str() {
            accepted.insert(id.to_owned(), data.clone());
        }
    }
    assert_eq!(accepted.len(), 300);
    eprintln!("{decisions} approvals/declines raced with 100 transfers and 4 clock advances");
    assert_reservations_match(&app, &key, &pods, &accepted).await;

    // Decide what wave 2 left waiting, then settle everything.
    let waiting: Vec<_> = accepted
        .values()
        .filter(|t| t["status"] == "pending_approval" && t["simulation"] == false)
        .map(|t| {
            let decision = if rng.random_bool(0.5) { "approve" } else { "decline" };
            let path =
                format!("/api/v1/sandbox/transfers/{}/{decision}", t["id"].as_str().unwrap());
            request("POST", &path, Some(&key), None, &[])
        })
        .collect();
    for response in send_all(&app, waiting).await {
        assert_eq!(response.status, 200, "{}", response.raw);
        accepted.insert(
            response.body["data"]["id"].as_str().unwrap().to_owned(),
            response.body["data"].clone(),
        );
    }
    app.advance_clock(&key, FIVE_DAYS).await;
    assert_reservations_match(&app, &key, &pods, &accepted).await;
    assert_ledger_agrees(&app, &org, &key, &pods, &accepted).await;
}

async fn racing_workers_settle_every_transfer_exactly_once(app: TestApp) {
    let mut rng = rng(app.backend);
    let (org, key, pods) = funded_pods(&app).await;
    let requests = (0..100)
        .map(|_| {
            let source = rng.random_range(0..PODS);
            let destination = (source + rng.random_range(1..PODS)) % PODS;
            transfer_request(
                &key,
                &pods[source],
                &pods[destination],
                rng.random_range(100..=5_000),
                false,
            )
        })
        .collect();
    let mut accepted = BTreeMap::new();
    for response in send_all(&app, requests).await {
        assert_eq!(response.status, 201, "{}", response.raw);
        assert_eq!(response.body["data"]["status"], "processing", "every transfer fits");
        accepted.insert(
            response.body["data"]["id"].as_str().unwrap().to_owned(),
            response.body["data"].clone(),
        );
    }

    // Five days pass for the organization without anyone processing them: every transfer is due.
    {
        let mut tx = app.state.store.begin().await.unwrap();
        sequence_store::orgs::advance_clock(&mut tx, &org, FIVE_DAYS).await.unwrap();
        tx.commit().await.unwrap();
    }
    // Two replicas' workers (their own pools on the same database) and a clock advance through
    // the first replica race over the same due steps.
    let replicas = [app.server(), sequence_server::state::Server::new(app.replica().await)];
    let mut workers = JoinSet::new();
    for (n, server) in replicas.into_iter().enumerate() {
        for _ in 0..2 {
            let server = server.clone();
            workers.spawn(async move {
                let mut retries = 0;
                for _ in 0..5 {
                    let pass = server.tick().await.expect("the organizations list");
                    // A deadlock or serialization failure that outlasted the retries rolls that
                    // organization's work back; the next tick redoes it (as the worker does).
                    for (org, why) in &pass.failed {
                        assert!(why.contains("retry"), "replica {n}: {org} failed: {why}");
                        retries += 1;
                    }
                }
                retries
            });
        }
    }
    let advance = app.send(request(
        "POST",
        "/api/v1/sandbox/clock/advance",
        Some(&key),
        Some(json!({"seconds": 1}).to_string()),
        &[],
    ));
    let (advanced, retries) = tokio::join!(advance, workers.join_all());
    assert_eq!(advanced.status, 200, "{}", advanced.raw);
    eprintln!(
        "{:?}: worker passes rolled back and redone: {}",
        app.backend,
        retries.iter().sum::<u32>()
    );
    // Whatever a rolled-back pass left is picked up by the next one.
    app.server().tick().await.expect("a final pass");

    let now = listed(&app, &key, &pods, &accepted).await;
    for id in accepted.keys() {
        assert_eq!(now[id]["status"], "complete", "{id} settled");
    }
    assert_ledger_agrees(&app, &org, &key, &pods, &accepted).await;
}

async fn concurrent_identical_requests_with_one_key_create_one_transfer(app: TestApp) {
    let (org, key, pods) = funded_pods(&app).await;
    const N: usize = 20;
    let same = |path: &str, body: &Value, idempotency_key: &str| {
        (0..N)
            .map(|_| {
                request(
                    "POST",
                    path,
                    Some(&key),
                    Some(body.to_string()),
                    &[("Idempotency-Key", idempotency_key)],
                )
            })
            .collect::<Vec<_>>()
    };

    // A transfer.
    let body = json!({"source_account_id": pods[0], "destination_account_id": pods[1], "amount_in_cents": 12_345});
    let responses = send_all(&app, same("/api/v1/transfers", &body, "race-transfer")).await;
    let first = responses.iter().find(|r| r.status == 201).expect("one request executes");
    let id = first.body["data"]["id"].as_str().unwrap().to_owned();
    let (mut created, mut in_progress) = (0, 0);
    for response in &responses {
        match response.status.as_u16() {
            201 => {
                created += 1;
                assert_eq!(
                    response.body["data"], first.body["data"],
                    "a replay returns the same transfer"
                );
            }
            409 => {
                in_progress += 1;
                crate::harness::assert_error(response, 409, "idempotency_request_in_progress");
            }
            _ => panic!("unexpected answer: {}", response.raw),
        }
    }
    eprintln!("{:?}: {created} × 201 (1 original + replays), {in_progress} × 409", app.backend);
    let made = app.all_transfers(&key, &pods[0], "account_role=source&execution_mode=all").await;
    assert_eq!(made.len(), 1, "exactly one transfer");
    assert_eq!(made[0]["id"], id.as_str());
    assert_eq!(
        app.balances(&key, &pods[0]).await,
        (FUNDS_PER_POD, FUNDS_PER_POD - 12_345),
        "reserved once"
    );
    // Once finished, the key replays for everyone.
    let replay = app.post_idempotent("/api/v1/transfers", &key, "race-transfer", body).await;
    assert_eq!(
        (replay.status.as_u16(), replay.body["data"]["id"].as_str()),
        (201, Some(id.as_str()))
    );

    // A deposit: a duplicate would create money.
    let body = json!({"account_id": pods[2], "amount_in_cents": 50_000});
    let responses = send_all(&app, same("/api/v1/sandbox/deposits", &body, "race-deposit")).await;
    let deposits: BTreeSet<&str> = responses
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| r.body["data"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(deposits.len(), 1, "every 201 is the same deposit");
    assert!(responses.iter().all(|r| r.status == 201 || r.status == 409), "only replays and 409s");
    assert_eq!(
        app.balances(&key, &pods[2]).await,
        (FUNDS_PER_POD + 50_000, FUNDS_PER_POD + 50_000),
        "deposited once"
    );

    let mut conn = app.state.store.pool().acquire().await.unwrap();
    let entries = sequence_store::ledger::entries(&mut conn, &org).await.unwrap();
    assert_eq!(entries.len(), 2 * (PODS + 1), "the funding deposits and one more");
    drop(conn);

    // Two replicas on one database (their own pools and in-flight sets, as two processes have):
    // the claim, the effect and the response share one transaction, so a duplicate on the other
    // replica waits for the original's commit and replays it (or finds it running here: 409).
    let replica = sequence_server::app(app.replica().await);
    let body = json!({"source_account_id": pods[3], "destination_account_id": pods[4], "amount_in_cents": 777});
    let mut tasks = JoinSet::new();
    for (index, request) in
        same("/api/v1/transfers", &body, "race-replicas").into_iter().enumerate()
    {
        let router = if index % 2 == 0 { app.router() } else { replica.clone() };
        tasks.spawn(send_to(router, request));
    }
    let responses = tasks.join_all().await;
    let ids: BTreeSet<&str> = responses
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| r.body["data"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "every 201 is the same transfer, on either replica");
    for response in &responses {
        assert!(matches!(response.status.as_u16(), 201 | 409), "{}", response.raw);
    }
    assert_eq!(
        app.balances(&key, &pods[3]).await,
        (FUNDS_PER_POD, FUNDS_PER_POD - 777),
        "reserved once across replicas"
    );
}

async fn deleting_an_account_while_money_arrives_never_strands_it(app: TestApp) {
    let (org, key, pods) = funded_pods(&app).await;
    let source = &pods[0];
    let mut deleted = 0;
    for round in 0..40 {
        // An empty pod receives a transfer and a deposit while it is being deleted.
        let target = app.create_pod(&key, &format!("Target {round}")).await;
        let deposit = json!({"account_id": target, "amount_in_cents": 1_000}).to_string();
        let requests = vec![
            request("DELETE", &format!("/api/v1/accounts/{target}"), Some(&key), None, &[]),
            transfer_request(&key, source, &target, 1_000, false),
            request("POST", "/api/v1/sandbox/deposits", Some(&key), Some(deposit), &[]),
        ];
        let responses = send_all(&app, requests).await;
        for response in &responses {
            assert!(
                matches!(response.status.as_u16(), 201 | 204 | 400 | 404 | 409),
                "{}",
                response.raw
            );
        }
        if responses[0].status == 204 {
            deleted += 1;
            // Whatever arrived was refused, not accepted into an account that no longer exists.
            assert!(
                responses[1].status != 201,
                "a transfer into a deleted account was accepted: {}",
                responses[1].raw
            );
            assert!(
                responses[2].status != 201,
                "a deposit into a deleted account was accepted: {}",
                responses[2].raw
            );
        }
    }
    app.advance_clock(&key, FIVE_DAYS).await;
    // No deleted account holds money or has anything in flight.
    let mut conn = app.state.store.pool().acquire().await.unwrap();
    let system = sequence_store::orgs::get(&mut conn, &org).await.unwrap().system_accounts;
    let entries = sequence_store::ledger::entries(&mut conn, &org).await.unwrap();
    let postings: Vec<Posting> = entries
        .iter()
        .map(|e| Posting { account: e.account.clone(), amount_delta: e.amount })
        .collect();
    for (account, balance) in replay(&postings).unwrap() {
        if system.contains(&account) {
            continue;
        }
        let record = sequence_store::accounts::find(&mut conn, &org, account.as_str())
            .await
            .unwrap()
            .expect("an account");
        if record.is_deleted() {
            assert_eq!(balance, Cents::ZERO, "deleted account {account} holds money");
        }
        assert_eq!(record.balance, balance);
    }
    eprintln!("{:?}: {deleted} of 40 deletions won their race", app.backend);
}
