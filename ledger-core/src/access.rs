//! Who may do what: the role → scope matrix, written once and used by both APIs.
//!
//! Every endpoint declares the [`Access`] it needs; a caller whose role lacks the scope gets
//! 403 `FORBIDDEN` naming it. Operators only hold the `own:*` scopes, and every `own:*`
//! endpoint takes the operator from the caller's token, never from the path, so an operator
//! cannot even name another operator's data.

use crate::metadata::ActorRole;

/// A permission an endpoint requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// The caller's own operator account: profile, sites, apps, usage, money, messages.
    OwnRead,
    /// Changes to the caller's own operator account.
    OwnWrite,
    /// The app catalog.
    CatalogRead,
    /// Apps: create, edit, price, range, retire.
    CatalogWrite,
    /// Any operator: list, detail, sites, grants, credentials (fingerprints), usage.
    OperatorsRead,
    /// Any operator: create, category, credentials, sites, grants, lock / unlock / deactivate.
    OperatorsWrite,
    /// Operators' app applications: approve (grant) or reject.
    ApplicationsReview,
    /// Announcements to every operator.
    AnnouncementsWrite,
    /// Balances and the global transaction monitor.
    LedgerRead,
    /// Manual credits (bank transfers recorded by finance).
    CreditsWrite,
    /// Refund requests: read.
    RefundsRead,
    /// Refund requests: approve or reject.
    RefundsReview,
    /// Invoice requests and issued invoices: read.
    InvoicesRead,
    /// Invoice requests: approve (issue) or reject.
    InvoicesReview,
    /// The staff audit log.
    AuditLogRead,
    /// The raw event store: replay and verify.
    EventsRead,
    /// Staff accounts: list.
    StaffRead,
    /// Staff accounts: create, change role, disable.
    StaffWrite,
    /// Statistics across every operator: the analyst's dashboards and their exports.
    StatsRead,
    /// Finance reports: list and download.
    ReportsRead,
    /// Finance reports: generate one on demand.
    ReportsWrite,
}

impl Scope {
    pub const ALL: [Scope; 21] = [
        Scope::OwnRead,
        Scope::OwnWrite,
        Scope::CatalogRead,
        Scope::CatalogWrite,
        Scope::OperatorsRead,
        Scope::OperatorsWrite,
        Scope::ApplicationsReview,
        Scope::AnnouncementsWrite,
        Scope::LedgerRead,
        Scope::CreditsWrite,
        Scope::RefundsRead,
        Scope::RefundsReview,
        Scope::InvoicesRead,
        Scope::InvoicesReview,
        Scope::AuditLogRead,
        Scope::EventsRead,
        Scope::StaffRead,
        Scope::StaffWrite,
        Scope::StatsRead,
        Scope::ReportsRead,
        Scope::ReportsWrite,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::OwnRead => "own:read",
            Scope::OwnWrite => "own:write",
            Scope::CatalogRead => "catalog:read",
            Scope::CatalogWrite => "catalog:write",
            Scope::OperatorsRead => "operators:read",
            Scope::OperatorsWrite => "operators:write",
            Scope::ApplicationsReview => "applications:review",
            Scope::AnnouncementsWrite => "announcements:write",
            Scope::LedgerRead => "ledger:read",
            Scope::CreditsWrite => "credits:write",
            Scope::RefundsRead => "refunds:read",
            Scope::RefundsReview => "refunds:review",
            Scope::InvoicesRead => "invoices:read",
            Scope::InvoicesReview => "invoices:review",
            Scope::AuditLogRead => "audit_log:read",
            Scope::EventsRead => "events:read",
            Scope::StaffRead => "staff:read",
            Scope::StaffWrite => "staff:write",
            Scope::StatsRead => "stats:read",
            Scope::ReportsRead => "reports:read",
            Scope::ReportsWrite => "reports:write",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

use Scope as S;

const OPERATOR: &[Scope] = &[S::OwnRead, S::OwnWrite];

/// Everything staff can do; the super admin holds it all.
const SUPER_ADMIN: &[Scope] = &[
    S::CatalogRead,
    S::CatalogWrite,
    S::OperatorsRead,
    S::OperatorsWrite,
    S::ApplicationsReview,
    S::AnnouncementsWrite,
    S::LedgerRead,
    S::CreditsWrite,
    S::RefundsRead,
    S::RefundsReview,
    S::InvoicesRead,
    S::InvoicesReview,
    S::AuditLogRead,
    S::EventsRead,
    S::StaffRead,
    S::StaffWrite,
    S::StatsRead,
    S::ReportsRead,
    S::ReportsWrite,
];

/// Runs the catalog and the operators; no money decisions, no audit log.
const ADMIN: &[Scope] = &[
    S::CatalogRead,
    S::CatalogWrite,
    S::OperatorsRead,
    S::OperatorsWrite,
    S::ApplicationsReview,
    S::AnnouncementsWrite,
    S::LedgerRead,
    S::StatsRead,
];

/// Reviews refunds and invoices (the checker of maker-checker).
const FINANCE_SPECIALIST: &[Scope] = &[
    S::CatalogRead,
    S::OperatorsRead,
    S::LedgerRead,
    S::RefundsRead,
    S::RefundsReview,
    S::InvoicesRead,
    S::InvoicesReview,
    S::AuditLogRead,
    S::StatsRead,
    S::ReportsRead,
    S::ReportsWrite,
];

/// A specialist who may also record bank transfers.
const FINANCE_MANAGER: &[Scope] = &[
    S::CatalogRead,
    S::OperatorsRead,
    S::LedgerRead,
    S::CreditsWrite,
    S::RefundsRead,
    S::RefundsReview,
    S::InvoicesRead,
    S::InvoicesReview,
    S::AuditLogRead,
    S::StatsRead,
    S::ReportsRead,
    S::ReportsWrite,
];

/// Reads everything money-related and the history; changes nothing.
const FINANCE_AUDITOR: &[Scope] = &[
    S::CatalogRead,
    S::OperatorsRead,
    S::LedgerRead,
    S::RefundsRead,
    S::InvoicesRead,
    S::AuditLogRead,
    S::EventsRead,
    S::StatsRead,
    S::ReportsRead,
];

/// Global statistics over the catalog, operators and money; changes nothing.
const ANALYST: &[Scope] = &[
    S::CatalogRead,
    S::OperatorsRead,
    S::LedgerRead,
    S::EventsRead,
    S::StatsRead,
];

/// The role → scope matrix.
pub const fn role_scopes(role: ActorRole) -> &'static [Scope] {
    match role {
        ActorRole::Operator => OPERATOR,
        ActorRole::SuperAdmin => SUPER_ADMIN,
        ActorRole::Admin => ADMIN,
        ActorRole::FinanceSpecialist => FINANCE_SPECIALIST,
        ActorRole::FinanceManager => FINANCE_MANAGER,
        ActorRole::FinanceAuditor => FINANCE_AUDITOR,
        ActorRole::Analyst => ANALYST,
        // Headset servers sign requests with API keys; the system acts on its own.
        ActorRole::HeadsetServer | ActorRole::System => &[],
    }
}

pub fn role_has(role: ActorRole, scope: Scope) -> bool {
    role_scopes(role).contains(&scope)
}

/// What an endpoint requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: login, registration, refresh, health.
    Public,
    /// Any logged-in person, whatever the role (logout, own password).
    LoggedIn,
    /// A logged-in person whose role holds this scope.
    Scope(Scope),
}

