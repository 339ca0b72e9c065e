//! The event store as auditors see it: one stream by sequence, or everything by position.

use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::Stream;
use ledger_core::chain::{self, ExportedEvent};
use serde_json::value::RawValue;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{Store, StoreError};
use crate::export::{Batch, keyset_batches};
use crate::views::{EventView, FeedPage, StreamPage, Time};

/// The visibility horizon, as an `xid8`: every transaction below it has finished. It is
/// `pg_snapshot_xmin(pg_current_snapshot())` except for in-progress transactions running in
/// another database of the cluster (xids are cluster-wide, and those can never append to our
/// events), so one long transaction elsewhere does not hold the feed back. An in-progress xid
/// whose backend cannot be seen keeps the horizon below it: the check errs on the side of
/// waiting. The same expression as the projector's tail (projector/src/source.rs), so the
/// feed and the read models agree on what is settled.
pub(super) const HORIZON: &str = "(SELECT coalesce( \
        (SELECT min(x) FROM pg_snapshot_xip(s.snap) AS x \
         WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a \
             WHERE a.backend_xid::text::bigint = (x::text::numeric % 4294967296)::bigint \
               AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database()))), \
        pg_snapshot_xmax(s.snap)) \
     FROM (SELECT pg_current_snapshot() AS snap) s)";

/// Events per statement of a stream export (a few megabytes at most in memory).
pub const EXPORT_BATCH_EVENTS: i64 = 2_000;

const EVENT_COLUMNS: &str = "position, aggregate_type, aggregate_id, sequence, event_type, event_version, \
     payload::text AS payload, metadata::text AS metadata, hash, recorded_at";

fn raw_json(row: &Row, column: &str) -> Result<Box<RawValue>, StoreError> {
    let text: String = row.try_get(column)?;
    RawValue::from_string(text)
        .map_err(|e| StoreError::Corrupt(format!("events.{column} is not JSON: {e}")))
}

fn event_view(row: &Row) -> Result<EventView, StoreError> {
    let hash: Vec<u8> = row.try_get("hash")?;
    Ok(EventView {
        position: row.try_get("position")?,
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload: raw_json(row, "payload")?,
        metadata: raw_json(row, "metadata")?,
        hash: chain::to_hex(&hash),
        recorded_at: Time(row.try_get("recorded_at")?),
    })
}

/// One stored event as an export line: payload and metadata stay the exact stored texts (the
/// chain covers those bytes).
fn exported_event(row: &Row) -> Result<ExportedEvent, StoreError> {
    let hash: Vec<u8> = row.try_get("hash")?;
    let recorded_at: DateTime<Utc> = row.try_get("recorded_at")?;
    Ok(ExportedEvent {
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        position: row.try_get("position")?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload: row.try_get("payload")?,
        metadata: row.try_get("metadata")?,
        hash: chain::to_hex(&hash),
        recorded_at: recorded_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    })
}

