//! Why a pool could not be built.

use std::io;

/// A pool failed to start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// A pool was asked for zero threads.
    #[error("the {pool} pool needs at least one thread (got 0)")]
    NoThreads {
        /// Which pool.
        pool: &'static str,
    },
    /// rayon refused to build the CPU pool.
    #[error("failed to build the cpu pool")]
    Cpu(#[source] rayon_core::ThreadPoolBuildError),
    /// tokio refused to build the IO runtime.
    #[error("failed to build the io runtime")]
    Io(#[source] io::Error),
    /// The operating system refused a thread.
    #[error("failed to start thread {name}")]
    Thread {
        /// The thread's name.
        name: String,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}
