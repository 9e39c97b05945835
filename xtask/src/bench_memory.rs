//! `cargo xtask bench memory [--quick]`: the memory and overlap checks of streamed maps
//! (issue 17). Runs `stream_memory` (in `sluice-benches`, release) once per scenario,
//! so that each peak RSS (VmHWM) is one scenario's alone, prints a table of measured
//! value, target and verdict, and writes the "Memory and overlap" section of
//! `docs/benchmarks.md` between its markers (see `bench_memory_page.rs`).

use crate::bench_memory_page as page;
use crate::run::{release_binary, workspace_root};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The streamed results' bound, in decimal megabytes (issue 17).
pub const RESULTS_MB: u64 = 32;
/// The pipeline's wall time over its slowest stage's, at most.
pub const OVERLAP: f64 = 1.10;
/// How far the pipeline's peak RSS at 10× the items may be from that at 1×.
pub const RSS_DRIFT: f64 = 0.10;
/// How many times more items the second RSS run has.
pub const SCALE: usize = 10;

/// The sizes of a run.
pub struct Plan {
    /// Results streamed in the first check.
    pub results: usize,
    /// MiB of reads of one pass of the pipeline.
    pub mib: u64,
    /// Rounds of the four timed runs (read, cpu, write, all).
    pub rounds: usize,
    /// A quick run.
    pub quick: bool,
}

/// One run's printed fields.
pub type Fields = HashMap<String, String>;

/// What the checks measured.
pub struct Measured {
    /// The results run.
    pub results: Fields,
    /// The timed pipeline runs at 1×, every round, by stage name.
    pub rounds: Vec<HashMap<&'static str, Fields>>,
    /// The pipeline at 10× the items.
    pub scaled: Fields,
    /// The directory read.
    pub root: PathBuf,
}

/// Builds and runs the checks, prints the table and writes the page's section.
pub fn run(quick: bool) -> Result<(), String> {
    let plan = if quick {
        Plan {
            results: 200_000,
            mib: 256,
            rounds: 1,
            quick,
        }
    } else {
        Plan {
            results: 200_000,
            mib: 1024,
            rounds: 3,
            quick,
        }
    };
    let program = release_binary("sluice-benches", "stream_memory")?;
    let root = sysroot()?;
    let summary = workspace_root()
        .join("target")
        .join("stream-memory-summary.txt");
    let results = scenario(&program, &["results", "--items", &plan.results.to_string()])?;
    let pipeline = |stage: &str, scale: usize| -> Result<Fields, String> {
        let args = [
            "pipeline",
            "--root",
            &root.to_string_lossy(),
            "--stage",
            stage,
            "--scale",
            &scale.to_string(),
            "--mib",
            &plan.mib.to_string(),
            "--summary",
            &summary.to_string_lossy(),
        ];
        scenario(&program, &args)
    };
    // Once untimed, so that every timed run reads from the page cache.
    pipeline("read", 1)?;
    let stages = ["read", "cpu", "write", "all"];
    let mut rounds = Vec::new();
    for round in 0..plan.rounds {
        let mut runs = HashMap::new();
        // Rotated each round, so that no stage always runs first after a pause.
        for i in 0..stages.len() {
            let stage = stages[(i + round) % stages.len()];
            runs.insert(stage, pipeline(stage, 1)?);
        }
        rounds.push(runs);
    }
    let scaled = pipeline("all", SCALE)?;
    let measured = Measured {
        results,
        rounds,
        scaled,
        root,
    };
    let table = page::table(&measured);
    print!("{table}");
    page::write(&page::section(&measured, &plan, &table))
}

/// Runs `program args` and reads the `key=value` fields of its one line.
fn scenario(program: &Path, args: &[&str]) -> Result<Fields, String> {
    eprintln!("xtask: stream_memory {}", args.join(" "));
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("stream_memory: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "stream_memory {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let line = String::from_utf8_lossy(&output.stdout);
    eprintln!("xtask:   {}", line.trim());
    Ok(line
        .split_whitespace()
        .filter_map(|field| field.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

/// The toolchain's directory: real files, the same on every machine that builds Sluice.
fn sysroot() -> Result<PathBuf, String> {
    let output = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(workspace_root())
        .output()
        .map_err(|e| format!("rustc --print sysroot: {e}"))?;
    if !output.status.success() {
        return Err("rustc --print sysroot failed".into());
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}

/// The number in `field` of a run; NaN when absent (which no verdict meets).
pub fn number(fields: &Fields, field: &str) -> f64 {
    fields
        .get(field)
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}
