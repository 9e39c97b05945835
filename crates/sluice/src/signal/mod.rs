//! Shutting down on a signal: [`ConcurrencyManager::shutdown_on_signal`] and the
//! [`SignalShutdown`] handle it returns.
//!
//! At the first `SIGTERM` or `SIGINT` (or the signals the [`SignalOptions`] name) the
//! manager refuses new work, lets running work finish — draining or cancelling what is
//! queued, as configured — until the deadline, then cancels what is left and hands the
//! [`ShutdownReport`](crate::ShutdownReport) to whoever waits on the handle. A second
//! signal forces the end. Works for sync programs ([`SignalShutdown::wait`]) and async
//! ones (`.await`).
//!
//! [`ConcurrencyManager::shutdown_on_signal`]: crate::ConcurrencyManager::shutdown_on_signal
//!
//! # Examples
//!
//! An async watcher that drains on `SIGTERM`:
//!
//! ```no_run
//! use sluice::ConcurrencyManager;
//! use sluice::signal::SignalOptions;
//! use std::time::Duration;
//!
//! let mgr = ConcurrencyManager::builder().build()?;
//! let report = mgr.io_handle().block_on(async {
//!     let signals = mgr.shutdown_on_signal(SignalOptions::new())?;
//!     let mut tick = tokio::time::interval(Duration::from_secs(1));
//!     while !signals.triggered() {
//!         tick.tick().await;
//!         mgr.run_io(async { /* look for new files */ });
//!     }
//!     signals.await
//! })?;
//! assert!(report.unanswered == 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod drain;
mod guard;
mod install;
mod options;
mod watch;

pub use guard::{SignalError, SignalShutdown};
pub use options::{OnSignal, SecondSignal, ShutdownSignal, SignalOptions};
