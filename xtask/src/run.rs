//! Running steps: cargo commands with inherited output, timed, stopping at the first
//! failure.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// One named command.
pub struct Step {
    /// What it checks, for the summary.
    name: &'static str,
    /// The command.
    command: Command,
}

impl Step {
    pub fn new(name: &'static str, command: Command) -> Self {
        Step { name, command }
    }
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// `cargo <args>` in the workspace root, with the cargo that runs xtask.
pub fn cargo(args: &[&str]) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(args).current_dir(workspace_root());
    command
}

/// Builds `bin` of `package` in release and returns the path of the program.
pub fn release_binary(package: &str, bin: &str) -> Result<PathBuf, String> {
    release_binary_with(package, bin, &[])
}

/// As [`release_binary`], with the package's `features` on.
pub fn release_binary_with(package: &str, bin: &str, features: &[&str]) -> Result<PathBuf, String> {
    let mut args = vec!["build", "--release", "-p", package, "--bin", bin];
    let features = features.join(",");
    if !features.is_empty() {
        args.extend(["--features", &features]);
    }
    let built = cargo(&args)
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !built.success() {
        return Err(format!("building {bin} failed"));
    }
    Ok(workspace_root().join("target").join("release").join(bin))
}

/// Runs every step in order; fails at the first that fails. Prints a timing summary.
pub fn all(steps: impl IntoIterator<Item = Step>) -> Result<(), String> {
    let began = Instant::now();
    let mut timings = Vec::new();
    for mut step in steps {
        eprintln!("xtask: == {} ==", step.name);
        let started = Instant::now();
        let status = step
            .command
            .status()
            .map_err(|error| format!("{}: could not start: {error}", step.name))?;
        let seconds = started.elapsed().as_secs_f64();
        timings.push((step.name, seconds));
        if !status.success() {
            return Err(format!(
                "{} failed ({status}) after {seconds:.1}s",
                step.name
            ));
        }
    }
    eprintln!(
        "xtask: all steps passed in {:.1}s",
        began.elapsed().as_secs_f64()
    );
    for (name, seconds) in timings {
        eprintln!("xtask:   {name:<12} {seconds:>7.1}s");
    }
    Ok(())
}
