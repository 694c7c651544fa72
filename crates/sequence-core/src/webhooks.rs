//! Webhooks: the pure decisions of sending events to the endpoints an organization registered.
//!
//! - [`EventType`]: the events there are (`transfer.created`, …), as they travel and are stored.
//! - [`DeliveryStatus`] and [`AttemptOutcome`]: where one event's delivery to one endpoint stands,
//!   and what came of one HTTP attempt.
//! - The retry schedule ([`after_failure`]): exponential back-off with jitter, from
//!   [`FIRST_RETRY_DELAY`] doubling up to [`MAX_RETRY_DELAY`] between attempts, for at least
//!   [`RETRY_WINDOW`] after the first attempt; then the delivery is given up. The jitter is an
//!   argument (a number in `[0, 1)` the caller draws), so the schedule is a pure function.
//! - The signature ([`signature_header`]): Stripe-style `t=<unix seconds>,v1=<hex>`, the hex being
//!   HMAC-SHA256 keyed with the endpoint's whole secret over `"<t>.<body>"`. The client crate has
//!   the matching verifier (it cannot depend on this crate); the API tests check that the two
//!   agree on real deliveries.
//!
//! Retry timing is real time (the application's clock), never an organization's sandbox clock:
//! advancing a sandbox clock by a week must not give up every delivery at once.

use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

crate::ledger::wire_enum! {
    /// A webhook event type (`<entity>.<action>`).
    pub enum EventType ("webhook event type") {
        /// A transfer was recorded (any origin, any initial status).
        TransferCreated => "transfer.created",
        /// A transfer moved to another status (the event carries the previous one).
        TransferStatusChanged => "transfer.status_changed",
        /// A transfer was created `pending_approval`.
        TransferApprovalRequired => "transfer.approval_required",
        /// A live rule execution reached a final status.
        RuleExecutionCompleted => "rule_execution.completed",
        /// A card transaction was recorded.
        CardTransactionCreated => "card_transaction.created",
    }
}

crate::ledger::wire_enum! {
    /// Where one event's delivery to one endpoint stands.
    pub enum DeliveryStatus ("webhook delivery status") {
        /// Behind an earlier, unfinished delivery about the same resource to the same endpoint
        /// (ordering): not due until that one is delivered or failed.
        Waiting => "waiting",
        /// Due at its next attempt time (or being attempted, under a lease).
        Pending => "pending",
        /// The endpoint answered `2xx`. Final.
        Delivered => "delivered",
        /// Given up after [`RETRY_WINDOW`] of failed attempts. Final.
        Failed => "failed",
        /// The endpoint was deleted before the delivery finished. Final.
        Cancelled => "cancelled",
    }
}

impl DeliveryStatus {
    /// Whether nothing more will happen to the delivery.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Delivered | DeliveryStatus::Failed | DeliveryStatus::Cancelled
        )
    }
}

crate::ledger::wire_enum! {
    /// What came of one HTTP attempt.
    pub enum AttemptOutcome ("webhook attempt outcome") {
        /// The endpoint answered `2xx`.
        Delivered => "delivered",
        /// It failed; another attempt is scheduled.
        Retrying => "retrying",
        /// It failed and the delivery was given up (or the endpoint was deleted meanwhile).
        Failed => "failed",
    }
}

/// How long a delivery is retried after its first attempt before it is given up.
pub const RETRY_WINDOW: TimeDelta = TimeDelta::hours(24);
/// The pause after the first failed attempt (before jitter).
pub const FIRST_RETRY_DELAY: TimeDelta = TimeDelta::seconds(30);
/// The longest pause between two attempts (before jitter).
pub const MAX_RETRY_DELAY: TimeDelta = TimeDelta::hours(1);
/// The most webhook endpoints one organization may have (each event fans out to each of them).
pub const ENDPOINTS_PER_ORGANIZATION_MAX: u32 = 16;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Sequence-Signature";
/// The header carrying the event's id (`evt_…`), the same in every attempt.
pub const EVENT_ID_HEADER: &str = "Sequence-Event-Id";
/// The header carrying the event's type.
pub const EVENT_TYPE_HEADER: &str = "Sequence-Event-Type";
/// The header carrying the delivery's id (`whd_…`), the same in every attempt.
pub const DELIVERY_ID_HEADER: &str = "Sequence-Delivery-Id";
/// The header carrying the attempt's number (1, 2, …).
pub const ATTEMPT_HEADER: &str = "Sequence-Delivery-Attempt";

/// The pause after `failed_attempts` failed attempts (1 after the first): [`FIRST_RETRY_DELAY`]
/// doubled per earlier failure, at most [`MAX_RETRY_DELAY`], then scaled by a jitter factor in
/// `[0.75, 1.25)` (`jitter` in `[0, 1)`; values outside are clamped), so the retries of many
/// deliveries that failed together (an endpoint that was down) spread out instead of arriving
/// together.
pub fn retry_delay(failed_attempts: u32, jitter: f64) -> TimeDelta {
    let doublings = failed_attempts.saturating_sub(1).min(16);
    let base_ms = FIRST_RETRY_DELAY
        .num_milliseconds()
        .saturating_mul(1_i64 << doublings)
        .min(MAX_RETRY_DELAY.num_milliseconds());
    let factor = 0.75 + 0.5 * jitter.clamp(0.0, 1.0);
    // Within 1.25 h in milliseconds: exact in an f64, and the product fits an i64.
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let jittered = (base_ms as f64 * factor) as i64;
    TimeDelta::milliseconds(jittered.max(1))
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again at this instant.
    RetryAt(DateTime<Utc>),
    /// Stop: the delivery has been retried for [`RETRY_WINDOW`].
    GiveUp,
}

