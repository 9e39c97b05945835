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
//! Every call answers through a [`TaskHandle`]: `.await` it from async code or
//! [`wait`](TaskHandle::wait) from sync code; neither can deadlock the pools. Every
//! task ends in exactly one outcome — a value, its own error
//! ([`TaskError::Failed`]), a caught panic, a cancellation, a refusal — and the
//! counters in [`snapshot`](ConcurrencyManager::snapshot) prove it.
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
mod error;
mod manager;
mod map;
mod route;
mod shutdown;
mod snapshot;
mod task;
mod wait;

pub use builder::ManagerBuilder;
pub use error::{BuildError, TaskError};
pub use manager::ConcurrencyManager;
pub use route::RouteKind;
pub use shutdown::ShutdownReport;
pub use sluice_exec::{Executor, Job};
pub use snapshot::{Counts, RouteSnapshot, Snapshot};
pub use task::{TaskHandle, is_cancelled};

/// The README's example, compiled and run as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctest;
