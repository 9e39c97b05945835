//! The composition of the stages on Sluice's streamed maps: three stages that
//! overlap, with memory bounded by their buffers whatever the tree or a file's size.
//!
//! ```text
//! walk ─► entries ─► read + chunk + hash + compress the new chunks ─► files done ──────┐
//!                    (chunk-route stream, one item a file; a file's    (+ its last     │
//!                     large new chunks go to the writer as they are     chunk, if new) │
//!                     compressed, over a bounded channel) ─► compressed ───────────────┼─► writer
//!                 └─ fewer files in flight than cores: large new chunks raw, over a    │   (this thread)
//!                    bounded channel ─► compress (cpu stream over it) ─► compressed ───┘
//! ```
//!
//! The reader that cuts a new chunk compresses it, while its bytes are still in the
//! core's cache: with as many files in flight as cores, each core runs one reader and
//! nothing else, as the sequential version runs its one thread, and the run costs the
//! same CPU time as that version. Handing every chunk to a compress stage on the CPU
//! pool instead (how this pipeline began) cost ~7% more CPU on the bench tree — four
//! busy threads on two cores, the chunk carried from one core's cache to the other's,
//! and per chunk a channel send, a puller's wake-up and the writer's wake-up, which on
//! 16 k source files of ~23 KB (one chunk each) cost as much as compressing them —
//! and, with its readers asleep on the full channel, it sometimes ran on one core.
//! The compress stage remains for a run with fewer files in flight than cores (one
//! large file, or the last files of a tree): a large chunk goes there while its
//! channel has room, so that the idle cores compress it; with the channel full, its
//! reader compresses it rather than wait. A file's last chunk (shorter than the
//! minimum, and [`INLINE_MAX`]) travels back with its file's answer; the other
//! chunks a reader compresses go straight to the writer, so memory stays bounded by
//! the channels whatever a file's size.
//!
//! The two stages run on different pools (the chunk pool reads, the CPU pool
//! compresses): a reader blocked on a full channel holds a chunk thread, never the
//! thread that would empty the channel.
//!
//! The calling thread is the store's one writer: it takes the walk's entries and both
//! streams as they come, compares each entry with the parent snapshot as it arrives
//! (so the first files are read while the walk goes on), and records a file only once
//! the pack holding its chunks is durable (`StoreWriter`). A stop flag ends the input
//! of the first stage: files in flight finish, and the snapshot is committed as partial.

use crate::claims::Claims;
use crate::compress::Compression;
use crate::engines::common::{self, Begun, Packed};
use crate::hash::ChunkHash;
pub use crate::options::{IngestError, IngestOptions, ProgressFn};
use crate::read::{self, ReadError, ReadFile};
use crate::report::Totals;
use crate::store::Store;
use crate::walk::{Entry, Walk};
use futures::{SinkExt, Stream, StreamExt};
use sluice::{ConcurrencyManager, StreamOptions, TaskError};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TrySendError, channel, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

/// A new chunk shorter than this and than the minimum chunk size travels back to the
/// writer with its file's answer (see the module's text). Only a file's last chunk
/// can be shorter than the minimum, so an answer waiting for the writer holds at most
/// one such chunk per attempt at reading its file.
pub const INLINE_MAX: usize = 128 * 1024;

/// What the read stage answers for one file: its index among the files sent to be
/// read, how its read ended, and the small new chunks its reader compressed (stored
/// whatever the read's end: they may be named by other files too).
type FileDone = (usize, Result<ReadFile, ReadError>, Vec<Packed>);

/// What the writer takes from the walk and the two streams.
enum Message {
    /// The walk found an entry.
    Walked(Entry),
    /// The walk ended: no more files to read.
    WalkEnded,
    /// A file's read ended (index into the files sent to be read).
    File(Result<FileDone, TaskError>),
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
    run: Begun,
    opts: &IngestOptions,
    stop: &Arc<AtomicBool>,
) -> Result<Begun, IngestError> {
    let entries = futures::stream::iter(walk.entries.iter().cloned());
    run_entries(mgr, root, entries, run, opts, stop, false)
}