impl Store {
    /// Every event of one stream in sequence order, streamed in keyset batches of
    /// [`EXPORT_BATCH_EVENTS`] (each a short query on a pooled connection, so a stream of any
    /// length outlives neither the statement timeout nor holds a connection while the client
    /// reads); `None` when the stream has no event at all. `payload` and `metadata` are read
    /// as stored (`::text`, not re-serialized), so the export verifies against the chain.
    pub async fn stream_export(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<
        Option<impl Stream<Item = Result<ExportedEvent, StoreError>> + Send + 'static>,
        StoreError,
    > {
        let client = self.client().await?;
        let exists = client
            .prepare_cached(
                "SELECT 1 FROM public.events WHERE aggregate_type = $1 AND aggregate_id = $2 LIMIT 1",
            )
            .await?;
        if client
            .query_opt(&exists, &[&aggregate_type, &aggregate_id])
            .await?
            .is_none()
        {
            return Ok(None);
        }
        drop(client);
        let store = self.clone();
        let stream = (aggregate_type.to_owned(), aggregate_id.to_owned());
        // Sequences start at 1: the first batch is the one after sequence 0.
        Ok(Some(keyset_batches(move |after: Option<i64>| {
            let (store, (aggregate_type, aggregate_id)) = (store.clone(), stream.clone());
            async move {
                let client = store.client().await?;
                let sql = format!(
                    "SELECT {EVENT_COLUMNS} FROM public.events
                     WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3
                     ORDER BY sequence LIMIT $4"
                );
                let stmt = client.prepare_cached(&sql).await?;
                let params: [&(dyn ToSql + Sync); 4] = [
                    &aggregate_type,
                    &aggregate_id,
                    &after.unwrap_or(0),
                    &EXPORT_BATCH_EVENTS,
                ];
                let events = client
                    .query(&stmt, &params)
                    .await?
                    .iter()
                    .map(exported_event)
                    .collect::<Result<Vec<_>, _>>()?;
                let full = events.len() as i64 == EXPORT_BATCH_EVENTS;
                let next = events.last().filter(|_| full).map(|e| e.sequence);
                Ok(Batch { rows: events, next })
            }
        })))
    }

    /// Events of one stream from `from_sequence` on, in sequence order. Sequences of a stream
    /// have no gaps, so `next_from_sequence` is simply one past the last returned. `None` when
    /// the stream has no event at all.
    pub async fn stream_events(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        from_sequence: i64,
        limit: i64,
    ) -> Result<Option<StreamPage>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM public.events
             WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence >= $3
             ORDER BY sequence
             LIMIT $4"
        );
        let stmt = client.prepare_cached(&sql).await?;
        let rows = client
            .query(
                &stmt,
                &[&aggregate_type, &aggregate_id, &from_sequence, &(limit + 1)],
            )
            .await?;
        let mut items = rows.iter().map(event_view).collect::<Result<Vec<_>, _>>()?;
        let more = items.len() as i64 > limit;
        items.truncate(usize::try_from(limit).expect("limits are positive"));
        if items.is_empty() {
            let exists = client
                .prepare_cached("SELECT 1 FROM public.events WHERE aggregate_type = $1 AND aggregate_id = $2 LIMIT 1")
                .await?;
            if client
                .query_opt(&exists, &[&aggregate_type, &aggregate_id])
                .await?
                .is_none()
            {
                return Ok(None);
            }
        }
        let next_from_sequence = match items.last() {
            Some(last) if more => Some(last.sequence + 1),
            _ => None,
        };
        Ok(Some(StreamPage {
            items,
            next_from_sequence,
        }))
    }

    /// Events after the one at `after_position` (0: from the start) in global commit order;
    /// `None` when no event has that position.
    ///
    /// The order is `(tx_id, position)`, the projector's: by position within a transaction and
    /// across transactions that did not overlap, which is every pair of events but those of
    /// concurrent appends. Only events of transactions below the `HORIZON` (older than every
    /// transaction of this database still open) are shown, so nothing can later
    /// appear before an event already returned: paging with `next_after_position` never skips
    /// an event. Plain `position > n` paging could (an append still in flight may hold a lower
    /// position than one already committed). The feed may lag the newest commits by the
    /// length of the longest open transaction.
    pub async fn events_after(
        &self,
        after_position: i64,
        limit: i64,
    ) -> Result<Option<FeedPage>, StoreError> {
        let client = self.client().await?;
        if after_position > 0 {
            let stmt = client
                .prepare_cached("SELECT 1 FROM public.events WHERE position = $1")
                .await?;
            if client.query_opt(&stmt, &[&after_position]).await?.is_none() {
                return Ok(None);
            }
        }
        let sql = format!(
            "WITH start AS (
                 SELECT coalesce((SELECT tx_id FROM public.events WHERE position = $1), '0'::xid8) AS tx_id
             )
             SELECT {EVENT_COLUMNS} FROM public.events, start
             WHERE (events.tx_id, events.position) > (start.tx_id, $1)
               AND events.tx_id < {HORIZON}
             ORDER BY events.tx_id, events.position
             LIMIT $2"
        );
        let stmt = client.prepare_cached(&sql).await?;
        let rows = client.query(&stmt, &[&after_position, &limit]).await?;
        let items = rows.iter().map(event_view).collect::<Result<Vec<_>, _>>()?;
        let next_after_position = items.last().map_or(after_position, |last| last.position);
        let caught_up = (items.len() as i64) < limit;
        Ok(Some(FeedPage {
            items,
            next_after_position,
            caught_up,
        }))
    }
}
