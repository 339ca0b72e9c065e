//! Events with their stream's previous hash, in keyset pages, for the auditors' gRPC stream:
//! a client can check every chain link without fetching the predecessor itself.
//!
//! The same rows, order and visibility rule as the HTTP pages (`audit`): one stream by
//! sequence, or everything in `(tx_id, position)` order below the horizon.

use chrono::SecondsFormat;
use ledger_core::chain::{self, GENESIS};
use tokio_postgres::Row;

use super::audit::HORIZON;
use super::{Store, StoreError};

/// One stored event as the gRPC stream sends it: payload and metadata are the stored JSON
/// texts byte for byte, hashes are hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedEvent {
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: String,
    pub metadata: String,
    /// RFC 3339 UTC, formatted as the HTTP pages format it.
    pub recorded_at: String,
    pub hash: String,
    /// The hash of the stream's event before this one; [`GENESIS`] for the first.
    pub previous_hash: String,
}

/// The event columns of `e` and the hash of its predecessor, looked up per row on the
/// stream's primary key (a correlated subquery: one index probe per event, where a join was
/// planned as a scan of the whole stream per event); none for the first event.
const LINKED_COLUMNS: &str = "e.position, e.aggregate_type, e.aggregate_id, e.sequence, \
     e.event_type, e.event_version, e.payload::text AS payload, e.metadata::text AS metadata, \
     e.recorded_at, e.hash, \
     (SELECT p.hash FROM public.events p WHERE p.aggregate_type = e.aggregate_type \
         AND p.aggregate_id = e.aggregate_id AND p.sequence = e.sequence - 1) AS previous_hash \
     FROM public.events e";

fn linked_event(row: &Row) -> Result<LinkedEvent, StoreError> {
    let hash: Vec<u8> = row.try_get("hash")?;
    let sequence: i64 = row.try_get("sequence")?;
    let previous: Option<Vec<u8>> = row.try_get("previous_hash")?;
    let previous_hash = match previous {
        Some(previous) => chain::to_hex(&previous),
        None if sequence == 1 => chain::to_hex(&GENESIS),
        // The verify names such a stream; the stream itself is still shown as stored.
        None => String::new(),
    };
    let recorded_at: chrono::DateTime<chrono::Utc> = row.try_get("recorded_at")?;
    Ok(LinkedEvent {
        position: row.try_get("position")?,
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        sequence,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload: row.try_get("payload")?,
        metadata: row.try_get("metadata")?,
        recorded_at: recorded_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        hash: chain::to_hex(&hash),
        previous_hash,
    })
}

impl Store {
    /// Whether the stream has any event.
    pub async fn stream_exists(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT 1 FROM public.events WHERE aggregate_type = $1 AND aggregate_id = $2 LIMIT 1",
            )
            .await?;
        Ok(client
            .query_opt(&stmt, &[&aggregate_type, &aggregate_id])
            .await?
            .is_some())
    }

    /// Whether an event has this position.
    pub async fn position_exists(&self, position: i64) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT 1 FROM public.events WHERE position = $1")
            .await?;
        Ok(client.query_opt(&stmt, &[&position]).await?.is_some())
    }

    /// Up to `limit` events of one stream after `after_sequence`, in sequence order.
    pub async fn linked_stream_page(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after_sequence: i64,
        limit: i64,
    ) -> Result<Vec<LinkedEvent>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {LINKED_COLUMNS}
             WHERE e.aggregate_type = $1 AND e.aggregate_id = $2 AND e.sequence > $3
             ORDER BY e.sequence
             LIMIT $4"
        );
        let stmt = client.prepare_cached(&sql).await?;
        let rows = client
            .query(
                &stmt,
                &[&aggregate_type, &aggregate_id, &after_sequence, &limit],
            )
            .await?;
        rows.iter().map(linked_event).collect()
    }

    /// Up to `limit` events after the one at `after_position` (0: from the start) in global
    /// commit order, only below the horizon: the same rule as [`Store::events_after`], so a
    /// follower resuming from the last position it received never skips an event. The caller
    /// checks first that `after_position` is an event's position.
    pub async fn linked_global_page(
        &self,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<LinkedEvent>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "WITH start AS (
                 SELECT coalesce((SELECT tx_id FROM public.events WHERE position = $1), '0'::xid8) AS tx_id
             )
             SELECT {LINKED_COLUMNS}
             CROSS JOIN start
             WHERE (e.tx_id, e.position) > (start.tx_id, $1)
               AND e.tx_id < {HORIZON}
             ORDER BY e.tx_id, e.position
             LIMIT $2"
        );
        let stmt = client.prepare_cached(&sql).await?;
        let rows = client.query(&stmt, &[&after_position, &limit]).await?;
        rows.iter().map(linked_event).collect()
    }
}
