//! H1/H2: authorizing a game, charging `players × unit price` exactly once per session id.
//!
//! Requests for one operator queue up; whoever gets the operator's lock takes the whole
//! queue and decides it in order on the cached state, then hands the charges to the
//! [`committer`](super::committer), which writes the batches of many operators with one
//! statement (group commit): under load one round trip and one WAL flush carry many charges.
//! Anything unusual in a batch — a refusal, a session id seen twice, another writer — is
//! answered by the one-at-a-time path after the batch, so the protocol's check order and
//! replay rules live in one place.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use cqrs_es::Aggregate;
use deadpool_postgres::GenericClient;
use ledger_core::ids::{AppId, AuthorizationToken, OperatorId, SessionId, SiteId};
use ledger_core::metadata::EventMetadata;
use ledger_core::money::Money;
use ledger_core::operator::{OperatorCommand, OperatorEvent};
use serde::Serialize;
use serde_json::json;
use tokio::sync::oneshot;

use super::committer::{Charges, SessionRow};
use super::headset::{
    Answer, AuthorizeInput, OperatorSlot, SignedRequest, TIMESTAMP_WINDOW_SECONDS, headset_metadata,
};
use super::{KnownKey, Ledger, MAX_CONFLICT_RETRIES};
use crate::api_error::{ApiError, ErrorCode};
use crate::context::RequestContext;
use crate::store::events::{self, EventRow, RowArrays};
use crate::store::sessions::{self, SessionRecord};
use crate::store::{StoreError, classify};
use crate::wire;

/// Most authorizations recorded by one statement; the rest wait for the next batch.
pub const MAX_BATCH: usize = 64;

/// How long a charge whose connection failed mid-write keeps asking whether it was recorded
/// before it answers: longer than a failover takes (docs/OPERATIONS.md, "Drills"), so a
/// 503 keeps its promise that nothing was charged.
const SETTLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Pause between those lookups while the database is away.
const SETTLE_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// One authorization waiting for its operator's lock.
pub struct Job {
    key: KnownKey,
    signed: SignedRequest,
    input: AuthorizeInput,
    metadata: EventMetadata,
    now: DateTime<Utc>,
    reply: oneshot::Sender<Result<Answer, ApiError>>,
}

type Queue = Arc<Mutex<Vec<Job>>>;

/// Per-operator queues of authorizations waiting for the operator's lock.
#[derive(Default)]
pub struct Queues {
    queues: Mutex<HashMap<OperatorId, Queue>>,
}

impl Queues {
    fn of(&self, operator: OperatorId) -> Queue {
        let mut queues = self
            .queues
            .lock()
            .expect("queue map lock is never poisoned");
        queues.entry(operator).or_default().clone()
    }
}

/// The `data` of a successful authorization, in the protocol's field order.
#[derive(Serialize)]
struct AuthorizationData<'a> {
    authorization_token: AuthorizationToken,
    session_id: &'a SessionId,
    app_id: AppId,
    app_name: &'a str,
    site_id: SiteId,
    player_count: u32,
    unit_price: Money,
    total_cost: Money,
    balance_after: Money,
    authorized_at: String,
}

fn authorization_data(event: &OperatorEvent) -> String {
    let OperatorEvent::GameAuthorized {
        session_id,
        authorization_token,
        app_id,
        app_name,
        site_id,
        player_count,
        unit_price,
        total_cost,
        balance_after,
        authorized_at,
    } = event
    else {
        unreachable!("an authorization decides exactly one GameAuthorized")
    };
    serde_json::to_string(&AuthorizationData {
        authorization_token: *authorization_token,
        session_id,
        app_id: *app_id,
        app_name,
        site_id: *site_id,
        player_count: *player_count,
        unit_price: *unit_price,
        total_cost: *total_cost,
        balance_after: *balance_after,
        authorized_at: wire::time(*authorized_at),
    })
    .expect("serializes")
}

