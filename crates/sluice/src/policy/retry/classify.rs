//! Which failed attempts are worth another: [`RetryIf`], [`Transient`] by default, or
//! the caller's own predicate.

use crate::TaskError;
use std::fmt;
use std::marker::PhantomData;

/// Decides whether a failed attempt is tried again (within the policy's limits).
/// Cancellations and shutdown are never retried, whatever this says.
pub trait RetryIf<E>: Send + Sync + 'static {
    /// True to try again after `error`.
    fn retry(&self, error: &TaskError<E>) -> bool;
}

/// The default: a task's own error ([`TaskError::Failed`]) and a timed-out attempt
/// ([`TaskError::TimedOut`]) are tried again; a panic or a breaker's rejection is not.
#[derive(Debug, Clone, Copy, Default)]
pub struct Transient;

impl<E> RetryIf<E> for Transient {
    fn retry(&self, error: &TaskError<E>) -> bool {
        matches!(error, TaskError::Failed(_) | TaskError::TimedOut)
    }
}

/// The caller's predicate, from [`TaskBuilder::retry_if`](crate::TaskBuilder::retry_if).
pub struct When<E, P> {
    /// The predicate.
    predicate: P,
    /// The error type it judges.
    error: PhantomData<fn(&TaskError<E>)>,
}

impl<E, P> When<E, P> {
    pub(crate) fn new(predicate: P) -> Self {
        When {
            predicate,
            error: PhantomData,
        }
    }
}

impl<E: 'static, P> RetryIf<E> for When<E, P>
where
    P: Fn(&TaskError<E>) -> bool + Send + Sync + 'static,
{
    fn retry(&self, error: &TaskError<E>) -> bool {
        (self.predicate)(error)
    }
}

impl<E, P> fmt::Debug for When<E, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("When(..)")
    }
}
