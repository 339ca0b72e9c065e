//! Reading events: the gap-free tail, the fill of a stream's missing predecessors, and the
//! decoding of stored payloads (and, where a read table needs it, metadata) into ledger-core
//! events.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use ledger_core::DomainEvent;
use ledger_core::announcement::AnnouncementEvent;
use ledger_core::application::AppEvent;
use ledger_core::headset_server::HeadsetServerEvent;
use ledger_core::ids::{AnnouncementId, AppId, OperatorId, ReconciliationId, StaffId};
use ledger_core::metadata::ActorRole;
use ledger_core::operator::OperatorEvent;
use ledger_core::reconciliation::ReconciliationEvent;
use ledger_core::staff_account::StaffEvent;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio_postgres::{GenericClient, Row};

use crate::Error;
use crate::checkpoint::EventKey;

/// The only event version the projector knows; anything else stops it (upcasters go here).
const EVENT_VERSION: &str = "1";

const COLUMNS: &str = "e.tx_id::text, e.position, e.aggregate_type, e.aggregate_id, e.sequence, \
                       e.event_type, e.event_version, e.payload::text, e.metadata::text";

/// The stream an event belongs to, parsed from `aggregate_type` and `aggregate_id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum StreamId {
    Operator(OperatorId),
    App(AppId),
    HeadsetServer(OperatorId, String),
    Staff(StaffId),
    Announcement(AnnouncementId),
    Reconciliation(ReconciliationId),
}

impl StreamId {
    pub fn aggregate_type(&self) -> &'static str {
        match self {
            StreamId::Operator(_) => "Operator",
            StreamId::App(_) => "Application",
            StreamId::HeadsetServer(..) => "HeadsetServer",
            StreamId::Staff(_) => "StaffMember",
            StreamId::Announcement(_) => "Announcement",
            StreamId::Reconciliation(_) => "Reconciliation",
        }
    }

    pub fn aggregate_id(&self) -> String {
        match self {
            StreamId::Operator(id) => id.to_string(),
            StreamId::App(id) => id.to_string(),
            StreamId::HeadsetServer(operator, server) => format!("{operator}/{server}"),
            StreamId::Staff(id) => id.to_string(),
            StreamId::Announcement(id) => id.to_string(),
            StreamId::Reconciliation(id) => id.to_string(),
        }
    }

    /// Whether the stream's read row records how far the stream is applied
    /// (`last_sequence`). Staff and announcement rows do not; their heads are derived from
    /// the events below the checkpoint instead (see `batch::derived_heads`).
    pub fn has_head_row(&self) -> bool {
        matches!(
            self,
            StreamId::Operator(_) | StreamId::App(_) | StreamId::HeadsetServer(..)
        )
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
            "StaffMember" => Ok(StreamId::Staff(StaffId(uuid(aggregate_id)?))),
            "Announcement" => Ok(StreamId::Announcement(AnnouncementId(uuid(aggregate_id)?))),
            "Reconciliation" => Ok(StreamId::Reconciliation(ReconciliationId(uuid(
                aggregate_id,
            )?))),
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
    Staff(StaffEvent),
    Announcement(AnnouncementEvent),
    Reconciliation(ReconciliationEvent),
}

impl Payload {
    /// Events whose read rows name the person who recorded them (`reviewed_by`,
    /// `published_by`), whatever that person's role.
    fn names_its_actor(&self) -> bool {
        use OperatorEvent as E;
        match self {
            Payload::Operator(e) => matches!(
                e,
                E::ApplicationApproved { .. }
                    | E::ApplicationRejected { .. }
                    | E::RefundApproved { .. }
                    | E::RefundRejected { .. }
                    | E::InvoiceIssued { .. }
                    | E::InvoiceRejected { .. }
            ),
            Payload::Announcement(_) => true,
            Payload::App(_)
            | Payload::HeadsetServer(_)
            | Payload::Staff(_)
            | Payload::Reconciliation(_) => false,
        }
    }
}

/// Who recorded an event, from where and when: its metadata.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Recorded {
    pub actor_id: String,
    pub source_ip: String,
    pub request_id: String,
    pub occurred_at: DateTime<Utc>,
    /// Set when the actor is staff: what the staff action row needs besides the above.
    pub staff_action: Option<StaffAction>,
}

#[derive(Debug, Clone)]
pub(crate) struct StaffAction {
    pub actor_role: ActorRole,
    pub event_type: String,
    /// The payload exactly as stored.
    pub payload: Box<RawValue>,
}

impl PartialEq for StaffAction {
    fn eq(&self, other: &Self) -> bool {
        self.actor_role == other.actor_role
            && self.event_type == other.event_type
            && self.payload.get() == other.payload.get()
    }
}

/// The metadata as stored (a flat object of strings), borrowed from the row's text.
#[derive(Deserialize)]
struct StoredMetadata<'a> {
    #[serde(borrow)]
    actor_id: Cow<'a, str>,
    #[serde(borrow)]
    source_ip: Cow<'a, str>,
    #[serde(borrow)]
    request_id: Cow<'a, str>,
    occurred_at: DateTime<Utc>,
}

/// Only the role: what every event is asked, so it must cost next to nothing.
#[derive(Deserialize)]
struct StoredRole<'a> {
    #[serde(borrow)]
    actor_role: Cow<'a, str>,
}

