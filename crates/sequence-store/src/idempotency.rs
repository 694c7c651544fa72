//! Idempotency keys: a repeated request with the same key replays the original response instead
//! of executing again.
//!
//! Protocol (per organization and key), all in the use case's one transaction:
//! 1. [`claim`] inserts an *in-progress* row, or reports what is already there (a finished
//!    response to replay, a different request, or one still running). On PostgreSQL a claim
//!    that meets another transaction's uncommitted row for the key waits for it (the unique
//!    index), then sees it committed or rolled back.
//! 2. The use case runs and calls [`complete`], so the recorded response commits if and only if
//!    the effect commits.
//! 3. If the use case fails, the rollback removes the claim with everything else.
//!
//! A caller that claims in a transaction of its own (as the server once did, so rows it left may
//! exist) must [`release`] a claim whose use case failed; a claim left behind by a crash expires
//! after [`LOCK_MS`].
//!
//! Keys are kept for 24 hours of real time; an older row is replaced by a new claim.

use sequence_core::ids::OrgId;
use sqlx::{AnyConnection, Row};

use crate::{StoreError, StoreResult};

/// How long a key remembers its response.
pub const RETENTION_MS: i64 = 24 * 60 * 60 * 1000;
/// How long an in-progress claim blocks duplicates before it is considered abandoned.
pub const LOCK_MS: i64 = 60 * 1000;

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is ours: execute the request.
    Acquired,
    /// The same request already finished: replay this response.
    Replay {
        /// HTTP status of the original response.
        status: u16,
        /// Its body, byte for byte.
        body: String,
    },
    /// The key was used with a different request.
    Mismatch,
    /// The original request is still executing.
    InProgress,
}

/// Claims `key` for a request with `fingerprint` at real time `now_ms`.
pub async fn claim(
    conn: &mut AnyConnection,
    org: &OrgId,
    key: &str,
    fingerprint: &str,
    now_ms: i64,
) -> StoreResult<Claim> {
    // One statement: insert the claim, or take over the key's row if it expired or its claim was
    // abandoned (its request died before finishing); a live row is left alone (0 rows). On
    // PostgreSQL a concurrent claimer of the same key waits on the row (or on the key's primary
    // key, for a row being inserted) and then finds it live.
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (org_id, key, request_fingerprint, created_at_ms, locked_until_ms) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id, key) DO UPDATE SET \
         request_fingerprint = excluded.request_fingerprint, created_at_ms = excluded.created_at_ms, \
         locked_until_ms = excluded.locked_until_ms, response_status = NULL, response_body = NULL \
         WHERE idempotency_keys.created_at_ms < $6 \
         OR (idempotency_keys.response_status IS NULL AND idempotency_keys.locked_until_ms < $7)",
    )
    .bind(org.as_str())
    .bind(key)
    .bind(fingerprint)
    .bind(now_ms)
    .bind(now_ms + LOCK_MS)
    .bind(now_ms - RETENTION_MS)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Claim::Acquired);
    }
    let row = sqlx::query(
        "SELECT request_fingerprint, response_status, response_body FROM idempotency_keys WHERE org_id = $1 AND key = $2",
    )
    .bind(org.as_str())
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::Retry)?;
    let stored_fingerprint: String = row.try_get(0)?;
    if stored_fingerprint != fingerprint {
        return Ok(Claim::Mismatch);
    }
    let status: Option<i64> = row.try_get(1)?;
    let body: Option<String> = row.try_get(2)?;
    Ok(match (status, body) {
        (Some(status), Some(body)) => {
            Claim::Replay { status: u16::try_from(status).unwrap_or(500), body }
        }
        _ => Claim::InProgress,
    })
}

/// Records the response for a claimed key, inside the use case's transaction.
pub async fn complete(
    conn: &mut AnyConnection,
    org: &OrgId,
    key: &str,
    status: u16,
    body: &str,
) -> StoreResult<()> {
    sqlx::query("UPDATE idempotency_keys SET response_status = $1, response_body = $2 WHERE org_id = $3 AND key = $4")
        .bind(i64::from(status))
        .bind(body)
        .bind(org.as_str())
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Deletes an unfinished claim, so that a retry executes the request.
pub async fn release(conn: &mut AnyConnection, org: &OrgId, key: &str) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2 AND response_status IS NULL",
    )
    .bind(org.as_str())
    .bind(key)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