/// The single statement that records an authorization, atomic on its own: the session's
/// idempotency row, and the event only if that row was new, both only if the app is still at
/// the version its price was read from. A session id that already has a row inserts nothing
/// and comes back (when committed before this statement began) for the replay.
const APPEND_AUTHORIZATION: &str = "WITH guard AS ( \
        SELECT coalesce(max(sequence), 0) = $10 AS ok FROM events \
        WHERE aggregate_type = 'Application' AND aggregate_id = $9 \
    ), session AS ( \
        INSERT INTO headset_sessions \
        (operator_id, session_id, app_id, site_id, player_count, authorized_at, response) \
        SELECT $11, $12, $13, $14, $15, $16, $17 WHERE (SELECT ok FROM guard) \
        ON CONFLICT (operator_id, session_id) DO NOTHING \
        RETURNING 1 \
    ), appended AS ( \
        INSERT INTO events \
        (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, hash) \
        SELECT t.at, t.ai, t.seq, t.et, t.ev, t.p::json, t.m::json, t.h \
        FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bytea[]) \
          AS t(at, ai, seq, et, ev, p, m, h) \
        WHERE EXISTS (SELECT 1 FROM session) \
        RETURNING tx_id \
    ) SELECT (SELECT ok FROM guard), EXISTS (SELECT 1 FROM session), \
        s.app_id, s.site_id, s.player_count, s.authorized_at, s.response, s.end_response, \
        (SELECT tx_id::text FROM appended LIMIT 1) \
    FROM (SELECT 1) AS one \
    LEFT JOIN headset_sessions s ON s.operator_id = $11 AND s.session_id = $12";

impl Ledger {
    pub(super) fn replay(
        record: &SessionRecord,
        input: &AuthorizeInput,
    ) -> Result<Answer, ApiError> {
        let same = record.app_id == input.app_id
            && record.site_id == input.site_id
            && i64::from(record.player_count) == input.player_count;
        if same {
            return Ok(Answer {
                data_json: record.response.clone(),
                replayed: true,
                position: None,
            });
        }
        let original: serde_json::Value =
            serde_json::from_str(&record.response).unwrap_or_default();
        Err(ApiError::with(
            ErrorCode::SessionIdConflict,
            json!({ "original": original }),
        ))
    }

    /// H1/H2: authorize a game, charging `players × unit price` exactly once per session id.
    pub async fn authorize(
        self: &Arc<Self>,
        signed: SignedRequest,
        input: AuthorizeInput,
        ctx: &RequestContext,
    ) -> Result<Answer, ApiError> {
        let now = self.now();
        let key = self.known_key(&signed.key_id).await?;
        let operator_id = key.operator_id;
        let metadata = headset_metadata(&signed, ctx, now);
        let (reply, mut answer) = oneshot::channel();
        let queue = self.authorize_queues.of(operator_id);
        queue.lock().expect("queue lock").push(Job {
            key,
            signed,
            input,
            metadata,
            now,
            reply,
        });
        let id = operator_id.to_string();
        loop {
            tokio::select! {
                biased;
                // Answered, by this request's batch or another one's.
                answered = &mut answer => {
                    // A batch that died before answering (a panic) charged at most what
                    // its statement committed; a retry of the same session replays it.
                    let answered = answered.unwrap_or_else(|_| Err(ApiError::new(ErrorCode::ServiceUnavailable)));
                    // Recorded here, in the request's task: the batch ran in a task of its own.
                    if let Ok(Answer { position: Some(tx_id), .. }) = &answered {
                        crate::position::record(*tx_id);
                    }
                    return answered;
                }
                slot = self.operators.lock(&id) => {
                    let jobs: Vec<Job> = {
                        let mut waiting = queue.lock().expect("queue lock");
                        let take = waiting.len().min(MAX_BATCH);
                        waiting.drain(..take).collect()
                    };
                    if jobs.is_empty() {
                        continue;
                    }
                    // Detached from this request: a client hanging up mid-batch must not
                    // cancel the answers of the others.
                    let ledger = Arc::clone(self);
                    let batch = tokio::spawn(async move {
                        let mut slot = slot;
                        ledger.run_batch(&mut slot, jobs).await;
                    });
                    let _ = batch.await;
                }
            }
        }
    }

