//! Style rules that are cheap to check as tests.

use std::path::{Path, PathBuf};

/// Occurrences of a float type name as a whole word (`f32`, `f64`), by line number.
fn float_mentions(source: &str) -> Vec<(usize, String)> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut found = Vec::new();
    for (number, line) in source.lines().enumerate() {
        for word in ["f32", "f64"] {
            for (start, _) in line.match_indices(word) {
                let before = line[..start].chars().next_back();
                let after = line[start + word.len()..].chars().next();
                if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) {
                    found.push((number + 1, line.trim().to_owned()));
                }
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn ledger_core_sources_mention_no_float_type() {
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    assert!(files.len() >= 8, "the scan found the sources: {files:?}");
    let offenders: Vec<String> = files
        .iter()
        .flat_map(|path| {
            let source = std::fs::read_to_string(path).unwrap();
            float_mentions(&source)
                .into_iter()
                .map(move |(line, text)| format!("{}:{line}: {text}", path.display()))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "no floats near money:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_float_scan_finds_whole_words_only() {
    let sample = "let a: f64 = 1;\nlet b = x as f32;\nlet c = buf64;\nfn f64x() {}\n// f32\n";
    assert_eq!(
        float_mentions(sample)
            .iter()
            .map(|(line, _)| *line)
            .collect::<Vec<_>>(),
        vec![1, 2, 5]
    );
}

#[test]
fn ledger_core_denies_float_arithmetic() {
    let lib = std::fs::read_to_string(src_dir().join("lib.rs")).unwrap();
    assert!(lib.contains("#![deny(clippy::float_arithmetic)]"));
}
