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
    pub fn run_cpu<F, T>(&self, work: F) -> TaskHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.closure(&self.inner.cpu, move || Ok::<T, Infallible>(work()))
    }

    /// Runs fallible CPU-bound work; its `Err(e)` answers [`TaskError::Failed`]`(e)`.
    pub fn try_run_cpu<F, T, E>(&self, work: F) -> TaskHandle<T, E>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.closure(&self.inner.cpu, work)
    }

    /// Runs a small piece of work on the work-stealing chunk pool.
    pub fn run_chunk<F, T>(&self, work: F) -> TaskHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.closure(&self.inner.chunk, move || Ok::<T, Infallible>(work()))
    }

    /// Runs a fallible small piece of work on the chunk pool.
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
    pub fn run_io_blocking<F, T>(&self, work: F) -> TaskHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.closure(&self.inner.io_blocking, move || Ok::<T, Infallible>(work()))
    }

    /// Runs a fallible blocking call on the runtime's blocking pool.
    pub fn try_run_io_blocking<F, T, E>(&self, work: F) -> TaskHandle<T, E>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.closure(&self.inner.io_blocking, work)
    }

    /// Runs a future on the IO runtime.
    pub fn run_io<Fut>(&self, future: Fut) -> TaskHandle<Fut::Output>
    where
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        self.try_run_io(async move { Ok::<_, Infallible>(future.await) })
    }

    /// Runs a fallible future on the IO runtime; its `Err(e)` answers
    /// [`TaskError::Failed`]`(e)`.
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
    /// [`TaskError::UnknownExecutor`].
    pub fn run_on<F, T>(&self, executor: &str, work: F) -> TaskHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_run_on(executor, move || Ok::<T, Infallible>(work()))
    }

    /// Runs fallible work on a registered backend.
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

    /// Maps `f` over `items` on the CPU pool; results in input order. Items are pulled
    /// lazily in units sized to the work, so memory stays bounded.
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
    pub fn map_io<I, F, Fut, O>(&self, items: I, f: F) -> TaskHandle<Vec<O>>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> Fut + Send + Sync + 'static,
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
    pub fn abort_pending(&self) -> usize {
        self.inner.abort_pending()
    }

    /// Every route's counters and admission state.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::of(self.inner.routes().map(|route| &**route))
    }

    /// The tokio runtime IO work runs on, to spawn on it directly or enter it.
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
