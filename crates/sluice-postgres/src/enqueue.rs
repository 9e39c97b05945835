//! [`NewTask`]: a task to enqueue, its settings, and their checks.

use crate::error::{Error, Result};
use crate::payload::Payload;
use serde::Serialize;
use std::time::Duration;

/// A task's id: unique in the database, growing in enqueue order.
pub type TaskId = i64;

/// How a task is ordered against the others of its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fifo {
    /// Tasks of one key run one at a time, in enqueue order, across all workers and
    /// across retries (a head waiting for its retry holds its key); tasks without a
    /// key are unordered.
    #[default]
    PerKey,
    /// Every strict task of the queue runs one at a time, in enqueue order.
    Strict,
    /// No order: the key is only a label for metrics and history.
    Relaxed,
}

/// A task to enqueue: its kind (which handler runs it), its payload (any `Serialize`
/// value, stored as `jsonb`, or raw bytes, stored as `bytea`: [`NewTask::bytes`]) and
/// its settings.
///
/// # Examples
///
/// ```
/// use sluice_postgres::{Fifo, NewTask};
/// use std::time::Duration;
///
/// let task = NewTask::new("transcode", &serde_json::json!({"file": "a.mov"}))?
///     .key("customer-7")
///     .fifo(Fifo::PerKey)
///     .priority(5)
///     .delay(Duration::from_secs(2))
///     .max_attempts(3)
///     .timeout(Duration::from_secs(60))
///     .unique_key("a.mov");
/// assert_eq!(task.kind(), "transcode");
/// # Ok::<(), sluice_postgres::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct NewTask {
    /// The handler's name.
    pub(crate) kind: String,
    /// The payload, serialized (or raw bytes).
    pub(crate) payload: Payload,
    /// The key: a label, and the FIFO chain under [`Fifo::PerKey`].
    pub(crate) key: Option<String>,
    /// How the task is ordered.
    pub(crate) fifo: Fifo,
    /// Higher runs first among ready tasks.
    pub(crate) priority: i16,
    /// Not claimable before this long after the commit.
    pub(crate) delay: Duration,
    /// Attempts before the task is dead.
    pub(crate) max_attempts: u32,
    /// Per-attempt timeout, enforced by the worker's manager.
    pub(crate) timeout: Option<Duration>,
    /// At most one live task per unique key in a queue.
    pub(crate) unique_key: Option<String>,
}

/// Attempts before a task is dead unless [`NewTask::max_attempts`] says otherwise.
const DEFAULT_MAX_ATTEMPTS: u32 = 25;

impl NewTask {
    /// A task of `kind` carrying `payload`; fails if the payload does not serialize.
    pub fn new<P: Serialize + ?Sized>(kind: impl Into<String>, payload: &P) -> Result<NewTask> {
        let kind = kind.into();
        let payload = serde_json::to_value(payload).map_err(|source| Error::Serialize {
            kind: kind.clone(),
            source,
        })?;
        Ok(NewTask::with_payload(kind, Payload::Json(payload)))
    }

    /// A task of `kind` carrying raw bytes, stored as `bytea` and never parsed as
    /// JSON; its handler takes them as [`Bytes`](crate::Bytes).
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_postgres::NewTask;
    ///
    /// let task = NewTask::bytes("thumbnail", vec![0x89, b'P', b'N', b'G']).key("album-3");
    /// assert_eq!(task.kind(), "thumbnail");
    /// ```
    pub fn bytes(kind: impl Into<String>, bytes: impl Into<Vec<u8>>) -> NewTask {
        NewTask::with_payload(kind.into(), Payload::Bytes(bytes.into()))
    }

    /// A task with the default settings.
    fn with_payload(kind: String, payload: Payload) -> NewTask {
        NewTask {
            kind,
            payload,
            key: None,
            fifo: Fifo::default(),
            priority: 0,
            delay: Duration::ZERO,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            timeout: None,
            unique_key: None,
        }
    }

    /// The task's kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Sets the key: tasks of one key run in order under [`Fifo::PerKey`].
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets how the task is ordered (default [`Fifo::PerKey`]).
    pub fn fifo(mut self, fifo: Fifo) -> Self {
        self.fifo = fifo;
        self
    }

    /// Sets the priority: among ready tasks, higher first (default 0).
    pub fn priority(mut self, priority: i16) -> Self {
        self.priority = priority;
        self
    }

    /// Makes the task claimable only `delay` after it is enqueued.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sets how many attempts the task gets before it is dead (default 25, at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Sets each attempt's timeout; a timed-out attempt is retried.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets a unique key: enqueueing it again while a task with it is live in the
    /// queue (pending or running) adds nothing.
    pub fn unique_key(mut self, unique_key: impl Into<String>) -> Self {
        self.unique_key = Some(unique_key.into());
        self
    }

    /// The chain the task is ordered in.
    pub(crate) fn fifo_key(&self) -> Option<String> {
        match self.fifo {
            Fifo::PerKey => self.key.clone(),
            Fifo::Strict => Some(String::new()),
            Fifo::Relaxed => None,
        }
    }

    /// Refuses settings the table cannot hold, naming the task.
    pub(crate) fn check(&self) -> Result<()> {
        let refuse = |reason: String| {
            Err(Error::Invalid {
                what: "task",
                reason: format!("`{}` task: {reason}", self.kind),
            })
        };
        if self.kind.is_empty() {
            return refuse("the kind is empty".into());
        }
        if self.max_attempts == 0 || i32::try_from(self.max_attempts).is_err() {
            return refuse(format!(
                "max_attempts {} is not in 1..=2^31-1",
                self.max_attempts
            ));
        }
        if i64::try_from(self.delay.as_millis()).is_err() {
            return refuse(format!("delay {:?} is too long", self.delay));
        }
        match self.timeout.map(|t| t.as_millis()) {
            Some(0) => refuse("a timeout must be at least 1 ms".into()),
            Some(ms) if i64::try_from(ms).is_err() => refuse("the timeout is too long".into()),
            _ => Ok(()),
        }
    }
}

/// `duration` in whole milliseconds, saturating (checked before by `NewTask::check`).
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
