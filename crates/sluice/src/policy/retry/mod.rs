//! Retry: a task whose work can be called again (`Fn`, not `FnOnce`) is run as a
//! series of attempts by a driver (`driver.rs`, which starts them through `launch.rs`
//! and keeps the work they call), paused by an exponential backoff with
//! jitter, limited by attempts, total time, the task's deadline and the retry budget of
//! its name (`budgets.rs`), and judged by a [`RetryIf`] (`classify.rs`). The policy
//! itself is [`Retry`] (`config.rs`). A retried closure task makes its driver only
//! when its first attempt, an ordinary task, fails and may be retried
//! (`manager/promote.rs`; the driver then answers through that task, `FirstAttempt`).
//!
//! Queued work: a retried task is one task to its caller and its counters; each
//! attempt is an ordinary task of its route, which waits at the gate like any other
//! and asks the task's breaker again as it starts. An attempt counts when its body
//! starts (the record's `attempts`; after the first, the route's `retries`); a pause
//! cut short, or an attempt cancelled or refused before its start, is no attempt.
//! A retry the budget refuses is counted per name, marked on the task's record and
//! announced by a rate-limited warning.

mod budgets;
mod classify;
mod config;
mod driver;
mod launch;

pub(crate) use budgets::{Budgets, NamedBudget};
pub use classify::{RetryIf, Transient, When};
pub use config::{Retry, RetryBuilder, RetryConfigError};
pub(crate) use driver::{Driver, FirstAttempt, Plan, Successor};
pub(crate) use launch::{Holds, Launch, SharedLaunch};

/// The retry state of a [`TaskBuilder`](crate::TaskBuilder) with no retry policy: its
/// work runs once, so it may be an `FnOnce`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRetry;

/// The retry state of a [`TaskBuilder`](crate::TaskBuilder) given a retry policy: its
/// work may be called once per attempt, so it must be an `Fn`; `C` decides which
/// failures are retried.
#[derive(Debug, Clone)]
pub struct Retrying<C> {
    /// The policy.
    pub(crate) retry: Retry,
    /// Which failures are worth another attempt.
    pub(crate) classify: C,
}
