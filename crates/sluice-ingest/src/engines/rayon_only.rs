//! The rayon-only composition: the files to read are a rayon parallel iterator (read,
//! chunked, hashed and their new chunks compressed on rayon's global pool), feeding a
//! bounded channel to the one writer, the calling thread; no Sluice. What a program
//! built on rayon alone would do, for `cargo xtask bench ingest` to measure against.
//! Memory is bounded by rayon's threads (one file each, two maximum chunks of buffer)
//! and the channel (`window` compressed chunks).

use super::common::{self, Packed, file_row};
use crate::hash::ChunkHash;
use crate::options::{IngestError, IngestOptions};
use crate::read::{self, ReadError, ReadFile};
use crate::report::Totals;
use crate::store::Store;
use crate::walk::Walk;
use rayon::iter::{IntoParallelRefIterator, ParallelIterator};
use sluice::ConcurrencyManager;
use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Mutex, PoisonError};

/// What a reader sends the writer.
enum Message {
    /// A chunk first seen by this run, compressed.
    Chunk(Packed),
    /// A file's read ended (index into the walk).
    Done(usize, Result<ReadFile, ReadError>),
    /// A file not taken because the run was stopped.
    NotTaken,
}

/// Ingests the entries of `walk` (taken under `root`) into `store` as a new snapshot,
/// reading on rayon's global pool; the same contract as [`crate::pipeline::ingest`],
/// whose signature it shares (the manager is not used).
///
/// # Examples
///
/// ```
/// use sluice_ingest::{IngestOptions, engines::rayon_only, store::Store, walk};
/// use std::sync::atomic::AtomicBool;
///
/// let tmp = std::env::temp_dir().join(format!("sluice-rayon-only-doc-{}", std::process::id()));
/// std::fs::create_dir_all(tmp.join("tree"))?;
/// std::fs::write(tmp.join("tree/log.txt"), "line\n".repeat(1000))?;
/// let root = tmp.join("tree").canonicalize()?;
/// let walked = walk::walk(&root, &[])?;
///
/// let mgr = sluice::ConcurrencyManager::builder().build()?;
/// let store = Store::open(&tmp.join("store"))?;
/// let stop = AtomicBool::new(false);
/// let totals = rayon_only::ingest(&mgr, &root, &walked, &store, &IngestOptions::default(), &stop)?;
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
    let claims = Mutex::new(std::mem::take(&mut run.known));
    // Entries that are not read are recorded first, on this thread; only files are
    // handed to rayon.
    let mut to_read = Vec::new();
    for (index, entry) in walk.entries.iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            run.totals.stopped = true;
            run.totals.not_taken += 1;
        } else if !run.record_unread(root, entry)? {
            to_read.push(index);
        }
    }
    let (tx, rx) = sync_channel::<Message>(opts.window.max(1));
    std::thread::scope(|scope| {
        let claims = &claims;
        scope.spawn(move || {
            to_read.par_iter().for_each_with(tx, |tx, &index| {
                if stop.load(Ordering::Relaxed) {
                    let _ = tx.send(Message::NotTaken);
                    return;
                }
                let path = root.join(&walk.entries[index].path);
                let result = read_one(&path, opts, claims, tx);
                // A closed channel means the writer failed; its error is the answer.
                let _ = tx.send(Message::Done(index, result));
            });
        });
        // The writer: returning early drops `rx`, so every reader's next send fails
        // and the readers end; the scope waits for them.
        for message in rx {
            match message {
                Message::Chunk(packed) => {
                    common::store_packed(packed, &mut run.writer, &mut run.totals)?;
                }
                Message::Done(index, result) => {
                    let entry = &walk.entries[index];
                    match result {
                        Ok(read) => {
                            run.totals.read(&read);
                            run.distinct.extend(read.chunks.iter().copied());
                            let mut row = file_row(entry, read.chunks);
                            row.stat = read.stat;
                            run.writer.add_file(row)?;
                        }
                        Err(error) => run
                            .totals
                            .problems
                            .push((entry.path.clone(), error.to_string())),
                    }
                }
                Message::NotTaken => {
                    run.totals.stopped = true;
                    run.totals.not_taken += 1;
                }
            }
            if let Some(report) = &opts.progress {
                report(&run.totals.progress());
            }
        }
        Ok::<(), IngestError>(())
    })?;
    run.finish()
}

/// Reads one file on a rayon thread, compressing and sending the chunks this run sees
/// first. A panic in the read is answered as the file's problem, as Sluice answers a
/// panicking task, so one bad file never takes the run down.
fn read_one(
    path: &Path,
    opts: &IngestOptions,
    claims: &Mutex<HashSet<ChunkHash>>,
    tx: &SyncSender<Message>,
) -> Result<ReadFile, ReadError> {
    let read = catch_unwind(AssertUnwindSafe(|| {
        read::read_file(path, opts.sizes, opts.hook.as_ref(), &mut |hash, raw| {
            // Only the first reader of a chunk sends it: the rest name it.
            let first = claims
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(hash);
            !first
                || tx
                    .send(Message::Chunk(common::pack(hash, raw, opts.compression)))
                    .is_ok()
        })
    }));
    read.unwrap_or_else(|_| {
        Err(ReadError::Io(std::io::Error::other(
            "the read panicked; see the log",
        )))
    })
}
