//! Running a mutating use case: one database transaction, with the `Idempotency-Key` protocol
//! of `sequence_store::idempotency` around it.
//!
//! - No key: run the use case in a transaction; commit on success.
//! - Key: claim it (short transaction). A finished twin is replayed byte for byte; a different
//!   request with the key is `400 idempotency_key_mismatch`; a twin still running is
//!   `409 idempotency_request_in_progress`. Otherwise run the use case and, in the same
//!   transaction, record the success response. Error responses are not recorded: the claim is
//!   released so the client can retry (as the spec documents).
//!
//! Transactions that collide (PostgreSQL serialization failures, SQLite busy) are retried a few
//! times, which is why the use case is a `Fn` that can run again. It takes the transaction by
//! value and hands it back with its result (`|mut tx| async move { …; (tx, result) }`): an
//! `AsyncFn(&mut Tx)` would be the natural signature, but the compiler cannot yet prove such
//! futures `Send` (higher-ranked lifetimes), which the generated traits require.

use std::future::Future;

use axum::http::StatusCode;
use sequence_api::runtime::{FromError, Replayable, RequestContext};
use sequence_api::server::ErrorCode;
use sequence_api::types::ErrorResponse;
use sequence_store::{StoreError, Tx, idempotency};
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::Server;

/// How many times a use case is attempted when its transaction collides with another.
const ATTEMPTS_MAX: u32 = 10;

/// Waits before attempt `attempt + 1`: a growing, jittered pause, so that transactions that just
/// deadlocked (PostgreSQL aborts one of them) do not collide again in lockstep.
async fn back_off(attempt: u32) {
    use rand::Rng;
    let base_ms = 5 * u64::from(attempt);
    let jitter_ms = rand::rng().random_range(0..=base_ms);
    tokio::time::sleep(std::time::Duration::from_millis(base_ms + jitter_ms)).await;
}

/// Identifies "the same request" for an idempotency key: method, path and the typed body
/// (serialized canonically, so whitespace and key order in the original JSON do not matter).
pub fn fingerprint(method: &str, path: &str, body: &impl serde::Serialize) -> String {
    let body = serde_json::to_string(body).unwrap_or_default();
    hex::encode(Sha256::digest(format!("{method} {path}\n{body}").as_bytes()))
}

impl Server {
    /// Runs `use_case` in one transaction, honouring `key` (see the module docs).
    pub(crate) async fn mutate<R, F, Fut>(
        &self,
        ctx: &RequestContext<Principal>,
        key: Option<&str>,
        fingerprint: String,
        use_case: F,
    ) -> R
    where
        R: Replayable + FromError<ErrorResponse>,
        F: Fn(Tx) -> Fut,
        Fut: Future<Output = (Tx, Result<R, ApiError>)>,
    {
        let result = match key {
            None => self.run_in_transaction(None, &use_case).await,
            Some(key) => self.run_idempotent(ctx, key, &fingerprint, &use_case).await,
        };
        crate::error::respond(ctx, result)
    }

    async fn run_idempotent<R, F, Fut>(
        &self,
        ctx: &RequestContext<Principal>,
        key: &str,
        fingerprint: &str,
        use_case: &F,
    ) -> Result<R, ApiError>
    where
        R: Replayable,
        F: Fn(Tx) -> Fut,
        Fut: Future<Output = (Tx, Result<R, ApiError>)>,
    {
        let org = &ctx.principal.org_id;
        let now_ms = self.state.now().timestamp_millis();
        let claim = {
            let mut tx = self.state.store.begin().await?;
            let claim = idempotency::claim(&mut tx, org, key, fingerprint, now_ms).await?;
            tx.commit().await.map_err(StoreError::from)?;
            claim
        };
        match claim {
            idempotency::Claim::Acquired => {}
            idempotency::Claim::Replay { status, body } => {
                let status = StatusCode::from_u16(status).map_err(ApiError::internal)?;
                return R::from_success_json(status, &body).ok_or_else(|| {
                    ApiError::internal("stored idempotent response does not parse")
                });
            }
            idempotency::Claim::Mismatch => {
                return Err(ApiError::new(
                    ErrorCode::IdempotencyKeyMismatch,
                    "This Idempotency-Key was already used with a different request (method, path or body). Use a new key for a new request.",
                ));
            }
            idempotency::Claim::InProgress => {
                return Err(ApiError::new(
                    ErrorCode::IdempotencyRequestInProgress,
                    "A request with this Idempotency-Key is still being processed; retry shortly to get its response.",
                ));
            }
        }
        let result = self.run_in_transaction(Some((org, key)), use_case).await;
        if result.is_err() {
            // Nothing was recorded for this key; let a retry execute again.
            let released = async {
                let mut tx = self.state.store.begin().await?;
                idempotency::release(&mut tx, org, key).await?;
                tx.commit().await.map_err(StoreError::from)
            };
            if let Err(error) = released.await {
                tracing::warn!(%error, "could not release an idempotency claim; it expires on its own");
            }
        }
        result
    }

    async fn run_in_transaction<R, F, Fut>(
        &self,
        record_for: Option<(&sequence_core::ids::OrgId, &str)>,
        use_case: &F,
    ) -> Result<R, ApiError>
    where
        R: Replayable,
        F: Fn(Tx) -> Fut,
        Fut: Future<Output = (Tx, Result<R, ApiError>)>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let tx = match self.state.store.begin().await {
                Ok(tx) => tx,
                // SQLite answers "busy" when another writer holds the lock past the busy timeout.
                Err(StoreError::Retry) if attempt < ATTEMPTS_MAX => {
                    back_off(attempt).await;
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            let (mut tx, result) = use_case(tx).await;
            let outcome = async {
                let response = result?;
                if let (Some((org, key)), Some((status, body))) =
                    (record_for, response.success_json())
                {
                    idempotency::complete(&mut tx, org, key, status.as_u16(), &body).await?;
                }
                Ok::<R, ApiError>(response)
            }
            .await;
            match outcome {
                Ok(response) => match tx.commit().await.map_err(StoreError::from) {
                    Ok(()) => return Ok(response),
                    Err(StoreError::Retry) if attempt < ATTEMPTS_MAX => back_off(attempt).await,
                    Err(error) => return Err(error.into()),
                },
                Err(error) => {
                    // Dropping the transaction rolls it back.
                    drop(tx);
                    if !(error.retryable && attempt < ATTEMPTS_MAX) {
                        return Err(error);
                    }
                    back_off(attempt).await;
                }
            }
        }
    }
}
