//! One batch: the step function of the projector.
//!
//! In one transaction: take the projection lock, point `search_path` at the read schema,
//! re-read its checkpoint, take the next events of the gap-free tail, load the rows they
//! touch, fold, write, advance the checkpoint, commit.
//!
//! Events are applied in tail order, each stream's missing predecessors just before it, so
//! what one event sees of other streams (a fan-out's recipients) is the same in every replay
//! whatever the batch boundaries.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tokio_postgres::{Client, GenericClient, Transaction};
use uuid::Uuid;

use crate::checkpoint::{self, EventKey};
use crate::fold::State;
use crate::live::LiveChanges;
use crate::source::{self, Missing, Payload, StoredEvent, StreamId, Until};
use crate::{Error, check_schema_name, rows, time_zone, write};

/// Events taken from the tail per transaction: enough to amortise the round trips (about 20
/// per batch), small enough that a batch, and the lock it holds, lasts well under a second.
pub const BATCH_SIZE: i64 = 1000;

/// Advisory lock taken by every transaction that writes a read schema (batches, rebuild's
/// swap), so two projectors or a projector and a swap never interleave.
pub const PROJECTION_LOCK: i64 = 7_262_736_510;

/// What one call of the step function did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// This many events were taken from the tail and applied.
    Projected(usize),
    /// Nothing visible is left to project.
    CaughtUp,
}

/// Projects the next batch of at most [`BATCH_SIZE`] events into `schema`.
pub async fn project_next_batch(client: &mut Client, schema: &str) -> Result<Step, Error> {
    project_batch_of(client, schema, BATCH_SIZE).await
}

/// Projects the next batch of at most `limit` events into `schema`, in its own transaction.
pub async fn project_batch_of(
    client: &mut Client,
    schema: &str,
    limit: i64,
) -> Result<Step, Error> {
    check_schema_name(schema)?;
    let tx = client.transaction().await?;
    lock(&tx).await?;
    let step = project_in(&tx, schema, limit, Until::Horizon).await?;
    tx.commit().await?;
    Ok(step)
}

/// [`project_next_batch`], also handing back what the batch changed for live viewers. They
/// are returned only once the transaction committed, so nothing uncommitted is published.
pub async fn project_next_batch_live(
    client: &mut Client,
    schema: &str,
) -> Result<(Step, LiveChanges), Error> {
    check_schema_name(schema)?;
    let mut live = LiveChanges::new();
    let tx = client.transaction().await?;
    lock(&tx).await?;
    let step = project_observed(&tx, schema, BATCH_SIZE, Until::Horizon, Some(&mut live)).await?;
    tx.commit().await?;
    Ok((step, live))
}

/// Takes the projection lock until the end of the transaction.
pub(crate) async fn lock(tx: &Transaction<'_>) -> Result<(), Error> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PROJECTION_LOCK])
        .await?;
    Ok(())
}

/// One batch inside the caller's transaction, taking events `until` the given bound. The
/// caller holds the projection lock when `schema` is shared; `schema` is already validated.
pub(crate) async fn project_in(
    tx: &Transaction<'_>,
    schema: &str,
    limit: i64,
    until: Until,
) -> Result<Step, Error> {
    project_observed(tx, schema, limit, until, None).await
}

