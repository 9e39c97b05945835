//! The worker's side: a `sluice-postgres` handler that ingests a batch's files into
//! the store, as the single-process pipeline does, and records the batch as done.

use super::outcome::BatchOutcome;
use super::wire::Batch;
use super::{DistError, KIND, batches};
use crate::engines::common;
use crate::options::IngestError;
use crate::pipeline;
use crate::read::ReadHook;
use crate::store::{Store, StoreError};
use crate::walk::Walk;
use sluice::ConcurrencyManager;
use sluice_postgres::{Handler, HandlerError, TaskInfo, Work};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// How long a batch waits while a single-process run holds the store.
const LOCKED_SNOOZE: Duration = Duration::from_secs(5);

/// Runs batch tasks: register it on a [`sluice_postgres::Worker`] of the queue
/// [`QUEUE`](super::QUEUE). A batch runs on the blocking route and its files through
/// the manager's streamed maps, as in a single-process run.
///
/// # Examples
///
/// ```no_run
/// use sluice_ingest::distributed::{BatchHandler, QUEUE};
/// use sluice_ingest::store::Store;
/// use sluice_postgres::{Queue, Worker};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let queue = Queue::connect("postgresql://ingest@db.internal/jobs").await?.named(QUEUE);
/// let mgr = sluice::ConcurrencyManager::builder().build()?;
/// let store = Store::open("/srv/store".as_ref())?;
/// let worker = Worker::builder(&queue, mgr.clone())
///     .handler(BatchHandler::new(store, mgr))
///     .batch_size(1)
///     .build()?
///     .start();
/// worker.shutdown(std::time::Duration::from_secs(60)).await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct BatchHandler {
    /// The store batches are written to.
    store: Store,
    /// The manager a batch's stages run on.
    mgr: ConcurrencyManager,
    /// Called on every file read (tests slow the reads down with it).
    hook: Option<ReadHook>,
}

impl std::fmt::Debug for BatchHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchHandler")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl BatchHandler {
    /// A handler writing into `store`, running each batch's stages on `mgr`.
    pub fn new(store: Store, mgr: ConcurrencyManager) -> Self {
        Self {
            store,
            mgr,
            hook: None,
        }
    }

    /// Calls `hook` before every file's read, as [`IngestOptions::hook`](crate::IngestOptions::hook).
    pub fn read_hook(mut self, hook: Option<ReadHook>) -> Self {
        self.hook = hook;
        self
    }
}

impl Handler for BatchHandler {
    type Payload = Batch;

    fn kind(&self) -> &str {
        KIND
    }

    fn handle(&self, task: TaskInfo, batch: Batch) -> Work {
        let (store, mgr, hook) = (self.store.clone(), self.mgr.clone(), self.hook.clone());
        Work::blocking(move || match run_batch(&mgr, &store, &batch, hook) {
            Ok(Some(outcome)) => {
                tracing::info!(
                    task = task.id,
                    snapshot = batch.snapshot,
                    batch = batch.number,
                    files = outcome.files_read,
                    "batch done"
                );
                Ok(())
            }
            // Stopped by a shutdown: what was read is recorded, the rest is handed
            // back without using an attempt.
            Ok(None) => Err(HandlerError::Snooze(Duration::ZERO)),
            Err(error) => Err(classify(error)),
        })
    }
}

/// What the queue does with a failed batch.
fn classify(error: DistError) -> HandlerError {
    match error {
        DistError::BadBatch(_) => HandlerError::permanent(error),
        DistError::Ingest(IngestError::Store(StoreError::Io { ref source, .. }))
            if source.kind() == std::io::ErrorKind::WouldBlock =>
        {
            tracing::warn!("{error}; trying again in {LOCKED_SNOOZE:?}");
            HandlerError::Snooze(LOCKED_SNOOZE)
        }
        other => HandlerError::retry(other),
    }
}

/// Ingests `batch` into `store` and records it as done; answers its outcome, or
/// `None` when a shutdown stopped it (the files read are recorded, the batch is not
/// done). Running a batch again records the same rows. `hook` is called before
/// every file's read.
pub fn run_batch(
    mgr: &ConcurrencyManager,
    store: &Store,
    batch: &Batch,
    hook: Option<ReadHook>,
) -> Result<Option<BatchOutcome>, DistError> {
    let name = format!("batch {} of snapshot {}", batch.number, batch.snapshot);
    let mut opts = batch
        .settings
        .options()
        .map_err(|reason| DistError::BadBatch(format!("{name}: {reason}")))?;
    opts.hook = hook;
    let token = batches::run_token(&store.catalog()?, batch.snapshot)?;
    if token.as_deref() != Some(batch.token.as_str()) {
        return Err(DistError::BadBatch(format!(
            "{name} was not enqueued from the store {}: give the worker the enqueuer's --store",
            store.dir().display()
        )));
    }
    let root = batch.root.to_path();
    if !root.is_dir() {
        return Err(DistError::NoTree(root.display().to_string()));
    }
    let walk = Walk {
        entries: batch.entries(),
        skipped: Vec::new(),
    };
    // Never set: a batch is cut short only by the manager's shutdown.
    let stop = Arc::new(AtomicBool::new(false));
    let run = common::begin_shared(&root, &walk, store, &opts, Some(batch.snapshot))?;
    let run = pipeline::run_stages(mgr, &root, &walk, run, &opts, &stop)?;
    let stopped = run.totals.stopped;
    let totals = run.close()?;
    if stopped {
        return Ok(None);
    }
    let outcome = BatchOutcome::of(&totals);
    batches::record_batch(
        &mut store.catalog()?,
        batch.snapshot,
        batch.number,
        &outcome,
    )?;
    Ok(Some(outcome))
}
