//! Drives the CLI in-process (`sequence_cli::run`) against a tiny canned HTTP server, to check
//! what the CLI sends (path, query, headers, body) and how it prints answers and errors —
//! including undocumented statuses and non-JSON bodies — without the real server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request as the mock server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

type Handler = dyn Fn(&Seen) -> (u16, &'static str, String) + Send + Sync;

/// A blocking HTTP/1.1 server on a background thread: one request per connection.
struct MockServer {
    base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl MockServer {
    fn start(
        handler: impl Fn(&Seen) -> (u16, &'static str, String) + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}/api/v1", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                serve_one(stream, &*handler, &log);
            }
        });
        MockServer { base_url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    async fn run(&self, args: &[&str]) -> sequence_cli::Outcome {
        let mut argv = vec!["sequence", "--api-key", "seqk_test", "--base-url", &self.base_url];
        argv.extend_from_slice(args);
        sequence_cli::run(argv).await
    }
}

fn serve_one(stream: TcpStream, handler: &Handler, log: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let seen = Seen { method, target, headers, body: String::from_utf8(body).unwrap() };
    let (status, content_type, body) = handler(&seen);
    log.lock().unwrap().push(seen);
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         x-request-id: req_mock\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = stream;
    let _ = stream.write_all(response.as_bytes());
}

const JSON: &str = "application/json";

fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({"error": {"code": code, "message": message}, "request_id": "req_01HMOCK0001"})
        .to_string()
}

fn transfer(id: &str, cents: i64) -> serde_json::Value {
    serde_json::json!({
        "id": id, "status": "complete", "amount_in_cents": cents, "direction": "internal",
        "description": null,
        "source": {"id": "acc_01HSRC", "name": "Pod A", "type": "pod", "is_deleted": false},
        "destination": {"id": "acc_01HDST", "name": "Pod B", "type": "pod", "is_deleted": false},
        "origin": "user", "error_code": null, "rule_id": null, "rule_execution_id": null,
        "simulation": false, "created_at": "2024-04-23T09:15:00Z",
        "completed_at": "2024-04-23T09:15:00Z"
    })
}

#[tokio::test]
async fn accounts_list_sends_the_key_and_api_version() {
    let server = MockServer::start(|_| {
        let body = serde_json::json!({"request_id": "req_1", "data": [{
            "id": "acc_01HDEF0123", "name": "Emergency Fund", "type": "pod", "description": null,
            "external_account_type": null, "beneficiary_name": "John Smith",
            "institution_name": null, "can_be_source": true, "can_be_destination": true,
            "created_at": "2024-02-01T09:00:00Z", "updated_at": "2024-03-10T14:30:00Z"}]});
        (200, JSON, body.to_string())
    });
    let outcome = server.run(&["accounts", "list", "--type", "pod"]).await;
    assert_eq!(outcome.exit_code, 0, "{}", outcome.stderr);
    assert!(outcome.stdout.starts_with("ID "), "{}", outcome.stdout);
    assert!(outcome.stdout.contains("acc_01HDEF0123  pod   Emergency Fund"), "{}", outcome.stdout);

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, "/api/v1/accounts?type=pod");
    assert_eq!(seen[0].header("authorization"), Some("ApiKey seqk_test"));
    assert_eq!(seen[0].header("api-version"), Some("1.0.0"));

    let outcome = server.run(&["accounts", "list", "--json"]).await;
    let data: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(data[0]["id"], "acc_01HDEF0123");
}

fn empty_account_list(_: &Seen) -> (u16, &'static str, String) {
    (200, JSON, serde_json::json!({"request_id": "req_1", "data": []}).to_string())
}

#[tokio::test]
async fn base_url_may_name_just_the_host() {
    let server = MockServer::start(empty_account_list);
    let host = server.base_url.strip_suffix("/api/v1").unwrap().to_string();
    for base_url in [host.clone(), format!("{host}/"), server.base_url.clone()] {
        let argv = ["sequence", "--api-key", "k", "--base-url", &base_url, "accounts", "list"];
        let outcome = sequence_cli::run(argv).await;
        assert_eq!(outcome.exit_code, 0, "{base_url}: {}", outcome.stderr);
        assert_eq!(outcome.stdout, "No accounts.\n");
    }
    let targets: Vec<String> = server.seen().into_iter().map(|seen| seen.target).collect();
    assert_eq!(targets, ["/api/v1/accounts"; 3]);
}

#[test]
fn sequence_base_url_may_name_just_the_host() {
    let server = MockServer::start(empty_account_list);
    let host = server.base_url.strip_suffix("/api/v1").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sequence"))
        .args(["accounts", "list"])
        .env("SEQUENCE_BASE_URL", host)
        .env("SEQUENCE_API_KEY", "seqk_test")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "No accounts.\n");
    assert_eq!(server.seen()[0].target, "/api/v1/accounts");
}

#[tokio::test]
async fn not_implemented_is_printed_cleanly() {
    let server = MockServer::start(|_| {
        (
            501,
            JSON,
            error_body("not_implemented", "This server does not implement this operation yet."),
        )
    });
    let outcome = server.run(&["transfers", "get", "txr_01HXYZ0001"]).await;
    assert_eq!(outcome.exit_code, 1);
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        "error: not_implemented: This server does not implement this operation yet. \
         (request_id req_01HMOCK0001, HTTP 501)\n"
    );
}

