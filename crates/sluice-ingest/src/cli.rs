//! The command line (clap, derive): `ingest [DIR]` (the default), `worker`, `verify`,
//! `restore`, `cat`, `ls`, `snapshots`, `dups`; `--store`, `--queue` and `--json` on
//! every one.

use clap::{Args, Parser, Subcommand};
use sluice_ingest::compress::Compression;
use sluice_ingest::engines::Engine;
use std::path::PathBuf;

/// Ingests a directory tree into a deduplicated, content-addressed store through Sluice.
#[derive(Debug, Parser)]
#[command(name = "sluice-ingest", version, subcommand_precedence_over_arg = true)]
pub struct Cli {
    /// The store directory (default: under the user's cache directory; printed).
    #[arg(long, global = true, env = "SLUICE_INGEST_STORE")]
    pub store: Option<PathBuf>,
    /// Prints the report as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// A PostgreSQL URL: `ingest` puts its files on this queue for `worker` processes
    /// writing to the same store, and `worker` takes them from it. Never printed with
    /// its password.
    #[arg(
        long,
        global = true,
        env = "SLUICE_INGEST_QUEUE",
        hide_env_values = true
    )]
    pub queue: Option<String>,
    /// What to do (default: ingest).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `ingest`'s arguments, when no subcommand is named.
    #[command(flatten)]
    pub ingest: IngestArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingests DIR as a new snapshot (the default subcommand).
    Ingest(IngestArgs),
    /// Ingests the batches `ingest --queue` puts on the queue, into the store (run as
    /// many as you like, on machines that see the tree at the same path and share the
    /// store); SIGTERM or SIGINT: stop claiming, finish, hand the rest back.
    Worker(WorkerArgs),
    /// Re-reads every chunk and checks its hash; names the files of a damaged one.
    Verify,
    /// Restores what SNAPSHOT holds at or under PATH into DEST/PATH.
    Restore {
        /// A snapshot number, or `latest`.
        snapshot: String,
        /// A path in the snapshot (`.` for everything).
        path: PathBuf,
        /// The directory to restore into.
        dest: PathBuf,
    },
    /// Writes one file of SNAPSHOT to stdout.
    Cat {
        /// A snapshot number, or `latest`.
        snapshot: String,
        /// The file's path in the snapshot.
        path: PathBuf,
    },
    /// Lists the entries of SNAPSHOT (default: latest) under PATH.
    Ls {
        /// A snapshot number, or `latest`.
        #[arg(default_value = "latest")]
        snapshot: String,
        /// A path in the snapshot.
        #[arg(default_value = ".")]
        path: PathBuf,
    },
    /// Lists the snapshots.
    Snapshots,
    /// Lists groups of identical files in SNAPSHOT (default: latest).
    Dups {
        /// A snapshot number, or `latest`.
        #[arg(default_value = "latest")]
        snapshot: String,
    },
}

/// How to ingest.
#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// The directory to ingest (default: the Rust toolchain's library sources, else the
    /// crate sources cargo downloaded, else this workspace).
    pub dir: Option<PathBuf>,
    /// Smallest chunk (bytes; K, M suffixes).
    #[arg(long, default_value = "512K", value_parser = parse_size)]
    pub min_chunk: u32,
    /// FastCDC's average parameter; chunks average about 1 MiB with the defaults, as
    /// restic's (its real mean lies above it: no cut is sought before the minimum).
    #[arg(long, default_value = "640K", value_parser = parse_size)]
    pub avg_chunk: u32,
    /// Largest chunk.
    #[arg(long, default_value = "8M", value_parser = parse_size)]
    pub max_chunk: u32,
    /// zstd level for new chunks (1-22), or `none`.
    #[arg(long, default_value = "3", value_parser = Compression::parse)]
    pub compression: Compression,
    /// A pack is closed once it holds this many bytes.
    #[arg(long, default_value = "32M", value_parser = parse_size)]
    pub pack_size: u32,
    /// Files read at once.
    #[arg(long, default_value_t = 8)]
    pub window: usize,
    /// CPU threads (default: Sluice's configuration).
    #[arg(long)]
    pub cpu_threads: Option<usize>,
    /// IO threads (default: Sluice's configuration).
    #[arg(long)]
    pub io_threads: Option<usize>,
    /// Waits this many milliseconds before each file is read: for tests that need a
    /// run still going when they signal it.
    #[arg(long, hide = true, default_value_t = 0)]
    pub read_delay_ms: u64,
    /// With `--queue`: files in one batch task at most.
    #[arg(long, default_value_t = 256)]
    pub batch_files: usize,
    /// With `--queue`: bytes in one batch task at most (a larger file is a batch of
    /// its own).
    #[arg(long, default_value = "256M", value_parser = parse_size)]
    pub batch_bytes: u32,
    /// The composition that runs the stages: `sluice` (the program), or `sequential` or
    /// `rayon` (the same stages without Sluice, for `cargo xtask bench ingest`).
    #[arg(long, hide = true, default_value = "sluice", value_parser = Engine::parse)]
    pub engine: Engine,
}

/// How a worker runs.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Batches ingested at once.
    #[arg(long, default_value_t = 1)]
    pub batches: usize,
    /// Seconds a claimed batch is held without a heartbeat: a worker that dies loses
    /// its batch to another after this long.
    #[arg(long, default_value_t = 30)]
    pub lease_secs: u64,
    /// CPU threads (default: Sluice's configuration).
    #[arg(long)]
    pub cpu_threads: Option<usize>,
    /// IO threads (default: Sluice's configuration).
    #[arg(long)]
    pub io_threads: Option<usize>,
    /// Waits this many milliseconds before each file is read: for tests that need a
    /// worker still busy when they kill it.
    #[arg(long, hide = true, default_value_t = 0)]
    pub read_delay_ms: u64,
}

/// Parses `4096`, `64K`, `1M` (binary units) into bytes.
fn parse_size(text: &str) -> Result<u32, String> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, ""),
    };
    let scale: u64 = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1,
        "K" => 1024,
        "M" => 1024 * 1024,
        _ => return Err(format!("`{text}` is not a size (like 4096, 64K or 1M)")),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("`{text}` is not a size below 4 GiB (like 4096, 64K or 1M)"))
}
