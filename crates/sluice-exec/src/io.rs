//! The IO pool: a tokio runtime, owned by the manager or attached to the caller's.

use crate::{ExecError, Executor, Job};
use std::fmt;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::runtime::{Builder, Handle, Runtime, RuntimeFlavor};

/// Threads tokio may start beyond the admitted blocking calls and `block_in_place`
/// callers: `tokio::fs` takes blocking threads too. Threads start lazily, so headroom
/// costs nothing until used. (512 is tokio's own default cap.)
const BLOCKING_HEADROOM: usize = 512;

/// Async work as futures on a tokio runtime; blocking calls (as [`Job`]s) on its bounded
/// blocking pool.
pub struct IoPool {
    /// Where futures and blocking jobs are spawned.
    handle: Handle,
    /// The runtime when this pool owns it; taken at shutdown.
    owned: Mutex<Option<Runtime>>,
    /// Worker threads (owned) or the attached runtime's count as far as known.
    workers: usize,
    /// Most blocking calls at once.
    max_blocking: usize,
}

impl IoPool {
    /// Starts a multi-thread runtime of `workers` threads named `sluice-io-N`, for at
    /// most `max_blocking` blocking calls at once (the manager's gate enforces that) and
    /// up to `max_futures` futures that may each block their worker in `wait()` (through
    /// `block_in_place`, which takes a blocking thread): the runtime may start that many
    /// blocking threads and more, so that neither kind queues behind the other.
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
            .max_blocking_threads(
                max_blocking
                    .saturating_add(max_futures)
                    .saturating_add(BLOCKING_HEADROOM),
            )
            .thread_name_fn(move || format!("sluice-io-{}", next.fetch_add(1, Ordering::Relaxed)))
            .enable_all()
            .build()
            .map_err(ExecError::Io)?;
        Ok(IoPool {
            handle: runtime.handle().clone(),
            owned: Mutex::new(Some(runtime)),
            workers,
            max_blocking,
        })
    }

    /// Uses an existing runtime. Its blocking pool's bound is the runtime's own;
    /// `max_blocking` is what the manager admits at once.
    pub fn attach(handle: Handle, max_blocking: usize) -> Self {
        let workers = match handle.runtime_flavor() {
            RuntimeFlavor::CurrentThread => 1,
            _ => handle.metrics().num_workers(),
        };
        IoPool {
            handle,
            owned: Mutex::new(None),
            workers,
            max_blocking: max_blocking.max(1),
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

    /// Runs a blocking job on the runtime's blocking pool.
    fn execute(&self, job: Job) {
        drop(self.handle.spawn_blocking(move || job.run()));
    }

    fn shutdown(&self) {
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