#[tokio::test]
async fn undocumented_statuses_still_show_the_error_body() {
    // 408 is not declared per operation, so the generated client reports an unexpected response.
    let server = MockServer::start(|seen| {
        if seen.target.contains("rule-executions") {
            (502, "text/html", "<html>Bad Gateway</html>".to_string())
        } else {
            (408, JSON, error_body("request_timeout", "The request took too long."))
        }
    });
    let outcome = server.run(&["accounts", "get", "acc_01HDEF0123"]).await;
    assert_eq!(outcome.exit_code, 1);
    assert_eq!(
        outcome.stderr,
        "error: request_timeout: The request took too long. (request_id req_01HMOCK0001, HTTP 408)\n"
    );
    let outcome = server.run(&["executions", "get", "rex_01HREX0001"]).await;
    assert_eq!(outcome.exit_code, 1);
    assert_eq!(
        outcome.stderr,
        "error: unexpected HTTP 502 from the server for this operation: <html>Bad Gateway</html>\n"
    );
}

#[tokio::test]
async fn transfers_create_sends_cents_and_an_idempotency_key() {
    let server = MockServer::start(|_| {
        (
            201,
            JSON,
            serde_json::json!({"request_id": "req_1", "data": transfer("txr_01HNEW", 100_050)})
                .to_string(),
        )
    });
    let outcome = server
        .run(&[
            "transfers",
            "create",
            "--from",
            "acc_01HSRC",
            "--to",
            "acc_01HDST",
            "--amount",
            "$1,000.5",
            "--description",
            "Rent",
        ])
        .await;
    assert_eq!(outcome.exit_code, 0, "{}", outcome.stderr);
    assert!(outcome.stdout.contains("Amount:         $1,000.50"), "{}", outcome.stdout);

    let seen = &server.seen()[0];
    assert_eq!((seen.method.as_str(), seen.target.as_str()), ("POST", "/api/v1/transfers"));
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"source_account_id": "acc_01HSRC", "destination_account_id": "acc_01HDST",
                           "amount_in_cents": 100_050, "description": "Rent", "simulation": false})
    );
    let key = seen.header("idempotency-key").unwrap();
    assert_eq!(key.len(), 36, "{key}");

    // An explicit key is sent as given; a bad one never leaves the machine.
    server
        .run(&[
            "transfers",
            "create",
            "--from",
            "a",
            "--to",
            "b",
            "--amount",
            "1",
            "--idempotency-key",
            "k-1",
        ])
        .await;
    assert_eq!(server.seen()[1].header("idempotency-key"), Some("k-1"));
    let outcome = server
        .run(&[
            "transfers",
            "create",
            "--from",
            "a",
            "--to",
            "b",
            "--amount",
            "1",
            "--idempotency-key",
            "a b",
        ])
        .await;
    assert_eq!(outcome.exit_code, 2);
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn transfers_list_all_follows_cursors() {
    let server = MockServer::start(|seen| {
        let (data, page_info) = if seen.target.contains("after=cursor_1") {
            (
                vec![transfer("txr_2", 200)],
                serde_json::json!({"end_cursor": "cursor_2", "has_next_page": false}),
            )
        } else {
            (
                vec![transfer("txr_1", 100)],
                serde_json::json!({"end_cursor": "cursor_1", "has_next_page": true}),
            )
        };
        let body = serde_json::json!({"request_id": "req_1", "data": data, "page_info": page_info});
        (200, JSON, body.to_string())
    });
    let outcome =
        server.run(&["transfers", "list", "--account", "acc_01HSRC", "--all", "--json"]).await;
    assert_eq!(outcome.exit_code, 0, "{}", outcome.stderr);
    let page: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        page["page_info"],
        serde_json::json!({"end_cursor": "cursor_2", "has_next_page": false})
    );
    let targets: Vec<String> = server.seen().into_iter().map(|s| s.target).collect();
    assert_eq!(
        targets,
        [
            "/api/v1/transfers?account_id=acc_01HSRC&first=100",
            "/api/v1/transfers?account_id=acc_01HSRC&after=cursor_1&first=100"
        ]
    );

    // One page at a time: the table, then how to get the next page.
    let outcome =
        server.run(&["transfers", "list", "--account", "acc_01HSRC", "--first", "1"]).await;
    assert!(
        outcome
            .stdout
            .ends_with("More results: repeat the command with --after cursor_1 (or use --all).\n")
    );
}

#[tokio::test]
async fn sandbox_routes_missing_get_a_hint() {
    let server = MockServer::start(|_| {
        (404, JSON, error_body("not_found", "No route for POST /api/v1/sandbox/clock/advance."))
    });
    let outcome = server.run(&["sandbox", "advance", "5d"]).await;
    assert_eq!(outcome.exit_code, 1);
    assert!(outcome.stderr.ends_with(
        "hint: sandbox operations exist only on a server started with --sandbox or --demo\n"
    ));
    let body: serde_json::Value = serde_json::from_str(&server.seen()[0].body).unwrap();
    assert_eq!(body, serde_json::json!({"seconds": 432_000}));
}
