//! What a worker's batch did, as it is kept in the catalog until the enqueuer adds
//! the batches up into the snapshot's report.

use super::wire::WirePath;
use crate::report::Totals;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A batch's counts, its problems, and what its writer did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchOutcome {
    /// Files read.
    pub files_read: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Files read twice because they changed during the first read.
    pub files_reread: u64,
    /// Chunks of the files read.
    pub chunks: u64,
    /// New chunks appended to packs.
    pub chunks_stored: u64,
    /// Their raw bytes.
    pub raw_bytes_stored: u64,
    /// Their stored bytes.
    pub bytes_stored: u64,
    /// Files recorded.
    pub files_recorded: u64,
    /// Packs written.
    pub packs: u64,
    /// Chunks another writer recorded first: dead space in this batch's packs.
    pub dead_chunks: u64,
    /// Their stored bytes.
    pub dead_bytes: u64,
    /// Busy seconds reading, chunking, compressing, packing and in the catalog.
    pub seconds: [f64; 5],
    /// Files not recorded, with the reason.
    pub problems: Vec<(WirePath, String)>,
}

impl BatchOutcome {
    /// The outcome of a batch's totals.
    pub fn of(totals: &Totals) -> Self {
        let write = &totals.write;
        Self {
            files_read: totals.files_read,
            bytes_read: totals.bytes_read,
            files_reread: totals.files_reread,
            chunks: totals.chunks,
            chunks_stored: write.chunks_stored,
            raw_bytes_stored: write.raw_bytes_stored,
            bytes_stored: write.bytes_stored,
            files_recorded: write.files_recorded,
            packs: write.packs,
            dead_chunks: write.dead_chunks,
            dead_bytes: write.dead_bytes,
            seconds: [
                totals.read_time.as_secs_f64(),
                totals.chunk_time.as_secs_f64(),
                totals.compress_time.as_secs_f64(),
                write.pack_time.as_secs_f64(),
                write.catalog_time.as_secs_f64(),
            ],
            problems: totals
                .problems
                .iter()
                .map(|(path, reason)| (WirePath::of(path), reason.clone()))
                .collect(),
        }
    }

    /// Adds this batch to the snapshot's totals.
    pub fn add_to(&self, totals: &mut Totals) {
        let time = |at: usize| Duration::try_from_secs_f64(self.seconds[at]).unwrap_or_default();
        totals.files_read += self.files_read;
        totals.bytes_read += self.bytes_read;
        totals.files_reread += self.files_reread;
        totals.chunks += self.chunks;
        totals.read_time += time(0);
        totals.chunk_time += time(1);
        totals.compress_time += time(2);
        let write = &mut totals.write;
        write.chunks_stored += self.chunks_stored;
        write.raw_bytes_stored += self.raw_bytes_stored;
        write.bytes_stored += self.bytes_stored;
        write.packs += self.packs;
        write.dead_chunks += self.dead_chunks;
        write.dead_bytes += self.dead_bytes;
        write.pack_time += time(3);
        write.catalog_time += time(4);
        write.files_recorded += self.files_recorded;
        totals.problems.extend(
            self.problems
                .iter()
                .map(|(path, reason)| (path.to_path(), reason.clone())),
        );
    }
}
