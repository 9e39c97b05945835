//! What a task asks of the manager besides its work: a name and a timeout for now; the
//! retry, breaker, key and priority policies of the open issue will join them here.

use super::deadlines::{Armed, Deadlines};
use super::{OnKeyFailure, Reply};
use sluice_core::{Call, CancelToken, Outcome, Transition};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One task's policies, as given to [`TaskBuilder`](crate::TaskBuilder).
#[derive(Debug, Clone, Default)]
pub(crate) struct Policy {
    /// The task's name, for logs.
    pub(crate) name: Option<Arc<str>>,
    /// How long one attempt may run, from the moment its body starts.
    pub(crate) timeout: Option<Duration>,
    /// The circuit breaker guarding it, by name.
    pub(crate) breaker: Option<Arc<str>>,
    /// The key that orders it, if any.
    pub(crate) key: Option<Arc<str>>,
    /// What its final failure does to the tasks of its key behind it.
    pub(crate) on_key_failure: OnKeyFailure,
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

/// A timeout armed on the manager's deadline thread, for work that cannot be stopped
/// from outside.
#[derive(Clone)]
pub(crate) struct Deadline {
    /// How long after the body starts.
    pub(crate) after: Duration,
    /// Whose thread fires it.
    pub(crate) timers: Arc<Deadlines>,
    /// The task's name, for the log line.
    pub(crate) name: Option<Arc<str>>,
}

impl Deadline {
    /// Starts the clock for a body that just started: at the deadline the task is
    /// answered `TimedOut` and asked to stop, unless it has been answered by then.
    /// Cancel the returned handle when the body ends. (A timeout too long to add to now
    /// arms nothing.)
    pub(crate) fn arm<T, E>(&self, reply: Arc<Reply<T, E>>, token: CancelToken) -> Option<Armed>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let at = Instant::now().checked_add(self.after)?;
        let (after, name) = (self.after, self.name.clone());
        Some(self.timers.arm(
            at,
            Box::new(move || {
                if reply.timed_out() {
                    token.cancel();
                    tracing::warn!(task = name.as_deref(), ?after, route = %reply.route.kind, "task timed out");
                }
            }),
        ))
    }
}
