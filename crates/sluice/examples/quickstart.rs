//! Pushes real work through all three routes and prints the snapshot.
//!
//! Run with `cargo run --release --example quickstart`.

#![allow(clippy::print_stdout)]

use sluice::{ConcurrencyManager, TaskError};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mgr = ConcurrencyManager::builder().build()?;

    // IO: list this crate's source directory on the blocking pool.
    let files = mgr
        .run_io_blocking(|| {
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src")).map(|dir| {
                dir.filter_map(Result::ok)
                    .map(|e| e.path())
                    .collect::<Vec<_>>()
            })
        })
        .wait()??;

    // IO, async: read every file concurrently, in order.
    let contents = mgr
        .map_io(files.clone(), |path| async move {
            tokio::fs::read(path).await.unwrap_or_default()
        })
        .wait()?;

    // CPU: a checksum per file on the rayon pool.
    let sums = mgr
        .map_cpu(contents, |bytes| {
            bytes
                .iter()
                .fold(0u64, |h, &b| h.rotate_left(5) ^ u64::from(b))
        })
        .wait()?;

    // Chunks: ten million tiny items on the work-stealing pool.
    let squares = mgr
        .map_chunks(0..10_000_000u64, |x| x.wrapping_mul(x) % 7)
        .wait()?;
    let total: u64 = squares.iter().sum();

    // A fallible task's own error comes back flat.
    let parsed = mgr.try_run_cpu(|| "not a number".parse::<u32>()).wait();
    assert!(matches!(parsed, Err(TaskError::Failed(_))));

    for (path, sum) in files.iter().zip(&sums) {
        println!("{sum:016x}  {}", path.display());
    }
    println!("sum of squares mod 7 over 10M items: {total}");
    let report = mgr.shutdown(Duration::from_secs(5));
    println!("{}", report.snapshot.to_json());
    Ok(())
}
