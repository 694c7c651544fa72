//! createTransfer, listTransfers, getTransfer and the ledger behaviour behind them: the lifecycle
//! driven by the sandbox clock, insufficient funds, approvals, simulations, filters, pagination,
//! visibility, account deletion, `max_amount` and which accounts may send or receive. Every test
//! runs on SQLite and on PostgreSQL.

use serde_json::{Value, json};

use crate::harness::{TestApp, assert_error, both_backends};

const FIVE_DAYS: i64 = 5 * 24 * 60 * 60;

/// An organization with an all-scopes key, a funded income source and two empty pods.
struct Fixture {
    app: TestApp,
    key: String,
    org: sequence_core::ids::OrgId,
    income: String,
    pod: String,
    savings: String,
}

async fn fixture(app: TestApp, funds: i64) -> Fixture {
    let (org, key) = app.org_with_admin_key().await;
    let income = app.create_income_source(&key, "Payroll").await;
    let pod = app.create_pod(&key, "Bills").await;
    let savings = app.create_pod(&key, "Savings").await;
    if funds > 0 {
        app.deposit(&key, &income, funds).await;
    }
    Fixture { app, key, org, income, pod, savings }
}

fn id(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(id).collect()
}

/// When a transfer (as JSON) was created.
fn created_at(transfer: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(transfer["created_at"].as_str().expect("created_at"))
        .expect("RFC 3339")
}

/// The ids of `items` in the documented list order: `created_at` descending, then id descending.
fn newest_first<'a>(items: impl IntoIterator<Item = &'a Value>) -> Vec<String> {
    let mut items: Vec<&Value> = items.into_iter().collect();
    items.sort_by_key(|t| std::cmp::Reverse((created_at(t), id(t))));
    items.into_iter().map(id).collect()
}

fn created(response: &crate::harness::TestResponse) -> Value {
    assert_eq!(response.status, 201, "{}", response.raw);
    response.body["data"].clone()
}

