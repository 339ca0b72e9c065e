//! The HTTP edge: routes, shared state, and the one place results become responses.
//!
//! Layout:
//! - [`headset`]: the four headset endpoints.
//! - [`account`]: logins, tokens, passwords, operator registration, staff accounts.
//! - [`admin`]: staff commands on the catalog and operators.
//! - [`auth`]: tokens bound to login sessions; each route checked against [`endpoints`].
//! - [`fields`]: JSON body decoding that names every bad field.
//! - [`body`]: the request body size limit.
//! - [`command`]: the shape every authenticated command handler shares.
//! - [`operator`]: the operator's own account (the operator comes from the token).
//! - [`review`]: administrators' operator edits, application reviews, announcements.
//! - [`finance`]: refund and invoice reviews.
//! - [`payments`]: recharge orders and the gateways' notify endpoints.
//! - [`reconciliation`]: gateway statements against the ledger.

pub mod account;
pub mod admin;
pub mod auth;
pub mod body;
pub mod command;
pub mod endpoints;
pub mod fields;
pub mod finance;
pub mod headset;
pub mod operator;
pub mod payments;
pub mod reconciliation;
pub mod review;

use std::sync::Arc;

use actix_web::{HttpResponse, web};

use crate::api_error::ApiError;
use crate::context::RequestContext;
use crate::ledger::Ledger;

pub struct AppState {
    pub ledger: Arc<Ledger>,
    pub auth: auth::Auth,
    pub rate_limiter: Arc<crate::rate_limit::RateLimiter>,
    pub anomaly: Arc<crate::anomaly::AnomalyGuard>,
}

pub fn respond(ctx: &RequestContext, result: Result<HttpResponse, ApiError>) -> HttpResponse {
    result.unwrap_or_else(|error| error.response(ctx))
}

/// Liveness: no dependency is consulted, so it answers while the process runs.
async fn health() -> HttpResponse {
    HttpResponse::Ok()
        .json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let database = match state.ledger.pool.get().await {
        Ok(client) => client.simple_query("SELECT 1").await.is_ok(),
        Err(_) => false,
    };
    // Where rate limits count ("redis", or "local" while Redis is unreachable): reported,
    // never a reason to be unready, since the local limiter keeps limiting.
    let rate_limiter = state.rate_limiter.backend().as_str();
    let body = serde_json::json!({ "status": if database { "ok" } else { "unavailable" },
                                   "version": env!("CARGO_PKG_VERSION"),
                                   "checks": { "database": database, "rate_limiter": rate_limiter } });
    if database {
        HttpResponse::Ok().json(body)
    } else {
        let mut body = body;
        body["error"] = serde_json::json!({ "code": "SERVICE_UNAVAILABLE",
            "message": "The database does not answer; charges are refused until it is back" });
        HttpResponse::ServiceUnavailable().json(body)
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/health/ready", web::get().to(ready))
        .route("/metrics", web::get().to(crate::metrics::endpoint));
    headset::routes(cfg);
    account::routes(cfg);
    admin::routes(cfg);
    operator::routes(cfg);
    review::routes(cfg);
    finance::routes(cfg);
    payments::routes(cfg);
    reconciliation::routes(cfg);
    crate::anomaly::http::routes(cfg);
}
