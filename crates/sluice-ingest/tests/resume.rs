//! A run stopped midway (its stop flag set, as SIGINT or SIGTERM will set it) records a
//! partial snapshot; the next run reads only what is missing, and the store ends with
//! the same catalog content as one uninterrupted run.

mod common;

use common::{manager, noise, scratch, small_options};
use sluice_ingest::hash::ChunkHash;
use sluice_ingest::read::ReadHook;
use sluice_ingest::store::Store;
use sluice_ingest::store::catalog::FileRow;
use sluice_ingest::{IngestOptions, ingest_tree};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The files of the latest snapshot and every chunk hash in `store`.
fn content(
    store: &Store,
) -> Result<(Vec<FileRow>, BTreeSet<ChunkHash>), Box<dyn std::error::Error>> {
    let catalog = store.catalog()?;
    let latest = catalog
        .snapshots()?
        .last()
        .map(|snapshot| snapshot.id)
        .ok_or("no snapshot")?;
    let files = catalog.files(latest, Path::new(""))?;
    let chunks = catalog.chunks()?.into_iter().map(|row| row.hash).collect();
    Ok((files, chunks))
}

#[test]
fn a_stopped_run_resumed_gives_the_catalog_of_an_uninterrupted_run() -> TestResult {
    let dir = scratch("resume")?;
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("sub"))?;
    for i in 0..12u32 {
        let place = if i % 2 == 0 { "" } else { "sub/" };
        std::fs::write(
            tree.join(format!("{place}file-{i:02}.bin")),
            noise(20_000 + i as usize * 1000, i),
        )?;
    }
    std::fs::write(tree.join("sub/copy.bin"), noise(20_000, 0))?;

    let whole = Store::open(&dir.join("whole"))?;
    ingest_tree(
        &manager()?,
        &tree,
        &whole,
        &small_options(),
        &Arc::new(AtomicBool::new(false)),
    )?;

    // Stop once five files are read: with one file in flight, exactly five are.
    let stop = Arc::new(AtomicBool::new(false));
    let opts = IngestOptions {
        hook: Some(stop_after(5, &stop)),
        window: 1,
        ..small_options()
    };
    let resumed = Store::open(&dir.join("resumed"))?;
    let mgr = manager()?;
    let first = ingest_tree(&mgr, &tree, &resumed, &opts, &stop)?;
    assert!(first.totals.stopped);
    assert_eq!(first.totals.files_read, 5);
    assert!(first.totals.not_taken > 0);
    assert!(!resumed.catalog()?.snapshots()?[0].complete);

    let second = ingest_tree(
        &mgr,
        &tree,
        &resumed,
        &small_options(),
        &Arc::new(AtomicBool::new(false)),
    )?;
    assert!(!second.totals.stopped);
    assert_eq!(
        (second.totals.files_unchanged, second.totals.files_read),
        (5, 8)
    );
    assert!(resumed.catalog()?.snapshots()?[1].complete);
    assert_eq!(content(&resumed)?, content(&whole)?);
    assert!(sluice_ingest::commands::verify::verify(&resumed)?.ok());
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Stops the run once `after` files have been read.
fn stop_after(after: usize, stop: &Arc<AtomicBool>) -> ReadHook {
    let (stop, reads) = (Arc::clone(stop), Arc::new(AtomicUsize::new(0)));
    Arc::new(move |_: &Path, _: u32| {
        if reads.fetch_add(1, Ordering::SeqCst) + 1 == after {
            stop.store(true, Ordering::SeqCst);
        }
    })
}

#[test]
fn a_run_after_a_stopped_one_reuses_what_the_last_complete_run_recorded() -> TestResult {
    let dir = scratch("chain")?;
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree)?;
    for i in 0..6u32 {
        std::fs::write(tree.join(format!("f{i}.bin")), noise(5_000, i))?;
    }
    let store = Store::open(&dir.join("store"))?;
    let mgr = manager()?;
    ingest_tree(
        &mgr,
        &tree,
        &store,
        &small_options(),
        &Arc::new(AtomicBool::new(false)),
    )?;

    // The next run is stopped before it takes anything: its snapshot is empty.
    let stopped = ingest_tree(
        &mgr,
        &tree,
        &store,
        &small_options(),
        &Arc::new(AtomicBool::new(true)),
    )?;
    assert!(stopped.totals.stopped);
    assert_eq!(stopped.totals.not_taken, 6);

    let last = ingest_tree(
        &mgr,
        &tree,
        &store,
        &small_options(),
        &Arc::new(AtomicBool::new(false)),
    )?;
    assert_eq!(
        (last.totals.files_read, last.totals.files_unchanged),
        (0, 6)
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