    /// Decides `jobs` in order; the ones that plainly succeed are recorded together, every
    /// other one goes through the one-at-a-time path afterwards.
    async fn run_batch(&self, slot: &mut OperatorSlot, jobs: Vec<Job>) {
        let client = match self.pool.get().await {
            Ok(client) => client,
            Err(e) => {
                let error = ApiError::from(StoreError::from(e));
                for job in jobs {
                    let _ = job.reply.send(Err(error.clone()));
                }
                return;
            }
        };
        let later = match self.record_batch(slot, &client, jobs).await {
            Ok(later) => later,
            Err((error, jobs)) => {
                for job in jobs {
                    let _ = job.reply.send(Err(error.clone()));
                }
                return;
            }
        };
        for job in later {
            let result = self.authorize_locked(slot, &client, &job).await;
            let _ = job.reply.send(result);
        }
    }

    /// Records, in one statement, every job that passes all checks on the state as decided
    /// so far; answers them and returns the rest. Any surprise from the store returns all
    /// jobs unanswered for the one-at-a-time path.
    async fn record_batch(
        &self,
        slot: &mut OperatorSlot,
        client: &deadpool_postgres::Client,
        jobs: Vec<Job>,
    ) -> Result<Vec<Job>, (ApiError, Vec<Job>)> {
        let Some(first) = jobs.first() else {
            return Ok(jobs);
        };
        let id = first.key.operator_id.to_string();
        let mut working = match slot.loaded(client, &id).await {
            Ok(stream) => stream.clone(),
            Err(e) => return Err((e.into(), jobs)),
        };
        let mut batch: Vec<(Job, String)> = Vec::new();
        let mut rows: Vec<EventRow> = Vec::new();
        let mut apps: HashMap<AppId, i64> = HashMap::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut later = Vec::new();
        for job in jobs {
            match self.plain_charge(client, &working, &job, &mut seen).await {
                Some((decided, app_version)) => {
                    let mut next = working.state.clone();
                    next.apply(decided.clone());
                    let new_rows =
                        events::encode(&working, std::slice::from_ref(&decided), &job.metadata);
                    events::advance(&mut working, next, &new_rows);
                    apps.insert(job.input.app_id, app_version);
                    rows.extend(new_rows);
                    batch.push((job, authorization_data(&decided)));
                }
                None => later.push(job),
            }
        }
        if batch.is_empty() {
            return Ok(later);
        }
        let charges = Charges {
            sessions: batch
                .iter()
                .map(|(job, data_json)| SessionRow {
                    operator: job.key.operator_id.as_uuid(),
                    session_id: job.input.session_id.clone(),
                    app: job.input.app_id.as_uuid(),
                    site: job.input.site_id.as_uuid(),
                    players: i32::try_from(job.input.player_count)
                        .expect("player count was range-checked"),
                    at: job.now,
                    response: data_json.clone(),
                })
                .collect(),
            apps: apps
                .iter()
                .map(|(app, version)| (app.to_string(), *version))
                .collect(),
            rows,
        };
        let appended = charges.rows.len();
        match self.committer.commit(charges).await {
            Ok(Some(tx_id)) => {
                for (job, _) in &batch {
                    slot.notes.insert(&job.input.session_id);
                }
                slot.stream = Some(working);
                self.notifier.notify();
                if let Some(stream) = slot.stream.as_ref()
                    && let Err(e) = events::maybe_snapshot(client, stream, appended).await
                {
                    tracing::warn!(error = %e, "snapshot not written");
                }
                for (job, data_json) in batch {
                    let _ = job.reply.send(Ok(Answer {
                        data_json,
                        replayed: false,
                        position: Some(tx_id),
                    }));
                }
            }
            // An app changed, a session id was already used, or another writer appended:
            // nothing was written; decide each again, one at a time, on fresh state.
            Ok(None) | Err(StoreError::DuplicateSession) | Err(StoreError::Conflict(_)) => {
                slot.invalidate();
                later.splice(0..0, batch.into_iter().map(|(job, _)| job));
            }
            // The statement may have committed: each job answers what was recorded. The
            // rest were never sent, so nothing was written for them.
            Err(StoreError::Interrupted(cause)) => {
                slot.invalidate();
                for (job, _) in batch {
                    let answer = self.settled(&job).await;
                    let _ = job.reply.send(answer);
                }
                return Err((StoreError::Unavailable(cause).into(), later));
            }
            Err(e) => {
                slot.invalidate();
                let mut all: Vec<Job> = batch.into_iter().map(|(job, _)| job).collect();
                all.extend(later);
                return Err((e.into(), all));
            }
        }
        Ok(later)
    }

