//! The shutdown a signal starts, on a thread of its own: refuse new work, drain or
//! abort what is queued, wait for running work until the deadline or a second signal,
//! then shut the manager down and hand the report over.

use super::guard::{Finished, Shared};
use super::options::{OnSignal, SecondSignal, ShutdownSignal, SignalOptions};
use crate::ConcurrencyManager;
use crate::timers::{Fired, TimerKind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// What the shutdown thread owns.
pub(super) struct Drain {
    pub(super) mgr: ConcurrencyManager,
    pub(super) options: SignalOptions,
    pub(super) arrived: Receiver<ShutdownSignal>,
    pub(super) shared: Arc<Shared>,
}

impl Drain {
    pub(super) fn run(self) {
        let Ok(first) = self.arrived.recv() else {
            // The listener ended first: the guard was dropped, or the runtime stopped.
            self.shared.finish(Finished::Stopped);
            return;
        };
        let began = Instant::now();
        tracing::warn!(signal = %first, deadline = ?self.options.deadline, "sluice: signal received; shutting down");
        let inner = self.mgr.inner();
        inner.closed.store(true, Ordering::Release);
        self.shared.trigger(first);
        inner
            .timers
            .cut_short(TimerKind::Backoff, Fired::ShuttingDown);
        let aborted = match self.options.on_signal {
            OnSignal::AbortPending => self.mgr.abort_pending(),
            OnSignal::Drain => 0,
        };
        self.wait_until_idle(began + self.options.deadline);
        // Whatever is left is cancelled now; when all ended, this only stops the pools.
        let mut report = self.mgr.shutdown(Duration::ZERO);
        report.cancelled_queued += aborted;
        report.elapsed = began.elapsed();
        self.shared.finish(Finished::Report(Box::new(report)));
    }

    /// Waits until no task is pending or running, the deadline passes, or a second
    /// signal forces the end.
    fn wait_until_idle(&self, deadline: Instant) {
        let mut pause = Duration::from_micros(100);
        let mut listening = true;
        loop {
            let total = self.mgr.snapshot().total();
            if total.pending() == 0 && total.running == 0 {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                tracing::warn!("sluice: shutdown deadline passed; cancelling what is left");
                return;
            }
            let wait = pause.min(deadline - now);
            pause = (pause * 2).min(Duration::from_millis(5));
            if !listening {
                thread::sleep(wait);
                continue;
            }
            match self.arrived.recv_timeout(wait) {
                Ok(second) => match self.options.second {
                    SecondSignal::Force => {
                        tracing::warn!(signal = %second, "sluice: second signal; forcing shutdown");
                        return;
                    }
                    SecondSignal::Exit(code) => {
                        tracing::warn!(signal = %second, code, "sluice: second signal; exiting");
                        std::process::exit(code);
                    }
                    SecondSignal::Ignore => {
                        tracing::info!(signal = %second, "sluice: second signal ignored");
                    }
                },
                Err(RecvTimeoutError::Timeout) => {}
                // The runtime stopped under us: keep the deadline without listening.
                Err(RecvTimeoutError::Disconnected) => listening = false,
            }
        }
    }
}
