//! A raw event appender: writes correctly hash-chained `events` rows for given ledger-core
//! events, exactly as command-api stores them, without going through any API.
//!
//! Works on a plain client or inside a caller's transaction (anything `GenericClient`), so
//! tests can hold a transaction open to reproduce commit-order races.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ledger_core::chain::{self, ChainedEvent, GENESIS, Hash};
use ledger_core::metadata::{ActorRole, EventMetadata};
use ledger_core::{Aggregate, DomainEvent};
use tokio_postgres::GenericClient;

/// Metadata of a test command at `at`.
pub fn metadata(at: DateTime<Utc>) -> EventMetadata {
    EventMetadata {
        actor_id: "test".to_owned(),
        actor_role: ActorRole::System,
        source_ip: "127.0.0.1".to_owned(),
        request_id: "req-test".to_owned(),
        trace_id: "trace-test".to_owned(),
        occurred_at: at,
    }
}

/// Metadata of a command by `actor_id` acting as `actor_role`, from `source_ip`, at `at`
/// (staff actions, reviews, operators' own requests).
pub fn metadata_of(
    actor_id: &str,
    actor_role: ActorRole,
    source_ip: &str,
    at: DateTime<Utc>,
) -> EventMetadata {
    EventMetadata {
        actor_id: actor_id.to_owned(),
        actor_role,
        source_ip: source_ip.to_owned(),
        request_id: format!("req-{actor_id}-{}", at.timestamp_micros()),
        trace_id: "trace-test".to_owned(),
        occurred_at: at,
    }
}

/// Appends `events` to the stream `A::TYPE`/`aggregate_id` after its current last event, in
/// one statement, and returns their positions.
///
/// Payload and metadata are serialized once; the hash covers exactly the stored text.
pub async fn append<A: Aggregate>(
    client: &impl GenericClient,
    aggregate_id: &str,
    events: &[A::Event],
    metadata: &EventMetadata,
) -> Result<Vec<i64>, tokio_postgres::Error> {
    let head = client
        .query_opt(
            "SELECT sequence, hash FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
             ORDER BY sequence DESC LIMIT 1",
            &[&A::TYPE, &aggregate_id],
        )
        .await?;
    let (mut sequence, mut previous): (i64, Hash) = match head {
        Some(row) => {
            let hash: Vec<u8> = row.get(1);
            (
                row.get(0),
                hash.try_into().expect("stored hashes are 32 bytes"),
            )
        }
        None => (0, GENESIS),
    };
    // The cqrs-es ecosystem reads metadata as a flat map of strings; sorted for stable text.
    let metadata_text =
        serde_json::to_string(&metadata.to_map().into_iter().collect::<BTreeMap<_, _>>())
            .expect("metadata serializes");

    let mut sequences = Vec::with_capacity(events.len());
    let mut event_types = Vec::with_capacity(events.len());
    let mut event_versions = Vec::with_capacity(events.len());
    let mut payloads = Vec::with_capacity(events.len());
    let mut hashes = Vec::with_capacity(events.len());
    for event in events {
        sequence += 1;
        let event_type = event.event_type();
        let event_version = event.event_version();
        let payload = serde_json::to_string(event).expect("events serialize");
        let hash = chain::event_hash(
            &previous,
            &ChainedEvent {
                aggregate_type: A::TYPE,
                aggregate_id,
                sequence,
                event_type: &event_type,
                event_version: &event_version,
                payload: &payload,
                metadata: &metadata_text,
            },
        );
        previous = hash;
        sequences.push(sequence);
        event_types.push(event_type);
        event_versions.push(event_version);
        payloads.push(payload);
        hashes.push(hash.to_vec());
    }
    let rows = client
        .query(
            "INSERT INTO events \
                 (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, hash) \
             SELECT $1, $2, e.sequence, e.event_type, e.event_version, e.payload::json, $3::text::json, e.hash \
             FROM unnest($4::bigint[], $5::text[], $6::text[], $7::text[], $8::bytea[]) \
                  WITH ORDINALITY AS e(sequence, event_type, event_version, payload, hash, ord) \
             ORDER BY e.ord \
             RETURNING position",
            &[
                &A::TYPE,
                &aggregate_id,
                &metadata_text,
                &sequences,
                &event_types,
                &event_versions,
                &payloads,
                &hashes,
            ],
        )
        .await?;
    let mut positions: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    positions.sort_unstable();
    Ok(positions)
}
