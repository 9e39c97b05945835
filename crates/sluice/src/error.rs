//! What a task or the manager's builder can answer instead of a value.

use std::convert::Infallible;
use std::error::Error;
use std::fmt;
use std::time::Duration;

/// Why a task gave no value. `E` is the task's own error type, for `try_run_*` work;
/// plain `run_*` work uses the default, [`Infallible`].
///
/// The answer is always flat: `try_run_*` work returning `Result<T, E>` answers
/// `Result<T, TaskError<E>>`, with the task's own error in [`TaskError::Failed`].
///
/// # Examples
///
/// ```
/// use sluice::{ConcurrencyManager, TaskError};
///
/// let mgr = ConcurrencyManager::builder().build()?;
/// for record in ["17", "seventeen", ""] {
///     let parsed = mgr.try_run_cpu(move || {
///         assert!(!record.is_empty(), "empty record");
///         record.parse::<u32>()
///     });
///     match parsed.wait() {
///         Ok(n) => assert_eq!(n, 17),
///         Err(TaskError::Failed(e)) => assert_eq!(e.to_string(), "invalid digit found in string"),
///         Err(TaskError::Panicked(message)) => assert_eq!(message, "empty record"),
///         Err(other) => return Err(other.into()), // cancelled, shutting down, ...
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskError<E = Infallible> {
    /// The task ran and returned its own error.
    Failed(E),
    /// The task panicked; the message is the panic's payload when it was a string.
    Panicked(String),
    /// The task was cancelled: by its handle, by `abort_pending`, or at shutdown.
    Cancelled,
    /// The task ran past its timeout. An io future was dropped at the deadline; CPU,
    /// chunk or blocking work was answered at the deadline, asked to stop (it sees
    /// [`is_cancelled`](crate::is_cancelled)), and its late result is dropped.
    TimedOut,
    /// A circuit breaker refused the call without running it: the service behind it has
    /// been failing. Counted as rejected.
    Rejected {
        /// The breaker's name.
        breaker: String,
        /// How long until the breaker lets a probe through (zero while half-open with
        /// every probe out).
        retry_after: Duration,
    },
    /// No circuit breaker is registered under this name; nothing was submitted or
    /// counted.
    UnknownBreaker(String),
    /// No dependency limit is registered under this name; nothing was submitted or
    /// counted.
    UnknownDependency(String),
    /// The manager is shutting down and took no new work.
    ShuttingDown,
    /// No executor is registered under this name. Answered at submission; the call is
    /// counted on no route.
    UnknownExecutor(String),
    /// `wait()` was called on a thread that drives a current-thread tokio runtime,
    /// where blocking would freeze the runtime; `.await` the handle instead.
    WaitWouldBlockRuntime,
    /// A keyed task waited (`wait()` or `.await`) for a task that can only start after
    /// the waiter ends: a later task of its own key, or — under
    /// [`KeyOrder::Strict`](crate::KeyOrder::Strict) — any later keyed task. Served in
    /// order, that wait could never end, so it is refused at once; the awaited task keeps
    /// its place and runs after the waiter. Submit it without waiting, or give it
    /// another key.
    WaitOnOwnKey,
}

impl<E> TaskError<E> {
    /// The task's own error, if that is why it failed.
    pub fn failure(&self) -> Option<&E> {
        match self {
            TaskError::Failed(error) => Some(error),
            _ => None,
        }
    }

    /// Whether the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled)
    }

    /// Changes the task's own error type; the other answers carry over.
    pub fn map_failure<F>(self, f: impl FnOnce(E) -> F) -> TaskError<F> {
        match self {
            TaskError::Failed(error) => TaskError::Failed(f(error)),
            TaskError::Panicked(message) => TaskError::Panicked(message),
            TaskError::Cancelled => TaskError::Cancelled,
            TaskError::TimedOut => TaskError::TimedOut,
            TaskError::Rejected {
                breaker,
                retry_after,
            } => TaskError::Rejected {
                breaker,
                retry_after,
            },
            TaskError::UnknownBreaker(name) => TaskError::UnknownBreaker(name),
            TaskError::UnknownDependency(name) => TaskError::UnknownDependency(name),
            TaskError::ShuttingDown => TaskError::ShuttingDown,
            TaskError::UnknownExecutor(name) => TaskError::UnknownExecutor(name),
            TaskError::WaitWouldBlockRuntime => TaskError::WaitWouldBlockRuntime,
            TaskError::WaitOnOwnKey => TaskError::WaitOnOwnKey,
        }
    }
}

