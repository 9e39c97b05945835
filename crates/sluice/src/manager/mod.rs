//! The facade: one manager, three routes (and any plugged-in backends).
//!
//! The type and what its clones share live here; the calls that submit work are in
//! `run.rs` (one task each) and `maps.rs` (many items through one function).

mod maps;
mod promote;
mod retried;
mod run;
mod stream_builder;
mod stream_io;
mod stream_retry;
mod streams;
mod task;
mod task_maps;

pub use stream_builder::StreamBuilder;
pub use task::TaskBuilder;

pub(crate) use promote::PromotionParts;

use crate::TaskError;
use crate::builder::ManagerBuilder;
use crate::policy::breaker::Breakers;
use crate::policy::keyed::{Keys, drain as drain_keys};
use crate::policy::limit::Dependencies;
use crate::policy::retry::{Budgets, Retry};
use crate::route::Route;
use crate::snapshot::Snapshot;
use crate::task::{IoSide, TaskHandle};
use crate::throttle::Throttle;
use crate::ticker::Ticker;
use crate::timers::{Fired, TimerKind, Timers};
use sluice_core::{CancelScope, Gate};
use sluice_exec::IoPool;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

/// Routes CPU, IO and chunked work to pools built for each, behind one API.
///
/// Cheap to clone: clones share the pools. Every `run_*` call returns at once with a
/// [`TaskHandle`], which is a `Future` and has a blocking [`wait`](TaskHandle::wait).
/// Every submitted task ends in exactly one outcome, counted in [`snapshot`](Self::snapshot).
///
/// Dropping the last clone cancels what has not finished (queued tasks answer
/// [`TaskError::Cancelled`], running futures are dropped) without blocking; call
/// [`shutdown`](Self::shutdown) for a graceful end.
///
/// # Examples
///
/// ```
/// use sluice::ConcurrencyManager;
///
/// let mgr = ConcurrencyManager::builder().build()?;
///
/// // CPU work, waited for from synchronous code.
/// let sum = mgr.run_cpu(|| (1..=100u64).sum::<u64>()).wait()?;
/// assert_eq!(sum, 5050);
///
/// // Many small items, in input order.
/// let squares = mgr.map_chunks(0..1_000u64, |x| x * x).wait()?;
/// assert_eq!(squares[999], 999 * 999);
///
/// // IO work as a future, awaited from async code (here, on the manager's runtime).
/// let io = mgr.clone();
/// let len = mgr.run_io(async move {
///     io.run_io_blocking(|| std::fs::read_to_string("Cargo.toml").map(|s| s.len()).unwrap_or(0)).await
/// });
/// assert!(len.wait()?.is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ConcurrencyManager {
    /// Shared by every clone.
    inner: Arc<Inner>,
}

/// What the clones share.
pub(crate) struct Inner {
    /// The rayon route.
    pub(crate) cpu: Arc<Route>,
    /// The work-stealing route.
    pub(crate) chunk: Arc<Route>,
    /// Futures on the runtime.
    pub(crate) io: Arc<Route>,
    /// Blocking calls on the runtime's blocking pool.
    pub(crate) io_blocking: Arc<Route>,
    /// Backends registered by name.
    pub(crate) custom: HashMap<String, Arc<Route>>,
    /// The load throttle's thread, when enabled.
    pub(crate) throttle: Option<Throttle>,
    /// The summary log's thread, when asked for.
    pub(crate) summary: Option<Ticker>,
    /// Adaptive limits by dependency name.
    pub(crate) dependencies: Dependencies,
    /// Circuit breakers by name.
    pub(crate) breakers: Arc<Breakers>,
    /// Keyed tasks waiting for their key's turn.
    pub(crate) keys: Arc<Keys>,
    /// Fires the timeouts of running CPU, chunk and blocking work, and retry backoffs.
    pub(crate) timers: Arc<Timers>,
    /// Retry budgets by task name.
    pub(crate) budgets: Budgets,
    /// Policies every task starts with.
    pub(crate) defaults: Defaults,
    /// The tokio side, for spawning futures.
    pub(crate) io_pool: Arc<IoPool>,
    /// What io tasks need to be spawned.
    pub(crate) io_side: IoSide,
    /// Cancellation shared by every task.
    pub(crate) scope: CancelScope,
    /// Fires to drop every running future (shutdown past its deadline).
    pub(crate) stop: CancellationToken,
    /// Set once shutdown begins: new work is refused, and no retry begins.
    pub(crate) closed: Arc<AtomicBool>,
    /// What a retried task's first attempt needs to make its retry driver, shared by
    /// every such task as one count.
    pub(crate) promotion: Arc<PromotionParts>,
}

/// Policies set in the builder for every task.
#[derive(Debug, Clone, Default)]
pub(crate) struct Defaults {
    /// The timeout of each attempt.
    pub(crate) timeout: Option<Duration>,
    /// The retry policy of [`TaskBuilder::retry_default`].
    pub(crate) retry: Retry,
}

impl Inner {
    /// Every route: the built-in ones, then the custom ones by name.
    pub(crate) fn routes(&self) -> impl Iterator<Item = &Arc<Route>> {
        let mut custom: Vec<_> = self.custom.iter().collect();
        custom.sort_by(|a, b| a.0.cmp(b.0));
        [&self.cpu, &self.io, &self.io_blocking, &self.chunk]
            .into_iter()
            .chain(custom.into_iter().map(|(_, route)| route))
    }

