//! Receiving webhooks: verify a delivery's `Sequence-Signature` and parse its body into the
//! generated [`types::WebhookEvent`].
//!
//! The server signs each attempt with the endpoint's secret (`whsec_…`, returned once by
//! `createSandboxWebhookEndpoint`): `Sequence-Signature: t=<unix seconds>,v1=<hex>`, where the
//! hex is HMAC-SHA256, keyed with the whole secret, of `"<t>.<raw body>"`. A [`Verifier`] checks
//! that header against the **raw bytes** received (before any JSON parsing: re-serialized JSON
//! would not match), compares in constant time, accepts the request if any `v1` matches (several
//! may be sent while secrets rotate; other schemes are ignored), and refuses a timestamp more
//! than [`DEFAULT_TOLERANCE`] away from the receiver's clock, so a captured request cannot be
//! replayed later.
//!
//! Deliveries are at least once: deduplicate by [`types::WebhookEvent::id`]. Events about one
//! resource arrive in order; events about different resources do not.
//!
//! ```
//! use sequence_client::webhooks::{Verifier, sign};
//!
//! let secret = "whsec_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
//! let body = br#"{"id":"evt_1","event":"card_transaction.created","created_at":"2024-04-23T11:00:00Z",
//!   "data":{"id":"ctx_1","card_id":"card_1","direction":"debit","amount_in_cents":1299,
//!           "description":null,"merchant_name":"Coffee","purchase_id":null,
//!           "refunded_amount_in_cents":0,"created_at":"2024-04-23T11:00:00Z"}}"#;
//! // What the server sends (here signed "now"); in a receiver, take it from the request.
//! let header = sign(secret, chrono::Utc::now().timestamp(), body);
//!
//! let event = Verifier::new(secret).verify(&header, body)?;
//! assert_eq!(event.id(), "evt_1");
//! assert_eq!(event.event_type().to_string(), "card_transaction.created");
//! # Ok::<(), sequence_client::webhooks::VerifyError>(())
//! ```

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::types;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Sequence-Signature";
/// The header carrying the event id (also in the body).
pub const EVENT_ID_HEADER: &str = "Sequence-Event-Id";
/// The header carrying the event type (also in the body).
pub const EVENT_TYPE_HEADER: &str = "Sequence-Event-Type";
/// The header carrying the delivery id (the same in every attempt of one event to one endpoint).
pub const DELIVERY_ID_HEADER: &str = "Sequence-Delivery-Id";
/// The header carrying the attempt number (1, 2, …).
pub const ATTEMPT_HEADER: &str = "Sequence-Delivery-Attempt";
/// How far a signature's timestamp may be from the receiver's clock by default.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Why a delivery was refused.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The header is not `t=<digits>,v1=<hex>[,v1=<hex>…]`.
    #[error("malformed Sequence-Signature header: {0}")]
    MalformedHeader(&'static str),
    /// The timestamp is further from the receiver's clock than the tolerance (a replay, or a
    /// clock that is badly off).
    #[error(
        "the signature's timestamp {timestamp} is more than {tolerance_seconds} s from now ({now})"
    )]
    TimestampOutOfTolerance {
        /// The header's `t`.
        timestamp: i64,
        /// The receiver's time (Unix seconds).
        now: i64,
        /// The tolerance.
        tolerance_seconds: u64,
    },
    /// No `v1` signature matches the body and the secret.
    #[error(
        "no signature matches the body (wrong secret, or a body that was altered or re-encoded)"
    )]
    SignatureMismatch,
    /// The signature is valid but the body is not a webhook event this client knows.
    #[error("the body is not a webhook event: {0}")]
    InvalidPayload(#[source] serde_json::Error),
}

/// Verifies deliveries for one endpoint secret (see the module docs).
#[derive(Clone)]
pub struct Verifier {
    secret: String,
    tolerance: Duration,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("Verifier").field("tolerance", &self.tolerance).finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for `secret` (the whole `whsec_…` string) with [`DEFAULT_TOLERANCE`].
    pub fn new(secret: impl Into<String>) -> Verifier {
        Verifier { secret: secret.into(), tolerance: DEFAULT_TOLERANCE }
    }

    /// The same verifier with another timestamp tolerance.
    pub fn with_tolerance(self, tolerance: Duration) -> Verifier {
        Verifier { tolerance, ..self }
    }

    /// Verifies `signature_header` against `body` (the raw bytes received) at the system clock's
    /// time, then parses the body.
    pub fn verify(
        &self,
        signature_header: &str,
        body: &[u8],
    ) -> Result<types::WebhookEvent, VerifyError> {
        self.verify_at(signature_header, body, Utc::now())
    }

