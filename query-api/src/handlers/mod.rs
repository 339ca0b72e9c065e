//! HTTP handlers, one module per area, and the route table.
//!
//! A handler decodes (path, query, caller), calls one store function, and encodes the answer
//! in the success envelope; errors become the error envelope through `ApiError`.
//!
//! Routes are registered from [`ENDPOINTS`] itself: every declared endpoint gets its handler
//! here, and nothing is served that the table does not declare (with its access).

mod alerts;
mod announcements;
mod applications;
mod apps;
mod audit;
mod audit_log;
mod health;
mod invoices;
mod ledger;
mod messages;
mod operators;
mod own;
mod recharges;
mod reconciliations;
mod refunds;
mod reports;
mod staff;
mod stats;
mod verify;

pub use verify::{VerifyError, VerifyRunner};

use actix_web::{HttpResponse, Route, web};
use ledger_core::ids::OperatorId;

use crate::cursor::TimeIdKey;
use crate::endpoints::ENDPOINTS;
use crate::errors::ApiError;
use crate::params::{PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Query};

/// The parameters of a list of requests (applications, refunds, invoices), newest first.
struct RequestList {
    status: Option<String>,
    /// Staff lists only: one operator's requests.
    operator_id: Option<OperatorId>,
    limit: i64,
    after: Option<TimeIdKey>,
}

/// Who is asking for a [`RequestList`]: an operator's own list has no `operator_id` filter.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ListOf {
    Own,
    Any,
}

