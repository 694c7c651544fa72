//! Running a mutating use case over HTTP: one database transaction
//! ([`sequence_app::unit_of_work::run`]), with the `Idempotency-Key` protocol of
//! `sequence_store::idempotency` around it.
//!
//! - No key: run the use case in a transaction; commit on success.
//! - Key: claim it, run the use case and record the success response, all in one transaction
//!   (retried as a whole when it collides). A finished twin is replayed byte for byte; a
//!   different request with the key is `400 idempotency_key_mismatch`; a twin an earlier release
//!   left unfinished is `409 idempotency_request_in_progress`. Error responses are not recorded:
//!   the rollback takes the claim with it, so the client can retry (as the spec documents).
//!
//! Either way, a successful call is recorded in the audit log in the use case's transaction
//! (see [`crate::audit`]); a replay is not recorded again.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::StatusCode;
use sequence_api::runtime::{FromError, Replayable, RequestContext};
use sequence_api::server::ErrorCode;
use sequence_api::types::ErrorResponse;
use sequence_app::unit_of_work::{self, Retryable};
use sequence_core::ids::OrgId;
use sequence_store::{Tx, idempotency};
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::Server;

/// Identifies "the same request" for an idempotency key: the operation's method and the request's
/// concrete path, both from the generated route table via the request context (so no handler
/// retypes them), and the typed body (serialized canonically, so whitespace and key order in the
/// original JSON do not matter). The text hashed is `"{METHOD} {path}\n{body}"`, where `path` is
/// the template with the decoded path parameters (`PUT /rules/rule_01…`), exactly what the
/// handlers hashed before the context carried the operation, so stored keys stay valid.
pub fn fingerprint<P>(ctx: &RequestContext<P>, body: &impl serde::Serialize) -> String {
    let body = serde_json::to_string(body).unwrap_or_default();
    let method = ctx.operation.method;
    hex::encode(Sha256::digest(format!("{method} {}\n{body}", ctx.path).as_bytes()))
}

/// The `(organization, Idempotency-Key)` pairs whose request is executing on this server, so
/// that a duplicate arriving meanwhile is answered `409 idempotency_request_in_progress` at once,
/// as the spec documents, instead of queueing behind the original: the claim itself commits only
/// with the effect, so the database cannot tell "still running" apart. Across replicas (on
/// PostgreSQL) a duplicate sent to another server waits for the original's transaction on the
/// key's unique index and then replays its response, which the spec also states.
#[derive(Clone, Default)]
pub struct InFlightKeys(Arc<Mutex<HashSet<(OrgId, String)>>>);

/// Holds one pair in [`InFlightKeys`] until dropped (when the request's transaction has ended,
/// whatever its outcome, panics included).
struct InFlight {
    keys: InFlightKeys,
    entry: (OrgId, String),
}

impl InFlightKeys {
    /// Marks `key` as executing, or `None` if a request with it already is.
    fn enter(&self, org: &OrgId, key: &str) -> Option<InFlight> {
        let entry = (org.clone(), key.to_owned());
        let mut keys = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        keys.insert(entry.clone()).then(|| InFlight { keys: self.clone(), entry })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.keys.0.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.entry);
    }
}

impl Retryable for ApiError {
    fn is_retryable(&self) -> bool {
        self.retryable
    }
}

impl Server {
    /// Runs `use_case` in one transaction, honouring `key` (see the module docs); `body` is the
    /// request's typed body (`&()` for none), part of the key's [`fingerprint`].
    pub(crate) async fn mutate<R, F, Fut>(
        &self,
        ctx: &RequestContext<Principal>,
        key: Option<&str>,
        body: &impl serde::Serialize,
        use_case: F,
    ) -> R
    where
        R: Replayable + FromError<ErrorResponse>,
        F: Fn(Tx) -> Fut,
        Fut: Future<Output = (Tx, Result<R, ApiError>)>,
    {
        let result = match key {
            None => {
                unit_of_work::run(&self.app.store, |tx| async {
                    let (mut tx, result) = use_case(tx).await;
                    let recorded = async {
                        let response = result?;
                        let success = response.success_json();
                        self.audit_success(&mut tx, ctx, success.as_ref()).await?;
                        Ok::<R, ApiError>(response)
                    }
                    .await;
                    (tx, recorded)
                })
                .await
            }
            Some(key) => {
                let fingerprint = fingerprint(ctx, body);
                self.run_idempotent(ctx, key, &fingerprint, &use_case).await
            }
        };
        crate::error::respond(ctx, result)
    }

