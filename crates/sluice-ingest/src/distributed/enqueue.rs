//! The enqueuer's side: walk the tree, begin the snapshot, record what needs no
//! read, put the files to read on the queue in batches, wait for them, and close the
//! snapshot with the batches' outcomes added up into one report.

use super::outcome::BatchOutcome;
use super::wait::{Enqueued, Waited, dead_or_cancelled, wait_for_batches};
use super::wire::{Batch, BatchSettings, WirePath, wire_file};
use super::{DistError, KIND, QUEUE, batches};
use crate::engines::common::{self, now_ms};
use crate::options::IngestOptions;
use crate::report::Report;
use crate::run::walk_tree;
use crate::store::Store;
use crate::walk::Entry;
use sluice::ConcurrencyManager;
use sluice_postgres::{NewTask, Queue, TaskId};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// Tasks enqueued per statement.
const ENQUEUE_AT_ONCE: usize = 500;

/// How the files to read are cut into batch tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// Files in a batch at most.
    pub max_files: usize,
    /// Bytes (as walked) in a batch at most; a larger file is a batch of its own.
    pub max_bytes: u64,
    /// Attempts a batch gets before it is dead (a worker killed mid-batch uses one).
    pub max_attempts: u32,
}

impl Default for Batching {
    /// 256 files or 256 MiB a batch, 5 attempts.
    fn default() -> Self {
        Self {
            max_files: 256,
            max_bytes: 256 * 1024 * 1024,
            max_attempts: 5,
        }
    }
}