/// [`project_in`], noting in `live` (when given) what the batch changes for live viewers.
async fn project_observed(
    tx: &Transaction<'_>,
    schema: &str,
    limit: i64,
    until: Until,
    mut live: Option<&mut LiveChanges>,
) -> Result<Step, Error> {
    tx.execute("SELECT set_config('search_path', $1, true)", &[&schema])
        .await?;
    if until == Until::Horizon {
        source::note_activity(tx).await?;
    }
    let checkpoint = checkpoint::read(tx).await?;
    let tail = source::tail(tx, checkpoint.last, until, limit).await?;
    let Some(last) = tail.last().map(|e| e.key) else {
        return Ok(Step::CaughtUp);
    };
    let count = tail.len();
    let time_zone = time_zone::of_batch(tx).await?;

    let mut state = State::default();
    load_stream_heads(tx, &mut state, &tail, checkpoint.last).await?;
    let events = in_apply_order(tx, &state, tail).await?;
    load_children(tx, &mut state, &events).await?;
    for event in &events {
        // A fan-out reaches operators and grants that the batch mostly never loaded, so it
        // is not folded in memory: everything folded so far is written, then one
        // `INSERT … SELECT` over the read tables delivers it as they stand at its event.
        // Batches without fan-outs (nearly all) still write once, at the end.
        let fan_out = state.apply(event)?;
        if let Some(live) = live.as_deref_mut() {
            live.record(event);
        }
        if let Some(fan_out) = fan_out {
            if let Some(live) = live.as_deref_mut() {
                live.record_messages(&state.messages);
                live.record_fan_out(&fan_out);
            }
            write::changes(tx, &state, &time_zone).await?;
            state.written();
            write::fan_out(tx, &fan_out).await?;
        }
    }
    if let Some(live) = live {
        live.record_messages(&state.messages);
    }
    write::changes(tx, &state, &time_zone).await?;
    checkpoint::advance(tx, last, count).await?;
    tracing::debug!(
        schema,
        events = count,
        applied = events.len(),
        tx_id = last.tx_id,
        position = last.position,
        "batch projected"
    );
    Ok(Step::Projected(count))
}

/// Loads the rows that record how far each touched stream is applied, and the heads of
/// the streams whose rows do not record it.
async fn load_stream_heads(
    tx: &Transaction<'_>,
    state: &mut State,
    events: &[StoredEvent],
    checkpoint: EventKey,
) -> Result<(), Error> {
    let mut operators = BTreeSet::new();
    let mut apps = BTreeSet::new();
    let mut servers = BTreeSet::new();
    let mut staff = BTreeSet::new();
    let mut headless = BTreeSet::new();
    for event in events {
        match &event.stream {
            StreamId::Operator(id) => {
                operators.insert(id.0);
            }
            StreamId::App(id) => {
                apps.insert(id.0);
            }
            StreamId::HeadsetServer(operator, server) => {
                servers.insert((operator.0, server.clone()));
            }
            StreamId::Staff(id) => {
                staff.insert(id.0);
                headless.insert(event.stream.clone());
            }
            StreamId::Announcement(_) | StreamId::Reconciliation(_) => {
                headless.insert(event.stream.clone());
            }
        }
    }
    let operators: Vec<Uuid> = operators.into_iter().collect();
    let apps: Vec<Uuid> = apps.into_iter().collect();
    let servers: Vec<(Uuid, String)> = servers.into_iter().collect();
    let staff: Vec<Uuid> = staff.into_iter().collect();
    let headless: Vec<StreamId> = headless.into_iter().collect();
    let (operators, apps, servers, staff, heads) = tokio::try_join!(
        rows::operators(tx, &operators),
        rows::apps(tx, &apps),
        rows::headset_servers(tx, &servers),
        rows::staff(tx, &staff),
        derived_heads(tx, &headless, checkpoint),
    )?;
    for row in operators {
        state.operators.load(row.id, row);
    }
    for row in apps {
        state.apps.load(row.id, row);
    }
    for row in servers {
        state
            .headset_servers
            .load((row.operator_id, row.server_id.clone()), row);
    }
    for row in staff {
        state.staff.load(row.id, row);
    }
    state.heads = heads;
    Ok(())
}

