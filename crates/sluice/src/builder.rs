//! Building a manager: thread counts and admission limits per route.

use crate::BuildError;
use crate::limit::LimitConfig;
use crate::manager::{ConcurrencyManager, Defaults, Inner, PromotionParts};
use crate::policy::breaker::{Breakers, Duplicate};
use crate::policy::keyed::keys;
use crate::policy::limit::{Dependencies, DuplicateDependency};
use crate::policy::retry::{Budgets, Retry};
use crate::records::{RecordSink, TaskRecord};
use crate::route::{Route, RouteKind};
use crate::task::IoSide;
use crate::throttle::{LoadSampler, SystemSampler, Throttle, ThrottleConfig};
use crate::timers::Timers;
use sluice_core::{BreakerConfig, CancelScope, Clock, Gate, KeyOrder, MonotonicClock};
use sluice_exec::{ChunkPool, CpuPool, Executor, IoPool};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

/// Blocking calls admitted at once by default: enough for slow disks and services,
/// few enough that a burst cannot start thousands of threads.
const DEFAULT_IO_BLOCKING: usize = 64;
/// Futures in flight at once by default.
const DEFAULT_IO_LIMIT: usize = 1024;
/// Keys tracked one by one per route by default.
const DEFAULT_MAX_KEYS: usize = 100;

/// Configures a [`ConcurrencyManager`]. Every setting has a default; `build` checks
/// them all and names the first bad one.
///
/// # Examples
///
/// ```
/// use sluice::ConcurrencyManager;
///
/// let mgr = ConcurrencyManager::builder()
///     .cpu_threads(2)
///     .chunk_threads(2)
///     .io_threads(1)
///     .build()?;
/// assert_eq!(mgr.run_cpu(|| 1 + 1).wait()?, 2);
///
/// let err = ConcurrencyManager::builder().cpu_threads(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "cpu_threads = 0: must be at least 1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
#[must_use = "a builder does nothing until built"]
pub struct ManagerBuilder {
    /// Threads of the rayon pool.
    cpu_threads: Option<usize>,
    /// Threads of the chunk pool.
    chunk_threads: Option<usize>,
    /// Worker threads of the owned tokio runtime.
    io_threads: Option<usize>,
    /// Most blocking calls at once.
    io_blocking_threads: Option<usize>,
    /// Admission limits per route, when not the defaults.
    cpu_limit: Option<usize>,
    /// See `cpu_limit`.
    chunk_limit: Option<usize>,
    /// See `cpu_limit`.
    io_limit: Option<usize>,
    /// An existing runtime to use instead of an owned one.
    io_handle: Option<Handle>,
    /// Backends registered by the user: name, backend, admission limit.
    executors: Vec<(String, Arc<dyn Executor>, Option<usize>)>,
    /// Circuit breakers by name.
    breakers: Vec<(String, BreakerConfig)>,
    /// Circuit breakers by name, one per task key.
    per_key_breakers: Vec<(String, BreakerConfig)>,
    /// Policies every task starts with.
    defaults: Defaults,
    /// How many later arrivals of higher priority may overtake a waiting task.
    priority_aging: Option<u64>,
    /// The clock every breaker reads; a monotonic clock unless a test injects one.
    breaker_clock: Option<Arc<dyn Clock>>,
    /// How keyed tasks are ordered.
    key_order: KeyOrder,
    /// The load throttle's settings.
    throttle: ThrottleConfig,
    /// What the throttle reads; the real machine unless set.
    load_sampler: Option<Box<dyn LoadSampler>>,
    /// Adaptive limits by dependency name.
    dependencies: Vec<(String, LimitConfig)>,
    /// How often the summary log is written; never if unset.
    summary_interval: Option<Duration>,
    /// Where each task's record goes.
    records: Option<RecordSink>,
    /// Keys tracked one by one per route, when not the default.
    max_keys: Option<usize>,
}

impl ManagerBuilder {
    /// The most threads a pool may be given (`cpu_threads`, `chunk_threads`,
    /// `io_threads`, `io_blocking_threads`): more is refused by
    /// [`build`](Self::build) with [`BuildError::TooManyThreads`], since starting
    /// that many threads takes minutes and memory no pool of this kind needs.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, ManagerBuilder};
    ///
    /// let err = ConcurrencyManager::builder().cpu_threads(100_000).build().unwrap_err();
    /// assert_eq!(err.to_string(), "cpu_threads = 100000: must be between 1 and 4096");
    /// assert_eq!(ManagerBuilder::MAX_THREADS, 4096);
    /// ```
    pub const MAX_THREADS: usize = 4096;

