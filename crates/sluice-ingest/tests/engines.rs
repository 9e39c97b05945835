//! The three compositions of the program — Sluice's pipeline, the sequential one and
//! the rayon-only one — record the same catalog from the same tree: the same files with
//! the same chunk lists, the same chunks stored once, the same problems reported; and
//! each store verifies and re-runs incrementally.

mod common;

use common::{make_tree, manager, noise, scratch, small_options};
use sluice_ingest::commands::verify;
use sluice_ingest::engines::Engine;
use sluice_ingest::hash::ChunkHash;
use sluice_ingest::read::ReadHook;
use sluice_ingest::report::Totals;
use sluice_ingest::store::Store;
use sluice_ingest::walk::Kind;
use sluice_ingest::{IngestOptions, ingest_tree_with};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A file as the catalog holds it, without what differs between two copies of a tree
/// (inode and modification time).
type Recorded = (PathBuf, Kind, u64, Option<PathBuf>, Vec<ChunkHash>);

/// What a store ends up holding after a run, and what the run counted.
#[derive(Debug, PartialEq)]
struct Outcome {
    files: Vec<Recorded>,
    chunks: BTreeSet<ChunkHash>,
    problems: Vec<PathBuf>,
    counts: [u64; 6],
}

/// The end-to-end tree plus enough files for several to be in flight at once: noise
/// files in a few directories, their copies, and copies shifted by three bytes.
fn make_wide_tree(root: &Path) -> std::io::Result<()> {
    make_tree(root)?;
    for dir in 0..4u32 {
        let at = root.join(format!("wide/{dir}"));
        std::fs::create_dir_all(&at)?;
        for file in 0..6u32 {
            let data = noise(20_000 + 9_000 * file as usize, dir * 10 + file);
            std::fs::write(at.join(format!("{file}.bin")), &data)?;
            if file % 2 == 0 {
                std::fs::write(at.join(format!("{file}-copy.bin")), &data)?;
                let mut shifted = b"abc".to_vec();
                shifted.extend_from_slice(&data);
                std::fs::write(at.join(format!("{file}-shifted.bin")), shifted)?;
            }
        }
    }
    Ok(())
}

/// Changes `restless.txt` during every read of the first run: reported, not recorded.
fn restless_hook() -> ReadHook {
    Arc::new(|path: &Path, attempt: u32| {
        if path.file_name().and_then(|name| name.to_str()) == Some("restless.txt") {
            let _ = std::fs::write(
                path,
                format!("restless {attempt}").repeat(attempt as usize + 1),
            );
        }
    })
}

fn outcome(
    store: &Store,
    snapshot: i64,
    totals: &Totals,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    let catalog = store.catalog()?;
    let mut files: Vec<Recorded> = catalog
        .files(snapshot, Path::new(""))?
        .into_iter()
        .map(|row| (row.path, row.kind, row.stat.size, row.target, row.chunks))
        .collect();
    files.sort();
    let chunks = catalog.chunks()?.into_iter().map(|row| row.hash).collect();
    let mut problems: Vec<PathBuf> = totals
        .problems
        .iter()
        .map(|(path, _)| path.clone())
        .collect();
    problems.sort();
    let counts = [
        totals.files_read,
        totals.files_unchanged,
        totals.chunks,
        totals.unique_chunks,
        totals.write.chunks_stored,
        totals.write.raw_bytes_stored,
    ];
    Ok(Outcome {
        files,
        chunks,
        problems,
        counts,
    })
}

