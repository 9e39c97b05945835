//! The CPU pool: a rayon `ThreadPool` owned by the manager.

use crate::{ExecError, Executor, Job};
use rayon_core::{ThreadPool, ThreadPoolBuilder};
use std::fmt;

/// A rayon thread pool with threads named `sluice-cpu-N`.
///
/// Jobs submitted from one of its own threads go to that thread's local deque (rayon's
/// `spawn` does so), which is what makes nested submissions cheap.
pub struct CpuPool {
    /// The rayon pool.
    pool: ThreadPool,
    /// Its thread count.
    threads: usize,
}

impl CpuPool {
    /// Starts `threads` threads.
    pub fn new(threads: usize) -> Result<Self, ExecError> {
        if threads == 0 {
            return Err(ExecError::NoThreads { pool: "cpu" });
        }
        let pool = ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|index| format!("sluice-cpu-{index}"))
            // The facade catches task panics itself; this only sees a backend bug, and
            // rayon's default for a panic in `spawn` would abort the process.
            .panic_handler(|_| tracing::error!("a job panicked on the cpu pool"))
            .build()
            .map_err(ExecError::Cpu)?;
        Ok(CpuPool { pool, threads })
    }

    /// The rayon pool, for callers that want `install`, `join` or `scope` on it.
    pub fn rayon(&self) -> &ThreadPool {
        &self.pool
    }
}

impl Executor for CpuPool {
    fn name(&self) -> &str {
        "cpu"
    }

    fn parallelism(&self) -> usize {
        self.threads
    }

    fn execute(&self, job: Job) {
        self.pool.spawn(move || job.run());
    }
}

impl fmt::Debug for CpuPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpuPool")
            .field("threads", &self.threads)
            .finish()
    }
}
