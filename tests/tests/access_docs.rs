//! The docs that restate the code's access tables, checked against them:
//! - docs/ACCESS.md is the role → scope matrix and both APIs' route tables, rendered from the
//!   code's own tables: the test fails when they drift. `MR_UPDATE_DOCS=1 cargo test -p tests
//!   --test access_docs` rewrites the file from the code.
//! - docs/openapi.yaml documents every route of both `ENDPOINTS` tables with the method, and
//!   with what it requires as `x-required-scope` (none and `security: []` when public). It is
//!   hand-written, so the test names every route it gets wrong.

use std::fmt::Write as _;

use ledger_core::access::{Access, Endpoint, LOGIN_ROLES, Scope, role_has};

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/ACCESS.md");

fn render_matrix(out: &mut String) {
    out.push_str("| scope |");
    for role in LOGIN_ROLES {
        write!(out, " {} |", role.as_str()).unwrap();
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(LOGIN_ROLES.len()));
    out.push('\n');
    for scope in Scope::ALL {
        write!(out, "| `{}` |", scope.as_str()).unwrap();
        for role in LOGIN_ROLES {
            out.push_str(if role_has(role, scope) {
                " ✓ |"
            } else {
                " |"
            });
        }
        out.push('\n');
    }
}

fn render_routes(out: &mut String, table: &[Endpoint]) {
    out.push_str("| method | path | requires | roles |\n|---|---|---|---|\n");
    for endpoint in table {
        let roles: Vec<&str> = match endpoint.access {
            Access::Public => vec!["anyone"],
            access => LOGIN_ROLES
                .iter()
                .filter(|r| access.allows(**r))
                .map(|r| r.as_str())
                .collect(),
        };
        writeln!(
            out,
            "| {} | `{}` | `{}` | {} |",
            endpoint.method,
            endpoint.path,
            endpoint.access.as_str(),
            roles.join(", ")
        )
        .unwrap();
    }
}

fn render() -> String {
    let mut out = String::from(
        "# Access: who may call what\n\n\
         Generated from the code (`ledger_core::access::role_scopes` and the `ENDPOINTS` tables of\n\
         both APIs) by `MR_UPDATE_DOCS=1 cargo test -p tests --test access_docs`; the same test\n\
         fails when this file and the code disagree. A caller whose role lacks a route's scope\n\
         gets 403 `FORBIDDEN` with `details.missing_scope`; without a live session, 401\n\
         `UNAUTHORIZED`. Operators hold only `own:*` scopes, and `own:*` routes take the\n\
         operator from the token, never from the path. `logged_in`: any role that logs in.\n\n\
         ## Role → scope matrix\n\n",
    );
    render_matrix(&mut out);
    out.push_str("\n## Command API routes\n\n");
    render_routes(&mut out, command_api::http::endpoints::ENDPOINTS);
    out.push_str("\n## Query API routes\n\n");
    render_routes(&mut out, query_api::endpoints::ENDPOINTS);
    out
}

#[test]
fn access_doc_matches_the_code() {
    let expected = render();
    if std::env::var_os("MR_UPDATE_DOCS").is_some() {
        std::fs::write(DOC, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(DOC).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/ACCESS.md is out of date: run `MR_UPDATE_DOCS=1 cargo test -p tests --test access_docs`"
    );
}

const OPENAPI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml");

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The lines of `path`'s block under `paths:`, up to the next path (or anything else at its
/// level or above). Paths are keys indented by two spaces.
fn path_block<'a>(spec: &'a str, path: &str) -> Option<Vec<&'a str>> {
    let header = format!("  {path}:");
    let mut lines = spec.lines().skip_while(|l| *l != header);
    lines.next()?;
    Some(
        lines
            .take_while(|l| l.trim().is_empty() || indent(l) > 2)
            .collect(),
    )
}

/// The lines of one operation (`get:`, `post:`, … indented by four) of a path block.
fn operation<'a>(block: &[&'a str], method: &str) -> Option<Vec<&'a str>> {
    let header = format!("    {}:", method.to_ascii_lowercase());
    let mut lines = block.iter().skip_while(|l| **l != header);
    lines.next()?;
    Some(
        lines
            .take_while(|l| l.trim().is_empty() || indent(l) > 4)
            .copied()
            .collect(),
    )
}

/// The value of one of the operation's own keys (indented by six), unquoted.
fn operation_key<'a>(operation: &[&'a str], key: &str) -> Option<&'a str> {
    operation
        .iter()
        .filter(|l| indent(l) == 6)
        .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix(':'))
        .map(|value| value.trim().trim_matches(|c| c == '\'' || c == '"'))
}

/// What is wrong with the documentation of `endpoint`, if anything.
fn openapi_problem(spec: &str, endpoint: &Endpoint) -> Option<String> {
    let route = format!("{} {}", endpoint.method, endpoint.path);
    let Some(block) = path_block(spec, endpoint.path) else {
        return Some(format!("{route}: path missing"));
    };
    let Some(operation) = operation(&block, endpoint.method) else {
        return Some(format!("{route}: operation missing"));
    };
    let scope = operation_key(&operation, "x-required-scope");
    let security = operation_key(&operation, "security");
    match endpoint.access {
        Access::Public if scope.is_some() || security != Some("[]") => Some(format!(
            "{route}: public, so `security: []` and no x-required-scope (found {security:?}, {scope:?})"
        )),
        Access::Public => None,
        access if scope != Some(access.as_str()) => Some(format!(
            "{route}: x-required-scope should be {} (found {scope:?})",
            access.as_str()
        )),
        _ if security.is_none_or(|s| s == "[]") => {
            Some(format!("{route}: needs a login, so a bearer `security`"))
        }
        _ => None,
    }
}

#[test]
fn openapi_documents_every_route_with_its_scope() {
    let spec = std::fs::read_to_string(OPENAPI).unwrap();
    let problems: Vec<String> = command_api::http::endpoints::ENDPOINTS
        .iter()
        .chain(query_api::endpoints::ENDPOINTS)
        .filter_map(|endpoint| openapi_problem(&spec, endpoint))
        .collect();
    assert!(
        problems.is_empty(),
        "docs/openapi.yaml disagrees with the ENDPOINTS tables:\n{}",
        problems.join("\n")
    );
}
