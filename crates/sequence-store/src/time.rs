//! Timestamps are stored as integer milliseconds since the Unix epoch: portable across both
//! backends, totally ordered, and cheap to compare in SQL.

use chrono::{DateTime, TimeZone, Utc};

/// A timestamp as stored.
pub fn to_millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// A stored timestamp. Out-of-range values (which no code path writes) clamp to the epoch.
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}