/// Heads of streams whose rows keep none: the highest sequence of the stream at or below
/// the checkpoint. Every event the tail handed over is applied (or was, by an earlier
/// fill), and an event beyond the checkpoint is only ever applied as the predecessor of
/// one at or below it, so this is exactly how far the stream is applied.
async fn derived_heads(
    client: &impl GenericClient,
    streams: &[StreamId],
    checkpoint: EventKey,
) -> Result<HashMap<StreamId, i64>, Error> {
    if streams.is_empty() {
        return Ok(HashMap::new());
    }
    let types: Vec<&str> = streams.iter().map(StreamId::aggregate_type).collect();
    let ids: Vec<String> = streams.iter().map(StreamId::aggregate_id).collect();
    let rows = client
        .query(
            "SELECT s.ord, max(e.sequence) FROM unnest($1::text[], $2::text[]) \
                 WITH ORDINALITY AS s(aggregate_type, aggregate_id, ord) \
             JOIN public.events e ON e.aggregate_type = s.aggregate_type \
                  AND e.aggregate_id = s.aggregate_id \
                  AND (e.tx_id, e.position) <= ($3::text::xid8, $4) \
             GROUP BY s.ord",
            &[
                &types,
                &ids,
                &checkpoint.tx_id.to_string(),
                &checkpoint.position,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let ord: i64 = r.get(0);
            let index = usize::try_from(ord - 1).expect("ordinality starts at 1");
            (streams[index].clone(), r.get::<_, i64>(1))
        })
        .collect())
}

/// The events to apply: in tail order, each stream in sequence order and without holes.
///
/// The tail's `(tx_id, position)` order can put a stream's event before its predecessor
/// (the predecessor's transaction got its id later but committed first), in this batch or
/// a later one. Missing predecessors are loaded now, and each stream's events up to one the
/// tail hands over are applied just before it; events already applied (sequence at or
/// below the stream's head) are skipped when the tail reaches them.
async fn in_apply_order(
    client: &impl GenericClient,
    state: &State,
    tail: Vec<StoredEvent>,
) -> Result<Vec<StoredEvent>, Error> {
    /// A stream's events of this batch not yet placed, and the sequence due next.
    struct Pending {
        next: i64,
        events: BTreeMap<i64, StoredEvent>,
    }
    let mut streams: BTreeMap<StreamId, Pending> = BTreeMap::new();
    let mut order = Vec::with_capacity(tail.len());
    for event in tail {
        let head = state.last_sequence(&event.stream);
        if event.sequence > head {
            order.push((event.stream.clone(), event.sequence));
            streams
                .entry(event.stream.clone())
                .or_insert_with(|| Pending {
                    next: head + 1,
                    events: BTreeMap::new(),
                })
                .events
                .insert(event.sequence, event);
        }
    }
    let mut missing = Vec::new();
    for (stream, pending) in &streams {
        let mut expected = pending.next;
        for &sequence in pending.events.keys() {
            if sequence > expected {
                missing.push(Missing {
                    stream: stream.clone(),
                    after: expected - 1,
                    before: sequence,
                });
            }
            expected = sequence + 1;
        }
    }
    for event in source::fill(client, &missing).await? {
        streams
            .get_mut(&event.stream)
            .expect("fills are for streams of the tail")
            .events
            .insert(event.sequence, event);
    }
    let mut ordered = Vec::with_capacity(order.len());
    for (stream, sequence) in order {
        let pending = streams
            .get_mut(&stream)
            .expect("every tail event was put in its stream");
        while let Some(entry) = pending.events.first_entry() {
            if *entry.key() > sequence {
                break;
            }
            if *entry.key() != pending.next {
                return Err(Error::StreamGap {
                    stream: stream.to_string(),
                    missing: pending.next,
                });
            }
            pending.next += 1;
            ordered.push(entry.remove());
        }
    }
    assert!(
        streams.values().all(|p| p.events.is_empty()),
        "fills only load predecessors of tail events"
    );
    Ok(ordered)
}

