//! Cheap rules of the codebase, checked as an ordinary test.

use crate::run::workspace_root;
use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() && name != "target" && name != ".git" {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

fn all_rust_files() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "benches"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(
        files.len() > 10,
        "found too few files under {}",
        root.display()
    );
    files
}

#[test]
fn every_file_opens_with_a_module_doc() {
    let missing: Vec<_> = all_rust_files()
        .into_iter()
        .filter(|path| {
            let text = fs::read_to_string(path).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .collect();
    assert!(
        missing.is_empty(),
        "files without a `//!` doc: {missing:#?}"
    );
}

#[test]
fn library_code_does_not_print() {
    let offenders: Vec<_> = all_rust_files()
        .into_iter()
        .filter(|path| {
            let p = path.to_string_lossy();
            // Programs, not libraries: the ingest job, the stress harness, the tools.
            p.contains("/src/")
                && !p.contains("sluice-ingest")
                && !p.contains("sluice-stress")
                && !p.contains("xtask")
                && !p.contains("benches")
        })
        .filter(|path| {
            let text = fs::read_to_string(path).unwrap_or_default();
            text.lines().any(|line| {
                let line = line.trim_start();
                !line.starts_with("//")
                    && (line.starts_with("println!(") || line.starts_with("eprintln!("))
            })
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "library files that print (use tracing): {offenders:#?}"
    );
}

#[test]
fn only_the_loom_shim_names_std_sync() {
    let core = workspace_root()
        .join("crates")
        .join("sluice-core")
        .join("src");
    let mut files = Vec::new();
    rust_files(&core, &mut files);
    let offenders: Vec<_> = files
        .into_iter()
        .filter(|path| !path.ends_with("loom.rs"))
        .filter(|path| {
            // Doc examples are user code and may name `std::sync`; only code counts.
            let text = fs::read_to_string(path).unwrap_or_default();
            text.lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .map(|line| line.replace("crate::loom::", ""))
                .any(|line| line.contains("std::sync") || line.contains("loom::sync"))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "sluice-core files that bypass src/loom.rs: {offenders:#?}"
    );
}
