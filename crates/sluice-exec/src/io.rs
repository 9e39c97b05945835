//! The IO pool: a tokio runtime, owned by the manager or attached to the caller's, and
//! Sluice's own blocking pool (`blocking/`) for blocking calls, whose threads enter it.

use crate::blocking::BlockingPool;
use crate::{ExecError, Executor, Job};
use std::fmt;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::runtime::{Builder, Handle, Runtime, RuntimeFlavor};

/// Threads tokio may start beyond the `block_in_place` callers: `tokio::fs` (from
/// futures or from blocking calls) takes tokio's blocking threads too. Threads start
/// lazily, so headroom costs nothing until used. (512 is tokio's own default cap.)
const BLOCKING_HEADROOM: usize = 512;

/// Async work as futures on a tokio runtime; blocking calls (as [`Job`]s) on an elastic
/// pool of `sluice-io-blocking-N` threads, started lazily (`max_blocking` calls at
/// once, more while calls wait), that enter the runtime (so a call can use
/// `Handle::current()`) and spin briefly when idle before they park, so that a round
/// trip from a waiting caller usually needs no wakeup.
pub struct IoPool {
    /// Where futures are spawned; the blocking threads enter its runtime.
    handle: Handle,
    /// Where blocking jobs run.
    blocking: BlockingPool,
    /// The runtime when this pool owns it; taken at shutdown.
    owned: Mutex<Option<Runtime>>,
    /// Worker threads (owned) or the attached runtime's count as far as known.
    workers: usize,
    /// Most blocking calls at once.
    max_blocking: usize,
}

impl IoPool {
    /// Starts a multi-thread runtime of `workers` threads named `sluice-io-N`, and a
    /// blocking pool for `max_blocking` calls at once (what the manager's gate admits; it
    /// grows past that only for calls admitted on a waiting call's lent slot). Up to `max_futures` futures may each block their
    /// worker in `wait()` through `block_in_place`, which takes one of tokio's own
    /// blocking threads: the runtime may start that many and more, and since blocking
    /// calls run on the other pool, neither kind queues behind the other.
    pub fn new(workers: usize, max_blocking: usize, max_futures: usize) -> Result<Self, ExecError> {
        if workers == 0 {
            return Err(ExecError::NoThreads { pool: "io" });
        }
        if max_blocking == 0 {
            return Err(ExecError::NoThreads {
                pool: "io blocking",
            });
        }
        let next = AtomicUsize::new(0);
        let runtime = Builder::new_multi_thread()
            .worker_threads(workers)
            .max_blocking_threads(max_futures.saturating_add(BLOCKING_HEADROOM))
            .thread_name_fn(move || format!("sluice-io-{}", next.fetch_add(1, Ordering::Relaxed)))
            .enable_all()
            .build()
            .map_err(ExecError::Io)?;
        Ok(IoPool {
            handle: runtime.handle().clone(),
            blocking: BlockingPool::new(runtime.handle().clone(), pool_threads(max_blocking)),
            owned: Mutex::new(Some(runtime)),
            workers,
            max_blocking,
        })
    }

    /// Uses an existing runtime for futures; blocking calls run on this pool's own
    /// threads (`max_blocking` calls at once, more while calls wait), which enter
    /// that runtime.
    pub fn attach(handle: Handle, max_blocking: usize) -> Self {
        let workers = match handle.runtime_flavor() {
            RuntimeFlavor::CurrentThread => 1,
            _ => handle.metrics().num_workers(),
        };
        let max_blocking = max_blocking.max(1);
        IoPool {
            blocking: BlockingPool::new(handle.clone(), pool_threads(max_blocking)),
            handle,
            owned: Mutex::new(None),
            workers,
            max_blocking,
        }
    }

    /// The runtime's handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Whether the runtime belongs to this pool.
    pub fn is_owned(&self) -> bool {
        self.owned.lock().is_ok_and(|owned| owned.is_some())
    }

    /// Most blocking calls admitted at once.
    pub fn max_blocking(&self) -> usize {
        self.max_blocking
    }

    /// Runs `future` on the runtime, detached: the future reports its own end.
    pub fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.handle.spawn(future));
    }
}

impl Executor for IoPool {
    fn name(&self) -> &str {
        "io"
    }

    fn parallelism(&self) -> usize {
        self.workers
    }

    /// Runs a blocking job on the blocking pool (queued if every thread is busy; dropped
    /// at once after shutdown).
    fn execute(&self, job: Job) {
        self.blocking.execute(job);
    }

    fn shutdown(&self) {
        // Drops the queued blocking jobs, which reports them; running ones finish on
        // their own threads, which are not joined.
        self.blocking.shutdown();
        let runtime = match self.owned.lock() {
            Ok(mut owned) => owned.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        // Never blocks, so it is safe inside an async context and on the runtime's own
        // threads; the futures still pending are dropped, which reports them.
        if let Some(runtime) = runtime {
            runtime.shutdown_background();
        }
    }
}

impl Drop for IoPool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for IoPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoPool")
            .field("workers", &self.workers)
            .field("max_blocking", &self.max_blocking)
            .field("owned", &self.is_owned())
            .finish()
    }
}

/// Most threads of the blocking pool. The gate admits `max_blocking` calls at once, but
/// a call that blocks in `wait()` lends its slot so that the call it waits for can be
/// admitted: that one needs a thread of its own, so the pool may grow past the limit
/// (threads start lazily and idle ones exit, so headroom costs nothing until used).
fn pool_threads(max_blocking: usize) -> usize {
    max_blocking.saturating_add(BLOCKING_HEADROOM)
}