both_backends! {
    async fn lifecycle_processing_pending_complete_via_the_clock(app: TestApp) {
        let f = fixture(app, 500_000).await;
        let (app, key) = (&f.app, f.key.as_str());

        // Internal: processing at once, funds reserved, pending immediately, complete 30 s later.
        let internal = created(&app.transfer(key, &f.income, &f.pod, 120_000).await);
        assert_eq!(internal["status"], "processing");
        assert_eq!(internal["direction"], "internal");
        assert_eq!(internal["origin"], "user");
        assert_eq!(internal["simulation"], false);
        assert_eq!(internal["error_code"], Value::Null);
        assert_eq!(internal["completed_at"], Value::Null);
        assert_eq!(internal["source"], json!({"id": f.income, "name": "Payroll", "type": "income_source", "is_deleted": false}));
        assert_eq!(internal["destination"], json!({"id": f.pod, "name": "Bills", "type": "pod", "is_deleted": false}));
        assert_eq!(app.transfer_by_id(key, &id(&internal)).await, internal, "a read returns what the create returned");
        assert_eq!(app.balances(key, &f.income).await, (500_000, 380_000), "reserved at acceptance");
        assert_eq!(app.balances(key, &f.pod).await, (0, 0), "incoming money counts at completion");

        let clock = app.advance_clock(key, 1).await;
        assert_eq!(clock["transfers_settled"], 0);
        assert_eq!(app.transfer_by_id(key, &id(&internal)).await["status"], "pending");
        assert_eq!(app.balances(key, &f.income).await, (500_000, 380_000));

        let clock = app.advance_clock(key, 30).await;
        assert_eq!(clock["transfers_settled"], 1);
        let done = app.transfer_by_id(key, &id(&internal)).await;
        assert_eq!(done["status"], "complete");
        let created_at = chrono::DateTime::parse_from_rfc3339(internal["created_at"].as_str().unwrap()).unwrap();
        let completed_at = chrono::DateTime::parse_from_rfc3339(done["completed_at"].as_str().unwrap()).unwrap();
        assert_eq!(completed_at - created_at, chrono::TimeDelta::seconds(30), "settles on its schedule, not at the advance");
        assert_eq!(app.balances(key, &f.income).await, (380_000, 380_000));
        assert_eq!(app.balances(key, &f.pod).await, (120_000, 120_000));

        // Out to a card: pending after a minute, complete within five days; the card's reported
        // balance (money owed) drops by the payment.
        let card = app.create_external_account(key, "LIABILITY", 100_000).await;
        let payment = created(&app.transfer(key, &f.pod, &card, 20_000).await);
        assert_eq!((payment["direction"].as_str(), payment["origin"].as_str()), (Some("money_out"), Some("user")));
        // In from a linked bank account: a pull, nothing reserved on the external side.
        let bank = app.create_external_account(key, "DEPOSITORY", 50_000).await;
        let pull = created(&app.transfer(key, &bank, &f.pod, 5_000).await);
        assert_eq!((pull["direction"].as_str(), pull["origin"].as_str()), (Some("money_in"), Some("user_pull")));
        assert_eq!(pull["status"], "processing");
        assert_eq!(app.balances(key, &f.pod).await, (120_000, 100_000));

        app.advance_clock(key, 59).await;
        assert_eq!(app.transfer_by_id(key, &id(&payment)).await["status"], "processing");
        app.advance_clock(key, 1).await;
        assert_eq!(app.transfer_by_id(key, &id(&payment)).await["status"], "pending");
        assert_eq!(app.transfer_by_id(key, &id(&pull)).await["status"], "pending");

        let clock = app.advance_clock(key, FIVE_DAYS).await;
        assert_eq!(clock["transfers_settled"], 2);
        for transfer in [&payment, &pull] {
            assert_eq!(app.transfer_by_id(key, &id(transfer)).await["status"], "complete");
        }
        assert_eq!(app.balances(key, &f.pod).await, (105_000, 105_000));
        assert_eq!(app.account(key, &card).await["balance"]["balance_in_cents"], 80_000);
        assert_eq!(app.account(key, &bank).await["balance"]["balance_in_cents"], 45_000);
        assert_eq!(app.account(key, &bank).await["balance"]["available_balance_in_cents"], Value::Null);

        // Nothing is left in flight; a further advance settles nothing.
        assert_eq!(app.advance_clock(key, FIVE_DAYS).await["transfers_settled"], 0);
    }
}

both_backends! {
    async fn insufficient_funds_is_a_recorded_error_that_moves_nothing(app: TestApp) {
        let f = fixture(app, 10_000).await;
        let (app, key) = (&f.app, f.key.as_str());
        let short = created(&app.transfer(key, &f.income, &f.pod, 10_001).await);
        assert_eq!(short["status"], "error");
        assert_eq!(short["error_code"], "insufficient_funds");
        assert_eq!(app.balances(key, &f.income).await, (10_000, 10_000), "nothing reserved");

        let exact = created(&app.transfer(key, &f.income, &f.pod, 10_000).await);
        assert_eq!(exact["status"], "processing", "exactly the available balance is enough");
        assert_eq!(app.balances(key, &f.income).await, (10_000, 0));
        let nothing_left = created(&app.transfer(key, &f.income, &f.savings, 100).await);
        assert_eq!(nothing_left["error_code"], "insufficient_funds", "reserved money is not available");

        // Funds are checked before the approval threshold.
        let threshold = app.put("/api/v1/sandbox/organization", Some(key), json!({"approval_threshold_in_cents": 5_000})).await;
        assert_eq!(threshold.status, 200, "{}", threshold.raw);
        let big = created(&app.transfer(key, &f.income, &f.pod, 50_000).await);
        assert_eq!((big["status"].as_str(), big["error_code"].as_str()), (Some("error"), Some("insufficient_funds")));

        app.advance_clock(key, FIVE_DAYS).await;
        for failed in [&short, &nothing_left, &big] {
            let now = app.transfer_by_id(key, &id(failed)).await;
            assert_eq!(now, *failed, "an error is final");
        }
        assert_eq!(app.balances(key, &f.income).await, (0, 0));
        assert_eq!(app.balances(key, &f.pod).await, (10_000, 10_000));
        let errors = app.all_transfers(key, &f.income, "status=error").await;
        assert_eq!(ids(&errors), newest_first([&big, &nothing_left, &short]));
    }
}

