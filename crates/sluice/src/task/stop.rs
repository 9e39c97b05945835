//! Stopping a running future: its own cancel, or the manager's shutdown past its
//! deadline.
//!
//! A future that finishes in its first poll touches nothing shared: the stop requests
//! are read as two atomics, and only a future that goes pending registers to be woken
//! (its waker in its own [`StopSignal`], and a wait on the manager's shutdown token). A
//! child `CancellationToken` per task would lock the manager's token twice per task,
//! once to link the child and once to unlink it, which serialised every `run_io`.

use crate::lock::lock;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Poll, Waker};
use tokio_util::sync::CancellationToken;

/// One task's request to stop its running future.
#[derive(Default)]
pub(crate) struct StopSignal {
    /// Set once by the task's cancel.
    requested: AtomicBool,
    /// The waker of the future's last pending poll.
    waker: Mutex<Option<Waker>>,
}

impl StopSignal {
    /// Asks the running future to stop, waking it if it is suspended.
    pub(crate) fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        // Under the lock: a poll that stored its waker before this sees it taken; one
        // that stores it after reads `requested` again once it holds the lock.
        let waker = lock(&self.waker).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }
}

/// Runs `work` until it ends (`Some`), or until `signal` or `shutdown` asks it to stop
/// (`None`, and `work` is dropped). A stop requested before the first poll wins over
/// the work, as does one seen at any later poll.
pub(crate) async fn until_stopped<F: Future>(
    work: F,
    signal: &StopSignal,
    shutdown: &CancellationToken,
) -> Option<F::Output> {
    let mut work = pin!(work);
    let mut shutdown_wait = pin!(shutdown.cancelled());
    poll_fn(|cx| {
        if signal.is_requested() || shutdown.is_cancelled() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(output) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        {
            let mut stored = lock(&signal.waker);
            if !stored.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *stored = Some(cx.waker().clone());
            }
        }
        // Checked again after the waker is stored: a request made before it was
        // stored found no waker to wake.
        if signal.is_requested() || shutdown_wait.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}
