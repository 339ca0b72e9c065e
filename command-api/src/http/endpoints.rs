//! Every route of the command API and what it requires, in one table. The auth layer looks
//! each request's route up here (a route missing from the table is refused), the matrix
//! tests walk it role by role, and docs/ACCESS.md and docs/openapi.yaml mirror it.

use ledger_core::access::Access::{LoggedIn, Public, Scope as Needs};
use ledger_core::access::Endpoint;
use ledger_core::access::Scope::*;

const fn e(
    method: &'static str,
    path: &'static str,
    access: ledger_core::access::Access,
) -> Endpoint {
    Endpoint {
        method,
        path,
        access,
    }
}

pub const ENDPOINTS: &[Endpoint] = &[
    // Accounts and sessions.
    e("POST", "/api/v1/auth/staff/login", Public),
    e("POST", "/api/v1/auth/operator/login", Public),
    e("POST", "/api/v1/auth/operator/register", Public),
    e("POST", "/api/v1/auth/refresh", Public),
    e("POST", "/api/v1/auth/staff/refresh", Public),
    e("POST", "/api/v1/auth/logout", LoggedIn),
    e("POST", "/api/v1/auth/password", LoggedIn),
    // The operator's own account (the operator comes from the token, never the path).
    e("PATCH", "/api/v1/operator/profile", Needs(OwnWrite)),
    e("POST", "/api/v1/operator/sites", Needs(OwnWrite)),
    e("PATCH", "/api/v1/operator/sites/{site_id}", Needs(OwnWrite)),
    e(
        "DELETE",
        "/api/v1/operator/sites/{site_id}",
        Needs(OwnWrite),
    ),
    e("POST", "/api/v1/operator/app-applications", Needs(OwnWrite)),
    e(
        "POST",
        "/api/v1/operator/credentials/rotate",
        Needs(OwnWrite),
    ),
    e("POST", "/api/v1/operator/deactivate", Needs(OwnWrite)),
    e("POST", "/api/v1/operator/refunds", Needs(OwnWrite)),
    e("POST", "/api/v1/operator/invoices", Needs(OwnWrite)),
    e("POST", "/api/v1/operator/messages/read", Needs(OwnWrite)),
    e(
        "POST",
        "/api/v1/operator/messages/read-all",
        Needs(OwnWrite),
    ),
    e("POST", "/api/v1/operator/recharges", Needs(OwnWrite)),
    // Payment gateways: authenticated by their signatures, not by a login.
    e("POST", "/api/v1/payments/wechat/notify", Public),
    e("POST", "/api/v1/payments/alipay/notify", Public),
    // The catalog.
    e("POST", "/api/v1/admin/apps", Needs(CatalogWrite)),
    e("PATCH", "/api/v1/admin/apps/{app_id}", Needs(CatalogWrite)),
    e(
        "POST",
        "/api/v1/admin/apps/{app_id}/retire",
        Needs(CatalogWrite),
    ),
    // Operators.
    e("POST", "/api/v1/admin/operators", Needs(OperatorsWrite)),
    e(
        "PATCH",
        "/api/v1/admin/operators/{operator_id}",
        Needs(OperatorsWrite),
    ),
    e(
        "POST",
        "/api/v1/admin/operators/{operator_id}/credentials/rotate",
        Needs(OperatorsWrite),
    ),
    e(
        "POST",
        "/api/v1/admin/operators/{operator_id}/sites",
        Needs(OperatorsWrite),
    ),
    e(
        "PATCH",
        "/api/v1/admin/operators/{operator_id}/sites/{site_id}",
        Needs(OperatorsWrite),
    ),
    e(
        "POST",
        "/api/v1/admin/operators/{operator_id}/sites/{site_id}/close",
        Needs(OperatorsWrite),
    ),
    e(
        "POST",
        "/api/v1/admin/operators/{operator_id}/grants",
        Needs(OperatorsWrite),
    ),
    e(
        "DELETE",
        "/api/v1/admin/operators/{operator_id}/grants/{app_id}",
        Needs(OperatorsWrite),
    ),
    e(
        "POST",
        "/api/v1/admin/operators/{operator_id}/lock",
        Needs(OperatorsWrite),
    ),
    e(
        "POST",
        "/api/v1/admin/operators/{operator_id}/unlock",
        Needs(OperatorsWrite),
    ),
    e(
        "POST",
        "/api/v1/admin/operators/{operator_id}/deactivate",
        Needs(OperatorsWrite),
    ),
    e(
        "POST",
        "/api/v1/admin/operators/{operator_id}/app-applications/{application_id}/approve",
        Needs(ApplicationsReview),
    ),
    e(
        "POST",
        "/api/v1/admin/operators/{operator_id}/app-applications/{application_id}/reject",
        Needs(ApplicationsReview),
    ),
    e(
        "POST",
        "/api/v1/admin/announcements",
        Needs(AnnouncementsWrite),
    ),
    // Anomaly locking: security alerts and IP blocks (operators unlock as above).
    e("GET", "/api/v1/admin/security/alerts", Needs(OperatorsRead)),
    e(
        "GET",
        "/api/v1/admin/security/ip-blocks",
        Needs(OperatorsRead),
    ),
    e(
        "POST",
        "/api/v1/admin/security/ip-blocks/{ip}/unblock",
        Needs(OperatorsWrite),
    ),
    // Staff accounts.
    e("POST", "/api/v1/admin/staff", Needs(StaffWrite)),
    e("PATCH", "/api/v1/admin/staff/{staff_id}", Needs(StaffWrite)),
    e(
        "POST",
        "/api/v1/admin/staff/{staff_id}/disable",
        Needs(StaffWrite),
    ),
    e(
        "POST",
        "/api/v1/admin/staff/{staff_id}/enable",
        Needs(StaffWrite),
    ),
    e(
        "POST",
        "/api/v1/admin/staff/{staff_id}/password",
        Needs(StaffWrite),
    ),
    // Money decisions.
    e(
        "POST",
        "/api/v1/finance/operators/{operator_id}/manual-credits",
        Needs(CreditsWrite),
    ),
    e(
        "POST",
        "/api/v1/finance/operators/{operator_id}/refunds/{refund_id}/approve",
        Needs(RefundsReview),
    ),
    e(
        "POST",
        "/api/v1/finance/operators/{operator_id}/refunds/{refund_id}/reject",
        Needs(RefundsReview),
    ),
    e(
        "POST",
        "/api/v1/finance/operators/{operator_id}/invoices/{invoice_id}/approve",
        Needs(InvoicesReview),
    ),
    e(
        "POST",
        "/api/v1/finance/operators/{operator_id}/invoices/{invoice_id}/reject",
        Needs(InvoicesReview),
    ),
    // Reconciliation writes a run (derived from statement and ledger): finance managers.
    e(
        "POST",
        "/api/v1/finance/reconciliations",
        Needs(CreditsWrite),
    ),
];
