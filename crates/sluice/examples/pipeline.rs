//! A three-stage pipeline over a real directory, streamed end to end:
//! read files (io) → hash and compress them (cpu) → write a summary (io).
//!
//! No stage collects: each takes the stream of the one before, the stages overlap,
//! and memory is the stages' buffers, whatever the size of the tree.
//!
//! ```sh
//! cargo run --release -p sluice --example pipeline -- [DIR] [SUMMARY]
//! ```
//! `DIR` defaults to this crate's sources, `SUMMARY` to `target/pipeline-summary.txt`.

#![allow(clippy::print_stdout)] // an example prints its result

use futures::StreamExt;
use sluice::{ConcurrencyManager, StreamOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What stage two makes of a file.
struct Digest {
    path: PathBuf,
    bytes: usize,
    compressed: usize,
    hash: blake3::Hash,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let root = args.next().map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        PathBuf::from,
    );
    let summary = args.next().map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/pipeline-summary.txt"),
        PathBuf::from,
    );
    let began = Instant::now();
    let mgr = ConcurrencyManager::builder().build()?;

    // Stage 1 (io): read every file of the tree; the walk itself is lazy.
    let files = walk(&root);
    let read = mgr
        .stream(StreamOptions::new().unordered().buffer(64))
        .try_io(files, |path| async move {
            let bytes = tokio::fs::read(&path).await?;
            Ok::<_, std::io::Error>((path, bytes))
        });

    // Stage 2 (cpu): hash and compress each file as it arrives.
    let digests = mgr
        .stream(StreamOptions::new().unordered())
        .cpu(read, |read| {
            read.map(|(path, bytes)| Digest {
                hash: blake3::hash(&bytes),
                compressed: run_length(&bytes),
                bytes: bytes.len(),
                path,
            })
        });

    // Stage 3 (io): one writer appends each line of the summary as results come.
    let mut out = std::io::BufWriter::new(std::fs::File::create(&summary)?);
    let (mut files, mut bytes, mut compressed, mut failed) = (0u64, 0u64, 0u64, 0u64);
    let mut lines = futures::executor::block_on_stream(digests.map(|digest| match digest {
        Ok(Ok(digest)) => Ok(digest),
        Ok(Err(error)) => Err(error.to_string()),
        Err(error) => Err(error.to_string()),
    }));
    for line in &mut lines {
        match line {
            Ok(d) => {
                files += 1;
                bytes += d.bytes as u64;
                compressed += d.compressed as u64;
                writeln!(out, "{} {:>9} {}", d.hash, d.bytes, d.path.display())?;
            }
            Err(error) => {
                failed += 1;
                writeln!(out, "error: {error}")?;
            }
        }
    }
    out.flush()?;
    let seconds = began.elapsed().as_secs_f64();
    println!(
        "{files} files, {bytes} bytes ({compressed} run-length encoded), {failed} unreadable, \
         in {seconds:.2} s; summary in {}",
        summary.display()
    );
    mgr.shutdown(std::time::Duration::from_secs(5));
    Ok(())
}

/// The files under `root`, lazily (directories read as the walk goes).
fn walk(root: &Path) -> impl Iterator<Item = PathBuf> + Send + 'static {
    let mut pending = vec![root.to_path_buf()];
    std::iter::from_fn(move || {
        while let Some(path) = pending.pop() {
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => {
                    if let Ok(entries) = std::fs::read_dir(&path) {
                        pending.extend(entries.flatten().map(|entry| entry.path()));
                    }
                }
                Ok(meta) if meta.is_file() => return Some(path),
                _ => {}
            }
        }
        None
    })
}

/// The size of `bytes` run-length encoded: a compression stage's CPU work, without a
/// codec dependency in this example.
fn run_length(bytes: &[u8]) -> usize {
    bytes
        .chunk_by(|a, b| a == b)
        .map(|run| 1 + run.len().div_ceil(255))
        .sum()
}