    /// Threads of the CPU pool (rayon), 1 to [`MAX_THREADS`](Self::MAX_THREADS).
    /// Default: the available parallelism.
    pub fn cpu_threads(mut self, threads: usize) -> Self {
        self.cpu_threads = Some(threads);
        self
    }

    /// Threads of the chunk pool, 1 to [`MAX_THREADS`](Self::MAX_THREADS). Default:
    /// the available parallelism.
    pub fn chunk_threads(mut self, threads: usize) -> Self {
        self.chunk_threads = Some(threads);
        self
    }

    /// Worker threads of the owned tokio runtime, 1 to
    /// [`MAX_THREADS`](Self::MAX_THREADS). Default: the available parallelism.
    /// Setting it together with [`io_handle`](Self::io_handle) is an error: an attached
    /// runtime keeps its own threads.
    pub fn io_threads(mut self, threads: usize) -> Self {
        self.io_threads = Some(threads);
        self
    }

    /// Most blocking calls (`run_io_blocking`) at once, and threads for them, 1 to
    /// [`MAX_THREADS`](Self::MAX_THREADS). Default: 64.
    pub fn io_blocking_threads(mut self, threads: usize) -> Self {
        self.io_blocking_threads = Some(threads);
        self
    }

    /// Most CPU tasks handed to the pool at once. Default: `cpu_threads`.
    pub fn cpu_limit(mut self, limit: usize) -> Self {
        self.cpu_limit = Some(limit);
        self
    }

    /// Most chunk tasks handed to the pool at once. Default: `chunk_threads`.
    pub fn chunk_limit(mut self, limit: usize) -> Self {
        self.chunk_limit = Some(limit);
        self
    }

    /// Most futures in flight at once. Default: 1024.
    pub fn io_limit(mut self, limit: usize) -> Self {
        self.io_limit = Some(limit);
        self
    }

    /// Runs IO work on an existing tokio runtime instead of an owned one.
    pub fn io_handle(mut self, handle: Handle) -> Self {
        self.io_handle = Some(handle);
        self
    }

    /// Registers a backend of your own under `name`, for
    /// [`run_on`](ConcurrencyManager::run_on). Its admission limit is its
    /// [`parallelism`](Executor::parallelism).
    pub fn executor(mut self, name: impl Into<String>, executor: Arc<dyn Executor>) -> Self {
        self.executors.push((name.into(), executor, None));
        self
    }

    /// Registers a backend of your own under `name`, admitting at most `limit` of its
    /// tasks at once (instead of its [`parallelism`](Executor::parallelism)).
    pub fn executor_with_limit(
        mut self,
        name: impl Into<String>,
        executor: Arc<dyn Executor>,
        limit: usize,
    ) -> Self {
        self.executors.push((name.into(), executor, Some(limit)));
        self
    }