    /// [`Verifier::verify`] as if the receiver's clock read `now`.
    pub fn verify_at(
        &self,
        signature_header: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<types::WebhookEvent, VerifyError> {
        self.verify_signature_at(signature_header, body, now)?;
        serde_json::from_slice(body).map_err(VerifyError::InvalidPayload)
    }

    /// Checks the signature only (no parsing), as if the receiver's clock read `now`.
    pub fn verify_signature_at(
        &self,
        signature_header: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), VerifyError> {
        let parsed = parse_header(signature_header)?;
        let distance = now.timestamp().abs_diff(parsed.timestamp);
        if distance > self.tolerance.as_secs() {
            return Err(VerifyError::TimestampOutOfTolerance {
                timestamp: parsed.timestamp,
                now: now.timestamp(),
                tolerance_seconds: self.tolerance.as_secs(),
            });
        }
        for candidate in &parsed.signatures {
            // `verify_slice` compares in constant time.
            if let Ok(bytes) = hex::decode(candidate)
                && mac(&self.secret, parsed.timestamp, body).verify_slice(&bytes).is_ok()
            {
                return Ok(());
            }
        }
        Err(VerifyError::SignatureMismatch)
    }
}

struct ParsedHeader<'a> {
    timestamp: i64,
    signatures: Vec<&'a str>,
}