    /// The charge of `job` on `working` if every check passes as-is; `None` for anything
    /// that needs the full path (refusals, replays, stale caches, a repeated session id).
    async fn plain_charge(
        &self,
        client: &deadpool_postgres::Client,
        working: &crate::store::events::Stream<ledger_core::operator::Operator>,
        job: &Job,
        seen: &mut HashSet<String>,
    ) -> Option<(OperatorEvent, i64)> {
        let op = &working.state;
        let signed = &job.signed;
        let key_ok = op.is_live_key(&ledger_core::ids::KeyId(signed.key_id.clone()), job.now);
        let time_ok = (job.now.timestamp() - signed.timestamp).abs() <= TIMESTAMP_WINDOW_SECONDS;
        if !key_ok
            || !time_ok
            || !super::headset::signature_ok(&job.key, signed)
            || op.check_account_state().is_err()
        {
            return None;
        }
        let session = SessionId::parse(&job.input.session_id).ok()?;
        if session.operator_id() != job.key.operator_id
            || session
                .check_window(job.now, TimeDelta::seconds(TIMESTAMP_WINDOW_SECONDS))
                .is_err()
            || !seen.insert(job.input.session_id.clone())
        {
            return None;
        }
        let (terms, app_version) = self
            .app_terms(client, job.input.app_id, false)
            .await
            .ok()??;
        let command = OperatorCommand::AuthorizeGame {
            session_id: session,
            token: AuthorizationToken(uuid::Uuid::new_v4()),
            app: terms,
            site_id: job.input.site_id,
            player_count: job.input.player_count,
            now: job.now,
        };
        let decided = op.decide(command).ok()?;
        decided.into_iter().next().map(|event| (event, app_version))
    }

    /// The one-at-a-time path: the protocol's checks in order, replay rules, refusals on
    /// fresh state, retries after conflicts.
    async fn authorize_locked(
        &self,
        slot: &mut OperatorSlot,
        client: &deadpool_postgres::Client,
        job: &Job,
    ) -> Result<Answer, ApiError> {
        let Job {
            key,
            signed,
            input,
            metadata,
            now,
            ..
        } = job;
        let now = *now;
        let operator_id = key.operator_id;
        let id = operator_id.to_string();
        let mut refreshed = false;
        for _ in 0..MAX_CONFLICT_RETRIES {
            self.authenticate(slot, client, key, signed, now).await?;
            let session = Self::parse_session(&input.session_id, operator_id)?;
            if slot.notes.contains(session.as_str())
                && let Some(record) = sessions::find(client, operator_id, &session).await?
            {
                return Self::replay(&record, input);
            }
            let charge = Charge {
                client,
                id: &id,
                session: &session,
                input,
                metadata,
                now,
            };
            match self.try_charge(slot, &charge, refreshed).await? {
                Attempt::Charged(answer) => return Ok(answer),
                Attempt::Existing(record) => return Self::replay(&record, input),
                Attempt::Retry => refreshed = true,
                Attempt::Refused(refusal) => {
                    if let Some(record) = sessions::find(client, operator_id, &session).await? {
                        return Self::replay(&record, input);
                    }
                    // Refuse only on current state: refresh operator and app once and retry.
                    if !refreshed {
                        refreshed = true;
                        let operator_changed = slot.refresh(client, &id).await?;
                        if self.refresh_app(client, input.app_id).await? || operator_changed {
                            continue;
                        }
                    }
                    return Err(refusal);
                }
            }
        }
        Err(StoreError::Conflict(format!("operator {id}: too many concurrent writers")).into())
    }

