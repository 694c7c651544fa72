//! The newcomer's walk-through, end to end, on SQLite and on PostgreSQL: start the real
//! `sequence-server serve --demo` binary, take the API key it prints, deposit into the demo
//! income source through the sandbox, move money to a pod with the generated client, advance the
//! clock, and check that both balances and the transfer history agree; then, with the `sequence`
//! CLI, issue a card on the pod, buy with it and see the purchase in the card's transactions and
//! the pod's balance. Every response passes through `spec_check::proxy`, so the real binary's
//! answers are checked against the spec too.

use std::num::NonZeroU64;
use std::process::Stdio;
use std::time::{Duration, Instant};

use sequence_client::{Client, collect_transfers, types};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::harness::both_backends;

/// `sequence-server --database URL serve --demo --bind 127.0.0.1:PORT`, its stderr in a file,
/// reached through a proxy that checks every response against the spec (`spec_check::proxy`).
pub(crate) struct RunningServer {
    child: Child,
    /// The proxy's `/api/v1`, once the server is healthy (the server's own until then).
    pub(crate) base_url: String,
    pub(crate) api_key: String,
    log: tempfile::NamedTempFile,
    proxy: Option<crate::spec_check::Proxy>,
}

impl RunningServer {
    pub(crate) async fn start(database_url: &str) -> RunningServer {
        // A port that was free a moment ago; the server binds it itself, as a person would.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sequence-server"))
            .args([
                "--database",
                database_url,
                "serve",
                "--demo",
                "--bind",
                &format!("127.0.0.1:{port}"),
            ])
            .env_remove("SEQUENCE_DATABASE_URL")
            .env_remove("SEQUENCE_BIND")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log.reopen().unwrap()))
            .kill_on_drop(true)
            .spawn()
            .expect("starting sequence-server");
        // `--demo` prints the key (and only the key) on stdout.
        let stdout = child.stdout.take().unwrap();
        let mut first_line = String::new();
        let read = tokio::time::timeout(
            Duration::from_secs(60),
            BufReader::new(stdout).read_line(&mut first_line),
        )
        .await;
        let mut server = RunningServer {
            child,
            base_url: format!("http://127.0.0.1:{port}/api/v1"),
            api_key: String::new(),
            log,
            proxy: None,
        };
        match read {
            Ok(Ok(n)) if n > 0 => server.api_key = first_line.trim().to_owned(),
            _ => server.fail("the server printed no API key"),
        }
        assert!(server.api_key.starts_with("seqk_"), "an API key: {:?}", server.api_key);
        server.wait_until_healthy().await;
        let proxy = crate::spec_check::proxy(&format!("http://127.0.0.1:{port}")).await;
        server.base_url = format!("{}/api/v1", proxy.origin);
        server.proxy = Some(proxy);
        server
    }

    /// Fails the test if any response the server sent did not match the spec.
    pub(crate) fn assert_responses_matched_the_spec(&self) {
        if let Some(proxy) = &self.proxy {
            proxy.violations.assert_none();
        }
    }

    async fn wait_until_healthy(&mut self) {
        let health = self.base_url.replace("/api/v1", "/health");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.fail(&format!("the server exited with {status}"));
            }
            if let Ok(response) = reqwest::get(&health).await
                && response.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.fail("the server did not become healthy within 30 s");
    }

    fn fail(&self, why: &str) -> ! {
        let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        panic!("{why}; server log:\n{log}");
    }
}

/// The balance an account's history implies: completed transfers in minus completed transfers
/// out.
fn balance_from_history(account: &str, history: &[types::Transfer]) -> i64 {
    history
        .iter()
        .filter(|t| t.status == types::TransferStatus::Complete)
        .map(|t| {
            let incoming = t.destination.as_ref().is_some_and(|d| d.id.as_str() == account);
            let outgoing = t.source.as_ref().is_some_and(|s| s.id.as_str() == account);
            match (incoming, outgoing) {
                (true, false) => t.amount_in_cents,
                (false, true) => -t.amount_in_cents,
                _ => panic!("{} does not involve {account}", t.id.as_str()),
            }
        })
        .sum()
}

