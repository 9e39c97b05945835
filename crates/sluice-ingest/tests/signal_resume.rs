//! SIGTERM midway through a run: the program stops taking files, finishes those in
//! flight, commits a partial snapshot and reports it; the next run completes the work,
//! and the store then holds what one uninterrupted run gives.

mod common;

use common::{noise, scratch};
use sluice_ingest::store::Store;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const SMALL: [&str; 6] = [
    "--min-chunk",
    "1K",
    "--avg-chunk",
    "4K",
    "--max-chunk",
    "16K",
];

fn ingest(store: &Path, tree: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice-ingest"));
    command
        .env("SLUICE_INGEST_STORE", store)
        .args([tree, "--json"])
        .args(SMALL)
        .args(extra);
    command
}

/// Whether `pid` has a handler for SIGTERM (bit 15 of `SigCgt` in /proc).
fn catches_sigterm(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (15 - 1)) != 0)
}

/// The latest snapshot's files (path, size, chunks) and every stored chunk.
fn content(store: &Path) -> Result<(Vec<String>, Vec<String>), Box<dyn std::error::Error>> {
    let store = Store::open(store)?;
    let catalog = store.catalog()?;
    let latest = catalog
        .snapshots()?
        .last()
        .map(|s| s.id)
        .ok_or("no snapshot")?;
    let mut files: Vec<String> = catalog
        .files(latest, Path::new(""))?
        .into_iter()
        .map(|f| format!("{} {} {:?}", f.path.display(), f.stat.size, f.chunks))
        .collect();
    files.sort();
    let mut chunks: Vec<String> = catalog
        .chunks()?
        .into_iter()
        .map(|c| format!("{:?}", c.hash))
        .collect();
    chunks.sort();
    Ok((files, chunks))
}

#[test]
fn sigterm_midway_commits_a_partial_snapshot_that_the_next_run_completes() -> TestResult {
    let dir = scratch("sigterm")?;
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree)?;
    for i in 0..30u32 {
        std::fs::write(tree.join(format!("f{i:02}.bin")), noise(30_000, i))?;
    }
    let tree_arg = tree.to_str().ok_or("temp path is not UTF-8")?;

    let whole = dir.join("whole");
    let uninterrupted = ingest(&whole, tree_arg, &[]).output()?;
    assert!(uninterrupted.status.success());

    // One file at a time, 100 ms before each: the run lasts about three seconds.
    let store = dir.join("store");
    let child = ingest(
        &store,
        tree_arg,
        &["--window", "1", "--read-delay-ms", "100"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()?;
    let until = Instant::now() + Duration::from_secs(20);
    while !catches_sigterm(child.id()) {
        assert!(
            Instant::now() < until,
            "the program never listened for SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(400));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    assert!(killed.success());
    let stopped = child.wait_with_output()?;
    assert!(
        stopped.status.success(),
        "{}",
        String::from_utf8_lossy(&stopped.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&stopped.stdout)?;
    assert_eq!(report["totals"]["stopped"], true, "{report}");
    let read = report["totals"]["files_read"]
        .as_u64()
        .ok_or("files_read")?;
    assert!(read > 0 && read < 30, "read {read} files before the signal");

    let resumed = ingest(&store, tree_arg, &[]).output()?;
    assert!(resumed.status.success());
    let report: serde_json::Value = serde_json::from_slice(&resumed.stdout)?;
    assert_eq!(report["totals"]["stopped"], false);
    assert_eq!(report["totals"]["files_unchanged"].as_u64(), Some(read));
    assert_eq!(report["totals"]["files_read"].as_u64(), Some(30 - read));
    assert_eq!(content(&store)?, content(&whole)?);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
