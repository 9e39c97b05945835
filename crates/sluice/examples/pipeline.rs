//! A three-stage pipeline over a real directory, streamed end to end:
//! read files in pieces (io) → hash and compress each piece (cpu) → write a summary.
//!
//! No stage collects: each takes the stream of the one before, the stages overlap,
//! and memory is the stages' buffers of pieces of at most [`PIECE`] bytes, whatever the
//! size of the tree or of its largest file.
//!
//! ```sh
//! cargo run --release -p sluice --example pipeline -- [DIR] [SUMMARY]
//! ```
//! `DIR` defaults to this crate's sources, `SUMMARY` to `target/pipeline-summary.txt`.

#![allow(clippy::print_stdout)] // an example prints its result

use futures::StreamExt;
use sluice::{ConcurrencyManager, StreamOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// The most bytes of a file read as one item: a large file is several pieces, so that
/// no buffer holds a whole file.
const PIECE: u64 = 1 << 20;

/// A piece of a file to read, or a place the walk could not read.
enum Found {
    Piece {
        path: Arc<Path>,
        offset: u64,
        len: u64,
    },
    Unreadable {
        path: PathBuf,
        error: io::Error,
    },
}

/// What stage two makes of a piece.
struct Digest {
    path: Arc<Path>,
    offset: u64,
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

    // Stage 1 (io): read every piece of every file; the walk itself is lazy, and a
    // slow stage two stops it (at most 16 pieces wait).
    let read = mgr
        .stream(StreamOptions::new().unordered().buffer(16))
        .try_io(walk(&root), |found| async move {
            match found {
                Found::Piece { path, offset, len } => {
                    let mut file = tokio::fs::File::open(&path).await?;
                    file.seek(io::SeekFrom::Start(offset)).await?;
                    let mut bytes = Vec::with_capacity(len as usize);
                    (&mut file).take(len).read_to_end(&mut bytes).await?;
                    Ok((path, offset, bytes))
                }
                Found::Unreadable { path, error } => Err(io::Error::new(
                    error.kind(),
                    format!("{}: {error}", path.display()),
                )),
            }
        });

    // Stage 2 (cpu): hash and compress each piece as it arrives, with one zstd
    // compressor per worker thread (made by `init` once per thread, never per item).
    let digests = mgr.stream(StreamOptions::new().unordered()).cpu_init(
        read,
        || zstd::bulk::Compressor::new(1),
        |zstd, read| -> io::Result<Digest> {
            let (path, offset, bytes) = read.map_err(|e| io::Error::other(e.to_string()))?;
            let zstd = zstd
                .as_mut()
                .map_err(|e| io::Error::new(e.kind(), e.to_string()))?;
            Ok(Digest {
                hash: blake3::hash(&bytes),
                compressed: zstd.compress(&bytes)?.len(),
                bytes: bytes.len(),
                offset,
                path,
            })
        },
    );

    // Stage 3: one writer appends each line of the summary as results come.
    let mut out = io::BufWriter::new(std::fs::File::create(&summary)?);
    let (mut pieces, mut bytes, mut compressed, mut failed) = (0u64, 0u64, 0u64, 0u64);
    let mut lines = futures::executor::block_on_stream(digests.map(|digest| match digest {
        Ok(Ok(digest)) => Ok(digest),
        Ok(Err(error)) => Err(error.to_string()),
        Err(error) => Err(error.to_string()),
    }));
    for line in &mut lines {
        match line {
            Ok(d) => {
                pieces += 1;
                bytes += d.bytes as u64;
                compressed += d.compressed as u64;
                let (hash, len, path) = (d.hash, d.bytes, d.path.display());
                writeln!(out, "{hash} {len:>9} {path}@{}", d.offset)?;
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
        "{pieces} pieces, {bytes} bytes ({compressed} compressed with zstd), {failed} \
         unreadable, in {seconds:.2} s; summary in {}",
        summary.display()
    );
    mgr.shutdown(std::time::Duration::from_secs(5));
    Ok(())
}

/// The pieces of the files under `root`, lazily (directories read as the walk goes);
/// what cannot be read is an item too, so that it reaches the summary.
fn walk(root: &Path) -> impl Iterator<Item = Found> + Send + 'static {
    let mut pending = vec![root.to_path_buf()];
    let mut file: Option<(Arc<Path>, u64, u64)> = None;
    std::iter::from_fn(move || {
        loop {
            if let Some((path, offset, size)) = &mut file {
                if *offset < *size {
                    let len = (*size - *offset).min(PIECE);
                    let piece = Found::Piece {
                        path: path.clone(),
                        offset: *offset,
                        len,
                    };
                    *offset += len;
                    return Some(piece);
                }
                file = None;
            }
            let path = pending.pop()?;
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => match std::fs::read_dir(&path) {
                    Ok(entries) => {
                        for entry in entries {
                            match entry {
                                Ok(entry) => pending.push(entry.path()),
                                Err(error) => return Some(Found::Unreadable { path, error }),
                            }
                        }
                    }
                    Err(error) => return Some(Found::Unreadable { path, error }),
                },
                // An empty file is one empty piece, so that it is listed.
                Ok(meta) if meta.is_file() => file = Some((Arc::from(path), 0, meta.len().max(1))),
                Ok(_) => {}
                Err(error) => return Some(Found::Unreadable { path, error }),
            }
        }
    })
}
