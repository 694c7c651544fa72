//! The transaction runner: one database transaction per use case, run again when it collides
//! with a concurrent one (a PostgreSQL serialization failure or deadlock, SQLite busy past its
//! timeout, or a conditional write that lost: [`AppError::is_retryable`]).
//!
//! The use case takes the transaction by value and hands it back with its result
//! (`|mut tx| async move { …; (tx, result) }`): an `AsyncFn(&mut Tx)` would be the natural
//! signature, but the compiler cannot yet prove such futures `Send` (higher-ranked lifetimes),
//! which the server's generated traits require. It is a `Fn` because it may run again.

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use sequence_store::{Store, StoreError, Tx};

use crate::AppError;

/// How many times a use case is attempted when its transaction collides with another.
pub const ATTEMPTS_MAX: u32 = 10;

/// Waits before attempt `attempt + 1`: a growing, jittered pause, so that transactions that just
/// deadlocked (PostgreSQL aborts one of them) do not collide again in lockstep.
pub async fn back_off(attempt: u32) {
    let base_ms = 5 * u64::from(attempt);
    let jitter_ms = rand::rng().random_range(0..=base_ms);
    tokio::time::sleep(Duration::from_millis(base_ms + jitter_ms)).await;
}

/// Begins a write transaction, retrying while the database is busy.
pub async fn begin(store: &Store) -> Result<Tx, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match store.begin().await {
            Err(StoreError::Retry) if attempt < ATTEMPTS_MAX => back_off(attempt).await,
            other => return other,
        }
    }
}

/// Runs `use_case` in a transaction and commits it on success; rolls back on error. Collisions
/// (at begin, inside the use case, or at commit) run the whole use case again, up to
/// [`ATTEMPTS_MAX`] times.
pub async fn run<T, E, F, Fut>(store: &Store, use_case: F) -> Result<T, E>
where
    E: From<StoreError> + Retryable,
    F: Fn(Tx) -> Fut,
    Fut: Future<Output = (Tx, Result<T, E>)>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let tx = begin(store).await?;
        let (tx, result) = use_case(tx).await;
        match result {
            Ok(value) => match tx.commit().await.map_err(StoreError::from) {
                Ok(()) => return Ok(value),
                Err(StoreError::Retry) if attempt < ATTEMPTS_MAX => back_off(attempt).await,
                Err(error) => return Err(error.into()),
            },
            Err(error) => {
                // Dropping the transaction rolls it back.
                drop(tx);
                if !(error.is_retryable() && attempt < ATTEMPTS_MAX) {
                    return Err(error);
                }
                back_off(attempt).await;
            }
        }
    }
}

/// Errors that say whether running the use case again may succeed.
pub trait Retryable {
    /// See [`AppError::is_retryable`].
    fn is_retryable(&self) -> bool;
}

impl Retryable for AppError {
    fn is_retryable(&self) -> bool {
        AppError::is_retryable(self)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use sequence_store::test_support::{TestBackend, TestDatabase};

    use super::*;

    async fn store() -> (TestDatabase, Store) {
        let database = TestDatabase::create(TestBackend::Sqlite).await.expect("sqlite");
        let store = Store::connect(database.url()).await.expect("store");
        (database, store)
    }

    #[tokio::test]
    async fn a_collision_runs_the_use_case_again() {
        // Regression: the idempotency claim's transaction answered 500 when SQLite was busy;
        // every transaction now goes through this runner, which tries again.
        let (_database, store) = store().await;
        let attempts = AtomicU32::new(0);
        let result: Result<u32, AppError> = run(&store, |tx| async {
            let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            let result =
                if attempt < 3 { Err(AppError::Store(StoreError::Retry)) } else { Ok(attempt) };
            (tx, result)
        })
        .await;
        assert_eq!(result.expect("succeeds on the third attempt"), 3);
    }

    #[tokio::test]
    async fn a_refusal_is_not_run_again() {
        let (_database, store) = store().await;
        let attempts = AtomicU32::new(0);
        let result: Result<(), AppError> = run(&store, |tx| async {
            attempts.fetch_add(1, Ordering::SeqCst);
            (tx, Err(AppError::Invalid("no".to_owned())))
        })
        .await;
        assert!(matches!(result, Err(AppError::Invalid(_))));
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn collisions_stop_after_the_last_attempt() {
        let (_database, store) = store().await;
        let attempts = AtomicU32::new(0);
        let result: Result<(), AppError> = run(&store, |tx| async {
            attempts.fetch_add(1, Ordering::SeqCst);
            (tx, Err(AppError::Conflict("the test row")))
        })
        .await;
        assert!(matches!(result, Err(AppError::Conflict(_))));
        assert_eq!(attempts.load(Ordering::SeqCst), ATTEMPTS_MAX);
    }
}
