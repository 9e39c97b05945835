//! The operator's view: a queue's depth by state and kind, and one task's attempts.

use crate::enqueue::TaskId;
use crate::error::Result;
use crate::queries;
use crate::queue::Queue;
use std::collections::BTreeMap;
use std::time::Duration;

/// A worker counts as alive if it has beaten within this (three heartbeats).
const ALIVE_WITHIN: Duration = Duration::from_secs(30);

/// A queue's state, read in one go by [`Queue::status`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    /// Task counts by state (`pending`, `running`, `completed`, `dead`, `cancelled`),
    /// then by kind. Finished states count what the TTL has not removed yet.
    pub depth: BTreeMap<String, BTreeMap<String, i64>>,
    /// How long the oldest ready task has waited to be claimed.
    pub oldest_pending: Option<Duration>,
    /// Dead tasks kept (re-queueable with [`Queue::requeue_dead`]).
    pub dead: i64,
    /// Workers of this queue that have beaten in the last 30 s.
    pub workers_alive: i64,
}

impl Status {
    /// Tasks in `state`, all kinds together.
    pub fn count(&self, state: &str) -> i64 {
        self.depth
            .get(state)
            .map_or(0, |kinds| kinds.values().sum())
    }
}

/// One past attempt's error, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptError {
    /// The attempt's number (1 is the first).
    pub attempt: i32,
    /// What went wrong.
    pub error: String,
    /// The worker that ran it, when known.
    pub worker: Option<String>,
}

/// A task's state and its attempts' errors, from [`Queue::history`].
#[derive(Debug, Clone, PartialEq)]
pub struct TaskHistory {
    /// The task.
    pub id: TaskId,
    /// Its kind.
    pub kind: String,
    /// Its key, if any.
    pub key: Option<String>,
    /// `pending`, `running`, `completed`, `dead` or `cancelled`.
    pub state: String,
    /// Attempts made so far (a running attempt included).
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// The errors of failed attempts, oldest first.
    pub errors: Vec<AttemptError>,
}

impl Queue {
    /// The queue's depth by state and kind, the oldest ready task's wait, dead letters
    /// and live workers.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(queue: sluice_postgres::Queue) -> Result<(), sluice_postgres::Error> {
    /// let status = queue.status().await?;
    /// println!("{} pending, {} dead, {} workers", status.count("pending"), status.dead, status.workers_alive);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn status(&self) -> Result<Status> {
        let mut client = self.client().await?;
        // One snapshot for every count: a task finishing between two statements would
        // otherwise be counted live and finished at once.
        let client = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let name: &str = &self.name;
        let mut status = Status::default();
        let mut oldest: Option<f64> = None;
        for row in client.query(queries::STATUS_LIVE, &[&name]).await? {
            let waited: Option<f64> = row.get(3);
            oldest = match (oldest, waited) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            add(&mut status, row.get(0), row.get(1), row.get(2));
        }
        for row in client.query(queries::STATUS_DONE, &[&name]).await? {
            add(&mut status, row.get(0), row.get(1), row.get(2));
        }
        status.oldest_pending = oldest.map(|secs| Duration::from_secs_f64(secs.max(0.0)));
        status.dead = status.count("dead");
        let alive_ms = crate::enqueue::millis(ALIVE_WITHIN);
        status.workers_alive = client
            .query_one(queries::STATUS_WORKERS, &[&name, &alive_ms])
            .await?
            .get(0);
        client.commit().await?;
        Ok(status)
    }

    /// Task `id`'s state and the errors of its attempts, live or finished (until the
    /// TTL removes it); `None` if no such task is kept.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(queue: sluice_postgres::Queue) -> Result<(), sluice_postgres::Error> {
    /// if let Some(task) = queue.history(42).await? {
    ///     for failure in &task.errors {
    ///         println!("attempt {}: {}", failure.attempt, failure.error);
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn history(&self, id: TaskId) -> Result<Option<TaskHistory>> {
        let client = self.client().await?;
        let Some(row) = client.query_opt(queries::TASK_HISTORY, &[&id]).await? else {
            return Ok(None);
        };
        let errors: serde_json::Value = row.get(7);
        let errors = errors
            .as_array()
            .map(|list| list.iter().map(attempt_error).collect())
            .unwrap_or_default();
        Ok(Some(TaskHistory {
            id: row.get(0),
            kind: row.get(2),
            key: row.get(3),
            state: row.get(4),
            attempt: row.get(5),
            max_attempts: row.get(6),
            errors,
        }))
    }
}

/// Adds `count` tasks of `kind` in `state`.
fn add(status: &mut Status, state: String, kind: String, count: i64) {
    *status
        .depth
        .entry(state)
        .or_default()
        .entry(kind)
        .or_default() += count;
}

/// One recorded error (`{"attempt", "error", "worker"}`), tolerant of missing fields.
fn attempt_error(value: &serde_json::Value) -> AttemptError {
    AttemptError {
        attempt: value["attempt"]
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(0),
        error: value["error"].as_str().unwrap_or_default().to_owned(),
        worker: value["worker"].as_str().map(str::to_owned),
    }
}

/// The JSON recorded for one failed attempt.
pub(crate) fn error_record(attempt: i32, error: &str, worker: &str) -> serde_json::Value {
    serde_json::json!({ "attempt": attempt, "error": error, "worker": worker })
}
