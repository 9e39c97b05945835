//! The enqueuer's wait: until every batch is recorded in the catalog and its task has
//! left the queue (so no worker still writes to the snapshot), a batch task is dead
//! or cancelled, or the run is stopped.

use super::DistError;
use crate::options::IngestOptions;
use crate::report::{Progress, Totals};
use crate::store::catalog::Catalog;
use sluice::ConcurrencyManager;
use sluice_postgres::{Queue, TaskId};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often the catalog is looked at.
const POLL: Duration = Duration::from_millis(200);

/// Rounds between looks at the queue's dead and cancelled counts.
const STATUS_EVERY: u64 = 10;

/// How the wait ended.
pub(crate) struct Waited {
    /// Batches whose task ended dead or cancelled before they were recorded, with why.
    pub failed: BTreeMap<u32, String>,
    /// The run was stopped: batches not recorded were cancelled.
    pub stopped: bool,
}

/// The batches of a snapshot on the queue.
pub(crate) struct Enqueued<'a> {
    /// The snapshot.
    pub snapshot: i64,
    /// Task `ids[n]` is batch `n`.
    pub ids: &'a [Option<TaskId>],
    /// Batch `n` holds `sizes[n]` files and bytes.
    pub sizes: &'a [(u64, u64)],
    /// [`dead_or_cancelled`] before the batches were enqueued: a rise means one of
    /// the queue's tasks failed, maybe one of these.
    pub bad_before: i64,
}

/// Waits for the `batches`; reports progress on top of `base` (what the enqueuer
/// recorded).
#[allow(clippy::too_many_arguments)]
pub(crate) fn wait_for_batches(
    mgr: &ConcurrencyManager,
    runtime: &tokio::runtime::Handle,
    queue: &Queue,
    catalog: &Catalog,
    batches: &Enqueued<'_>,
    base: &Totals,
    opts: &IngestOptions,
    stop: &Arc<AtomicBool>,
) -> Result<Waited, DistError> {
    let Enqueued {
        snapshot,
        ids,
        sizes,
        bad_before,
    } = *batches;
    let mut failed = BTreeMap::new();
    let mut confirmed: HashSet<u32> = HashSet::new();
    for (number, id) in ids.iter().enumerate() {
        if id.is_none() {
            failed.insert(number as u32, "it was not enqueued".to_owned());
        }
    }
    let bad_count = || dead_or_cancelled(runtime, queue);
    let mut bad_seen = bad_before;
    let history = |number: u32| {
        let id = ids.get(number as usize).copied().flatten()?;
        match runtime.block_on(queue.history(id)) {
            Ok(found) => Some(found),
            Err(error) => {
                tracing::warn!("cannot read task {id}'s state, trying again: {error}");
                None
            }
        }
    };
    let mut round = 0u64;
    loop {
        round += 1;
        let recorded: HashSet<u32> = super::batches::done(catalog, snapshot)?
            .into_iter()
            .collect();
        if let Some(report) = &opts.progress {
            let (files, bytes) = recorded
                .iter()
                .filter_map(|&n| sizes.get(n as usize))
                .fold((0, 0), |(f, b), (files, bytes)| (f + files, b + bytes));
            report(&Progress {
                files_done: base.files_unchanged + files,
                files_total: base.walked_files,
                bytes_done: base.bytes_unchanged + bytes,
                bytes_total: base.walked_bytes,
            });
        }
        // A recorded batch whose task is still held may be redone by another worker
        // (its first worker died before completing it): wait for the task too.
        let unconfirmed: Vec<u32> = recorded.difference(&confirmed).copied().collect();
        for number in unconfirmed {
            match history(number) {
                Some(Some(task)) if matches!(task.state.as_str(), "pending" | "running") => {}
                // Finished, or gone from the history (its TTL): done. A batch taken for
                // failed and then recorded (a dead task re-queued) is done after all.
                Some(_) => {
                    confirmed.insert(number);
                    failed.remove(&number);
                }
                None => {}
            }
        }
        if confirmed.len() + failed.len() >= ids.len() {
            return Ok(Waited {
                failed,
                stopped: false,
            });
        }
        if stop.load(Ordering::Relaxed) || mgr.is_shutting_down() {
            for (number, id) in ids.iter().enumerate() {
                if let (false, Some(id)) = (recorded.contains(&(number as u32)), id)
                    && let Err(error) = runtime.block_on(queue.cancel(*id))
                {
                    tracing::warn!("cannot cancel batch task {id}: {error}");
                }
            }
            return Ok(Waited {
                failed,
                stopped: true,
            });
        }
        if round.is_multiple_of(STATUS_EVERY) {
            match bad_count() {
                // A task went dead or was cancelled: find out whether it is one of ours.
                Ok(bad) if bad > bad_seen => {
                    bad_seen = bad;
                    for number in 0..ids.len() as u32 {
                        if recorded.contains(&number) || failed.contains_key(&number) {
                            continue;
                        }
                        if let Some(Some(task)) = history(number)
                            && matches!(task.state.as_str(), "dead" | "cancelled")
                        {
                            let why = task.errors.last().map_or_else(
                                || format!("its task is {}", task.state),
                                |error| format!("its task is {}: {}", task.state, error.error),
                            );
                            failed.insert(number, why);
                        }
                    }
                }
                Ok(_) => {}
                Err(error) => tracing::warn!("cannot read the queue's status: {error}"),
            }
        }
        std::thread::sleep(POLL);
    }
}

/// Tasks of the queue that are dead or cancelled (and kept).
pub(crate) fn dead_or_cancelled(
    runtime: &tokio::runtime::Handle,
    queue: &Queue,
) -> Result<i64, sluice_postgres::Error> {
    runtime
        .block_on(queue.status())
        .map(|status| status.count("dead") + status.count("cancelled"))
}
