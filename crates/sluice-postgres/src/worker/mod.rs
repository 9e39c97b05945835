//! [`Worker`]: claims tasks of its registered kinds in batches, runs each through a
//! Sluice `ConcurrencyManager` route, and writes results back, batched and fenced.
//!
//! A started worker is five loops on the runtime that started it, and a driver per
//! claimed batch on the manager's io runtime:
//! - `claim.rs`: takes room (at most `max_in_flight` tasks held), claims a batch with
//!   `FOR UPDATE SKIP LOCKED`, starts the batch (`run.rs`); sleeps on a notification
//!   or the poll interval when nothing is ready.
//! - `driver.rs` (one driver per claimed batch, its tasks concurrent in it, on the
//!   manager's io runtime, so that submitting a task and hearing its answer cross no
//!   runtime): settles each task once, and a driver dropped with that runtime hands
//!   its tasks back; `run.rs` submits each task's work to its route and turns the
//!   answer into a settlement (done, retry, dead, snooze, cancelled, handed back).
//! - `settle.rs`: writes settlements in batches, one statement each, fenced by
//!   (id, attempt, owner); counts the refused ones.
//! - `heartbeat.rs`: extends the leases of held tasks, reads cancel requests, says
//!   the worker is alive.
//! - `handle.rs`: the supervisor that runs these and the orderly stop, and the
//!   handles that stop it.
//! - `listen.rs`: LISTEN on its own connection, the rescue of expired leases, and
//!   the history's TTL when this worker holds the leader's advisory lock.

mod builder;
mod claim;
mod driver;
mod handle;
pub(crate) mod handler;
mod heartbeat;
mod ids;
mod key_metrics;
mod listen;
mod metrics;
mod run;
mod settle;

pub use builder::WorkerBuilder;
pub use handle::{StopHandle, StopReport, WorkerHandle};
pub use metrics::{KindMetrics, WorkerMetrics};

use crate::enqueue::TaskId;
use crate::queue::Queue;
use builder::Settings;
use handler::ErasedHandler;
use ids::IdMap;
use sluice::ConcurrencyManager;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

/// A worker, built and not yet started.
///
/// # Examples
///
/// ```no_run
/// use sluice::ConcurrencyManager;
/// use sluice_postgres::{Handler, Queue, TaskInfo, Work, Worker};
/// use std::time::Duration;
///
/// struct Log;
/// impl Handler for Log {
///     type Payload = String;
///     fn kind(&self) -> &str { "log" }
///     fn handle(&self, _task: TaskInfo, line: String) -> Work {
///         Work::io(async move { tracing::info!(%line); Ok(()) })
///     }
/// }
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let queue = Queue::connect("postgresql://app@db.internal/jobs").await?;
/// let worker = Worker::builder(&queue, ConcurrencyManager::builder().build()?)
///     .handler(Log)
///     .build()?
///     .start();
/// let stop = worker.stop_handle(); // for a signal handler
/// stop.stop(Duration::from_secs(20));
/// let report = worker.join().await;
/// assert_eq!(report.handed_back, 0);
/// # Ok(())
/// # }
/// ```
pub struct Worker {
    /// What every loop shares.
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.shared.id)
            .finish_non_exhaustive()
    }
}

/// What the loops of one worker share.
pub(crate) struct Shared {
    /// The queue and its pool.
    pub(crate) queue: Queue,
    /// The manager tasks run through.
    pub(crate) mgr: ConcurrencyManager,
    /// Handlers by kind.
    pub(crate) handlers: HashMap<String, Arc<dyn ErasedHandler>>,
    /// The registered kinds, as the claim statement takes them.
    pub(crate) kinds: Vec<String>,
    /// This worker's lease-owner name, unique across processes.
    pub(crate) id: String,
    /// Its settings.
    pub(crate) settings: Settings,
    /// Tasks held now: their attempt and the signal that cancels them.
    pub(crate) running: Mutex<IdMap<Held>>,
    /// Room for held tasks (`max_in_flight` permits).
    pub(crate) room: Arc<Semaphore>,
    /// Woken by notifications and by settlements that make tasks ready.
    pub(crate) wake: Notify,
    /// Set when the worker stops claiming.
    pub(crate) stop: CancellationToken,
    /// Set when the stop deadline passes: held tasks are handed back at once.
    pub(crate) abandon: CancellationToken,
    /// Whether a stop's deadline is set: the first `StopHandle::stop` sets it, even
    /// when the worker had already stopped claiming on its own (its manager shutting
    /// down), so that the tasks it holds are still handed back at that deadline.
    pub(crate) deadline_set: AtomicBool,
    /// Set when every held task is settled: the heartbeat and listener end.
    pub(crate) done: CancellationToken,
    /// Counts by kind.
    pub(crate) metrics: metrics::Metrics,
}

