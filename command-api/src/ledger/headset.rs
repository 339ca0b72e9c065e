//! The headset calls (HEADSET-PROTOCOL.md): authorize, end, config, heartbeat.
//!
//! Checks run in the protocol's order and the first failure answers: key → timestamp →
//! signature → account state → session id → idempotent replay → window → site → app →
//! grant → player count → balance. Body size and params were checked by the HTTP layer.

use chrono::{DateTime, TimeDelta, Utc};
use cqrs_es::Aggregate;
use deadpool_postgres::GenericClient;
use ledger_core::application::AppStatus;
use ledger_core::headset_server::{HeadsetServer, HeadsetServerCommand};
use ledger_core::ids::{AppId, AuthorizationToken, KeyId, OperatorId, SessionId, SiteId};
use ledger_core::metadata::{ActorRole, EventMetadata};
use ledger_core::money::Money;
use ledger_core::operator::{AppTerms, Operator, OperatorCommand, OperatorEvent};
use ledger_core::signing;
use serde::Serialize;
use serde_json::json;

use super::{KnownKey, Ledger, MAX_CONFLICT_RETRIES};
use crate::api_error::{ApiError, ErrorCode};
use crate::context::RequestContext;
use crate::store::events::{self, EventRow, RowArrays};
use crate::store::sessions::{self, SessionRecord};
use crate::store::streams::{RecentSessions, SlotGuard};
use crate::store::{StoreError, classify};
use crate::wire;

/// Accepted clock difference for `X-Timestamp` and session ids (±300 s).
pub const TIMESTAMP_WINDOW_SECONDS: i64 = 300;

/// The signed part of a headset request, as received.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    pub key_id: String,
    pub timestamp: i64,
    pub timestamp_raw: String,
    pub signature: String,
    pub method: &'static str,
    pub path: String,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct AuthorizeInput {
    pub session_id: String,
    pub app_id: AppId,
    pub site_id: SiteId,
    pub player_count: i64,
}

#[derive(Debug, Clone)]
pub struct HeartbeatInput {
    pub site_id: SiteId,
    pub server_id: String,
    pub players_online: u32,
    pub version: String,
}

/// A successful answer: the `data` JSON and whether it replays an earlier one.
#[derive(Debug, Clone)]
pub struct Answer {
    pub data_json: String,
    pub replayed: bool,
}

type OperatorSlot = SlotGuard<Operator, RecentSessions>;

