//! docs/openapi.yaml documents every route of the query API with the scope it requires.

use ledger_core::access::Access;
use query_api::endpoints::ENDPOINTS;

/// The lines of `path`'s block under `paths:` (up to the next path).
fn path_block<'a>(spec: &'a str, path: &str) -> Option<Vec<&'a str>> {
    let header = format!("  {path}:");
    let mut lines = spec.lines().skip_while(|l| *l != header);
    lines.next()?;
    Some(
        lines
            .take_while(|l| !(l.starts_with("  /") || (!l.starts_with(' ') && !l.is_empty())))
            .collect(),
    )
}

#[test]
fn every_endpoint_is_documented_with_its_scope() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml");
    let spec = std::fs::read_to_string(file).unwrap();
    for endpoint in ENDPOINTS {
        let block = path_block(&spec, endpoint.path)
            .unwrap_or_else(|| panic!("{} is not in openapi.yaml", endpoint.path));
        // The operation's scope: the first `x-required-scope` after `get:` (`post:`, …).
        let operation = format!("{}:", endpoint.method.to_ascii_lowercase());
        let get: Vec<&str> = block
            .iter()
            .skip_while(|l| l.trim() != operation)
            .skip(1)
            .take_while(|l| !l.starts_with("    ") || l.starts_with("      "))
            .copied()
            .collect();
        assert!(
            !get.is_empty(),
            "{}: no {operation} operation",
            endpoint.path
        );
        let scope = get
            .iter()
            .find_map(|l| l.trim().strip_prefix("x-required-scope: "));
        match endpoint.access {
            Access::Public => assert_eq!(scope, None, "{}", endpoint.path),
            access => assert_eq!(scope, Some(access.as_str()), "{}", endpoint.path),
        }
    }
}
