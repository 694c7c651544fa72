//! A webhook receiver for local development: listens on `127.0.0.1:4242`, verifies every
//! request's `Sequence-Signature` with [`sequence_client::webhooks::Verifier`], skips events it
//! has already seen (deliveries are at least once), and prints each event.
//!
//! ```text
//! # 1. Register a temporary endpoint pointing here; it prints the signing secret.
//! sequence webhooks listen --forward-to http://localhost:4242/webhooks
//! # 2. Run this receiver with that secret.
//! SEQUENCE_WEBHOOK_SECRET=whsec_… cargo run -p sequence-client --example webhook_receiver
//! ```
//!
//! `SEQUENCE_WEBHOOK_LISTEN` changes the address (default `127.0.0.1:4242`). Answers `200` to a
//! verified event and `400` to anything else (which the server retries, so a wrong secret shows up
//! as retrying attempts in `sequence webhooks listen`).

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use sequence_client::types;
use sequence_client::webhooks::{SIGNATURE_HEADER, Verifier};

struct Receiver {
    verifier: Verifier,
    seen: Mutex<HashSet<String>>,
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    // Verify the raw bytes, before any parsing.
    let event = match receiver.verifier.verify(signature, &body) {
        Ok(event) => event,
        Err(error) => {
            eprintln!("refused a request: {error}");
            return StatusCode::BAD_REQUEST;
        }
    };
    let first_time = receiver
        .seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(event.id().to_owned());
    if !first_time {
        println!("{} again (already handled)", event.id());
        return StatusCode::OK;
    }
    let what = match &event {
        types::WebhookEvent::TransferCreatedEvent(e) => {
            format!("transfer {} created, {}", e.data.id.as_str(), e.data.status)
        }
        types::WebhookEvent::TransferStatusChangedEvent(e) => {
            format!(
                "transfer {}: {} -> {}",
                e.data.id.as_str(),
                e.data.previous_status,
                e.data.status
            )
        }
        types::WebhookEvent::TransferApprovalRequiredEvent(e) => {
            format!("transfer {} waits for approval", e.data.id.as_str())
        }
        types::WebhookEvent::RuleExecutionCompletedEvent(e) => {
            format!("rule execution {} {}", e.data.id.as_str(), e.data.status)
        }
        types::WebhookEvent::CardTransactionCreatedEvent(e) => {
            format!("card transaction {}: {} cents", e.data.id.as_str(), e.data.amount_in_cents)
        }
    };
    println!("{} {:<27} {what}", event.created_at(), event.event_type().to_string());
    StatusCode::OK
}

#[tokio::main]
async fn main() -> ExitCode {
    let Ok(secret) = std::env::var("SEQUENCE_WEBHOOK_SECRET") else {
        eprintln!(
            "error: set SEQUENCE_WEBHOOK_SECRET to the endpoint's signing secret (whsec_…, printed by `sequence webhooks listen` or `sequence webhooks create`)"
        );
        return ExitCode::from(2);
    };
    let address =
        std::env::var("SEQUENCE_WEBHOOK_LISTEN").unwrap_or_else(|_| "127.0.0.1:4242".to_owned());
    let listener = match tokio::net::TcpListener::bind(&address).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: cannot listen on {address}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let receiver = Arc::new(Receiver { verifier: Verifier::new(secret), seen: Mutex::default() });
    let app = Router::new().route("/webhooks", post(receive)).with_state(receiver);
    eprintln!("receiving webhooks on http://{address}/webhooks");
    match axum::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