/// Ingests a fresh copy of the tree with `engine`, twice; answers both outcomes.
fn ingest_twice(engine: Engine) -> Result<(Outcome, Outcome), Box<dyn std::error::Error>> {
    let dir = scratch(&format!("engine-{}", engine.name()))?;
    let tree = dir.join("tree");
    make_wide_tree(&tree)?;
    let store = Store::open(&dir.join("store"))?;
    let mgr = manager()?;
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let first_opts = IngestOptions {
        hook: Some(restless_hook()),
        ..small_options()
    };
    let first = ingest_tree_with(&mgr, &tree, &store, &first_opts, &stop, engine)?;
    let second = ingest_tree_with(&mgr, &tree, &store, &small_options(), &stop, engine)?;
    assert!(
        verify::verify(&store)?.ok(),
        "{} store fails verify",
        engine.name()
    );
    let outcomes = (
        outcome(&store, first.totals.snapshot, &first.totals)?,
        outcome(&store, second.totals.snapshot, &second.totals)?,
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(outcomes)
}

#[test]
fn every_engine_records_the_same_catalog() -> TestResult {
    let (sluice_first, sluice_again) = ingest_twice(Engine::Sluice)?;
    // The tree is what it was built to be: the copies cost no chunk, the restless file
    // is reported and left out, and the re-run reads only that file.
    assert_eq!(sluice_first.problems, [PathBuf::from("restless.txt")]);
    assert!(
        !sluice_first
            .files
            .iter()
            .any(|file| file.0 == Path::new("restless.txt"))
    );
    let [read, unchanged, chunks, unique, stored, _] = sluice_first.counts;
    assert_eq!((read, unchanged), (57, 0));
    // The copies add no chunk; the restless file's two attempts stored one chunk each
    // before it was found changing (harmless: nothing names them).
    assert!(unique < chunks, "{:?}", sluice_first.counts);
    assert_eq!(stored, unique + 2);
    assert_eq!(sluice_again.counts[..2], [1, 57]);
    assert!(sluice_again.problems.is_empty());
    for engine in [Engine::Sequential, Engine::Rayon] {
        let (first, again) = ingest_twice(engine)?;
        assert_eq!(
            first,
            sluice_first,
            "{} differs on the first run",
            engine.name()
        );
        assert_eq!(
            again,
            sluice_again,
            "{} differs on the re-run",
            engine.name()
        );
    }
    Ok(())
}

/// Many small files (each one chunk, shorter than the minimum: back with its file's
/// answer) and large compressible files (chunks compressed by their reader, or by the
/// compress stage while fewer files are in flight than cores and its channel, of one
/// place here, has room).
fn make_mixed_tree(root: &Path) -> std::io::Result<()> {
    for dir in 0..3u32 {
        let at = root.join(format!("src/{dir}"));
        std::fs::create_dir_all(&at)?;
        for file in 0..40u32 {
            let text = format!("fn item_{dir}_{file}() {{ {} }}\n", file % 7).repeat(12);
            std::fs::write(at.join(format!("{file}.rs")), text)?;
        }
    }
    std::fs::create_dir_all(root.join("lib"))?;
    for file in 0..4u32 {
        let lines: String = (0..12_000u32)
            .map(|line| format!("{file} {line} {:x}\n", line.wrapping_mul(2_654_435_761)))
            .collect();
        std::fs::write(root.join(format!("lib/{file}.txt")), &lines)?;
        std::fs::write(root.join(format!("lib/{file}-copy.txt")), &lines)?;
    }
    Ok(())
}

#[test]
fn small_chunks_compressed_by_readers_and_large_ones_store_what_the_sequential_engine_does()
-> TestResult {
    let mut seen = Vec::new();
    for engine in [Engine::Sluice, Engine::Sequential] {
        let dir = scratch(&format!("mixed-{}", engine.name()))?;
        let tree = dir.join("tree");
        make_mixed_tree(&tree)?;
        let store = Store::open(&dir.join("store"))?;
        let opts = IngestOptions {
            window: 1,
            ..small_options()
        };
        let stop = Arc::new(AtomicBool::new(false));
        let report = ingest_tree_with(&manager()?, &tree, &store, &opts, &stop, engine)?;
        let t = &report.totals;
        assert_eq!((t.files_read, t.write.files_recorded), (128, 128 + 5));
        assert!(t.problems.is_empty(), "{:?}", t.problems);
        assert!(
            report.compression_ratio > 2.0,
            "{}",
            report.compression_ratio
        );
        assert!(
            verify::verify(&store)?.ok(),
            "{} fails verify",
            engine.name()
        );
        seen.push((outcome(&store, t.snapshot, t)?, t.write.bytes_stored));
        std::fs::remove_dir_all(&dir)?;
    }
    // The same files, chunks and stored bytes, whichever thread compressed a chunk.
    assert_eq!(seen[0], seen[1]);
    Ok(())
}

#[test]
fn the_engine_is_chosen_on_the_command_line_and_a_bad_name_is_refused() -> TestResult {
    let dir = scratch("engine-cli")?;
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree)?;
    std::fs::write(tree.join("a.bin"), noise(40_000, 9))?;
    std::fs::write(tree.join("b.bin"), noise(40_000, 9))?;
    let ingest = |engine: &str, store: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sluice-ingest"))
            .arg("--store")
            .arg(dir.join(store))
            .args(["--json", "ingest", "--engine", engine])
            .arg(&tree)
            .output()
    };
    for engine in ["sequential", "rayon", "sluice"] {
        let output = ingest(engine, engine)?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{engine}: {output:?}");
        assert!(stdout.contains("\"files_read\": 2"), "{engine}: {stdout}");
    }
    let refused = ingest("tokio", "none")?;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("sluice, sequential or rayon"), "{stderr}");
    assert!(!dir.join("none").exists(), "a refused run created a store");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
