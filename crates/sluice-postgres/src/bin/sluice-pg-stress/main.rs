//! `sluice-pg-stress`: the queue under faults at scale. Worker *processes* share one
//! throwaway server; mid-run one is killed (`SIGKILL`), one is stopped past its lease
//! (`SIGSTOP`, then `SIGCONT`: its late results must be refused), and the server is
//! restarted at once (`pg_ctl -m immediate`). Then the judge (`judge.rs`) reads the
//! database: every task completed or dead exactly once as planned, no attempt run by
//! two owners, no per-key order violation, counts equal.
//!
//! `cargo xtask stress --queue` runs it long (8 workers, 100,000 tasks, 2,000 keys);
//! `--smoke` is the short version the tests run. Exits non-zero on any violation.

mod coordinate;
mod judge;
mod worker;

use std::io::Write;
use std::process::ExitCode;

/// What a run does.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Worker processes.
    pub workers: usize,
    /// Tasks enqueued.
    pub tasks: usize,
    /// Distinct keys.
    pub keys: usize,
    /// Each worker's lease, ms.
    pub lease_ms: u64,
    /// How long the run may take before it is a hang, s.
    pub give_up_s: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("worker") => match (args.get(1), args.get(2).and_then(|ms| ms.parse().ok())) {
            (Some(url), Some(lease_ms)) => worker::run(url, lease_ms).await,
            _ => Err("usage: sluice-pg-stress worker URL LEASE_MS".into()),
        },
        _ => match plan(&args) {
            Ok(plan) => coordinate::run(plan).await,
            Err(error) => Err(error.into()),
        },
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "sluice-pg-stress: {}", chain(&*error));
            ExitCode::FAILURE
        }
    }
}

/// The plan from `[--smoke] [--workers N] [--tasks N] [--keys N]`.
fn plan(args: &[String]) -> Result<Plan, String> {
    let mut plan = if args.iter().any(|a| a == "--smoke") {
        Plan {
            workers: 4,
            tasks: 4_000,
            keys: 200,
            lease_ms: 1_000,
            give_up_s: 300,
        }
    } else {
        Plan {
            workers: 8,
            tasks: 100_000,
            keys: 2_000,
            lease_ms: 2_000,
            give_up_s: 3_600,
        }
    };
    let mut rest = args.iter().filter(|a| *a != "--smoke");
    while let Some(flag) = rest.next() {
        let value = rest
            .next()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&v| v > 0)
            .ok_or_else(|| format!("{flag} takes a number above 0"))?;
        match flag.as_str() {
            "--workers" if value >= 3 => plan.workers = value,
            "--workers" => {
                return Err("--workers must be at least 3 (one killed, one stopped)".into());
            }
            "--tasks" => plan.tasks = value,
            "--keys" => plan.keys = value,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: sluice-pg-stress [--smoke] [--workers N] [--tasks N] [--keys N]"
                ));
            }
        }
    }
    Ok(plan)
}

/// An error with its sources (tokio-postgres puts the server's words in the source).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
