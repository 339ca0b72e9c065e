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
    /// The connection failed while a write was in flight: it may have committed or not.
    /// Never answered as is: the caller looks the outcome up first (a 503 promises that
    /// nothing was written).
    #[error("database connection lost during a write: {0}")]
    Interrupted(String),
    #[error("database error: {0}")]
    Database(tokio_postgres::Error),
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

impl StoreError {
    /// The error of a write statement: `Unavailable` becomes [`StoreError::Interrupted`],
    /// since the statement may have reached the server and committed before the connection
    /// went away (a failover, a restart, a cut network).
    pub(crate) fn of_write(self) -> StoreError {
        match self {
            StoreError::Unavailable(cause) => StoreError::Interrupted(cause),
            other => other,
        }
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
    StoreError::from(error)
}

/// Any database error met with `?`: one that says the database is (for now) not there is
/// `Unavailable` (503, nothing happened, retry), the rest `Database` (500).
impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        if is_unavailable(&error) {
            StoreError::Unavailable(error.to_string())
        } else {
            StoreError::Database(error)
        }
    }
}

/// The connection is gone or the server is going away: the socket closed or failed, or SQLSTATE class 08 (connection exception), 57P01–57P03 (the server shut down or
/// terminated this backend, or cannot accept connections yet) or 53 (out of resources, e.g.
/// too many connections).
fn is_unavailable(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        // No SQLSTATE: only a failed socket means the database is away (a value that does
        // not convert, say, is a bug of ours).
        None => std::error::Error::source(error).is_some_and(|s| s.is::<std::io::Error>()),
        Some(code) => {
            let code = code.code();
            code.starts_with("08")
                || code.starts_with("53")
                || matches!(code, "57P01" | "57P02" | "57P03")
        }
    }
}
