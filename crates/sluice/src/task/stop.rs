//! Stopping a running future: its own cancel, or the manager's shutdown past its
//! deadline.
//!
//! A future that finishes in its first poll touches nothing shared: the stop requests
//! are read as two atomics, and only a future that goes pending registers to be woken
//! (its waker in its own [`StopSignal`], and a wait on the manager's shutdown token). A
//! child `CancellationToken` per task would lock the manager's token twice per task,
//! once to link the child and once to unlink it, which serialised every `run_io`.

use crate::lock::lock;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

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

/// What can stop a running future: its task's own signal and the manager's shutdown.
pub(crate) trait Stops {
    /// The task's own request to stop.
    fn signal(&self) -> &StopSignal;
    /// The manager's shutdown past its deadline.
    fn shutdown(&self) -> &CancellationToken;
}

/// Runs `work` until it ends (`Some`), or until the signal or the shutdown of `stops`
/// asks it to stop (`None`, and `work` is dropped). A stop requested before the first
/// poll wins over the work, as does one seen at any later poll.
pub(crate) fn until_stopped<F: Future, S: Stops>(work: F, stops: &S) -> UntilStopped<'_, F, S> {
    UntilStopped {
        work,
        stops,
        shutdown_wait: None,
    }
}

pin_project! {
    /// The future of [`until_stopped`]. Written out rather than an `async fn`, whose
    /// state would hold `work` twice (the argument and the pinned local: 384 bytes more
    /// in every `run_io` task's runtime cell); the wait on the shutdown token is made
    /// only once the work has gone pending. Both stops are reached through one
    /// reference to the task: this state is in every `run_io` task's runtime cell,
    /// which the runtime copies whole several times per task.
    pub(crate) struct UntilStopped<'a, F, S> {
        #[pin]
        work: F,
        stops: &'a S,
        #[pin]
        shutdown_wait: Option<WaitForCancellationFuture<'a>>,
    }
}

impl<F: Future, S: Stops> Future for UntilStopped<'_, F, S> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let stops: &S = this.stops;
        let (signal, shutdown) = (stops.signal(), stops.shutdown());
        if signal.is_requested() || shutdown.is_cancelled() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(output) = this.work.poll(cx) {
            return Poll::Ready(Some(output));
        }
        {
            let mut stored = lock(&signal.waker);
            if !stored.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *stored = Some(cx.waker().clone());
            }
        }
        if this.shutdown_wait.is_none() {
            this.shutdown_wait.set(Some(shutdown.cancelled()));
        }
        let shutting_down = this
            .shutdown_wait
            .as_pin_mut()
            .is_some_and(|wait| wait.poll(cx).is_ready());
        // Checked again after the waker is stored: a request made before it was
        // stored found no waker to wake.
        if signal.is_requested() || shutting_down {
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}
