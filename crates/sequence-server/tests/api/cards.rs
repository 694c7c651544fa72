//! Debit cards through HTTP, on SQLite and on PostgreSQL: the sandbox's card issuer and network
//! (issue, activate, freeze, unfreeze, report lost or stolen, purchases, refunds) and the public
//! Cards operations (list, get, transactions).
//!
//! What is proven here, beyond each answer matching the spec (every response goes through
//! `spec_check`):
//! - a purchase is authorized against the pod's *available* balance and only on an `active` card;
//!   a declined one leaves nothing behind;
//! - a refund names a purchase of the same card and never exceeds what of it remains;
//! - purchases and refunds move the pod's balance and available balance together, are ledger
//!   movements (balances replay from the entries) and never appear among transfers;
//! - `READ_CARDS` is checked against the card's pod, after the card is found (`404` before `403`);
//! - many purchases (and transfers) racing for one pod never overdraw it, and parallel refunds
//!   of one purchase never exceed it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use sequence_core::ids::AccountId;
use sequence_core::ledger::{Posting, replay};
use sequence_core::money::Cents;
use sequence_store::ledger::MovementId;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::harness::{
    TestApp, TestResponse, assert_error, both_backends, both_backends_parallel, request, send_to,
};

/// `POST /sandbox/cards`; returns the card.
async fn issue(app: &TestApp, key: &str, pod: &str, card_type: &str) -> Value {
    let body = json!({"account_id": pod, "type": card_type});
    let response = app.post("/api/v1/sandbox/cards", Some(key), body).await;
    assert_eq!(response.status, 201, "issuing a card: {}", response.raw);
    response.body["data"].clone()
}

/// `POST /sandbox/cards/{card}/{action}` (activate, freeze, unfreeze, report-lost, report-stolen).
async fn change(app: &TestApp, key: &str, card: &str, action: &str) -> TestResponse {
    app.post_empty(&format!("/api/v1/sandbox/cards/{card}/{action}"), Some(key)).await
}

/// The card's status after `action`, which must succeed.
async fn changed(app: &TestApp, key: &str, card: &str, action: &str) -> String {
    let response = change(app, key, card, action).await;
    assert_eq!(response.status, 200, "{action}: {}", response.raw);
    response.body["data"]["status"].as_str().unwrap().to_owned()
}

/// `POST /sandbox/cards/{card}/purchases`.
async fn purchase(app: &TestApp, key: &str, card: &str, cents: i64) -> TestResponse {
    let body = json!({"amount_in_cents": cents, "merchant_name": "Blue Bottle Coffee"});
    app.post(&format!("/api/v1/sandbox/cards/{card}/purchases"), Some(key), body).await
}

/// A purchase that must succeed; returns its id.
async fn bought(app: &TestApp, key: &str, card: &str, cents: i64) -> String {
    let response = purchase(app, key, card, cents).await;
    assert_eq!(response.status, 201, "purchasing: {}", response.raw);
    response.body["data"]["id"].as_str().unwrap().to_owned()
}

/// `POST /sandbox/cards/{card}/refunds` (without `amount_in_cents` when `cents` is `None`).
async fn refund(
    app: &TestApp,
    key: &str,
    card: &str,
    purchase: &str,
    cents: Option<i64>,
) -> TestResponse {
    let mut body = json!({"purchase_id": purchase, "description": "Returned"});
    if let Some(cents) = cents {
        body["amount_in_cents"] = json!(cents);
    }
    app.post(&format!("/api/v1/sandbox/cards/{card}/refunds"), Some(key), body).await
}

/// Every transaction of `card` matching `query`, following the cursor through pages of `first`.
async fn transactions(app: &TestApp, key: &str, card: &str, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/cards/{card}/transactions?{query}");
        if let Some(cursor) = &after {
            path.push_str(&format!("&after={cursor}"));
        }
        let response = app.get(&path, Some(key)).await;
        assert_eq!(response.status, 200, "listing card transactions: {}", response.raw);
        let page = response.body["data"].as_array().unwrap();
        items.extend(page.iter().cloned());
        if response.body["page_info"]["has_next_page"] != json!(true) {
            return items;
        }
        after = Some(response.body["page_info"]["end_cursor"].as_str().unwrap().to_owned());
    }
}

