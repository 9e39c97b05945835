//! `sluice-ingest`: reads a directory through Sluice — walks it, reads every file,
//! hashes and analyses it, counts words, finds duplicates — and prints a report.
//!
//! This file parses the command line, picks the directory, builds the manager and
//! wires the stages together; see `pipeline.rs` for the stages.

#![forbid(unsafe_code)]
// This binary is a CLI: the report goes to stdout and usage errors to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod analyse;
mod args;
mod pipeline;
mod report;
mod walk;

use args::{Command, Options};
use sluice::TaskError;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How long shutdown waits for work still running.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let options = match args::parse(std::env::args_os().skip(1)) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("sluice-ingest: {error}");
            eprintln!("Run `sluice-ingest --help` for usage.");
            return ExitCode::from(2);
        }
    };
    init_tracing();
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sluice-ingest: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, at the level `RUST_LOG` sets (default: warnings).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Ingests the directory `options` name and prints the report.
fn run(options: Options) -> Result<(), String> {
    let (dir, source) = choose_dir(options.dir.clone());
    if !options.json {
        // Said before the work starts, so a slow run shows what it is reading.
        emit(&format!("ingesting {} ...\n\n", dir.display()))?;
    }
    // sluice.toml (or $SLUICE_CONFIG) and SLUICE_ variables first; flags override them.
    let config = sluice::config::Config::load()
        .map_err(|error| format!("bad Sluice configuration: {error}"))?;
    let mut builder = config
        .builder()
        .map_err(|error| format!("bad Sluice configuration: {error}"))?;
    if let Some(n) = options.cpu_threads {
        builder = builder.cpu_threads(n);
    }
    if let Some(n) = options.io_threads {
        builder = builder.io_threads(n);
    }
    if let Some(n) = options.chunk_threads {
        builder = builder.chunk_threads(n);
    }
    let mgr = builder
        .build()
        .map_err(|error| format!("cannot start Sluice: {error}"))?;

    let began = Instant::now();
    let root = dir.clone();
    let max_file_bytes = options.max_file_bytes;
    let mut walked = mgr
        .try_run_io_blocking(move || walk::walk(&root, max_file_bytes))
        .wait()
        .map_err(|error| match error {
            TaskError::Failed(io) => format!("cannot walk {}: {io}", dir.display()),
            other => format!("cannot walk {}: {other}", dir.display()),
        })?;
    tracing::info!(
        files = walked.files.len(),
        elapsed_ms = began.elapsed().as_millis() as u64,
        "walk done"
    );
    let files = std::mem::take(&mut walked.files);
    let totals = pipeline::ingest(&mgr, files, max_file_bytes)
        .map_err(|error| format!("ingestion failed: {error}"))?;
    let elapsed = began.elapsed();

    let snapshot = mgr.snapshot();
    let shutdown = mgr.shutdown(SHUTDOWN_TIMEOUT);
    let report = report::Report::new((&dir, &source), &walked, &totals, max_file_bytes, elapsed)
        .with_sluice(snapshot, &shutdown);
    if options.json {
        let json = report
            .to_json()
            .map_err(|error| format!("cannot write JSON: {error}"))?;
        emit(&format!("{json}\n"))
    } else {
        emit(&report.to_text())
    }
}

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error.
fn emit(text: &str) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write the report: {error}"))
        }
        _ => Ok(()),
    }
}

/// The directory to ingest and why: the one given; else the toolchain's library
/// sources; else the crate sources cargo downloaded to build this program (always there
/// after a build, thousands of real files); else the workspace this binary was built from.
fn choose_dir(given: Option<PathBuf>) -> (PathBuf, String) {
    if let Some(dir) = given {
        return (dir, "given on the command line".to_owned());
    }
    let library_missing = match rust_library_sources() {
        Ok(dir) => {
            return (
                dir,
                "default: the Rust toolchain's library sources, from `rustc --print sysroot`"
                    .to_owned(),
            );
        }
        Err(why_not) => why_not,
    };
    if let Some(registry) = cargo_registry_sources() {
        return (
            registry,
            format!(
                "default: the crate sources cargo downloaded to build this program, since {library_missing}"
            ),
        );
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let workspace = workspace.canonicalize().unwrap_or(workspace);
    (
        workspace,
        format!(
            "default: the workspace this binary was built from, since {library_missing} and no cargo registry sources were found"
        ),
    )
}

/// `$CARGO_HOME/registry/src` (or `~/.cargo/registry/src`), if it exists.
fn cargo_registry_sources() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))?;
    let sources = home.join("registry").join("src");
    sources.is_dir().then_some(sources)
}

/// `$(rustc --print sysroot)/lib/rustlib/src/rust/library`, if it exists; else why not.
fn rust_library_sources() -> Result<PathBuf, String> {
    let output = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map_err(|error| format!("`rustc --print sysroot` could not run: {error}"))?;
    if !output.status.success() {
        return Err(format!("`rustc --print sysroot` failed: {}", output.status));
    }
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let library = Path::new(&sysroot).join("lib/rustlib/src/rust/library");
    if library.is_dir() {
        Ok(library)
    } else {
        Err(format!(
            "{} does not exist (`rustup component add rust-src` installs it)",
            library.display()
        ))
    }
}
