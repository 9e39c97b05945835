//! The pipeline's input: pieces (at most 1 MiB each) of the real files under a
//! directory, enough of them to make the asked number of bytes.
//!
//! The list of distinct pieces is made once and held (its size does not depend on the
//! scale); a run at scale K yields K times the pieces, cycling over the list lazily, so
//! that the input itself costs no memory that grows with the number of items. Files
//! are cut into pieces so that what one item holds is bounded whatever the files' sizes
//! (a toolchain holds files of 100 MB and more), as an ingestion program's chunker does.
//!
//! The pieces travel in *units* of at most [`PIECE_BYTES`]: a piece of a large file
//! alone, or the pieces of several small files together, read in one blocking call.
//! Most files of a toolchain are a few KiB: one read item, with its hand-off to a
//! blocking thread and back, per file cost more CPU than the copying itself (53 µs per
//! piece of 22 KB on average), and the read stage competed with the cpu stage for the
//! two cores.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The most bytes one piece holds.
pub const PIECE_BYTES: u64 = 1024 * 1024;

/// A range of one file.
#[derive(Clone, Debug)]
pub struct Piece {
    /// The file.
    pub path: Arc<Path>,
    /// Where the range begins.
    pub offset: u64,
    /// How many bytes it holds (at most [`PIECE_BYTES`]).
    pub len: usize,
}

/// Pieces read together: one piece of a large file, or several of small files, at
/// most [`PIECE_BYTES`] in all.
pub type Unit = Arc<[Piece]>;

/// The distinct pieces in units, and how many units make one pass of the asked bytes.
pub struct Pieces {
    /// In walk order (directories sorted by name).
    list: Arc<[Unit]>,
    /// How many pieces the units hold.
    pieces: usize,
    /// Units of one pass: the list, cycled until the asked bytes are reached.
    per_pass: usize,
}

impl Pieces {
    /// The pieces of the files under `root`, until `bytes` are reached; a tree with fewer
    /// bytes is cycled over.
    pub fn under(root: &Path, bytes: u64) -> Result<Self, String> {
        let mut list = Vec::new();
        let mut total = 0u64;
        let mut pending = vec![root.to_path_buf()];
        while total < bytes {
            let Some(path) = pending.pop() else { break };
            let meta = std::fs::symlink_metadata(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            if meta.is_dir() {
                let mut entries: Vec<PathBuf> = std::fs::read_dir(&path)
                    .map_err(|e| format!("listing {}: {e}", path.display()))?
                    .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                    .collect();
                // Popped from the end: reversed, so the walk goes in name order.
                entries.sort_by(|a, b| b.cmp(a));
                pending.extend(entries);
            } else if meta.is_file() {
                let path: Arc<Path> = Arc::from(path);
                let mut offset = 0;
                while offset < meta.len() && total < bytes {
                    let len = (meta.len() - offset).min(PIECE_BYTES);
                    list.push(Piece {
                        path: path.clone(),
                        offset,
                        len: len as usize,
                    });
                    offset += len;
                    total += len;
                }
            }
        }
        if list.is_empty() {
            return Err(format!("no readable bytes under {}", root.display()));
        }
        let pieces = list.len();
        let units = units(list);
        let mut per_pass = units.len();
        let mut pass_bytes = total;
        // A small tree: cycled over until one pass holds the asked bytes.
        let mut next = 0;
        while pass_bytes < bytes {
            pass_bytes += units[next % units.len()]
                .iter()
                .map(|piece| piece.len as u64)
                .sum::<u64>();
            per_pass += 1;
            next += 1;
        }
        Ok(Pieces {
            list: units.into(),
            pieces,
            per_pass,
        })
    }

    /// How many distinct pieces there are.
    pub fn len(&self) -> usize {
        self.pieces
    }

    /// How many units of them.
    pub fn units(&self) -> usize {
        self.list.len()
    }

    /// Every distinct piece once, in walk order.
    pub fn distinct(&self) -> impl Iterator<Item = &Piece> {
        self.list.iter().flat_map(|unit| unit.iter())
    }

    /// `scale` passes of the units, lazily.
    pub fn iter(&self, scale: usize) -> impl Iterator<Item = Unit> + Send + 'static {
        let list = self.list.clone();
        (0..self.per_pass * scale).map(move |i| list[i % list.len()].clone())
    }
}

/// The pieces in walk order, grouped into units of at most [`PIECE_BYTES`].
fn units(list: Vec<Piece>) -> Vec<Unit> {
    let mut units = Vec::new();
    let mut unit: Vec<Piece> = Vec::new();
    let mut unit_bytes = 0;
    for piece in list {
        if !unit.is_empty() && unit_bytes + piece.len as u64 > PIECE_BYTES {
            units.push(Unit::from(std::mem::take(&mut unit)));
            unit_bytes = 0;
        }
        unit_bytes += piece.len as u64;
        unit.push(piece);
    }
    if !unit.is_empty() {
        units.push(Unit::from(unit));
    }
    units
}
