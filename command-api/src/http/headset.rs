//! HTTP edge of the headset protocol: decode, call the ledger, encode.

use actix_web::http::StatusCode;
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse};
use ledger_core::headset_server::{SERVER_ID_MAX, VERSION_MAX};

use super::body::read_limited;
use super::fields::Fields;
use super::{AppState, respond};
use crate::api_error::ApiError;
use crate::context::RequestContext;
use crate::ledger::headset::{AuthorizeInput, HeartbeatInput, SignedRequest};
use crate::wire;

pub const AUTHORIZE: &str = "/api/v1/auth/game/authorize";
pub const END: &str = "/api/v1/auth/game/end";
pub const CONFIG: &str = "/api/v1/auth/headset/config";
pub const HEARTBEAT: &str = "/api/v1/auth/headset/heartbeat";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(AUTHORIZE, web::post().to(authorize))
        .route(END, web::post().to(end))
        .route(CONFIG, web::get().to(config))
        .route(HEARTBEAT, web::post().to(heartbeat));
}

/// Signing headers, checked for presence and shape (not yet for validity).
struct Headers {
    key_id: Option<String>,
    timestamp: Option<(i64, String)>,
    signature: Option<String>,
    session_id: Option<String>,
}

fn headers(req: &HttpRequest, needs_session: bool, bad: &mut Vec<String>) -> Headers {
    let text = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let key_id = text("X-API-Key");
    let timestamp = text("X-Timestamp").and_then(|raw| raw.parse::<i64>().ok().map(|ts| (ts, raw)));
    let signature = text("X-Signature");
    let session_id = text("X-Session-ID");
    for (name, present) in [
        ("X-API-Key", key_id.is_some()),
        ("X-Timestamp", timestamp.is_some()),
        ("X-Signature", signature.is_some()),
        ("X-Session-ID", session_id.is_some() || !needs_session),
    ] {
        if !present {
            bad.push(name.to_owned());
        }
    }
    Headers {
        key_id,
        timestamp,
        signature,
        session_id,
    }
}

fn signed(req: &HttpRequest, h: Headers, method: &'static str, body: Vec<u8>) -> SignedRequest {
    let (timestamp, timestamp_raw) = h.timestamp.expect("checked");
    SignedRequest {
        key_id: h.key_id.expect("checked"),
        timestamp,
        timestamp_raw,
        signature: h.signature.expect("checked"),
        method,
        path: req.path().to_owned(),
        body,
    }
}

/// Merges header problems into the body's `INVALID_PARAMS` (headers first).
fn params_error(mut header_bad: Vec<String>, body: Result<(), ApiError>) -> Result<(), ApiError> {
    if let Err(e) = &body
        && let Some(fields) = e.details["fields"].as_array()
    {
        header_bad.extend(fields.iter().filter_map(|f| f.as_str().map(str::to_owned)));
    }
    if header_bad.is_empty() {
        body
    } else {
        Err(ApiError::invalid_fields(&header_bad))
    }
}

async fn authorize(req: HttpRequest, payload: Payload, state: web::Data<AppState>) -> HttpResponse {
    let started = std::time::Instant::now();
    let ctx = RequestContext::of(&req);
    let result = async {
        let body = read_limited(&req, payload).await?;
        let mut bad = Vec::new();
        let h = headers(&req, true, &mut bad);
        let mut f = Fields::parse(&body, false);
        let (app_id, site_id, player_count) = match f.as_mut() {
            Ok(f) => (f.id("app_id"), f.id("site_id"), f.int("player_count")),
            Err(_) => (None, None, None),
        };
        params_error(bad, f.and_then(Fields::finish_ignoring_unknown))?;
        // The per-operator limit: the key id names the operator; nothing is charged yet.
        let key_id = h.key_id.as_deref().expect("checked");
        crate::rate_limit::http::check_authorization(&state, key_id).await?;
        let session_id = h.session_id.clone().expect("checked");
        let input = AuthorizeInput {
            session_id,
            app_id: app_id.expect("checked"),
            site_id: site_id.expect("checked"),
            player_count: player_count.expect("checked"),
        };
        let answer = state
            .ledger
            .authorize(signed(&req, h, "POST", body), input, &ctx)
            .await?;
        crate::metrics::authorization_charged(&answer);
        Ok(wire::success_raw(
            &ctx.request_id,
            &answer.data_json,
            answer.replayed,
        ))
    }
    .await;
    crate::metrics::authorization_answered(&result, started);
    respond(&ctx, result)
}

async fn end(req: HttpRequest, payload: Payload, state: web::Data<AppState>) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let body = read_limited(&req, payload).await?;
        let mut bad = Vec::new();
        let h = headers(&req, true, &mut bad);
        let mut f = Fields::parse(&body, true);
        let duration = match f.as_mut() {
            Ok(f) => f.opt_int_in("duration_seconds", 0, i64::MAX),
            Err(_) => None,
        };
        params_error(bad, f.and_then(Fields::finish_ignoring_unknown))?;
        let session = h.session_id.clone().expect("checked");
        let duration = duration.map(|d| u64::try_from(d).expect("non-negative"));
        let answer = state
            .ledger
            .end_game(signed(&req, h, "POST", body), &session, duration, &ctx)
            .await?;
        Ok(wire::success_raw(
            &ctx.request_id,
            &answer.data_json,
            answer.replayed,
        ))
    }
    .await;
    respond(&ctx, result)
}

async fn config(req: HttpRequest, payload: Payload, state: web::Data<AppState>) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let body = read_limited(&req, payload).await?;
        let mut bad = Vec::new();
        let h = headers(&req, false, &mut bad);
        params_error(bad, Ok(()))?;
        let data = state
            .ledger
            .headset_config(signed(&req, h, "GET", body))
            .await?;
        Ok(wire::success(StatusCode::OK, &ctx.request_id, &data))
    }
    .await;
    respond(&ctx, result)
}

async fn heartbeat(req: HttpRequest, payload: Payload, state: web::Data<AppState>) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let body = read_limited(&req, payload).await?;
        let mut bad = Vec::new();
        let h = headers(&req, false, &mut bad);
        let mut f = Fields::parse(&body, false);
        let parsed = match f.as_mut() {
            Ok(f) => Some((
                f.id("site_id"),
                f.text("server_id", 1, SERVER_ID_MAX),
                f.int_in("players_online", 0, i64::from(u32::MAX)),
                f.text("version", 1, VERSION_MAX),
            )),
            Err(_) => None,
        };
        params_error(bad, f.and_then(Fields::finish_ignoring_unknown))?;
        let (site_id, server_id, players_online, version) = parsed.expect("checked");
        let input = HeartbeatInput {
            site_id: site_id.expect("checked"),
            server_id,
            players_online: u32::try_from(players_online.expect("checked")).expect("range-checked"),
            version,
        };
        let data = state
            .ledger
            .heartbeat(signed(&req, h, "POST", body), input, &ctx)
            .await?;
        Ok(wire::success(StatusCode::OK, &ctx.request_id, &data))
    }
    .await;
    respond(&ctx, result)
}