async fn history(client: &Client, account: &str) -> Vec<types::Transfer> {
    collect_transfers(client.list_transfers().account_id(account).first(100))
        .await
        .expect("listing transfers")
}

both_backends! {
    async fn start_with_demo_deposit_move_to_a_pod_advance_and_agree(app: TestApp) {
        let server = RunningServer::start(app.database_url()).await;
        let client = sequence_client::client_with_api_key(&server.base_url, &server.api_key).expect("client");

        // The demo organization's accounts.
        let accounts = client.list_accounts().send().await.expect("listing accounts").into_inner().data;
        let income = accounts.iter().find(|a| a.type_ == types::AccountType::IncomeSource).expect("a demo income source");
        let pod = accounts.iter().find(|a| a.type_ == types::AccountType::Pod).expect("a demo pod");
        let (income, pod) = (income.id.clone(), pod.id.clone());

        // Money arrives through the sandbox. (The demo's enabled rules may move part of it on at
        // once; whatever they do must show up in the histories below.)
        let deposit = client
            .create_sandbox_deposit()
            .idempotency_key(sequence_client::new_idempotency_key())
            .body(
                types::SandboxDepositRequest::builder()
                    .account_id(income.as_str())
                    .amount_in_cents(NonZeroU64::new(500_000).unwrap())
                    .origin(Some(types::DepositOrigin::Paycheck))
                    .description(Some("PAYROLL".try_into().unwrap())),
            )
            .send()
            .await
            .expect("deposit");
        assert_eq!(deposit.status(), 201);
        assert_eq!(deposit.data.status, types::TransferStatus::Complete);

        // Move half of what is available to the pod.
        let available = client.get_account().id(income.as_str()).send().await.unwrap().into_inner().data.balance;
        let amount = available.available_balance_in_cents.expect("an internal account") / 2;
        assert!(amount >= 100, "the deposit left money to move: {available:?}");
        let moved = client
            .create_transfer()
            .idempotency_key(sequence_client::new_idempotency_key())
            .body(
                types::CreateTransferRequest::builder()
                    .source_account_id(income.as_str())
                    .destination_account_id(pod.as_str())
                    .amount_in_cents(amount)
                    .description(Some("TO POD".try_into().unwrap())),
            )
            .send()
            .await
            .expect("transfer");
        assert_eq!(moved.status(), 201);
        assert_eq!(moved.data.status, types::TransferStatus::Processing);
        assert_eq!(moved.data.direction, types::TransferDirection::Internal);
        let reserved = client.get_account().id(income.as_str()).send().await.unwrap().into_inner().data.balance;
        assert_eq!(
            reserved.available_balance_in_cents,
            available.available_balance_in_cents.map(|a| a - amount),
            "reserved at once"
        );

        // Five days pass: everything accepted settles.
        let advanced = client
            .advance_sandbox_clock()
            .body(types::SandboxClockAdvanceRequest::builder().seconds(NonZeroU64::new(5 * 24 * 60 * 60).unwrap()))
            .send()
            .await
            .expect("advance");
        assert_eq!(advanced.status(), 200);
        let done = client.get_transfer().id(moved.data.id.as_str()).send().await.unwrap();
        assert_eq!(done.data.status, types::TransferStatus::Complete);
        assert_eq!(done.data.amount_in_cents, amount);

        // Balances and history agree, for both accounts and for every other income source and
        // pod the demo's rules touched.
        let income_history = history(&client, &income).await;
        let pod_history = history(&client, &pod).await;
        assert!(income_history.iter().any(|t| t.id == deposit.data.id), "the deposit is in the income source's history");
        assert!(income_history.iter().any(|t| t.id == moved.data.id), "the transfer is in the source's history");
        assert!(pod_history.iter().any(|t| t.id == moved.data.id), "…and in the destination's");
        for account in accounts.iter().filter(|a| a.type_ != types::AccountType::ExternalAccount) {
            let balance = client.get_account().id(account.id.as_str()).send().await.unwrap().into_inner().data.balance;
            let history = history(&client, &account.id).await;
            assert!(
                history.iter().all(|t| matches!(
                    t.status,
                    types::TransferStatus::Complete | types::TransferStatus::Error | types::TransferStatus::Cancelled
                )),
                "nothing of {} is in flight after five days",
                account.name
            );
            assert_eq!(balance.balance_in_cents, balance_from_history(&account.id, &history), "{}", account.name);
            assert_eq!(balance.available_balance_in_cents, Some(balance.balance_in_cents), "{}", account.name);
        }

        // The `sequence` CLI tells the same story.
        let cli = |args: &[&str]| {
            let mut all = vec!["sequence", "--base-url", &server.base_url, "--api-key", &server.api_key];
            all.extend_from_slice(args);
            sequence_cli::run(all.into_iter().map(str::to_owned).collect::<Vec<_>>())
        };
        let listed = cli(&["accounts", "list"]).await;
        assert_eq!(listed.exit_code, 0, "{}", listed.stderr);
        assert!(listed.stdout.contains("Chase Checking ••4567"), "{}", listed.stdout);
        let as_json = cli(&["--json", "transfers", "list", "--account", pod.as_str(), "--all"]).await;
        assert_eq!(as_json.exit_code, 0, "{}", as_json.stderr);
        let printed: serde_json::Value = serde_json::from_str(&as_json.stdout).expect("--json prints JSON");
        let printed_ids: Vec<&str> = printed["data"].as_array().expect("data").iter().map(|t| t["id"].as_str().unwrap()).collect();
        let client_ids: Vec<&str> = pod_history.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(printed_ids, client_ids, "the CLI lists the pod's history like the client does");
        let unimplemented = cli(&["accounts", "get", "acc_missing"]).await;
        assert_eq!(unimplemented.exit_code, 1);
        assert!(unimplemented.stderr.contains("account_not_found"), "{}", unimplemented.stderr);

        // The README's cards walk-through: issue a virtual card on the pod, buy with it, and see
        // the purchase in the card's transactions and in the pod's balance (not in its transfers).
        let before = client.get_account().id(pod.as_str()).send().await.unwrap().into_inner().data.balance;
        let issued = cli(&["--json", "sandbox", "card-issue", "--account", pod.as_str(), "--type", "virtual"]).await;
        assert_eq!(issued.exit_code, 0, "{}", issued.stderr);
        let card: serde_json::Value = serde_json::from_str(&issued.stdout).expect("--json prints JSON");
        assert_eq!(card["status"], "active");
        let card = card["id"].as_str().unwrap().to_owned();
        let bought = cli(&["sandbox", "card-purchase", card.as_str(), "--amount", "12.34", "--merchant", "Blue Bottle Coffee"]).await;
        assert_eq!(bought.exit_code, 0, "{}", bought.stderr);
        assert!(bought.stdout.contains("-$12.34"), "{}", bought.stdout);
        let listed = cli(&["cards", "transactions", card.as_str()]).await;
        assert_eq!(listed.exit_code, 0, "{}", listed.stderr);
        assert!(listed.stdout.contains("purchase") && listed.stdout.contains("Blue Bottle Coffee"), "{}", listed.stdout);
        let after = client.get_account().id(pod.as_str()).send().await.unwrap().into_inner().data.balance;
        assert_eq!(after.balance_in_cents, before.balance_in_cents - 1_234);
        assert_eq!(after.available_balance_in_cents, before.available_balance_in_cents.map(|a| a - 1_234));
        assert_eq!(history(&client, &pod).await.len(), pod_history.len(), "a card purchase is not a transfer");
        let too_much = cli(&["sandbox", "card-purchase", card.as_str(), "--amount", "1,000,000", "--merchant", "Yacht Dealer"]).await;
        assert_eq!(too_much.exit_code, 1);
        assert!(too_much.stderr.contains("insufficient_funds"), "{}", too_much.stderr);
        server.assert_responses_matched_the_spec();
        drop(server);
    }
}
