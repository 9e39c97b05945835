//! The SQLite catalog: snapshots, the files of each, and where every chunk is. WAL,
//! batched transactions that take the write lock up front, and a busy timeout, so
//! that the writers of a queue run (several processes) wait for each other's short
//! transactions; rows that point into a pack are only written after that pack was
//! fsynced (see `store/writer.rs`).

use crate::hash::{self, ChunkHash};
use crate::store::pack::Location;
use crate::walk::{Kind, Stat};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The schema, applied once to a new catalog (`user_version` 0 → 1). `files` keeps
/// its rowid: a large file's chunk list (32 bytes a chunk) makes rows too long for a
/// table clustered on its key.
const SCHEMA: &str = "
CREATE TABLE snapshots (
    id INTEGER PRIMARY KEY,
    root BLOB NOT NULL,
    started_ms INTEGER NOT NULL,
    finished_ms INTEGER,
    complete INTEGER NOT NULL DEFAULT 0,
    parent INTEGER REFERENCES snapshots(id),
    settings TEXT NOT NULL
);
CREATE TABLE chunks (
    hash BLOB PRIMARY KEY,
    pack INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    length INTEGER NOT NULL,
    raw_length INTEGER NOT NULL,
    compression INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE files (
    snapshot INTEGER NOT NULL REFERENCES snapshots(id),
    path BLOB NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    mode INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    target BLOB,
    chunks BLOB,
    PRIMARY KEY (snapshot, path)
);
PRAGMA user_version = 1;
";

/// How long a statement waits for another process's transaction before `SQLITE_BUSY`.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Chunk rows a commit did not add because another writer recorded the same chunk
/// first: the copies this writer appended are dead space.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ignored {
    /// Chunks.
    pub chunks: u64,
    /// Their stored bytes.
    pub bytes: u64,
}

/// A catalog error: SQLite's, or a row that does not make sense.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// SQLite failed.
    #[error("catalog: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A row holds something this program never writes.
    #[error("catalog row is damaged: {0}")]
    Damaged(String),
}

/// One file (or directory, link, special file) of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    /// Path relative to the snapshot's root.
    pub path: PathBuf,
    /// What it is.
    pub kind: Kind,
    /// Its metadata.
    pub stat: Stat,
    /// A symbolic link's target.
    pub target: Option<PathBuf>,
    /// A regular file's chunks, in order (empty for everything else).
    pub chunks: Vec<ChunkHash>,
}

/// A chunk's row: where it is and how it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRow {
    /// Its hash.
    pub hash: ChunkHash,
    /// Where its stored bytes are.
    pub at: Location,
    /// Uncompressed length.
    pub raw_len: u32,
    /// Compression code.
    pub compression: u8,
}

/// A snapshot's row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotRow {
    /// Its number.
    pub id: i64,
    /// The directory it is of.
    pub root: PathBuf,
    /// When it started, milliseconds since the epoch.
    pub started_ms: i64,
    /// Whether the run finished (false: stopped, or still running).
    pub complete: bool,
    /// Files recorded in it.
    pub files: i64,
}

/// A connection to the catalog.
pub struct Catalog {
    /// The connection.
    pub(crate) db: Connection,
}

fn path_bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

pub(crate) fn bytes_path(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(bytes))
}

impl Catalog {
    /// Opens (creating if needed) the catalog at `path`, in WAL mode with full fsyncs.
    pub fn open(path: &Path) -> Result<Self, CatalogError> {
        let mut db = Connection::open(path)?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        // Several processes may write (workers of a queue): a writer waits for
        // another's short transaction rather than failing.
        db.busy_timeout(BUSY_TIMEOUT)?;
        let version = |db: &Connection| -> Result<i64, CatalogError> {
            Ok(db.pragma_query_value(None, "user_version", |row| row.get(0))?)
        };
        if version(&db)? == 0 {
            // Read again and created under one write lock, so that two processes
            // opening a new catalog at once do not both create the schema.
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if version(&tx)? == 0 {
                tx.execute_batch(SCHEMA)?;
            }
            tx.commit()?;
        }
        match version(&db)? {
            1 => Ok(Self { db }),
            other => Err(CatalogError::Damaged(format!(
                "schema version {other} is not this program's (1)"
            ))),
        }
    }

