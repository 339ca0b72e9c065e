//! Reading events: the gap-free tail, the fill of a stream's missing predecessors, and the
//! decoding of stored payloads into ledger-core events.

use std::fmt;

use ledger_core::DomainEvent;
use ledger_core::application::AppEvent;
use ledger_core::headset_server::HeadsetServerEvent;
use ledger_core::ids::{AppId, OperatorId};
use ledger_core::operator::OperatorEvent;
use tokio_postgres::{GenericClient, Row};

use crate::Error;
use crate::checkpoint::EventKey;

/// The only event version the projector knows; anything else stops it (upcasters go here).
const EVENT_VERSION: &str = "1";

const COLUMNS: &str = "e.tx_id::text, e.position, e.aggregate_type, e.aggregate_id, e.sequence, \
                       e.event_type, e.event_version, e.payload::text";

/// The stream an event belongs to, parsed from `aggregate_type` and `aggregate_id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum StreamId {
    Operator(OperatorId),
    App(AppId),
    HeadsetServer(OperatorId, String),
}

impl StreamId {
    pub fn aggregate_type(&self) -> &'static str {
        match self {
            StreamId::Operator(_) => "Operator",
            StreamId::App(_) => "Application",
            StreamId::HeadsetServer(..) => "HeadsetServer",
        }
    }

    pub fn aggregate_id(&self) -> String {
        match self {
            StreamId::Operator(id) => id.to_string(),
            StreamId::App(id) => id.to_string(),
            StreamId::HeadsetServer(operator, server) => format!("{operator}/{server}"),
        }
    }

    fn parse(aggregate_type: &str, aggregate_id: &str) -> Result<StreamId, String> {
        let uuid = |text: &str| {
            uuid::Uuid::try_parse(text)
                .ok()
                .filter(|u| u.hyphenated().to_string() == text)
                .ok_or_else(|| format!("aggregate id {text:?} is not a hyphenated lower-case uuid"))
        };
        match aggregate_type {
            "Operator" => Ok(StreamId::Operator(OperatorId(uuid(aggregate_id)?))),
            "Application" => Ok(StreamId::App(AppId(uuid(aggregate_id)?))),
            "HeadsetServer" => {
                let (operator, server) = aggregate_id.split_once('/').ok_or_else(|| {
                    format!("headset server stream id {aggregate_id:?} lacks '/'")
                })?;
                Ok(StreamId::HeadsetServer(
                    OperatorId(uuid(operator)?),
                    server.to_owned(),
                ))
            }
            other => Err(format!("unknown aggregate type {other:?}")),
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.aggregate_type(), self.aggregate_id())
    }
}

/// A decoded event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Payload {
    Operator(OperatorEvent),
    App(AppEvent),
    HeadsetServer(HeadsetServerEvent),
}

/// One stored event, decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredEvent {
    pub key: EventKey,
    pub stream: StreamId,
    pub sequence: i64,
    pub payload: Payload,
}

impl StoredEvent {
    fn decode(row: &Row) -> Result<StoredEvent, Error> {
        let tx_id: &str = row.get(0);
        let position: i64 = row.get(1);
        let undecodable = |reason: String| Error::Undecodable { position, reason };
        let tx_id = tx_id
            .parse()
            .map_err(|_| undecodable(format!("tx_id {tx_id:?}")))?;
        let stream = StreamId::parse(row.get(2), row.get(3)).map_err(undecodable)?;
        let event_type: &str = row.get(5);
        let event_version: &str = row.get(6);
        if event_version != EVENT_VERSION {
            return Err(undecodable(format!(
                "unknown event_version {event_version:?}"
            )));
        }
        let text: &str = row.get(7);
        let (payload, decoded_type) = match stream {
            StreamId::Operator(_) => {
                let e: OperatorEvent =
                    serde_json::from_str(text).map_err(|e| undecodable(e.to_string()))?;
                let t = e.event_type();
                (Payload::Operator(e), t)
            }
            StreamId::App(_) => {
                let e: AppEvent =
                    serde_json::from_str(text).map_err(|e| undecodable(e.to_string()))?;
                let t = e.event_type();
                (Payload::App(e), t)
            }
            StreamId::HeadsetServer(..) => {
                let e: HeadsetServerEvent =
                    serde_json::from_str(text).map_err(|e| undecodable(e.to_string()))?;
                let t = e.event_type();
                (Payload::HeadsetServer(e), t)
            }
        };
        if decoded_type != event_type {
            return Err(undecodable(format!(
                "event_type {event_type:?} but payload is {decoded_type}"
            )));
        }
        Ok(StoredEvent {
            key: EventKey { tx_id, position },
            stream,
            sequence: row.get(4),
            payload,
        })
    }
}

