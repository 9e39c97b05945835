//! Graceful shutdown: refuse new work, let the rest finish until a deadline, then
//! cancel what is left and report.

use crate::manager::ConcurrencyManager;
use crate::snapshot::Snapshot;
use crate::timers::{Fired, TimerKind};
use crate::wait::blocking;
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

/// How long cancelled work gets to hand back its answer after the deadline: running
/// futures are dropped at their next poll, which takes microseconds, not this long.
const GRACE: Duration = Duration::from_millis(200);

/// What [`ConcurrencyManager::shutdown`] did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Whether all work ended before the deadline.
    pub drained: bool,
    /// Tasks still waiting for admission at the deadline, now cancelled.
    pub cancelled_queued: usize,
    /// Bodies still running after the deadline and its grace period: CPU, chunk or
    /// blocking work that cannot be stopped from outside (including bodies whose task
    /// already timed out). Unanswered ones answer when they end.
    pub still_running: u64,
    /// Tasks not yet answered at the end.
    pub unanswered: u64,
    /// How long shutdown took.
    #[serde(with = "millis")]
    pub elapsed: Duration,
    /// The counters at the end.
    pub snapshot: Snapshot,
}

impl ConcurrencyManager {
    /// Shuts the manager down: new work is refused with
    /// [`TaskError::ShuttingDown`](crate::TaskError::ShuttingDown) (counted as
    /// rejected); queued and running work gets until `timeout` to finish (a timeout too
    /// long to be a point in time, such as `Duration::MAX`, waits for it however long it
    /// takes); then queued
    /// work is cancelled, running futures are dropped, and running CPU or chunk work is
    /// asked to stop (it sees [`is_cancelled`](crate::is_cancelled)). Blocks until done;
    /// on a tokio worker thread it blocks through `block_in_place`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, TaskError};
    /// use std::time::Duration;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let work = mgr.run_cpu(|| 21 * 2);
    /// let report = mgr.shutdown(Duration::from_secs(5));
    /// assert!(report.drained);
    /// assert_eq!(work.wait()?, 42);
    /// assert_eq!(mgr.run_cpu(|| 0).wait(), Err(TaskError::ShuttingDown));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        let began = Instant::now();
        let inner = self.inner();
        inner.closed.store(true, Ordering::Release);
        tracing::info!(?timeout, "sluice: shutdown begins");
        // A task pausing before a retry answers its last attempt's result now: no
        // retry begins once shutdown has.
        inner
            .timers
            .cut_short(TimerKind::Backoff, Fired::ShuttingDown);
        // Done when every task is answered and no body runs (a timed-out body is
        // answered but may still run).
        let idle = || {
            let total = self.snapshot().total();
            total.pending() == 0 && total.running == 0
        };
        // A timeout past what an `Instant` can hold (`Duration::MAX`) is no deadline:
        // shutdown waits for the work, however long it takes.
        let deadline = began.checked_add(timeout);
        let drained = blocking(|| wait_until(deadline, idle));
        let mut cancelled_queued = 0;
        if !drained {
            cancelled_queued = inner.abort_pending();
            inner.scope.cancel_all();
            inner.stop.cancel();
            blocking(|| wait_until(Instant::now().checked_add(GRACE), idle));
        }
        for route in inner.routes() {
            route.executor.shutdown();
        }
        if let Some(throttle) = &inner.throttle {
            throttle.stop();
        }
        if let Some(summary) = &inner.summary {
            summary.stop();
        }
        let snapshot = self.snapshot();
        let report = ShutdownReport {
            drained,
            cancelled_queued,
            still_running: snapshot.total().running,
            unanswered: snapshot.total().pending(),
            elapsed: began.elapsed(),
            snapshot,
        };
        tracing::info!(
            drained = report.drained,
            cancelled_queued = report.cancelled_queued,
            still_running = report.still_running,
            elapsed_ms = report.elapsed.as_millis() as u64,
            "sluice: shutdown done"
        );
        report
    }
}

/// Polls `done` until it holds or `deadline` passes (never, if none); true if it held.
/// Polling is fine here: shutdown happens once, and the pause grows to a millisecond
/// at most.
fn wait_until(deadline: Option<Instant>, done: impl Fn() -> bool) -> bool {
    let mut pause = Duration::from_micros(50);
    loop {
        if done() {
            return true;
        }
        let now = Instant::now();
        let left = deadline.map_or(Duration::MAX, |deadline| {
            deadline.saturating_duration_since(now)
        });
        if left.is_zero() {
            return false;
        }
        thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(1));
    }
}

/// Durations as whole milliseconds in serialized reports.
mod millis {
    use serde::Serializer;
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}