/// A transaction's `created_at`.
fn created(transaction: &Value) -> DateTime<Utc> {
    transaction["created_at"].as_str().unwrap().parse().unwrap()
}

/// An organization with an admin key and a pod holding `cents`.
async fn funded_pod(app: &TestApp, cents: i64) -> (sequence_core::ids::OrgId, String, String) {
    let (org, key) = app.org_with_admin_key().await;
    let pod = app.create_pod(&key, "Spending").await;
    if cents > 0 {
        app.deposit(&key, &pod, cents).await;
    }
    (org, key, pod)
}

both_backends! {
    async fn a_card_purchase_shows_in_its_transactions_and_the_pods_balance(app: TestApp) {
        let (_, key, pod) = funded_pod(&app, 10_000).await;
        let before = app.account(&key, &pod).await["balance"]["balance_last_updated_at"].clone();
        let card = issue(&app, &key, &pod, "virtual").await;
        assert_eq!(card["status"], "active", "virtual cards are usable at once: {card}");
        assert_eq!(card["account_id"], pod.as_str());
        assert_eq!(card["holder_name"], "Test Org", "the organization's holder name by default");
        let last_four = card["last_four"].as_str().unwrap();
        assert!(last_four.len() == 4 && last_four.bytes().all(|b| b.is_ascii_digit()), "{card}");
        let expiry = card["expiration_date"].as_str().unwrap();
        assert!(expiry.len() == 5 && &expiry[2..3] == "/", "MM/YY: {card}");
        let card = card["id"].as_str().unwrap();
        assert!(card.starts_with("card_"));
        assert_eq!(app.get(&format!("/api/v1/cards/{card}"), Some(&key)).await.body["data"]["id"], card);

        let response = purchase(&app, &key, card, 4_599).await;
        assert_eq!(response.status, 201, "{}", response.raw);
        let made = &response.body["data"];
        assert!(made["id"].as_str().unwrap().starts_with("ctx_"));
        assert_eq!(made["direction"], "debit");
        assert_eq!(made["amount_in_cents"], 4_599);
        assert_eq!(made["merchant_name"], "Blue Bottle Coffee");
        assert_eq!(made["refunded_amount_in_cents"], 0);
        assert_eq!(made["purchase_id"], Value::Null);

        // Settled at once: balance and available balance drop together.
        assert_eq!(app.balances(&key, &pod).await, (5_401, 5_401));
        let after = app.account(&key, &pod).await["balance"]["balance_last_updated_at"].clone();
        assert!(after.as_str() >= before.as_str(), "{before} -> {after}");
        let listed = transactions(&app, &key, card, "").await;
        assert_eq!(listed, vec![made.clone()]);
        // Not a transfer: the pod's transfers are the deposit alone, and the id is no transfer's.
        let transfers = app.all_transfers(&key, &pod, "").await;
        assert_eq!(transfers.len(), 1, "{transfers:#?}");
        assert_eq!(transfers[0]["direction"], "money_in");
        let id = made["id"].as_str().unwrap();
        assert_error(&app.get(&format!("/api/v1/transfers/{id}"), Some(&key)).await, 404, "transfer_not_found");
    }
}

