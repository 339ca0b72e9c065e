//! What can stop a batch. Nothing is written when a batch stops: its transaction rolls back.

/// An error of the projector library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
    /// A stored event that does not decode as the event it says it is.
    #[error("event at position {position} cannot be decoded: {reason}")]
    Undecodable { position: i64, reason: String },
    /// A pair assertion or a reference failed: the projector will not write a row it cannot
    /// justify.
    #[error("refusing to project event at position {position} ({stream} #{sequence}): {reason}")]
    Unjustified {
        position: i64,
        stream: String,
        sequence: i64,
        reason: String,
    },
    /// A stream's event is missing from the events table (history damaged).
    #[error("stream {stream} has no event with sequence {missing}")]
    StreamGap { stream: String, missing: i64 },
    /// A row of a read table that cannot be what the projector wrote.
    #[error("row of read table {table} is invalid: {reason}")]
    BadRow { table: &'static str, reason: String },
    #[error("invalid read schema name {0:?}: lower-case letters, digits and _ only")]
    SchemaName(String),
    /// The configured statistics time zone is not one PostgreSQL knows.
    #[error("unknown time zone {0:?} (stats_time_zone): use a tz database name like Asia/Shanghai")]
    UnknownTimeZone(String),
    /// The read schema's statistics were cut in another zone than the configured one.
    #[error(
        "read schema {schema} records statistics in time zone {recorded:?}, but {configured:?} is configured: run `projector rebuild` to recompute them in the new zone"
    )]
    TimeZoneChanged {
        schema: String,
        recorded: String,
        configured: String,
    },
    /// Another `projector rebuild` holds the rebuild lock.
    #[error("another rebuild is running: wait for it to finish")]
    RebuildRunning,
}

impl Error {
    /// Worth retrying on a new connection (the database went away or asked us to retry),
    /// as opposed to a fact about the data that will fail again.
    pub fn is_transient(&self) -> bool {
        let Error::Db(e) = self else { return false };
        if e.is_closed() {
            return true;
        }
        match e.code() {
            // 08: connection exception, 40: transaction rollback (serialization, deadlock),
            // 53: insufficient resources, 57: operator intervention (shutdown, cancel).
            Some(code) => ["08", "40", "53", "57"]
                .iter()
                .any(|class| code.code().starts_with(class)),
            // No SQLSTATE: only an IO error on the socket is worth a retry.
            None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
        }
    }
}
