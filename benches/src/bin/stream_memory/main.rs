//! The memory and overlap checks of streamed maps behind `cargo xtask bench memory`
//! (issue 17): one scenario per run, so that the peak RSS the process reports at its
//! end (VmHWM from `/proc/self/status`) is that scenario's alone.
//!
//! ```sh
//! stream_memory results [--items N] [--buffer B] [--max-rss-mb M]
//! stream_memory pipeline --root DIR [--stage read|cpu|write|all] [--scale K]
//!                        [--mib M] [--read-ahead N] [--cpu-threads N] [--summary FILE]
//!                        [--cold]
//! ```
//!
//! - `results`: `stream_cpu(0..N, |i| vec![i as u8; 10_240])`, each result checked
//!   and dropped as it comes. With `--max-rss-mb` (decimal megabytes) the run fails when its peak RSS is
//!   above the bound (CI's smoke check).
//! - `pipeline`: read (io) → hash and compress (cpu) → write a summary (the consumer)
//!   over pieces of the real files under `--root` (see `pieces.rs`), or one stage alone
//!   (see `pipeline.rs`). With `--cold` the files are put out of the page cache first
//!   (see `cold.rs`), so that the reads come from the disk.
//!
//! Each run prints one line of `key=value` fields on stdout, which xtask reads.

#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cold;
mod pieces;
mod pipeline;

use pipeline::Stage;
use sluice::{ConcurrencyManager, StreamOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "usage: stream_memory results [--items N] [--buffer B] [--max-rss-mb M]\n       \
stream_memory pipeline --root DIR [--stage read|cpu|write|all] [--scale K] [--mib M] [--read-ahead N] [--cpu-threads N] [--summary FILE] [--cold]";

/// The size of each result of the `results` scenario, as in issue 17.
const RESULT_BYTES: usize = 10_240;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("results") => results(&args[1..]),
        Some("pipeline") => pipeline_run(&args[1..]),
        _ => Err(format!("no scenario given\n{USAGE}")),
    };
    match outcome {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("stream_memory: {message}");
            ExitCode::FAILURE
        }
    }
}

/// 200 k (or `--items`) results of 10 KB streamed and dropped one by one.
fn results(args: &[String]) -> Result<String, String> {
    let mut items: usize = 200_000;
    let mut max_rss_mb: Option<u64> = None;
    let mut options = StreamOptions::new();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--items" => items = number(flag, args.next())?,
            "--max-rss-mb" => max_rss_mb = Some(number(flag, args.next())?),
            "--buffer" => options = options.buffer(number(flag, args.next())?),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let mgr = ConcurrencyManager::builder()
        .build()
        .map_err(|e| format!("building the manager: {e}"))?;
    let began = Instant::now();
    let mut seen = 0usize;
    for (i, result) in mgr
        .stream(options)
        .cpu(0..items, |i| vec![i as u8; RESULT_BYTES])
        .into_iter()
        .enumerate()
    {
        let bytes = result.map_err(|e| format!("item {i}: {e}"))?;
        // In input order: each result is the one of its place, whole.
        if bytes.len() != RESULT_BYTES || bytes.iter().any(|&b| b != i as u8) {
            return Err(format!("item {i}: a wrong result"));
        }
        seen += 1;
    }
    let seconds = began.elapsed().as_secs_f64();
    mgr.shutdown(std::time::Duration::from_secs(5));
    if seen != items {
        return Err(format!("{seen} results for {items} items"));
    }
    let hwm = vm_hwm_kib()?;
    let line = format!("scenario=results items={items} seconds={seconds:.3} vmhwm_kib={hwm}");
    match max_rss_mb {
        Some(bound) if hwm * 1024 > bound * 1_000_000 => Err(format!(
            "peak RSS {:.1} MB is above the bound of {bound} MB ({line})",
            hwm as f64 * 1024.0 / 1e6
        )),
        _ => Ok(line),
    }
}

