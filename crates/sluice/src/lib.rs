//! Sluice: one facade for the CPU, IO and chunked work of data-ingestion programs.
//!
//! [`ConcurrencyManager`] sends each kind of work to a pool built for it:
//!
//! | call | for | pool |
//! | --- | --- | --- |
//! | [`run_cpu`](ConcurrencyManager::run_cpu), [`map_cpu`](ConcurrencyManager::map_cpu) | parsing, hashing, compression | rayon, threads `sluice-cpu-N` |
//! | [`run_io`](ConcurrencyManager::run_io), [`run_io_blocking`](ConcurrencyManager::run_io_blocking), [`map_io`](ConcurrencyManager::map_io) | files, network, services | tokio, threads `sluice-io-N` |
//! | [`run_chunk`](ConcurrencyManager::run_chunk), [`map_chunks`](ConcurrencyManager::map_chunks) | millions of small items | work stealing, threads `sluice-chunk-N` |
//! | [`run_on`](ConcurrencyManager::run_on) | your own backend | any [`Executor`] |
//!
//! Every route admits work through a gate whose limit the load [`throttle`] lowers
//! while other processes press on the machine (CPU, memory) and raises again once
//! they stop; calls to a named service can also wait for that service's adaptive
//! limit ([`TaskBuilder::limit`], [`limit::LimitConfig`]). Every setting can also come
//! from a TOML file and `SLUICE_` environment variables ([`config`]).
//!
//! Every call answers through a [`TaskHandle`]: `.await` it from async code or
//! [`wait`](TaskHandle::wait) from sync code (see [Waiting inside a
//! task](#waiting-inside-a-task) for the one case where a blocking wait can deadlock).
//! Every task ends in exactly one outcome — a value, its own error
//! ([`TaskError::Failed`]), a caught panic, a cancellation, a refusal — and the
//! counters in [`snapshot`](ConcurrencyManager::snapshot) record it.
//!
//! # Waiting inside a task
//!
//! A task may wait for other tasks of the same manager:
//!
//! - A task that `wait()`s for CPU or chunk work nobody has started runs that work
//!   inline, on its own thread. Blocking calls, futures and custom backends' work are
//!   never run inline.
//! - While a task waits — a blocking `wait()`, or `.await` on a handle from inside an
//!   io future — its admission slot is lent to its gate, so that queued work can be
//!   admitted; the slot is taken back when the wait ends.
//! - `wait()` on a worker thread of a multi-thread tokio runtime blocks through
//!   `block_in_place`; on a current-thread runtime it does not block and answers
//!   [`TaskError::WaitWouldBlockRuntime`].
//!
//! One way to deadlock remains: when every thread of a pool blocks in `wait()` on work
//! that itself needs a thread of that same pool (for example, each CPU thread waiting
//! on an io future that awaits a CPU task), nothing is left to run that work. `.await`
//! from async code, or `wait()` from a thread outside the pool, never has this problem.
//!
//! # Examples
//!
//! ```
//! use sluice::{ConcurrencyManager, TaskError};
//!
//! let mgr = ConcurrencyManager::builder().build()?;
//!
//! let parsed = mgr.try_run_cpu(|| "42".parse::<u32>());
//! assert_eq!(parsed.wait()?, 42);
//!
//! let bad = mgr.try_run_cpu(|| "forty-two".parse::<u32>());
//! assert!(matches!(bad.wait(), Err(TaskError::Failed(_))));
//!
//! let panicked = mgr.run_chunk(|| -> u32 { panic!("boom") });
//! assert_eq!(panicked.wait(), Err(TaskError::Panicked("boom".into())));
//!
//! let totals = mgr.snapshot().total();
//! assert_eq!(totals.submitted, totals.ended());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod builder;
pub mod config;
mod error;
#[cfg(feature = "metrics")]
mod export;
mod items;
mod keys;
mod lock;
mod manager;
mod map;
mod names;
mod policy;
#[cfg(all(unix, feature = "process"))]
pub mod process;
mod progress;
mod records;
mod route;
mod shutdown;
#[cfg(all(unix, feature = "signal"))]
pub mod signal;
mod snapshot;
mod summary;
mod task;
pub mod throttle;
mod ticker;
mod timers;
mod wait;

pub use builder::ManagerBuilder;
pub use error::{BuildError, TaskError};
pub use items::ItemCounts;
pub use keys::KeySnapshot;
pub use manager::{ConcurrencyManager, StreamBuilder, TaskBuilder};
pub use map::stream::{
    ItemResult, KeyOf, Keyed, MapIter, MapStream, Pooled, StreamOptions, Unkeyed,
};
pub use policy::keyed::OnKeyFailure;
pub use progress::{Progress, ProgressSnapshot};
pub use records::TaskRecord;
pub use route::RouteKind;
pub use shutdown::ShutdownReport;
pub use sluice_core::{
    BreakerConfig, BreakerConfigError, Clock, KeyOrder, ManualClock, Outcome, Priority,
};
pub use sluice_exec::{Executor, Job};
pub use snapshot::{
    BreakerView, Counts, KeyedBreakersView, Latency, RetryBudgetView, RouteSnapshot, Snapshot,
};
pub use task::{TaskHandle, is_cancelled};

/// Retry policies: [`Retry`](retry::Retry) and its parts, for
/// [`TaskBuilder::retry`].
///
/// A retried task's work is an `Fn`, called once per attempt; the attempts share one
/// answer, one counted outcome and, for a keyed task, one turn of its key.
pub mod retry {
    pub use crate::policy::retry::{
        NoRetry, Retry, RetryBuilder, RetryConfigError, RetryIf, Retrying, Transient, When,
    };
    pub use sluice_core::{Backoff, BudgetConfig, BudgetConfigError, Jitter};
}

/// Adaptive concurrency limits per dependency: [`LimitConfig`](limit::LimitConfig), for
/// [`ManagerBuilder::dependency`].
pub mod limit {
    pub use crate::policy::limit::{DependencyView, LimitConfig, LimitConfigError};
}

/// The README's example, compiled and run as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctest;