/// The stages over the entries of a walk as they come (a walk still under way, or
/// one done); with `count_walked`, the run's totals count the entries as walked (its
/// totals began without them). Answers the run, with its writer not yet closed.
pub(crate) fn run_entries(
    mgr: &ConcurrencyManager,
    root: &Path,
    entries: impl Stream<Item = Entry> + Unpin,
    mut run: Begun,
    opts: &IngestOptions,
    stop: &Arc<AtomicBool>,
    count_walked: bool,
) -> Result<Begun, IngestError> {
    let claims = Arc::new(Mutex::new(match run.lookup.take() {
        Some(catalog) => Claims::looked_up(catalog),
        None => Claims::known(std::mem::take(&mut run.known)),
    }));
    let progress = |totals: &Totals| {
        if let Some(report) = &opts.progress {
            report(&totals.progress());
        }
    };

    let window = opts.window.max(1);
    let taken = Arc::new(AtomicU64::new(0));
    let (read_tx, read_rx) = channel::<(usize, PathBuf)>();
    let (chunk_tx, chunk_rx) = sync_channel::<(ChunkHash, Vec<u8>)>(window);
    let (packed_tx, packed_rx) = futures::channel::mpsc::channel::<Packed>(window);
    let outlets = Outlets {
        raw: chunk_tx,
        packed: packed_tx,
        reading: AtomicUsize::new(0),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
    };
    let files = read_stage(mgr, read_rx, opts, &claims, outlets, stop, &taken);
    let compression = opts.compression;
    let chunks = mgr
        .stream(StreamOptions::new().unordered().buffer(window))
        .cpu(chunk_rx, move |(hash, raw): (ChunkHash, Vec<u8>)| {
            common::pack(hash, raw, compression)
        });
    let walked = entries
        .map(Message::Walked)
        .chain(futures::stream::iter([Message::WalkEnded]));
    let compressed = futures::stream::select(
        chunks.map(Message::Chunk),
        packed_rx.map(|packed| Message::Chunk(Ok(packed))),
    );
    let stages = futures::stream::select(files.map(Message::File), compressed);
    let merged = futures::stream::select(walked, stages);
    // Files sent to be read, by index; the sender is dropped when the walk ends.
    let mut to_read: Vec<Entry> = Vec::new();
    let mut read_tx: Option<Sender<(usize, PathBuf)>> = Some(read_tx);
    for message in futures::executor::block_on_stream(merged) {
        match message {
            Message::Walked(entry) => {
                if count_walked {
                    run.totals.walked(&entry);
                }
                if stop.load(Ordering::Relaxed) {
                    run.totals.stopped = true;
                    run.totals.not_taken += 1;
                    read_tx = None;
                    continue;
                }
                if run.record_unread(root, &entry)? {
                    progress(&run.totals);
                    continue;
                }
                let path = root.join(&entry.path);
                let sent = read_tx
                    .as_ref()
                    .is_some_and(|tx| tx.send((to_read.len(), path)).is_ok());
                if sent {
                    to_read.push(entry);
                } else {
                    // The read stage ended early (a shutdown): this file is not taken.
                    run.totals.stopped = true;
                    run.totals.not_taken += 1;
                }
            }
            Message::WalkEnded => read_tx = None,
            Message::Chunk(Ok(packed)) => {
                common::store_packed(packed, &mut run.writer, &mut run.totals)?;
            }
            // The compress stage was cut short (a shutdown past its deadline): the files
            // naming chunks it never stored are left out by the writer, and said so.
            Message::Chunk(Err(error)) => {
                run.totals.stopped = true;
                tracing::warn!("sluice-ingest: compression ended early: {error}");
            }
            Message::File(Ok((index, result, packed))) => {
                for chunk in packed {
                    common::store_packed(chunk, &mut run.writer, &mut run.totals)?;
                }
                run.record_read(&to_read[index], result)?;
            }
            // The read stage itself was cut short (a shutdown past its deadline).
            Message::File(Err(error)) => {
                run.totals.stopped = true;
                tracing::warn!("sluice-ingest: reading ended early: {error}");
            }
        }
        progress(&run.totals);
    }
    // Files sent to be read that the read stage never took (it stopped first).
    let not_taken = (to_read.len() as u64).saturating_sub(taken.load(Ordering::Relaxed));
    run.totals.not_taken += not_taken;
    run.totals.stopped |= not_taken > 0;
    Ok(run)
}