    /// Brings the cached app up to what is stored; true when it changed.
    async fn refresh_app(
        &self,
        client: &impl GenericClient,
        app_id: AppId,
    ) -> Result<bool, StoreError> {
        let id = app_id.to_string();
        self.apps.lock(&id).await.refresh(client, &id).await
    }

    /// Window → site → app → grant → player count → balance, then the single statement.
    async fn try_charge(
        &self,
        slot: &mut OperatorSlot,
        charge: &Charge<'_>,
        refresh_app: bool,
    ) -> Result<Attempt, ApiError> {
        let Charge {
            client,
            id,
            session,
            input,
            metadata,
            now,
        } = *charge;
        if session
            .check_window(now, TimeDelta::seconds(TIMESTAMP_WINDOW_SECONDS))
            .is_err()
        {
            return Ok(Attempt::Refused(ApiError::new(ErrorCode::SessionIdExpired)));
        }
        let Some((terms, app_version)) = self.app_terms(client, input.app_id, refresh_app).await?
        else {
            // The site is checked before the app (protocol order).
            let site = slot
                .loaded(client, id)
                .await?
                .state
                .check_site(input.site_id)
                .map(|_| ());
            let refusal = site
                .err()
                .map_or_else(|| ApiError::new(ErrorCode::AppNotFound), ApiError::from);
            return Ok(Attempt::Refused(refusal));
        };
        let command = OperatorCommand::AuthorizeGame {
            session_id: session.clone(),
            token: AuthorizationToken(uuid::Uuid::new_v4()),
            app: terms,
            site_id: input.site_id,
            player_count: input.player_count,
            now,
        };
        let stream = slot.loaded(client, id).await?;
        let decided = match stream.state.decide(command) {
            Ok(decided) => decided,
            Err(refusal) => return Ok(Attempt::Refused(refusal.into())),
        };
        let mut next = stream.state.clone();
        for event in &decided {
            next.apply(event.clone());
        }
        let rows = events::encode(stream, &decided, metadata);
        let data_json = authorization_data(&decided[0]);
        match append_authorization(charge, &rows, app_version, &data_json).await {
            Ok(Appended::Charged(position)) => {
                let stream = slot.stream.as_mut().expect("loaded");
                events::advance(stream, next, &rows);
                slot.notes.insert(session.as_str());
                self.notifier.notify();
                let stream = slot.stream.as_ref().expect("loaded");
                if let Err(e) = events::maybe_snapshot(client, stream, rows.len()).await {
                    tracing::warn!(error = %e, "snapshot not written");
                }
                Ok(Attempt::Charged(Answer {
                    data_json,
                    replayed: false,
                    position,
                }))
            }
            // The app changed since its terms were read: read them again.
            Ok(Appended::AppChanged) => Ok(Attempt::Retry),
            Ok(Appended::Existing(Some(record))) => Ok(Attempt::Existing(record)),
            // Committed by another request after this statement's snapshot: read it now.
            Ok(Appended::Existing(None)) => {
                match sessions::find(client, session.operator_id(), session).await? {
                    Some(record) => Ok(Attempt::Existing(record)),
                    None => Ok(Attempt::Retry),
                }
            }
            Err(StoreError::Conflict(_)) => {
                slot.invalidate();
                Ok(Attempt::Retry)
            }
            Err(StoreError::Interrupted(cause)) => {
                slot.invalidate();
                match self
                    .recorded_session(session.operator_id(), session)
                    .await?
                {
                    Some(record) => Ok(Attempt::Existing(record)),
                    None => Err(StoreError::Unavailable(cause).into()),
                }
            }
            Err(e) => {
                slot.invalidate();
                Err(e.into())
            }
        }
    }