both_backends! {
    async fn card_statuses_follow_the_documented_table(app: TestApp) {
        let (_, key, pod) = funded_pod(&app, 10_000).await;
        let card = issue(&app, &key, &pod, "physical").await;
        assert_eq!(card["status"], "inactive", "physical cards wait for activation");
        let card = card["id"].as_str().unwrap();
        assert_error(&purchase(&app, &key, card, 100).await, 409, "card_not_active");
        assert_error(&change(&app, &key, card, "freeze").await, 409, "card_status_conflict");
        assert_error(&change(&app, &key, card, "unfreeze").await, 409, "card_status_conflict");
        assert_eq!(changed(&app, &key, card, "activate").await, "active");
        assert_eq!(changed(&app, &key, card, "activate").await, "active", "a repeat is a no-op");
        let kept = bought(&app, &key, card, 1_000).await;
        assert_eq!(changed(&app, &key, card, "freeze").await, "frozen");
        assert_eq!(changed(&app, &key, card, "freeze").await, "frozen");
        assert_error(&change(&app, &key, card, "activate").await, 409, "card_status_conflict");
        let declined = purchase(&app, &key, card, 100).await;
        assert_error(&declined, 409, "card_not_active");
        assert_eq!(app.balances(&key, &pod).await, (9_000, 9_000), "a decline moves nothing");
        assert_eq!(transactions(&app, &key, card, "").await.len(), 1, "and records nothing");
        assert_eq!(changed(&app, &key, card, "unfreeze").await, "active");
        assert_eq!(changed(&app, &key, card, "unfreeze").await, "active");
        assert_eq!(changed(&app, &key, card, "report-lost").await, "lost");
        assert_eq!(changed(&app, &key, card, "report-lost").await, "lost");
        for action in ["activate", "freeze", "unfreeze", "report-stolen"] {
            assert_error(&change(&app, &key, card, action).await, 409, "card_status_conflict");
        }
        assert_error(&purchase(&app, &key, card, 100).await, 409, "card_not_active");
        // A lost card still gets its refunds.
        let refunded = refund(&app, &key, card, &kept, None).await;
        assert_eq!(refunded.status, 201, "{}", refunded.raw);
        assert_eq!(app.balances(&key, &pod).await, (10_000, 10_000));

        let stolen = issue(&app, &key, &pod, "virtual").await;
        let stolen = stolen["id"].as_str().unwrap();
        assert_eq!(changed(&app, &key, stolen, "freeze").await, "frozen");
        assert_eq!(changed(&app, &key, stolen, "report-stolen").await, "stolen");
        assert_error(&change(&app, &key, stolen, "report-lost").await, 409, "card_status_conflict");
        let read = app.get(&format!("/api/v1/cards/{stolen}"), Some(&key)).await;
        assert_eq!(read.body["data"]["status"], "stolen");

        let missing = "card_01HNEVEREXISTED000000000";
        assert_error(&change(&app, &key, missing, "freeze").await, 404, "card_not_found");
        assert_error(&purchase(&app, &key, missing, 100).await, 404, "card_not_found");
    }
}

both_backends! {
    async fn purchases_spend_only_the_available_balance(app: TestApp) {
        let (_, key, pod) = funded_pod(&app, 10_000).await;
        let other = app.create_pod(&key, "Elsewhere").await;
        let card = issue(&app, &key, &pod, "virtual").await;
        let card = card["id"].as_str().unwrap();
        // A transfer in flight reserves 6000: only 4000 are available.
        let sent = app.transfer(&key, &pod, &other, 6_000).await;
        assert_eq!(sent.body["data"]["status"], "processing", "{}", sent.raw);
        assert_eq!(app.balances(&key, &pod).await, (10_000, 4_000));
        let declined = purchase(&app, &key, card, 4_001).await;
        assert_error(&declined, 409, "insufficient_funds");
        let message = declined.body["error"]["message"].as_str().unwrap();
        assert!(!message.contains("4000") && !message.contains("4001"), "no figures: {message}");
        assert_eq!(app.balances(&key, &pod).await, (10_000, 4_000), "a decline moves nothing");
        bought(&app, &key, card, 4_000).await;
        assert_eq!(app.balances(&key, &pod).await, (6_000, 0));
        assert_error(&purchase(&app, &key, card, 1).await, 409, "insufficient_funds");
        // The transfer still settles with the money it reserved.
        app.advance_clock(&key, 5 * 24 * 60 * 60).await;
        assert_eq!(app.balances(&key, &pod).await, (0, 0));
        assert_eq!(app.balances(&key, &other).await, (6_000, 6_000));
    }
}

