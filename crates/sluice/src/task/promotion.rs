//! What a closure task does where a retried task's first attempt may go on to a retry
//! driver ([`Promotion`]): nothing for an ordinary task (`()`).
//!
//! A retried closure task's first attempt is an ordinary closure task, so that a task
//! never retried makes no driver; what it does when it fails, times out or is refused
//! as it starts is asked of its `Promotion` (`manager/promote.rs`), which may make the
//! driver that answers the caller instead.

use super::Reply;
use crate::TaskError;
use crate::policy::retry::Successor;
use sluice_core::{CancelOutcome, Outcome, TokenCell};
use std::sync::Arc;

/// What a cancel of a first attempt did.
pub(crate) enum Cancel {
    /// The task's own token was cancelled, with this outcome.
    Token(CancelOutcome),
    /// The task had gone on to a driver, which took the cancel: true if it stopped it.
    Forwarded(bool),
}

/// Where a closure task's answer may go instead of its caller: a retried task's first
/// attempt hands its task over to a retry driver when a failure may be retried.
///
/// Every method is called with the task's own reply and token; `()` answers as usual.
pub(crate) trait Promotion<T, E>: Send + Sync + 'static {
    /// Whether the task is the first attempt of a retried task (its span says so).
    const FIRST_ATTEMPT: bool = true;

    /// The body ended with `outcome` and `answer`: given back to be answered as usual,
    /// or `None` if the task went on to a driver (or had, at its timeout: the body's
    /// late end was counted abandoned).
    fn ended(
        &self,
        reply: &Reply<T, E>,
        token: &TokenCell,
        outcome: Outcome,
        answer: Result<T, TaskError<E>>,
    ) -> Option<(Outcome, Result<T, TaskError<E>>)>;

    /// The attempt's timeout passed while its body runs: `Some` (answered) if the task
    /// went on to a driver, its body asked to stop; `None` to time it out as usual.
    fn timed_out(&self, reply: &Reply<T, E>, token: &TokenCell) -> Option<bool>;

    /// Its breaker refused it as it was about to start: the refusal given back to be
    /// answered as usual, or `None` if the task went on to a driver.
    fn refused(
        &self,
        reply: &Reply<T, E>,
        token: &TokenCell,
        refusal: TaskError<E>,
    ) -> Option<TaskError<E>>;

    /// Cancels the task: its token, or its driver once it has one (decided under one
    /// lock with the promotion, so a cancel is never lost between the two).
    fn cancel(&self, token: &TokenCell) -> Cancel;

    /// The driver the task went on to, while it has one.
    fn successor(&self) -> Option<Arc<dyn Successor<T, E>>>;

    /// Whether the task went on to a driver, which then passes its key's turn on.
    fn promoted(&self) -> bool;

    /// The body has really ended: a driver the task went on to is told.
    fn body_ended(&self);

    /// The driver is done and no body of the task runs: it is let go.
    fn unlink(&self);
}

impl<T: Send + 'static, E: Send + 'static> Promotion<T, E> for () {
    const FIRST_ATTEMPT: bool = false;

    #[inline]
    fn ended(
        &self,
        _reply: &Reply<T, E>,
        _token: &TokenCell,
        outcome: Outcome,
        answer: Result<T, TaskError<E>>,
    ) -> Option<(Outcome, Result<T, TaskError<E>>)> {
        Some((outcome, answer))
    }

    #[inline]
    fn timed_out(&self, _reply: &Reply<T, E>, _token: &TokenCell) -> Option<bool> {
        None
    }

    #[inline]
    fn refused(
        &self,
        _reply: &Reply<T, E>,
        _token: &TokenCell,
        refusal: TaskError<E>,
    ) -> Option<TaskError<E>> {
        Some(refusal)
    }

    #[inline]
    fn cancel(&self, token: &TokenCell) -> Cancel {
        Cancel::Token(token.cancel())
    }

    #[inline]
    fn successor(&self) -> Option<Arc<dyn Successor<T, E>>> {
        None
    }

    #[inline]
    fn promoted(&self) -> bool {
        false
    }

    #[inline]
    fn body_ended(&self) {}

    #[inline]
    fn unlink(&self) {}
}

/// A promotion that keeps the work every attempt calls (a retried closure's `Fn`):
/// the first task holds it for its driver's attempts.
pub(crate) trait Keeps<W>: Send + Sync {
    /// The work.
    fn work(&self) -> &W;
}
