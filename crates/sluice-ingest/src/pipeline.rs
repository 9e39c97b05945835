//! The composition of the stages on today's Sluice API — the one file to re-plumb onto
//! streamed maps. Regular files are read, chunked and hashed on the IO route
//! (`run_io_blocking`, at most `window` files in flight); new chunks are compressed on
//! the CPU route (`run_cpu`, at most `window` chunks in flight); this thread is the
//! store's one writer. Memory is bounded by the window and the maximum chunk size,
//! never by a file's size.

use crate::compress;
use crate::hash::ChunkHash;
pub use crate::options::{IngestError, IngestOptions, ProgressFn};
use crate::read::{self, ReadError, ReadFile};
use crate::report::Totals;
use crate::snapshot::Parent;
use crate::store::catalog::FileRow;
use crate::store::writer::StoreWriter;
use crate::store::{Store, StoreError};
use crate::walk::{Entry, Kind, Walk};
use sluice::{ConcurrencyManager, TaskHandle};
use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A chunk being compressed: its hash, raw length, and the task answering its stored
/// bytes, compression code and the time compressing took.
type Compressing = (ChunkHash, u32, TaskHandle<(Vec<u8>, u8, Duration)>);

/// What a reader sends the writer.
enum Message {
    /// A chunk first seen by this run, raw.
    Chunk(ChunkHash, Vec<u8>),
    /// A file's read ended (index into the walk).
    Done(usize, Result<ReadFile, ReadError>),
}

/// Ingests the entries of `walk` (taken under `root`) into `store` as a new snapshot.
/// When `stop` is set, no further file is taken, files in flight are finished, and
/// the snapshot is committed as incomplete: the next run reads only what is missing.
///
/// # Examples
///
/// ```
/// use sluice_ingest::{IngestOptions, pipeline, store::Store, walk};
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
/// let stop = AtomicBool::new(false);
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
    stop: &AtomicBool,
) -> Result<Totals, IngestError> {
    // Locked first, so that a second run on the store records nothing at all.
    let lock = store.lock()?;
    let catalog = store.catalog()?;
    let known = catalog.known_chunks().map_err(StoreError::from)?;
    let parent = Parent::load(&catalog, root).map_err(StoreError::from)?;
    let settings = serde_json::json!({ "chunk_sizes": opts.sizes, "compression": format!("{:?}", opts.compression) });
    let snapshot = catalog
        .begin_snapshot(root, parent.id, &settings.to_string(), now_ms())
        .map_err(StoreError::from)?;
    let claims = Arc::new(Mutex::new(known.clone()));
    let mut writer = StoreWriter::new(store, lock, catalog, snapshot, known, opts.max_pack_bytes)?;
    let window = opts.window.max(1);
    let (tx, rx) = sync_channel::<Message>(window);
    let mut run = Run {
        totals: Totals::new(snapshot, parent.id, walk),
        distinct: HashSet::new(),
        compressing: VecDeque::new(),
        in_flight: 0,
    };
    let progress = |totals: &Totals| {
        if let Some(report) = &opts.progress {
            report(&totals.progress());
        }
    };
    for (index, entry) in walk.entries.iter().enumerate() {
        let reuse = parent.unchanged(entry);
        let read = entry.kind == Kind::File && reuse.is_none();
        // Room is made before the stop flag is looked at, so that a stop set while
        // waiting takes effect at once.
        while read && run.in_flight >= window {
            run.take(mgr, &rx, walk, &mut writer, opts)?;
        }
        if stop.load(Ordering::Relaxed) {
            run.totals.stopped = true;
            run.totals.not_taken += 1;
            continue;
        }
        if read {
            let task = read_task(root.join(&entry.path), index, opts, &claims, tx.clone());
            // The task answers through the channel (always: see `DoneGuard`).
            drop(mgr.run_io_blocking(task));
            run.in_flight += 1;
        } else if let Some(chunks) = reuse {
            run.totals.reused(entry.stat.size);
            writer.add_file(file_row(entry, chunks.to_vec()))?;
        } else {
            record_other(root, entry, &mut writer, &mut run.totals)?;
        }
        progress(&run.totals);
    }
    drop(tx);
    while run.in_flight > 0 {
        run.take(mgr, &rx, walk, &mut writer, opts)?;
        progress(&run.totals);
    }
    while let Some(handle) = run.compressing.pop_front() {
        store_compressed(handle, &mut writer, &mut run.totals)?;
    }
    let (stats, lost) = writer.finish(!run.totals.stopped, now_ms())?;
    for path in lost {
        run.totals
            .problems
            .push((path, "a chunk it names was never stored".into()));
    }
    run.totals.unique_chunks = run.distinct.len() as u64;
    run.totals.write = stats;
    Ok(run.totals)
}