/// The visibility horizon of this database, as an `xid8`: every transaction below it has
/// finished, except transactions of other databases, which can never append to our events.
///
/// It is `pg_snapshot_xmin(pg_current_snapshot())` but for in-progress transactions that
/// `pg_stat_activity` shows running in another database of the cluster (xids are
/// cluster-wide, so one long transaction anywhere would otherwise stall this projector).
/// An in-progress xid whose backend is not seen there (hidden by privileges, a prepared
/// transaction, or newer than the activity read) keeps the horizon below it: the check can
/// only err on the side of waiting. Callers read `pg_stat_activity` once before this
/// statement ([`note_activity`]): PostgreSQL keeps that read for the whole transaction, so
/// every xid of the statement's snapshot that was running then is classified correctly,
/// and one that finished in between is not in the snapshot at all.
const HORIZON: &str = "(SELECT coalesce( \
        (SELECT min(x) FROM pg_snapshot_xip(s.snap) AS x \
         WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a \
             WHERE a.backend_xid::text::bigint = (x::text::numeric % 4294967296)::bigint \
               AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database()))), \
        pg_snapshot_xmax(s.snap)) \
     FROM (SELECT pg_current_snapshot() AS snap) s)";

/// Takes the transaction's view of `pg_stat_activity` now, before the tail's snapshot.
pub(crate) async fn note_activity(client: &impl GenericClient) -> Result<(), Error> {
    client
        .execute("SELECT count(backend_xid) FROM pg_stat_activity", &[])
        .await?;
    Ok(())
}

/// Which events the tail may hand over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Until {
    /// Everything below the [`HORIZON`], whose events have all committed (or aborted and are
    /// invisible), so no event can appear behind the checkpoint later.
    Horizon,
    /// Everything up to this key: a checkpoint that a projector has already passed, so its
    /// events are final and visible to any later snapshot.
    Passed(EventKey),
}

/// The next `limit` events after `after`, in `(tx_id, position)` order.
pub(crate) async fn tail(
    client: &impl GenericClient,
    after: EventKey,
    until: Until,
    limit: i64,
) -> Result<Vec<StoredEvent>, Error> {
    let after_tx = after.tx_id.to_string();
    let rows = match until {
        Until::Horizon => {
            client
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM public.events e \
                         WHERE (e.tx_id, e.position) > ($1::text::xid8, $2) AND e.tx_id < {HORIZON} \
                         ORDER BY e.tx_id, e.position LIMIT $3"
                    ),
                    &[&after_tx, &after.position, &limit],
                )
                .await?
        }
        Until::Passed(upto) => {
            client
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM public.events e \
                         WHERE (e.tx_id, e.position) > ($1::text::xid8, $2) \
                           AND (e.tx_id, e.position) <= ($3::text::xid8, $4) \
                         ORDER BY e.tx_id, e.position LIMIT $5"
                    ),
                    &[&after_tx, &after.position, &upto.tx_id.to_string(), &upto.position, &limit],
                )
                .await?
        }
    };
    rows.iter().map(StoredEvent::decode).collect()
}

/// A run of a stream's events that the tail has not delivered yet: `after < sequence < before`.
#[derive(Debug, Clone)]
pub(crate) struct Missing {
    pub stream: StreamId,
    pub after: i64,
    pub before: i64,
}

/// Loads the missing events of several streams in one query.
///
/// They exist and have committed: a stream's event is appended only after its predecessor
/// committed, so a predecessor can only sort later in the tail when its transaction id is
/// younger, never be invisible.
pub(crate) async fn fill(
    client: &impl GenericClient,
    missing: &[Missing],
) -> Result<Vec<StoredEvent>, Error> {
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let types: Vec<&str> = missing.iter().map(|m| m.stream.aggregate_type()).collect();
    let ids: Vec<String> = missing.iter().map(|m| m.stream.aggregate_id()).collect();
    let after: Vec<i64> = missing.iter().map(|m| m.after).collect();
    let before: Vec<i64> = missing.iter().map(|m| m.before).collect();
    let rows = client
        .query(
            &format!(
                "SELECT {COLUMNS} FROM public.events e \
                 JOIN unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) \
                      AS m(aggregate_type, aggregate_id, after, before) \
                   ON e.aggregate_type = m.aggregate_type AND e.aggregate_id = m.aggregate_id \
                  AND e.sequence > m.after AND e.sequence < m.before"
            ),
            &[&types, &ids, &after, &before],
        )
        .await?;
    rows.iter().map(StoredEvent::decode).collect()
}
