//! Rows of the `events` table: encoding, hash chaining, appending and loading.

use std::collections::BTreeMap;

use cqrs_es::{Aggregate, DomainEvent};
use deadpool_postgres::GenericClient;
use ledger_core::chain::{self, ChainedEvent, GENESIS, Hash};
use ledger_core::metadata::EventMetadata;

use super::{StoreError, classify};

/// A snapshot is written every this many events, so a cold load reads at most this many.
pub const SNAPSHOT_EVERY: i64 = 100;

/// State of one stream as far as this process knows it.
#[derive(Debug, Clone)]
pub struct Stream<A> {
    pub id: String,
    pub state: A,
    /// Sequence of the last event applied (0: empty stream).
    pub version: i64,
    /// Chain hash of that event.
    pub last_hash: Hash,
}

impl<A: Aggregate> Stream<A> {
    pub fn empty(id: &str) -> Self {
        Stream {
            id: id.to_owned(),
            state: A::default(),
            version: 0,
            last_hash: GENESIS,
        }
    }
}

/// One event ready to insert.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub aggregate_type: &'static str,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: String,
    pub metadata: String,
    pub hash: Hash,
}

/// Metadata as stored: a flat JSON object of strings with sorted keys.
pub fn encode_metadata(metadata: &EventMetadata) -> String {
    let sorted: BTreeMap<String, String> = metadata.to_map().into_iter().collect();
    serde_json::to_string(&sorted).expect("a map of strings serializes")
}

/// Encodes `events` as rows continuing `stream`, chaining their hashes.
pub fn encode<A: Aggregate>(
    stream: &Stream<A>,
    events: &[A::Event],
    metadata: &EventMetadata,
) -> Vec<EventRow> {
    let metadata = encode_metadata(metadata);
    let mut previous = stream.last_hash;
    events
        .iter()
        .zip(stream.version + 1..)
        .map(|(event, sequence)| {
            let payload = serde_json::to_string(event).expect("events serialize");
            let row = EventRow {
                aggregate_type: A::TYPE,
                aggregate_id: stream.id.clone(),
                sequence,
                event_type: event.event_type(),
                event_version: event.event_version(),
                payload,
                metadata: metadata.clone(),
                hash: [0; 32],
            };
            let hash = chain::event_hash(&previous, &chained(&row));
            previous = hash;
            EventRow { hash, ..row }
        })
        .collect()
}

fn chained(row: &EventRow) -> ChainedEvent<'_> {
    ChainedEvent {
        aggregate_type: row.aggregate_type,
        aggregate_id: &row.aggregate_id,
        sequence: row.sequence,
        event_type: &row.event_type,
        event_version: &row.event_version,
        payload: &row.payload,
        metadata: &row.metadata,
    }
}

/// Column arrays for one `INSERT … SELECT FROM unnest(…)`.
pub struct RowArrays {
    pub types: Vec<&'static str>,
    pub ids: Vec<String>,
    pub sequences: Vec<i64>,
    pub event_types: Vec<String>,
    pub versions: Vec<String>,
    pub payloads: Vec<String>,
    pub metadata: Vec<String>,
    pub hashes: Vec<Vec<u8>>,
}

impl RowArrays {
    /// The eight column arrays as statement parameters `$1..$8`, in insert order.
    pub fn params(&self) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
        vec![
            &self.types,
            &self.ids,
            &self.sequences,
            &self.event_types,
            &self.versions,
            &self.payloads,
            &self.metadata,
            &self.hashes,
        ]
    }

    pub fn new(rows: &[EventRow]) -> Self {
        RowArrays {
            types: rows.iter().map(|r| r.aggregate_type).collect(),
            ids: rows.iter().map(|r| r.aggregate_id.clone()).collect(),
            sequences: rows.iter().map(|r| r.sequence).collect(),
            event_types: rows.iter().map(|r| r.event_type.clone()).collect(),
            versions: rows.iter().map(|r| r.event_version.clone()).collect(),
            payloads: rows.iter().map(|r| r.payload.clone()).collect(),
            metadata: rows.iter().map(|r| r.metadata.clone()).collect(),
            hashes: rows.iter().map(|r| r.hash.to_vec()).collect(),
        }
    }
}

/// The insert of event rows shared by every append; `$1..$8` are the column arrays. It
/// answers the appending transaction's id (the read-your-writes token), one row per event.
pub const INSERT_EVENTS: &str = "INSERT INTO events \
    (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, hash) \
    SELECT t.at, t.ai, t.seq, t.et, t.ev, t.p::json, t.m::json, t.h \
    FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bytea[]) \
      AS t(at, ai, seq, et, ev, p, m, h) \
    RETURNING tx_id::text";