/// Ingests `dir` into `store` as a new snapshot, its files read by the workers of
/// `queue` (in the queue [`QUEUE`] of its database) that write to the same store:
/// walks, records what needs no read (files unchanged since the parent snapshot,
/// directories, links, special files), enqueues the rest in batches, waits for the
/// batches, closes the snapshot and answers the report. `runtime` is a multi-thread
/// tokio runtime's handle, the one `queue` was connected on. When `stop` is set (or
/// the manager shuts down), batches not yet taken are cancelled and the snapshot is
/// closed as partial: the next run completes it.
///
/// # Examples
///
/// ```no_run
/// use sluice_ingest::distributed::{Batching, ingest_via_queue};
/// use sluice_ingest::{IngestOptions, store::Store};
/// use std::sync::{Arc, atomic::AtomicBool};
///
/// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let runtime = tokio::runtime::Runtime::new()?;
/// let queue = runtime.block_on(sluice_postgres::Queue::connect("postgresql://ingest@db.internal/jobs"))?;
/// let mgr = sluice::ConcurrencyManager::builder().build()?;
/// let store = Store::open("/srv/store".as_ref())?;
/// let stop = Arc::new(AtomicBool::new(false));
/// let report = ingest_via_queue(&mgr, runtime.handle(), &queue, "/srv/data".as_ref(), &store,
///     &IngestOptions::default(), Batching::default(), &stop)?;
/// println!("{} files read by the workers", report.totals.files_read);
/// # Ok(())
/// # }
/// ```
#[allow(clippy::too_many_arguments)]
pub fn ingest_via_queue(
    mgr: &ConcurrencyManager,
    runtime: &tokio::runtime::Handle,
    queue: &Queue,
    dir: &Path,
    store: &Store,
    opts: &IngestOptions,
    batching: Batching,
    stop: &Arc<AtomicBool>,
) -> Result<Report, DistError> {
    if batching.max_files == 0 || batching.max_bytes == 0 || batching.max_attempts == 0 {
        return Err(DistError::BadBatch(
            "a batch needs room for at least one file, one byte and one attempt".into(),
        ));
    }
    let began = Instant::now();
    let queue = queue.named(QUEUE);
    let (root, walk, walk_time) = walk_tree(mgr, dir, store)?;
    // Counted before the batches exist, so that one failing at once is seen; and
    // the queue answers before a snapshot is begun.
    let bad_before = dead_or_cancelled(runtime, &queue)?;
    let mut run = common::begin_shared(&root, &walk, store, opts, None)?;
    let snapshot = run.totals.snapshot;

    // What needs no read is recorded here; the rest is cut into batches.
    let mut cut: Vec<Vec<&Entry>> = Vec::new();
    let mut bytes = 0;
    for entry in &walk.entries {
        if run.record_unread(&root, entry)? {
            continue;
        }
        let full = cut.last().is_none_or(|last| {
            last.len() >= batching.max_files || bytes + entry.stat.size > batching.max_bytes
        });
        if full {
            cut.push(Vec::new());
            bytes = 0;
        }
        bytes += entry.stat.size;
        if let Some(last) = cut.last_mut() {
            last.push(entry);
        }
    }
    run.writer.commit()?;

    let token = token(&root, snapshot);
    let catalog = store.catalog()?;
    batches::begin_run(&catalog, snapshot, &token, cut.len() as u32)?;
    let settings = BatchSettings::of(opts);
    let mut tasks = Vec::with_capacity(cut.len());
    for (number, files) in cut.iter().enumerate() {
        let batch = Batch {
            snapshot,
            token: token.clone(),
            number: number as u32,
            root: WirePath::of(&root),
            settings,
            files: files.iter().map(|entry| wire_file(entry)).collect(),
        };
        tasks.push(NewTask::new(KIND, &batch)?.max_attempts(batching.max_attempts));
    }
    let ids = match enqueue_all(runtime, &queue, tasks) {
        Ok(ids) => ids,
        Err((error, ids)) => {
            // Half enqueued: what went in is taken back, the snapshot closed partial.
            for id in ids.into_iter().flatten() {
                let _ = runtime.block_on(queue.cancel(id));
            }
            run.totals.stopped = true;
            run.finish()?;
            return Err(error.into());
        }
    };
    tracing::info!(snapshot, batches = ids.len(), queue = %queue.url(), "batches enqueued");

    let sizes: Vec<(u64, u64)> = cut
        .iter()
        .map(|files| (files.len() as u64, files.iter().map(|e| e.stat.size).sum()))
        .collect();
    let enqueued = Enqueued {
        snapshot,
        ids: &ids,
        sizes: &sizes,
        bad_before,
    };
    let Waited { failed, stopped } = wait_for_batches(
        mgr,
        runtime,
        &queue,
        &catalog,
        &enqueued,
        &run.totals,
        opts,
        stop,
    )?;

    // The distinct chunks of the files the workers read, as a single run counts them.
    let read: HashSet<&Path> = cut
        .iter()
        .flatten()
        .map(|entry| entry.path.as_path())
        .collect();
    for row in catalog.files(snapshot, Path::new(""))? {
        if read.contains(row.path.as_path()) {
            run.distinct.extend(row.chunks);
        }
    }
    run.totals.stopped = stopped || !failed.is_empty();
    let outcomes = batches::outcomes(&catalog, snapshot)?;
    let mut totals = run.finish()?;
    outcomes
        .iter()
        .for_each(|outcome: &BatchOutcome| outcome.add_to(&mut totals));
    for (number, why) in failed {
        for entry in cut.get(number as usize).into_iter().flatten() {
            totals
                .problems
                .push((entry.path.clone(), format!("its batch failed: {why}")));
        }
    }
    if totals.stopped {
        tracing::warn!(
            snapshot,
            "the snapshot is partial: run again to complete it"
        );
    }
    let sluice = serde_json::from_str(&mgr.snapshot().to_json()).unwrap_or_default();
    Ok(Report::new(
        root,
        store.dir().to_path_buf(),
        totals,
        walk_time,
        began.elapsed(),
        sluice,
    ))
}

/// The ids of enqueued tasks, in order (`None`: not added, never the case here).
type Ids = Vec<Option<TaskId>>;

/// Enqueues `tasks` a statement of [`ENQUEUE_AT_ONCE`] at a time; on an error, also
/// answers the ids enqueued before it.
fn enqueue_all(
    runtime: &tokio::runtime::Handle,
    queue: &Queue,
    mut tasks: Vec<NewTask>,
) -> Result<Ids, (sluice_postgres::Error, Ids)> {
    let mut ids = Vec::with_capacity(tasks.len());
    while !tasks.is_empty() {
        let rest = tasks.split_off(tasks.len().min(ENQUEUE_AT_ONCE));
        match runtime.block_on(queue.enqueue_many(tasks)) {
            Ok(more) => ids.extend(more),
            Err(error) => return Err((error, ids)),
        }
        tasks = rest;
    }
    Ok(ids)
}

/// A token no other run has: the workers check it against the store's record, so a
/// worker given another store refuses the batch instead of writing a snapshot there.
fn token(root: &Path, snapshot: i64) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(root.as_os_str().as_encoded_bytes());
    hasher.update(&snapshot.to_le_bytes());
    hasher.update(&std::process::id().to_le_bytes());
    hasher.update(&now_ms().to_le_bytes());
    hasher.finalize().to_hex()[..32].to_owned()
}
