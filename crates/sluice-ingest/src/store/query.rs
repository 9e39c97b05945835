//! Catalog reads for the subcommands: a snapshot's files, the snapshots, the chunks.

use crate::hash::{self, ChunkHash};
use crate::store::catalog::{Catalog, CatalogError, ChunkRow, FileRow, SnapshotRow, bytes_path};
use crate::store::pack::Location;
use crate::walk::{Kind, Stat};
use rusqlite::OptionalExtension;
use std::collections::HashMap;
use std::path::Path;

impl Catalog {
    /// The files of snapshot `id` under `prefix` (all of them for an empty prefix),
    /// sorted by path.
    pub fn files(&self, id: i64, prefix: &Path) -> Result<Vec<FileRow>, CatalogError> {
        let mut query = self.db.prepare(
            "SELECT path, kind, size, mtime_ns, mode, inode, target, chunks
             FROM files WHERE snapshot = ?1 ORDER BY path",
        )?;
        let rows = query.query_map([id], |row| {
            Ok((
                row.get::<_, Vec<u8>>(0)?,
                row.get::<_, String>(1)?,
                Stat {
                    size: row.get::<_, i64>(2)? as u64,
                    mtime_ns: row.get(3)?,
                    mode: row.get(4)?,
                    inode: row.get::<_, i64>(5)? as u64,
                },
                row.get::<_, Option<Vec<u8>>>(6)?,
                row.get::<_, Option<Vec<u8>>>(7)?,
            ))
        })?;
        let mut files = Vec::new();
        for row in rows {
            let (path, kind, stat, target, chunks) = row?;
            let path = bytes_path(&path);
            if !path.starts_with(prefix) {
                continue;
            }
            let damaged = || CatalogError::Damaged(format!("file row {}", path.display()));
            files.push(FileRow {
                kind: Kind::from_name(&kind).ok_or_else(damaged)?,
                stat,
                target: target.as_deref().map(bytes_path),
                chunks: hash::decode_list(chunks.as_deref().unwrap_or_default())
                    .ok_or_else(damaged)?,
                path,
            });
        }
        Ok(files)
    }

    /// Every snapshot, oldest first, with its file count.
    pub fn snapshots(&self) -> Result<Vec<SnapshotRow>, CatalogError> {
        let mut query = self.db.prepare(
            "SELECT s.id, s.root, s.started_ms, s.complete,
                    (SELECT count(*) FROM files f WHERE f.snapshot = s.id)
             FROM snapshots s ORDER BY s.id",
        )?;
        let rows = query.query_map([], |row| {
            Ok(SnapshotRow {
                id: row.get(0)?,
                root: bytes_path(&row.get::<_, Vec<u8>>(1)?),
                started_ms: row.get(2)?,
                complete: row.get(3)?,
                files: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every chunk row, in pack order (the order `verify` reads them in).
    pub fn chunks(&self) -> Result<Vec<ChunkRow>, CatalogError> {
        let mut query = self.db.prepare(
            "SELECT hash, pack, offset, length, raw_length, compression FROM chunks
             ORDER BY pack, offset",
        )?;
        let rows = query.query_map([], |row| {
            Ok((
                row.get::<_, Vec<u8>>(0)?,
                Location {
                    pack: row.get::<_, i64>(1)? as u64,
                    offset: row.get::<_, i64>(2)? as u64,
                    length: row.get(3)?,
                },
                row.get::<_, u32>(4)?,
                row.get::<_, u8>(5)?,
            ))
        })?;
        let mut chunks = Vec::new();
        for row in rows {
            let (hash, at, raw_len, compression) = row?;
            let hash = ChunkHash::from_slice(&hash)
                .ok_or_else(|| CatalogError::Damaged("a chunk hash is not 32 bytes".into()))?;
            chunks.push(ChunkRow {
                hash,
                at,
                raw_len,
                compression,
            });
        }
        Ok(chunks)
    }

    /// The chunk rows of `hashes`, keyed by hash; hashes not in the catalog are absent.
    pub fn locate(
        &self,
        hashes: &[ChunkHash],
    ) -> Result<HashMap<ChunkHash, ChunkRow>, CatalogError> {
        let mut query = self.db.prepare_cached(
            "SELECT pack, offset, length, raw_length, compression FROM chunks WHERE hash = ?1",
        )?;
        let mut found = HashMap::new();
        for hash in hashes {
            let row = query
                .query_row([&hash.0[..]], |row| {
                    Ok(ChunkRow {
                        hash: *hash,
                        at: Location {
                            pack: row.get::<_, i64>(0)? as u64,
                            offset: row.get::<_, i64>(1)? as u64,
                            length: row.get(2)?,
                        },
                        raw_len: row.get(3)?,
                        compression: row.get(4)?,
                    })
                })
                .optional()?;
            if let Some(row) = row {
                found.insert(*hash, row);
            }
        }
        Ok(found)
    }
}
