//! What a worker runs: the [`Handler`] trait, the [`Work`] it answers (which names
//! its Sluice route), and the [`HandlerError`]s that decide what happens next.

use crate::enqueue::TaskId;
use crate::payload::Payload;
use serde::de::DeserializeOwned;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A claimed task, as its handler sees it.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    /// The task's id.
    pub id: TaskId,
    /// Its kind.
    pub kind: String,
    /// Its key, if any.
    pub key: Option<String>,
    /// This attempt's number: 1 for the first.
    pub attempt: i32,
    /// Attempts allowed before the task is dead.
    pub max_attempts: i32,
}

/// Why a handler did not complete its task, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerError {
    /// Try again after the worker's backoff (with jitter); dead once the task's
    /// attempts are used up.
    Retry(String),
    /// Never try again: the task is dead at once (kept, re-queueable).
    Permanent(String),
    /// Not now: back to pending for this long; the attempt does not count.
    Snooze(Duration),
}

impl HandlerError {
    /// A retryable failure described by `error`.
    pub fn retry(error: impl fmt::Display) -> Self {
        HandlerError::Retry(error.to_string())
    }

    /// A permanent failure described by `error`.
    pub fn permanent(error: impl fmt::Display) -> Self {
        HandlerError::Permanent(error.to_string())
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlerError::Retry(error) => write!(f, "{error}"),
            HandlerError::Permanent(error) => write!(f, "permanent: {error}"),
            HandlerError::Snooze(delay) => write!(f, "snoozed for {delay:?}"),
        }
    }
}

impl std::error::Error for HandlerError {}

/// What a handler's body returns.
pub type HandlerResult = Result<(), HandlerError>;

/// A synchronous body.
type SyncBody = Box<dyn FnOnce() -> HandlerResult + Send + 'static>;

/// An asynchronous body.
type AsyncBody = Pin<Box<dyn Future<Output = HandlerResult> + Send + 'static>>;

/// A task's body and the Sluice route that runs it: the worker submits it through the
/// manager (`mgr.task(kind).timeout(t).run_io(..)` and so on), so the manager's limits,
/// throttle and policies apply to it.
pub struct Work(pub(crate) Body);

/// The body, by route.
pub(crate) enum Body {
    /// `run_io`: a future on the runtime.
    Io(AsyncBody),
    /// `run_cpu`: rayon.
    Cpu(SyncBody),
    /// `run_io_blocking`: the blocking pool.
    Blocking(SyncBody),
    /// `run_chunk`: the chunk pool.
    Chunk(SyncBody),
}

impl Work {
    /// A future, run on the io route.
    pub fn io(body: impl Future<Output = HandlerResult> + Send + 'static) -> Work {
        Work(Body::Io(Box::pin(body)))
    }

    /// CPU-bound work, run on the cpu route (rayon).
    pub fn cpu(body: impl FnOnce() -> HandlerResult + Send + 'static) -> Work {
        Work(Body::Cpu(Box::new(body)))
    }

    /// A blocking call (a CLI, a synchronous client), run on the blocking route.
    pub fn blocking(body: impl FnOnce() -> HandlerResult + Send + 'static) -> Work {
        Work(Body::Blocking(Box::new(body)))
    }

    /// Many small items, run on the chunk route.
    pub fn chunk(body: impl FnOnce() -> HandlerResult + Send + 'static) -> Work {
        Work(Body::Chunk(Box::new(body)))
    }

    /// The route this work runs on: `io`, `cpu`, `blocking` or `chunk`.
    pub fn route(&self) -> &'static str {
        match self.0 {
            Body::Io(_) => "io",
            Body::Cpu(_) => "cpu",
            Body::Blocking(_) => "blocking",
            Body::Chunk(_) => "chunk",
        }
    }
}

impl fmt::Debug for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Work").field(&self.route()).finish()
    }
}

/// Runs the tasks of one kind. The payload is deserialized from the task's JSON (or,
/// for a task enqueued with [`NewTask::bytes`](crate::NewTask::bytes), handed over
/// as raw bytes to a `Payload` of [`Bytes`](crate::Bytes)); one that does not
/// deserialize makes the task dead at once, with serde's error.
///
/// # Examples
///
/// ```
/// use sluice_postgres::{Handler, HandlerError, TaskInfo, Work};
///
/// struct Checksum;
///
/// impl Handler for Checksum {
///     type Payload = Vec<u8>;
///
///     fn kind(&self) -> &str {
///         "checksum"
///     }
///
///     fn handle(&self, _task: TaskInfo, bytes: Vec<u8>) -> Work {
///         Work::cpu(move || {
///             let sum: u64 = bytes.iter().map(|&b| u64::from(b)).sum();
///             if sum == 0 {
///                 return Err(HandlerError::permanent("empty input"));
///             }
///             Ok(())
///         })
///     }
/// }
/// ```
pub trait Handler: Send + Sync + 'static {
    /// The task's payload.
    type Payload: DeserializeOwned + Send + 'static;

    /// The kind this handler runs (the name given to [`NewTask::new`](crate::NewTask::new)).
    fn kind(&self) -> &str;

    /// The task's body, on the route it should run on ([`Work::io`], [`Work::cpu`],
    /// [`Work::blocking`], [`Work::chunk`]).
    fn handle(&self, task: TaskInfo, payload: Self::Payload) -> Work;

    /// A circuit breaker of the manager to run this kind's tasks through; while it is
    /// open, tasks are snoozed for as long as it says, without using an attempt.
    fn breaker(&self) -> Option<&str> {
        None
    }

    /// A dependency limit of the manager to run this kind's tasks under.
    fn limit(&self) -> Option<&str> {
        None
    }
}

/// A handler with its payload type erased, as the worker keeps it.
pub(crate) trait ErasedHandler: Send + Sync {
    /// Deserializes the payload and makes the work.
    fn start(&self, task: TaskInfo, payload: Payload) -> Result<Work, HandlerError>;

    /// As [`Handler::breaker`].
    fn breaker(&self) -> Option<&str>;

    /// As [`Handler::limit`].
    fn limit(&self) -> Option<&str>;
}

impl<H: Handler> ErasedHandler for H {
    fn start(&self, task: TaskInfo, payload: Payload) -> Result<Work, HandlerError> {
        match payload.decode::<H::Payload>() {
            Ok(payload) => Ok(self.handle(task, payload)),
            Err(error) => Err(HandlerError::Permanent(format!(
                "payload does not deserialize as {}: {error}",
                std::any::type_name::<H::Payload>()
            ))),
        }
    }

    fn breaker(&self) -> Option<&str> {
        Handler::breaker(self)
    }

    fn limit(&self) -> Option<&str> {
        Handler::limit(self)
    }
}
