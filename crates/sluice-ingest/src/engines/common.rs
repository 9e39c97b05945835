//! What every engine (the Sluice pipeline among them) shares around its stages: opening
//! a run (the store's lock, the known chunks, the parent snapshot, a new snapshot and
//! its writer), recording the entries that are not read and the files that are,
//! compressing and storing a new chunk, and closing the run — so that the engines
//! differ only in how they schedule.

use crate::compress::{self, Compression};
use crate::hash::ChunkHash;
use crate::options::{IngestError, IngestOptions};
use crate::read::{ReadError, ReadFile};
use crate::report::Totals;
use crate::snapshot::Parent;
use crate::store::catalog::{Catalog, FileRow};
use crate::store::writer::StoreWriter;
use crate::store::{Store, StoreError};
use crate::walk::{Entry, Kind, Walk};
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// A run that has begun: its writer, what it adds up to, and what it compares with.
pub(crate) struct Begun {
    /// The store's one writer, holding its lock.
    pub writer: StoreWriter,
    /// The totals, counted as the run goes.
    pub totals: Totals,
    /// The previous snapshot of the same root.
    pub parent: Parent,
    /// The chunks the catalog held when the run began (none loaded for a worker's
    /// batch, which asks the catalog through `lookup` instead).
    pub known: HashSet<ChunkHash>,
    /// A connection for asking the catalog about a chunk not in `known`: a worker's batch.
    pub lookup: Option<Catalog>,
    /// Distinct chunks of the files read.
    pub distinct: HashSet<ChunkHash>,
}

/// Locks the store, loads the parent and begins a snapshot of `root`.
pub(crate) fn begin(
    root: &Path,
    walk: &Walk,
    store: &Store,
    opts: &IngestOptions,
) -> Result<Begun, IngestError> {
    // Locked first, so that a second run on the store records nothing at all.
    let lock = store.lock()?;
    let catalog = store.catalog()?;
    let known = catalog.known_chunks().map_err(StoreError::from)?;
    let parent = Parent::load(&catalog, root).map_err(StoreError::from)?;
    let snapshot = catalog
        .begin_snapshot(root, parent.id, &settings(opts), now_ms())
        .map_err(StoreError::from)?;
    let writer = StoreWriter::new(
        store,
        lock,
        catalog,
        snapshot,
        known.clone(),
        opts.max_pack_bytes,
    )?;
    Ok(Begun {
        writer,
        totals: Totals::new(snapshot, parent.id, walk),
        parent,
        known,
        lookup: None,
        distinct: HashSet::new(),
    })
}

/// Opens a run on a store that other processes write too (the enqueuer and workers
/// of a queue): the store's lock is taken shared, and the writer looks a chunk up in
/// the catalog before appending it. Without `snapshot`, begins a new snapshot of
/// `root` compared with its parent (the enqueuer's run); with one, continues it with
/// no parent (a worker's batch: the enqueuer put only changed files in batches).
/// A batch loads none of the store's chunks: its readers and writer ask the catalog
/// about the chunks they see, which costs a batch what its files hold, not what the
/// store holds.
pub(crate) fn begin_shared(
    root: &Path,
    walk: &Walk,
    store: &Store,
    opts: &IngestOptions,
    snapshot: Option<i64>,
) -> Result<Begun, IngestError> {
    let lock = store.lock_shared()?;
    let catalog = store.catalog()?;
    let (known, lookup) = match snapshot {
        Some(_) => (HashSet::new(), Some(store.catalog()?)),
        None => (catalog.known_chunks().map_err(StoreError::from)?, None),
    };
    let (snapshot, parent) = match snapshot {
        Some(id) => (id, Parent::default()),
        None => {
            let parent = Parent::load(&catalog, root).map_err(StoreError::from)?;
            let settings = settings(opts);
            let id = catalog
                .begin_snapshot(root, parent.id, &settings, now_ms())
                .map_err(StoreError::from)?;
            (id, parent)
        }
    };
    let writer = StoreWriter::shared(
        store,
        lock,
        catalog,
        snapshot,
        known.clone(),
        opts.max_pack_bytes,
    )?;
    Ok(Begun {
        writer,
        totals: Totals::new(snapshot, parent.id, walk),
        parent,
        known,
        lookup,
        distinct: HashSet::new(),
    })
}

/// The settings a snapshot records.
fn settings(opts: &IngestOptions) -> String {
    serde_json::json!({ "chunk_sizes": opts.sizes, "compression": format!("{:?}", opts.compression) }).to_string()
}