both_backends! {
    async fn approval_threshold_holds_transfers_until_approved_or_declined(app: TestApp) {
        let f = fixture(app, 500_000).await;
        let (app, key) = (&f.app, f.key.as_str());
        let set = app.put("/api/v1/sandbox/organization", Some(key), json!({"approval_threshold_in_cents": 100_000})).await;
        assert_eq!(set.body["data"]["approval_threshold_in_cents"], 100_000);

        let waiting = created(&app.transfer(key, &f.income, &f.pod, 100_000).await);
        assert_eq!(waiting["status"], "pending_approval", "amounts at the threshold need approval");
        let below = created(&app.transfer(key, &f.income, &f.pod, 99_999).await);
        assert_eq!(below["status"], "processing");
        assert_eq!(app.balances(key, &f.income).await, (500_000, 300_001), "waiting transfers reserve funds");

        // Time passing does not move a transfer that waits for a person.
        assert_eq!(app.advance_clock(key, FIVE_DAYS).await["transfers_settled"], 1);
        assert_eq!(app.transfer_by_id(key, &id(&waiting)).await["status"], "pending_approval");

        let approve = format!("/api/v1/sandbox/transfers/{}/approve", id(&waiting));
        let approved = app.post_empty(&approve, Some(key)).await;
        assert_eq!(approved.status, 200, "{}", approved.raw);
        assert_eq!(approved.body["data"]["status"], "processing");
        assert_error(&app.post_empty(&approve, Some(key)).await, 409, "transfer_not_pending_approval");
        assert_eq!(app.balances(key, &f.income).await, (400_001, 300_001), "still reserved after approval");
        // Its schedule starts at the approval.
        assert_eq!(app.advance_clock(key, 31).await["transfers_settled"], 1);
        assert_eq!(app.transfer_by_id(key, &id(&waiting)).await["status"], "complete");
        assert_eq!(app.balances(key, &f.income).await, (300_001, 300_001));
        assert_eq!(app.balances(key, &f.pod).await, (199_999, 199_999));

        let declined_one = created(&app.transfer(key, &f.income, &f.savings, 300_001).await);
        assert_eq!(declined_one["status"], "pending_approval");
        assert_eq!(app.balances(key, &f.income).await, (300_001, 0));
        let decline = format!("/api/v1/sandbox/transfers/{}/decline", id(&declined_one));
        let declined = app.post_empty(&decline, Some(key)).await;
        assert_eq!(declined.status, 200, "{}", declined.raw);
        assert_eq!(declined.body["data"]["status"], "cancelled");
        assert_eq!(app.balances(key, &f.income).await, (300_001, 300_001), "declining releases the reservation");
        assert_error(&app.post_empty(&decline, Some(key)).await, 409, "transfer_not_pending_approval");
        assert_error(&app.post_empty(&approve.replace(&id(&waiting), &id(&declined_one)), Some(key)).await, 409, "transfer_not_pending_approval");
        assert_error(&app.post_empty("/api/v1/sandbox/transfers/txr_missing/approve", Some(key)).await, 404, "transfer_not_found");
        app.advance_clock(key, FIVE_DAYS).await;
        assert_eq!(app.balances(key, &f.savings).await, (0, 0), "a cancelled transfer never settles");

        // Deposits never wait; clearing the threshold lets big transfers through.
        let deposit = app.deposit(key, &f.income, 1_000_000).await;
        assert_eq!(deposit["status"], "complete");
        let cleared = app.put("/api/v1/sandbox/organization", Some(key), json!({"approval_threshold_in_cents": null})).await;
        assert_eq!(cleared.body["data"]["approval_threshold_in_cents"], Value::Null);
        assert_eq!(created(&app.transfer(key, &f.income, &f.pod, 1_000_000).await)["status"], "processing");
    }
}