/// A task this worker holds.
pub(crate) struct Held {
    /// Its attempt (the fence with the worker's id).
    pub(crate) attempt: i32,
    /// Notified when someone asked to cancel it.
    pub(crate) cancel: Arc<Notify>,
}

impl Worker {
    /// A builder for a worker claiming from `queue` and running tasks through `mgr`.
    pub fn builder(queue: &Queue, mgr: ConcurrencyManager) -> WorkerBuilder {
        WorkerBuilder::new(queue, mgr)
    }

    /// The worker from a checked builder.
    fn new(
        queue: Queue,
        mgr: ConcurrencyManager,
        handlers: HashMap<String, Arc<dyn ErasedHandler>>,
        settings: Settings,
    ) -> Worker {
        let mut kinds: Vec<String> = handlers.keys().cloned().collect();
        kinds.sort();
        Worker {
            shared: Arc::new(Shared {
                queue,
                mgr,
                handlers,
                kinds,
                id: worker_id(),
                room: Arc::new(Semaphore::new(settings.max_in_flight)),
                metrics: metrics::Metrics::new(settings.key_metrics),
                settings,
                running: Mutex::new(IdMap::default()),
                wake: Notify::new(),
                stop: CancellationToken::new(),
                abandon: CancellationToken::new(),
                deadline_set: AtomicBool::new(false),
                done: CancellationToken::new(),
            }),
        }
    }

    /// This worker's id: the lease owner written on the tasks it claims.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// Starts claiming and running. The worker's loops, and the database connections
    /// they open, live on the tokio runtime this is called from (outside one, on the
    /// manager's io runtime): a pool's connection dies with the runtime that opened it,
    /// so they belong to the application's runtime, not to a manager dropped with the
    /// worker. Each claimed batch is driven on the manager's io runtime (where
    /// [`Handler::handle`](crate::Handler::handle) is called), and handlers' work runs
    /// on the manager's routes. A manager shut down under the worker ends it: the tasks
    /// it holds are handed back and it claims no more.
    pub fn start(self) -> WorkerHandle {
        let shared = self.shared;
        let runtime = tokio::runtime::Handle::try_current()
            .unwrap_or_else(|_| shared.mgr.io_handle().clone());
        WorkerHandle::start(shared, runtime)
    }
}

impl Shared {
    /// Records that this worker holds each task `(id, attempt, cancel)`, under one lock.
    pub(crate) fn hold_all(&self, tasks: impl Iterator<Item = (TaskId, i32, Arc<Notify>)>) {
        let mut held = self.held();
        for (id, attempt, cancel) in tasks {
            held.insert(id, Held { attempt, cancel });
        }
    }

    /// Forgets task `id` in `attempt` (settled). A later attempt of the same task,
    /// claimed here after this one's lease was lost, stays held.
    pub(crate) fn release(&self, id: TaskId, attempt: i32) {
        let mut held = self.held();
        if held.get(&id).is_some_and(|task| task.attempt == attempt) {
            held.remove(&id);
        }
    }

    /// The held tasks, under their lock (never held across an await).
    pub(crate) fn held(&self) -> std::sync::MutexGuard<'_, IdMap<Held>> {
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A lease-owner name unique across hosts and processes: host, pid, a counter and
/// the start time.
fn worker_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "host".into());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_micros());
    format!(
        "{host}-{}-{}-{started:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
