//! One batch: the step function of the projector.
//!
//! In one transaction: take the projection lock, point `search_path` at the read schema,
//! re-read its checkpoint, take the next events of the gap-free tail, load the rows they
//! touch, fold, write, advance the checkpoint, commit.

use std::collections::{BTreeMap, BTreeSet};

use tokio_postgres::{Client, GenericClient, Transaction};
use uuid::Uuid;

use crate::checkpoint;
use crate::fold::State;
use crate::source::{self, Missing, Payload, StoredEvent, StreamId, Until};
use crate::{Error, check_schema_name, rows, write};

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

    let mut state = State::default();
    load_stream_heads(tx, &mut state, &tail).await?;
    let events = in_stream_order(tx, &state, tail).await?;
    load_children(tx, &mut state, &events).await?;
    for event in &events {
        state.apply(event)?;
    }
    write::changes(tx, &state).await?;
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

/// Loads the rows that record how far each touched stream is applied.
async fn load_stream_heads(
    tx: &Transaction<'_>,
    state: &mut State,
    events: &[StoredEvent],
) -> Result<(), Error> {
    let mut operators = BTreeSet::new();
    let mut apps = BTreeSet::new();
    let mut servers = BTreeSet::new();
    for event in events {
        match &event.stream {
            StreamId::Operator(id) => operators.insert(id.0),
            StreamId::App(id) => apps.insert(id.0),
            StreamId::HeadsetServer(operator, server) => {
                servers.insert((operator.0, server.clone()))
            }
        };
    }
    let operators: Vec<Uuid> = operators.into_iter().collect();
    let apps: Vec<Uuid> = apps.into_iter().collect();
    let servers: Vec<(Uuid, String)> = servers.into_iter().collect();
    let (operators, apps, servers) = tokio::try_join!(
        rows::operators(tx, &operators),
        rows::apps(tx, &apps),
        rows::headset_servers(tx, &servers),
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
    Ok(())
}

/// The events to apply, each stream in sequence order and without holes.
///
/// The tail's `(tx_id, position)` order can put a stream's event before its predecessor
/// (the predecessor's transaction got its id later but committed first), possibly in a
/// later batch. Such predecessors are loaded now; events already applied (sequence at or
/// below the stream's head) are skipped when the tail reaches them.
async fn in_stream_order(
    client: &impl GenericClient,
    state: &State,
    tail: Vec<StoredEvent>,
) -> Result<Vec<StoredEvent>, Error> {
    let mut streams: BTreeMap<StreamId, BTreeMap<i64, StoredEvent>> = BTreeMap::new();
    for event in tail {
        if event.sequence > state.last_sequence(&event.stream) {
            streams
                .entry(event.stream.clone())
                .or_default()
                .insert(event.sequence, event);
        }
    }
    let mut missing = Vec::new();
    for (stream, events) in &streams {
        let mut expected = state.last_sequence(stream) + 1;
        for &sequence in events.keys() {
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
            .entry(event.stream.clone())
            .or_default()
            .insert(event.sequence, event);
    }
    let mut ordered = Vec::new();
    for (stream, events) in streams {
        let first = state.last_sequence(&stream) + 1;
        for (expected, (sequence, event)) in (first..).zip(events) {
            if sequence != expected {
                return Err(Error::StreamGap {
                    stream: stream.to_string(),
                    missing: expected,
                });
            }
            ordered.push(event);
        }
    }
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
            _ => {}
        }
    }
    let credentials: Vec<String> = credentials.into_iter().collect();
    let sites: Vec<Uuid> = sites.into_iter().collect();
    let grants: Vec<(Uuid, Uuid)> = grants.into_iter().collect();
    let usage: Vec<(Uuid, String)> = usage.into_iter().collect();
    let (credentials, sites, grants, usage) = tokio::try_join!(
        rows::credentials(tx, &credentials),
        rows::sites(tx, &sites),
        rows::grants(tx, &grants),
        rows::usage_records(tx, &usage),
    )?;
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
