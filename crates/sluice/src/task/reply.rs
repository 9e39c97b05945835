//! Answering a task exactly once, and counting its outcome with the answer.

use crate::TaskError;
use crate::route::Route;
use sluice_core::{Completer, Outcome};
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
}

impl<T, E> Reply<T, E> {
    pub(crate) fn new(route: Arc<Route>, completer: Answer<T, E>) -> Self {
        Reply {
            route,
            completer: Mutex::new(Some(completer)),
        }
    }

    fn take(&self) -> Option<Answer<T, E>> {
        match self.completer.lock() {
            Ok(mut completer) => completer.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
    }

    /// Whether the answer has gone out.
    pub(crate) fn is_answered(&self) -> bool {
        match self.completer.lock() {
            Ok(completer) => completer.is_none(),
            Err(poisoned) => poisoned.into_inner().is_none(),
        }
    }

    /// A started task ended: counts `outcome` (and the end of its run) and answers.
    pub(crate) fn finished(&self, outcome: Outcome, answer: Result<T, TaskError<E>>) -> bool {
        self.send(answer, |route| route.counters.finished(outcome))
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
