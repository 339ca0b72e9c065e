//! The limits at the HTTP edge: a middleware for the per-IP limit on every route, the hook
//! the authorize handler calls for the per-operator limit, and the 429 they answer with.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use ledger_core::ids::OperatorId;
use ledger_core::operator::Category;
use serde_json::json;

use super::Exceeded;
use crate::api_error::{ApiError, ErrorCode};
use crate::context::RequestContext;
use crate::http::AppState;
use crate::ledger::Ledger;

impl From<Exceeded> for ApiError {
    fn from(exceeded: Exceeded) -> Self {
        ApiError::with(
            ErrorCode::RateLimitExceeded,
            json!({ "limit": exceeded.limit, "window_seconds": exceeded.window_seconds,
                    "retry_after": exceeded.retry_after }),
        )
    }
}

/// The per-IP limit, before anything else of the request is looked at (wrap it around the
/// whole app with `actix_web::middleware::from_fn`).
pub async fn per_ip(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let limiter = req
        .app_data::<web::Data<AppState>>()
        .map(|state| std::sync::Arc::clone(&state.rate_limiter))
        .filter(|_| !is_gateway_notification(req.path()));
    if let Some(limiter) = limiter {
        let ctx = RequestContext::of(req.request());
        if let Err(exceeded) = limiter.check_ip(&ctx.source_ip).await {
            let response = ApiError::from(exceeded).response(&ctx);
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// The payment gateways' notifications come from a handful of gateway addresses, for every
/// operator's recharge at once: a per-IP count would refuse them at peak hours (and a
/// refused notification is only retried later). Each is verified by its signature and
/// applied at most once, so flooding them gains nothing.
fn is_gateway_notification(path: &str) -> bool {
    path.starts_with("/api/v1/payments/") && path.ends_with("/notify")
}

/// The per-operator limit of a game authorization presenting `key_id`. An unknown key is
/// not counted: the ledger refuses it next, in the protocol's order (`INVALID_API_KEY`).
pub async fn check_authorization(state: &AppState, key_id: &str) -> Result<(), ApiError> {
    let Some(key) = state.ledger.find_key(key_id).await? else {
        return Ok(());
    };
    let operator = key.operator_id;
    state
        .rate_limiter
        .check_operator(operator, || category_of(&state.ledger, operator))
        .await?
        .map_err(ApiError::from)
}

/// The operator's current category.
async fn category_of(ledger: &Ledger, operator: OperatorId) -> Result<Category, ApiError> {
    Ok(ledger.operator_state(operator).await?.category)
}
