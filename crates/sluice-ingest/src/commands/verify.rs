//! `verify`: re-reads every chunk the catalog names, checks its pack header and its
//! BLAKE3 hash, and names the files (and snapshots) a damaged chunk belongs to.

use crate::commands::CommandError;
use crate::compress;
use crate::hash::ChunkHash;
use crate::store::catalog::ChunkRow;
use crate::store::{Store, pack};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// A chunk that failed the check.
#[derive(Debug, Clone, Serialize)]
pub struct BadChunk {
    /// The chunk's hash (hex).
    pub chunk: String,
    /// Its pack and offset.
    pub pack: u64,
    /// Offset of its stored bytes in the pack.
    pub offset: u64,
    /// What is wrong.
    pub reason: String,
    /// The files that contain it: (snapshot, path).
    pub files: Vec<(i64, PathBuf)>,
}

/// What `verify` found.
#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    /// Chunks checked.
    pub chunks: u64,
    /// Raw bytes checked.
    pub bytes: u64,
    /// Chunks that failed.
    pub bad: Vec<BadChunk>,
    /// Files naming a chunk the catalog does not have: (snapshot, path, chunk).
    pub missing: Vec<(i64, PathBuf, String)>,
}

impl VerifyReport {
    /// Whether everything checked out.
    pub fn ok(&self) -> bool {
        self.bad.is_empty() && self.missing.is_empty()
    }
}

/// Checks every chunk of `store` and every file's chunk list.
pub fn verify(store: &Store) -> Result<VerifyReport, CommandError> {
    let catalog = store.catalog()?;
    let mut report = VerifyReport::default();
    let rows = catalog.chunks()?;
    let known: HashSet<ChunkHash> = rows.iter().map(|row| row.hash).collect();
    let mut bad: HashMap<ChunkHash, BadChunk> = HashMap::new();
    for row in &rows {
        report.chunks += 1;
        report.bytes += u64::from(row.raw_len);
        if let Err(reason) = check(store, row) {
            tracing::warn!(chunk = %row.hash, %reason, "damaged chunk");
            bad.insert(
                row.hash,
                BadChunk {
                    chunk: row.hash.to_string(),
                    pack: row.at.pack,
                    offset: row.at.offset,
                    reason,
                    files: Vec::new(),
                },
            );
        }
    }
    for snapshot in catalog.snapshots()? {
        for file in catalog.files(snapshot.id, std::path::Path::new(""))? {
            for hash in &file.chunks {
                if let Some(chunk) = bad.get_mut(hash) {
                    if chunk.files.last() != Some(&(snapshot.id, file.path.clone())) {
                        chunk.files.push((snapshot.id, file.path.clone()));
                    }
                } else if !known.contains(hash) {
                    report
                        .missing
                        .push((snapshot.id, file.path.clone(), hash.to_string()));
                }
            }
        }
    }
    report.bad = bad.into_values().collect();
    report.bad.sort_by_key(|chunk| (chunk.pack, chunk.offset));
    Ok(report)
}

/// Reads one chunk back and checks it; the error says what is wrong.
pub(crate) fn read_chunk(store: &Store, row: &ChunkRow) -> Result<Vec<u8>, String> {
    let (header, stored) = pack::read_blob(&store.packs(), row.at)
        .map_err(|error| format!("cannot read pack {}: {error}", row.at.pack))?;
    if header.hash != row.hash
        || header.stored_len != row.at.length
        || header.raw_len != row.raw_len
    {
        return Err("its header in the pack does not match the catalog".to_owned());
    }
    if row.raw_len > fastcdc::v2020::MAXIMUM_MAX {
        return Err(format!(
            "recorded raw length {} is larger than any chunk",
            row.raw_len
        ));
    }
    let raw = compress::decompress(stored, row.compression, row.raw_len as usize)
        .map_err(|error| format!("cannot decompress: {error}"))?;
    let actual = ChunkHash::of(&raw);
    if actual != row.hash || raw.len() != row.raw_len as usize {
        return Err(format!(
            "content hashes to {}, not to its name",
            actual.short()
        ));
    }
    Ok(raw)
}

fn check(store: &Store, row: &ChunkRow) -> Result<(), String> {
    read_chunk(store, row).map(drop)
}