/// One stored event, decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredEvent {
    pub key: EventKey,
    pub stream: StreamId,
    pub sequence: i64,
    pub payload: Payload,
    /// The metadata, kept only where a read table needs it: staff actions and events that
    /// name their actor. `None` for the bulk of events (games, heartbeats).
    pub recorded: Option<Box<Recorded>>,
}

impl StoredEvent {
    /// Id of whoever recorded the event, when it was kept.
    pub fn actor_id(&self) -> Option<&str> {
        self.recorded.as_deref().map(|r| r.actor_id.as_str())
    }
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
            StreamId::Staff(_) => {
                let e: StaffEvent =
                    serde_json::from_str(text).map_err(|e| undecodable(e.to_string()))?;
                let t = e.event_type();
                (Payload::Staff(e), t)
            }
            StreamId::Announcement(_) => {
                let e: AnnouncementEvent =
                    serde_json::from_str(text).map_err(|e| undecodable(e.to_string()))?;
                let t = e.event_type();
                (Payload::Announcement(e), t)
            }
            StreamId::Reconciliation(_) => {
                let e: ReconciliationEvent =
                    serde_json::from_str(text).map_err(|e| undecodable(e.to_string()))?;
                let t = e.event_type();
                (Payload::Reconciliation(e), t)
            }
        };
        if decoded_type != event_type {
            return Err(undecodable(format!(
                "event_type {event_type:?} but payload is {decoded_type}"
            )));
        }
        let recorded =
            decode_metadata(row.get(8), event_type, text, &payload).map_err(undecodable)?;
        Ok(StoredEvent {
            key: EventKey { tx_id, position },
            stream,
            sequence: row.get(4),
            payload,
            recorded,
        })
    }
}

/// The metadata of an event, if a read table needs it.
///
/// Every event is asked for its role (a staff role means a staff action); the full
/// metadata is only decoded and kept for staff actions and events that name their actor,
/// so the bulk of events (games) pay for one borrowed scan of a short object.
fn decode_metadata(
    text: &str,
    event_type: &str,
    payload_text: &str,
    payload: &Payload,
) -> Result<Option<Box<Recorded>>, String> {
    let role: StoredRole<'_> = serde_json::from_str(text).map_err(|e| format!("metadata: {e}"))?;
    let staff = ActorRole::parse_staff(&role.actor_role);
    if staff.is_none() && !payload.names_its_actor() {
        return Ok(None);
    }
    let metadata: StoredMetadata<'_> =
        serde_json::from_str(text).map_err(|e| format!("metadata: {e}"))?;
    let staff_action = match staff {
        Some(actor_role) => Some(StaffAction {
            actor_role,
            event_type: event_type.to_owned(),
            payload: RawValue::from_string(payload_text.to_owned())
                .map_err(|e| format!("payload: {e}"))?,
        }),
        None => None,
    };
    Ok(Some(Box::new(Recorded {
        actor_id: metadata.actor_id.into_owned(),
        source_ip: metadata.source_ip.into_owned(),
        request_id: metadata.request_id.into_owned(),
        occurred_at: metadata.occurred_at,
        staff_action,
    })))
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

#[cfg(test)]
mod tests {
    use ledger_core::ids::{AppRequestId, CreditId};
    use ledger_core::money::Money;

    use super::*;

    fn metadata(role: &str) -> String {
        format!(
            r#"{{"actor_id":"fin-1","actor_role":"{role}","occurred_at":"2025-11-21T12:30:00.000000Z","request_id":"req-1","source_ip":"10.0.0.7","trace_id":"t"}}"#
        )
    }

    fn decoded(role: &str, event: &OperatorEvent) -> Option<Box<Recorded>> {
        let text = serde_json::to_string(event).unwrap();
        let payload = Payload::Operator(event.clone());
        decode_metadata(&metadata(role), &event.event_type(), &text, &payload).unwrap()
    }

    #[test]
    fn metadata_is_kept_only_for_staff_actions_and_events_that_name_their_actor() {
        let at = DateTime::from_timestamp(1_763_728_200, 0).unwrap();
        let credit = OperatorEvent::BalanceCredited {
            credit_id: CreditId::new(),
            amount: Money::parse("1").unwrap(),
            reason: "r".to_owned(),
            balance_after: Money::parse("1").unwrap(),
            credited_at: at,
        };
        assert_eq!(decoded("headset_server", &credit), None);
        assert_eq!(decoded("system", &credit), None);

        let by_staff = decoded("finance_manager", &credit).unwrap();
        assert_eq!(
            (
                by_staff.actor_id.as_str(),
                by_staff.source_ip.as_str(),
                by_staff.request_id.as_str(),
                by_staff.occurred_at
            ),
            ("fin-1", "10.0.0.7", "req-1", at)
        );
        let action = by_staff.staff_action.unwrap();
        assert_eq!(action.actor_role, ActorRole::FinanceManager);
        assert_eq!(action.event_type, "BalanceCredited");
        assert!(action.payload.get().starts_with(r#"{"BalanceCredited":"#));

        let review = OperatorEvent::ApplicationRejected {
            request_id: AppRequestId::new(),
            app_id: AppId::new(),
            reason: "r".to_owned(),
            rejected_at: at,
        };
        let by_system = decoded("system", &review).unwrap();
        assert_eq!(by_system.actor_id, "fin-1");
        assert_eq!(by_system.staff_action, None);
    }
}
