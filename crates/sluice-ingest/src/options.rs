//! What a run is told: chunk sizes, compression, pack size, how many files are in
//! flight, a read hook and a progress observer; and why a run fails as a whole.

use crate::chunker::ChunkSizes;
use crate::compress::Compression;
use crate::read::ReadHook;
use crate::report::Progress;
use crate::store::StoreError;
use sluice::TaskError;
use std::sync::Arc;

/// Told where a run is after every entry.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// How a run chunks, compresses and packs, and what it reports to.
#[derive(Clone)]
pub struct IngestOptions {
    /// Chunk sizes (validated).
    pub sizes: ChunkSizes,
    /// Compression of new chunks.
    pub compression: Compression,
    /// A pack is closed once it holds this many bytes.
    pub max_pack_bytes: u64,
    /// Files read at once, and chunks compressed at once.
    pub window: usize,
    /// Called on every file read (tests change files through it).
    pub hook: Option<ReadHook>,
    /// Called after every entry is dealt with.
    pub progress: Option<ProgressFn>,
}

impl Default for IngestOptions {
    /// 512 KiB / 640 KiB / 8 MiB chunks (1 MiB on average), zstd level 3, 32 MiB packs, 8 files in flight.
    fn default() -> Self {
        Self {
            sizes: ChunkSizes::default(),
            compression: Compression::Zstd(3),
            max_pack_bytes: 32 * 1024 * 1024,
            window: 8,
            hook: None,
            progress: None,
        }
    }
}

/// Why a run failed as a whole (a single file's problem never fails it).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The store could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sluice gave no answer for a compression (a panic, or a shutdown).
    #[error("compression task: {0}")]
    Task(#[from] TaskError),
}
