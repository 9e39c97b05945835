//! `cargo xtask bench ingest [--quick]`: sluice-ingest (on Sluice, and its rayon-only
//! and sequential compositions) against restic and borg on the same generated tree,
//! interleaved round by round, with the compute floor (b3sum + zstd); written to the
//! "Ingest" section of `docs/benchmarks.md` and printed.

use crate::bench_ingest_page;
use crate::bench_ingest_stats::Sample;
use crate::bench_tools::{self, json_number, timed};
use crate::bench_tree::{self, Tree};
use crate::run::{release_binary, workspace_root};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The password restic is given; the repositories are thrown away after each round.
const RESTIC_PASSWORD: &str = "sluice-bench";

/// What is measured, in the order of odd rounds (even rounds reverse it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    /// sluice-ingest with `--engine` this.
    Sluice(&'static str),
    /// restic, zstd (`--compression auto`), its own 512 KiB / 1 MiB / 8 MiB chunks.
    Restic,
    /// borg, zstd level 3, buzhash chunks of 2^19..2^23 bytes, 1 MiB on average.
    Borg,
    /// b3sum over every file, then `zstd -T2 -3` over the tree.
    Floor,
}

impl System {
    /// Every system, in the order of the odd rounds and of the tables.
    pub const ALL: [System; 6] = [
        System::Sluice("sluice"),
        System::Sluice("rayon"),
        System::Sluice("sequential"),
        System::Restic,
        System::Borg,
        System::Floor,
    ];

    /// Its name in the tables.
    pub fn label(self) -> &'static str {
        match self {
            System::Sluice("sluice") => "sluice-ingest (Sluice)",
            System::Sluice("rayon") => "rayon-only",
            System::Sluice(_) => "sequential",
            System::Restic => "restic",
            System::Borg => "borg",
            System::Floor => "floor: b3sum + zstd -T2 -3",
        }
    }
}

/// Installs what is missing, builds sluice-ingest, generates (or reuses) the tree,
/// runs the rounds and writes the section.
pub fn run(quick: bool) -> Result<(), String> {
    bench_tools::install()?;
    let binary = release_binary("sluice-ingest", "sluice-ingest")?;
    let tree = bench_tree::tree(quick)?;
    eprintln!(
        "xtask: the tree: {} files, {:.2} GB\n{}",
        tree.files,
        tree.bytes as f64 / 1e9,
        tree.manifest.trim_end()
    );
    let work = workspace_root().join("target").join("bench-ingest");
    let rounds = if quick { 3 } else { 5 };
    // One untimed pass, so that every program meets the tree in the page cache.
    measure(System::Floor, &binary, &tree, &work)?;
    let mut samples: Vec<(System, Sample)> = Vec::new();
    for round in 0..rounds {
        let mut order = System::ALL.to_vec();
        if round % 2 == 1 {
            order.reverse();
        }
        for system in order {
            eprintln!("xtask: round {} of {rounds}: {}", round + 1, system.label());
            let sample = measure(system, &binary, &tree, &work)?;
            samples.push((system, sample));
        }
    }
    let _ = fs::remove_dir_all(&work);
    let section = bench_ingest_page::section(&tree, rounds, quick, &samples);
    print!("{section}");
    bench_ingest_page::write(&section)
}

/// One measurement of `system`: a first ingest into a fresh store and an unchanged
/// re-run (or the floor's two passes), then the store's raw stored bytes.
fn measure(system: System, binary: &Path, tree: &Tree, work: &Path) -> Result<Sample, String> {
    let _ = fs::remove_dir_all(work);
    fs::create_dir_all(work).map_err(|e| format!("creating {}: {e}", work.display()))?;
    let repo = work.join("repo");
    let what = system.label();
    let sample = match system {
        System::Sluice(engine) => {
            let ingest = || {
                let mut command = Command::new(binary);
                command.arg("--store").arg(&repo).arg("--json");
                command
                    .arg("ingest")
                    .arg(&tree.root)
                    .args(["--engine", engine]);
                command
            };
            let first = timed(what, &ingest(), work)?;
            let again = timed(what, &ingest(), work)?;
            if json_number(&again.stdout, "files_read") != Some(0) {
                return Err(format!("{what}: the unchanged re-run read files again"));
            }
            let stored = json_number(&first.stdout, "raw_bytes_stored");
            Sample::ingest(first, again, stored)
        }
        System::Restic => {
            let restic = |args: &[&str]| {
                let mut command = Command::new("restic");
                command.arg("-r").arg(&repo).args(args);
                command
                    .env("RESTIC_PASSWORD", RESTIC_PASSWORD)
                    .env("RESTIC_CACHE_DIR", work.join("restic-cache"));
                command
            };
            run_quiet(
                what,
                &mut restic(&["init", "-q", "--repository-version", "2"]),
            )?;
            let backup = || {
                let mut command = restic(&["backup", "-q", "--json", "--compression", "auto"]);
                command.arg(&tree.root);
                command
            };
            let first = timed(what, &backup(), work)?;
            let again = timed(what, &backup(), work)?;
            // restic 0.14's `stats --mode raw-data` counts compressed bytes; the
            // summary's `data_added` counts them before compression.
            let stored = json_number(&first.stdout, "data_added");
            Sample::ingest(first, again, stored)
        }
        System::Borg => {
            let borg = |args: &[&str]| {
                let mut command = Command::new("borg");
                command.args(args);
                command
                    .env("BORG_BASE_DIR", work.join("borg-base"))
                    .env("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes");
                command
            };
            let mut init = borg(&["init", "-e", "none"]);
            run_quiet(what, init.arg(&repo))?;
            let create = |name: &str| {
                let mut command = borg(&["create", "--compression", "zstd,3"]);
                command.args(["--chunker-params", "buzhash,19,23,20,4095"]);
                command.arg(archive(&repo, name)).arg(&tree.root);
                command
            };
            let first = timed(what, &create("first"), work)?;
            let again = timed(what, &create("again"), work)?;
            let mut info = borg(&["info", "--json"]);
            let info = run_quiet(what, info.arg(&repo))?;
            let stored = json_number(&info, "unique_size");
            Sample::ingest(first, again, stored)
        }
        System::Floor => {
            let root = shell_quote(&tree.root);
            let hash = format!("find {root} -type f -print0 | xargs -0 b3sum > /dev/null");
            let compress = format!("zstd -q -T2 -3 -r -c {root} > /dev/null");
            let hashed = timed("b3sum", &sh(&hash), work)?;
            let compressed = timed("zstd", &sh(&compress), work)?;
            Sample::floor(hashed, compressed)
        }
    };
    let _ = fs::remove_dir_all(work);
    Ok(sample)
}

/// `REPO::NAME`, borg's name of an archive.
fn archive(repo: &Path, name: &str) -> PathBuf {
    let mut spelled = repo.as_os_str().to_owned();
    spelled.push(format!("::{name}"));
    PathBuf::from(spelled)
}

fn sh(script: &str) -> Command {
    let mut command = Command::new("sh");
    command.args(["-c", script]);
    command
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// Runs a command that is not measured; answers its stdout, or an error with its
/// stderr.
fn run_quiet(what: &str, command: &mut Command) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
