//! The shutdown a signal starts, on a thread of its own (`sluice-signal`): refuse new
//! work, drain or abort what is queued, wait for running work until the deadline or a
//! second signal, then shut the manager down and hand the report over.

use super::guard::{Finished, Shared};
use super::options::{OnSignal, SecondSignal, SignalOptions};
use super::watch::Listener;
use crate::ConcurrencyManager;
use crate::timers::{Fired, TimerKind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often the thread looks whether the manager was shut down by other means while
/// it waits for a first signal.
const CLOSED_POLL: Duration = Duration::from_millis(100);

/// What the signal thread owns.
pub(super) struct Drain {
    /// A clone, released when the thread ends.
    pub(super) mgr: ConcurrencyManager,
    pub(super) options: SignalOptions,
    /// The current-thread runtime the signal streams were made on.
    pub(super) runtime: Runtime,
    pub(super) listener: Listener,
    pub(super) shared: Arc<Shared>,
    /// Cancelled when the handle is dropped before any signal.
    pub(super) dropped: CancellationToken,
}

impl Drain {
    pub(super) fn run(self) {
        let Drain {
            mgr,
            options,
            runtime,
            mut listener,
            shared,
            dropped,
        } = self;
        let finished = runtime.block_on(async {
            let first = tokio::select! {
                first = listener.next() => first,
                () = dropped.cancelled() => None,
                () = closed(&mgr) => None,
            };
            let Some(first) = first else {
                return Finished::Stopped;
            };
            let began = Instant::now();
            tracing::warn!(signal = %first, deadline = ?options.deadline, "sluice: signal received; shutting down");
            let inner = mgr.inner();
            inner.closed.store(true, Ordering::Release);
            shared.trigger(first);
            inner
                .timers
                .cut_short(TimerKind::Backoff, Fired::ShuttingDown);
            let aborted = match options.on_signal {
                OnSignal::AbortPending => mgr.abort_pending(),
                OnSignal::Drain => 0,
            };
            // A deadline too far to be an instant is no deadline.
            let deadline = began.checked_add(options.deadline);
            wait_until_idle(&mgr, &options, &mut listener, deadline).await;
            // Whatever is left is cancelled now; when all ended, this only stops the
            // pools. It blocks this thread, which has nothing else to do.
            let mut report = mgr.shutdown(Duration::ZERO);
            report.cancelled_queued += aborted;
            report.elapsed = began.elapsed();
            Finished::Report(Box::new(report))
        });
        shared.finish(finished);
    }
}

/// Ends once the manager is shut down by other means.
async fn closed(mgr: &ConcurrencyManager) {
    while !mgr.is_shutting_down() {
        tokio::time::sleep(CLOSED_POLL).await;
    }
}

/// Waits until no task is pending or running, the deadline passes, or a second signal
/// forces the end.
async fn wait_until_idle(
    mgr: &ConcurrencyManager,
    options: &SignalOptions,
    listener: &mut Listener,
    deadline: Option<Instant>,
) {
    let mut pause = Duration::from_micros(100);
    let mut listening = true;
    loop {
        let total = mgr.snapshot().total();
        if total.pending() == 0 && total.running == 0 {
            return;
        }
        let now = Instant::now();
        if deadline.is_some_and(|deadline| now >= deadline) {
            tracing::warn!("sluice: shutdown deadline passed; cancelling what is left");
            return;
        }
        let pause_until = deadline.map_or(now + pause, |deadline| (now + pause).min(deadline));
        pause = (pause * 2).min(Duration::from_millis(5));
        tokio::select! {
            () = tokio::time::sleep_until(pause_until) => {}
            second = listener.next(), if listening => match (second, options.second) {
                (None, _) => listening = false,
                (Some(second), SecondSignal::Force) => {
                    tracing::warn!(signal = %second, "sluice: second signal; forcing shutdown");
                    return;
                }
                (Some(second), SecondSignal::Exit(code)) => {
                    tracing::warn!(signal = %second, code, "sluice: second signal; exiting");
                    std::process::exit(code);
                }
                (Some(second), SecondSignal::Ignore) => {
                    tracing::info!(signal = %second, "sluice: second signal ignored");
                }
            },
        }
    }
}
