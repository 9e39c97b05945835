//! A writer of the store: appends new chunks to bounded packs and records files in
//! batched transactions, keeping the consistency rule — a file's row is written only
//! once every chunk it names is in a pack that has been fsynced, and in the same
//! transaction as (or after) those chunks' rows. A single-process run is the store's
//! one writer; the workers of a queue are several, each with packs of its own.

use crate::hash::ChunkHash;
use crate::store::catalog::{Catalog, ChunkRow, FileRow};
use crate::store::pack::{self, BlobHeader, PackWriter};
use crate::store::{Store, StoreError};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Files waiting before a commit is due.
const COMMIT_FILES: usize = 1024;
/// Stored bytes appended before a commit is due.
const COMMIT_BYTES: u64 = 64 * 1024 * 1024;

/// What the writer did.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct WriteStats {
    /// New chunks appended to packs.
    pub chunks_stored: u64,
    /// Their raw bytes.
    pub raw_bytes_stored: u64,
    /// Their stored (compressed) bytes.
    pub bytes_stored: u64,
    /// Files (of every kind) recorded.
    pub files_recorded: u64,
    /// Packs written.
    pub packs: u64,
    /// Time spent appending and fsyncing packs.
    #[serde(serialize_with = "crate::report::seconds")]
    pub pack_time: Duration,
    /// Time spent in catalog transactions.
    #[serde(serialize_with = "crate::report::seconds")]
    pub catalog_time: Duration,
    /// Chunks appended that another writer of the store recorded first (several
    /// workers on one store): their copies here are dead space no row points to.
    pub dead_chunks: u64,
    /// Their stored bytes.
    pub dead_bytes: u64,
}

/// The writer of one snapshot.
pub struct StoreWriter {
    /// The store's lock file, locked while this writer lives: exclusive for a
    /// single-process run, shared among the writers of a queue run.
    _lock: std::fs::File,
    /// Where packs go.
    packs: PathBuf,
    /// The catalog.
    catalog: Catalog,
    /// The snapshot being written.
    snapshot: i64,
    /// The pack being filled, if any.
    pack: Option<PackWriter>,
    /// The number the next pack takes.
    next_pack: u64,
    /// A pack is closed once it reaches this many bytes.
    max_pack: u64,
    /// Chunks whose rows are committed.
    durable: HashSet<ChunkHash>,
    /// Chunks appended since the last commit, with their rows.
    appended: Vec<ChunkRow>,
    /// Their hashes.
    appended_set: HashSet<ChunkHash>,
    /// Stored bytes appended since the last commit.
    appended_bytes: u64,
    /// Files whose chunks are not all recorded yet.
    waiting: Vec<FileRow>,
    /// What was done.
    stats: WriteStats,
    /// Other writers share the store (workers of a queue): a chunk is looked up in
    /// the catalog before it is appended, since another writer may have stored it.
    shared: bool,
}

impl StoreWriter {
    /// A writer for `snapshot` in `store`, holding its `lock` (from [`Store::lock`]);
    /// `durable` are the chunks the catalog holds.
    pub fn new(
        store: &Store,
        lock: std::fs::File,
        catalog: Catalog,
        snapshot: i64,
        durable: HashSet<ChunkHash>,
        max_pack: u64,
    ) -> Result<Self, StoreError> {
        let packs = store.packs();
        let next_pack = pack::last_pack_id(&packs).map_err(|source| StoreError::Io {
            what: "cannot list the packs in",
            path: packs.clone(),
            source,
        })? + 1;
        Ok(Self {
            _lock: lock,
            packs,
            catalog,
            snapshot,
            pack: None,
            next_pack,
            max_pack,
            durable,
            appended: Vec::new(),
            appended_set: HashSet::new(),
            appended_bytes: 0,
            waiting: Vec::new(),
            stats: WriteStats::default(),
            shared: false,
        })
    }

    /// A writer that shares the store with other processes (it holds a shared lock,
    /// [`Store::lock_shared`]): chunks another writer already recorded are not appended
    /// again, and the snapshot is left open for the others (see [`Self::close`]).
    pub fn shared(
        store: &Store,
        lock: std::fs::File,
        catalog: Catalog,
        snapshot: i64,
        durable: HashSet<ChunkHash>,
        max_pack: u64,
    ) -> Result<Self, StoreError> {
        let mut writer = Self::new(store, lock, catalog, snapshot, durable, max_pack)?;
        writer.shared = true;
        Ok(writer)
    }