/// The writer's side of a run.
struct Run {
    /// What the run added up to so far.
    totals: Totals,
    /// Distinct chunks of the files read.
    distinct: HashSet<ChunkHash>,
    /// Compressions in flight, in the order their chunks arrived.
    compressing: VecDeque<Compressing>,
    /// Files being read.
    in_flight: usize,
}

impl Run {
    /// Takes one message from the readers and acts on it.
    fn take(
        &mut self,
        mgr: &ConcurrencyManager,
        rx: &Receiver<Message>,
        walk: &Walk,
        writer: &mut StoreWriter,
        opts: &IngestOptions,
    ) -> Result<(), IngestError> {
        let Ok(message) = rx.recv() else {
            // Every reader has answered (each holds a sender until it does).
            self.in_flight = 0;
            return Ok(());
        };
        match message {
            Message::Chunk(hash, raw) => {
                if self.compressing.len() >= opts.window.max(1)
                    && let Some(oldest) = self.compressing.pop_front()
                {
                    store_compressed(oldest, writer, &mut self.totals)?;
                }
                let raw_len = raw.len() as u32;
                let compression = opts.compression;
                let handle = mgr.run_cpu(move || {
                    let began = Instant::now();
                    let (stored, code) = compress::compress(raw, compression);
                    (stored, code, began.elapsed())
                });
                self.compressing.push_back((hash, raw_len, handle));
            }
            Message::Done(index, result) => {
                self.in_flight -= 1;
                let entry = &walk.entries[index];
                match result {
                    Ok(read) => {
                        self.totals.read(&read);
                        self.distinct.extend(read.chunks.iter().copied());
                        let mut row = file_row(entry, read.chunks);
                        row.stat = read.stat;
                        writer.add_file(row)?;
                    }
                    Err(error) => self
                        .totals
                        .problems
                        .push((entry.path.clone(), error.to_string())),
                }
            }
        }
        Ok(())
    }
}

/// Waits for a compression and appends its chunk to the store.
fn store_compressed(
    (hash, raw_len, handle): Compressing,
    writer: &mut StoreWriter,
    totals: &mut Totals,
) -> Result<(), IngestError> {
    let (stored, code, took) = handle.wait()?;
    totals.compress_time += took;
    Ok(writer.add_chunk(hash, &stored, code, raw_len)?)
}

/// The work of reading one file: chunks it, claims and sends its new chunks, then
/// sends how it ended.
fn read_task(
    path: PathBuf,
    index: usize,
    opts: &IngestOptions,
    claims: &Arc<Mutex<HashSet<ChunkHash>>>,
    tx: SyncSender<Message>,
) -> impl FnOnce() + Send + 'static {
    let (sizes, hook, claims) = (opts.sizes, opts.hook.clone(), Arc::clone(claims));
    // Made here, not in the task, so that a task dropped unrun still answers.
    let guard = DoneGuard {
        tx,
        index,
        sent: false,
    };
    move || {
        let tx = guard.tx.clone();
        let result = read::read_file(&path, sizes, hook.as_ref(), &mut |hash, raw| {
            // Only the first reader of a chunk sends it: the rest name it.
            let first = claims
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(hash);
            !first || tx.send(Message::Chunk(hash, raw)).is_ok()
        });
        guard.answer(result);
    }
}

/// Sends a file's end if its task ends without doing so (a panic, or a task cancelled
/// before it ran), so the writer never waits for a file that will not answer.
struct DoneGuard {
    /// The channel to the writer.
    tx: SyncSender<Message>,
    /// The file.
    index: usize,
    /// Whether the task sent the end itself.
    sent: bool,
}

impl DoneGuard {
    /// Sends how the file's read ended.
    fn answer(mut self, result: Result<ReadFile, ReadError>) {
        self.sent = true;
        // A closed channel means the writer failed; its error is the run's answer.
        let _ = self.tx.send(Message::Done(self.index, result));
    }
}

impl Drop for DoneGuard {
    fn drop(&mut self) {
        if !self.sent {
            let error = std::io::Error::other("the reading task ended without an answer");
            let _ = self
                .tx
                .send(Message::Done(self.index, Err(ReadError::Io(error))));
        }
    }
}

/// Records a directory, link or special file (never opened).
fn record_other(
    root: &Path,
    entry: &Entry,
    writer: &mut StoreWriter,
    totals: &mut Totals,
) -> Result<(), IngestError> {
    let mut row = file_row(entry, Vec::new());
    if entry.kind == Kind::Symlink {
        match std::fs::read_link(root.join(&entry.path)) {
            Ok(target) => row.target = Some(target),
            Err(error) => {
                let reason = format!("cannot read the link: {error}");
                totals.problems.push((entry.path.clone(), reason));
                return Ok(());
            }
        }
    }
    totals.other(entry.kind);
    Ok(writer.add_file(row)?)
}

fn file_row(entry: &Entry, chunks: Vec<ChunkHash>) -> FileRow {
    FileRow {
        path: entry.path.clone(),
        kind: entry.kind,
        stat: entry.stat,
        target: None,
        chunks,
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}