/// Where a reader sends a large new chunk: compressed by itself, straight to the
/// writer; or, while fewer files are being read than there are cores, raw to the
/// compress stage if its channel has room.
struct Outlets {
    /// To the compress stage.
    raw: SyncSender<(ChunkHash, Vec<u8>)>,
    /// To the writer, compressed.
    packed: futures::channel::mpsc::Sender<Packed>,
    /// Files being read now.
    reading: AtomicUsize,
    /// The machine's cores: with fewer files being read, some are idle.
    cores: usize,
}

impl Outlets {
    /// Sends a new chunk on; `false` once the writer or the compress stage has gone.
    fn send(&self, hash: ChunkHash, raw: Vec<u8>, compression: Compression) -> bool {
        let (hash, raw) = if self.reading.load(Ordering::Relaxed) < self.cores {
            match self.raw.try_send((hash, raw)) {
                Ok(()) => return true,
                Err(TrySendError::Full(chunk)) => chunk,
                Err(TrySendError::Disconnected(_)) => return false,
            }
        } else {
            (hash, raw)
        };
        let packed = common::pack(hash, raw, compression);
        futures::executor::block_on(self.packed.clone().send(packed)).is_ok()
    }
}

/// Stage one: every file to read (as the writer sends them), on the chunk pool (many small files: units of
/// several), at most `window` files' results ahead of the writer; each file is read,
/// chunked and hashed, and the first reader of a chunk compresses it (or hands it to
/// the compress stage: see [`Outlets`]). Answers each file's index with how its read
/// ended and its last chunk, compressed, if that was new and short.
fn read_stage(
    mgr: &ConcurrencyManager,
    paths: Receiver<(usize, PathBuf)>,
    opts: &IngestOptions,
    claims: &Arc<Mutex<Claims>>,
    outlets: Outlets,
    stop: &Arc<AtomicBool>,
    taken: &Arc<AtomicU64>,
) -> sluice::MapStream<FileDone> {
    let stop_flag = Arc::clone(stop);
    let counted = Arc::clone(taken);
    let watched = mgr.clone();
    // The files come as the walk finds them (a puller waits for the next one on its
    // thread, idle); the input ends when the walk does, or at a stop: what was sent
    // and not taken is counted by the writer.
    let input = paths.into_iter().map_while(move |item| {
        // A signal shuts the manager down (`shutdown_on_signal`): no more files either.
        if stop_flag.load(Ordering::Relaxed) || watched.is_shutting_down() {
            return None;
        }
        counted.fetch_add(1, Ordering::Relaxed);
        Some(item)
    });
    let (sizes, hook, claims) = (opts.sizes, opts.hook.clone(), Arc::clone(claims));
    let compression = opts.compression;
    let inline_below = INLINE_MAX.min(sizes.min as usize);
    // One chunker buffer per reading thread (up to twice the maximum chunk), kept from
    // file to file: allocated per file, and freed on other threads, it left glibc's
    // per-thread arenas holding their high-water marks.
    mgr.stream(StreamOptions::new().unordered().buffer(opts.window.max(1)))
        .chunks_init(
            input,
            Vec::new,
            move |scratch, (index, path): (usize, PathBuf)| {
                outlets.reading.fetch_add(1, Ordering::Relaxed);
                let mut packed = Vec::new();
                let mut send = |hash, raw: Vec<u8>| {
                    // Only the first reader of a chunk sends it: the rest name it.
                    let first = claims
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .claim(hash);
                    if !first {
                        return true;
                    }
                    if raw.len() < inline_below {
                        packed.push(common::pack(hash, raw, compression));
                        return true;
                    }
                    outlets.send(hash, raw, compression)
                };
                // A panic in the read is this file's problem, not the run's: it keeps the
                // file's index, which an item's own panic answer would not, and the
                // chunks it claimed and compressed still go to the writer.
                let read = catch_unwind(AssertUnwindSafe(|| {
                    read::read_file_with(&path, sizes, hook.as_ref(), scratch, &mut send)
                }));
                outlets.reading.fetch_sub(1, Ordering::Relaxed);
                let result = read.unwrap_or_else(|_| {
                    Err(ReadError::Io(std::io::Error::other("the read panicked")))
                });
                (index, result, packed)
            },
        )
}
