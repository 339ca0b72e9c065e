//! HTTP edge of the headset protocol: decode, call the ledger, encode.

use actix_web::http::StatusCode;
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse};
use ledger_core::headset_request::{AuthorizeBody, EndBody, Header, HeartbeatBody, SigningHeaders};

use super::body::read_limited;
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

/// Signing headers, checked for presence, length and shape (not yet for validity): an
/// over-long one is `INVALID_PARAMS` naming it, before any lookup or HMAC.
fn headers(
    req: &HttpRequest,
    needs_session: bool,
    bad: &mut Vec<String>,
) -> Option<SigningHeaders> {
    let lookup = |header: Header| {
        req.headers()
            .get(header.http_name())
            .and_then(|v| v.to_str().ok())
    };
    SigningHeaders::read(lookup, needs_session)
        .map_err(|refused| bad.extend(refused.iter().map(|h| h.http_name().to_owned())))
        .ok()
}

fn signed(
    req: &HttpRequest,
    h: SigningHeaders,
    method: &'static str,
    body: Vec<u8>,
) -> SignedRequest {
    SignedRequest {
        key_id: h.key_id,
        timestamp: h.timestamp,
        timestamp_raw: h.timestamp_raw,
        signature: h.signature,
        method,
        path: req.path().to_owned(),
        body,
    }
}

/// Merges header problems into the body's `INVALID_PARAMS` (headers first); with the headers
/// fine, the body's own error is answered whole (its `reason` and the like included).
fn params_error<T>(mut header_bad: Vec<String>, body: Result<T, ApiError>) -> Result<T, ApiError> {
    if header_bad.is_empty() {
        return body;
    }
    if let Err(e) = &body
        && let Some(fields) = e.details["fields"].as_array()
    {
        header_bad.extend(fields.iter().filter_map(|f| f.as_str().map(str::to_owned)));
    }
    Err(ApiError::invalid_fields(&header_bad))
}

async fn authorize(req: HttpRequest, payload: Payload, state: web::Data<AppState>) -> HttpResponse {
    let started = std::time::Instant::now();
    let ctx = RequestContext::of(&req);
    let result = async {
        let body = read_limited(&req, payload).await?;
        let mut bad = Vec::new();
        let h = headers(&req, true, &mut bad);
        let decoded = params_error(bad, AuthorizeBody::decode(&body).map_err(ApiError::from))?;
        let h = h.expect("checked");
        // The per-operator limit: the key id names the operator; nothing is charged yet.
        crate::rate_limit::http::check_authorization(&state, &h.key_id).await?;
        let session_id = h.session_id.clone().expect("checked");
        let input = AuthorizeInput {
            session_id,
            app_id: decoded.app_id,
            site_id: decoded.site_id,
            player_count: decoded.player_count,
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
    let result = crate::anomaly::http::observed(&state, &req, &ctx, result).await;
    respond(&ctx, result)
}

async fn end(req: HttpRequest, payload: Payload, state: web::Data<AppState>) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let body = read_limited(&req, payload).await?;
        let mut bad = Vec::new();
        let h = headers(&req, true, &mut bad);
        let decoded = params_error(bad, EndBody::decode(&body).map_err(ApiError::from))?;
        let h = h.expect("checked");
        let session = h.session_id.clone().expect("checked");
        let duration = decoded.duration_seconds;
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
    let result = crate::anomaly::http::observed(&state, &req, &ctx, result).await;
    respond(&ctx, result)
}

async fn config(req: HttpRequest, payload: Payload, state: web::Data<AppState>) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let body = read_limited(&req, payload).await?;
        let mut bad = Vec::new();
        let h = headers(&req, false, &mut bad);
        params_error(bad, Ok(()))?;
        let h = h.expect("checked");
        let data = state
            .ledger
            .headset_config(signed(&req, h, "GET", body))
            .await?;
        Ok(wire::success(StatusCode::OK, &ctx.request_id, &data))
    }
    .await;
    let result = crate::anomaly::http::observed(&state, &req, &ctx, result).await;
    respond(&ctx, result)
}

async fn heartbeat(req: HttpRequest, payload: Payload, state: web::Data<AppState>) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let body = read_limited(&req, payload).await?;
        let mut bad = Vec::new();
        let h = headers(&req, false, &mut bad);
        let decoded = params_error(bad, HeartbeatBody::decode(&body).map_err(ApiError::from))?;
        let h = h.expect("checked");
        let input = HeartbeatInput {
            site_id: decoded.site_id,
            server_id: decoded.server_id,
            players_online: decoded.players_online,
            version: decoded.version,
        };
        let data = state
            .ledger
            .heartbeat(signed(&req, h, "POST", body), input, &ctx)
            .await?;
        Ok(wire::success(StatusCode::OK, &ctx.request_id, &data))
    }
    .await;
    let result = crate::anomaly::http::observed(&state, &req, &ctx, result).await;
    respond(&ctx, result)
}