impl TaskError<Infallible> {
    /// Widens an infallible task's error to any task error type.
    pub fn widen<E>(self) -> TaskError<E> {
        self.map_failure(|never| match never {})
    }
}

impl<E: fmt::Display> fmt::Display for TaskError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Failed(error) => write!(f, "task failed: {error}"),
            TaskError::Panicked(message) => write!(f, "task panicked: {message}"),
            TaskError::Cancelled => f.write_str("task cancelled"),
            TaskError::TimedOut => f.write_str("task timed out"),
            TaskError::Rejected {
                breaker,
                retry_after,
            } => write!(
                f,
                "rejected by circuit breaker {breaker:?} (retry in {retry_after:?})"
            ),
            TaskError::UnknownBreaker(name) => {
                write!(f, "no circuit breaker named {name:?} is registered")
            }
            TaskError::UnknownDependency(name) => {
                write!(f, "no dependency limit named {name:?} is registered")
            }
            TaskError::ShuttingDown => f.write_str("manager is shutting down"),
            TaskError::UnknownExecutor(name) => {
                write!(f, "no executor named {name:?} is registered")
            }
            TaskError::WaitWouldBlockRuntime => f.write_str(
                "wait() would block a current-thread tokio runtime; await the handle instead",
            ),
            TaskError::WaitOnOwnKey => f.write_str(
                "wait refused: the awaited task is queued behind the waiting task's own key turn, so it could only start after the waiter ends",
            ),
        }
    }
}

impl<E: Error + 'static> Error for TaskError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            // The task's error is already in this error's message; its cause is next.
            TaskError::Failed(error) => error.source(),
            _ => None,
        }
    }
}

/// Why [`ManagerBuilder::build`](crate::ManagerBuilder::build) refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A setting that must be at least one was zero.
    #[error("{setting} = 0: must be at least 1")]
    Zero {
        /// The builder method (and later config key) at fault.
        setting: &'static str,
    },
    /// An admission limit above what a gate holds
    /// ([`Gate::MAX_LIMIT`](sluice_core::Gate::MAX_LIMIT), 2³¹ − 1).
    #[error("{setting} = {value}: must be at most {max}")]
    TooLarge {
        /// The builder method (and later config key) at fault.
        setting: String,
        /// The value given.
        value: usize,
        /// The largest allowed.
        max: usize,
    },
    /// A thread count above
    /// [`ManagerBuilder::MAX_THREADS`](crate::ManagerBuilder::MAX_THREADS).
    #[error("{setting} = {value}: must be between 1 and {max}")]
    TooManyThreads {
        /// The builder method given the count.
        setting: &'static str,
        /// The value given.
        value: usize,
        /// The largest allowed.
        max: usize,
    },
    /// A registered executor would admit nothing: its limit (or parallelism) is zero.
    #[error("executor {0:?}: limit = 0: must be at least 1")]
    ZeroExecutorLimit(String),
    /// Two settings that exclude each other were both given.
    #[error("{setting} cannot be set together with {with}")]
    Conflict {
        /// The setting that would be ignored.
        setting: &'static str,
        /// The setting that makes it meaningless.
        with: &'static str,
    },
    /// Two circuit breakers were registered under one name.
    #[error("circuit breaker name {0:?} is already taken")]
    DuplicateBreaker(String),
    /// Two executors were registered under one name, or under a built-in route's name.
    #[error("executor name {0:?} is already taken")]
    DuplicateExecutor(String),
    /// Two dependency limits were registered under one name.
    #[error("dependency name {0:?} is already taken")]
    DuplicateDependency(String),
    /// A dependency limit's settings are out of range.
    #[error("dependency {name:?}: {source}")]
    Limit {
        /// The dependency.
        name: String,
        /// What is wrong.
        #[source]
        source: crate::limit::LimitConfigError,
    },
    /// The throttle's settings are out of range.
    #[error(transparent)]
    Throttle(#[from] crate::throttle::ThrottleConfigError),
    /// An interval too short to be one.
    #[error("{setting} = {value:?}: must be at least 1ms")]
    Interval {
        /// The setting.
        setting: &'static str,
        /// The value given.
        value: std::time::Duration,
    },
    /// A pool failed to start.
    #[error("failed to start a pool")]
    Pool(#[from] sluice_exec::ExecError),
}
