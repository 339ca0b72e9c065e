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

const COLUMNS: &str = "tx_id::text, position, aggregate_type, aggregate_id, sequence, \
                       event_type, event_version, payload::text";

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
                let (operator, server) = aggregate_id
                    .split_once('/')
                    .ok_or_else(|| format!("headset server stream id {aggregate_id:?} lacks '/'"))?;
                Ok(StreamId::HeadsetServer(OperatorId(uuid(operator)?), server.to_owned()))
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
        let tx_id = tx_id.parse().map_err(|_| undecodable(format!("tx_id {tx_id:?}")))?;
        let stream = StreamId::parse(row.get(2), row.get(3)).map_err(undecodable)?;
        let event_type: &str = row.get(5);
        let event_version: &str = row.get(6);
        if event_version != EVENT_VERSION {
            return Err(undecodable(format!("unknown event_version {event_version:?}")));
        }
        let text: &str = row.get(7);
        let (payload, decoded_type) = match stream {
            StreamId::Operator(_) => {
                let e: OperatorEvent = serde_json::from_str(text).map_err(|e| undecodable(e.to_string()))?;
                let t = e.event_type();
                (Payload::Operator(e), t)
            }
            StreamId::App(_) => {
                let e: AppEvent = serde_json::from_str(text).map_err(|e| undecodable(e.to_string()))?;
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
            return Err(undecodable(format!("event_type {event_type:?} but payload is {decoded_type}")));
        }
        Ok(StoredEvent { key: EventKey { tx_id, position }, stream, sequence: row.get(4), payload })
    }
}

/// The next `limit` events after `after` and up to `upto`, in `(tx_id, position)` order.
///
/// Only events of transactions older than the oldest one still running are read: everything
/// below that horizon has committed (or aborted and is invisible), so no event can appear
/// behind the checkpoint later.
pub(crate) async fn tail(
    client: &impl GenericClient,
    after: EventKey,
    upto: EventKey,
    limit: i64,
) -> Result<Vec<StoredEvent>, Error> {
    let rows = client
        .query(
            &format!(
                "SELECT {COLUMNS} FROM public.events \
                 WHERE (tx_id, position) > ($1::text::xid8, $2) \
                   AND (tx_id, position) <= ($3::text::xid8, $4) \
                   AND tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
                 ORDER BY tx_id, position LIMIT $5"
            ),
            &[&after.tx_id.to_string(), &after.position, &upto.tx_id.to_string(), &upto.position, &limit],
        )
        .await?;
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
pub(crate) async fn fill(client: &impl GenericClient, missing: &[Missing]) -> Result<Vec<StoredEvent>, Error> {
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
