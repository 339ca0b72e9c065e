//! Liveness, readiness and metrics, without a token (for load balancers, orchestrators and
//! Prometheus).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::AppState;
use crate::errors::ApiError;
use crate::metrics::Probe;

/// The process answers (no dependency is consulted).
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// The database answers a `SELECT 1` within the pool's bounded wait; 503 otherwise. Redis and
/// the projector's lag are reported too, but only degrade the answer (still 200): without
/// them reads are served, live push pauses or shows older figures, and taking every instance
/// out of a load balancer for it would turn a slow projector into an outage. The same holds
/// for a read replica beyond its lag limits (`replica`, present when one is configured):
/// reads then go to the primary.
pub async fn ready(
    state: web::Data<AppState>,
    probe: web::Data<Probe>,
) -> Result<HttpResponse, ApiError> {
    state.store.ping().await?;
    let (redis, projector_lag, replica) = tokio::join!(
        probe.redis(),
        probe.projector_lag(),
        probe.replica(&state.store)
    );
    let replica_ok = replica.as_ref().is_none_or(|check| check.ok);
    let status = if redis.ok && projector_lag.ok && replica_ok {
        "ok"
    } else {
        "degraded"
    };
    let mut checks = json!({
        "database": { "ok": true },
        "redis": redis.detail,
        "projector_lag": projector_lag.detail,
    });
    if let Some(replica) = replica {
        checks["replica"] = replica.detail;
    }
    Ok(HttpResponse::Ok().json(json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "checks": checks,
    })))
}

/// Prometheus text exposition of this process's figures.
pub async fn metrics(state: web::Data<AppState>, probe: web::Data<Probe>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(prometheus::TEXT_FORMAT)
        .body(probe.render(&state.store).await)
}