both_backends! {
    async fn refunds_name_a_purchase_of_the_card_and_never_exceed_it(app: TestApp) {
        let (_, key, pod) = funded_pod(&app, 10_000).await;
        let card = issue(&app, &key, &pod, "virtual").await;
        let card = card["id"].as_str().unwrap();
        let other_card = issue(&app, &key, &pod, "virtual").await;
        let other_card = other_card["id"].as_str().unwrap();
        let bought_id = bought(&app, &key, card, 1_000).await;
        assert_eq!(app.balances(&key, &pod).await, (9_000, 9_000));

        let partial = refund(&app, &key, card, &bought_id, Some(300)).await;
        assert_eq!(partial.status, 201, "{}", partial.raw);
        let partial = &partial.body["data"];
        assert_eq!(partial["direction"], "credit");
        assert_eq!(partial["amount_in_cents"], 300);
        assert_eq!(partial["purchase_id"], bought_id.as_str());
        assert_eq!(partial["merchant_name"], "Blue Bottle Coffee", "the purchase's merchant");
        assert_eq!(partial["refunded_amount_in_cents"], Value::Null);
        assert_eq!(app.balances(&key, &pod).await, (9_300, 9_300));
        let listed = transactions(&app, &key, card, "").await;
        let purchase_row = listed.iter().find(|t| t["id"] == bought_id.as_str()).unwrap();
        assert_eq!(purchase_row["refunded_amount_in_cents"], 300);

        assert_error(&refund(&app, &key, card, &bought_id, Some(701)).await, 409, "refund_exceeds_purchase");
        let rest = refund(&app, &key, card, &bought_id, None).await;
        assert_eq!(rest.status, 201, "{}", rest.raw);
        assert_eq!(rest.body["data"]["amount_in_cents"], 700, "the default is what remains");
        assert_eq!(app.balances(&key, &pod).await, (10_000, 10_000), "back where it started");
        for amount in [None, Some(1)] {
            assert_error(&refund(&app, &key, card, &bought_id, amount).await, 409, "refund_exceeds_purchase");
        }
        // Only purchases of this card can be refunded.
        let refund_id = partial["id"].as_str().unwrap();
        for (path_card, purchase) in [
            (card, refund_id),
            (other_card, bought_id.as_str()),
            (card, "ctx_01HNEVEREXISTED0000000000"),
        ] {
            assert_error(&refund(&app, &key, path_card, purchase, Some(1)).await, 404, "card_transaction_not_found");
        }
        assert_eq!(app.balances(&key, &pod).await, (10_000, 10_000));
        let credits = transactions(&app, &key, card, "direction=credit").await;
        assert_eq!(credits.iter().map(|t| t["amount_in_cents"].as_i64().unwrap()).sum::<i64>(), 1_000);
    }
}

both_backends! {
    async fn cards_are_issued_on_pods_and_listed_per_pod(app: TestApp) {
        let (_, key, pod) = funded_pod(&app, 0).await;
        let other = app.create_pod(&key, "Other").await;
        let income = app.create_income_source(&key, "Payroll").await;
        let external = app.create_external_account(&key, "DEPOSITORY", 0).await;
        let first = issue(&app, &key, &pod, "virtual").await;
        let second = issue(&app, &key, &pod, "physical").await;
        let elsewhere = issue(&app, &key, &other, "virtual").await;
        let named = app
            .post("/api/v1/sandbox/cards", Some(&key), json!({"account_id": pod, "type": "virtual", "holder_name": "Jane Roe"}))
            .await;
        assert_eq!(named.body["data"]["holder_name"], "Jane Roe", "{}", named.raw);

        let list = |query: String| {
            let app = &app;
            let key = &key;
            async move {
                let response = app.get(&format!("/api/v1/cards?{query}"), Some(key)).await;
                assert_eq!(response.status, 200, "{}", response.raw);
                response.body["data"].as_array().unwrap().iter().map(|c| c["id"].clone()).collect::<Vec<_>>()
            }
        };
        assert_eq!(list(format!("account_id={pod}")).await, vec![first["id"].clone(), second["id"].clone(), named.body["data"]["id"].clone()], "oldest first");
        assert_eq!(list(format!("account_id={pod}&type=physical")).await, vec![second["id"].clone()]);
        assert_eq!(list(format!("account_id={pod}&status=inactive")).await, vec![second["id"].clone()]);
        assert_eq!(list(format!("account_id={pod}&status=frozen")).await, Vec::<Value>::new());
        assert_eq!(list(format!("account_id={other}")).await, vec![elsewhere["id"].clone()]);
        assert_eq!(list(format!("account_id={income}")).await, Vec::<Value>::new(), "no cards, not an error");
        assert_error(&app.get("/api/v1/cards?account_id=acc_01HNEVEREXISTED0000000000", Some(&key)).await, 404, "account_not_found");
        assert_error(&app.get("/api/v1/cards", Some(&key)).await, 400, "invalid_request");

        for not_a_pod in [&income, &external] {
            let body = json!({"account_id": not_a_pod, "type": "virtual"});
            assert_error(&app.post("/api/v1/sandbox/cards", Some(&key), body).await, 400, "card_account_not_pod");
        }
        let body = json!({"account_id": "acc_01HNEVEREXISTED0000000000", "type": "virtual"});
        assert_error(&app.post("/api/v1/sandbox/cards", Some(&key), body).await, 404, "account_not_found");
        let body = json!({"account_id": pod, "type": "metal"});
        assert_error(&app.post("/api/v1/sandbox/cards", Some(&key), body).await, 400, "invalid_request");
    }
}