impl Begun {
    /// Records an entry that is not read: an unchanged file (its chunk list reused),
    /// or a directory, link or special file. Answers `false` for a file to be read.
    pub fn record_unread(&mut self, root: &Path, entry: &Entry) -> Result<bool, IngestError> {
        if let Some(chunks) = self.parent.unchanged(entry) {
            let row = file_row(entry, chunks.to_vec());
            self.totals.reused(entry.stat.size);
            self.writer.add_file(row)?;
            return Ok(true);
        }
        if entry.kind == Kind::File {
            return Ok(false);
        }
        let mut row = file_row(entry, Vec::new());
        if entry.kind == Kind::Symlink {
            match std::fs::read_link(root.join(&entry.path)) {
                Ok(target) => row.target = Some(target),
                Err(error) => {
                    let reason = format!("cannot read the link: {error}");
                    self.totals.problems.push((entry.path.clone(), reason));
                    return Ok(true);
                }
            }
        }
        self.totals.other(entry.kind);
        self.writer.add_file(row)?;
        Ok(true)
    }

    /// Records how a file's read ended: its row (with the chunks it names, which the
    /// writer records only once they are durable), or its problem.
    pub fn record_read(
        &mut self,
        entry: &Entry,
        result: Result<ReadFile, ReadError>,
    ) -> Result<(), IngestError> {
        match result {
            Ok(read) => {
                self.totals.read(&read);
                self.distinct.extend(read.chunks.iter().copied());
                let mut row = file_row(entry, read.chunks);
                row.stat = read.stat;
                self.writer.add_file(row)?;
            }
            Err(error) => self
                .totals
                .problems
                .push((entry.path.clone(), error.to_string())),
        }
        Ok(())
    }

    /// Commits what is left, closes the snapshot and answers the totals.
    pub fn finish(self) -> Result<Totals, IngestError> {
        let Self {
            writer,
            mut totals,
            distinct,
            ..
        } = self;
        let (stats, lost) = writer.finish(!totals.stopped, now_ms())?;
        for path in lost {
            totals
                .problems
                .push((path, "a chunk it names was never stored".into()));
        }
        totals.unique_chunks = distinct.len() as u64;
        totals.write = stats;
        Ok(totals)
    }
}

impl Begun {
    /// Commits what is left and leaves the snapshot open (a worker's batch, or the
    /// enqueuer's part before it waits); answers the totals, the lost files among
    /// the problems.
    pub fn close(self) -> Result<Totals, IngestError> {
        let Self {
            writer,
            mut totals,
            distinct,
            ..
        } = self;
        let (stats, lost) = writer.close()?;
        for path in lost {
            totals
                .problems
                .push((path, "a chunk it names was never stored".into()));
        }
        totals.unique_chunks = distinct.len() as u64;
        totals.write = stats;
        Ok(totals)
    }
}

/// A chunk compressed: its hash, stored bytes, compression code, raw length and the
/// time compressing took.
pub(crate) struct Packed {
    /// The chunk's hash.
    pub hash: ChunkHash,
    /// The bytes to store.
    pub stored: Vec<u8>,
    /// Their compression code.
    pub code: u8,
    /// The chunk's raw length.
    pub raw_len: u32,
    /// Time spent compressing.
    pub took: Duration,
}

/// Compresses a new chunk, timed.
pub(crate) fn pack(hash: ChunkHash, raw: Vec<u8>, compression: Compression) -> Packed {
    let began = Instant::now();
    let raw_len = raw.len() as u32;
    let (stored, code) = compress::compress(raw, compression);
    Packed {
        hash,
        stored,
        code,
        raw_len,
        took: began.elapsed(),
    }
}

/// Appends a compressed chunk to the store.
pub(crate) fn store_packed(
    packed: Packed,
    writer: &mut StoreWriter,
    totals: &mut Totals,
) -> Result<(), StoreError> {
    totals.compress_time += packed.took;
    writer.add_chunk(packed.hash, &packed.stored, packed.code, packed.raw_len)
}

/// A file's row before its chunks are known (or with them).
pub(crate) fn file_row(entry: &Entry, chunks: Vec<ChunkHash>) -> FileRow {
    FileRow {
        path: entry.path.clone(),
        kind: entry.kind,
        stat: entry.stat,
        target: None,
        chunks,
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}