    /// Records the successful call in the audit log, in the use case's transaction (every
    /// mutation's response is a success here; `None` would be a response without a body).
    async fn audit_success(
        &self,
        tx: &mut Tx,
        ctx: &RequestContext<Principal>,
        success: Option<&(StatusCode, String)>,
    ) -> Result<(), ApiError> {
        let status = success.map_or(ctx.operation.success_status, |(status, _)| status.as_u16());
        self.record_success(tx, ctx, status, success.map(|(_, body)| body.as_str())).await
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
        let Some(_in_flight) = self.state.in_flight_keys.enter(org, key) else {
            return Err(in_progress());
        };
        let now_ms = self.app.now().timestamp_millis();
        // The claim, the effect and the recorded response share one transaction: a replay exists
        // if and only if the effect committed, a failed use case leaves no claim behind (its
        // rollback removes it, so a retry executes again), and a request costs one writer
        // transaction, not two. Two requests with one key: on SQLite the single writer runs
        // them one after the other, so the second finds the first's response; on PostgreSQL
        // the second's `INSERT … ON CONFLICT DO NOTHING` waits on the first's uncommitted row
        // (the unique index's lock), then sees it committed (a replay) or gone (the claim is
        // its own). A collision (busy, deadlock) runs the claim again with the use case.
        unit_of_work::run(&self.app.store, |mut tx| async move {
            let claim = match idempotency::claim(&mut tx, org, key, fingerprint, now_ms).await {
                Ok(claim) => claim,
                Err(error) => return (tx, Err(ApiError::from(error))),
            };
            match claim {
                idempotency::Claim::Acquired => {}
                idempotency::Claim::Replay { status, body } => {
                    let replay = StatusCode::from_u16(status)
                        .map_err(ApiError::internal)
                        .and_then(|status| {
                            R::from_success_json(status, &body).ok_or_else(|| {
                                ApiError::internal("stored idempotent response does not parse")
                            })
                        });
                    return (tx, replay);
                }
                idempotency::Claim::Mismatch => {
                    return (tx, Err(ApiError::new(
                        ErrorCode::IdempotencyKeyMismatch,
                        "This Idempotency-Key was already used with a different request (method, path or body). Use a new key for a new request.",
                    )));
                }
                idempotency::Claim::InProgress => {
                    // Only a claim an earlier release committed on its own (or one still
                    // running there, during a rolling upgrade) can be found unfinished.
                    return (tx, Err(in_progress()));
                }
            }
            let (mut tx, result) = use_case(tx).await;
            let recorded = async {
                let response = result?;
                let success = response.success_json();
                if let Some((status, body)) = &success {
                    idempotency::complete(&mut tx, org, key, status.as_u16(), body).await?;
                }
                self.audit_success(&mut tx, ctx, success.as_ref()).await?;
                Ok::<R, ApiError>(response)
            }
            .await;
            (tx, recorded)
        })
        .await
    }
}

fn in_progress() -> ApiError {
    ApiError::new(
        ErrorCode::IdempotencyRequestInProgress,
        "A request with this Idempotency-Key is still being processed; retry shortly to get its response.",
    )
}

#[cfg(test)]
mod tests {
    use sequence_api::runtime::RequestContext;
    use sequence_api::server::OPERATIONS;
    use sha2::{Digest, Sha256};

    use super::fingerprint;

    fn context(operation_id: &str, path: &str) -> RequestContext<()> {
        let operation = OPERATIONS
            .iter()
            .find(|o| o.operation_id == operation_id)
            .expect("an operation of the spec");
        RequestContext {
            request_id: "req_1".to_owned(),
            principal: (),
            operation,
            path: path.to_owned(),
            extensions: Default::default(),
        }
    }

    /// Fingerprints recorded before the context carried the operation were the SHA-256 of
    /// `"{METHOD} {concrete path}\n{body}"`; the same request must still match them.
    #[test]
    fn fingerprints_are_what_handlers_used_to_hash() {
        let legacy = |text: &str| hex::encode(Sha256::digest(text.as_bytes()));
        let body = serde_json::json!({"nickname": "Sweep", "status": "disabled"});
        assert_eq!(
            fingerprint(&context("updateRule", "/rules/rule_01J"), &body),
            legacy(&format!("PUT /rules/rule_01J\n{body}"))
        );
        assert_eq!(
            fingerprint(&context("deleteAccount", "/accounts/acc_01J"), &()),
            legacy("DELETE /accounts/acc_01J\nnull")
        );
        assert_ne!(
            fingerprint(&context("enableSandboxRule", "/sandbox/rules/rule_1/enable"), &()),
            fingerprint(&context("disableSandboxRule", "/sandbox/rules/rule_1/disable"), &()),
            "the path tells operations on the same resource apart"
        );
    }
}
