//! [`WorkerBuilder`]: the handlers a worker runs and its settings, checked at `build`.

use super::Worker;
use super::handler::{ErasedHandler, Handler};
use crate::error::{Error, Result};
use crate::queue::Queue;
use sluice::ConcurrencyManager;
use sluice::retry::Backoff;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Keys per kind tracked one by one at most (each costs about 4 KiB).
const MAX_TRACKED_KEYS: usize = 10_000;

/// A worker's settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Tasks claimed per round trip at most.
    pub(crate) batch: usize,
    /// Tasks held (claimed, queued in the manager or running) at most.
    pub(crate) max_in_flight: usize,
    /// How long a claim is good for without a heartbeat.
    pub(crate) lease: Duration,
    /// How often leases are extended and cancel requests read.
    pub(crate) heartbeat: Duration,
    /// How often an idle worker looks for tasks without a notification.
    pub(crate) poll: Duration,
    /// The delay before each retry.
    pub(crate) backoff: Backoff,
    /// How long completed and cancelled tasks are kept.
    pub(crate) keep_finished: Duration,
    /// How long dead tasks are kept.
    pub(crate) keep_dead: Duration,
    /// How often expired leases are rescued and (by the leader) the TTL applied.
    pub(crate) maintenance: Duration,
    /// Keys of each kind counted one by one in the metrics.
    pub(crate) key_metrics: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            batch: 10,
            max_in_flight: 32,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            poll: Duration::from_secs(1),
            backoff: Backoff::exponential(Duration::from_secs(1))
                .max_delay(Duration::from_secs(600)),
            keep_finished: Duration::from_secs(24 * 3600),
            keep_dead: Duration::from_secs(7 * 24 * 3600),
            maintenance: Duration::from_secs(10),
            key_metrics: super::key_metrics::DEFAULT_TRACKED_KEYS,
        }
    }
}

/// Builds a [`Worker`]: its handlers and settings.
///
/// # Examples
///
/// ```no_run
/// use sluice::ConcurrencyManager;
/// use sluice_postgres::{Handler, Queue, TaskInfo, Work, Worker};
/// use std::time::Duration;
///
/// struct Fetch;
/// impl Handler for Fetch {
///     type Payload = String;
///     fn kind(&self) -> &str { "fetch" }
///     fn handle(&self, _task: TaskInfo, url: String) -> Work {
///         Work::io(async move { let _ = url; Ok(()) })
///     }
/// }
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let queue = Queue::connect("postgresql://app@db.internal/jobs").await?;
/// let mgr = ConcurrencyManager::builder().io_limit(64).build()?;
/// let worker = Worker::builder(&queue, mgr)
///     .handler(Fetch)
///     .batch_size(50)
///     .lease(Duration::from_secs(60))
///     .build()?
///     .start();
/// worker.shutdown(Duration::from_secs(30)).await;
/// # Ok(())
/// # }
/// ```
pub struct WorkerBuilder {
    /// The queue claimed from.
    queue: Queue,
    /// The manager tasks run through.
    mgr: ConcurrencyManager,
    /// Handlers by kind.
    handlers: HashMap<String, Arc<dyn ErasedHandler>>,
    /// A kind registered twice (refused at build).
    duplicate: Option<String>,
    /// Settings so far.
    settings: Settings,
    /// The heartbeat, when set explicitly (else a third of the lease).
    heartbeat: Option<Duration>,
}

