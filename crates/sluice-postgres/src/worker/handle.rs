//! A started worker: [`WorkerHandle`] (metrics, stop, join), [`StopHandle`] for a
//! signal handler, and the supervisor that runs the loops and the orderly end.

use super::{Shared, WorkerMetrics, claim, heartbeat, listen, settle};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_util::task::TaskTracker;

/// A running worker: its metrics, its stop handle, and its end.
///
/// Dropping the handle does not stop the worker (it runs on until its runtime ends):
/// stop it with [`shutdown`](Self::shutdown) or a [`StopHandle`], so that its held
/// tasks are finished or handed back rather than left to their leases.
pub struct WorkerHandle {
    /// Stops it.
    stop: StopHandle,
    /// What its loops share.
    shared: Arc<Shared>,
    /// The task that runs the loops and reports the end.
    supervisor: tokio::task::JoinHandle<StopReport>,
}

impl std::fmt::Debug for WorkerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerHandle")
            .field("id", &self.shared.id)
            .finish_non_exhaustive()
    }
}

impl WorkerHandle {
    /// Spawns the supervisor of `shared`'s loops on `runtime`.
    pub(crate) fn start(shared: Arc<Shared>, runtime: tokio::runtime::Handle) -> WorkerHandle {
        let supervisor = runtime.spawn(supervise(shared.clone()));
        WorkerHandle {
            stop: StopHandle {
                shared: shared.clone(),
                runtime,
            },
            shared,
            supervisor,
        }
    }

    /// The worker's id (its lease owner name).
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// Counts by kind so far.
    pub fn metrics(&self) -> WorkerMetrics {
        self.shared.metrics.snapshot()
    }

    /// A handle that stops the worker from anywhere (a signal handler).
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Stops claiming, lets held tasks finish within `deadline`, hands the rest back
    /// at once, writes every result, and reports.
    pub async fn shutdown(self, deadline: Duration) -> StopReport {
        self.stop.stop(deadline);
        self.join().await
    }

    /// Waits until the worker has stopped (after [`StopHandle::stop`]).
    pub async fn join(self) -> StopReport {
        match self.supervisor.await {
            Ok(report) => report,
            Err(error) => {
                tracing::error!(%error, "sluice-postgres: the worker's supervisor failed");
                StopReport::from(false, self.shared.metrics.snapshot())
            }
        }
    }
}

/// Stops a worker: cheap to clone, callable from any thread.
#[derive(Clone)]
pub struct StopHandle {
    /// The worker's shared state.
    shared: Arc<Shared>,
    /// Where the deadline's timer runs.
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for StopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopHandle")
            .field("worker", &self.shared.id)
            .finish_non_exhaustive()
    }
}

impl StopHandle {
    /// Stops claiming now; tasks still held after `deadline` are cancelled and handed
    /// back (their leases released, the attempt not counted) at once.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(worker: &sluice_postgres::WorkerHandle) {
    /// worker.stop_handle().stop(std::time::Duration::from_secs(25));
    /// # }
    /// ```
    pub fn stop(&self, deadline: Duration) {
        self.shared.stop.cancel();
        if self.shared.deadline_set.swap(true, Ordering::AcqRel) {
            return;
        }
        let abandon = self.shared.abandon.clone();
        let done = self.shared.done.clone();
        self.runtime.spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(deadline) => abandon.cancel(),
                () = done.cancelled() => {}
            }
        });
    }
}

/// How a worker's stop went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopReport {
    /// Every held task ended within the deadline.
    pub drained: bool,
    /// Tasks the queue took back because the worker stopped: held at the deadline,
    /// or answered with a snooze once the stop was asked (or the manager shut down).
    /// Only those the database accepted: a hand-back fenced off (the task was another
    /// worker's by then) is counted in `metrics` as refused instead.
    pub handed_back: usize,
    /// The worker's final counts, once every result was written: read before the
    /// join, [`WorkerHandle::metrics`] may miss the results still being written.
    pub metrics: WorkerMetrics,
}

/// Runs the worker's loops and its orderly end.
async fn supervise(shared: Arc<Shared>) -> StopReport {
    let runtime = tokio::runtime::Handle::current();
    let (settle_tx, settle_rx) = tokio::sync::mpsc::unbounded_channel();
    let settler = runtime.spawn(settle::settle_loop(shared.clone(), settle_rx));
    let heartbeat = runtime.spawn(heartbeat::heartbeat_loop(shared.clone()));
    let listener = runtime.spawn(listen::listen_loop(shared.clone()));
    let tracker = TaskTracker::new();
    claim::claim_loop(shared.clone(), &tracker, settle_tx).await;
    tracker.close();
    tracker.wait().await;
    let _ = settler.await;
    shared.done.cancel();
    let _ = heartbeat.await;
    let _ = listener.await;
    if let Ok(client) = shared.queue.client().await {
        let _ = client
            .execute(crate::queries::WORKER_GONE, &[&shared.id])
            .await;
    }
    let report = StopReport::from(!shared.abandon.is_cancelled(), shared.metrics.snapshot());
    tracing::info!(worker = %shared.id, handed_back = report.handed_back, "sluice-postgres: worker stopped");
    report
}

impl StopReport {
    /// The report of a stop that `drained` (or not) and ended with `metrics`.
    fn from(drained: bool, metrics: WorkerMetrics) -> Self {
        let handed_back = usize::try_from(metrics.total().handed_back).unwrap_or(usize::MAX);
        StopReport {
            drained,
            handed_back,
            metrics,
        }
    }
}
