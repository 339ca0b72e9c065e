//! The headset calls (HEADSET-PROTOCOL.md): authorize, end, config, heartbeat.
//!
//! Checks run in the protocol's order and the first failure answers: key → timestamp →
//! signature → account state → session id → idempotent replay → window → site → app →
//! grant → player count → balance. Body size and params were checked by the HTTP layer.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use deadpool_postgres::GenericClient;
use ledger_core::application::AppStatus;
use ledger_core::headset_server::{HeadsetServer, HeadsetServerCommand};
use ledger_core::ids::{AppId, KeyId, OperatorId, SessionId, SiteId};
use ledger_core::metadata::{ActorRole, EventMetadata};
use ledger_core::operator::{AppTerms, Operator, OperatorCommand, OperatorEvent};
use ledger_core::signing;
use serde_json::json;

use super::{KnownKey, Ledger, MAX_CONFLICT_RETRIES};
use crate::api_error::{ApiError, ErrorCode};
use crate::context::RequestContext;
use crate::store::events;
use crate::store::sessions;
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
    /// The transaction that appended this answer's events (`None`: nothing appended, e.g. a
    /// replay): the read-your-writes token.
    pub position: Option<u64>,
}

/// Whether the request was signed with the key's secret (constant time).
pub(super) fn signature_ok(key: &KnownKey, signed: &SignedRequest) -> bool {
    signing::verify(
        &key.secret,
        &signed.timestamp_raw,
        signed.method,
        &signed.path,
        &signed.body,
        &signed.signature,
    )
}

pub(super) type OperatorSlot = SlotGuard<Operator, RecentSessions>;

pub(super) fn headset_metadata(
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

impl Ledger {
    pub(super) async fn known_key(&self, key_id: &str) -> Result<KnownKey, ApiError> {
        let key = self
            .find_key(key_id)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::InvalidApiKey))?;
        // The operator the request claims to act for, on its span and log lines.
        telemetry::record_operator(key.operator_id);
        Ok(key)
    }

    /// Key liveness → timestamp → signature → account state, on the operator's slot.
    pub(super) async fn authenticate(
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
        if !signature_ok(key, signed) {
            return Err(ApiError::new(ErrorCode::InvalidSignature));
        }
        check_fresh(slot, client, &id, |op| {
            op.check_account_state().map_err(ApiError::from)
        })
        .await
    }

    /// The session id must parse and name the key's operator.
    pub(super) fn parse_session(raw: &str, operator: OperatorId) -> Result<SessionId, ApiError> {
        let session =
            SessionId::parse(raw).map_err(|_| ApiError::new(ErrorCode::InvalidSessionIdFormat))?;
        session
            .check_operator(operator)
            .map_err(|_| ApiError::new(ErrorCode::SessionIdOperatorMismatch))?;
        Ok(session)
    }

    /// The app's terms in force and the version they were read at; `None`: no such app.
    pub(super) async fn app_terms(
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
                    position: None,
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
            let position = match events::append(&tx, &rows).await {
                Ok(tx_id) => tx_id,
                Err(StoreError::Conflict(_)) => {
                    drop(tx);
                    slot.invalidate();
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
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
            if let Some(tx_id) = position {
                crate::position::record(tx_id);
            }
            return Ok(Answer {
                data_json,
                replayed: false,
                position,
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