both_backends! {
    async fn simulations_are_recorded_listed_on_request_and_move_nothing(app: TestApp) {
        let f = fixture(app, 100_000).await;
        let (app, key) = (&f.app, f.key.as_str());
        let simulate = |amount: i64| {
            json!({"source_account_id": f.income, "destination_account_id": f.pod, "amount_in_cents": amount, "simulation": true})
        };
        let ok = created(&app.post("/api/v1/transfers", Some(key), simulate(40_000)).await);
        assert_eq!((ok["status"].as_str(), ok["simulation"].as_bool()), (Some("processing"), Some(true)));
        let short = created(&app.post("/api/v1/transfers", Some(key), simulate(100_001)).await);
        assert_eq!((short["status"].as_str(), short["error_code"].as_str()), (Some("error"), Some("insufficient_funds")));
        app.put("/api/v1/sandbox/organization", Some(key), json!({"approval_threshold_in_cents": 50_000})).await;
        let waiting = created(&app.post("/api/v1/transfers", Some(key), simulate(60_000)).await);
        assert_eq!(waiting["status"], "pending_approval");
        assert_eq!(app.balances(key, &f.income).await, (100_000, 100_000), "simulations reserve nothing");
        let approve = format!("/api/v1/sandbox/transfers/{}/approve", id(&waiting));
        assert_error(&app.post_empty(&approve, Some(key)).await, 409, "transfer_not_pending_approval");

        let live = created(&app.transfer(key, &f.income, &f.pod, 1_000).await);
        assert_eq!(app.advance_clock(key, FIVE_DAYS).await["transfers_settled"], 1, "only the live transfer settles");
        for simulated in [&ok, &short, &waiting] {
            assert_eq!(app.transfer_by_id(key, &id(simulated)).await, *simulated, "simulations never change");
        }
        assert_eq!(app.balances(key, &f.income).await, (99_000, 99_000));
        assert_eq!(app.balances(key, &f.pod).await, (1_000, 1_000));

        let deposit_and_live = app.all_transfers(key, &f.income, "").await;
        assert_eq!(deposit_and_live.len(), 2, "excluded from default lists");
        assert!(deposit_and_live.iter().all(|t| t["simulation"] == false));
        assert_eq!(ids(&app.all_transfers(key, &f.income, "execution_mode=live").await), ids(&deposit_and_live));
        let simulations = app.all_transfers(key, &f.pod, "execution_mode=simulation").await;
        assert_eq!(ids(&simulations), newest_first([&waiting, &short, &ok]));
        let everything = app.all_transfers(key, &f.pod, "execution_mode=all").await;
        assert_eq!(ids(&everything), newest_first([&live, &waiting, &short, &ok]));
    }
}

