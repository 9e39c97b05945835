//! Answering a task exactly once, and counting its outcome with the answer.

use crate::TaskError;
use crate::lock::{lock, take};
use crate::route::Route;
use sluice_core::{Completer, Outcome};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The sending side of a task's answer.
type Answer<T, E> = Completer<Result<T, TaskError<E>>>;

/// The one place a task's answer goes out. Whoever takes the completer first records
/// the outcome; every later attempt does nothing, so no task is counted twice.
pub(crate) struct Reply<T, E> {
    /// The route whose counters record the outcome.
    pub(crate) route: Arc<Route>,
    /// Taken by the single answer.
    completer: Mutex<Option<Answer<T, E>>>,
    /// Set when the task was answered while its body still ran (it timed out).
    early: AtomicBool,
}

impl<T, E> Reply<T, E> {
    pub(crate) fn new(route: Arc<Route>, completer: Answer<T, E>) -> Self {
        Reply {
            route,
            completer: Mutex::new(Some(completer)),
            early: AtomicBool::new(false),
        }
    }

    fn take(&self) -> Option<Answer<T, E>> {
        take(&self.completer)
    }

    /// Whether the task was answered while its body ran (it timed out).
    pub(crate) fn answered_early(&self) -> bool {
        self.early.load(Ordering::Acquire)
    }

    /// Whether the answer has gone out.
    pub(crate) fn is_answered(&self) -> bool {
        lock(&self.completer).is_none()
    }

    /// A started task ended: counts `outcome` (and the end of its run) and answers. If
    /// the task was already answered early (it timed out), the body's end is counted as
    /// abandoned and its result dropped.
    pub(crate) fn finished(&self, outcome: Outcome, answer: Result<T, TaskError<E>>) -> bool {
        let sent = self.send(answer, |route| route.counters.finished(outcome));
        if !sent && self.early.load(Ordering::Acquire) {
            self.route.counters.abandoned();
        }
        sent
    }

    /// A started task's deadline passed while its body runs: answers `TimedOut` now; the
    /// body's end is counted later, by `finished`, as abandoned.
    pub(crate) fn timed_out(&self) -> bool {
        // Set before the completer is taken: a `finished` that then finds it gone sees
        // the flag (the completer's mutex orders the two). If `finished` took it first,
        // the flag is never read.
        self.early.store(true, Ordering::Release);
        let Some(completer) = self.take() else {
            return false;
        };
        self.route.counters.answered_early(Outcome::TimedOut);
        completer.complete(Err(TaskError::TimedOut));
        true
    }

    /// A task that never started was cancelled: counts it and answers.
    pub(crate) fn cancelled_unstarted(&self) -> bool {
        self.send(Err(TaskError::Cancelled), |route| {
            route.counters.ended(Outcome::Cancelled)
        })
    }

    fn send(&self, answer: Result<T, TaskError<E>>, count: impl FnOnce(&Route)) -> bool {
        let Some(completer) = self.take() else {
            return false;
        };
        // Counted before the answer leaves, so a caller who has its answer sees it counted.
        count(&self.route);
        completer.complete(answer);
        true
    }
}

/// The outcome and answer of a body that ran: value, own error, or panic message.
pub(crate) fn settle<T, E>(
    result: Result<Result<T, E>, String>,
) -> (Outcome, Result<T, TaskError<E>>) {
    match result {
        Ok(Ok(value)) => (Outcome::Succeeded, Ok(value)),
        Ok(Err(error)) => (Outcome::Failed, Err(TaskError::Failed(error))),
        Err(message) => (Outcome::Panicked, Err(TaskError::Panicked(message))),
    }
}