/// Appends rows (all of one stream, contiguous sequences) in the caller's transaction or as
/// one statement, and returns the appending transaction's id (`None` when `rows` is empty).
/// A primary-key violation means another writer got there first.
pub async fn append(
    client: &impl GenericClient,
    rows: &[EventRow],
) -> Result<Option<u64>, StoreError> {
    if rows.is_empty() {
        return Ok(None);
    }
    let a = RowArrays::new(rows);
    let statement = client.prepare_cached(INSERT_EVENTS).await?;
    let inserted = client
        .query(&statement, &a.params())
        .await
        .map_err(classify)?;
    Ok(inserted
        .first()
        .map(|row| crate::position::parse(row.get(0))))
}

/// Applies events that were just appended to the in-memory stream. The aggregate already
/// applied them while deciding (cqrs-es's `EventSink` applies as it writes), so only the
/// version and hash move here; `decided_state` is that aggregate.
pub fn advance<A: Aggregate>(stream: &mut Stream<A>, decided_state: A, rows: &[EventRow]) {
    if let Some(last) = rows.last() {
        assert_eq!(
            last.sequence,
            stream.version + rows.len() as i64,
            "contiguous append"
        );
        stream.version = last.sequence;
        stream.last_hash = last.hash;
        stream.state = decided_state;
    }
}

/// Loads a stream: its snapshot (if any) plus every event after it. Costs at most
/// `SNAPSHOT_EVERY` events whatever the stream's length.
pub async fn load<A: Aggregate>(
    client: &impl GenericClient,
    id: &str,
) -> Result<Stream<A>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT sequence, hash, state::text FROM snapshots \
             WHERE aggregate_type = $1 AND aggregate_id = $2",
        )
        .await?;
    let mut stream = match client.query_opt(&statement, &[&A::TYPE, &id]).await? {
        Some(row) => Stream {
            id: id.to_owned(),
            version: row.get(0),
            last_hash: to_hash(row.get(1))?,
            state: serde_json::from_str(row.get(2))
                .map_err(|e| StoreError::Corrupt(format!("snapshot of {}/{id}: {e}", A::TYPE)))?,
        },
        None => Stream::empty(id),
    };
    catch_up(client, &mut stream).await?;
    Ok(stream)
}

/// Applies every event stored after `stream.version`; returns how many there were.
pub async fn catch_up<A: Aggregate>(
    client: &impl GenericClient,
    stream: &mut Stream<A>,
) -> Result<usize, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT sequence, payload::text, hash FROM events \
             WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3 ORDER BY sequence",
        )
        .await?;
    let rows = client
        .query(&statement, &[&A::TYPE, &stream.id, &stream.version])
        .await?;
    for row in &rows {
        let sequence: i64 = row.get(0);
        assert_eq!(sequence, stream.version + 1, "streams have no gaps");
        let event: A::Event = serde_json::from_str(row.get(1)).map_err(|e| {
            StoreError::Corrupt(format!("{}/{} #{sequence}: {e}", A::TYPE, stream.id))
        })?;
        stream.state.apply(event);
        stream.version = sequence;
        stream.last_hash = to_hash(row.get(2))?;
    }
    Ok(rows.len())
}

/// Latest sequence stored for a stream (0 when empty): one index probe.
pub async fn stored_version(
    client: &impl GenericClient,
    aggregate_type: &str,
    id: &str,
) -> Result<i64, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT coalesce(max(sequence), 0) FROM events WHERE aggregate_type = $1 AND aggregate_id = $2",
        )
        .await?;
    Ok(client
        .query_one(&statement, &[&aggregate_type, &id])
        .await?
        .get(0))
}

/// Writes a snapshot when the stream just crossed a multiple of `SNAPSHOT_EVERY`.
/// Snapshots are derived data written after the commit: never newer than what is stored.
pub async fn maybe_snapshot<A: Aggregate>(
    client: &impl GenericClient,
    stream: &Stream<A>,
    appended: usize,
) -> Result<(), StoreError> {
    let before = stream.version - appended as i64;
    if stream.version / SNAPSHOT_EVERY == before / SNAPSHOT_EVERY {
        return Ok(());
    }
    let state = serde_json::to_string(&stream.state).expect("aggregate state serializes");
    let statement = client
        .prepare_cached(
            "INSERT INTO snapshots (aggregate_type, aggregate_id, sequence, hash, state) \
             VALUES ($1, $2, $3, $4, $5::text::json) \
             ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE \
               SET sequence = EXCLUDED.sequence, hash = EXCLUDED.hash, state = EXCLUDED.state \
               WHERE snapshots.sequence < EXCLUDED.sequence",
        )
        .await?;
    client
        .execute(
            &statement,
            &[
                &A::TYPE,
                &stream.id,
                &stream.version,
                &stream.last_hash.to_vec(),
                &state,
            ],
        )
        .await?;
    Ok(())
}

fn to_hash(bytes: Vec<u8>) -> Result<Hash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("hash is not 32 bytes".to_owned()))
}
