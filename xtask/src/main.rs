//! Project automation, reached as `cargo xtask <command>`.
//!
//! - `ci`: everything CI checks — format, clippy, rustdoc, the tests, the loom suite, a
//!   short stress run with a fixed seed and one with a random seed, and
//!   a smoke run of the benchmark runner. `.ci/run` calls exactly this.
//! - `loom`: the loom model-checking suite of `sluice-core`.
//! - `bench [--quick]`: the interleaved anchor-vs-Sluice measurements, written to
//!   `docs/benchmarks.md`.
//! - `bench ingest [--quick]`: sluice-ingest against its rayon-only and sequential
//!   compositions, restic, borg and the compute floor on a generated tree, written to
//!   the Ingest section of `docs/benchmarks.md` (see `bench_ingest.rs`).
//! - `bench memory [--quick]`: the memory and overlap checks of streamed maps (peak
//!   RSS of streamed results, a three-stage pipeline against its stages alone), written
//!   to the "Memory and overlap" section of `docs/benchmarks.md` (see `bench_memory.rs`).
//! - `bench queue [--quick]`: the PostgreSQL queue's Sluice workers against a raw SQL
//!   loop of the same statements, and an idle worker's wake-up, written to the Queue
//!   section of `docs/benchmarks.md` (see `bench_queue.rs`).
//! - `stress --queue [--smoke] [--workers N] [--tasks N] [--keys N]`: the PostgreSQL
//!   queue's worker processes under faults, and its judge (see `stress_queue.rs`).
//! - `stress [--seeds N] [harness arguments]`: the stress harness in release (see
//!   `stress.rs` and `crates/sluice-stress`).

#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod bench_allocations;
mod bench_ingest;
mod bench_ingest_page;
mod bench_ingest_stats;
mod bench_memory;
mod bench_memory_page;
mod bench_queue;
mod bench_queue_page;
mod bench_tools;
mod bench_tree;
mod page_section;
mod run;
mod stress;
mod stress_queue;
#[cfg(test)]
mod tidy;

use run::{Step, cargo};
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <ci | loom | bench [ingest | memory | queue] [--quick] | stress [--seeds N] [--tasks N] [--seconds S] [--seed X] [--smoke] | stress --queue [--smoke] [--workers N] [--tasks N] [--keys N]>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["ci"] => ci(),
        ["loom"] => loom(),
        ["bench"] => bench::run(false),
        ["bench", "--quick"] => bench::run(true),
        ["bench", "ingest"] => bench_ingest::run(false),
        ["bench", "ingest", "--quick"] => bench_ingest::run(true),
        ["bench", "memory"] => bench_memory::run(false),
        ["bench", "memory", "--quick"] => bench_memory::run(true),
        ["bench", "queue"] => bench_queue::run(false),
        ["bench", "queue", "--quick"] => bench_queue::run(true),
        ["stress", "--queue", ..] => stress_queue::run(&args[2..]),
        ["stress", ..] => stress::run(&args[1..]),
        _ => Err(format!("unknown arguments {args:?}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn ci() -> Result<(), String> {
    let steps = [
        Step::new("format", cargo(&["fmt", "--all", "--", "--check"])),
        Step::new(
            "clippy",
            cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings",
            ]),
        ),
        Step::new("rustdoc", rustdoc_command()),
        // With every optional feature: the Prometheus example is built with the tests,
        // and its test scrapes it; the progress bar's test and doctests run.
        // PostgreSQL's server binaries for sluice-postgres's throwaway test servers,
        // installed once here so that the test binaries do not race to apt-get.
        Step::new(
            "postgres",
            cargo(&[
                "run",
                "--quiet",
                "-p",
                "sluice-postgres",
                "--features",
                "testing",
                "--bin",
                "sluice-pg-ensure",
            ]),
        ),
        Step::new("tests", cargo(&["test", "--workspace", "--all-features"])),
        Step::new("loom", loom_command()),
        // The stress harness, short: one fixed seed, then a random one (printed).
        Step::new("stress smoke", stress_smoke(Some(SMOKE_SEED))),
        Step::new("stress random", stress_smoke(None)),
        // The queue under faults, short (about 15 s): 4 worker processes, a kill -9,
        // a SIGSTOP past the lease, an immediate server restart, then the judge.
        Step::new("queue stress smoke", stress_queue::smoke()),
        Step::new(
            "bench smoke",
            cargo(&[
                "run",
                "--quiet",
                "-p",
                "sluice-benches",
                "--bin",
                "pairs",
                "--",
                "--smoke",
            ]),
        ),
        // Issue 17's bound on streamed results' memory, with fewer results than the
        // bench's 200 k: a peak RSS, not a time, so it may fail CI.
        Step::new(
            "memory smoke",
            cargo(&[
                "run",
                "--quiet",
                "-p",
                "sluice-benches",
                "--bin",
                "stream_memory",
                "--",
                "results",
                "--items",
                "50000",
                "--max-rss-mb",
                "32",
            ]),
        ),
    ];
    run::all(steps)
}

/// The fixed seed of CI's stress smoke run.
const SMOKE_SEED: &str = "0x5eed";

/// `sluice-stress --smoke`, in the dev profile that the tests have already built.
fn stress_smoke(seed: Option<&str>) -> std::process::Command {
    let mut command = cargo(&["run", "--quiet", "-p", "sluice-stress", "--", "--smoke"]);
    if let Some(seed) = seed {
        command.args(["--seed", seed]);
    }
    command
}

/// Rustdoc with every warning an error (broken intra-doc links, bad code blocks).
fn rustdoc_command() -> std::process::Command {
    let mut command = cargo(&["doc", "--workspace", "--no-deps", "--all-features"]);
    command.env("RUSTDOCFLAGS", "-D warnings");
    command
}

fn loom() -> Result<(), String> {
    run::all([Step::new("loom", loom_command())])
}

/// The loom suite: `--cfg sluice_loom` (never a bare `loom`, which would switch on
/// tokio's own loom code), in release, in its own target directory so that the main
/// build's cache survives.
fn loom_command() -> std::process::Command {
    let mut command = cargo(&["test", "-p", "sluice-core", "--release", "--tests"]);
    command
        .env("RUSTFLAGS", "--cfg sluice_loom")
        .env(
            "CARGO_TARGET_DIR",
            run::workspace_root().join("target").join("loom"),
        )
        .env("LOOM_MAX_PREEMPTIONS", "2")
        .env("LOOM_MAX_BRANCHES", "10000");
    command
}
