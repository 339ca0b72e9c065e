//! The four headset calls: check the message and credentials as the HTTP handlers check the
//! body and headers, call the same ledger functions, and encode their answers as messages.

use actix_web::web;
use ledger_core::headset_server::{SERVER_ID_MAX, VERSION_MAX};
use proto::headset::v1::config_response::{App, Operator, Site};
use proto::headset::v1::headset_service_server::HeadsetService as Service;
use proto::headset::v1::{
    AuthorizeRequest, AuthorizeResponse, ConfigRequest, ConfigResponse, EndGameRequest,
    EndGameResponse, HeartbeatRequest, HeartbeatResponse,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tonic::{Request, Response, Status};

use super::metadata::{Credentials, context};
use super::status::status;
use crate::api_error::{ApiError, ErrorCode};
use crate::context::RequestContext;
use crate::http::AppState;
use crate::ledger::headset::{AuthorizeInput, HeartbeatInput};
use crate::rate_limit::http::check_authorization;

/// Full method paths: what the signature's canonical string names.
pub const AUTHORIZE: &str = "/mrledger.headset.v1.HeadsetService/Authorize";
pub const END: &str = "/mrledger.headset.v1.HeadsetService/EndGame";
pub const CONFIG: &str = "/mrledger.headset.v1.HeadsetService/Config";
pub const HEARTBEAT: &str = "/mrledger.headset.v1.HeadsetService/Heartbeat";

/// The service, on the HTTP API's state (one ledger for both transports).
pub struct HeadsetService {
    state: web::Data<AppState>,
}

impl HeadsetService {
    pub fn new(state: web::Data<AppState>) -> HeadsetService {
        HeadsetService { state }
    }

    /// A blocked IP is refused, then the per-IP limit applies, before anything else of the
    /// call is looked at (as the HTTP middlewares do for every route).
    async fn check_ip(&self, ctx: &RequestContext) -> Result<(), ApiError> {
        if let Some(retry_after) = self.state.anomaly.blocked_for(&ctx.source_ip) {
            return Err(crate::anomaly::http::blocked_error(retry_after));
        }
        self.state
            .rate_limiter
            .check_ip(&ctx.source_ip)
            .await
            .map_err(ApiError::from)
    }
}

/// What a call needs once its credentials and message are read.
struct Call<M> {
    ctx: RequestContext,
    credentials: Credentials,
    /// The `x-api-key` as sent (if any), for counting the call's failure.
    presented_key: Option<String>,
    message: M,
}

/// Reads a call's context and credentials; problems with them are named first, then the
/// message's (as the HTTP handlers name headers before body fields). The client address is
/// the peer, or `x-forwarded-for` when the peer is a trusted proxy (as over HTTP).
fn read<M>(
    request: Request<M>,
    needs_session: bool,
    guard: &crate::anomaly::AnomalyGuard,
) -> (Call<M>, Vec<String>) {
    let mut ctx = context(&request);
    let metadata = request.metadata();
    let header = |name: &str| metadata.get(name).and_then(|v| v.to_str().ok());
    ctx.source_ip = guard.client_ip(
        request.remote_addr().map(|a| a.ip()),
        header("x-forwarded-for"),
    );
    let presented_key = header("x-api-key")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned);
    let mut bad = Vec::new();
    let credentials = Credentials::read(request.metadata(), needs_session, &mut bad);
    let call = Call {
        ctx,
        credentials,
        presented_key,
        message: request.into_inner(),
    };
    (call, bad)
}

fn invalid(bad: &[String]) -> Result<(), ApiError> {
    if bad.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid_fields(bad))
    }
}

/// A required text of `min..=max` characters once trimmed, as the HTTP bodies take it.
fn text(value: &str, name: &str, min: usize, max: usize, bad: &mut Vec<String>) -> String {
    let trimmed = value.trim();
    let len = trimmed.chars().count();
    if len < min || len > max {
        bad.push(name.to_owned());
    }
    trimmed.to_owned()
}

fn id<T: std::str::FromStr>(value: &str, name: &str, bad: &mut Vec<String>) -> Option<T> {
    let parsed = value.parse().ok();
    if parsed.is_none() {
        bad.push(name.to_owned());
    }
    parsed
}

