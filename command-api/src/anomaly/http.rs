//! The anomaly guard at the HTTP edge: the middleware that refuses blocked IPs, the hook the
//! headset handlers pass their failures through, and the admin routes (alerts, blocks).

use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::{self, Path};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::{Failure, alerts};
use crate::api_error::{ApiError, ErrorCode};
use crate::context::RequestContext;
use crate::http::AppState;
use crate::http::command::Command;

/// Routes a blocked IP may still reach: probes and scrapes carry no credentials.
const NEVER_BLOCKED: [&str; 3] = ["/health", "/health/ready", "/metrics"];

pub const ALERTS: &str = "/api/v1/admin/security/alerts";
pub const BLOCKS: &str = "/api/v1/admin/security/ip-blocks";
pub const UNBLOCK: &str = "/api/v1/admin/security/ip-blocks/{ip}/unblock";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(ALERTS, web::get().to(list_alerts))
        .route(BLOCKS, web::get().to(list_blocks))
        .route(UNBLOCK, web::post().to(unblock));
}

/// A blocked IP is answered as the headset protocol's hardest rate limit: 429
/// `RATE_LIMIT_EXCEEDED` with the seconds the block still runs (`Retry-After`) and
/// `reason: "ip_blocked"` — the protocol's error table is fixed, and every headset server
/// already backs off on that code.
pub fn blocked_error(retry_after: u64) -> ApiError {
    ApiError::with(
        ErrorCode::RateLimitExceeded,
        json!({ "reason": "ip_blocked", "retry_after": retry_after }),
    )
}

/// The client address of an HTTP request (the peer, or `X-Forwarded-For` behind a trusted
/// proxy), by the guard's settings when the app has them.
pub fn client_ip_of(req: &HttpRequest) -> String {
    let peer = req.peer_addr().map(|a| a.ip());
    match req.app_data::<web::Data<AppState>>() {
        Some(state) => {
            let forwarded = req
                .headers()
                .get("X-Forwarded-For")
                .and_then(|v| v.to_str().ok());
            state.anomaly.client_ip(peer, forwarded)
        }
        None => peer.map(|ip| ip.to_string()).unwrap_or_default(),
    }
}

/// Refuses every request of a blocked IP before anything else is looked at (wrap it around
/// the whole app, outside the rate limit: a blocked IP costs no Redis round trip).
pub async fn refuse_blocked(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if !NEVER_BLOCKED.contains(&req.path())
        && let Some(state) = req.app_data::<web::Data<AppState>>()
    {
        let ip = client_ip_of(req.request());
        if let Some(retry_after) = state.anomaly.blocked_for(&ip) {
            let ctx = RequestContext::of(req.request());
            let response = blocked_error(retry_after).response(&ctx);
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// The failure an answer of a request presenting `key_id` counts as, if any.
pub async fn failure_of(state: &AppState, key_id: &str, error: &ApiError) -> Option<Failure> {
    match error.code {
        ErrorCode::InvalidApiKey => Some(Failure::UnknownKey {
            key_id: key_id.to_owned(),
        }),
        // The key was found to check the signature, so this reads the key cache.
        ErrorCode::InvalidSignature => match state.ledger.find_key(key_id).await {
            Ok(Some(key)) => Some(Failure::BadSignature {
                key_id: key_id.to_owned(),
                operator: key.operator_id,
            }),
            _ => Some(Failure::UnknownKey {
                key_id: key_id.to_owned(),
            }),
        },
        _ => None,
    }
}

/// Counts a headset call's failure (only `INVALID_API_KEY` and `INVALID_SIGNATURE` count;
/// a success costs nothing) and, when it trips the IP, starts the locks and the alert in
/// the background. The answer itself is unchanged.
pub async fn observe(
    state: &AppState,
    ctx: &RequestContext,
    key_id: Option<&str>,
    error: Option<&ApiError>,
) {
    let (Some(key_id), Some(error)) = (key_id, error) else {
        return;
    };
    let Some(failure) = failure_of(state, key_id, error).await else {
        return;
    };
    let counted = state.anomaly.record(&ctx.source_ip, &failure).await;
    if counted.tripped.is_some() {
        tokio::spawn(super::response::respond_to_trip(
            Arc::clone(&state.ledger),
            state.anomaly.thresholds().clone(),
            ctx.source_ip.clone(),
            counted,
            ctx.clone(),
        ));
    }
}

/// [`observe`] for an HTTP headset handler's result (the key id from `X-API-Key`).
pub async fn observed(
    state: &AppState,
    req: &HttpRequest,
    ctx: &RequestContext,
    result: Result<HttpResponse, ApiError>,
) -> Result<HttpResponse, ApiError> {
    if let Err(error) = &result {
        let key_id = req
            .headers()
            .get("X-API-Key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty());
        observe(state, ctx, key_id, Some(error)).await;
    }
    result
}

async fn list_alerts(cmd: Command) -> HttpResponse {
    cmd.run(StatusCode::OK, async |_, _, state, _| {
        let alerts = alerts::list(&state.ledger.pool).await?;
        Ok(json!({ "items": alerts }))
    })
    .await
}

async fn list_blocks(cmd: Command) -> HttpResponse {
    cmd.run(StatusCode::OK, async |_, _, state, _| {
        Ok(json!({ "items": state.anomaly.list_blocks().await }))
    })
    .await
}

async fn unblock(cmd: Command, path: Path<String>) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, _| {
        let ip: std::net::IpAddr = crate::http::command::path_id("ip", &path)?;
        body.nothing().await?;
        let ip = ip.to_string();
        let was_blocked = state.anomaly.unblock(&ip).await;
        tracing::warn!(alert = "security", %ip, staff_id = %caller.account_id, was_blocked,
                       "anomaly: IP unblocked by staff");
        Ok(json!({ "ip": ip, "was_blocked": was_blocked }))
    })
    .await
}