    /// Every admission gate: the dependencies', then the routes'. In that order, so
    /// that a drain of a route, which releases dependency permits, admits nobody from
    /// a dependency's queue into a route queue already drained.
    pub(crate) fn gates(&self) -> impl Iterator<Item = &Gate> {
        self.dependencies
            .all()
            .into_iter()
            .map(|dependency| &dependency.gate)
            .chain(self.routes().map(|route| &route.gate))
    }

    /// Cancels every task waiting for admission, and makes every task admitted but not
    /// yet started refuse to start. Returns how many waiting tasks it cancelled.
    pub(crate) fn abort_pending(&self) -> usize {
        // The pauses already armed first, before the epoch moves: a retry driver that
        // sees the new epoch ends its own pause, and a pause it ended is not counted
        // here. The second sweep takes pauses armed meanwhile, whose drivers may have
        // checked the epoch before it moved.
        let paused = self.timers.cut_short(TimerKind::Backoff, Fired::Aborted);
        self.scope.abort_pending();
        let waiting_for_keys = drain_keys(&self.keys);
        let backing_off = paused + self.timers.cut_short(TimerKind::Backoff, Fired::Aborted);
        let cancelled: usize =
            waiting_for_keys + backing_off + self.gates().map(Gate::drain_deferred).sum::<usize>();
        tracing::info!(cancelled, "sluice: pending tasks aborted");
        cancelled
    }
}

impl ConcurrencyManager {
    /// A builder with every setting at its default.
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder::default()
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        ConcurrencyManager {
            inner: Arc::new(inner),
        }
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// Refuses work once shutdown has begun: the task (named `name`, keyed by `key`)
    /// is counted as rejected.
    fn refuse<T, E>(
        &self,
        route: &Route,
        name: Option<&Arc<str>>,
        key: Option<&crate::policy::keyed::TaskKey>,
    ) -> Option<TaskHandle<T, E>> {
        if !self.inner.closed.load(Ordering::Acquire) {
            return None;
        }
        route.reject(name, key);
        Some(TaskHandle::answered(TaskError::ShuttingDown))
    }

    /// Cancels every task still waiting for admission (each answers
    /// [`TaskError::Cancelled`] at once) and returns how many. Tasks already handed to
    /// a pool but not yet started are cancelled too as they reach a worker; running
    /// work is not touched.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, TaskError};
    /// use std::sync::mpsc;
    ///
    /// let mgr = ConcurrencyManager::builder().cpu_limit(1).build()?;
    /// let (started_tx, started) = mpsc::channel();
    /// let (release, blocked) = mpsc::channel::<()>();
    /// // Takes the only CPU slot until released (or until `release` is dropped).
    /// let running = mgr.run_cpu(move || {
    ///     started_tx.send(()).ok();
    ///     blocked.recv().ok();
    ///     "parsed"
    /// });
    /// started.recv()?;
    /// let queued: Vec<_> = (0..3).map(|i| mgr.run_cpu(move || i * 2)).collect();
    ///
    /// assert_eq!(mgr.abort_pending(), 3);
    /// for handle in queued {
    ///     assert_eq!(handle.wait(), Err(TaskError::Cancelled));
    /// }
    /// release.send(())?; // the running task was not touched
    /// assert_eq!(running.wait()?, "parsed");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn abort_pending(&self) -> usize {
        self.inner.abort_pending()
    }

    /// Every route's counters and admission state. A map counts as one task; a
    /// [`run_on`](Self::run_on) call naming no registered backend is answered
    /// [`TaskError::UnknownExecutor`] and counted nowhere.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, RouteKind};
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// mgr.run_cpu(|| "42".len()).wait()?;
    /// mgr.map_cpu(0..10_000u32, |x| x.count_ones()).wait()?;
    ///
    /// let snapshot = mgr.snapshot();
    /// let cpu = snapshot.route(&RouteKind::Cpu).expect("the cpu route is always there");
    /// assert_eq!(cpu.counters.submitted, 2); // the map is one task
    /// assert_eq!(cpu.counters.succeeded, 2);
    /// assert!(snapshot.to_json().contains("\"succeeded\""));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        let inner = &self.inner;
        Snapshot::of(
            inner.routes().map(|route| &**route),
            inner.breakers.all(),
            inner.throttle.as_ref().map(Throttle::view),
            inner
                .dependencies
                .all()
                .into_iter()
                .map(|d| d.view())
                .collect(),
            inner.budgets.views(),
        )
    }

    /// The tokio runtime IO work runs on, to spawn on it directly or enter it.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// // Drive async code from `main` on the manager's runtime, awaiting handles there.
    /// let lines = mgr.io_handle().block_on(async {
    ///     let text = mgr.try_run_io(tokio::fs::read_to_string("Cargo.toml")).await?;
    ///     let lines = mgr.run_cpu(move || text.lines().count()).await?;
    ///     Ok::<_, Box<dyn std::error::Error>>(lines)
    /// })?;
    /// assert!(lines > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn io_handle(&self) -> &Handle {
        self.inner.io_pool.handle()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
        self.scope.cancel_all();
        self.stop.cancel();
        drain_keys(&self.keys);
        self.timers.cut_short(TimerKind::Backoff, Fired::Aborted);
        if let Some(throttle) = &self.throttle {
            throttle.stop();
        }
        for gate in self.gates() {
            gate.drain_deferred();
        }
        for route in self.routes() {
            route.executor.shutdown();
        }
    }
}

impl fmt::Debug for ConcurrencyManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyManager")
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