/// One stage of the pipeline, or all three, over the pieces of a real tree.
fn pipeline_run(args: &[String]) -> Result<String, String> {
    let mut root: Option<PathBuf> = None;
    let mut stage = Stage::All;
    let mut scale: usize = 1;
    let mut mib: u64 = 1024;
    let mut read_ahead = pipeline::READ_AHEAD;
    let mut cpu_threads: Option<usize> = None;
    let mut summary = std::env::temp_dir().join("sluice-stream-memory-summary.txt");
    let mut cold = false;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--root" => root = Some(PathBuf::from(text(flag, args.next())?)),
            "--stage" => stage = Stage::parse(&text(flag, args.next())?)?,
            "--scale" => scale = number(flag, args.next())?,
            "--mib" => mib = number(flag, args.next())?,
            "--read-ahead" => read_ahead = number(flag, args.next())?,
            "--cpu-threads" => cpu_threads = Some(number(flag, args.next())?),
            "--summary" => summary = PathBuf::from(text(flag, args.next())?),
            "--cold" => cold = true,
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let root = root.ok_or_else(|| format!("pipeline needs --root DIR\n{USAGE}"))?;
    if scale == 0 {
        return Err("--scale must be at least 1".into());
    }
    let pieces = pieces::Pieces::under(&root, mib * 1024 * 1024)?;
    let evicted = if cold { cold::evict(&pieces)? } else { 0 };
    let plan = pipeline::Plan {
        stage,
        scale,
        read_ahead,
        cpu_threads,
        summary: &summary,
    };
    let done = pipeline::run(&plan, &pieces)?;
    let hwm = vm_hwm_kib()?;
    Ok(format!(
        "scenario=pipeline stage={} scale={scale} items={} bytes={} seconds={:.3} \
         cpu_seconds={:.2} vmhwm_kib={hwm} distinct_pieces={} units={} read_ahead={read_ahead} cpu_threads={} failed={} \
         evicted_files={evicted}",
        stage.name(),
        done.items,
        done.bytes,
        done.seconds,
        done.cpu_seconds,
        pieces.len(),
        pieces.units(),
        cpu_threads.map_or_else(|| "default".to_owned(), |n| n.to_string()),
        done.failed,
    ))
}

/// The value of `flag`.
fn text(flag: &str, value: Option<&String>) -> Result<String, String> {
    value
        .cloned()
        .ok_or_else(|| format!("{flag} needs a value"))
}

/// The value of `flag`, a whole number.
fn number<T: std::str::FromStr>(flag: &str, value: Option<&String>) -> Result<T, String> {
    let value = text(flag, value)?;
    value
        .parse()
        .map_err(|_| format!("{flag}: {value:?} is not a whole number"))
}

/// This process's peak resident set size so far, in KiB (`VmHWM`).
fn vm_hwm_kib() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("reading /proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM in /proc/self/status".into())
}

/// CPU time this process has used so far, user and system, all its threads (dead ones
/// included), in seconds: fields 14 and 15 of `/proc/self/stat`, counted in the
/// kernel's USER_HZ, which is 100 on every architecture Linux ships.
pub fn cpu_seconds() -> Result<f64, String> {
    const USER_HZ: f64 = 100.0;
    let stat = std::fs::read_to_string("/proc/self/stat")
        .map_err(|e| format!("reading /proc/self/stat: {e}"))?;
    // The command name (field 2) may hold spaces; the fields after it are plain.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or("no command name in /proc/self/stat")?;
    let mut fields = after_name.split_whitespace().skip(11);
    let mut next = || -> Result<f64, String> {
        fields
            .next()
            .and_then(|t| t.parse::<f64>().ok())
            .ok_or_else(|| "no CPU times in /proc/self/stat".to_owned())
    };
    let (user, system) = (next()?, next()?);
    Ok((user + system) / USER_HZ)
}
