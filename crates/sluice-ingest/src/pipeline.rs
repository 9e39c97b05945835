//! The composition of the stages on Sluice's streamed maps: three stages that
//! overlap, with memory bounded by their buffers whatever the tree or a file's size.
//!
//! ```text
//! entries ─► read + chunk + hash (chunk-route stream, one item a file) ─► files done ─┐
//!                 └─ first sight of a chunk: raw, over a bounded channel              ├─► writer (this thread)
//!                        └─► compress (cpu stream over the channel) ─► compressed ────┘
//! ```
//!
//! The two stages run on different pools (the chunk pool reads, the CPU pool
//! compresses): a reader blocked on the full channel holds a chunk thread, never the
//! thread that would empty the channel.
//!
//! The calling thread is the store's one writer: it takes both streams as they come and
//! records a file only once the pack holding its chunks is durable (`StoreWriter`). A
//! stop flag ends the input of the first stage: files in flight finish, and the
//! snapshot is committed as partial.

use crate::engines::common::{self, Begun, Packed};
use crate::hash::ChunkHash;
pub use crate::options::{IngestError, IngestOptions, ProgressFn};
use crate::read::{self, ReadError, ReadFile};
use crate::report::Totals;
use crate::store::Store;
use crate::walk::Walk;
use futures::StreamExt;
use sluice::{ConcurrencyManager, StreamOptions, TaskError};
use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

/// What the writer takes from the two streams.
enum Message {
    /// A file's read ended (index into the walk).
    File(Result<(usize, Result<ReadFile, ReadError>), TaskError>),
    /// A new chunk, compressed.
    Chunk(Result<Packed, TaskError>),
}

/// Ingests the entries of `walk` (taken under `root`) into `store` as a new snapshot.
/// When `stop` is set, no further file is taken, files in flight are finished, and
/// the snapshot is committed as incomplete: the next run reads only what is missing.
///
/// # Examples
///
/// ```
/// use sluice_ingest::{IngestOptions, pipeline, store::Store, walk};
/// use std::sync::Arc;
/// use std::sync::atomic::AtomicBool;
///
/// let tmp = std::env::temp_dir().join(format!("sluice-pipeline-doc-{}", std::process::id()));
/// std::fs::create_dir_all(tmp.join("tree"))?;
/// std::fs::write(tmp.join("tree/log.txt"), "line\n".repeat(1000))?;
/// let root = tmp.join("tree").canonicalize()?;
/// let walked = walk::walk(&root, &[])?;
///
/// let mgr = sluice::ConcurrencyManager::builder().build()?;
/// let store = Store::open(&tmp.join("store"))?;
/// let stop = Arc::new(AtomicBool::new(false));
/// let totals = pipeline::ingest(&mgr, &root, &walked, &store, &IngestOptions::default(), &stop)?;
/// assert_eq!((totals.files_read, totals.write.files_recorded), (1, 1));
/// assert!(totals.compression_ratio() > 10.0);
/// # std::fs::remove_dir_all(&tmp)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn ingest(
    mgr: &ConcurrencyManager,
    root: &Path,
    walk: &Walk,
    store: &Store,
    opts: &IngestOptions,
    stop: &Arc<AtomicBool>,
) -> Result<Totals, IngestError> {
    let run = common::begin(root, walk, store, opts)?;
    run_stages(mgr, root, walk, run, opts, stop)?.finish()
}

