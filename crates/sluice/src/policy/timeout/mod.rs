//! Timeouts on tasks. A future is dropped at its deadline ([`within`], polled in
//! `task/future.rs`); work that cannot be stopped from outside — CPU, chunk, blocking —
//! gets a [`Deadline`] on the manager's timer thread instead.

mod within;

pub(crate) use within::within;

use crate::RouteKind;
use crate::timers::{ArmedHere, Fire, TimerKind, Timers};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A timeout armed on the manager's deadline thread, for work that cannot be stopped
/// from outside.
#[derive(Clone)]
pub(crate) struct Deadline {
    /// How long after the body starts.
    pub(crate) after: Duration,
    /// Whose thread fires it.
    pub(crate) timers: Arc<Timers>,
    /// The task's name, for the log line.
    pub(crate) name: Option<Arc<str>>,
}

impl Deadline {
    /// Starts the clock for a body that started at `began`: at the deadline `task` is
    /// answered `TimedOut` and asked to stop, unless it has been answered by then.
    /// Cancel the returned handle when the body ends. (A timeout too long to add to
    /// `began` arms nothing.) The body's start is passed in, not read here: the task
    /// read the clock for it already, and a second reading a moment later is the
    /// same deadline for one more clock call per task.
    pub(crate) fn arm(&self, began: Instant, task: Arc<dyn Expirable>) -> Option<ArmedHere<'_>> {
        let at = began.checked_add(self.after)?;
        let fire = Fire::Expire(task, self.after, self.name.clone());
        Some(self.timers.arm_here(at, TimerKind::Deadline, fire))
    }
}

/// `task`'s timeout of `after` passed: it is answered `TimedOut` (and logged) unless
/// it was answered already.
pub(crate) fn expire(task: &dyn Expirable, after: Duration, name: Option<&str>) {
    if task.time_out() {
        tracing::warn!(task = name, ?after, route = %task.route_kind(), "task timed out");
    }
}

/// Work a [`Deadline`] can time out.
pub(crate) trait Expirable: Send + Sync + 'static {
    /// Answers `TimedOut` unless already answered, and then asks the body to stop;
    /// true if this call answered.
    fn time_out(&self) -> bool;

    /// Its route, for the log line.
    fn route_kind(&self) -> &RouteKind;
}