fn parse_header(header: &str) -> Result<ParsedHeader<'_>, VerifyError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(VerifyError::MalformedHeader("every part must be key=value"))?;
        match key {
            "t" if timestamp.is_some() => {
                return Err(VerifyError::MalformedHeader("more than one t"));
            }
            "t" => {
                let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
                let parsed = value.parse::<i64>().ok().filter(|_| digits);
                timestamp =
                    Some(parsed.ok_or(VerifyError::MalformedHeader("t is not Unix seconds"))?);
            }
            "v1" => signatures.push(value),
            // Other schemes (a future v2, a test scheme) are ignored, as the signature scheme is
            // versioned by its key.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::MalformedHeader("no t"))?;
    if signatures.is_empty() {
        return Err(VerifyError::MalformedHeader("no v1 signature"));
    }
    Ok(ParsedHeader { timestamp, signatures })
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Sequence-Signature` value the server would send for `body` at `timestamp` (Unix
/// seconds): for testing a receiver.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

impl types::WebhookEvent {
    /// The event's id (`evt_…`): the same in every attempt; deduplicate by it.
    pub fn id(&self) -> &str {
        match self {
            types::WebhookEvent::TransferCreatedEvent(e) => &e.id,
            types::WebhookEvent::TransferStatusChangedEvent(e) => &e.id,
            types::WebhookEvent::TransferApprovalRequiredEvent(e) => &e.id,
            types::WebhookEvent::RuleExecutionCompletedEvent(e) => &e.id,
            types::WebhookEvent::CardTransactionCreatedEvent(e) => &e.id,
        }
    }

    /// The event's type.
    pub fn event_type(&self) -> types::WebhookEventType {
        match self {
            types::WebhookEvent::TransferCreatedEvent(_) => {
                types::WebhookEventType::TransferCreated
            }
            types::WebhookEvent::TransferStatusChangedEvent(_) => {
                types::WebhookEventType::TransferStatusChanged
            }
            types::WebhookEvent::TransferApprovalRequiredEvent(_) => {
                types::WebhookEventType::TransferApprovalRequired
            }
            types::WebhookEvent::RuleExecutionCompletedEvent(_) => {
                types::WebhookEventType::RuleExecutionCompleted
            }
            types::WebhookEvent::CardTransactionCreatedEvent(_) => {
                types::WebhookEventType::CardTransactionCreated
            }
        }
    }

    /// When the change happened (organization clock).
    pub fn created_at(&self) -> DateTime<Utc> {
        match self {
            types::WebhookEvent::TransferCreatedEvent(e) => e.created_at,
            types::WebhookEvent::TransferStatusChangedEvent(e) => e.created_at,
            types::WebhookEvent::TransferApprovalRequiredEvent(e) => e.created_at,
            types::WebhookEvent::RuleExecutionCompletedEvent(e) => e.created_at,
            types::WebhookEvent::CardTransactionCreatedEvent(e) => e.created_at,
        }
    }

    /// The id of the resource the event is about (a transfer, rule execution or card
    /// transaction): events about one resource arrive in order.
    pub fn subject_id(&self) -> &str {
        match self {
            types::WebhookEvent::TransferCreatedEvent(e) => &e.data.id,
            types::WebhookEvent::TransferStatusChangedEvent(e) => &e.data.id,
            types::WebhookEvent::TransferApprovalRequiredEvent(e) => &e.data.id,
            types::WebhookEvent::RuleExecutionCompletedEvent(e) => &e.data.id,
            types::WebhookEvent::CardTransactionCreatedEvent(e) => &e.data.id,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const SECRET: &str = "whsec_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn body() -> Vec<u8> {
        serde_json::json!({
            "id": "evt_01HABC", "event": "transfer.status_changed", "created_at": "2024-04-23T11:00:04Z",
            "data": {
                "id": "txr_1", "amount_in_cents": 25000, "direction": "internal", "origin": "user",
                "status": "complete", "description": null, "simulation": false,
                "source": {"id": "acc_1", "name": "Pod", "type": "pod", "is_deleted": false},
                "destination": {"id": "acc_2", "name": "Payroll", "type": "income_source", "is_deleted": false},
                "rule_id": null, "rule_execution_id": null, "error_code": null,
                "created_at": "2024-04-23T11:00:00Z", "completed_at": "2024-04-23T11:00:04Z",
                "previous_status": "pending"
            }
        })
        .to_string()
        .into_bytes()
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0).unwrap()
    }

    #[test]
    fn a_signed_body_verifies_and_parses() {
        let body = body();
        let header = sign(SECRET, 1_713_870_000, &body);
        let event = Verifier::new(SECRET).verify_at(&header, &body, at(1_713_870_030)).unwrap();
        assert_eq!(event.id(), "evt_01HABC");
        assert_eq!(event.subject_id(), "txr_1");
        assert_eq!(event.event_type(), types::WebhookEventType::TransferStatusChanged);
        let types::WebhookEvent::TransferStatusChangedEvent(changed) = event else {
            panic!("a status change")
        };
        assert_eq!(changed.data.previous_status, types::TransferStatus::Pending);
        assert_eq!(changed.data.status, types::TransferStatus::Complete);
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: python3 -c "import hmac,hashlib;
        // print(hmac.new(b'key', b'1.{}', hashlib.sha256).hexdigest())"
        assert_eq!(
            sign("key", 1, b"{}"),
            "t=1,v1=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
    }

    #[test]
    fn a_tampered_body_or_wrong_secret_is_refused() {
        let body = body();
        let header = sign(SECRET, 1_713_870_000, &body);
        let mut tampered = body.clone();
        let at_amount = tampered.windows(5).position(|w| w == b"25000").unwrap();
        tampered[at_amount] = b'9';
        let now = at(1_713_870_000);
        for (secret, body) in [(SECRET, &tampered), ("whsec_other", &body)] {
            let error = Verifier::new(secret).verify_at(&header, body, now).unwrap_err();
            assert!(matches!(error, VerifyError::SignatureMismatch), "{error}");
        }
        // Re-encoding the JSON (even equivalently) breaks the signature: verify raw bytes.
        let reencoded =
            serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(&body).unwrap())
                .unwrap();
        assert!(Verifier::new(SECRET).verify_at(&header, &reencoded, now).is_err());
    }

    #[test]
    fn old_or_future_timestamps_are_refused() {
        let body = body();
        let header = sign(SECRET, 1_713_870_000, &body);
        let verifier = Verifier::new(SECRET);
        for now in [1_713_870_000 + 301, 1_713_870_000 - 301] {
            let error = verifier.verify_at(&header, &body, at(now)).unwrap_err();
            assert!(matches!(error, VerifyError::TimestampOutOfTolerance { .. }), "{error}");
        }
        for now in [1_713_870_000 + 300, 1_713_870_000 - 300] {
            verifier.verify_at(&header, &body, at(now)).unwrap();
        }
        let lenient = verifier.with_tolerance(Duration::from_secs(3_600));
        lenient.verify_at(&header, &body, at(1_713_870_000 + 3_000)).unwrap();
    }

    #[test]
    fn any_matching_v1_is_accepted_and_other_schemes_ignored() {
        let body = body();
        let good = sign(SECRET, 1_713_870_000, &body);
        let good_hex = good.split_once("v1=").unwrap().1;
        let now = at(1_713_870_000);
        let header = format!("t=1713870000,v0=abc,v1={},v1={good_hex}", "00".repeat(32));
        Verifier::new(SECRET).verify_at(&header, &body, now).unwrap();
        let header = format!("t=1713870000, v1=zz, v1={good_hex}");
        Verifier::new(SECRET).verify_at(&header, &body, now).unwrap();
    }

    #[test]
    fn malformed_headers_are_refused() {
        let body = body();
        let now = at(1_713_870_000);
        for header in
            ["", "t=1713870000", "v1=abc", "t=abc,v1=00", "t=-5,v1=00", "t=1,t=2,v1=00", "garbage"]
        {
            let error = Verifier::new(SECRET).verify_at(header, &body, now).unwrap_err();
            assert!(matches!(error, VerifyError::MalformedHeader(_)), "{header:?}: {error}");
        }
    }

    #[test]
    fn a_valid_signature_over_something_else_is_an_invalid_payload() {
        let body = br#"{"hello":"world"}"#;
        let header = sign(SECRET, 1_713_870_000, body);
        let error = Verifier::new(SECRET).verify_at(&header, body, at(1_713_870_000)).unwrap_err();
        assert!(matches!(error, VerifyError::InvalidPayload(_)), "{error}");
    }

    #[test]
    fn the_secret_is_never_printed() {
        assert!(!format!("{:?}", Verifier::new(SECRET)).contains("whsec"));
    }
}
