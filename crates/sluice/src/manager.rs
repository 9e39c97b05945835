//! The facade: one manager, three routes (and any plugged-in backends).

use crate::TaskError;
use crate::builder::ManagerBuilder;
use crate::map::{submit_io_map, submit_pull_map};
use crate::route::Route;
use crate::snapshot::Snapshot;
use crate::task::{TaskHandle, submit_closure, submit_future};
use sluice_core::{CancelScope, Outcome};
use sluice_exec::IoPool;
use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// The tokio side, for spawning futures.
    pub(crate) io_pool: Arc<IoPool>,
    /// Cancellation shared by every task.
    pub(crate) scope: CancelScope,
    /// Fires to drop every running future (shutdown past its deadline).
    pub(crate) stop: CancellationToken,
    /// Set once shutdown begins: new work is refused.
    pub(crate) closed: AtomicBool,
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

    /// Cancels every task waiting for admission, and makes every task admitted but not
    /// yet started refuse to start. Returns how many waiting tasks it cancelled.
    pub(crate) fn abort_pending(&self) -> usize {
        self.scope.abort_pending();
        let cancelled: usize = self.routes().map(|route| route.gate.drain_deferred()).sum();
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

    /// Refuses work once shutdown has begun: the task is counted as rejected.
    fn refuse<T, E>(&self, route: &Route) -> Option<TaskHandle<T, E>> {
        if !self.inner.closed.load(Ordering::Acquire) {
            return None;
        }
        route.counters.submitted();
        route.counters.ended(Outcome::Rejected);
        Some(TaskHandle::answered(TaskError::ShuttingDown))
    }

    fn closure<F, T, E>(&self, route: &Arc<Route>, work: F) -> TaskHandle<T, E>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.refuse(route)
            .unwrap_or_else(|| submit_closure(route, &self.inner.scope, work))
    }

    /// Runs CPU-bound work (parsing, hashing, compression) on the rayon pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let bytes = std::fs::read("Cargo.toml")?;
    /// // FNV-1a over the file's bytes, off the calling thread.
    /// let hash = mgr
    ///     .run_cpu(move || {
    ///         bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
    ///             (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    ///         })
    ///     })
    ///     .wait()?;
    /// assert_ne!(hash, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_cpu<F, T>(&self, work: F) -> TaskHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.closure(&self.inner.cpu, move || Ok::<T, Infallible>(work()))
    }

    /// Runs fallible CPU-bound work; its `Err(e)` answers [`TaskError::Failed`]`(e)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, TaskError};
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let port = mgr.try_run_cpu(|| "8080".parse::<u16>()).wait()?;
    /// assert_eq!(port, 8080);
    ///
    /// // The task's own error comes back flat, as `TaskError::Failed`.
    /// let bad = mgr.try_run_cpu(|| "80x80".parse::<u16>()).wait();
    /// assert!(matches!(bad, Err(TaskError::Failed(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_run_cpu<F, T, E>(&self, work: F) -> TaskHandle<T, E>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.closure(&self.inner.cpu, work)
    }

    /// Runs a small piece of work on the work-stealing chunk pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let record = "2024-05-01,sensor-7,21.5";
    /// let fields = mgr.run_chunk(move || record.split(',').count()).wait()?;
    /// assert_eq!(fields, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_chunk<F, T>(&self, work: F) -> TaskHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.closure(&self.inner.chunk, move || Ok::<T, Infallible>(work()))
    }

    /// Runs a fallible small piece of work on the chunk pool; its `Err(e)` answers
    /// [`TaskError::Failed`]`(e)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, TaskError};
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let reading = mgr.try_run_chunk(|| "21.5".parse::<f64>()).wait()?;
    /// assert_eq!(reading, 21.5);
    ///
    /// let missing = mgr.try_run_chunk(|| "".parse::<f64>()).wait();
    /// assert!(matches!(missing, Err(TaskError::Failed(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_run_chunk<F, T, E>(&self, work: F) -> TaskHandle<T, E>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.closure(&self.inner.chunk, work)
    }

    /// Runs a blocking call (file system, a synchronous client) on the runtime's
    /// bounded blocking pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// // Blocking directory listing, kept off the CPU pool and the runtime's workers.
    /// let sources = mgr
    ///     .run_io_blocking(|| std::fs::read_dir("src").map(|dir| dir.count()).unwrap_or(0))
    ///     .wait()?;
    /// assert!(sources > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_io_blocking<F, T>(&self, work: F) -> TaskHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.closure(&self.inner.io_blocking, move || Ok::<T, Infallible>(work()))
    }

    /// Runs a fallible blocking call on the runtime's blocking pool; its `Err(e)` answers
    /// [`TaskError::Failed`]`(e)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, TaskError};
    /// use std::io::ErrorKind;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let manifest = mgr.try_run_io_blocking(|| std::fs::read_to_string("Cargo.toml")).wait()?;
    /// assert!(manifest.contains("[package]"));
    ///
    /// let missing = mgr.try_run_io_blocking(|| std::fs::read("no-such-file.csv")).wait();
    /// assert!(matches!(missing, Err(TaskError::Failed(e)) if e.kind() == ErrorKind::NotFound));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_run_io_blocking<F, T, E>(&self, work: F) -> TaskHandle<T, E>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.closure(&self.inner.io_blocking, work)
    }

    /// Runs a future on the IO runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let len = mgr.run_io(async {
    ///     tokio::fs::read("Cargo.toml").await.map(|bytes| bytes.len()).unwrap_or(0)
    /// });
    /// // Waited for from synchronous code here; from async code, `.await` it instead.
    /// assert!(len.wait()? > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_io<Fut>(&self, future: Fut) -> TaskHandle<Fut::Output>
    where
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        self.try_run_io(async move { Ok::<_, Infallible>(future.await) })
    }

    /// Runs a fallible future on the IO runtime; its `Err(e)` answers
    /// [`TaskError::Failed`]`(e)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, TaskError};
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let manifest = mgr.try_run_io(tokio::fs::read_to_string("Cargo.toml")).wait()?;
    /// assert!(manifest.contains("name = \"sluice\""));
    ///
    /// let missing = mgr.try_run_io(tokio::fs::read("no-such-file.json")).wait();
    /// assert!(matches!(missing, Err(TaskError::Failed(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_run_io<Fut, T, E>(&self, future: Fut) -> TaskHandle<T, E>
    where
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let inner = &self.inner;
        self.refuse(&inner.io).unwrap_or_else(|| {
            submit_future(&inner.io, &inner.scope, &inner.io_pool, &inner.stop, future)
        })
    }

    /// Runs work on a backend registered with
    /// [`ManagerBuilder::executor`]; an unknown name answers
    /// [`TaskError::UnknownExecutor`] at once (nothing is submitted or counted).
    ///
    /// Work for a registered backend is never run inline by a waiting task: it always
    /// runs on the backend's own threads.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, Executor, Job, TaskError};
    /// use std::sync::{Arc, Mutex, mpsc};
    ///
    /// /// Runs every job on one dedicated thread, in order.
    /// struct OneThread(Mutex<mpsc::Sender<Job>>);
    ///
    /// impl Executor for OneThread {
    ///     fn name(&self) -> &str {
    ///         "one-thread"
    ///     }
    ///     fn parallelism(&self) -> usize {
    ///         1
    ///     }
    ///     fn execute(&self, job: Job) {
    ///         // A send error means the thread is gone: the job is dropped, which reports it.
    ///         let _ = self.0.lock().unwrap().send(job);
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::channel::<Job>();
    /// std::thread::spawn(move || rx.into_iter().for_each(Job::run));
    /// let mgr = ConcurrencyManager::builder()
    ///     .executor("one-thread", Arc::new(OneThread(Mutex::new(tx))))
    ///     .build()?;
    ///
    /// let rows = mgr.run_on("one-thread", || "id,name\n1,ada\n2,bob".lines().skip(1).count());
    /// assert_eq!(rows.wait()?, 2);
    ///
    /// let unknown = mgr.run_on("gpu", || ()).wait();
    /// assert_eq!(unknown, Err(TaskError::UnknownExecutor("gpu".into())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_on<F, T>(&self, executor: &str, work: F) -> TaskHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_run_on(executor, move || Ok::<T, Infallible>(work()))
    }

    /// Runs fallible work on a registered backend; its `Err(e)` answers
    /// [`TaskError::Failed`]`(e)`, and an unknown name answers
    /// [`TaskError::UnknownExecutor`] as with [`run_on`](Self::run_on).
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, TaskError};
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// // No backend named "gpu" was registered: answered at once, never run.
    /// let answer = mgr.try_run_on("gpu", || "7".parse::<u8>()).wait();
    /// assert!(matches!(answer, Err(TaskError::UnknownExecutor(name)) if name == "gpu"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_run_on<F, T, E>(&self, executor: &str, work: F) -> TaskHandle<T, E>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        match self.inner.custom.get(executor) {
            Some(route) => self.closure(route, work),
            None => TaskHandle::answered(TaskError::UnknownExecutor(executor.to_owned())),
        }
    }

    /// Maps `f` over `items` on the CPU pool; results in input order.
    ///
    /// The input is pulled lazily, in units sized to the work, with at most a few units
    /// in flight at once; it is never collected up front. The output is the result
    /// `Vec` itself, so its size grows with the number of items. The whole map counts as
    /// one task in the counters.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    /// use std::collections::hash_map::DefaultHasher;
    /// use std::hash::{Hash, Hasher};
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let manifest = std::fs::read_to_string("Cargo.toml")?;
    /// let lines: Vec<String> = manifest.lines().map(String::from).collect();
    /// let count = lines.len();
    /// let hashes = mgr
    ///     .map_cpu(lines, |line| {
    ///         let mut hasher = DefaultHasher::new();
    ///         line.hash(&mut hasher);
    ///         hasher.finish()
    ///     })
    ///     .wait()?;
    /// assert_eq!(hashes.len(), count); // one hash per line, in line order
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_cpu<I, F, O>(&self, items: I, f: F) -> TaskHandle<Vec<O>>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> O + Send + Sync + 'static,
        O: Send + 'static,
    {
        let route = &self.inner.cpu;
        self.refuse(route)
            .unwrap_or_else(|| submit_pull_map(route, &self.inner.scope, items.into_iter(), f))
    }

    /// Maps `f` over `items` on the chunk pool; results in input order. Built for
    /// millions of small items: units adapt to the cost of an item.
    ///
    /// As with [`map_cpu`](Self::map_cpu), the input is pulled lazily with at most a few
    /// units in flight, the output is the result `Vec` itself, and the map counts as one
    /// task.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// // A lazily generated input: the records are never all in memory at once.
    /// let records = (0..100_000u64).map(|i| format!("{i},{}", i % 7));
    /// let sum_fields = |record: String| -> u64 {
    ///     record.split(',').filter_map(|field| field.parse::<u64>().ok()).sum()
    /// };
    /// let totals = mgr.map_chunks(records, sum_fields).wait()?;
    /// assert_eq!(totals.len(), 100_000);
    /// assert_eq!(totals[10], 10 + 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_chunks<I, F, O>(&self, items: I, f: F) -> TaskHandle<Vec<O>>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> O + Send + Sync + 'static,
        O: Send + 'static,
    {
        let route = &self.inner.chunk;
        self.refuse(route)
            .unwrap_or_else(|| submit_pull_map(route, &self.inner.scope, items.into_iter(), f))
    }

    /// Runs `f(item)` as a future for every item on the IO runtime, at most the IO
    /// limit at once; results in input order.
    ///
    /// The input is pulled lazily as room frees in that window; the output is the
    /// result `Vec` itself. The whole map counts as one task.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let sizes = mgr
    ///     .map_io(["Cargo.toml", "src/lib.rs", "missing.txt"], |path| async move {
    ///         tokio::fs::metadata(path).await.map(|meta| meta.len()).ok()
    ///     })
    ///     .wait()?;
    /// assert!(sizes[0].is_some() && sizes[1].is_some());
    /// assert_eq!(sizes[2], None); // results stay in input order
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_io<I, F, Fut, O>(&self, items: I, f: F) -> TaskHandle<Vec<O>>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> Fut + Send + 'static,
        Fut: Future<Output = O> + Send + 'static,
        O: Send + 'static,
    {
        let inner = &self.inner;
        self.refuse(&inner.io).unwrap_or_else(|| {
            submit_io_map(
                &inner.io,
                &inner.scope,
                &inner.io_pool,
                &inner.stop,
                items.into_iter(),
                f,
            )
        })
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
        Snapshot::of(self.inner.routes().map(|route| &**route))
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
        for route in self.routes() {
            route.gate.drain_deferred();
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
