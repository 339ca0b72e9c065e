//! The projector: tails the event store and keeps the read models (schema `read`) true.
//!
//! It reads events in commit order, `(tx_id, position)`, and only those below the oldest
//! transaction still running in this database, so an event whose transaction commits late is
//! never skipped; a stream event that sorts before its predecessor is applied after it.
//! Each batch is folded in memory, with a pair assertion on every money event, and its rows
//! and the checkpoint are written in one transaction under an advisory lock: a crash loses or
//! doubles nothing, and a rebuild or a second projector can never interleave with it.
//! Messages to many operators (announcements, price changes) are the exception to the
//! in-memory fold: the batch writes what it folded so far and delivers them with one
//! `INSERT … SELECT` over the read tables, so they reach exactly the operators of that point
//! in the history. `rebuild` replays the history into a fresh schema and swaps it in;
//! `verify` checks every hash chain and diffs the read tables against a replay.
//!
//! Layout:
//! - `batch`: [`project_next_batch`], one transaction per batch; the step function.
//! - `source`: reading events (the gap-free tail, stream gap fills) and decoding payloads
//!   and, where a read table needs it, metadata.
//! - `fold`: the in-memory fold and its pair assertions; no IO. Its submodules: operator
//!   workflows, staff accounts and announcements, messages.
//! - `rows`: one struct per read table and the loading of current rows.
//! - `write`: bulk upserts of a folded batch, read marks and fan-outs.
//! - `tables`: names, keys and columns of the read tables.
//! - `time_zone`: the zone statistics days are cut in, recorded per read schema.
//! - `checkpoint`: where a read schema stands.
//! - `live`: after each commit, what the batch changed for live viewers, published on Redis.
//! - `metrics`: the lag behind the event store, and `/metrics` and `/health` of `projector run`.
//! - `run`: the tailing loop (LISTEN/NOTIFY plus a poll fallback) and graceful shutdown.
//! - `rebuild`: replay into a fresh schema and swap.
//! - `verify`: hash chains, read tables against a replay, balances against the events.
//! - `settings`: the binary's typed settings.
//! - `error`: what can stop a batch.

pub mod batch;
pub mod checkpoint;
pub mod error;
mod fold;
pub mod live;
pub mod metrics;
pub mod rebuild;
mod rows;
pub mod run;
pub mod settings;
mod source;
mod tables;
pub mod time_zone;
pub mod verify;
mod write;

pub use batch::{BATCH_SIZE, PROJECTION_LOCK, Step, project_batch_of, project_next_batch};
pub use checkpoint::Checkpoint;
pub use error::Error;
pub use rebuild::{REBUILD_LOCK, RebuildReport, rebuild, rebuild_in_zone};
pub use run::{LEADER_LOCK, STANDBY_POLL, run, run_in_zone, run_with_live};
pub use time_zone::DEFAULT_TIME_ZONE;
pub use verify::{VerifyReport, verify};

/// Name of the live read schema.
pub const READ_SCHEMA: &str = migrations::READ_SCHEMA;

/// Refuses anything but a plain lower-case identifier, so a schema name can be spliced into
/// SQL (`search_path`, `ALTER SCHEMA`) without quoting surprises.
pub(crate) fn check_schema_name(schema: &str) -> Result<(), Error> {
    let mut bytes = schema.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if first_ok && rest_ok && schema.len() <= 63 {
        Ok(())
    } else {
        Err(Error::SchemaName(schema.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_lower_case_identifiers_are_accepted_as_schema_names() {
        for good in ["read", "read_next", "_x1"] {
            assert!(check_schema_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Read",
            "1read",
            "read;drop",
            "read next",
            "\"read\"",
            &"x".repeat(64),
        ] {
            assert!(check_schema_name(bad).is_err(), "{bad}");
        }
    }
}
