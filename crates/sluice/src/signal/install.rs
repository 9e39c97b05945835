//! `shutdown_on_signal` and `is_shutting_down` on the manager.

use super::drain::Drain;
use super::guard::{Shared, SignalError, SignalShutdown};
use super::options::SignalOptions;
use super::watch::Listener;
use crate::ConcurrencyManager;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use tokio_util::sync::CancellationToken;

impl ConcurrencyManager {
    /// Shuts the manager down when one of the options' signals arrives (by default
    /// `SIGTERM` or `SIGINT`): new work is refused at once
    /// ([`TaskError::ShuttingDown`](crate::TaskError::ShuttingDown)), queued work is
    /// drained or cancelled as the options say, running work gets until the deadline,
    /// and then what is left is cancelled as by [`shutdown`](Self::shutdown). A second
    /// signal forces the end (or exits, or is ignored: [`SecondSignal`](super::SecondSignal)).
    ///
    /// The handlers are installed before this returns. Listening and the shutdown run
    /// on a thread of its own (`sluice-signal`, with a small runtime of its own, so any
    /// manager runtime will do), which keeps a clone of the manager until the shutdown
    /// is done, the manager is shut down by other means, or the returned handle is
    /// dropped before any signal.
    ///
    /// # Errors
    ///
    /// [`SignalError::NoSignals`] for options that name none,
    /// [`SignalError::Install`] when a handler cannot be installed,
    /// [`SignalError::Thread`] when the signal thread or its runtime cannot start.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sluice::ConcurrencyManager;
    /// use sluice::signal::SignalOptions;
    /// use std::time::Duration;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let signals = mgr.shutdown_on_signal(SignalOptions::new().deadline(Duration::from_secs(10)))?;
    ///
    /// // A walker that stops taking files once a signal arrives.
    /// let mut handles = Vec::new();
    /// for path in std::fs::read_dir(".")? {
    ///     if signals.triggered() {
    ///         break;
    ///     }
    ///     let path = path?.path();
    ///     handles.push(mgr.try_run_io(tokio::fs::read(path)));
    /// }
    /// // Blocks until SIGTERM or SIGINT, and the drain after it, are done.
    /// let report = signals.wait()?;
    /// eprintln!("drained: {}, cancelled: {}", report.drained, report.cancelled_queued);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown_on_signal(
        &self,
        options: SignalOptions,
    ) -> Result<SignalShutdown, SignalError> {
        if options.signals.is_empty() {
            return Err(SignalError::NoSignals);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(SignalError::Thread)?;
        let listener = Listener::install(&runtime, &options.signals)?;
        let shared = Arc::new(Shared::new());
        let dropped = CancellationToken::new();
        let drain = Drain {
            mgr: self.clone(),
            options,
            runtime,
            listener,
            shared: shared.clone(),
            dropped: dropped.clone(),
        };
        thread::Builder::new()
            .name("sluice-signal".into())
            .spawn(move || drain.run())
            .map_err(SignalError::Thread)?;
        Ok(SignalShutdown { shared, dropped })
    }

    /// Whether shutdown has begun (by [`shutdown`](Self::shutdown), a signal, or the
    /// last clone being dropped): new work is refused. A loop that feeds the manager
    /// asks this to stop taking input.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    /// use std::time::Duration;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// assert!(!mgr.is_shutting_down());
    /// mgr.shutdown(Duration::from_secs(1));
    /// assert!(mgr.is_shutting_down());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_shutting_down(&self) -> bool {
        self.inner().closed.load(Ordering::Acquire)
    }
}