both_backends! {
    async fn transactions_page_newest_first_and_filter(app: TestApp) {
        let (_, key, pod) = funded_pod(&app, 1_000_000).await;
        let card = issue(&app, &key, &pod, "virtual").await;
        let card = card["id"].as_str().unwrap();
        let mut made = Vec::new();
        for i in 0..13 {
            let id = bought(&app, &key, card, 100 + i).await;
            made.push(id.clone());
            if i % 3 == 0 {
                let refunded = refund(&app, &key, card, &id, Some(10)).await;
                made.push(refunded.body["data"]["id"].as_str().unwrap().to_owned());
            }
            if i % 4 == 0 {
                app.advance_clock(&key, 60).await;
            }
        }
        let all = transactions(&app, &key, card, "first=4").await;
        let mut ids: Vec<&str> = all.iter().map(|t| t["id"].as_str().unwrap()).collect();
        let keys: Vec<(DateTime<Utc>, &str)> = all.iter().map(|t| (created(t), t["id"].as_str().unwrap())).collect();
        let mut sorted = keys.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(keys, sorted, "created_at desc, then id desc");
        ids.sort_unstable();
        let mut expected: Vec<&str> = made.iter().map(String::as_str).collect();
        expected.sort_unstable();
        assert_eq!(ids, expected, "every transaction once");
        let debits = transactions(&app, &key, card, "direction=debit&first=3").await;
        assert_eq!(debits.len(), 13);
        assert!(debits.iter().all(|t| t["direction"] == "debit"));
        let credits = transactions(&app, &key, card, "direction=credit").await;
        assert_eq!(credits.len(), 5);
        // from/to bound on created_at (inclusive).
        let middle = created(&all[6]);
        let bound = middle.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let since = transactions(&app, &key, card, &format!("from={bound}")).await;
        assert!(since.iter().all(|t| created(t) >= middle));
        assert!(since.len() >= 7 && since.len() < all.len(), "{}", since.len());
        let until = transactions(&app, &key, card, &format!("to={bound}")).await;
        assert!(until.iter().all(|t| created(t) <= middle));
        let at_middle = all.iter().filter(|t| created(t) == middle).count();
        assert_eq!(since.len() + until.len(), all.len() + at_middle);
        // Malformed cursors and bounds.
        let bad = app.get(&format!("/api/v1/cards/{card}/transactions?after=zz"), Some(&key)).await;
        assert_error(&bad, 400, "invalid_request");
        let backwards = format!("/api/v1/cards/{card}/transactions?from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z");
        assert_error(&app.get(&backwards, Some(&key)).await, 400, "invalid_request");
        assert_error(&app.get("/api/v1/cards/card_01HNEVEREXISTED000000000/transactions", Some(&key)).await, 404, "card_not_found");
    }
}