/// The ledger's answer JSON (the HTTP `data`), read back into the shape of a message.
fn from_data<T: DeserializeOwned>(data: &serde_json::Value) -> Result<T, ApiError> {
    T::deserialize(data).map_err(|e| {
        tracing::error!(error = %e, "ledger answer does not fit the gRPC message");
        ApiError::new(ErrorCode::InternalError)
    })
}

fn from_json<T: DeserializeOwned>(data_json: &str) -> Result<T, ApiError> {
    from_data(&serde_json::from_str(data_json).map_err(|e| {
        tracing::error!(error = %e, "ledger answer is not JSON");
        ApiError::new(ErrorCode::InternalError)
    })?)
}

/// What [`answer`] needs besides the body: the call's context, and its key id as sent for
/// counting a failure toward anomaly locking.
struct Answering<'a> {
    state: &'a AppState,
    ctx: RequestContext,
    presented_key: Option<String>,
}

impl HeadsetService {
    fn answering<M>(&self, call: &Call<M>) -> Answering<'_> {
        Answering {
            state: &self.state,
            ctx: call.ctx.clone(),
            presented_key: call.presented_key.clone(),
        }
    }
}

/// Runs `body`, turning its error into a status carrying the error code; either way the
/// answer names the request id its events recorded (`x-request-id`, as over HTTP), and a
/// call that appended names its transaction (`x-ledger-position`). A failure is counted for
/// anomaly locking first.
async fn answer<T>(
    on: Answering<'_>,
    body: impl Future<Output = Result<T, ApiError>>,
) -> Result<Response<T>, Status> {
    let Answering {
        state,
        ctx,
        presented_key,
    } = on;
    // Log lines of the call carry its ids; what it appended is its read-your-writes token.
    let (result, position) = crate::position::scoped(telemetry::in_request(
        ctx.request_id.clone(),
        ctx.trace_id.clone(),
        body,
    ))
    .await;
    if let Err(error) = &result {
        crate::anomaly::http::observe(state, &ctx, presented_key.as_deref(), Some(error)).await;
    }
    let message = result.map_err(|error| status(&error, &ctx))?;
    let mut response = Response::new(message);
    if let Ok(request_id) = ctx.request_id.parse() {
        response.metadata_mut().insert("x-request-id", request_id);
    }
    if let Some(tx_id) = position {
        response
            .metadata_mut()
            .insert(crate::position::HEADER, tx_id.into());
    }
    Ok(response)
}

#[derive(Deserialize)]
struct AuthorizationData {
    authorization_token: String,
    session_id: String,
    app_id: String,
    app_name: String,
    site_id: String,
    player_count: i64,
    unit_price: String,
    total_cost: String,
    balance_after: String,
    authorized_at: String,
}

#[derive(Deserialize)]
struct EndData {
    session_id: String,
    duration_seconds: u64,
    ended_at: String,
}

#[derive(Deserialize)]
struct ConfigData {
    operator: OperatorData,
    sites: Vec<SiteData>,
    apps: Vec<AppData>,
}

#[derive(Deserialize)]
struct OperatorData {
    id: String,
    name: String,
}

#[derive(Deserialize)]
struct SiteData {
    id: String,
    name: String,
    address: String,
}

#[derive(Deserialize)]
struct AppData {
    id: String,
    name: String,
    unit_price: String,
    min_players: u32,
    max_players: u32,
    expires_at: Option<String>,
}

#[derive(Deserialize)]
struct HeartbeatData {
    server_time: String,
}

