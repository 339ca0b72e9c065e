//! HTTP handlers, one module per area, and the route table.
//!
//! A handler decodes (path, query, token), calls one store function, and encodes the answer
//! in the success envelope; errors become the error envelope through `ApiError`.

mod apps;
mod audit;
mod health;
mod ledger;
mod operators;

use actix_web::{HttpResponse, web};

use crate::errors::ApiError;

/// Every route of the query API (all `GET`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health::live))
        .route("/health/ready", web::get().to(health::ready))
        .service(
            web::scope("/api/v1/admin")
                .route("/operators", web::get().to(operators::list))
                .route("/operators/{operator_id}", web::get().to(operators::detail))
                .route(
                    "/operators/{operator_id}/balance",
                    web::get().to(ledger::balance),
                )
                .route(
                    "/operators/{operator_id}/usage-records",
                    web::get().to(ledger::usage_records),
                )
                .route(
                    "/operators/{operator_id}/transactions",
                    web::get().to(ledger::transactions),
                )
                .route(
                    "/operators/{operator_id}/sites",
                    web::get().to(operators::sites),
                )
                .route(
                    "/operators/{operator_id}/grants",
                    web::get().to(operators::grants),
                )
                .route(
                    "/operators/{operator_id}/credentials",
                    web::get().to(operators::credentials),
                )
                .route(
                    "/operators/{operator_id}/headset-servers",
                    web::get().to(operators::headset_servers),
                )
                .route("/apps", web::get().to(apps::list))
                .route("/apps/{app_id}", web::get().to(apps::detail)),
        )
        .service(
            web::scope("/api/v1/audit")
                .route(
                    "/streams/{aggregate_type}/{aggregate_id}/events",
                    web::get().to(audit::stream),
                )
                .route("/events", web::get().to(audit::feed)),
        );
}

/// Any other path or method.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("route"))
}
