//! A writer of the store: appends new chunks to bounded packs and records files in
//! batched transactions, keeping the consistency rule — a file's row is written only
//! once every chunk it names is in a pack that has been fsynced, and in the same
//! transaction as (or after) those chunks' rows. The fsyncs and transactions run on a
//! second thread (`committer`), in order, so that taking chunks never waits on the
//! disk. A single-process run is the store's one writer; the workers of a queue are
//! several, each with packs of its own.

use crate::hash::ChunkHash;
use crate::store::catalog::{Catalog, ChunkRow, FileRow};
use crate::store::committer::{Batch, Committer};
use crate::store::pack::{self, BlobHeader, PackWriter};
use crate::store::{Store, StoreError};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

pub use crate::store::write_stats::WriteStats;

mod waiting;

/// Files waiting before a commit is due.
const COMMIT_FILES: usize = 1024;
/// Stored bytes appended before a commit is due.
const COMMIT_BYTES: u64 = 64 * 1024 * 1024;
/// Files waiting on chunks of the open pack before a commit is due, whatever the bytes:
/// a tree of small sources (~8 KB stored a file) reached `COMMIT_BYTES` only every
/// ~8 k files, and the run's last transaction, which nothing overlaps, recorded
/// thousands of rows (0.1 s on the bench tree).
const COMMIT_WAITING: usize = 4 * COMMIT_FILES;

/// The writer of one snapshot.
pub struct StoreWriter {
    /// The store's lock file, locked while this writer lives: exclusive for a
    /// single-process run, shared among the writers of a queue run.
    _lock: std::fs::File,
    /// Where packs go.
    packs: PathBuf,
    /// The thread that fsyncs packs and commits rows, in order.
    committer: Committer,
    /// A connection for looking chunks up, when other writers share the store.
    lookup: Option<Catalog>,
    /// The snapshot being written.
    snapshot: i64,
    /// The pack being filled, if any.
    pack: Option<PackWriter>,
    /// The number the next pack takes.
    next_pack: u64,
    /// A pack is closed once it reaches this many bytes.
    max_pack: u64,
    /// Chunks whose rows are committed or handed to the committer: a file naming only
    /// these is recorded in the next batch, after theirs.
    sent: HashSet<ChunkHash>,
    /// Waiting files are looked over again (with no fsync) once there are this many.
    check_at: usize,
    /// The open pack is handed over (synced, its waiting files recorded) once this
    /// many files wait, if chunks were appended since the last hand-over.
    commit_at: usize,
    /// Chunks appended since the last commit, with their rows.
    appended: Vec<ChunkRow>,
    /// Their hashes.
    appended_set: HashSet<ChunkHash>,
    /// Stored bytes appended since the last hand-over.
    appended_bytes: u64,
    /// Files whose chunks are not all recorded yet.
    waiting: Vec<FileRow>,
    /// What was done.
    stats: WriteStats,
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
            committer: Committer::start(catalog, snapshot)?,
            lookup: None,
            snapshot,
            pack: None,
            next_pack,
            max_pack,
            sent: durable,
            check_at: COMMIT_FILES,
            commit_at: COMMIT_WAITING,
            appended: Vec::new(),
            appended_set: HashSet::new(),
            appended_bytes: 0,
            waiting: Vec::new(),
            stats: WriteStats::default(),
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
        let lookup = store.catalog()?;
        let mut writer = Self::new(store, lock, catalog, snapshot, durable, max_pack)?;
        writer.lookup = Some(lookup);
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
        if self.sent.contains(&hash) || self.appended_set.contains(&hash) {
            return Ok(());
        }
        // Other writers share the store (workers of a queue): one may have stored it.
        if let Some(lookup) = &self.lookup
            && lookup.has_chunk(&hash)?
        {
            self.sent.insert(hash);
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
            // A full pack is handed over to be synced and recorded; the next chunk opens
            // another.
            self.hand_over(true)?;
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

    /// Fsyncs the open pack, then in one transaction records the chunks appended since
    /// the last commit and every waiting file whose chunks are all recorded by it;
    /// returns once that, and everything handed over before, is committed.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        self.hand_over(false)?;
        self.committer.wait()
    }

    /// Hands the committer the open pack to fsync (closing it when `close`), the chunks
    /// appended since the last hand-over, and the waiting files those complete.
    fn hand_over(&mut self, close: bool) -> Result<(), StoreError> {
        let began = Instant::now();
        let sync = match self.pack.as_mut() {
            Some(pack) if !self.appended.is_empty() || close => {
                let path = pack::pack_path(&self.packs, pack.id());
                match pack.handle_to_sync() {
                    Ok(handle) => Some((handle, path)),
                    Err(source) => {
                        return Err(StoreError::Io {
                            what: "cannot write pack",
                            path,
                            source,
                        });
                    }
                }
            }
            _ => None,
        };
        if close {
            self.pack = None;
        }
        self.stats.pack_time += began.elapsed();
        let files = self.take_ready(true);
        self.sent.extend(self.appended_set.drain());
        self.appended_bytes = 0;
        self.check_at = self.waiting.len() + COMMIT_FILES;
        self.commit_at = self.waiting.len() + COMMIT_WAITING;
        let chunks = std::mem::take(&mut self.appended);
        if sync.is_none() && chunks.is_empty() && files.is_empty() {
            return Ok(());
        }
        self.committer.send(Batch {
            sync,
            chunks,
            files,
        })
    }

    /// Commits what is left and closes the snapshot (`complete` false for a stopped
    /// run). Answers the stats and the files never recorded because a chunk they name
    /// never arrived (its reader failed): those are reported, never half-recorded.
    pub fn finish(
        mut self,
        complete: bool,
        now_ms: i64,
    ) -> Result<(WriteStats, Vec<PathBuf>), StoreError> {
        let (catalog, lost) = self.commit_rest()?;
        catalog.finish_snapshot(self.snapshot, complete && lost.is_empty(), now_ms)?;
        Ok((self.stats, lost))
    }

    /// Commits what is left and leaves the snapshot open, for a writer that does one
    /// part of it (a worker's batch). Answers as [`Self::finish`].
    pub fn close(mut self) -> Result<(WriteStats, Vec<PathBuf>), StoreError> {
        let (_, lost) = self.commit_rest()?;
        Ok((self.stats, lost))
    }

    /// The last commit, waited for; answers the catalog back and the files never
    /// recorded.
    fn commit_rest(&mut self) -> Result<(Catalog, Vec<PathBuf>), StoreError> {
        self.hand_over(true)?;
        let (catalog, done) = self.committer.stop()?;
        self.stats.files_recorded += done.files;
        self.stats.pack_time += done.sync_time;
        self.stats.catalog_time += done.catalog_time;
        self.stats.dead_chunks += done.dead_chunks;
        self.stats.dead_bytes += done.dead_bytes;
        Ok((
            catalog,
            self.waiting.drain(..).map(|file| file.path).collect(),
        ))
    }
}
