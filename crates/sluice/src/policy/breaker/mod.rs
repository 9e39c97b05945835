//! Circuit breakers on tasks: asked before a task is queued, asked again as it starts,
//! told how its body ended.
//!
//! The state machine is `sluice_core::CircuitBreaker`; this layer names breakers,
//! answers rejected tasks and logs transitions.
//!
//! Queued work: a task's call is admitted at submission and travels with it while it
//! waits (for its key's turn, at its route's gate, in its backend's queue). When its
//! body is about to start, [`recheck`] asks the breaker again (`Call::recheck`): if
//! the breaker opened meanwhile the task is answered `Rejected` and counted as
//! rejected, without running, and its slot and key's turn go to the next task. A
//! half-open probe admitted at submission is still the probe when it starts; a call
//! taken while closed, whose breaker has since opened and turned half-open, runs only
//! if it can take a probe slot then.

mod per_key;
mod registry;

pub(crate) use registry::{Breakers, Duplicate, Listing};

use crate::TaskError;
use crate::policy::keyed::TaskKey;
use sluice_core::{Call, CircuitBreaker, Outcome, Transition};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Asks the breaker `name` (for `key`, if it is a per-key breaker) to admit one call of
/// the task `task`: its call, or the error the task is answered with.
pub(crate) fn admit<E>(
    breakers: &Breakers,
    name: &Arc<str>,
    key: Option<&TaskKey>,
    task: Option<&str>,
) -> Result<Guarded, TaskError<E>> {
    let Some(breaker) = breakers.get_named(name, key) else {
        return Err(TaskError::UnknownBreaker(name.to_string()));
    };
    admit_to(&breaker, name, task)
}

/// Asks `breaker`, already looked up as `name`, to admit one call of the task `task`.
pub(crate) fn admit_to<E>(
    breaker: &CircuitBreaker,
    name: &Arc<str>,
    task: Option<&str>,
) -> Result<Guarded, TaskError<E>> {
    match breaker.try_acquire() {
        Ok(call) => {
            if let Some(transition) = call.transition() {
                log_transition(name, transition);
            }
            Ok(Guarded {
                name: name.clone(),
                call,
            })
        }
        Err(rejected) => {
            tracing::debug!(breaker = &**name, task, "rejected by circuit breaker");
            Err(TaskError::Rejected {
                breaker: name.to_string(),
                retry_after: rejected.retry_after(),
            })
        }
    }
}

/// Asks the breaker of `guard` again, as its task's body is about to start (see the
/// module's doc): the call to run with (none without a breaker), or the `Rejected`
/// answer of a task whose breaker opened while it waited.
pub(crate) fn recheck<E>(
    guard: Option<Guarded>,
    task: Option<&str>,
) -> Result<Option<Guarded>, TaskError<E>> {
    let Some(Guarded { name, call }) = guard else {
        return Ok(None);
    };
    match call.recheck() {
        Ok(call) => {
            if let Some(transition) = call.transition() {
                log_transition(&name, transition);
            }
            Ok(Some(Guarded { name, call }))
        }
        Err(rejected) => {
            tracing::debug!(
                breaker = &*name,
                task,
                "rejected at its start: the circuit breaker opened while it waited"
            );
            Err(TaskError::Rejected {
                breaker: name.to_string(),
                retry_after: rejected.retry_after(),
            })
        }
    }
}

/// A call admitted by a circuit breaker, travelling with its task until the body ends.
/// Dropped without a result (the task was cancelled or never ran), it records nothing
/// and gives back a half-open probe slot.
pub(crate) struct Guarded {
    /// The breaker's name, for the log line.
    pub(crate) name: Arc<str>,
    /// The admitted call.
    pub(crate) call: Call,
}

impl Guarded {
    /// Records how the body ended: a value is a success; its own error, a panic or a
    /// timeout is a failure; anything else records nothing.
    pub(crate) fn record(self, outcome: Outcome, elapsed: Duration) {
        let Guarded { name, call } = self;
        let transition = match outcome {
            Outcome::Succeeded => call.success(elapsed),
            Outcome::Failed | Outcome::Panicked | Outcome::TimedOut => call.failure(elapsed),
            Outcome::Cancelled | Outcome::Rejected => None,
        };
        if let Some(transition) = transition {
            log_transition(&name, transition);
        }
    }

    /// [`record`](Self::record)s a body that began at `began`, reading the clock for
    /// its run time only if the breaker looks at it (a slow-call limit): otherwise it
    /// is one clock call per task for nothing.
    pub(crate) fn record_since(self, outcome: Outcome, began: Instant) {
        let elapsed = if self.call.is_timed() {
            began.elapsed()
        } else {
            Duration::ZERO
        };
        self.record(outcome, elapsed);
    }
}

/// A breaker's change of state, as a `tracing` event.
pub(crate) fn log_transition(name: &str, transition: Transition) {
    tracing::warn!(
        breaker = name,
        from = %transition.from,
        to = %transition.to,
        generation = transition.generation,
        "circuit breaker changed state"
    );
}