both_backends! {
    async fn read_cards_is_checked_against_the_cards_pod(app: TestApp) {
        let (org, key, pod) = funded_pod(&app, 10_000).await;
        let other = app.create_pod(&key, "Other").await;
        let ours = issue(&app, &key, &pod, "virtual").await;
        let ours = ours["id"].as_str().unwrap().to_owned();
        let unlisted = issue(&app, &key, &other, "virtual").await;
        let unlisted = unlisted["id"].as_str().unwrap().to_owned();
        let (_, their_key) = app.org_with_admin_key().await;
        let their_pod = app.create_pod(&their_key, "Theirs").await;
        let theirs = issue(&app, &their_key, &their_pod, "virtual").await;
        let theirs = theirs["id"].as_str().unwrap().to_owned();

        let reader = app.key(&org, &json!([{"scope": "READ_CARDS", "resources": [pod]}]).to_string()).await;
        assert_eq!(app.get(&format!("/api/v1/cards?account_id={pod}"), Some(&reader)).await.status, 200);
        assert_eq!(app.get(&format!("/api/v1/cards/{ours}"), Some(&reader)).await.status, 200);
        assert_eq!(app.get(&format!("/api/v1/cards/{ours}/transactions"), Some(&reader)).await.status, 200);
        // Another pod of ours: 403 (after the lookup for the card operations).
        for path in [
            format!("/api/v1/cards?account_id={other}"),
            format!("/api/v1/cards/{unlisted}"),
            format!("/api/v1/cards/{unlisted}/transactions"),
        ] {
            assert_error(&app.get(&path, Some(&reader)).await, 403, "forbidden");
        }
        // Another organization's card: 404, exactly like one that never existed.
        for path in [format!("/api/v1/cards/{theirs}"), format!("/api/v1/cards/{theirs}/transactions")] {
            assert_error(&app.get(&path, Some(&reader)).await, 404, "card_not_found");
            assert_error(&app.get(&path, Some(&key)).await, 404, "card_not_found");
        }
        for action in ["freeze", "purchases"] {
            let path = format!("/api/v1/sandbox/cards/{theirs}/{action}");
            let body = (action == "purchases").then(|| json!({"amount_in_cents": 1, "merchant_name": "X"}).to_string());
            let response = app.send(request("POST", &path, Some(&key), body, &[])).await;
            assert_error(&response, 404, "card_not_found");
        }
        // Without READ_CARDS, or with another scope only.
        let none = app.key(&org, &json!([{"scope": "READ_ACCOUNTS", "resources": ["*"]}]).to_string()).await;
        assert_error(&app.get(&format!("/api/v1/cards/{ours}"), Some(&none)).await, 403, "forbidden");
        // The sandbox card operations need SANDBOX, not READ_CARDS.
        assert_error(&change(&app, &reader, &ours, "freeze").await, 403, "forbidden");
        assert_error(&purchase(&app, &reader, &ours, 100).await, 403, "forbidden");
    }
}

both_backends! {
    async fn card_transactions_are_ledger_movements(app: TestApp) {
        let (org, key, pod) = funded_pod(&app, 10_000).await;
        let card = issue(&app, &key, &pod, "virtual").await;
        let card = card["id"].as_str().unwrap();
        let spent = bought(&app, &key, card, 2_500).await;
        refund(&app, &key, card, &spent, Some(500)).await;
        bought(&app, &key, card, 1_000).await;
        assert_eq!(app.balances(&key, &pod).await, (7_000, 7_000));
        let mut conn = app.state.store.pool().acquire().await.unwrap();
        let entries = sequence_store::ledger::entries(&mut conn, &org).await.unwrap();
        let system = sequence_store::orgs::get(&mut conn, &org).await.unwrap().system_accounts;
        let mut per_movement: BTreeMap<&MovementId, Vec<(String, i64)>> = BTreeMap::new();
        for entry in &entries {
            per_movement.entry(&entry.movement).or_default().push((entry.account.to_string(), entry.amount.get()));
        }
        let cards: Vec<_> = per_movement.iter().filter(|(m, _)| matches!(m, MovementId::CardTransaction(_))).collect();
        assert_eq!(cards.len(), 3, "{per_movement:#?}");
        for (movement, sides) in &cards {
            assert_eq!(sides.len(), 2, "{movement:?}");
            assert_eq!(sides.iter().map(|(_, a)| a).sum::<i64>(), 0, "{movement:?} balances");
            assert!(sides.iter().any(|(a, _)| *a == pod) && sides.iter().any(|(a, _)| *a == system.outside_world.as_str()));
        }
        let postings: Vec<Posting> =
            entries.iter().map(|e| Posting { account: e.account.clone(), amount_delta: e.amount }).collect();
        let replayed = replay(&postings).unwrap();
        assert_eq!(replayed[&AccountId::from_raw(pod.as_str())], Cents::new(7_000));
        assert_eq!(replayed.values().map(|c| c.get()).sum::<i64>(), 0, "money is conserved");
        // The outside world received what the card spent net of refunds, and sent the deposit.
        assert_eq!(replayed[&system.outside_world], Cents::new(-10_000 + 3_000));
    }
}

