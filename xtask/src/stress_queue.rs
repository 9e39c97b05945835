//! `cargo xtask stress --queue [--smoke] [--workers N] [--tasks N] [--keys N]`: builds
//! `sluice-pg-stress` (`crates/sluice-postgres/src/bin/sluice-pg-stress/`) in release
//! and runs it: worker processes on a throwaway PostgreSQL server under a `kill -9`, a
//! `SIGSTOP` past the lease and an immediate server restart, then its judge. CI runs
//! the `--smoke` version in the dev profile ([`smoke`]).

use crate::run::{cargo, workspace_root};
use std::process::Command;

/// The arguments that select the bin (its build needs the `testing` feature).
const BIN: [&str; 6] = [
    "-p",
    "sluice-postgres",
    "--features",
    "testing",
    "--bin",
    "sluice-pg-stress",
];

/// Builds and runs the queue's stress program with `args`.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut build = vec!["build", "--release"];
    build.extend(BIN);
    let built = cargo(&build)
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !built.success() {
        return Err("building sluice-pg-stress failed".into());
    }
    let program = workspace_root()
        .join("target")
        .join("release")
        .join("sluice-pg-stress");
    let status = Command::new(&program)
        .args(args)
        .status()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    if !status.success() {
        return Err(format!(
            "the queue's stress run failed ({status}); see above"
        ));
    }
    Ok(())
}

/// CI's short run, in the dev profile: 4 worker processes, 4,000 tasks, every fault.
pub fn smoke() -> Command {
    let mut args = vec!["run", "--quiet"];
    args.extend(BIN);
    args.extend(["--", "--smoke"]);
    cargo(&args)
}