both_backends! {
    async fn list_filters_match_their_definitions(app: TestApp) {
        let f = fixture(app, 0).await;
        let (app, key) = (&f.app, f.key.as_str());
        let card = app.create_external_account(key, "LIABILITY", 10_000).await;
        let bank = app.create_external_account(key, "DEPOSITORY", 90_000).await;
        // Spread over time (the clock moves a minute between each) and over every direction,
        // status, origin and mode.
        app.deposit(key, &f.pod, 50_000).await;
        let steps: Vec<(&str, &str, i64, bool)> = vec![
            (&f.income, &f.pod, 1_000, false),   // insufficient funds: the income source is empty
            (&f.pod, &f.savings, 2_000, false),  // internal
            (&f.pod, &card, 3_000, false),       // money_out
            (&bank, &f.pod, 4_000, false),       // money_in, user_pull
            (&f.savings, &f.pod, 500, false),    // internal, savings may be empty then: error
            (&f.pod, &f.savings, 6_000, true),   // simulation
        ];
        for (source, destination, amount, simulation) in steps {
            let body = json!({"source_account_id": source, "destination_account_id": destination, "amount_in_cents": amount, "simulation": simulation});
            created(&app.post("/api/v1/transfers", Some(key), body).await);
            app.advance_clock(key, 60).await;
        }
        app.deposit(key, &f.pod, 7_000).await;
        let pending = created(&app.transfer(key, &f.pod, &card, 8_000).await);
        assert_eq!(pending["status"], "processing");

        let all = app.all_transfers(key, &f.pod, "execution_mode=all").await;
        assert_eq!(all.len(), 9, "two deposits, six steps, one payment");
        assert_eq!(newest_first(&all), ids(&all), "newest first, then id descending");

        let side = |t: &Value, field: &str| t[field]["id"].as_str().map(str::to_owned);
        let pod = Some(f.pod.clone());
        type Check<'a> = (String, Box<dyn Fn(&Value) -> bool + 'a>);
        let checks: Vec<Check> = vec![
            ("".into(), Box::new(|t: &Value| t["simulation"] == false)),
            ("account_role=either".into(), Box::new(|t: &Value| t["simulation"] == false)),
            ("account_role=source".into(), Box::new(|t: &Value| t["simulation"] == false && side(t, "source") == pod)),
            ("account_role=destination".into(), Box::new(|t: &Value| t["simulation"] == false && side(t, "destination") == pod)),
            ("direction=internal".into(), Box::new(|t: &Value| t["simulation"] == false && t["direction"] == "internal")),
            ("direction=money_in".into(), Box::new(|t: &Value| t["simulation"] == false && t["direction"] == "money_in")),
            ("direction=money_out&execution_mode=all".into(), Box::new(|t: &Value| t["direction"] == "money_out")),
            ("origin=user_pull".into(), Box::new(|t: &Value| t["simulation"] == false && t["origin"] == "user_pull")),
            ("origin=paycheck".into(), Box::new(|t: &Value| t["simulation"] == false && t["origin"] == "paycheck")),
            ("status=complete".into(), Box::new(|t: &Value| t["simulation"] == false && t["status"] == "complete")),
            ("status=processing&execution_mode=all".into(), Box::new(|t: &Value| t["status"] == "processing")),
            ("status=error&account_role=destination".into(), Box::new(|t: &Value| {
                t["simulation"] == false && t["status"] == "error" && side(t, "destination") == pod
            })),
            ("execution_mode=simulation".into(), Box::new(|t: &Value| t["simulation"] == true)),
        ];
        for (query, keep) in &checks {
            let expected: Vec<String> = all.iter().filter(|t| keep(t)).map(id).collect();
            assert!(!expected.is_empty(), "the fixture exercises `{query}`");
            assert_eq!(ids(&app.all_transfers(key, &f.pod, query).await), expected, "filter `{query}`");
        }

        // from/to are inclusive bounds on created_at.
        let stamps: Vec<&str> = all.iter().map(|t| t["created_at"].as_str().unwrap()).collect();
        let (to, from) = (stamps[1], stamps[5]);
        let query = format!("execution_mode=all&from={from}&to={to}");
        let expected: Vec<String> =
            all.iter().filter(|t| created_at(t) >= created_at(&all[5]) && created_at(t) <= created_at(&all[1])).map(id).collect();
        assert!(expected.len() >= 5);
        assert_eq!(ids(&app.all_transfers(key, &f.pod, &query).await), expected);
        let only = format!("execution_mode=all&from={to}&to={to}");
        assert_eq!(ids(&app.all_transfers(key, &f.pod, &only).await), [id(&all[1])], "a single instant");
        let inverted = app.get(&format!("/api/v1/transfers?account_id={}&from={to}&to={from}", f.pod), Some(key)).await;
        assert_error(&inverted, 400, "invalid_request");

        assert_error(&app.get("/api/v1/transfers?account_id=acc_missing", Some(key)).await, 404, "account_not_found");
        assert_error(&app.get(&format!("/api/v1/transfers?account_id={}&status=done", f.pod), Some(key)).await, 400, "invalid_request");
        assert_error(&app.get("/api/v1/transfers", Some(key)).await, 400, "invalid_request");
    }
}