/// Decodes `status` (one of `statuses`), `operator_id` (staff lists), `limit` and `cursor`.
fn request_list(
    query_string: &str,
    statuses: &[&str],
    list_of: ListOf,
) -> Result<RequestList, ApiError> {
    let allowed: &[&str] = match list_of {
        ListOf::Own => &["status", "limit", "cursor"],
        ListOf::Any => &["status", "operator_id", "limit", "cursor"],
    };
    let mut q = Query::parse(query_string, allowed);
    let list = RequestList {
        status: q.one_of("status", statuses),
        operator_id: q.parsed("operator_id"),
        limit: q.limit(PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
        after: q.cursor(),
    };
    q.finish(list)
}

/// The handler of a declared route pattern; `None` for a pattern without one.
fn handler(path: &str) -> Option<Route> {
    let get = web::get;
    Some(match path {
        "/health" => get().to(health::live),
        "/health/ready" => get().to(health::ready),
        "/metrics" => get().to(health::metrics),
        // The operator's own data.
        "/api/v1/operator/profile" => get().to(own::profile),
        "/api/v1/operator/sites" => get().to(own::sites),
        "/api/v1/operator/apps" => get().to(own::apps),
        "/api/v1/operator/catalog" => get().to(apps::catalog),
        "/api/v1/operator/app-applications" => get().to(applications::own),
        "/api/v1/operator/usage-records" => get().to(own::usage_records),
        "/api/v1/operator/transactions" => get().to(own::transactions),
        "/api/v1/operator/usage-records/export" => get().to(own::usage_records_export),
        "/api/v1/operator/transactions/export" => get().to(own::transactions_export),
        "/api/v1/operator/credentials" => get().to(own::credentials),
        "/api/v1/operator/headset-servers" => get().to(own::headset_servers),
        "/api/v1/operator/refunds" => get().to(refunds::own),
        "/api/v1/operator/invoices" => get().to(invoices::own_list),
        "/api/v1/operator/invoices/{invoice_id}" => get().to(invoices::own_detail),
        "/api/v1/operator/invoices/{invoice_id}/pdf" => get().to(invoices::own_pdf),
        "/api/v1/operator/messages" => get().to(messages::list),
        "/api/v1/operator/messages/unread-count" => get().to(messages::unread_count),
        "/api/v1/operator/recharges" => get().to(recharges::own_list),
        "/api/v1/operator/recharges/{order_id}" => get().to(recharges::own_detail),
        "/api/v1/operator/live" => get().to(crate::live::operator_live),
        "/api/v1/operator/statistics/trend" => get().to(stats::own::trend),
        "/api/v1/operator/statistics/by-app" => get().to(stats::own::by_app),
        "/api/v1/operator/statistics/by-site" => get().to(stats::own::by_site),
        "/api/v1/operator/statistics/summary" => get().to(stats::own::summary),
        // Operators, for staff.
        "/api/v1/admin/operators" => get().to(operators::list),
        "/api/v1/admin/operators/{operator_id}" => get().to(operators::detail),
        "/api/v1/admin/operators/{operator_id}/balance" => get().to(ledger::balance),
        "/api/v1/admin/operators/{operator_id}/usage-records" => get().to(ledger::usage_records),
        "/api/v1/admin/operators/{operator_id}/transactions" => get().to(ledger::transactions),
        "/api/v1/admin/operators/{operator_id}/usage-records/export" => {
            get().to(ledger::usage_records_export)
        }
        "/api/v1/admin/operators/{operator_id}/transactions/export" => {
            get().to(ledger::transactions_export)
        }
        "/api/v1/admin/operators/{operator_id}/sites" => get().to(operators::sites),
        "/api/v1/admin/operators/{operator_id}/grants" => get().to(operators::grants),
        "/api/v1/admin/operators/{operator_id}/credentials" => get().to(operators::credentials),
        "/api/v1/admin/operators/{operator_id}/headset-servers" => {
            get().to(operators::headset_servers)
        }
        "/api/v1/admin/app-applications" => get().to(applications::list),
        "/api/v1/admin/transactions" => get().to(ledger::monitor),
        "/api/v1/admin/transactions/export" => get().to(ledger::monitor_export),
        "/api/v1/admin/announcements" => get().to(announcements::list),
        "/api/v1/admin/staff" => get().to(staff::list),
        "/api/v1/admin/apps" => get().to(apps::list),
        "/api/v1/admin/apps/{app_id}" => get().to(apps::detail),
        // Finance.
        "/api/v1/finance/refunds" => get().to(refunds::list),
        "/api/v1/finance/refunds/{refund_id}" => get().to(refunds::detail),
        "/api/v1/finance/invoices" => get().to(invoices::list),
        "/api/v1/finance/invoices/{invoice_id}" => get().to(invoices::detail),
        "/api/v1/finance/invoices/{invoice_id}/pdf" => get().to(invoices::pdf),
        "/api/v1/finance/audit-log" => get().to(audit_log::list),
        "/api/v1/finance/live" => get().to(crate::live::finance_live),
        "/api/v1/finance/recharges" => get().to(recharges::list),
        "/api/v1/finance/alerts" => get().to(alerts::list),
        "/api/v1/finance/reconciliations" => get().to(reconciliations::list),
        "/api/v1/finance/reconciliations/{run_id}" => get().to(reconciliations::detail),
        "/api/v1/finance/reconciliations/{run_id}/export" => get().to(reconciliations::export),
        "/api/v1/finance/reports" => get().to(reports::list),
        "/api/v1/finance/reports/{report_id}" => get().to(reports::detail),
        "/api/v1/finance/reports/{report_id}/pdf" => get().to(reports::pdf),
        "/api/v1/finance/reports/{report_id}/xlsx" => get().to(reports::xlsx),
        "/api/v1/finance/dashboard" => get().to(stats::finance::dashboard),
        "/api/v1/finance/top-customers" => get().to(stats::finance::top_customers),
        // Statistics across every operator.
        "/api/v1/analytics/overview" => get().to(stats::analytics::overview),
        "/api/v1/analytics/overview/export" => get().to(stats::analytics::overview_export),
        "/api/v1/analytics/operator-app" => get().to(stats::analytics::operator_app),
        "/api/v1/analytics/operator-app/export" => get().to(stats::analytics::operator_app_export),
        "/api/v1/analytics/by-category" => get().to(stats::analytics::by_category),
        "/api/v1/analytics/by-category/export" => get().to(stats::analytics::by_category_export),
        "/api/v1/analytics/site-time" => get().to(stats::analytics::site_time),
        "/api/v1/analytics/site-time/export" => get().to(stats::analytics::site_time_export),
        "/api/v1/analytics/player-distribution" => get().to(stats::analytics::player_distribution),
        "/api/v1/analytics/player-distribution/export" => {
            get().to(stats::analytics::player_distribution_export)
        }
        // The event store.
        "/api/v1/audit/streams/{aggregate_type}/{aggregate_id}/events" => get().to(audit::stream),
        "/api/v1/audit/streams/{aggregate_type}/{aggregate_id}/export" => get().to(audit::export),
        "/api/v1/audit/events" => get().to(audit::feed),
        _ => return None,
    })
}

/// The handler of a declared `POST` route pattern; `None` for a pattern without one.
fn post_handler(path: &str) -> Option<Route> {
    let post = web::post;
    Some(match path {
        "/api/v1/finance/reports" => post().to(reports::generate),
        "/api/v1/audit/verify" => post().to(verify::verify),
        _ => return None,
    })
}

/// The handler of a declared (method, route pattern).
fn handler_of(method: &str, path: &str) -> Option<Route> {
    match method {
        "GET" => handler(path),
        "POST" => post_handler(path),
        _ => None,
    }
}

/// Every route of [`ENDPOINTS`] (a path with `GET` and `POST` gets a resource per method).
pub fn configure(cfg: &mut web::ServiceConfig) {
    for endpoint in ENDPOINTS {
        let route = handler_of(endpoint.method, endpoint.path).unwrap_or_else(|| {
            panic!(
                "no handler for declared route {} {}",
                endpoint.method, endpoint.path
            )
        });
        cfg.route(endpoint.path, route);
    }
}

/// Any other path or method.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("route"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_route_has_a_handler() {
        for endpoint in ENDPOINTS {
            assert!(
                handler_of(endpoint.method, endpoint.path).is_some(),
                "{} {}",
                endpoint.method,
                endpoint.path
            );
        }
    }

    #[test]
    fn routes_are_declared_once() {
        let mut paths: Vec<(&str, &str)> = ENDPOINTS.iter().map(|e| (e.method, e.path)).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ENDPOINTS.len());
    }
}
