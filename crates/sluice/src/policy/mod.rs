//! The policies a task can be given, one directory each, applied the same way on every
//! route — like tower's middleware, each wraps the task and knows nothing of the others:
//!
//! - `timeout/`: a deadline per attempt, and one for the whole task;
//! - `breaker/`: circuit breakers, asked before each attempt and told how it ended;
//! - `keyed/`: per-key ordering, a turn held from the first attempt to the last;
//! - `retry/`: attempts, backoff, the retry budget of a task name;
//! - `limit/`: adaptive concurrency limits per named dependency.
//!
//! Priorities need no layer of their own: the gate orders its queue by them.

pub(crate) mod breaker;
pub(crate) mod keyed;
pub(crate) mod last_look_up;
pub(crate) mod limit;
pub(crate) mod retry;
pub(crate) mod timeout;

use keyed::OnKeyFailure;
use sluice_core::Priority;
use std::sync::Arc;
use std::time::Duration;

/// One task's policies, as given to [`TaskBuilder`](crate::TaskBuilder).
#[derive(Debug, Clone, Default)]
pub(crate) struct Policy {
    /// The task's name, for logs and its retry budget.
    pub(crate) name: Option<Arc<str>>,
    /// How long one attempt may run, from the moment its body starts.
    pub(crate) timeout: Option<Duration>,
    /// How long the whole task may take, from submission to its answer.
    pub(crate) deadline: Option<Duration>,
    /// The circuit breaker guarding it, by name.
    pub(crate) breaker: Option<Arc<str>>,
    /// The dependency whose adaptive limit it waits for, by name.
    pub(crate) limit: Option<Arc<str>>,
    /// The key that orders it, if any.
    pub(crate) key: Option<keyed::TaskKey>,
    /// What its final failure does to the tasks of its key behind it.
    pub(crate) on_key_failure: OnKeyFailure,
    /// Its place in its gate's queue.
    pub(crate) priority: Priority,
    /// Told how far a map has got.
    pub(crate) progress: Option<crate::Progress>,
}