/// The decision after attempt number `failed_attempts` failed at `now`, the first attempt having
/// been made at `first_attempt_at`: retry after [`retry_delay`] while less than [`RETRY_WINDOW`]
/// has passed since the first attempt, give up afterwards. So the last attempt is made at least
/// 24 hours after the first, whatever the jitter drew.
pub fn after_failure(
    first_attempt_at: DateTime<Utc>,
    now: DateTime<Utc>,
    failed_attempts: u32,
    jitter: f64,
) -> AfterFailure {
    if now - first_attempt_at >= RETRY_WINDOW {
        AfterFailure::GiveUp
    } else {
        AfterFailure::RetryAt(now + retry_delay(failed_attempts, jitter))
    }
}

/// The hex HMAC-SHA256, keyed with `secret` (as bytes), of `"<timestamp>.<body>"`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `Sequence-Signature` header value for `body` sent at `timestamp` (Unix seconds, real
/// time): `t=<timestamp>,v1=<signature>`.
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", signature(secret, timestamp, body))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231 test case 2 fixes the primitive: key "Jefe", data "what do ya want for
        // nothing?". With timestamp 0 the signed text is "0.<body>", so sign "0." + a body and
        // compare with an independently computed value of the same text.
        let mac = |key: &str, data: &[u8]| {
            let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
            mac.update(data);
            hex::encode(mac.finalize().into_bytes())
        };
        assert_eq!(
            mac("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let body = br#"{"id":"evt_1","event":"transfer.created"}"#;
        let mut signed = b"1713870000.".to_vec();
        signed.extend_from_slice(body);
        assert_eq!(signature("whsec_abc", 1_713_870_000, body), mac("whsec_abc", &signed));
        assert_eq!(
            signature_header("whsec_abc", 1_713_870_000, body),
            format!("t=1713870000,v1={}", mac("whsec_abc", &signed))
        );
        assert_ne!(
            signature("whsec_abc", 1_713_870_001, body),
            signature("whsec_abc", 1_713_870_000, body)
        );
        assert_ne!(
            signature("whsec_abd", 1_713_870_000, body),
            signature("whsec_abc", 1_713_870_000, body)
        );
    }

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        let cases = [
            (1, 30_000),
            (2, 60_000),
            (3, 120_000),
            (4, 240_000),
            (7, 1_920_000),
            (8, 3_600_000),
            (30, 3_600_000),
            (u32::MAX, 3_600_000),
        ];
        for (failed, base_ms) in cases {
            // Jitter 0.5 is the middle of the range: the base delay itself.
            assert_eq!(retry_delay(failed, 0.5).num_milliseconds(), base_ms, "after {failed}");
            assert_eq!(retry_delay(failed, 0.0).num_milliseconds(), base_ms * 3 / 4);
            let high = retry_delay(failed, 0.999_999).num_milliseconds();
            assert!(high < base_ms * 5 / 4 && high > base_ms, "{failed}: {high}");
            // Out-of-range jitter is clamped.
            assert_eq!(retry_delay(failed, -3.0), retry_delay(failed, 0.0));
            assert_eq!(retry_delay(failed, 7.0), retry_delay(failed, 1.0));
        }
    }

    #[test]
    fn deliveries_are_retried_for_at_least_a_day_then_given_up() {
        let first = Utc.with_ymd_and_hms(2024, 4, 23, 12, 0, 0).unwrap();
        for jitter in [0.0, 0.5, 0.999] {
            // Follow the schedule from the first failure on: every retry is strictly later, the
            // delivery is still retried just before 24 hours, and given up at the first failure
            // at or after 24 hours.
            let mut now = first;
            let mut failed = 1;
            loop {
                match after_failure(first, now, failed, jitter) {
                    AfterFailure::RetryAt(next) => {
                        assert!(next > now);
                        assert!(now - first < RETRY_WINDOW);
                        now = next;
                        failed += 1;
                    }
                    AfterFailure::GiveUp => {
                        assert!(now - first >= RETRY_WINDOW, "gave up after {}", now - first);
                        assert!(now - first < RETRY_WINDOW + TimeDelta::minutes(76));
                        break;
                    }
                }
                assert!(failed < 100, "the schedule ends");
            }
            assert!((20..=40).contains(&failed), "{failed} attempts with jitter {jitter}");
        }
        let just_before = first + RETRY_WINDOW - TimeDelta::milliseconds(1);
        assert!(matches!(after_failure(first, just_before, 40, 0.5), AfterFailure::RetryAt(_)));
        assert_eq!(after_failure(first, first + RETRY_WINDOW, 40, 0.5), AfterFailure::GiveUp);
    }

    #[test]
    fn spellings_round_trip() {
        for event in EventType::ALL {
            assert_eq!(event.as_str().parse::<EventType>().unwrap(), *event);
        }
        for status in DeliveryStatus::ALL {
            assert_eq!(status.as_str().parse::<DeliveryStatus>().unwrap(), *status);
        }
        assert!(DeliveryStatus::Delivered.is_final() && !DeliveryStatus::Waiting.is_final());
        assert!("transfer.deleted".parse::<EventType>().is_err());
    }
}