    /// Registers a circuit breaker under `name`, for tasks that ask for it with
    /// [`TaskBuilder::breaker`](crate::TaskBuilder::breaker). Tasks of any route may share
    /// one breaker.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{BreakerConfig, ConcurrencyManager};
    /// use std::time::Duration;
    ///
    /// let pdf_api = BreakerConfig::builder()
    ///     .consecutive_failures(5)
    ///     .recovery(Duration::from_secs(30))
    ///     .build()?;
    /// let mgr = ConcurrencyManager::builder().breaker("pdf-api", pdf_api).build()?;
    /// let pages = mgr.task("render").breaker("pdf-api").run_io(async { 3 }).wait()?;
    /// assert_eq!(pages, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn breaker(mut self, name: impl Into<String>, config: BreakerConfig) -> Self {
        self.breakers.push((name.into(), config));
        self
    }

    /// The clock the circuit breakers read (their recovery times); a monotonic clock by
    /// default. Tests inject a [`ManualClock`](sluice_core::ManualClock) to move time
    /// exactly.
    pub fn breaker_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.breaker_clock = Some(clock);
        self
    }

    /// How tasks given a [`key`](crate::TaskBuilder::key) are ordered: per key (the
    /// default), strictly one at a time, or not at all.
    pub fn key_order(mut self, order: KeyOrder) -> Self {
        self.key_order = order;
        self
    }

    /// Registers a circuit breaker `name` that keeps one breaker per task key, each made
    /// from `config` when its key first asks: a failing customer, shard or host trips
    /// only its own. Tasks without a key share one breaker of the name. In
    /// [`snapshot`](ConcurrencyManager::snapshot) each shows as `name[key]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{BreakerConfig, ConcurrencyManager, TaskError};
    ///
    /// let per_host = BreakerConfig::builder().consecutive_failures(1).build()?;
    /// let mgr = ConcurrencyManager::builder().breaker_per_key("crawl", per_host).build()?;
    /// let fetch = |host: &str, ok: bool| {
    ///     mgr.task("fetch").breaker("crawl").key(host).try_run_io(async move {
    ///         if ok { Ok("page") } else { Err("connection refused") }
    ///     })
    /// };
    /// assert!(fetch("down.example", false).wait().is_err()); // trips down.example's breaker
    /// assert!(matches!(fetch("down.example", true).wait(), Err(TaskError::Rejected { .. })));
    /// assert_eq!(fetch("up.example", true).wait(), Ok("page")); // its own breaker is closed
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn breaker_per_key(mut self, name: impl Into<String>, config: BreakerConfig) -> Self {
        self.per_key_breakers.push((name.into(), config));
        self
    }

    /// The timeout of every task's attempts unless the task sets its own
    /// ([`TaskBuilder::timeout`](crate::TaskBuilder::timeout)); none by default.
    pub fn default_timeout(mut self, after: Duration) -> Self {
        self.defaults.timeout = Some(after);
        self
    }

    /// The retry policy of [`TaskBuilder::retry_default`](crate::TaskBuilder::retry_default);
    /// [`Retry::default`] unless set.
    pub fn default_retry(mut self, retry: Retry) -> Self {
        self.defaults.retry = retry;
        self
    }

    /// How far priorities go at the gates: a waiting task is overtaken by fewer than
    /// `2 * aging` later arrivals of higher priority, so low work is admitted even
    /// under constant high load. 0 is plain FIFO; the default is
    /// [`Gate::DEFAULT_AGING`](sluice_core::Gate::DEFAULT_AGING) (64).
    pub fn priority_aging(mut self, aging: u64) -> Self {
        self.priority_aging = Some(aging);
        self
    }

    /// The load throttle: when routes give way to other processes' load, and how they
    /// recover (see [`throttle`](crate::throttle)). On by default with
    /// [`ThrottleConfig::new`]'s settings; [`ThrottleConfig::disabled`] turns it off.
    pub fn throttle(mut self, config: ThrottleConfig) -> Self {
        self.throttle = config;
        self
    }

    /// What the throttle reads: [`SystemSampler`](crate::throttle::SystemSampler), the
    /// real machine, unless set here (a scripted sampler for tests and simulations).
    pub fn load_sampler(mut self, sampler: impl LoadSampler) -> Self {
        self.load_sampler = Some(Box::new(sampler));
        self
    }

    /// Registers a dependency (a service the tasks call) with an adaptive concurrency
    /// limit: tasks sent to it with [`TaskBuilder::limit`](crate::TaskBuilder::limit),
    /// or guarded by a breaker of the same name, run at most as many at once as its
    /// limit, which grows while the calls' latency stays near its lowest and shrinks
    /// when latency rises or calls fail (see [`LimitConfig`]).
    pub fn dependency(mut self, name: impl Into<String>, config: LimitConfig) -> Self {
        self.dependencies.push((name.into(), config));
        self
    }

    /// Writes a summary every `interval` as a `tracing` info event (`sluice: summary`):
    /// tasks ended per second, the share that succeeded, tasks in flight and queued,
    /// and the p99 of queue wait and run time, all over the interval. Off by default.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    /// use std::time::Duration;
    ///
    /// // With a `tracing` subscriber installed, a line every ten seconds.
    /// let mgr = ConcurrencyManager::builder()
    ///     .summary_interval(Duration::from_secs(10))
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn summary_interval(mut self, interval: Duration) -> Self {
        self.summary_interval = Some(interval);
        self
    }

    /// Hands `sink` a [`TaskRecord`] for every task as its outcome is counted (before
    /// its caller hears): name, key, route, attempts, queue wait, run time, outcome.
    /// The sink runs on the thread that ends the task: keep it short (send the record
    /// to a channel, say).
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, Outcome, TaskRecord};
    /// use std::sync::mpsc;
    ///
    /// let (tx, records) = mpsc::channel::<TaskRecord>();
    /// let tx = std::sync::Mutex::new(tx);
    /// let mgr = ConcurrencyManager::builder()
    ///     .task_records(move |record| drop(tx.lock().unwrap().send(record.clone())))
    ///     .build()?;
    /// mgr.task("parse").key("file-7").run_cpu(|| 42).wait()?;
    ///
    /// let record = records.recv()?;
    /// assert_eq!((record.name.as_deref(), record.key.as_deref()), (Some("parse"), Some("file-7")));
    /// assert_eq!((record.attempts, record.outcome), (1, Outcome::Succeeded));
    /// assert!(record.run_time.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn task_records(mut self, sink: impl Fn(&TaskRecord) + Send + Sync + 'static) -> Self {
        self.records = Some(Arc::new(sink));
        self
    }

    /// How many task keys each route tracks one by one in
    /// [`RouteSnapshot::keys`](crate::RouteSnapshot::keys) (default 100); the tasks of
    /// any other key are counted together under "other", so memory stays bounded
    /// whatever the number of keys. 0 tracks none.
    ///
    /// The same number bounds each [`breaker_per_key`](Self::breaker_per_key) name:
    /// it keeps at most this many idle closed breakers (a closed breaker nobody holds
    /// and with no failure counted is as good as a fresh one, so it is forgotten and
    /// made again when its key returns), always keeps open, half-open and in-use ones,
    /// and the snapshot lists at most this many per name
    /// ([`Snapshot::per_key_breakers`](crate::Snapshot::per_key_breakers) says how
    /// many were kept, left out and forgotten).
    pub fn max_tracked_keys(mut self, keys: usize) -> Self {
        self.max_keys = Some(keys);
        self
    }

    /// Starts the pools.
    pub fn build(self) -> Result<ConcurrencyManager, BuildError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // The machine's own count is capped too: a default never fails the build.
        let cores = cores.min(Self::MAX_THREADS);
        let cpu_threads = threads("cpu_threads", self.cpu_threads.unwrap_or(cores))?;
        let chunk_threads = threads("chunk_threads", self.chunk_threads.unwrap_or(cores))?;
        let io_threads = threads("io_threads", self.io_threads.unwrap_or(cores))?;
        let io_blocking = threads(
            "io_blocking_threads",
            self.io_blocking_threads.unwrap_or(DEFAULT_IO_BLOCKING),
        )?;
        let cpu_limit = limit("cpu_limit", self.cpu_limit.unwrap_or(cpu_threads))?;
        let chunk_limit = limit("chunk_limit", self.chunk_limit.unwrap_or(chunk_threads))?;
        let io_limit = limit("io_limit", self.io_limit.unwrap_or(DEFAULT_IO_LIMIT))?;

        let clock = self
            .breaker_clock
            .unwrap_or_else(|| Arc::new(MonotonicClock::new()));
        let max_keys = self.max_keys.unwrap_or(DEFAULT_MAX_KEYS);
        let breakers = Breakers::new(self.breakers, self.per_key_breakers, clock, max_keys)
            .map_err(|Duplicate(name)| BuildError::DuplicateBreaker(name))?;
        let aging = self.priority_aging.unwrap_or(Gate::DEFAULT_AGING);
        let throttle = self.throttle.build()?;
        let mut limits = Vec::with_capacity(self.dependencies.len());
        for (name, config) in self.dependencies {
            match config.build() {
                Ok(config) => limits.push((name, config)),
                Err(source) => return Err(BuildError::Limit { name, source }),
            }
        }
        let dependencies = Dependencies::new(limits, aging)
            .map_err(|DuplicateDependency(name)| BuildError::DuplicateDependency(name))?;
        let mut custom = HashMap::new();
        for (name, executor, limit) in self.executors {
            if ["cpu", "io", "io_blocking", "chunk"].contains(&name.as_str())
                || custom.contains_key(&name)
            {
                return Err(BuildError::DuplicateExecutor(name));
            }
            let limit = limit.unwrap_or(executor.parallelism());
            if limit == 0 {
                return Err(BuildError::ZeroExecutorLimit(name));
            }
            if limit > Gate::MAX_LIMIT {
                return Err(BuildError::TooLarge {
                    setting: format!("executor {name:?}: limit"),
                    value: limit,
                    max: Gate::MAX_LIMIT,
                });
            }
            let route = Route::new(
                RouteKind::Custom(name.clone()),
                executor,
                limit,
                (aging, self.records.clone(), max_keys),
            );
            custom.insert(name, route);
        }

        let cpu_pool: Arc<dyn Executor> = Arc::new(CpuPool::new(cpu_threads)?);
        let chunk_pool: Arc<dyn Executor> = Arc::new(ChunkPool::new(chunk_threads)?);
        if self.io_handle.is_some() && self.io_threads.is_some() {
            return Err(BuildError::Conflict {
                setting: "io_threads",
                with: "io_handle",
            });
        }
        let io_pool = Arc::new(match self.io_handle {
            Some(handle) => IoPool::attach(handle, io_blocking),
            None => IoPool::new(io_threads, io_blocking, io_limit)?,
        });
        let io_executor: Arc<dyn Executor> = io_pool.clone();
        tracing::debug!(
            cpu_threads,
            chunk_threads,
            io_threads,
            io_blocking,
            "sluice manager started"
        );
        let io = Route::new(
            RouteKind::Io,
            io_executor.clone(),
            io_limit,
            (aging, self.records.clone(), max_keys),
        );
        let scope = CancelScope::new();
        let stop = CancellationToken::new();
        let io_side = IoSide::new(io.clone(), scope.clone(), io_pool.clone(), stop.clone());
        let cpu = Route::new(
            RouteKind::Cpu,
            cpu_pool,
            cpu_limit,
            (aging, self.records.clone(), max_keys),
        );
        let chunk = Route::new(
            RouteKind::Chunk,
            chunk_pool,
            chunk_limit,
            (aging, self.records.clone(), max_keys),
        );
        let io_blocking = Route::new(
            RouteKind::IoBlocking,
            io_executor,
            io_blocking,
            (aging, self.records.clone(), max_keys),
        );
        let summary = match self.summary_interval {
            Some(interval) if interval < Duration::from_millis(1) => {
                return Err(BuildError::Interval {
                    setting: "summary_interval",
                    value: interval,
                });
            }
            Some(interval) => {
                let mut routes = vec![&cpu, &io, &io_blocking, &chunk];
                routes.extend(custom.values());
                Some(crate::summary::start(interval, routes).map_err(|source| {
                    sluice_exec::ExecError::Thread {
                        name: "sluice-summary".into(),
                        source,
                    }
                })?)
            }
            None => None,
        };
        let throttle = if throttle.is_enabled() {
            let sampler = self
                .load_sampler
                .unwrap_or_else(|| Box::new(SystemSampler::new()));
            let mut routes = vec![&cpu, &io, &io_blocking, &chunk];
            let mut named: Vec<_> = custom.iter().collect();
            named.sort_by(|a, b| a.0.cmp(b.0));
            routes.extend(named.into_iter().map(|(_, route)| route));
            let started = Throttle::start(throttle, sampler, routes).map_err(|source| {
                sluice_exec::ExecError::Thread {
                    name: "sluice-throttle".into(),
                    source,
                }
            })?;
            Some(started)
        } else {
            None
        };
        let breakers = Arc::new(breakers);
        let timers =
            Arc::new(
                Timers::start().map_err(|source| sluice_exec::ExecError::Thread {
                    name: "sluice-timers".into(),
                    source,
                })?,
            );
        let closed = Arc::new(AtomicBool::new(false));
        let promotion = Arc::new(PromotionParts {
            timers: timers.clone(),
            scope: scope.clone(),
            closed: closed.clone(),
        });
        Ok(ConcurrencyManager::from_inner(Inner {
            cpu,
            chunk,
            io,
            io_blocking,
            custom,
            throttle,
            summary,
            dependencies,
            breakers,
            keys: keys(self.key_order),
            timers,
            budgets: Budgets::default(),
            defaults: self.defaults,
            io_pool,
            io_side,
            scope,
            stop,
            closed,
            promotion,
        }))
    }
}