    /// The answer of a batched job whose write was interrupted: the session's recorded
    /// result when it was recorded, else 503, which is then true.
    async fn settled(&self, job: &Job) -> Result<Answer, ApiError> {
        let session = Self::parse_session(&job.input.session_id, job.key.operator_id)?;
        match self.recorded_session(job.key.operator_id, &session).await? {
            Some(record) => Self::replay(&record, &job.input),
            None => Err(ApiError::new(ErrorCode::ServiceUnavailable)),
        }
    }

    /// The session's row, asked on fresh connections until the database answers (a failover
    /// or restart takes seconds) or [`SETTLE_TIMEOUT`] passes: then `Interrupted`, the one
    /// case where a client learns the outcome only by replaying its request.
    async fn recorded_session(
        &self,
        operator: OperatorId,
        session: &SessionId,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
        loop {
            let looked = match self.pool.get().await {
                Ok(client) => sessions::find(&client, operator, session).await,
                Err(e) => Err(e.into()),
            };
            match looked {
                Err(StoreError::Unavailable(cause)) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(StoreError::Interrupted(cause));
                    }
                    tokio::time::sleep(SETTLE_POLL).await;
                }
                other => return other,
            }
        }
    }
}

/// What one authorization attempt needs, borrowed for its duration.
#[derive(Clone, Copy)]
struct Charge<'a> {
    client: &'a deadpool_postgres::Client,
    id: &'a str,
    session: &'a SessionId,
    input: &'a AuthorizeInput,
    metadata: &'a EventMetadata,
    now: DateTime<Utc>,
}

/// How one authorization attempt ended.
enum Attempt {
    Charged(Answer),
    /// The session id was authorized before: answer with its original result.
    Existing(SessionRecord),
    /// Refused by a check; the caller looks for a replay before answering.
    Refused(ApiError),
    /// Another writer changed the operator or the app: decide again on fresh state.
    Retry,
}

/// What the authorization statement did.
enum Appended {
    /// Written by the transaction with this id.
    Charged(Option<u64>),
    AppChanged,
    /// Nothing written: the session has a row (visible to the statement, or not yet).
    Existing(Option<SessionRecord>),
}

async fn append_authorization(
    charge: &Charge<'_>,
    rows: &[EventRow],
    app_version: i64,
    data_json: &str,
) -> Result<Appended, StoreError> {
    let a = RowArrays::new(rows);
    let statement = charge.client.prepare_cached(APPEND_AUTHORIZATION).await?;
    let players = i32::try_from(charge.input.player_count).expect("player count was range-checked");
    let operator = charge.session.operator_id();
    let row = charge
        .client
        .query_one(
            &statement,
            &[
                a.params(),
                vec![
                    &charge.input.app_id.to_string(),
                    &app_version,
                    &operator.as_uuid(),
                    &charge.session.as_str(),
                    &charge.input.app_id.as_uuid(),
                    &charge.input.site_id.as_uuid(),
                    &players,
                    &charge.now,
                    &data_json,
                ],
            ]
            .concat(),
        )
        .await
        .map_err(|e| classify(e).of_write())?;
    let (app_current, inserted): (bool, bool) = (row.get(0), row.get(1));
    if !app_current {
        return Ok(Appended::AppChanged);
    }
    if inserted {
        let tx_id: Option<&str> = row.get(8);
        return Ok(Appended::Charged(tx_id.map(crate::position::parse)));
    }
    let existing = row
        .get::<_, Option<uuid::Uuid>>(2)
        .map(|app_id| SessionRecord {
            app_id: AppId(app_id),
            site_id: SiteId(row.get(3)),
            player_count: row.get(4),
            authorized_at: row.get(5),
            response: row.get(6),
            end_response: row.get(7),
        });
    Ok(Appended::Existing(existing))
}