impl Access {
    /// Whether `role` passes; `Public` passes everyone.
    pub fn allows(self, role: ActorRole) -> bool {
        match self {
            Access::Public => true,
            Access::LoggedIn => role == ActorRole::Operator || role.is_staff(),
            Access::Scope(scope) => role_has(role, scope),
        }
    }

    /// How the docs and the endpoint tables spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::LoggedIn => "logged_in",
            Access::Scope(scope) => scope.as_str(),
        }
    }
}

/// One route of an API and what it requires: each API lists all of its routes in one table,
/// its auth layer looks every request's route up there, and the matrix tests walk it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub method: &'static str,
    /// The route pattern as registered, e.g. `/api/v1/admin/apps/{app_id}`.
    pub path: &'static str,
    pub access: Access,
}

/// The entry of `table` for a request's method and matched route pattern.
pub fn find_endpoint(
    table: &'static [Endpoint],
    method: &str,
    pattern: &str,
) -> Option<&'static Endpoint> {
    table
        .iter()
        .find(|e| e.method.eq_ignore_ascii_case(method) && e.path == pattern)
}

/// Roles that log in with a password (the matrix's rows).
pub const LOGIN_ROLES: [ActorRole; 7] = [
    ActorRole::Operator,
    ActorRole::SuperAdmin,
    ActorRole::Admin,
    ActorRole::FinanceSpecialist,
    ActorRole::FinanceManager,
    ActorRole::FinanceAuditor,
    ActorRole::Analyst,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_hold_only_their_own_scopes_and_staff_never_do() {
        assert_eq!(role_scopes(ActorRole::Operator), &[S::OwnRead, S::OwnWrite]);
        for role in ActorRole::STAFF {
            assert!(!role_has(role, S::OwnRead) && !role_has(role, S::OwnWrite));
        }
    }

    #[test]
    fn the_super_admin_holds_every_staff_scope() {
        for scope in Scope::ALL {
            let staff_scope = !matches!(scope, S::OwnRead | S::OwnWrite);
            assert_eq!(
                role_has(ActorRole::SuperAdmin, scope),
                staff_scope,
                "{scope}"
            );
        }
    }

    #[test]
    fn money_decisions_and_the_audit_log_stay_with_finance() {
        assert!(!role_has(ActorRole::Admin, S::RefundsReview));
        assert!(!role_has(ActorRole::Admin, S::AuditLogRead));
        assert!(!role_has(ActorRole::FinanceSpecialist, S::CreditsWrite));
        assert!(role_has(ActorRole::FinanceManager, S::CreditsWrite));
        assert!(!role_has(ActorRole::FinanceAuditor, S::RefundsReview));
        assert!(!role_has(ActorRole::Analyst, S::AuditLogRead));
    }

    #[test]
    fn scope_names_are_unique() {
        let mut names: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Scope::ALL.len());
    }

    #[test]
    fn nobody_without_a_login_passes_a_logged_in_endpoint() {
        assert!(!Access::LoggedIn.allows(ActorRole::HeadsetServer));
        assert!(!Access::LoggedIn.allows(ActorRole::System));
        assert!(LOGIN_ROLES.iter().all(|r| Access::LoggedIn.allows(*r)));
    }
}
