//! Ingesting one tree with several worker processes over a PostgreSQL queue
//! (`sluice-postgres`): the enqueuer walks the tree, begins the snapshot, records what
//! needs no read (unchanged files, directories, links), puts the files to read on the
//! queue in batches, waits for them and closes the snapshot; each worker claims
//! batches and ingests their files into the same store, as a single-process run would.
//!
//! The store is shared: every writer holds its lock shared, takes pack numbers by
//! creating the file (never two writers on one pack), waits for the others' short
//! catalog transactions, and records a chunk once (`INSERT OR IGNORE`; a second copy
//! written in a race is dead space, counted). A batch's outcome is recorded in the
//! catalog after its files, so a batch redone after a worker died replaces it.

mod batches;
mod enqueue;
mod outcome;
mod wait;
mod wire;
mod worker;

pub use enqueue::{Batching, ingest_via_queue};
pub use outcome::BatchOutcome;
pub use wire::{Batch, BatchSettings};
pub use worker::{BatchHandler, run_batch};

use crate::options::IngestError;
use crate::store::StoreError;
use crate::store::catalog::CatalogError;

/// The queue (in the database the URL names) that ingest batches go through.
pub const QUEUE: &str = "sluice-ingest";

/// The kind of a batch task.
pub const KIND: &str = "sluice-ingest-batch";

/// Why ingesting through the queue failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// The tree could not be walked at all.
    #[error(transparent)]
    Walk(#[from] crate::RunError),
    /// The store failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The queue failed (its URL is shown without the password).
    #[error("queue: {0}")]
    Queue(#[from] sluice_postgres::Error),
    /// A batch this worker cannot take: its snapshot was not enqueued from this
    /// store (the worker's `--store` is not the enqueuer's), or its settings are
    /// ones no run sends.
    #[error("{0}")]
    BadBatch(String),
    /// The tree's root is not a directory on this worker's machine.
    #[error("the tree {0} is not a directory here: workers must see it at the enqueuer's path")]
    NoTree(String),
}

impl From<StoreError> for DistError {
    fn from(error: StoreError) -> Self {
        Self::Ingest(IngestError::Store(error))
    }
}

impl From<CatalogError> for DistError {
    fn from(error: CatalogError) -> Self {
        Self::from(StoreError::Catalog(error))
    }
}
