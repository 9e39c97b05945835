//! The listings: `snapshots`, `ls` (a snapshot's entries) and `dups` (files with the
//! same contents, found from their chunk lists in the catalog).

use crate::commands::CommandError;
use crate::store::Store;
use crate::store::catalog::{FileRow, SnapshotRow};
use crate::walk::Kind;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Every snapshot, oldest first.
pub fn snapshots(store: &Store) -> Result<Vec<SnapshotRow>, CommandError> {
    Ok(store.catalog()?.snapshots()?)
}

/// The entries of snapshot `id` at or under `prefix`.
pub fn ls(store: &Store, id: i64, prefix: &Path) -> Result<Vec<FileRow>, CommandError> {
    let prefix = super::restore::clean(prefix)?;
    Ok(store.catalog()?.files(id, &prefix)?)
}

/// A group of files with identical contents.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DupGroup {
    /// Each file's size.
    pub size: u64,
    /// The files, sorted.
    pub paths: Vec<PathBuf>,
}

/// Groups of at least two non-empty regular files of snapshot `id` with the same
/// contents (the same chunk list), largest waste first, as `jdupes -r` groups them.
pub fn dups(store: &Store, id: i64) -> Result<Vec<DupGroup>, CommandError> {
    let mut groups: HashMap<(u64, Vec<u8>), Vec<PathBuf>> = HashMap::new();
    for file in store.catalog()?.files(id, Path::new(""))? {
        if file.kind == Kind::File && file.stat.size > 0 {
            let key = (file.stat.size, crate::hash::encode_list(&file.chunks));
            groups.entry(key).or_default().push(file.path);
        }
    }
    let mut found: Vec<DupGroup> = groups
        .into_iter()
        .filter(|(_, paths)| paths.len() > 1)
        .map(|((size, _), mut paths)| {
            paths.sort();
            DupGroup { size, paths }
        })
        .collect();
    found.sort_by(|a, b| {
        let waste = |g: &DupGroup| g.size * (g.paths.len() as u64 - 1);
        waste(b).cmp(&waste(a)).then_with(|| a.paths.cmp(&b.paths))
    });
    Ok(found)
}
