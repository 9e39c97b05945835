//! [`NewTask`] and enqueueing: one task or a batch in one transaction, visible to the
//! workers when it commits and announced with `pg_notify` in that same transaction.

use crate::error::{Error, Result};
use crate::queries;
use crate::queue::Queue;
use serde::Serialize;
use std::collections::HashSet;
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
/// value, stored as `jsonb`) and its settings.
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
    kind: String,
    /// The payload, serialized.
    payload: serde_json::Value,
    /// The key: a label, and the FIFO chain under [`Fifo::PerKey`].
    key: Option<String>,
    /// How the task is ordered.
    fifo: Fifo,
    /// Higher runs first among ready tasks.
    priority: i16,
    /// Not claimable before this long after the commit.
    delay: Duration,
    /// Attempts before the task is dead.
    max_attempts: u32,
    /// Per-attempt timeout, enforced by the worker's manager.
    timeout: Option<Duration>,
    /// At most one live task per unique key in a queue.
    unique_key: Option<String>,
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
        Ok(NewTask {
            kind,
            payload,
            key: None,
            fifo: Fifo::default(),
            priority: 0,
            delay: Duration::ZERO,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            timeout: None,
            unique_key: None,
        })
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
    fn fifo_key(&self) -> Option<String> {
        match self.fifo {
            Fifo::PerKey => self.key.clone(),
            Fifo::Strict => Some(String::new()),
            Fifo::Relaxed => None,
        }
    }

    /// Refuses settings the table cannot hold, naming the task.
    fn check(&self) -> Result<()> {
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

impl Queue {
    /// Enqueues one task; answers its id, or `None` when its unique key is already
    /// live in the queue.
    pub async fn enqueue(&self, task: NewTask) -> Result<Option<TaskId>> {
        Ok(self.enqueue_many(vec![task]).await?.pop().flatten())
    }

    /// Enqueues a batch in one transaction (one insert statement); answers each task's
    /// id in input order, `None` where its unique key was already live. Tasks of one
    /// key keep their order in the batch.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sluice_postgres::NewTask;
    ///
    /// # async fn demo(queue: sluice_postgres::Queue) -> Result<(), sluice_postgres::Error> {
    /// let tasks = (0..100)
    ///     .map(|n| Ok(NewTask::new("index", &n)?.key(format!("shard-{}", n % 4))))
    ///     .collect::<Result<Vec<_>, sluice_postgres::Error>>()?;
    /// let ids = queue.enqueue_many(tasks).await?;
    /// assert_eq!(ids.len(), 100);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn enqueue_many(&self, tasks: Vec<NewTask>) -> Result<Vec<Option<TaskId>>> {
        for task in &tasks {
            task.check()?;
        }
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let fifo_keys: Vec<Option<String>> = tasks.iter().map(NewTask::fifo_key).collect();
        let chains: Vec<String> = fifo_keys
            .iter()
            .flatten()
            .cloned()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let queues = vec![self.name.to_string(); chains.len()];
        let kinds: Vec<&str> = tasks.iter().map(|t| t.kind.as_str()).collect();
        let keys: Vec<Option<&str>> = tasks.iter().map(|t| t.key.as_deref()).collect();
        let payloads: Vec<&serde_json::Value> = tasks.iter().map(|t| &t.payload).collect();
        let priorities: Vec<i16> = tasks.iter().map(|t| t.priority).collect();
        let delays: Vec<i64> = tasks.iter().map(|t| millis(t.delay)).collect();
        let attempts: Vec<i32> = tasks
            .iter()
            .map(|t| i32::try_from(t.max_attempts).unwrap_or(i32::MAX))
            .collect();
        let timeouts: Vec<Option<i64>> = tasks.iter().map(|t| t.timeout.map(millis)).collect();
        let uniques: Vec<Option<&str>> = tasks.iter().map(|t| t.unique_key.as_deref()).collect();

        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if !chains.is_empty() {
            tx.execute(queries::LOCK_CHAINS, &[&queues, &chains])
                .await?;
        }
        let name: &str = &self.name;
        let rows = tx
            .query(
                queries::ENQUEUE,
                &[
                    &name,
                    &kinds,
                    &keys,
                    &fifo_keys,
                    &payloads,
                    &priorities,
                    &delays,
                    &attempts,
                    &timeouts,
                    &uniques,
                ],
            )
            .await?;
        if !chains.is_empty() {
            tx.execute(queries::PROMOTE_HEADS, &[&queues, &chains])
                .await?;
        }
        tx.execute(queries::NOTIFY, &[&name]).await?;
        tx.commit().await?;

        // Inserted rows come back in input order (ids grow); a task is missing only
        // when its unique key was live already or repeated earlier in the batch.
        let inserted_uniques: HashSet<String> = rows
            .iter()
            .filter_map(|row| row.get::<_, Option<String>>(1))
            .collect();
        let mut ids = rows
            .iter()
            .map(|row| row.get::<_, i64>(0))
            .collect::<Vec<_>>();
        ids.sort_unstable();
        let mut ids = ids.into_iter();
        let mut seen = HashSet::new();
        Ok(uniques
            .iter()
            .map(|unique| match unique {
                None => ids.next(),
                Some(u) if inserted_uniques.contains(*u) && seen.insert(*u) => ids.next(),
                Some(_) => None,
            })
            .collect())
    }
}

/// `duration` in whole milliseconds, saturating (checked before by `NewTask::check`).
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
