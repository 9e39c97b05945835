//! End to end on a generated tree: exact counts, deduplication as constructed, verify,
//! restore, incremental re-runs, and files that change or vanish while the run reads.

mod common;

use common::{make_tree, manager, running_as_root, scratch, small_options};
use sluice_ingest::chunker;
use sluice_ingest::commands::{list, restore, verify};
use sluice_ingest::hash::ChunkHash;
use sluice_ingest::read::ReadHook;
use sluice_ingest::store::Store;
use sluice_ingest::walk::Kind;
use sluice_ingest::{IngestOptions, ingest_tree};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Changes `moving.txt` during its first read only (so it is read again and recorded)
/// and `restless.txt` during every read (so it is reported and not recorded).
fn changing_hook() -> ReadHook {
    Arc::new(|path: &Path, attempt: u32| {
        let name = path.file_name().and_then(|name| name.to_str());
        let _ = match (name, attempt) {
            (Some("moving.txt"), 0) => std::fs::write(path, "after, and longer"),
            (Some("restless.txt"), 0) => std::fs::write(path, "restless 1"),
            (Some("restless.txt"), _) => std::fs::write(path, "restless, twice over"),
            _ => Ok(()),
        };
    })
}

/// The distinct chunks of `files` (paths under `root`) as the chunker cuts them.
fn distinct_chunks(
    root: &Path,
    files: &[PathBuf],
    opts: &IngestOptions,
) -> std::io::Result<HashSet<ChunkHash>> {
    let mut distinct = HashSet::new();
    for file in files {
        for chunk in chunker::chunks(std::fs::File::open(root.join(file))?, opts.sizes) {
            distinct.insert(ChunkHash::of(&chunk?));
        }
    }
    Ok(distinct)
}