impl std::fmt::Debug for WorkerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerBuilder")
            .field("queue", &self.queue)
            .field("kinds", &self.handlers.keys().collect::<Vec<_>>())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl WorkerBuilder {
    /// A builder for a worker claiming from `queue` and running through `mgr`.
    pub(crate) fn new(queue: &Queue, mgr: ConcurrencyManager) -> Self {
        WorkerBuilder {
            queue: queue.clone(),
            mgr,
            handlers: HashMap::new(),
            duplicate: None,
            settings: Settings::default(),
            heartbeat: None,
        }
    }

    /// Registers `handler` for its kind. Tasks of kinds no handler is registered for
    /// are never claimed by this worker.
    pub fn handler(mut self, handler: impl Handler) -> Self {
        let kind = handler.kind().to_owned();
        if self
            .handlers
            .insert(kind.clone(), Arc::new(handler))
            .is_some()
        {
            self.duplicate = Some(kind);
        }
        self
    }

    /// Claims at most `tasks` per round trip (default 10). A busy worker claims again
    /// once it has room for half a batch (or half of `max_in_flight`, if smaller), so
    /// that it claims in batches rather than a task each time one ends.
    pub fn batch_size(mut self, tasks: usize) -> Self {
        self.settings.batch = tasks;
        self
    }

    /// Holds at most `tasks` claimed tasks at once, queued in the manager or running
    /// (default 32); the manager's own limits decide how many of them run.
    pub fn max_in_flight(mut self, tasks: usize) -> Self {
        self.settings.max_in_flight = tasks;
        self
    }

    /// How long a claim lasts without a heartbeat (default 30 s); past it, the task
    /// goes back to pending (rescued by any worker) for another attempt.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.settings.lease = lease;
        self
    }

    /// How often leases are extended and cancel requests read (default: a third of
    /// the lease).
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = Some(every);
        self
    }

    /// How often an idle worker looks for tasks when no notification came (default 1 s).
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.settings.poll = every;
        self
    }

    /// The delay before each retry (default: from 1 s, doubling, capped at 10 min, full
    /// jitter).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.settings.backoff = backoff;
        self
    }

    /// How long finished tasks stay in the history: completed and cancelled ones
    /// (default 24 h) and dead ones (default 7 days).
    pub fn retention(mut self, finished: Duration, dead: Duration) -> Self {
        self.settings.keep_finished = finished;
        self.settings.keep_dead = dead;
        self
    }

    /// How often this worker rescues expired leases and, while it is the maintenance
    /// leader, removes old history (default 10 s).
    pub fn maintenance_interval(mut self, every: Duration) -> Self {
        self.settings.maintenance = every;
        self
    }

    /// Counts at most `keys` keys of each kind one by one in
    /// [`WorkerMetrics::keys`](crate::WorkerMetrics::keys) (default 64, at most
    /// 10,000; 0 counts every key under `other_keys`). When more keys are seen, the
    /// least active one with no task held here is folded into `other_keys`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(queue: &sluice_postgres::Queue, mgr: sluice::ConcurrencyManager) {
    /// let builder = sluice_postgres::Worker::builder(queue, mgr).key_metrics(200);
    /// # drop(builder);
    /// # }
    /// ```
    pub fn key_metrics(mut self, keys: usize) -> Self {
        self.settings.key_metrics = keys;
        self
    }

    /// The worker, or an error naming the setting that cannot work.
    pub fn build(self) -> Result<Worker> {
        let refuse = |reason: String| {
            Err(Error::Invalid {
                what: "worker setting",
                reason,
            })
        };
        if let Some(kind) = self.duplicate {
            return refuse(format!("two handlers for kind `{kind}`"));
        }
        if self.handlers.is_empty() {
            return refuse("no handler registered: the worker would claim nothing".into());
        }
        let mut settings = self.settings;
        settings.heartbeat = self.heartbeat.unwrap_or(settings.lease / 3);
        if settings.batch == 0 || settings.max_in_flight == 0 {
            return refuse("batch_size and max_in_flight must be at least 1".into());
        }
        if settings.key_metrics > MAX_TRACKED_KEYS {
            return refuse(format!(
                "key_metrics {} is over {MAX_TRACKED_KEYS}",
                settings.key_metrics
            ));
        }
        if settings.batch > 10_000 {
            return refuse(format!("batch_size {} is over 10000", settings.batch));
        }
        if settings.lease < Duration::from_millis(100) || settings.heartbeat >= settings.lease {
            return refuse(format!(
                "the heartbeat ({:?}) must be shorter than the lease ({:?}), and the lease at least 100 ms",
                settings.heartbeat, settings.lease
            ));
        }
        for (name, every) in [
            ("heartbeat", settings.heartbeat),
            ("poll_interval", settings.poll),
            ("maintenance_interval", settings.maintenance),
        ] {
            if every.is_zero() {
                return refuse(format!("{name} must be longer than zero"));
            }
        }
        Ok(Worker::new(self.queue, self.mgr, self.handlers, settings))
    }
}
