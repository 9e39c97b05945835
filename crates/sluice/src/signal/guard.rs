//! [`SignalShutdown`], the handle a program keeps while it works: has a signal
//! arrived, and the shutdown's report once it is done (blocking or awaited).

use super::options::ShutdownSignal;
use crate::lock::lock;
use crate::shutdown::ShutdownReport;
use std::future::{Future, IntoFuture};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Why listening for signals failed, or ended without a signal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// The options named no signal to listen for.
    #[error("no signal to listen for: the options name none")]
    NoSignals,
    /// A signal's handler could not be installed.
    #[error("could not listen for {signal}: {source}")]
    Install {
        /// The signal.
        signal: ShutdownSignal,
        /// Why.
        source: io::Error,
    },
    /// The thread that listens and runs the shutdown, or its runtime, could not be
    /// started.
    #[error("could not start the signal thread: {0}")]
    Thread(#[source] io::Error),
    /// Listening ended before any signal arrived: the manager was shut down by other
    /// means (its [`shutdown`](crate::ConcurrencyManager::shutdown), say) first.
    #[error("no signal arrived before the manager was shut down by other means")]
    Stopped,
}

/// How the shutdown thread ended.
#[derive(Debug, Clone)]
pub(super) enum Finished {
    /// A signal came and the manager was shut down.
    Report(Box<ShutdownReport>),
    /// No signal came before listening stopped.
    Stopped,
}

/// What the shutdown thread and the handle share.
#[derive(Debug)]
pub(super) struct Shared {
    /// The first signal, once it arrived.
    first: Mutex<Option<ShutdownSignal>>,
    /// How the shutdown ended, once it did.
    finished: Mutex<Option<Finished>>,
    /// Wakes blocking waiters when `finished` is set.
    finished_cond: Condvar,
    /// Wakes async waiters when `finished` is set.
    done: watch::Sender<bool>,
}

impl Shared {
    pub(super) fn new() -> Self {
        Shared {
            first: Mutex::new(None),
            finished: Mutex::new(None),
            finished_cond: Condvar::new(),
            done: watch::Sender::new(false),
        }
    }

    pub(super) fn trigger(&self, signal: ShutdownSignal) {
        lock(&self.first).get_or_insert(signal);
    }

    pub(super) fn finish(&self, finished: Finished) {
        *lock(&self.finished) = Some(finished);
        self.finished_cond.notify_all();
        self.done.send_replace(true);
    }

    fn outcome(finished: &Finished) -> Result<ShutdownReport, SignalError> {
        match finished {
            Finished::Report(report) => Ok(ShutdownReport::clone(report)),
            Finished::Stopped => Err(SignalError::Stopped),
        }
    }
}

/// Shuts its manager down when a signal arrives; made by
/// [`ConcurrencyManager::shutdown_on_signal`](crate::ConcurrencyManager::shutdown_on_signal).
///
/// Ask [`triggered`](Self::triggered) to stop taking new work (or the manager's
/// [`is_shutting_down`](crate::ConcurrencyManager::is_shutting_down)); get the
/// [`ShutdownReport`] with [`wait`](Self::wait) from sync code, or by awaiting
/// [`finished`](Self::finished) (or the handle itself) from async code.
///
/// Dropped before a signal arrived, it stops listening and releases the manager; the
/// signals' handlers stay installed (a process cannot get its default back through
/// tokio), so those signals no longer end the process. Dropped after, the shutdown it
/// started still finishes.
///
/// # Examples
///
/// ```
/// use sluice::ConcurrencyManager;
/// use sluice::signal::{ShutdownSignal, SignalError, SignalOptions};
/// use std::time::Duration;
///
/// let mgr = ConcurrencyManager::builder().build()?;
/// let signals = mgr.shutdown_on_signal(SignalOptions::new().signals([ShutdownSignal::Hangup]))?;
/// assert!(!signals.triggered());
///
/// // The program finished its work before any signal: it shuts down itself, and
/// // whoever waits on the handle learns that no signal came.
/// let report = mgr.shutdown(Duration::from_secs(5));
/// assert!(report.drained);
/// assert!(matches!(signals.wait(), Err(SignalError::Stopped)));
/// assert_eq!(signals.signal(), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "dropping it stops listening for signals"]
pub struct SignalShutdown {
    /// Shared with the shutdown thread.
    pub(super) shared: Arc<Shared>,
    /// Stops the signal thread when the handle is dropped before any signal.
    pub(super) dropped: CancellationToken,
}

impl SignalShutdown {
    /// Whether a signal has arrived (the manager refuses new work from then on).
    pub fn triggered(&self) -> bool {
        lock(&self.shared.first).is_some()
    }

    /// The first signal that arrived, if one has.
    pub fn signal(&self) -> Option<ShutdownSignal> {
        *lock(&self.shared.first)
    }

    /// Blocks until a signal has arrived and the shutdown it started is done, and
    /// returns its report. From async code, await [`finished`](Self::finished) instead.
    ///
    /// # Errors
    ///
    /// [`SignalError::Stopped`] when the manager was shut down by other means before
    /// any signal arrived.
    pub fn wait(&self) -> Result<ShutdownReport, SignalError> {
        crate::wait::blocking(|| {
            let mut finished = lock(&self.shared.finished);
            loop {
                if let Some(finished) = &*finished {
                    return Shared::outcome(finished);
                }
                finished = match self.shared.finished_cond.wait(finished) {
                    Ok(guard) => guard,
                    Err(poisoned) => poisoned.into_inner(),
                };
            }
        })
    }

    /// Waits, without blocking a thread, until a signal has arrived and the shutdown it
    /// started is done, and returns its report.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub async fn finished(&self) -> Result<ShutdownReport, SignalError> {
        let mut done = self.shared.done.subscribe();
        // The sender lives in `shared`, which this handle keeps alive: no error.
        let _ = done.wait_for(|done| *done).await;
        match &*lock(&self.shared.finished) {
            Some(finished) => Shared::outcome(finished),
            None => Err(SignalError::Stopped),
        }
    }
}

impl IntoFuture for SignalShutdown {
    type Output = Result<ShutdownReport, SignalError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.finished().await })
    }
}

impl Drop for SignalShutdown {
    fn drop(&mut self) {
        if !self.triggered() {
            // The signal thread ends, releasing the manager.
            self.dropped.cancel();
        }
    }
}
