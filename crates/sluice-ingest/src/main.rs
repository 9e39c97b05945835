//! `sluice-ingest`: the command line over the `sluice_ingest` library — parses the
//! arguments, opens the store, runs the subcommand and prints its answer.

#![forbid(unsafe_code)]
// This binary is a CLI: answers go to stdout, progress and errors to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;
mod defaults;
mod progress;
mod queued;
mod show;
mod sluice_config;

use clap::Parser;
use cli::{Cli, Command, IngestArgs};
use sluice::signal::SignalOptions;
use sluice_ingest::chunker::ChunkSizes;
use sluice_ingest::commands::{self, list, restore, verify};
use sluice_ingest::distributed::Batching;
use sluice_ingest::engines::Engine;
use sluice_ingest::store::Store;
use sluice_ingest::{IngestOptions, ingest_tree_with};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// How long shutdown waits for work still running.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long files in flight get to finish after SIGINT or SIGTERM.
const SIGNAL_DEADLINE: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli) {
        Ok(code) => code,
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

/// Runs the subcommand; answers the exit code (verify fails on damage).
fn run(cli: Cli) -> Result<ExitCode, String> {
    let store_dir = match cli.store.clone() {
        Some(dir) => dir,
        None => defaults::store_dir()?,
    };
    let json = cli.json;
    let existing = || Store::existing(&store_dir).map_err(|error| error.to_string());
    let queue = cli.queue.clone();
    let command = cli.command.unwrap_or(Command::Ingest(cli.ingest));
    match command {
        Command::Ingest(args) => ingest(args, &store_dir, json, queue.as_deref()),
        Command::Worker(args) => {
            let url = queue.ok_or("`worker` needs --queue URL (or SLUICE_INGEST_QUEUE)")?;
            queued::worker(&args, &url, &store_dir, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify => {
            let report = verify::verify(&existing()?).map_err(|e| e.to_string())?;
            show::verify(&report, json)?;
            Ok(if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Restore {
            snapshot,
            path,
            dest,
        } => {
            let store = existing()?;
            let id = resolve(&store, &snapshot)?;
            let report = restore::restore(&store, id, &path, &dest).map_err(|e| e.to_string())?;
            show::restored(&report, &dest, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Cat { snapshot, path } => {
            let store = existing()?;
            let id = resolve(&store, &snapshot)?;
            let mut out = std::io::stdout().lock();
            match restore::cat(&store, id, &path, &mut out) {
                Err(commands::CommandError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => {
                    other.map_err(|e| e.to_string())?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ls { snapshot, path } => {
            let store = existing()?;
            let id = resolve(&store, &snapshot)?;
            show::ls(
                &list::ls(&store, id, &path).map_err(|e| e.to_string())?,
                json,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Snapshots => {
            show::snapshots(
                &list::snapshots(&existing()?).map_err(|e| e.to_string())?,
                json,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dups { snapshot } => {
            let store = existing()?;
            let id = resolve(&store, &snapshot)?;
            show::dups(&list::dups(&store, id).map_err(|e| e.to_string())?, json)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn resolve(store: &Store, snapshot: &str) -> Result<i64, String> {
    let catalog = store.catalog().map_err(|e| e.to_string())?;
    commands::resolve_snapshot(&catalog, snapshot).map_err(|e| e.to_string())
}

/// Ingests the directory `args` name (or the default tree) and prints the report;
/// with a `queue` URL, through the queue's workers.
fn ingest(
    args: IngestArgs,
    store_dir: &Path,
    json: bool,
    queue: Option<&str>,
) -> Result<ExitCode, String> {
    let sizes = ChunkSizes {
        min: args.min_chunk,
        avg: args.avg_chunk,
        max: args.max_chunk,
    }
    .validated()?;
    if args.window == 0 {
        return Err("--window must be at least 1".to_owned());
    }
    if args.pack_size < 64 * 1024 {
        return Err(format!(
            "--pack-size must be at least 64K, not {} bytes",
            args.pack_size
        ));
    }
    let batching = Batching {
        max_files: args.batch_files,
        max_bytes: u64::from(args.batch_bytes),
        ..Batching::default()
    };
    if queue.is_some() && (args.batch_files == 0 || args.batch_bytes == 0) {
        return Err("--batch-files and --batch-bytes must be at least 1".to_owned());
    }
    if queue.is_some() && args.engine != Engine::Sluice {
        return Err("--queue runs the sluice engine only".to_owned());
    }
    let (dir, why) = defaults::choose_dir(args.dir.clone());
    let store = Store::open(store_dir).map_err(|e| e.to_string())?;
    if !json {
        show::line(&format!(
            "ingesting {} ({why})\ninto the store {}\n",
            dir.display(),
            store_dir.display()
        ))?;
    }
    // sluice.toml (or $SLUICE_CONFIG) and SLUICE_ variables first; flags override them.
    let config = sluice_config::load()?;
    let mut builder = config
        .builder()
        .map_err(|e| format!("bad Sluice configuration: {e}"))?;
    if let Some(n) = args.cpu_threads {
        builder = builder.cpu_threads(n);
    }
    if let Some(n) = args.io_threads {
        builder = builder.io_threads(n);
    }
    let mgr = builder
        .build()
        .map_err(|e| format!("cannot start Sluice: {e}"))?;
    let (observer, bar) = progress::observer(json);
    let opts = IngestOptions {
        sizes,
        compression: args.compression,
        max_pack_bytes: u64::from(args.pack_size),
        window: args.window,
        hook: read_delay(args.read_delay_ms),
        progress: observer,
    };
    // SIGINT or SIGTERM shuts the manager down: the walk takes no more files, files in
    // flight finish (for up to `SIGNAL_DEADLINE`), the snapshot is committed as partial
    // and the report printed; the next run completes it. A second signal ends the wait.
    let signals = mgr
        .shutdown_on_signal(SignalOptions::new().deadline(SIGNAL_DEADLINE))
        .map_err(|e| format!("cannot listen for signals: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let report = match queue {
        Some(url) => queued::ingest(&mgr, url, &dir, &store, &opts, batching, &stop),
        None => ingest_tree_with(&mgr, &dir, &store, &opts, &stop, args.engine)
            .map_err(|e| e.to_string()),
    };
    if let Some(signal) = signals.signal() {
        tracing::warn!("stopped by {signal}: what was read is committed; run again to finish");
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = report?;
    let shutdown = mgr.shutdown(SHUTDOWN_TIMEOUT);
    if !shutdown.drained {
        tracing::warn!("Sluice did not drain within {SHUTDOWN_TIMEOUT:?}");
    }
    show::report(&report, json)?;
    Ok(ExitCode::SUCCESS)
}

/// The hidden `--read-delay-ms`: a pause before each file's read.
fn read_delay(ms: u64) -> Option<sluice_ingest::read::ReadHook> {
    (ms > 0).then(|| {
        let pause = Duration::from_millis(ms);
        let hook: sluice_ingest::read::ReadHook = Arc::new(move |_: &std::path::Path, _: u32| {
            std::thread::sleep(pause);
        });
        hook
    })
}