    /// Appends a new chunk (stored bytes with their compression code); a chunk already
    /// stored is ignored, so a duplicate sent by two readers is written once.
    pub fn add_chunk(
        &mut self,
        hash: ChunkHash,
        stored: &[u8],
        compression: u8,
        raw_len: u32,
    ) -> Result<(), StoreError> {
        if self.durable.contains(&hash) || self.appended_set.contains(&hash) {
            return Ok(());
        }
        if self.shared && self.catalog.has_chunk(&hash)? {
            self.durable.insert(hash);
            return Ok(());
        }
        let began = Instant::now();
        if self.pack.is_none() {
            self.pack = Some(self.create_pack()?);
            self.stats.packs += 1;
        }
        let Some(pack) = self.pack.as_mut() else {
            return Ok(());
        };
        let header = BlobHeader {
            hash,
            compression,
            raw_len,
            stored_len: stored.len() as u32,
        };
        let at = pack
            .append(&header, stored)
            .map_err(|source| StoreError::Io {
                what: "cannot write pack",
                path: pack::pack_path(&self.packs, pack.id()),
                source,
            })?;
        let full = pack.bytes() >= self.max_pack;
        self.appended.push(ChunkRow {
            hash,
            at,
            raw_len,
            compression,
        });
        self.appended_set.insert(hash);
        self.appended_bytes += stored.len() as u64;
        self.stats.chunks_stored += 1;
        self.stats.raw_bytes_stored += u64::from(raw_len);
        self.stats.bytes_stored += stored.len() as u64;
        self.stats.pack_time += began.elapsed();
        if full {
            // A full pack is synced, recorded and closed; the next chunk opens another.
            self.commit()?;
            self.pack = None;
        }
        Ok(())
    }

    /// Creates the next pack. Its number is taken by creating the file (`create_new`):
    /// another writer of the store that took a number first makes this one try the
    /// next, so writers never append to one pack.
    fn create_pack(&mut self) -> Result<PackWriter, StoreError> {
        loop {
            let id = self.next_pack;
            self.next_pack += 1;
            match PackWriter::create(&self.packs, id) {
                Ok(created) => return Ok(created),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(source) => {
                    return Err(StoreError::Io {
                        what: "cannot create pack",
                        path: pack::pack_path(&self.packs, id),
                        source,
                    });
                }
            }
        }
    }

    /// Queues a file to be recorded once all its chunks are durable.
    pub fn add_file(&mut self, file: FileRow) -> Result<(), StoreError> {
        self.waiting.push(file);
        if self.waiting.len() >= COMMIT_FILES || self.appended_bytes >= COMMIT_BYTES {
            self.commit()?;
        }
        Ok(())
    }

    /// Fsyncs the open pack, then in one transaction records the chunks appended since
    /// the last commit and every waiting file whose chunks are all recorded by it.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        let began = Instant::now();
        if let Some(pack) = self.pack.as_mut() {
            pack.sync().map_err(|source| StoreError::Io {
                what: "cannot fsync pack",
                path: pack::pack_path(&self.packs, pack.id()),
                source,
            })?;
        }
        self.stats.pack_time += began.elapsed();
        let began = Instant::now();
        let (ready, still): (Vec<FileRow>, Vec<FileRow>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|file| {
                file.chunks
                    .iter()
                    .all(|hash| self.durable.contains(hash) || self.appended_set.contains(hash))
            });
        self.waiting = still;
        let dead = self.catalog.commit(self.snapshot, &self.appended, &ready)?;
        self.stats.dead_chunks += dead.chunks;
        self.stats.dead_bytes += dead.bytes;
        self.durable.extend(self.appended_set.drain());
        self.appended.clear();
        self.appended_bytes = 0;
        self.stats.files_recorded += ready.len() as u64;
        self.stats.catalog_time += began.elapsed();
        Ok(())
    }

    /// Commits what is left and closes the snapshot (`complete` false for a stopped
    /// run). Answers the stats and the files never recorded because a chunk they name
    /// never arrived (its reader failed): those are reported, never half-recorded.
    pub fn finish(
        mut self,
        complete: bool,
        now_ms: i64,
    ) -> Result<(WriteStats, Vec<PathBuf>), StoreError> {
        let lost = self.commit_rest()?;
        self.catalog
            .finish_snapshot(self.snapshot, complete && lost.is_empty(), now_ms)?;
        Ok((self.stats, lost))
    }

    /// Commits what is left and leaves the snapshot open, for a writer that does one
    /// part of it (a worker's batch). Answers as [`Self::finish`].
    pub fn close(mut self) -> Result<(WriteStats, Vec<PathBuf>), StoreError> {
        let lost = self.commit_rest()?;
        Ok((self.stats, lost))
    }

    /// The last commit; answers the files never recorded.
    fn commit_rest(&mut self) -> Result<Vec<PathBuf>, StoreError> {
        self.commit()?;
        Ok(self.waiting.drain(..).map(|file| file.path).collect())
    }
}