both_backends! {
    async fn cursor_pagination_walks_newest_first_without_gaps(app: TestApp) {
        let f = fixture(app, 0).await;
        let (app, key) = (&f.app, f.key.as_str());
        // Deposits in quick succession: several share a millisecond, so the id breaks ties.
        let mut made = Vec::new();
        for n in 0..7 {
            made.push(id(&app.deposit(key, &f.pod, 100 + n).await));
        }
        let all = app.all_transfers(key, &f.pod, "").await;
        assert_eq!(all.len(), 7);
        let expected = newest_first(&all);
        assert_eq!(ids(&all), expected);
        let mut listed = expected.clone();
        listed.sort();
        made.sort();
        assert_eq!(listed, made, "every deposit, once");

        let mut pages = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/transfers?account_id={}&first=3", f.pod);
            if let Some(cursor) = &after {
                path.push_str(&format!("&after={cursor}"));
            }
            let page = app.get(&path, Some(key)).await;
            assert_eq!(page.status, 200, "{}", page.raw);
            let data = page.body["data"].as_array().unwrap().clone();
            let info = &page.body["page_info"];
            assert_eq!(info["end_cursor"].is_string(), !data.is_empty());
            pages.push(ids(&data));
            if info["has_next_page"] == false {
                break;
            }
            after = Some(info["end_cursor"].as_str().unwrap().to_owned());
        }
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
        assert_eq!(pages.concat(), expected);

        let empty = app.get(&format!("/api/v1/transfers?account_id={}", f.savings), Some(key)).await;
        assert_eq!(empty.body["data"], json!([]));
        assert_eq!(empty.body["page_info"], json!({"end_cursor": null, "has_next_page": false}));
        for bad in ["nonsense", "zz", "2e"] {
            let response = app.get(&format!("/api/v1/transfers?account_id={}&after={bad}", f.pod), Some(key)).await;
            assert_error(&response, 400, "invalid_request");
        }
        for bad in ["0", "101"] {
            let response = app.get(&format!("/api/v1/transfers?account_id={}&first={bad}", f.pod), Some(key)).await;
            assert_error(&response, 400, "invalid_request");
        }
    }
}

