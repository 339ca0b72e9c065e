//! Liveness and readiness, without a token (for load balancers and orchestrators).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::AppState;
use crate::errors::ApiError;

/// The process answers.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The database answers a `SELECT 1` within the pool's bounded wait; 503 otherwise.
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.ping().await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ok" })))
}