/// Loads the current rows of child tables that the events change.
async fn load_children(
    tx: &Transaction<'_>,
    state: &mut State,
    events: &[StoredEvent],
) -> Result<(), Error> {
    use ledger_core::operator::OperatorEvent as E;
    let mut credentials = BTreeSet::new();
    let mut sites = BTreeSet::new();
    let mut grants = BTreeSet::new();
    let mut usage = BTreeSet::new();
    let mut applications = BTreeSet::new();
    let mut refunds = BTreeSet::new();
    let mut invoices = BTreeSet::new();
    let mut recharges = BTreeSet::new();
    for event in events {
        let (StreamId::Operator(operator), Payload::Operator(e)) = (&event.stream, &event.payload)
        else {
            continue;
        };
        match e {
            E::CredentialIssued { key_id, .. } => {
                credentials.insert(key_id.0.clone());
            }
            E::CredentialRotated {
                key_id, retired, ..
            } => {
                credentials.insert(key_id.0.clone());
                credentials.extend(retired.iter().map(|r| r.key_id.0.clone()));
            }
            E::SiteOpened { site_id, .. }
            | E::SiteUpdated { site_id, .. }
            | E::SiteClosed { site_id, .. } => {
                sites.insert(site_id.0);
            }
            E::AppGranted { app_id, .. } | E::AppRevoked { app_id, .. } => {
                grants.insert((operator.0, app_id.0));
            }
            E::GameAuthorized { session_id, .. } | E::GameEnded { session_id, .. } => {
                usage.insert((operator.0, session_id.as_str().to_owned()));
            }
            E::AppApplied { request_id, .. }
            | E::ApplicationApproved { request_id, .. }
            | E::ApplicationRejected { request_id, .. } => {
                applications.insert(request_id.0);
            }
            E::RefundRequested { refund_id, .. }
            | E::RefundApproved { refund_id, .. }
            | E::RefundRejected { refund_id, .. } => {
                refunds.insert(refund_id.0);
            }
            E::InvoiceRequested { invoice_id, .. }
            | E::InvoiceIssued { invoice_id, .. }
            | E::InvoiceRejected { invoice_id, .. } => {
                invoices.insert(invoice_id.0);
            }
            E::RechargeOrdered { order_id, .. }
            | E::RechargeSucceeded { order_id, .. }
            | E::RechargeFailed { order_id, .. }
            | E::RechargeClosed { order_id, .. }
            | E::RechargeQueryFailed { order_id, .. }
            | E::RechargeNeedsReview { order_id, .. } => {
                recharges.insert(order_id.0);
            }
            _ => {}
        }
    }
    let credentials: Vec<String> = credentials.into_iter().collect();
    let sites: Vec<Uuid> = sites.into_iter().collect();
    let grants: Vec<(Uuid, Uuid)> = grants.into_iter().collect();
    let usage: Vec<(Uuid, String)> = usage.into_iter().collect();
    let applications: Vec<Uuid> = applications.into_iter().collect();
    let refunds: Vec<Uuid> = refunds.into_iter().collect();
    let invoices: Vec<Uuid> = invoices.into_iter().collect();
    let recharges: Vec<Uuid> = recharges.into_iter().collect();
    let (credentials, sites, grants, usage, applications, refunds, invoices, recharges) = tokio::try_join!(
        rows::credentials(tx, &credentials),
        rows::sites(tx, &sites),
        rows::grants(tx, &grants),
        rows::usage_records(tx, &usage),
        rows::app_applications(tx, &applications),
        rows::refunds(tx, &refunds),
        rows::invoices(tx, &invoices),
        rows::recharge_orders(tx, &recharges),
    )?;
    for row in applications {
        state.app_applications.load(row.id, row);
    }
    for row in refunds {
        state.refunds.load(row.id, row);
    }
    for row in invoices {
        state.invoices.load(row.id, row);
    }
    for row in recharges {
        state.recharge_orders.load(row.id, row);
    }
    for row in credentials {
        state.credentials.load(row.key_id.clone(), row);
    }
    for row in sites {
        state.sites.load(row.id, row);
    }
    for row in grants {
        state.grants.load((row.operator_id, row.app_id), row);
    }
    for row in usage {
        state
            .usage_records
            .load((row.operator_id, row.session_id.clone()), row);
    }
    Ok(())
}