both_backends! {
    async fn get_transfer_is_visible_through_its_source_or_destination(app: TestApp) {
        let f = fixture(app, 50_000).await;
        let (app, key) = (&f.app, f.key.as_str());
        let transfer = id(&created(&app.transfer(key, &f.income, &f.pod, 1_000).await));
        let deposit = id(&app.all_transfers(key, &f.income, "origin=paycheck").await[0]);
        let reader = |ids: &[&str]| {
            let list = ids.iter().map(|id| format!("\"{id}\"")).collect::<Vec<_>>().join(",");
            format!(r#"[{{"scope":"READ_TRANSFERS","resources":[{list}]}}]"#)
        };
        let via_source = app.key(&f.org, &reader(&[&f.income])).await;
        let via_destination = app.key(&f.org, &reader(&[&f.pod])).await;
        let unrelated = app.key(&f.org, &reader(&[&f.savings])).await;
        let path = format!("/api/v1/transfers/{transfer}");
        assert_eq!(app.get(&path, Some(&via_source)).await.status, 200);
        assert_eq!(app.get(&path, Some(&via_destination)).await.status, 200);
        assert_error(&app.get(&path, Some(&unrelated)).await, 403, "forbidden");
        // A deposit has no source: its destination decides.
        assert_eq!(app.get(&format!("/api/v1/transfers/{deposit}"), Some(&via_source)).await.status, 200);
        assert_error(&app.get(&format!("/api/v1/transfers/{deposit}"), Some(&via_destination)).await, 403, "forbidden");
        // The transfer is looked up before the permission is checked.
        assert_error(&app.get("/api/v1/transfers/txr_missing", Some(&unrelated)).await, 404, "transfer_not_found");
    }
}

both_backends! {
    async fn delete_account_is_refused_while_money_or_transfers_remain(app: TestApp) {
        let f = fixture(app, 50_000).await;
        let (app, key) = (&f.app, f.key.as_str());
        let delete = async |id: &str| app.delete(&format!("/api/v1/accounts/{id}"), Some(key)).await;

        assert_error(&delete(&f.income).await, 409, "account_not_empty");
        // An in-flight incoming transfer blocks the destination (and the source).
        let incoming = created(&app.transfer(key, &f.income, &f.savings, 50_000).await);
        assert_error(&delete(&f.savings).await, 409, "account_not_empty");
        assert_error(&delete(&f.income).await, 409, "account_not_empty");
        app.advance_clock(key, 60).await;
        // Settled: the income source is empty and idle, the savings pod holds the money.
        let deleted = delete(&f.income).await;
        assert_eq!(deleted.status, 204, "{}", deleted.raw);
        assert_eq!(deleted.raw, "", "no body");
        assert_error(&delete(&f.savings).await, 409, "account_not_empty");
        created(&app.transfer(key, &f.savings, &f.pod, 50_000).await);
        app.advance_clock(key, 60).await;
        assert_eq!(delete(&f.savings).await.status, 204);

        // Deleted: not found anywhere it is looked up, but still in transfer history.
        assert_error(&delete(&f.savings).await, 404, "account_not_found");
        assert_error(&app.get(&format!("/api/v1/accounts/{}", f.savings), Some(key)).await, 404, "account_not_found");
        let listing = app.get(&format!("/api/v1/transfers?account_id={}", f.savings), Some(key)).await;
        assert_error(&listing, 404, "account_not_found");
        let listed = app.get("/api/v1/accounts", Some(key)).await;
        assert_eq!(ids(listed.body["data"].as_array().unwrap()), std::slice::from_ref(&f.pod));
        let history = app.transfer_by_id(key, &id(&incoming)).await;
        assert_eq!(history["source"]["is_deleted"], true);
        assert_eq!(history["destination"]["is_deleted"], true);
        assert_eq!(history["destination"]["name"], "Savings");
        let refused = app.transfer(key, &f.pod, &f.savings, 100).await;
        assert_error(&refused, 400, "transfer_destination_not_found");
        let refused = app.deposit_response(key, &f.savings, 100).await;
        assert_error(&refused, 404, "account_not_found");

        // External accounts: their own balance does not block, an in-flight transfer does.
        let card = app.create_external_account(key, "LIABILITY", 99_000).await;
        created(&app.transfer(key, &f.pod, &card, 1_000).await);
        assert_error(&delete(&card).await, 409, "account_not_empty");
        app.advance_clock(key, FIVE_DAYS).await;
        assert_eq!(delete(&card).await.status, 204);
        assert_error(&delete("acc_missing").await, 404, "account_not_found");
    }
}

both_backends! {
    async fn max_amount_caps_a_pair_with_maximum_amount_exceeded(app: TestApp) {
        let f = fixture(app, 100_000).await;
        let (app, key) = (&f.app, f.key.as_str());
        let capped = app
            .key(
                &f.org,
                &format!(
                    r#"[{{"scope":"MANUAL_TRANSFER","resources":[{{"source":"{}","target":"{}","max_amount":10000}},{{"source":"{}","target":"*","max_amount":5000}}]}}]"#,
                    f.income, f.pod, f.income
                ),
            )
            .await;
        assert_eq!(app.transfer(&capped, &f.income, &f.pod, 10_000).await.status, 201, "up to the cap");
        let over = app.transfer(&capped, &f.income, &f.pod, 10_001).await;
        assert_error(&over, 403, "maximum_amount_exceeded");
        assert!(over.body["error"]["message"].as_str().unwrap().contains("10000"), "{}", over.raw);
        assert_eq!(app.transfer(&capped, &f.income, &f.savings, 5_000).await.status, 201, "the wildcard pair");
        assert_error(&app.transfer(&capped, &f.income, &f.savings, 5_001).await, 403, "maximum_amount_exceeded");
        assert_error(&app.transfer(&capped, &f.pod, &f.income, 100).await, 403, "forbidden");
        assert_error(&app.transfer(&capped, &f.pod, &f.savings, 100).await, 403, "forbidden");
        // The permission is checked before existence: an unknown account in a covered pair is
        // 400, one outside every pair is 403.
        assert_error(&app.transfer(&capped, &f.income, "acc_missing", 100).await, 400, "transfer_destination_not_found");
        assert_error(&app.transfer(&capped, "acc_missing", &f.pod, 100).await, 403, "forbidden");
        let made = app.all_transfers(key, &f.income, "account_role=source").await;
        assert_eq!(made.len(), 2, "refused requests created nothing");
    }
}

both_backends! {
    async fn can_be_source_and_can_be_destination_are_enforced(app: TestApp) {
        let f = fixture(app, 100_000).await;
        let (app, key) = (&f.app, f.key.as_str());
        let card = app.create_external_account(key, "LIABILITY", 1_000).await;
        let bank = app.create_external_account(key, "DEPOSITORY", 1_000).await;
        let broker = app.create_external_account(key, "INVESTMENT", 1_000).await;
        let other_income = app.create_income_source(key, "Side job").await;
        app.deposit(key, &f.pod, 10_000).await;

        assert_error(&app.transfer(key, &f.pod, &f.income, 100).await, 400, "account_cannot_be_destination");
        assert_error(&app.transfer(key, &f.income, &other_income, 100).await, 400, "account_cannot_be_destination");
        assert_error(&app.transfer(key, &card, &f.pod, 100).await, 400, "account_cannot_be_source");
        assert_error(&app.transfer(key, &f.pod, &f.pod, 100).await, 400, "transfer_not_supported");
        assert_error(&app.transfer(key, &bank, &broker, 100).await, 400, "transfer_not_supported");
        assert_error(&app.transfer(key, &bank, &card, 100).await, 400, "transfer_not_supported");
        assert_error(&app.transfer(key, "acc_missing", &f.income, 100).await, 400, "transfer_source_not_found");
        assert_error(&app.transfer(key, &f.income, "acc_missing", 100).await, 400, "transfer_destination_not_found");
        assert_error(&app.transfer(key, &f.income, &f.pod, 99).await, 400, "invalid_request");
        assert_error(&app.deposit_response(key, &card, 100).await, 400, "transfer_not_supported");
        assert_error(&app.deposit_response(key, "acc_missing", 100).await, 404, "account_not_found");

        // Every kind that may send or receive does.
        for (source, destination) in [(&f.income, &f.pod), (&f.pod, &bank), (&f.pod, &broker), (&f.pod, &card), (&bank, &f.pod), (&broker, &f.savings)] {
            let made = created(&app.transfer(key, source, destination, 100).await);
            assert_eq!(made["status"], "processing", "{source} → {destination}");
        }
        assert!(app.all_transfers(key, &f.income, "status=error").await.is_empty());
    }
}
