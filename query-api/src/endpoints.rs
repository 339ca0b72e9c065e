//! Every route of the query API and what it requires, in one table. The routes are registered
//! from it (`handlers::configure`), the auth extractor looks each request's route up here (a
//! route missing from the table is refused), the matrix tests walk it role by role, and
//! docs/openapi.yaml documents it (a test checks every path and scope). Routes are `GET`, except
//! the few `POST`s that make something the query API itself stores or computes (finance reports).

use ledger_core::access::Access::{Public, Scope as Needs};
use ledger_core::access::Endpoint;
use ledger_core::access::Scope::*;

const fn get(path: &'static str, access: ledger_core::access::Access) -> Endpoint {
    Endpoint {
        method: "GET",
        path,
        access,
    }
}

const fn post(path: &'static str, access: ledger_core::access::Access) -> Endpoint {
    Endpoint {
        method: "POST",
        path,
        access,
    }
}

pub const ENDPOINTS: &[Endpoint] = &[
    get("/health", Public),
    get("/health/ready", Public),
    get("/metrics", Public),
    // The operator's own data (the operator comes from the token, never the path).
    get("/api/v1/operator/profile", Needs(OwnRead)),
    get("/api/v1/operator/sites", Needs(OwnRead)),
    get("/api/v1/operator/apps", Needs(OwnRead)),
    // The active apps an operator may apply for (list prices; no other operator's terms).
    get("/api/v1/operator/catalog", Needs(OwnRead)),
    get("/api/v1/operator/app-applications", Needs(OwnRead)),
    get("/api/v1/operator/usage-records", Needs(OwnRead)),
    get("/api/v1/operator/transactions", Needs(OwnRead)),
    get("/api/v1/operator/usage-records/export", Needs(OwnRead)),
    get("/api/v1/operator/transactions/export", Needs(OwnRead)),
    get("/api/v1/operator/credentials", Needs(OwnRead)),
    get("/api/v1/operator/headset-servers", Needs(OwnRead)),
    get("/api/v1/operator/refunds", Needs(OwnRead)),
    get("/api/v1/operator/invoices", Needs(OwnRead)),
    get("/api/v1/operator/invoices/{invoice_id}", Needs(OwnRead)),
    get("/api/v1/operator/invoices/{invoice_id}/pdf", Needs(OwnRead)),
    get("/api/v1/operator/messages", Needs(OwnRead)),
    get("/api/v1/operator/messages/unread-count", Needs(OwnRead)),
    get("/api/v1/operator/recharges", Needs(OwnRead)),
    get("/api/v1/operator/recharges/{order_id}", Needs(OwnRead)),
    // Server-Sent Events: the operator's balance, new games, unread count.
    get("/api/v1/operator/live", Needs(OwnRead)),
    get("/api/v1/operator/statistics/trend", Needs(OwnRead)),
    get("/api/v1/operator/statistics/by-app", Needs(OwnRead)),
    get("/api/v1/operator/statistics/by-site", Needs(OwnRead)),
    get("/api/v1/operator/statistics/summary", Needs(OwnRead)),
    // Operators, for staff.
    get("/api/v1/admin/operators", Needs(OperatorsRead)),
    get(
        "/api/v1/admin/operators/{operator_id}",
        Needs(OperatorsRead),
    ),
    get(
        "/api/v1/admin/operators/{operator_id}/balance",
        Needs(LedgerRead),
    ),
    get(
        "/api/v1/admin/operators/{operator_id}/usage-records",
        Needs(LedgerRead),
    ),
    get(
        "/api/v1/admin/operators/{operator_id}/transactions",
        Needs(LedgerRead),
    ),
    get(
        "/api/v1/admin/operators/{operator_id}/usage-records/export",
        Needs(LedgerRead),
    ),
    get(
        "/api/v1/admin/operators/{operator_id}/transactions/export",
        Needs(LedgerRead),
    ),
    get(
        "/api/v1/admin/operators/{operator_id}/sites",
        Needs(OperatorsRead),
    ),
    get(
        "/api/v1/admin/operators/{operator_id}/grants",
        Needs(OperatorsRead),
    ),
    get(
        "/api/v1/admin/operators/{operator_id}/credentials",
        Needs(OperatorsRead),
    ),
    get(
        "/api/v1/admin/operators/{operator_id}/headset-servers",
        Needs(OperatorsRead),
    ),
    get("/api/v1/admin/app-applications", Needs(ApplicationsReview)),
    get("/api/v1/admin/transactions", Needs(LedgerRead)),
    get("/api/v1/admin/transactions/export", Needs(LedgerRead)),
    get("/api/v1/admin/announcements", Needs(AnnouncementsWrite)),
    get("/api/v1/admin/staff", Needs(StaffRead)),
    get("/api/v1/admin/apps", Needs(CatalogRead)),
    get("/api/v1/admin/apps/{app_id}", Needs(CatalogRead)),
    // Finance.
    get("/api/v1/finance/refunds", Needs(RefundsRead)),
    get("/api/v1/finance/refunds/{refund_id}", Needs(RefundsRead)),
    get("/api/v1/finance/invoices", Needs(InvoicesRead)),
    get("/api/v1/finance/invoices/{invoice_id}", Needs(InvoicesRead)),
    get(
        "/api/v1/finance/invoices/{invoice_id}/pdf",
        Needs(InvoicesRead),
    ),
    get("/api/v1/finance/audit-log", Needs(AuditLogRead)),
    // Server-Sent Events: today's money figures.
    get("/api/v1/finance/live", Needs(LedgerRead)),
    get("/api/v1/finance/recharges", Needs(LedgerRead)),
    get("/api/v1/finance/alerts", Needs(LedgerRead)),
    get("/api/v1/finance/reconciliations", Needs(LedgerRead)),
    get(
        "/api/v1/finance/reconciliations/{run_id}",
        Needs(LedgerRead),
    ),
    get(
        "/api/v1/finance/reconciliations/{run_id}/export",
        Needs(LedgerRead),
    ),
    get("/api/v1/finance/reports", Needs(ReportsRead)),
    post("/api/v1/finance/reports", Needs(ReportsWrite)),
    get("/api/v1/finance/reports/{report_id}", Needs(ReportsRead)),
    get(
        "/api/v1/finance/reports/{report_id}/pdf",
        Needs(ReportsRead),
    ),
    get(
        "/api/v1/finance/reports/{report_id}/xlsx",
        Needs(ReportsRead),
    ),
    get("/api/v1/finance/dashboard", Needs(LedgerRead)),
    get("/api/v1/finance/top-customers", Needs(LedgerRead)),
    // Statistics across every operator, for analysts.
    get("/api/v1/analytics/overview", Needs(StatsRead)),
    get("/api/v1/analytics/overview/export", Needs(StatsRead)),
    get("/api/v1/analytics/operator-app", Needs(StatsRead)),
    get("/api/v1/analytics/operator-app/export", Needs(StatsRead)),
    get("/api/v1/analytics/by-category", Needs(StatsRead)),
    get("/api/v1/analytics/by-category/export", Needs(StatsRead)),
    get("/api/v1/analytics/site-time", Needs(StatsRead)),
    get("/api/v1/analytics/site-time/export", Needs(StatsRead)),
    get("/api/v1/analytics/player-distribution", Needs(StatsRead)),
    get(
        "/api/v1/analytics/player-distribution/export",
        Needs(StatsRead),
    ),
    // The event store.
    get(
        "/api/v1/audit/streams/{aggregate_type}/{aggregate_id}/events",
        Needs(EventsRead),
    ),
    get(
        "/api/v1/audit/streams/{aggregate_type}/{aggregate_id}/export",
        Needs(EventsRead),
    ),
    get("/api/v1/audit/events", Needs(EventsRead)),
    // Runs `projector verify` (hash chains, read tables against a replay) and reports.
    post("/api/v1/audit/verify", Needs(EventsRead)),
];