#[test]
fn ingests_the_tree_exactly_and_restores_it() -> TestResult {
    let dir = scratch("tree")?;
    let tree = dir.join("tree");
    make_tree(&tree)?;
    let as_root = running_as_root(&dir)?;
    if as_root {
        // Root reads a file whatever its mode, so no mode makes one unreadable here.
        eprintln!("running as root: the unreadable-file case is not exercised");
    } else {
        std::fs::write(tree.join("locked.txt"), "secret")?;
        std::fs::set_permissions(
            tree.join("locked.txt"),
            std::os::unix::fs::PermissionsExt::from_mode(0o000),
        )?;
    }
    let store = Store::open(&dir.join("store"))?;
    let opts = IngestOptions {
        hook: Some(changing_hook()),
        ..small_options()
    };
    let mgr = manager()?;
    let report = ingest_tree(
        &mgr,
        &tree,
        &store,
        &opts,
        &Arc::new(AtomicBool::new(false)),
    )?;
    let t = &report.totals;

    let locked = u64::from(!as_root);
    assert_eq!(t.walked_files, 10 + locked);
    assert_eq!(t.files_read, 9, "{:?}", t.problems);
    assert_eq!(t.files_reread, 1);
    assert_eq!((t.dirs, t.symlinks, t.special_files), (2, 4, 1));
    assert_eq!(t.problems.len() as u64, 1 + locked);
    assert!(
        t.problems
            .iter()
            .any(|(path, why)| path == Path::new("restless.txt")
                && why.contains("changed while read"))
    );
    assert!(t.skipped.is_empty());
    assert!(!t.stopped);

    // Deduplication as constructed: every distinct chunk of the recorded files is stored
    // once, plus the three contents read before a change was seen.
    let recorded: Vec<PathBuf> = [
        "small/a.txt",
        "small/b.txt",
        "small/c.txt",
        "empty.txt",
        "data/big.bin",
        "data/big-copy.bin",
        "data/big-shifted.bin",
        "moving.txt",
        ".hidden",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    let distinct = distinct_chunks(&tree, &recorded, &opts)?;
    assert_eq!(t.unique_chunks, distinct.len() as u64);
    assert_eq!(t.write.chunks_stored, distinct.len() as u64 + 3);
    let big = distinct_chunks(&tree, &[PathBuf::from("data/big.bin")], &opts)?;
    let shifted = distinct_chunks(&tree, &[PathBuf::from("data/big-shifted.bin")], &opts)?;
    assert!(big.len() >= 15, "{} chunks", big.len());
    assert!(
        big.intersection(&shifted).count() + 2 >= big.len(),
        "a shifted copy shares all but its first chunks"
    );
    assert!(report.dedup_ratio > 1.9, "{}", report.dedup_ratio);
    assert!(report.compression_ratio > 1.0);
    assert!(t.write.packs > 1, "packs are bounded at 64 KiB");

    assert!(verify::verify(&store)?.ok());
    let groups = list::dups(&store, t.snapshot)?;
    let groups: Vec<Vec<PathBuf>> = groups.into_iter().map(|group| group.paths).collect();
    assert_eq!(
        groups,
        [
            vec![
                PathBuf::from("data/big-copy.bin"),
                PathBuf::from("data/big.bin")
            ],
            vec![PathBuf::from("small/a.txt"), PathBuf::from("small/b.txt")]
        ]
    );

    // Restored bytes are the original's; links keep their targets; the FIFO is named.
    let out = dir.join("restored");
    let restored = restore::restore(&store, t.snapshot, Path::new("."), &out)?;
    assert_eq!(
        (restored.files, restored.dirs, restored.symlinks),
        (9, 2, 4)
    );
    assert_eq!(restored.not_recreated, [PathBuf::from("fifo")]);
    for file in &recorded {
        assert_eq!(
            std::fs::read(out.join(file))?,
            std::fs::read(tree.join(file))?,
            "{}",
            file.display()
        );
    }
    assert_eq!(
        std::fs::read_link(out.join("ring1"))?,
        PathBuf::from("ring2")
    );
    assert!(!out.join("restless.txt").exists());

    // Nothing changed but the restless file: the re-run reads only that one.
    let again = ingest_tree(
        &mgr,
        &tree,
        &store,
        &small_options(),
        &Arc::new(AtomicBool::new(false)),
    )?;
    assert_eq!(again.totals.parent, Some(t.snapshot));
    assert_eq!(
        (again.totals.files_read, again.totals.files_unchanged),
        (1, 9)
    );
    assert_eq!(again.totals.write.chunks_stored, 1);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn a_corrupted_byte_is_found_by_verify_with_file_and_chunk_named() -> TestResult {
    let dir = scratch("corrupt")?;
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree)?;
    std::fs::write(tree.join("victim.bin"), common::noise(50_000, 3))?;
    std::fs::write(tree.join("bystander.txt"), "untouched")?;
    let store = Store::open(&dir.join("store"))?;
    let report = ingest_tree(
        &manager()?,
        &tree,
        &store,
        &small_options(),
        &Arc::new(AtomicBool::new(false)),
    )?;
    let catalog = store.catalog()?;
    let victim = catalog.files(report.totals.snapshot, Path::new("victim.bin"))?;
    let chunk = victim[0].chunks[2];
    let row = catalog.locate(&[chunk])?[&chunk];
    let pack = store.packs().join(format!("{:08}.pack", row.at.pack));
    let mut bytes = std::fs::read(&pack)?;
    bytes[row.at.offset as usize + 10] ^= 0x01;
    std::fs::write(&pack, bytes)?;

    let found = verify::verify(&store)?;
    assert!(!found.ok());
    assert_eq!(found.bad.len(), 1);
    assert_eq!(found.bad[0].chunk, chunk.to_string());
    assert_eq!(
        found.bad[0].files,
        [(report.totals.snapshot, PathBuf::from("victim.bin"))]
    );
    let restored = restore::restore(
        &store,
        report.totals.snapshot,
        Path::new("victim.bin"),
        &dir.join("out"),
    );
    assert!(matches!(restored, Err(error) if error.to_string().contains(&chunk.short())));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn a_file_vanishing_after_the_walk_is_reported_not_recorded() -> TestResult {
    let dir = scratch("vanish")?;
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree)?;
    std::fs::write(tree.join("stays.txt"), "here")?;
    std::fs::write(tree.join("goes.txt"), "gone soon")?;
    let store = Store::open(&dir.join("store"))?;
    let tree = tree.canonicalize()?;
    let walked = sluice_ingest::walk::walk(&tree, &[])?;
    std::fs::remove_file(tree.join("goes.txt"))?;
    let totals = sluice_ingest::pipeline::ingest(
        &manager()?,
        &tree,
        &walked,
        &store,
        &small_options(),
        &Arc::new(AtomicBool::new(false)),
    )?;
    assert_eq!(totals.files_read, 1);
    assert_eq!(totals.problems.len(), 1);
    assert_eq!(totals.problems[0].0, PathBuf::from("goes.txt"));
    assert!(
        totals.problems[0].1.contains("No such file"),
        "{}",
        totals.problems[0].1
    );
    let rows = store.catalog()?.files(totals.snapshot, Path::new(""))?;
    let kinds: Vec<(PathBuf, Kind)> = rows.into_iter().map(|row| (row.path, row.kind)).collect();
    assert_eq!(kinds, [(PathBuf::from("stays.txt"), Kind::File)]);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn a_store_inside_the_tree_is_not_ingested_into_itself() -> TestResult {
    let dir = scratch("inside")?;
    std::fs::write(dir.join("data.txt"), "data")?;
    let store = Store::open(&dir.join(".store"))?;
    let report = ingest_tree(
        &manager()?,
        &dir,
        &store,
        &small_options(),
        &Arc::new(AtomicBool::new(false)),
    )?;
    assert_eq!(report.totals.files_read, 1);
    assert_eq!(
        report.totals.skipped,
        [(PathBuf::from(".store"), "the store itself".to_owned())]
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn a_file_swapped_for_a_fifo_after_the_walk_does_not_block_the_run() -> TestResult {
    let dir = scratch("swap")?;
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree)?;
    std::fs::write(tree.join("pipe"), "a file when walked")?;
    let tree = tree.canonicalize()?;
    let walked = sluice_ingest::walk::walk(&tree, &[])?;
    std::fs::remove_file(tree.join("pipe"))?;
    let made = std::process::Command::new("mkfifo")
        .arg(tree.join("pipe"))
        .status()?;
    assert!(made.success());
    let store = Store::open(&dir.join("store"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let totals = sluice_ingest::pipeline::ingest(
        &manager()?,
        &tree,
        &walked,
        &store,
        &small_options(),
        &stop,
    )?;
    assert_eq!(
        totals.problems,
        [(PathBuf::from("pipe"), "no longer a regular file".to_owned())]
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
