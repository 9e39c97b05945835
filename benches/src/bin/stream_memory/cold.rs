//! `--cold`: the pipeline's files put out of the page cache before a run, so that its
//! reads come from the disk as an ingestion program's first pass over a tree does.
//!
//! From the page cache a read is the kernel copying, on a CPU: the read and cpu stages
//! then compete for the same cores, and on a two-core machine the pipeline cannot
//! overlap them. From the disk a read mostly waits, and the overlap is the pipeline's
//! own. `POSIX_FADV_DONTNEED` drops a file's clean, unmapped pages without privileges;
//! pages another process maps (a running `rustc`'s libraries, in a toolchain) stay, so a
//! run is as cold as the machine lets it be — the same for a stage alone and for the
//! pipeline.

use crate::pieces::Pieces;
use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};
use std::fs::File;
use std::path::Path;

/// Drops the page-cache pages of every file the pieces come from; how many files.
pub fn evict(pieces: &Pieces) -> Result<usize, String> {
    let mut last: Option<&Path> = None;
    let mut files = 0;
    for piece in pieces.distinct() {
        // Pieces are in walk order: a file's pieces are next to each other.
        if last == Some(&*piece.path) {
            continue;
        }
        last = Some(&piece.path);
        let file = File::open(&piece.path)
            .map_err(|e| format!("opening {}: {e}", piece.path.display()))?;
        posix_fadvise(&file, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED)
            .map_err(|e| format!("dropping {} from the page cache: {e}", piece.path.display()))?;
        files += 1;
    }
    Ok(files)
}
