//! The sequential composition: one thread walks the entries in order, reads, chunks and
//! hashes each file, compresses each new chunk and appends it, with no Sluice and no
//! other thread. The baseline that `cargo xtask bench ingest` measures the concurrent
//! engines against; memory is one file's chunker buffer and one chunk.

use super::common;
use crate::hash::ChunkHash;
use crate::options::{IngestError, IngestOptions};
use crate::read;
use crate::report::Totals;
use crate::store::{Store, StoreError};
use crate::walk::Walk;
use sluice::ConcurrencyManager;
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Ingests the entries of `walk` (taken under `root`) into `store` as a new snapshot,
/// on the calling thread; the same contract as [`crate::pipeline::ingest`], whose
/// signature it shares (the manager is not used).
///
/// # Examples
///
/// ```
/// use sluice_ingest::{IngestOptions, engines::sequential, store::Store, walk};
/// use std::sync::atomic::AtomicBool;
///
/// let tmp = std::env::temp_dir().join(format!("sluice-sequential-doc-{}", std::process::id()));
/// std::fs::create_dir_all(tmp.join("tree"))?;
/// std::fs::write(tmp.join("tree/log.txt"), "line\n".repeat(1000))?;
/// let root = tmp.join("tree").canonicalize()?;
/// let walked = walk::walk(&root, &[])?;
///
/// let mgr = sluice::ConcurrencyManager::builder().build()?;
/// let store = Store::open(&tmp.join("store"))?;
/// let stop = AtomicBool::new(false);
/// let totals = sequential::ingest(&mgr, &root, &walked, &store, &IngestOptions::default(), &stop)?;
/// assert_eq!((totals.files_read, totals.write.files_recorded), (1, 1));
/// # std::fs::remove_dir_all(&tmp)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn ingest(
    _mgr: &ConcurrencyManager,
    root: &Path,
    walk: &Walk,
    store: &Store,
    opts: &IngestOptions,
    stop: &AtomicBool,
) -> Result<Totals, IngestError> {
    let mut run = common::begin(root, walk, store, opts)?;
    // Chunks this run has appended, beside those the store held.
    let mut seen: HashSet<ChunkHash> = std::mem::take(&mut run.known);
    for entry in &walk.entries {
        if stop.load(Ordering::Relaxed) {
            run.totals.stopped = true;
            run.totals.not_taken += 1;
            continue;
        }
        if !run.record_unread(root, entry)? {
            let mut failed: Option<StoreError> = None;
            let result = read::read_file(
                &root.join(&entry.path),
                opts.sizes,
                opts.hook.as_ref(),
                &mut |hash, raw| {
                    if !seen.insert(hash) {
                        return true;
                    }
                    let packed = common::pack(hash, raw, opts.compression);
                    match common::store_packed(packed, &mut run.writer, &mut run.totals) {
                        Ok(()) => true,
                        Err(error) => {
                            failed = Some(error);
                            false
                        }
                    }
                },
            );
            if let Some(error) = failed {
                return Err(error.into());
            }
            run.record_read(entry, result)?;
        }
        if let Some(report) = &opts.progress {
            report(&run.totals.progress());
        }
    }
    run.finish()
}