both_backends! {
    async fn a_purchase_with_an_idempotency_key_happens_once(app: TestApp) {
        let (_, key, pod) = funded_pod(&app, 10_000).await;
        let card = issue(&app, &key, &pod, "virtual").await;
        let path = format!("/api/v1/sandbox/cards/{}/purchases", card["id"].as_str().unwrap());
        let body = json!({"amount_in_cents": 1_234, "merchant_name": "Bookshop"});
        let first = app.post_idempotent(&path, &key, "card-purchase-1", body.clone()).await;
        let again = app.post_idempotent(&path, &key, "card-purchase-1", body).await;
        assert_eq!(first.status, 201, "{}", first.raw);
        assert_eq!((again.status, &again.raw), (first.status, &first.raw), "a replay");
        assert_eq!(app.balances(&key, &pod).await, (8_766, 8_766), "charged once");
        let other = json!({"amount_in_cents": 1, "merchant_name": "Bookshop"});
        let mismatch = app.post_idempotent(&path, &key, "card-purchase-1", other).await;
        assert_error(&mismatch, 400, "idempotency_key_mismatch");
        // A declined purchase is not stored: the same key tries again once funds arrive.
        let big = json!({"amount_in_cents": 20_000, "merchant_name": "Bookshop"});
        assert_error(&app.post_idempotent(&path, &key, "card-purchase-2", big.clone()).await, 409, "insufficient_funds");
        app.deposit(&key, &pod, 20_000).await;
        assert_eq!(app.post_idempotent(&path, &key, "card-purchase-2", big).await.status, 201);
    }
}

both_backends! {
    async fn a_deleted_pods_cards_stay_readable_but_cannot_be_used(app: TestApp) {
        let (_, key, pod) = funded_pod(&app, 1_000).await;
        let card = issue(&app, &key, &pod, "virtual").await;
        let card = card["id"].as_str().unwrap();
        let spent = bought(&app, &key, card, 1_000).await;
        let deleted = app.delete(&format!("/api/v1/accounts/{pod}"), Some(&key)).await;
        assert_eq!(deleted.status, 204, "an empty pod can be deleted: {}", deleted.raw);
        assert_eq!(app.get(&format!("/api/v1/cards/{card}"), Some(&key)).await.status, 200);
        assert_eq!(transactions(&app, &key, card, "").await.len(), 1);
        assert_error(&purchase(&app, &key, card, 1).await, 404, "account_not_found");
        assert_error(&refund(&app, &key, card, &spent, None).await, 404, "account_not_found");
        let body = json!({"account_id": pod, "type": "virtual"});
        assert_error(&app.post("/api/v1/sandbox/cards", Some(&key), body).await, 404, "account_not_found");
        assert_error(&app.get(&format!("/api/v1/cards?account_id={pod}"), Some(&key)).await, 404, "account_not_found");
    }
}

#[tokio::test]
async fn card_operations_need_the_sandbox() {
    let app = TestApp::with_sandbox(false).await;
    let (_, key) = app.org_with_admin_key().await;
    let pod = app.create_pod(&key, "Pod").await;
    let body = json!({"account_id": pod, "type": "virtual"});
    assert_error(&app.post("/api/v1/sandbox/cards", Some(&key), body).await, 404, "not_found");
    // The public Cards operations are there, with nothing to show.
    let listed = app.get(&format!("/api/v1/cards?account_id={pod}"), Some(&key)).await;
    assert_eq!(listed.body["data"], json!([]), "{}", listed.raw);
}

