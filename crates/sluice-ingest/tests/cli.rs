//! The program as a user runs it: `ingest` (the default subcommand) with `--json`, an
//! incremental second run, `verify`, `cat`, `snapshots`, `dups` and `restore`, with the
//! store given by `SLUICE_INGEST_STORE`; bad arguments answer a clear error.

mod common;

use common::scratch;
use std::path::Path;
use std::process::{Command, Output};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn run(store: &Path, args: &[&str]) -> std::io::Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_sluice-ingest"))
        .env("SLUICE_INGEST_STORE", store)
        .args(args)
        .output()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn ingest_verify_cat_restore_from_the_command_line() -> TestResult {
    let dir = scratch("cli")?;
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("docs"))?;
    std::fs::write(tree.join("docs/one.md"), "# same\n".repeat(300))?;
    std::fs::write(tree.join("docs/two.md"), "# same\n".repeat(300))?;
    std::fs::write(tree.join("notes.txt"), common::noise(40_000, 5))?;
    let store = dir.join("store");
    let tree_arg = tree.to_str().ok_or("temp path is not UTF-8")?;
    let small = [
        "--min-chunk",
        "1K",
        "--avg-chunk",
        "4K",
        "--max-chunk",
        "16K",
    ];

    let first = run(&store, &[&[tree_arg, "--json"][..], &small].concat())?;
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&first.stdout)?;
    assert_eq!(report["totals"]["files_read"], 3);
    assert!(report["dedup_ratio"].as_f64() > Some(1.0));
    assert!(report["sluice"].is_object());

    let second = run(
        &store,
        &[&["ingest", tree_arg, "--json"][..], &small].concat(),
    )?;
    let report: serde_json::Value = serde_json::from_slice(&second.stdout)?;
    assert_eq!(report["totals"]["files_read"], 0);
    assert_eq!(report["totals"]["files_unchanged"], 3);

    let verified = run(&store, &["verify"])?;
    assert!(verified.status.success());
    assert!(stdout(&verified).contains("all intact"));
    let cat = run(&store, &["cat", "latest", "notes.txt"])?;
    assert_eq!(cat.stdout, std::fs::read(tree.join("notes.txt"))?);
    assert!(stdout(&run(&store, &["snapshots"])?).contains("complete"));
    let listed = stdout(&run(&store, &["ls"])?);
    assert_eq!(listed.lines().count(), 4, "{listed}");
    assert!(listed.contains("docs/one.md"));
    let listed = stdout(&run(&store, &["ls"])?);
    assert_eq!(listed.lines().count(), 4, "{listed}");
    assert!(listed.contains("docs/one.md"));
    assert!(stdout(&run(&store, &["dups"])?).contains("docs/one.md\n  docs/two.md"));

    let dest = dir.join("out");
    let restored = run(
        &store,
        &["restore", "1", "docs", dest.to_str().ok_or("not UTF-8")?],
    )?;
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    assert_eq!(
        std::fs::read(dest.join("docs/two.md"))?,
        std::fs::read(tree.join("docs/two.md"))?
    );

    let missing = run(&store, &["cat", "7", "notes.txt"])?;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no snapshot `7`"));
    let bad = run(&store, &[tree_arg, "--min-chunk", "10"])?;
    assert!(String::from_utf8_lossy(&bad.stderr).contains("minimum chunk size 10"));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn library_variables_still_apply_beside_the_store_variable() -> TestResult {
    let dir = scratch("cli-config")?;
    std::fs::create_dir_all(dir.join("tree"))?;
    std::fs::write(dir.join("tree/a.txt"), "a")?;
    let ingest = |var: &str| {
        Command::new(env!("CARGO_BIN_EXE_sluice-ingest"))
            .env("SLUICE_INGEST_STORE", dir.join("store"))
            .env(var, "2")
            .arg(dir.join("tree"))
            .arg("--json")
            .output()
    };
    let good = ingest("SLUICE_CPU__WORKERS")?;
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&good.stdout)?;
    assert_eq!(report["totals"]["files_read"], 1);
    let typo = ingest("SLUICE_CPU__WORKRS")?;
    assert!(!typo.status.success());
    assert!(String::from_utf8_lossy(&typo.stderr).contains("SLUICE_CPU__WORKRS: no setting"));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