    /// Every chunk hash in the store.
    pub fn known_chunks(&self) -> Result<HashSet<ChunkHash>, CatalogError> {
        let mut query = self.db.prepare("SELECT hash FROM chunks")?;
        let rows = query.query_map([], |row| row.get::<_, Vec<u8>>(0))?;
        let mut known = HashSet::new();
        for hash in rows {
            let hash = hash?;
            known.insert(
                ChunkHash::from_slice(&hash)
                    .ok_or_else(|| CatalogError::Damaged("a chunk hash is not 32 bytes".into()))?,
            );
        }
        Ok(known)
    }

    /// Starts a snapshot of `root`; answers its number.
    pub fn begin_snapshot(
        &self,
        root: &Path,
        parent: Option<i64>,
        settings: &str,
        now_ms: i64,
    ) -> Result<i64, CatalogError> {
        self.db.execute(
            "INSERT INTO snapshots (root, started_ms, parent, settings) VALUES (?1, ?2, ?3, ?4)",
            params![path_bytes(root), now_ms, parent, settings],
        )?;
        Ok(self.db.last_insert_rowid())
    }

    /// Marks a snapshot finished; `complete` is false for a stopped run.
    pub fn finish_snapshot(
        &self,
        id: i64,
        complete: bool,
        now_ms: i64,
    ) -> Result<(), CatalogError> {
        self.db.execute(
            "UPDATE snapshots SET finished_ms = ?2, complete = ?3 WHERE id = ?1",
            params![id, now_ms, complete],
        )?;
        Ok(())
    }

    /// Whether the catalog records chunk `hash` (another writer may have since this
    /// writer began).
    pub fn has_chunk(&self, hash: &ChunkHash) -> Result<bool, CatalogError> {
        let mut query = self
            .db
            .prepare_cached("SELECT 1 FROM chunks WHERE hash = ?1")?;
        Ok(query
            .query_row(params![&hash.0[..]], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Records chunks (already durable in their packs) and then files, in one
    /// transaction; answers the chunks another writer had recorded first.
    pub fn commit(
        &mut self,
        snapshot: i64,
        chunks: &[ChunkRow],
        files: &[FileRow],
    ) -> Result<Ignored, CatalogError> {
        // Immediate: the write lock is taken (waiting up to the busy timeout) before
        // anything is read, so a transaction never has to be retried halfway.
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut ignored = Ignored::default();
        {
            let mut add_chunk = tx.prepare_cached(
                "INSERT OR IGNORE INTO chunks (hash, pack, offset, length, raw_length, compression)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for chunk in chunks {
                let added = add_chunk.execute(params![
                    &chunk.hash.0[..],
                    chunk.at.pack as i64,
                    chunk.at.offset as i64,
                    chunk.at.length,
                    chunk.raw_len,
                    chunk.compression
                ])?;
                if added == 0 {
                    ignored.chunks += 1;
                    ignored.bytes += u64::from(chunk.at.length);
                }
            }
            let mut add_file = tx.prepare_cached(
                "INSERT OR REPLACE INTO files
                 (snapshot, path, kind, size, mtime_ns, mode, inode, target, chunks)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for file in files {
                add_file.execute(params![
                    snapshot,
                    path_bytes(&file.path),
                    file.kind.name(),
                    file.stat.size as i64,
                    file.stat.mtime_ns,
                    file.stat.mode,
                    file.stat.inode as i64,
                    file.target.as_deref().map(path_bytes),
                    (file.kind == Kind::File).then(|| hash::encode_list(&file.chunks)),
                ])?;
            }
        }
        tx.commit()?;
        Ok(ignored)
    }
}
