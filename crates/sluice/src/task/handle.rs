//! The caller's side of a task: await it, or wait for it from synchronous code.

use super::lend_current;
use crate::TaskError;
use crate::wait::block_on_completion;
use sluice_core::{Completion, Lent};
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// What a handle can ask of the task behind it, whatever its work type.
pub(crate) trait Control: Send + Sync {
    /// Cancels the task; true if this call stopped it before it started or asked a
    /// running one to stop.
    fn cancel(&self) -> bool;

    /// Called by a waiter that holds a permit of its own (it runs inside a task): runs
    /// the work on the calling thread if it has not started, so that a full pool
    /// cannot deadlock on itself.
    fn help(&self);
}

/// A submitted task: a `Future` of its answer, with [`wait`](Self::wait) for
/// synchronous callers.
///
/// Dropping the handle does not cancel the task (as with tokio's `JoinHandle`); call
/// [`cancel`](Self::cancel) for that.
#[must_use = "a dropped handle lets the task run on, unobserved"]
pub struct TaskHandle<T, E = Infallible> {
    /// Where the answer arrives.
    completion: Completion<Result<T, TaskError<E>>>,
    /// The task behind it; `None` for an answer given at submission.
    control: Option<Arc<dyn Control>>,
    /// While a task awaits this handle, that task's admission slot, lent to its gate so
    /// that a full gate cannot deadlock on a task awaiting its own subtask.
    lent: Option<Lent>,
}

impl<T, E> TaskHandle<T, E> {
    pub(crate) fn new(
        completion: Completion<Result<T, TaskError<E>>>,
        control: Option<Arc<dyn Control>>,
    ) -> Self {
        TaskHandle {
            completion,
            control,
            lent: None,
        }
    }

    /// A handle already answered with `error`, for work refused at submission.
    pub(crate) fn answered(error: TaskError<E>) -> Self {
        let (completer, completion) = sluice_core::completion();
        completer.complete(Err(error));
        TaskHandle::new(completion, None)
    }

    /// Blocks until the task ends and returns its answer.
    ///
    /// This never deadlocks: called from inside another task of the same manager, it
    /// runs the awaited work on this thread if no worker has started it yet; called on a
    /// worker thread of a multi-thread tokio runtime, it blocks through
    /// `block_in_place`, so the runtime keeps running; called on a thread that drives a
    /// current-thread runtime, it answers [`TaskError::WaitWouldBlockRuntime`] instead of
    /// freezing it.
    pub fn wait(self) -> Result<T, TaskError<E>> {
        let TaskHandle {
            completion,
            control,
            lent: _,
        } = self;
        match block_on_completion(completion, control.as_deref()) {
            Ok(Some(answer)) => answer,
            Ok(None) => Err(TaskError::Cancelled),
            Err(error) => Err(error.widen()),
        }
    }

    /// Cancels the task. Queued work answers [`TaskError::Cancelled`] at once and never
    /// runs; a running future is dropped; running CPU or chunk work is asked to stop
    /// (it sees [`is_cancelled`](crate::is_cancelled)) and answers when it ends.
    /// Returns false if the task had already ended.
    pub fn cancel(&self) -> bool {
        self.control
            .as_ref()
            .is_some_and(|control| control.cancel())
    }

    /// Whether the answer is there, so that `wait` would not block.
    pub fn is_finished(&self) -> bool {
        self.completion.is_closed()
    }
}

impl<T, E> Future for TaskHandle<T, E> {
    type Output = Result<T, TaskError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        match Pin::new(&mut this.completion).poll(cx) {
            Poll::Ready(answer) => {
                this.lent = None;
                Poll::Ready(answer.unwrap_or(Err(TaskError::Cancelled)))
            }
            Poll::Pending => {
                if this.lent.is_none() {
                    this.lent = lend_current();
                }
                Poll::Pending
            }
        }
    }
}

impl<T, E> fmt::Debug for TaskHandle<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