#[tonic::async_trait]
impl Service for HeadsetService {
    async fn authorize(
        &self,
        request: Request<AuthorizeRequest>,
    ) -> Result<Response<AuthorizeResponse>, Status> {
        let started = std::time::Instant::now();
        let (call, mut bad) = read(request, true, &self.state.anomaly);
        answer(self.answering(&call), async move {
            // Counted like an HTTP authorization: result and latency.
            let outcome: Result<AuthorizeResponse, ApiError> = async {
                self.check_ip(&call.ctx).await?;
                let m = &call.message;
                let app_id = id(&m.app_id, "app_id", &mut bad);
                let site_id = id(&m.site_id, "site_id", &mut bad);
                invalid(&bad)?;
                // The per-operator limit (the key names the operator), as over HTTP: counted
                // across both transports, before anything is charged.
                check_authorization(&self.state, call.credentials.key_id()).await?;
                let input = AuthorizeInput {
                    session_id: call.credentials.session_id.clone().expect("checked"),
                    app_id: app_id.expect("checked"),
                    site_id: site_id.expect("checked"),
                    player_count: m.player_count,
                };
                let signed = call.credentials.signed(AUTHORIZE, m);
                let answer = self
                    .state
                    .ledger
                    .authorize(signed, input, &call.ctx)
                    .await?;
                crate::metrics::authorization_charged(&answer);
                let data: AuthorizationData = from_json(&answer.data_json)?;
                Ok(AuthorizeResponse {
                    authorization_token: data.authorization_token,
                    session_id: data.session_id,
                    app_id: data.app_id,
                    app_name: data.app_name,
                    site_id: data.site_id,
                    player_count: data.player_count,
                    unit_price: data.unit_price,
                    total_cost: data.total_cost,
                    balance_after: data.balance_after,
                    authorized_at: data.authorized_at,
                    idempotent_replayed: answer.replayed,
                })
            }
            .await;
            crate::metrics::authorization_outcome(outcome.as_ref().err(), started);
            outcome
        })
        .await
    }

    async fn end_game(
        &self,
        request: Request<EndGameRequest>,
    ) -> Result<Response<EndGameResponse>, Status> {
        let (call, mut bad) = read(request, true, &self.state.anomaly);
        answer(self.answering(&call), async move {
            self.check_ip(&call.ctx).await?;
            let m = &call.message;
            // The HTTP body takes 0..=i64::MAX; the same range here.
            if m.duration_seconds
                .is_some_and(|d| i64::try_from(d).is_err())
            {
                bad.push("duration_seconds".to_owned());
            }
            invalid(&bad)?;
            let session = call.credentials.session_id.clone().expect("checked");
            let signed = call.credentials.signed(END, m);
            let answer = self
                .state
                .ledger
                .end_game(signed, &session, m.duration_seconds, &call.ctx)
                .await?;
            let data: EndData = from_json(&answer.data_json)?;
            Ok(EndGameResponse {
                session_id: data.session_id,
                duration_seconds: data.duration_seconds,
                ended_at: data.ended_at,
                idempotent_replayed: answer.replayed,
            })
        })
        .await
    }

    async fn config(
        &self,
        request: Request<ConfigRequest>,
    ) -> Result<Response<ConfigResponse>, Status> {
        let (call, bad) = read(request, false, &self.state.anomaly);
        answer(self.answering(&call), async move {
            self.check_ip(&call.ctx).await?;
            invalid(&bad)?;
            let signed = call.credentials.signed(CONFIG, &call.message);
            let data: ConfigData = from_data(&self.state.ledger.headset_config(signed).await?)?;
            Ok(ConfigResponse {
                operator: Some(Operator {
                    id: data.operator.id,
                    name: data.operator.name,
                }),
                sites: data
                    .sites
                    .into_iter()
                    .map(|s| Site {
                        id: s.id,
                        name: s.name,
                        address: s.address,
                    })
                    .collect(),
                apps: data
                    .apps
                    .into_iter()
                    .map(|a| App {
                        id: a.id,
                        name: a.name,
                        unit_price: a.unit_price,
                        min_players: a.min_players,
                        max_players: a.max_players,
                        expires_at: a.expires_at,
                    })
                    .collect(),
            })
        })
        .await
    }

    async fn heartbeat(
        &self,
        request: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        let (call, mut bad) = read(request, false, &self.state.anomaly);
        answer(self.answering(&call), async move {
            self.check_ip(&call.ctx).await?;
            let m = &call.message;
            let site_id = id(&m.site_id, "site_id", &mut bad);
            let server_id = text(&m.server_id, "server_id", 1, SERVER_ID_MAX, &mut bad);
            let version = text(&m.version, "version", 1, VERSION_MAX, &mut bad);
            invalid(&bad)?;
            let input = HeartbeatInput {
                site_id: site_id.expect("checked"),
                server_id,
                players_online: m.players_online,
                version,
            };
            let signed = call.credentials.signed(HEARTBEAT, m);
            let data: HeartbeatData = from_data(
                &self
                    .state
                    .ledger
                    .heartbeat(signed, input, &call.ctx)
                    .await?,
            )?;
            Ok(HeartbeatResponse {
                server_time: data.server_time,
            })
        })
        .await
    }
}