/// Sends `requests` at once (one router, a barrier), returns the responses in order.
async fn all_at_once(
    app: &TestApp,
    requests: Vec<axum::http::Request<axum::body::Body>>,
) -> Vec<TestResponse> {
    let router = app.router();
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(requests.len()));
    let mut calls = JoinSet::new();
    for (index, request) in requests.into_iter().enumerate() {
        let (router, start) = (router.clone(), start.clone());
        calls.spawn(async move {
            start.wait().await;
            (index, send_to(router, request).await)
        });
    }
    let mut responses = calls.join_all().await;
    responses.sort_by_key(|(index, _)| *index);
    responses.into_iter().map(|(_, response)| response).collect()
}

both_backends_parallel! {
    async fn racing_purchases_and_transfers_never_overdraw_the_pod(app: TestApp) {
        let (_, key, pod) = funded_pod(&app, 15_000).await;
        let other = app.create_pod(&key, "Other").await;
        let cards = [issue(&app, &key, &pod, "virtual").await, issue(&app, &key, &pod, "virtual").await];
        // 30 purchases of $10 on two cards and 10 transfers of $10 race for $150.
        let mut requests = Vec::new();
        for i in 0..40 {
            let (path, body) = if i % 4 == 3 {
                ("/api/v1/transfers".to_owned(), json!({"source_account_id": pod, "destination_account_id": other, "amount_in_cents": 1_000}))
            } else {
                let card = cards[i % 2]["id"].as_str().unwrap();
                (format!("/api/v1/sandbox/cards/{card}/purchases"), json!({"amount_in_cents": 1_000, "merchant_name": "Racer"}))
            };
            requests.push(request("POST", &path, Some(&key), Some(body.to_string()), &[]));
        }
        let responses = all_at_once(&app, requests).await;
        let (mut bought, mut sent) = (0, 0);
        for response in &responses {
            match (response.status.as_u16(), response.body["data"]["status"].as_str()) {
                (201, Some("processing")) => sent += 1,
                (201, Some("error")) => assert_eq!(response.body["data"]["error_code"], "insufficient_funds"),
                (201, None) => bought += 1,
                (409, _) => assert_error(response, 409, "insufficient_funds"),
                _ => panic!("unexpected answer: {}", response.raw),
            }
        }
        assert_eq!(bought + sent, 15, "exactly the money there was: {bought} purchases, {sent} transfers");
        let spent = 1_000 * bought;
        assert_eq!(app.balances(&key, &pod).await, (15_000 - spent, 0));
        let mut listed = 0;
        for card in &cards {
            listed += transactions(&app, &key, card["id"].as_str().unwrap(), "first=100").await.len();
        }
        assert_eq!(listed as i64, bought, "every accepted purchase is listed, no declined one");
        app.advance_clock(&key, 5 * 24 * 60 * 60).await;
        assert_eq!(app.balances(&key, &pod).await, (0, 0));
    }
}

both_backends_parallel! {
    async fn racing_refunds_never_exceed_their_purchase(app: TestApp) {
        let (_, key, pod) = funded_pod(&app, 10_000).await;
        let card = issue(&app, &key, &pod, "virtual").await;
        let card = card["id"].as_str().unwrap();
        let spent = bought(&app, &key, card, 1_000).await;
        let path = format!("/api/v1/sandbox/cards/{card}/refunds");
        let requests = (0..24)
            .map(|_| {
                let body = json!({"purchase_id": spent, "amount_in_cents": 100});
                request("POST", &path, Some(&key), Some(body.to_string()), &[])
            })
            .collect();
        let responses = all_at_once(&app, requests).await;
        let refunded = responses.iter().filter(|r| r.status == 201).count();
        for response in responses.iter().filter(|r| r.status != 201) {
            assert_error(response, 409, "refund_exceeds_purchase");
        }
        assert_eq!(refunded, 10, "ten refunds of 100 fit in a purchase of 1000");
        assert_eq!(app.balances(&key, &pod).await, (10_000, 10_000));
        let listed = transactions(&app, &key, card, "direction=debit").await;
        assert_eq!(listed[0]["refunded_amount_in_cents"], 1_000);
    }
}
