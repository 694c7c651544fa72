//! Storage errors. Database details never leave this crate except inside
//! [`StoreError::Database`], which the server logs and answers as a generic 500.

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist (in this organization).
    #[error("not found")]
    NotFound,
    /// A uniqueness or check constraint refused the write; carries the constraint's description.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store is misconfigured (bad URL, failed migration).
    #[error("{0}")]
    Config(String),
    /// Concurrent transactions collided (PostgreSQL serialization failure or deadlock); the
    /// whole use case may be retried.
    #[error("transaction conflict, retry")]
    Retry,
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// Classifies a sqlx error.
    pub fn from_sqlx(error: sqlx::Error) -> StoreError {
        match &error {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) => {
                // PostgreSQL: 40001 serialization_failure, 40P01 deadlock_detected.
                // SQLite: 5 SQLITE_BUSY / 6 SQLITE_LOCKED after the busy timeout.
                match db.code().as_deref() {
                    Some("40001" | "40P01" | "5" | "6" | "517") => StoreError::Retry,
                    _ if db.is_unique_violation() => StoreError::Conflict(db.message().to_owned()),
                    _ => StoreError::Database(error),
                }
            }
            _ => StoreError::Database(error),
        }
    }

    /// Whether retrying the whole transaction may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Retry)
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::from_sqlx(error)
    }
}
