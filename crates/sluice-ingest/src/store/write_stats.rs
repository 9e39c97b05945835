//! What a store writer did: chunks and bytes stored, files recorded, packs, and the
//! time its pack writes, fsyncs and catalog transactions took.

use std::time::Duration;

/// What the writer did.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct WriteStats {
    /// New chunks appended to packs.
    pub chunks_stored: u64,
    /// Their raw bytes.
    pub raw_bytes_stored: u64,
    /// Their stored (compressed) bytes.
    pub bytes_stored: u64,
    /// Files (of every kind) recorded.
    pub files_recorded: u64,
    /// Packs written.
    pub packs: u64,
    /// Time spent appending and fsyncing packs.
    #[serde(serialize_with = "crate::report::seconds")]
    pub pack_time: Duration,
    /// Time spent in catalog transactions.
    #[serde(serialize_with = "crate::report::seconds")]
    pub catalog_time: Duration,
    /// Chunks appended that another writer of the store recorded first (several
    /// workers on one store): their copies here are dead space no row points to.
    pub dead_chunks: u64,
    /// Their stored bytes.
    pub dead_bytes: u64,
}
