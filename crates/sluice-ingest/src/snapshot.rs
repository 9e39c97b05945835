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
    /// run's snapshot is a parent too, and behind it the snapshots before it up to the
    /// last complete one: a file recorded by any of them is not read again.
    pub fn load(catalog: &Catalog, root: &Path) -> Result<Self, CatalogError> {
        let mut parent = Self::default();
        let mut chain = catalog.snapshots()?;
        chain.retain(|snapshot| snapshot.root == root);
        for snapshot in chain.iter().rev() {
            parent.id.get_or_insert(snapshot.id);
            for file in catalog.files(snapshot.id, Path::new(""))? {
                if file.kind == Kind::File && !parent.files.contains_key(&file.path) {
                    parent.files.insert(file.path.clone(), file);
                }
            }
            if snapshot.complete {
                break;
            }
        }
        Ok(parent)
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
