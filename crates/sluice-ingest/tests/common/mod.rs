//! A generated tree for the end-to-end tests, small chunk settings, and a manager.

#![allow(dead_code)]

pub mod queue;

use sluice_ingest::IngestOptions;
use sluice_ingest::chunker::ChunkSizes;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Chunks small enough that a few hundred KiB make dozens of them.
pub fn small_options() -> IngestOptions {
    IngestOptions {
        sizes: ChunkSizes {
            min: 1024,
            avg: 4096,
            max: 16384,
        },
        max_pack_bytes: 64 * 1024,
        window: 4,
        ..IngestOptions::default()
    }
}

/// A manager as a program would build one.
pub fn manager() -> Result<sluice::ConcurrencyManager, sluice::BuildError> {
    sluice::ConcurrencyManager::builder()
        .cpu_threads(2)
        .io_threads(2)
        .build()
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("sluice-ingest-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Bytes that do not compress and do not repeat: FastCDC cuts them where their
/// content says.
pub fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect()
}

/// Whether this process runs as root (which reads files whatever their mode).
pub fn running_as_root(dir: &Path) -> std::io::Result<bool> {
    let probe = dir.join(".owner-probe");
    std::fs::write(&probe, "")?;
    let root = std::fs::metadata(&probe)?.uid() == 0;
    std::fs::remove_file(probe)?;
    Ok(root)
}

/// The tree of the end-to-end test: small files and a duplicate, an empty file, a
/// large file with an exact copy and a copy shifted by three bytes, a hidden file, a
/// FIFO, a symlink loop, a ring of links and a link to the parent directory, and two
/// files a hook changes while they are read (`moving.txt`, `restless.txt`).
pub fn make_tree(root: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(root.join("small"))?;
    std::fs::create_dir_all(root.join("data"))?;
    std::fs::write(root.join("small/a.txt"), "alpha\n".repeat(100))?;
    std::fs::write(root.join("small/b.txt"), "alpha\n".repeat(100))?;
    std::fs::write(root.join("small/c.txt"), "gamma\n".repeat(50))?;
    std::fs::write(root.join("empty.txt"), "")?;
    let big = noise(300_000, 7);
    std::fs::write(root.join("data/big.bin"), &big)?;
    std::fs::write(root.join("data/big-copy.bin"), &big)?;
    let mut shifted = b"xyz".to_vec();
    shifted.extend_from_slice(&big);
    std::fs::write(root.join("data/big-shifted.bin"), shifted)?;
    std::fs::write(root.join("moving.txt"), "before")?;
    std::fs::write(root.join("restless.txt"), "calm")?;
    std::fs::write(root.join(".hidden"), "not hidden from the store")?;
    let made = std::process::Command::new("mkfifo")
        .arg(root.join("fifo"))
        .status()?;
    assert!(made.success(), "mkfifo failed");
    std::os::unix::fs::symlink("loop", root.join("loop"))?;
    std::os::unix::fs::symlink("ring2", root.join("ring1"))?;
    std::os::unix::fs::symlink("ring1", root.join("ring2"))?;
    std::os::unix::fs::symlink("..", root.join("up"))?;
    Ok(())
}
