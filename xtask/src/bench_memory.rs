//! `cargo xtask bench memory [--quick]`: the memory and overlap checks of streamed maps
//! (issue 17). Runs `stream_memory` (in `sluice-benches`, release) once per scenario,
//! so that each peak RSS (VmHWM) is one scenario's alone, prints a table of measured
//! value, target and verdict (the figures — overlap, CPU floor, medians — are computed
//! here), and writes the "Memory and overlap" section of
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
/// A round's run of the cpu stage alone on one cpu thread.
pub const SPARE_CPU: &str = "cpu, 1 thread";
/// A round's run of the pipeline with one cpu thread.
pub const SPARE_ALL: &str = "all, 1 cpu thread";
/// A round's run of the read stage alone with its files out of the page cache.
pub const COLD_READ: &str = "read, from disk";
/// A round's run of the pipeline with its files out of the page cache.
pub const COLD_ALL: &str = "all, from disk";

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
    let (root_arg, summary_arg) = (root.to_string_lossy(), summary.to_string_lossy());
    let mib = plan.mib.to_string();
    let pipeline = |stage: &str, scale: usize, cpu_threads: Option<usize>, cold: bool| {
        let scale = scale.to_string();
        let threads = cpu_threads.map(|n| n.to_string());
        let mut args = vec![
            "pipeline",
            "--root",
            &root_arg,
            "--stage",
            stage,
            "--scale",
            &scale,
            "--mib",
            &mib,
            "--summary",
            &summary_arg,
        ];
        if let Some(threads) = &threads {
            args.extend(["--cpu-threads", threads]);
        }
        if cold {
            args.push("--cold");
        }
        scenario(&program, &args)
    };
    // Once untimed, so that every timed run reads from the page cache.
    pipeline("read", 1, None, false)?;
    // The last two are the cpu stage alone and the pipeline with the cpu route on one
    // thread, a core left to the reads: how the stages overlap where the slowest does not
    // take every core. The two from the disk are the read stage alone and the pipeline
    // with their files out of the page cache first: reads that mostly wait, as an
    // ingestion program's first pass over a tree (each leaves the cache filled again).
    let stages = [
        "read", "cpu", "write", "all", SPARE_CPU, SPARE_ALL, COLD_READ, COLD_ALL,
    ];
    let mut rounds = Vec::new();
    for round in 0..plan.rounds {
        let mut runs = HashMap::new();
        // Rotated each round, so that no stage always runs first after a pause.
        for i in 0..stages.len() {
            let stage = stages[(i + round) % stages.len()];
            let run = match stage {
                SPARE_CPU => pipeline("cpu", 1, Some(1), false)?,
                SPARE_ALL => pipeline("all", 1, Some(1), false)?,
                COLD_READ => pipeline("read", 1, None, true)?,
                COLD_ALL => pipeline("all", 1, None, true)?,
                _ => pipeline(stage, 1, None, false)?,
            };
            runs.insert(stage, run);
        }
        rounds.push(runs);
    }
    let scaled = pipeline("all", SCALE, None, false)?;
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

/// A run's pipeline wall time over its slowest stage alone.
pub fn overlap(round: &std::collections::HashMap<&'static str, Fields>) -> f64 {
    let secs = |stage| round.get(stage).map_or(f64::NAN, |r| number(r, "seconds"));
    let slowest = secs("read").max(secs("cpu")).max(secs("write"));
    secs("all") / slowest
}

/// The pipeline's wall time over the cpu stage's alone, both with one cpu thread: the
/// overlap where the slowest stage leaves a core to the others.
pub fn spare_overlap(round: &std::collections::HashMap<&'static str, Fields>) -> f64 {
    let secs = |stage| round.get(stage).map_or(f64::NAN, |r| number(r, "seconds"));
    secs(SPARE_ALL) / secs(SPARE_CPU).max(secs("read")).max(secs("write"))
}

/// The pipeline's wall time over its slowest stage alone, reads from the disk: the read
/// stage alone and the pipeline with their files out of the page cache; the cpu stage's
/// input is in memory either way.
pub fn cold_overlap(round: &std::collections::HashMap<&'static str, Fields>) -> f64 {
    let secs = |stage| round.get(stage).map_or(f64::NAN, |r| number(r, "seconds"));
    secs(COLD_ALL) / secs(COLD_READ).max(secs("cpu")).max(secs("write"))
}

/// The least wall time the three stages' CPU time allows on this machine's cores, over
/// the slowest stage's wall time: when stages compete for the same cores (reads from
/// the page cache are the kernel copying, on a CPU), overlap cannot beat this.
pub fn cpu_floor(round: &std::collections::HashMap<&'static str, Fields>) -> f64 {
    let of = |stage, field| round.get(stage).map_or(f64::NAN, |r| number(r, field));
    let cpu = of("read", "cpu_seconds") + of("cpu", "cpu_seconds") + of("write", "cpu_seconds");
    let slowest = of("read", "seconds")
        .max(of("cpu", "seconds"))
        .max(of("write", "seconds"));
    cpu / cores() as f64 / slowest
}

/// This machine's cores.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The median (NaN for none).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Lowest–highest.
pub fn spread(values: &[f64]) -> String {
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{low:.3}–{high:.3}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overlap_is_the_pipeline_over_its_slowest_stage() {
        let run = |seconds: &str| Fields::from([("seconds".to_owned(), seconds.to_owned())]);
        let round = std::collections::HashMap::from([
            ("read", run("2.0")),
            ("cpu", run("4.0")),
            ("write", run("0.5")),
            ("all", run("5.0")),
        ]);
        assert_eq!(overlap(&round), 1.25);
        let mut cold = round.clone();
        cold.insert(COLD_READ, run("5.0"));
        cold.insert(COLD_ALL, run("5.5"));
        assert_eq!(cold_overlap(&cold), 1.1);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0]), 2.5);
    }
}