fn headset_metadata(
    signed: &SignedRequest,
    ctx: &RequestContext,
    now: DateTime<Utc>,
) -> EventMetadata {
    EventMetadata {
        actor_id: signed.key_id.clone(),
        actor_role: ActorRole::HeadsetServer,
        source_ip: ctx.source_ip.clone(),
        request_id: ctx.request_id.clone(),
        trace_id: ctx.trace_id.clone(),
        occurred_at: now,
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

/// Runs `check` on the cached operator; a refusal is only returned once the state is known
/// to be current (another instance may have changed it).
async fn check_fresh<T>(
    slot: &mut OperatorSlot,
    client: &impl GenericClient,
    id: &str,
    check: impl Fn(&Operator) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    match check(&slot.loaded(client, id).await?.state) {
        Ok(value) => Ok(value),
        Err(refusal) => {
            if slot.refresh(client, id).await? {
                check(&slot.loaded(client, id).await?.state)
            } else {
                Err(refusal)
            }
        }
    }
}

/// The single statement that records an authorization: the event and the session's
/// idempotency row, only if the app is still at the version the price was read from.
/// One round trip, atomic on its own.
const APPEND_AUTHORIZATION: &str = "WITH guard AS ( \
        SELECT coalesce(max(sequence), 0) = $10 AS ok FROM events \
        WHERE aggregate_type = 'Application' AND aggregate_id = $9 \
    ), appended AS ( \
        INSERT INTO events \
        (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, hash) \
        SELECT t.at, t.ai, t.seq, t.et, t.ev, t.p::json, t.m::json, t.h \
        FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bytea[]) \
          AS t(at, ai, seq, et, ev, p, m, h) \
        WHERE (SELECT ok FROM guard) \
        RETURNING 1 \
    ), session AS ( \
        INSERT INTO headset_sessions \
        (operator_id, session_id, app_id, site_id, player_count, authorized_at, response) \
        SELECT $11, $12, $13, $14, $15, $16, $17 WHERE (SELECT ok FROM guard) \
        RETURNING 1 \
    ) SELECT (SELECT ok FROM guard)";

impl Ledger {
    async fn known_key(&self, key_id: &str) -> Result<KnownKey, ApiError> {
        self.find_key(key_id)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::InvalidApiKey))
    }

    /// Key liveness → timestamp → signature → account state, on the operator's slot.
    async fn authenticate(
        &self,
        slot: &mut OperatorSlot,
        client: &impl GenericClient,
        key: &KnownKey,
        signed: &SignedRequest,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let id = key.operator_id.to_string();
        let key_id = KeyId(signed.key_id.clone());
        check_fresh(slot, client, &id, |op| {
            op.is_live_key(&key_id, now)
                .then_some(())
                .ok_or_else(|| ApiError::new(ErrorCode::InvalidApiKey))
        })
        .await?;
        if (now.timestamp() - signed.timestamp).abs() > TIMESTAMP_WINDOW_SECONDS {
            return Err(ApiError::with(
                ErrorCode::TimestampExpired,
                json!({ "server_time": now.timestamp(), "request_time": signed.timestamp,
                        "max_diff_seconds": TIMESTAMP_WINDOW_SECONDS }),
            ));
        }
        if !signing::verify(
            &key.secret,
            &signed.timestamp_raw,
            signed.method,
            &signed.path,
            &signed.body,
            &signed.signature,
        ) {
            return Err(ApiError::new(ErrorCode::InvalidSignature));
        }
        check_fresh(slot, client, &id, |op| {
            op.check_account_state().map_err(ApiError::from)
        })
        .await
    }

    /// The session id must parse and name the key's operator.
    fn parse_session(raw: &str, operator: OperatorId) -> Result<SessionId, ApiError> {
        let session =
            SessionId::parse(raw).map_err(|_| ApiError::new(ErrorCode::InvalidSessionIdFormat))?;
        session
            .check_operator(operator)
            .map_err(|_| ApiError::new(ErrorCode::SessionIdOperatorMismatch))?;
        Ok(session)
    }

    /// The app's terms in force and the version they were read at; `None`: no such app.
    async fn app_terms(
        &self,
        client: &impl GenericClient,
        app_id: AppId,
        refresh: bool,
    ) -> Result<Option<(AppTerms, i64)>, StoreError> {
        let id = app_id.to_string();
        let mut slot = self.apps.lock(&id).await;
        let known = slot.loaded(client, &id).await?.version;
        if refresh || known == 0 {
            slot.refresh(client, &id).await?;
        }
        let stream = slot.loaded(client, &id).await?;
        if stream.version == 0 {
            return Ok(None);
        }
        let app = &stream.state;
        let terms = AppTerms {
            app_id,
            name: app.name.clone(),
            unit_price: app.unit_price,
            min_players: app.min_players,
            max_players: app.max_players,
            status: app.status,
        };
        Ok(Some((terms, stream.version)))
    }

    fn replay(record: &SessionRecord, input: &AuthorizeInput) -> Result<Answer, ApiError> {
        let same = record.app_id == input.app_id
            && record.site_id == input.site_id
            && i64::from(record.player_count) == input.player_count;
        if same {
            return Ok(Answer {
                data_json: record.response.clone(),
                replayed: true,
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
        &self,
        signed: SignedRequest,
        input: AuthorizeInput,
        ctx: &RequestContext,
    ) -> Result<Answer, ApiError> {
        let now = self.now();
        let key = self.known_key(&signed.key_id).await?;
        let operator_id = key.operator_id;
        let id = operator_id.to_string();
        // Looked up before queueing on the operator: a retry usually answers from here.
        let early_session = SessionId::parse(&input.session_id)
            .ok()
            .filter(|s| s.operator_id() == operator_id);
        let mut record = match &early_session {
            Some(session) => {
                let client = self.pool.get().await.map_err(StoreError::from)?;
                sessions::find(&client, operator_id, session).await?
            }
            None => None,
        };
        // Queue on the operator before taking a connection, so a burst on one operator
        // never holds the connections other operators need.
        let mut slot = self.operators.lock(&id).await;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        let metadata = headset_metadata(&signed, ctx, now);
        let mut refreshed = false;
        for _ in 0..MAX_CONFLICT_RETRIES {
            self.authenticate(&mut slot, &client, &key, &signed, now)
                .await?;
            let session = Self::parse_session(&input.session_id, operator_id)?;
            if record.is_none() && slot.notes.contains(session.as_str()) {
                record = sessions::find(&client, operator_id, &session).await?;
            }
            if let Some(record) = &record {
                return Self::replay(record, &input);
            }
            session
                .check_window(now, TimeDelta::seconds(TIMESTAMP_WINDOW_SECONDS))
                .map_err(|_| ApiError::new(ErrorCode::SessionIdExpired))?;
            let (terms, app_version) =
                match self.app_terms(&client, input.app_id, refreshed).await? {
                    Some(found) => found,
                    None => {
                        // The site is checked before the app (protocol order).
                        check_fresh(&mut slot, &client, &id, |op| {
                            op.check_site(input.site_id)
                                .map(|_| ())
                                .map_err(ApiError::from)
                        })
                        .await?;
                        return Err(ApiError::new(ErrorCode::AppNotFound));
                    }
                };
            let command = OperatorCommand::AuthorizeGame {
                session_id: session.clone(),
                token: AuthorizationToken(uuid::Uuid::new_v4()),
                app: terms,
                site_id: input.site_id,
                player_count: input.player_count,
                now,
            };
            let stream = slot.loaded(&client, &id).await?;
            let decided = match stream.state.decide(command) {
                Ok(decided) => decided,
                Err(refusal) => {
                    // Refuse only on current state: refresh operator and app once and retry.
                    if !refreshed {
                        refreshed = true;
                        let operator_changed = slot.refresh(&client, &id).await?;
                        let app_before = app_version;
                        let app_now = self
                            .app_terms(&client, input.app_id, true)
                            .await?
                            .map(|(_, v)| v);
                        if operator_changed || app_now != Some(app_before) {
                            continue;
                        }
                    }
                    return Err(refusal.into());
                }
            };
            let mut next = stream.state.clone();
            for event in &decided {
                next.apply(event.clone());
            }
            let rows = events::encode(stream, &decided, &metadata);
            let data_json = authorization_data(&decided[0]);
            let recorded = append_authorization(
                &client,
                &rows,
                &input,
                app_version,
                operator_id,
                &session,
                now,
                &data_json,
            )
            .await;
            match recorded {
                Ok(true) => {
                    let stream = slot.stream.as_mut().expect("loaded");
                    events::advance(stream, next, &rows);
                    slot.notes.insert(session.as_str());
                    self.notifier.notify();
                    let stream = slot.stream.as_ref().expect("loaded");
                    if let Err(e) = events::maybe_snapshot(&client, stream, rows.len()).await {
                        tracing::warn!(error = %e, "snapshot not written");
                    }
                    return Ok(Answer {
                        data_json,
                        replayed: false,
                    });
                }
                // The app changed since its terms were read: read them again.
                Ok(false) => refreshed = true,
                Err(StoreError::DuplicateSession) => {
                    record = sessions::find(&client, operator_id, &session).await?;
                }
                Err(StoreError::Conflict(_)) => {
                    slot.invalidate();
                    record = sessions::find(&client, operator_id, &session).await?;
                }
                Err(e) => {
                    slot.invalidate();
                    return Err(e.into());
                }
            }
        }
        Err(StoreError::Conflict(format!("operator {id}: too many concurrent writers")).into())
    }

    /// H4: record the end of an authorized session (first report wins).
    pub async fn end_game(
        &self,
        signed: SignedRequest,
        session_raw: &str,
        duration_seconds: Option<u64>,
        ctx: &RequestContext,
    ) -> Result<Answer, ApiError> {
        let now = self.now();
        let key = self.known_key(&signed.key_id).await?;
        let operator_id = key.operator_id;
        let id = operator_id.to_string();
        let mut slot = self.operators.lock(&id).await;
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let metadata = headset_metadata(&signed, ctx, now);
        for _ in 0..MAX_CONFLICT_RETRIES {
            self.authenticate(&mut slot, &client, &key, &signed, now)
                .await?;
            let session = Self::parse_session(session_raw, operator_id)?;
            let record = sessions::find(&client, operator_id, &session)
                .await?
                .ok_or_else(|| ApiError::new(ErrorCode::SessionNotFound))?;
            if let Some(end) = record.end_response {
                return Ok(Answer {
                    data_json: end,
                    replayed: true,
                });
            }
            let stream = slot.loaded(&client, &id).await?;
            let command = OperatorCommand::EndGame {
                session_id: session.clone(),
                authorized_at: record.authorized_at,
                duration_seconds,
                now,
            };
            let decided = stream.state.decide(command).map_err(ApiError::from)?;
            let OperatorEvent::GameEnded {
                duration_seconds,
                ended_at,
                ..
            } = &decided[0]
            else {
                unreachable!("EndGame decides GameEnded")
            };
            let data_json = json!({ "session_id": session, "duration_seconds": duration_seconds,
                                     "ended_at": wire::time(*ended_at) })
            .to_string();
            let rows = events::encode(stream, &decided, &metadata);
            let tx = client.transaction().await.map_err(classify)?;
            match events::append(&tx, &rows).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => {
                    drop(tx);
                    slot.invalidate();
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            if !sessions::record_end(&tx, operator_id, &session, &data_json).await? {
                continue; // another request ended it first; the next round replays it
            }
            if let Err(e) = tx.commit().await {
                slot.invalidate();
                return Err(classify(e).into());
            }
            let mut next = stream.state.clone();
            next.apply(decided[0].clone());
            events::advance(slot.stream.as_mut().expect("loaded"), next, &rows);
            self.notifier.notify();
            return Ok(Answer {
                data_json,
                replayed: false,
            });
        }
        Err(StoreError::Conflict(format!("operator {id}: too many concurrent writers")).into())
    }

    /// H5: validate the credentials and list open sites and usable apps.
    pub async fn headset_config(
        &self,
        signed: SignedRequest,
    ) -> Result<serde_json::Value, ApiError> {
        let now = self.now();
        let key = self.known_key(&signed.key_id).await?;
        let id = key.operator_id.to_string();
        let mut slot = self.operators.lock(&id).await;
        let client = self.pool.get().await.map_err(StoreError::from)?;
        // Nothing is appended here to catch a stale cache, so read what is stored first.
        slot.refresh(&client, &id).await?;
        self.authenticate(&mut slot, &client, &key, &signed, now)
            .await?;
        let operator = slot.loaded(&client, &id).await?.state.clone();
        drop(slot);
        let sites: Vec<_> = operator
            .sites
            .iter()
            .filter(|(_, site)| site.open)
            .map(|(site_id, site)| json!({ "id": site_id, "name": site.name, "address": site.address }))
            .collect();
        let mut apps = Vec::new();
        for (app_id, grant) in operator.grants.iter().filter(|(_, g)| !g.is_expired(now)) {
            if let Some((terms, _)) = self.app_terms(&client, *app_id, true).await?
                && terms.status == AppStatus::Active
            {
                apps.push(json!({
                    "id": app_id, "name": terms.name, "unit_price": terms.unit_price,
                    "min_players": terms.min_players, "max_players": terms.max_players,
                    "expires_at": wire::opt_time(grant.expires_at),
                }));
            }
        }
        Ok(json!({
            "operator": { "id": key.operator_id, "name": operator.name },
            "sites": sites,
            "apps": apps,
        }))
    }

    /// H6: record a headset server's heartbeat on its own stream.
    pub async fn heartbeat(
        &self,
        signed: SignedRequest,
        input: HeartbeatInput,
        ctx: &RequestContext,
    ) -> Result<serde_json::Value, ApiError> {
        let now = self.now();
        let key = self.known_key(&signed.key_id).await?;
        let id = key.operator_id.to_string();
        {
            let mut slot = self.operators.lock(&id).await;
            let client = self.pool.get().await.map_err(StoreError::from)?;
            slot.refresh(&client, &id).await?;
            self.authenticate(&mut slot, &client, &key, &signed, now)
                .await?;
            check_fresh(&mut slot, &client, &id, |op| {
                op.check_site(input.site_id)
                    .map(|_| ())
                    .map_err(ApiError::from)
            })
            .await?;
        }
        let stream_id = HeadsetServer::stream_id(key.operator_id, &input.server_id);
        let command = HeadsetServerCommand::RecordHeartbeat {
            operator_id: key.operator_id,
            site_id: input.site_id,
            server_id: input.server_id,
            players_online: input.players_online,
            version: input.version,
            now,
        };
        let metadata = headset_metadata(&signed, ctx, now);
        self.execute(
            &self.headset_servers,
            &stream_id,
            &metadata,
            vec![command],
            None,
        )
        .await?;
        Ok(json!({ "server_time": wire::time(now) }))
    }
}

#[allow(clippy::too_many_arguments)]
async fn append_authorization(
    client: &impl GenericClient,
    rows: &[EventRow],
    input: &AuthorizeInput,
    app_version: i64,
    operator_id: OperatorId,
    session: &SessionId,
    now: DateTime<Utc>,
    data_json: &str,
) -> Result<bool, StoreError> {
    let a = RowArrays::new(rows);
    let statement = client.prepare_cached(APPEND_AUTHORIZATION).await?;
    let players = i32::try_from(input.player_count).expect("player count was range-checked");
    let row = client
        .query_one(
            &statement,
            &[
                &a.types,
                &a.ids,
                &a.sequences,
                &a.event_types,
                &a.versions,
                &a.payloads,
                &a.metadata,
                &a.hashes,
                &input.app_id.to_string(),
                &app_version,
                &operator_id.as_uuid(),
                &session.as_str(),
                &input.app_id.as_uuid(),
                &input.site_id.as_uuid(),
                &players,
                &now,
                &data_json,
            ],
        )
        .await
        .map_err(classify)?;
    Ok(row.get(0))
}
