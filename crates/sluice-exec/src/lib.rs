//! Sluice's backends: the [`Executor`] plug and the three built-in pools.
//!
//! | pool | for | built on |
//! | --- | --- | --- |
//! | [`CpuPool`] | parsing, hashing, compression | a rayon `ThreadPool`, threads `sluice-cpu-N` |
//! | [`IoPool`] | futures and blocking calls | a tokio runtime (owned, threads `sluice-io-N`, or attached); blocking calls on its own elastic pool, threads `sluice-io-blocking-N` |
//! | [`ChunkPool`] | many small items | `crossbeam-deque` work stealing, threads `sluice-chunk-N` |
//!
//! A backend only runs jobs and reports that they ended (a [`Job`] reports it by running
//! or by being dropped). It never retries, counts or orders: those are the facade's
//! policies. A user can plug in a fourth backend by implementing [`Executor`].
//!
//! **Architecture Invariant:** nothing here knows about policies, and `sluice-core`
//! knows nothing about this crate.
//!
//! # Examples
//!
//! ```
//! use sluice_exec::{ChunkPool, Executor, Job};
//! use std::sync::mpsc;
//!
//! let pool = ChunkPool::new(2).expect("threads start");
//! let (tx, rx) = mpsc::channel();
//! pool.execute(Job::new(move || tx.send(6 * 7).unwrap()));
//! assert_eq!(rx.recv().unwrap(), 42);
//! ```

#![forbid(unsafe_code)]

mod blocking;
mod chunk;
mod cpu;
mod error;
mod executor;
mod io;

pub use chunk::{BlockSizer, ChunkPool};
pub use cpu::CpuPool;
pub use error::ExecError;
pub use executor::{Executor, Job, Runnable};
pub use io::IoPool;