/// An admission limit: at least 1, at most what a gate holds.
fn limit(setting: &'static str, value: usize) -> Result<usize, BuildError> {
    let value = positive(setting, value)?;
    if value > Gate::MAX_LIMIT {
        return Err(BuildError::TooLarge {
            setting: setting.to_owned(),
            value,
            max: Gate::MAX_LIMIT,
        });
    }
    Ok(value)
}

/// A thread count: at least 1, at most [`ManagerBuilder::MAX_THREADS`]. Checked before
/// the limits that default to it, so an error names the setting the caller gave.
fn threads(setting: &'static str, value: usize) -> Result<usize, BuildError> {
    let value = positive(setting, value)?;
    if value > ManagerBuilder::MAX_THREADS {
        return Err(BuildError::TooManyThreads {
            setting,
            value,
            max: ManagerBuilder::MAX_THREADS,
        });
    }
    Ok(value)
}

fn positive(setting: &'static str, value: usize) -> Result<usize, BuildError> {
    if value == 0 {
        Err(BuildError::Zero { setting })
    } else {
        Ok(value)
    }
}

impl fmt::Debug for ManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagerBuilder")
            .field("cpu_threads", &self.cpu_threads)
            .field("chunk_threads", &self.chunk_threads)
            .field("io_threads", &self.io_threads)
            .field("io_blocking_threads", &self.io_blocking_threads)
            .field("executors", &self.executors.len())
            .finish_non_exhaustive()
    }
}
