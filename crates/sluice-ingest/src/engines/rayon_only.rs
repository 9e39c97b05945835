//! The rayon-only composition: the files to read are a rayon parallel iterator on a
//! pool of their own (`window` threads: as many files in flight as the pipeline), read,
//! chunked and hashed there; their new chunks go raw through a bounded channel to the
//! one writer, the calling thread, which compresses them on rayon's global pool (at
//! most `window` at once) and appends them in order; no Sluice. What a program built
//! on rayon alone would do, for `cargo xtask bench ingest` to measure against.
//!
//! Two pools, because a rayon worker that blocks (a reader waiting for room in the
//! channel) cannot run the compressions the writer waits for: on one pool the run
//! could stall with every worker blocked.

use super::common::{self, Packed};
use crate::hash::ChunkHash;
use crate::options::{IngestError, IngestOptions};
use crate::read::{self, ReadError, ReadFile};
use crate::report::Totals;
use crate::store::{Store, StoreError};
use crate::walk::Walk;
use rayon::iter::{IntoParallelRefIterator, ParallelIterator};
use sluice::ConcurrencyManager;
use std::collections::{HashSet, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::sync::{Mutex, PoisonError};

/// What a reader sends the writer.
enum Message {
    /// A chunk first seen by this run, raw.
    Chunk(ChunkHash, Vec<u8>),
    /// A file's read ended (index into the walk).
    Done(usize, Result<ReadFile, ReadError>),
    /// A file not taken because the run was stopped.
    NotTaken,
}

/// Ingests the entries of `walk` (taken under `root`) into `store` as a new snapshot on
/// rayon alone; the same contract as [`crate::pipeline::ingest`], whose signature it
/// shares (the manager is not used).
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
    let window = opts.window.max(1);
    let readers = rayon::ThreadPoolBuilder::new()
        .num_threads(window)
        .thread_name(|n| format!("ingest-read-{n}"))
        .build()
        .map_err(|error| StoreError::Io {
            what: "cannot start rayon's reading threads for",
            path: root.to_path_buf(),
            source: std::io::Error::other(error),
        })?;
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
    let (tx, rx) = sync_channel::<Message>(window);
    std::thread::scope(|scope| {
        let claims = &claims;
        scope.spawn(move || {
            readers.install(|| {
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
        });
        // Returning early drops `rx`: every reader's next send fails, the readers end,
        // and the scope waits for them.
        write(&rx, walk, opts, &mut run)
    })?;
    run.finish()
}

/// The writer: takes the readers' messages until every reader is done, compressing new
/// chunks on rayon's global pool and appending them in the order they came.
fn write(
    rx: &Receiver<Message>,
    walk: &Walk,
    opts: &IngestOptions,
    run: &mut common::Begun,
) -> Result<(), IngestError> {
    let window = opts.window.max(1);
    let mut compressing: VecDeque<Receiver<Packed>> = VecDeque::new();
    for message in rx {
        match message {
            Message::Chunk(hash, raw) => {
                if compressing.len() >= window
                    && let Some(oldest) = compressing.pop_front()
                {
                    store(&oldest, run)?;
                }
                let (done, answer) = channel();
                let compression = opts.compression;
                rayon::spawn(move || {
                    let _ = done.send(common::pack(hash, raw, compression));
                });
                compressing.push_back(answer);
            }
            Message::Done(index, result) => {
                let entry = &walk.entries[index];
                run.record_read(entry, result)?;
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
    while let Some(oldest) = compressing.pop_front() {
        store(&oldest, run)?;
    }
    Ok(())
}

/// Waits for a compression and appends its chunk. A compression that panicked is the
/// run's failure, as a failed compression task is in the pipeline.
fn store(answer: &Receiver<Packed>, run: &mut common::Begun) -> Result<(), IngestError> {
    let packed = answer.recv().map_err(|_| {
        IngestError::Task(sluice::TaskError::Panicked(
            "a compression on rayon panicked".into(),
        ))
    })?;
    Ok(common::store_packed(
        packed,
        &mut run.writer,
        &mut run.totals,
    )?)
}

/// Reads one file on a reading thread, sending the chunks this run sees first. A
/// panic in the read is answered as the file's problem, as Sluice answers a panicking
/// task, so one bad file never takes the run down.
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
            !first || tx.send(Message::Chunk(hash, raw)).is_ok()
        })
    }));
    read.unwrap_or_else(|_| {
        Err(ReadError::Io(std::io::Error::other(
            "the read panicked; see the log",
        )))
    })
}
