//! Architecture rules checked as tests: they fail the build of a change that breaks them.

use std::path::Path;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_crate_of_the_workspace_has_a_section_in_architecture_md() {
    let manifest = read("Cargo.toml");
    let architecture = read("docs/ARCHITECTURE.md");
    let members = manifest
        .split("members = [")
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap();
    for member in members
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
    {
        assert!(
            architecture.contains(&format!("`{member}`")),
            "docs/ARCHITECTURE.md does not describe {member}"
        );
    }
}

#[test]
fn the_domain_crate_depends_on_no_io_library() {
    let manifest = read("ledger-core/Cargo.toml");
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    for io in [
        "tokio", "postgres", "actix", "redis", "reqwest", "tonic", "deadpool",
    ] {
        assert!(
            !dependencies.contains(io),
            "ledger-core must not depend on {io}"
        );
    }
}

#[test]
fn only_the_command_api_appends_events_and_query_api_never_writes() {
    for (krate, forbidden) in [
        (
            "query-api/src",
            ["INSERT INTO", "UPDATE ", "DELETE FROM"].as_slice(),
        ),
        (
            "projector/src",
            ["INSERT INTO events", "INSERT INTO headset_sessions"].as_slice(),
        ),
    ] {
        for entry in walk(&repo().join(krate)) {
            let text = std::fs::read_to_string(&entry).unwrap();
            // The one exception: query-api stores the finance reports it renders, in their
            // own table and nowhere else.
            if entry.ends_with("query-api/src/reports/storage.rs") {
                assert_writes_only_finance_reports(&entry, &text);
                continue;
            }
            for word in forbidden {
                assert!(
                    !text.contains(word),
                    "{} contains {word:?}",
                    entry.display()
                );
            }
        }
    }
}

/// Every write in `text` is an `INSERT INTO public.finance_reports` (with its `ON CONFLICT
/// … DO UPDATE`); nothing is deleted.
fn assert_writes_only_finance_reports(entry: &Path, text: &str) {
    let inserts = text.matches("INSERT INTO").count();
    assert!(inserts > 0, "{} writes nothing", entry.display());
    assert_eq!(
        inserts,
        text.matches("INSERT INTO public.finance_reports").count(),
        "{} inserts into another table",
        entry.display()
    );
    assert_eq!(
        text.matches("UPDATE ").count(),
        text.matches("ON CONFLICT (kind, period_start) DO UPDATE ")
            .count(),
        "{} updates another way",
        entry.display()
    );
    assert!(!text.contains("DELETE FROM"), "{} deletes", entry.display());
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}
