//! Where a read schema stands: the last event applied, in `(tx_id, position)` order.
//!
//! The checkpoint lives in the read schema it describes and is written in the same
//! transaction as that batch's rows; it is re-read inside every batch, never cached.

use tokio_postgres::GenericClient;

use crate::Error;

/// The order of the tail: by appending transaction, then by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventKey {
    /// The appending transaction's `xid8` (PostgreSQL's 64-bit transaction id).
    pub tx_id: u64,
    pub position: i64,
}

impl EventKey {
    /// Before every event.
    pub const ZERO: EventKey = EventKey {
        tx_id: 0,
        position: 0,
    };
}

/// A read schema's checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Last event taken from the tail.
    pub last: EventKey,
    /// How many events the tail has handed over so far.
    pub events: i64,
}

/// Reads the checkpoint of the schema on the current `search_path`.
pub(crate) async fn read(client: &impl GenericClient) -> Result<Checkpoint, Error> {
    read_from(client, "checkpoint").await
}

/// Reads the checkpoint of `schema` (validated by the caller).
pub(crate) async fn read_schema(
    client: &impl GenericClient,
    schema: &str,
) -> Result<Checkpoint, Error> {
    read_from(client, &format!("{schema}.checkpoint")).await
}

async fn read_from(client: &impl GenericClient, table: &str) -> Result<Checkpoint, Error> {
    let row = client
        .query_one(
            &format!("SELECT tx_id::text, position, events FROM {table}"),
            &[],
        )
        .await?;
    let tx_id: String = row.get(0);
    let tx_id = tx_id.parse().map_err(|_| Error::BadRow {
        table: "checkpoint",
        reason: format!("tx_id {tx_id:?} is not an xid8"),
    })?;
    Ok(Checkpoint {
        last: EventKey {
            tx_id,
            position: row.get(1),
        },
        events: row.get(2),
    })
}

/// Moves the checkpoint of the schema on the current `search_path` past `count` more events.
pub(crate) async fn advance(
    client: &impl GenericClient,
    last: EventKey,
    count: usize,
) -> Result<(), Error> {
    let count = i64::try_from(count).expect("a batch is far smaller than i64::MAX");
    client
        .execute(
            "UPDATE checkpoint SET tx_id = $1::text::xid8, position = $2, events = events + $3, \
             updated_at = now()",
            &[&last.tx_id.to_string(), &last.position, &count],
        )
        .await?;
    Ok(())
}