/// The stages over a run that has begun (a whole snapshot, or a worker's batch of
/// one); answers the run, with its writer not yet closed.
pub(crate) fn run_stages(
    mgr: &ConcurrencyManager,
    root: &Path,
    walk: &Walk,
    mut run: Begun,
    opts: &IngestOptions,
    stop: &Arc<AtomicBool>,
) -> Result<Begun, IngestError> {
    let claims = Arc::new(Mutex::new(run.known.clone()));
    let progress = |totals: &Totals| {
        if let Some(report) = &opts.progress {
            report(&totals.progress());
        }
    };

    // Entries that need no read are recorded here and now; the rest feed stage one.
    let mut to_read = Vec::new();
    for (index, entry) in walk.entries.iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            run.totals.stopped = true;
            run.totals.not_taken += 1;
            continue;
        }
        if !run.record_unread(root, entry)? {
            to_read.push(index);
        }
        progress(&run.totals);
    }

    let window = opts.window.max(1);
    let not_taken = Arc::new(AtomicU64::new(0));
    let (chunk_tx, chunk_rx) = sync_channel::<(ChunkHash, Vec<u8>)>(window);
    let files = read_stage(
        mgr, root, walk, to_read, opts, &claims, chunk_tx, stop, &not_taken,
    );
    let compression = opts.compression;
    let chunks = mgr
        .stream(StreamOptions::new().unordered().buffer(window))
        .cpu(chunk_rx, move |(hash, raw): (ChunkHash, Vec<u8>)| {
            common::pack(hash, raw, compression)
        });
    let merged = futures::stream::select(files.map(Message::File), chunks.map(Message::Chunk));
    for message in futures::executor::block_on_stream(merged) {
        match message {
            Message::Chunk(Ok(packed)) => {
                common::store_packed(packed, &mut run.writer, &mut run.totals)?;
            }
            // The compress stage was cut short (a shutdown past its deadline): the files
            // naming chunks it never stored are left out by the writer, and said so.
            Message::Chunk(Err(error)) => {
                run.totals.stopped = true;
                tracing::warn!("sluice-ingest: compression ended early: {error}");
            }
            Message::File(Ok((index, result))) => {
                run.record_read(&walk.entries[index], result)?;
            }
            // The read stage itself was cut short (a shutdown past its deadline).
            Message::File(Err(error)) => {
                run.totals.stopped = true;
                tracing::warn!("sluice-ingest: reading ended early: {error}");
            }
        }
        progress(&run.totals);
    }
    run.totals.not_taken += not_taken.load(Ordering::Relaxed);
    run.totals.stopped |= not_taken.load(Ordering::Relaxed) > 0;
    Ok(run)
}

/// Stage one: every file to read, on the chunk pool (many small files: units of
/// several), at most `window` files' results ahead of the writer; each file is read,
/// chunked and hashed, and the first reader of a chunk sends it raw to the compress
/// stage. Answers each file's index with how its read ended.
#[allow(clippy::too_many_arguments)]
fn read_stage(
    mgr: &ConcurrencyManager,
    root: &Path,
    walk: &Walk,
    to_read: Vec<usize>,
    opts: &IngestOptions,
    claims: &Arc<Mutex<HashSet<ChunkHash>>>,
    chunk_tx: SyncSender<(ChunkHash, Vec<u8>)>,
    stop: &Arc<AtomicBool>,
    not_taken: &Arc<AtomicU64>,
) -> sluice::MapStream<(usize, Result<ReadFile, ReadError>)> {
    let paths: Vec<(usize, PathBuf)> = to_read
        .into_iter()
        .map(|index| (index, root.join(&walk.entries[index].path)))
        .collect();
    let total = paths.len() as u64;
    let stop_flag = Arc::clone(stop);
    let skipped = not_taken.clone();
    let watched = mgr.clone();
    // The input ends at a stop: what was not taken is counted.
    let mut taken = 0u64;
    let input = paths.into_iter().map_while(move |item| {
        // A signal shuts the manager down (`shutdown_on_signal`): no more files either.
        if stop_flag.load(Ordering::Relaxed) || watched.is_shutting_down() {
            skipped.store(total - taken, Ordering::Relaxed);
            return None;
        }
        taken += 1;
        Some(item)
    });
    let (sizes, hook, claims) = (opts.sizes, opts.hook.clone(), Arc::clone(claims));
    // One chunker buffer per reading thread (up to twice the maximum chunk), kept from
    // file to file: allocated per file, and freed on other threads, it left glibc's
    // per-thread arenas holding their high-water marks.
    mgr.stream(StreamOptions::new().unordered().buffer(opts.window.max(1)))
        .chunks_init(
            input,
            Vec::new,
            move |scratch, (index, path): (usize, PathBuf)| {
                let send = |hash, raw| {
                    // Only the first reader of a chunk sends it: the rest name it.
                    let first = claims
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(hash);
                    !first || chunk_tx.send((hash, raw)).is_ok()
                };
                // A panic in the read is this file's problem, not the run's: it keeps the
                // file's index, which an item's own panic answer would not.
                let read = catch_unwind(AssertUnwindSafe(|| {
                    read::read_file_with(&path, sizes, hook.as_ref(), scratch, &mut |hash, raw| {
                        send(hash, raw)
                    })
                }));
                let result = read.unwrap_or_else(|_| {
                    Err(ReadError::Io(std::io::Error::other("the read panicked")))
                });
                (index, result)
            },
        )
}
