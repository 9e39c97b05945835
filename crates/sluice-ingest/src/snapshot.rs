//! Incremental runs: the previous snapshot of the same root is the parent; a file whose
//! size, modification time and inode match its row there is not read again, and its
//! chunk list is reused (as restic does with its parent snapshot).

use crate::hash::ChunkHash;
use crate::store::catalog::{Catalog, CatalogError, FileRow};
use crate::walk::{Entry, Kind};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The regular files of the parent snapshot, by path.
#[derive(Debug, Default)]
pub struct Parent {
    /// The parent's number, if there is one.
    pub id: Option<i64>,
    /// Its regular files.
    files: HashMap<PathBuf, FileRow>,
}

impl Parent {
    /// The latest snapshot of `root` in `catalog` (none for a first run). A stopped
    /// run's snapshot is a parent too: what it recorded is not read again.
    pub fn load(catalog: &Catalog, root: &Path) -> Result<Self, CatalogError> {
        let Some(id) = catalog.latest_snapshot(root)? else {
            return Ok(Self::default());
        };
        let files = catalog
            .files(id, Path::new(""))?
            .into_iter()
            .filter(|file| file.kind == Kind::File)
            .map(|file| (file.path.clone(), file))
            .collect();
        Ok(Self {
            id: Some(id),
            files,
        })
    }

    /// The chunk list of `entry` if it is a regular file unchanged since the parent.
    pub fn unchanged(&self, entry: &Entry) -> Option<&[ChunkHash]> {
        if entry.kind != Kind::File {
            return None;
        }
        let before = self.files.get(&entry.path)?;
        let same = before.stat.size == entry.stat.size
            && before.stat.mtime_ns == entry.stat.mtime_ns
            && before.stat.inode == entry.stat.inode;
        same.then_some(before.chunks.as_slice())
    }
}
