//! The event store: append-only, hash-chained streams in PostgreSQL.
//!
//! Layout:
//! - [`events`]: encoding events into rows (payload, metadata, chain hash) and loading a
//!   stream's state from its snapshot plus the events after it.
//! - [`streams`]: the in-process state cache with one lock per stream, so commands on one
//!   aggregate run one after another here and conflicts only come from other instances.
//! - [`credentials`]: the encrypted secret store of API credentials.
//! - [`sessions`]: idempotency rows of headset sessions.

pub mod credentials;
pub mod events;
pub mod sessions;
pub mod streams;

use tokio_postgres::error::SqlState;

/// How a write could not be recorded (as opposed to a command being refused).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer appended to the stream first: reload and decide again.
    #[error("optimistic concurrency conflict on {0}")]
    Conflict(String),
    /// The idempotency row of this session exists: answer with the original result.
    #[error("session already recorded")]
    DuplicateSession,
    /// A uniqueness claim (e.g. an operator username) is taken.
    #[error("already taken: {0}")]
    Taken(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(#[from] tokio_postgres::Error),
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// Maps a unique violation to the conflict it means, by constraint name.
pub(crate) fn classify(error: tokio_postgres::Error) -> StoreError {
    if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        let constraint = error
            .as_db_error()
            .and_then(|db| db.constraint())
            .unwrap_or_default()
            .to_owned();
        return match constraint.as_str() {
            "headset_sessions_pkey" => StoreError::DuplicateSession,
            "events_pkey" => StoreError::Conflict(constraint),
            _ => StoreError::Taken(constraint),
        };
    }
    if error.is_closed() || error.code().is_none() {
        return StoreError::Unavailable(error.to_string());
    }
    StoreError::Database(error)
}
