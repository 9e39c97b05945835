//! Running a claimed task through the manager (in its batch's driver, `driver.rs`)
//! and turning the answer into a settlement: done, retry (backoff with jitter), dead,
//! snooze, cancelled, handed back.

use super::Shared;
use super::driver::Unsettled;
use super::handler::{Body, HandlerError, TaskInfo};
use super::settle::{Action, Why};
use crate::payload::Payload;
use crate::status::error_record;
use sluice::{Priority, TaskError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit};

/// The shortest snooze of a task refused by an open breaker.
const MIN_BREAKER_SNOOZE: Duration = Duration::from_millis(100);

/// A task as the claim returned it.
#[derive(Debug)]
pub(crate) struct Claimed {
    /// What the handler sees.
    pub(crate) info: TaskInfo,
    /// The payload, not yet deserialized.
    pub(super) payload: Payload,
    /// Each attempt's timeout.
    timeout: Option<Duration>,
    /// The task's priority.
    priority: i16,
    /// Someone asked to cancel it while an earlier attempt ran.
    cancel_requested: bool,
    /// Its FIFO chain, locked when it finishes.
    pub(super) chain: Option<String>,
}

impl Claimed {
    /// From a row of [`CLAIM`](crate::queries::CLAIM).
    pub(crate) fn from_row(row: &tokio_postgres::Row) -> Claimed {
        let timeout_ms: Option<i64> = row.get(6);
        Claimed {
            info: TaskInfo {
                id: row.get(0),
                kind: row.get(1),
                key: row.get(2),
                attempt: row.get(4),
                max_attempts: row.get(5),
            },
            payload: Payload::from_columns(row.get(3), row.get(9)),
            timeout: timeout_ms
                .and_then(|ms| u64::try_from(ms).ok())
                .map(Duration::from_millis),
            priority: row.get(7),
            cancel_requested: row.get(8),
            chain: row.get(10),
        }
    }
}

/// A claimed task about to run, with what it runs with.
pub(crate) struct Started {
    /// The task.
    pub(crate) task: Claimed,
    /// Whether its key is counted one by one.
    pub(crate) tracked: bool,
    /// Notified when someone asks to cancel it.
    pub(crate) cancel: Arc<Notify>,
    /// Its room among the held tasks, given back when it is settled.
    pub(crate) permit: OwnedSemaphorePermit,
}

/// What to write for a task once it has run (or could not).
pub(super) async fn run(unsettled: &mut Unsettled<'_>, payload: Payload) -> Action {
    let shared: &Shared = unsettled.shared();
    let task = &unsettled.task;
    let worker = shared.id.as_str();
    let attempt = task.info.attempt;
    if task.cancel_requested {
        return finish("cancelled", None);
    }
    if attempt > task.info.max_attempts {
        // Rescued after its last attempt's lease expired: no attempt is left.
        let why = format!(
            "attempts used up ({} of {})",
            attempt - 1,
            task.info.max_attempts
        );
        return finish("dead", Some(error_record(attempt, &why, worker)));
    }
    let Some(handler) = shared.handlers.get(&task.info.kind) else {
        // Only registered kinds are claimed; kept as an answer rather than a panic.
        return Action::Release {
            delay: Duration::ZERO,
            error: None,
            why: Why::HandedBack,
        };
    };
    // A handler's `handle` that panics fails its attempt, as a body that panics does:
    // unwinding would end the batch's driver, and with it the other tasks of the batch
    // (each then handed back rather than run).
    let info = task.info.clone();
    let work = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        handler.start(info, payload)
    })) {
        Ok(Ok(work)) => work,
        Ok(Err(error)) => return failed(shared, &task.info, error),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            let error = HandlerError::Retry(format!("panicked in handle: {message}"));
            return failed(shared, &task.info, error);
        }
    };
    let mut builder = shared
        .mgr
        .task(&task.info.kind)
        .priority(priority(task.priority));
    if let Some(timeout) = task.timeout {
        builder = builder.timeout(timeout);
    }
    if let Some(breaker) = handler.breaker() {
        builder = builder.breaker(breaker);
    }
    if let Some(dependency) = handler.limit() {
        builder = builder.limit(dependency);
    }
    let handle = match work.0 {
        Body::Io(body) => builder.try_run_io(body),
        Body::Cpu(body) => builder.try_run_cpu(body),
        Body::Blocking(body) => builder.try_run_io_blocking(body),
        Body::Chunk(body) => builder.try_run_chunk(body),
    };
    shared
        .metrics
        .started(&task.info.kind, task.info.key.as_deref(), unsettled.tracked);
    unsettled.began = Some(Instant::now());
    let mut handle = std::pin::pin!(handle);
    let mut cancel_asked = false;
    let answer = tokio::select! {
        answer = &mut handle => answer,
        () = unsettled.cancel.notified() => {
            cancel_asked = true;
            handle.cancel();
            handle.await
        }
        () = shared.abandon.cancelled() => {
            handle.cancel();
            return Action::Release { delay: Duration::ZERO, error: None, why: Why::HandedBack };
        }
    };
    match answer {
        Ok(()) => finish("completed", None),
        Err(TaskError::Failed(error)) => failed(shared, &task.info, error),
        Err(TaskError::Cancelled) if cancel_asked => finish("cancelled", None),
        Err(TaskError::ShuttingDown) => {
            // The manager is closing: claiming more would only hand it back again.
            shared.stop.cancel();
            Action::Release {
                delay: Duration::ZERO,
                error: None,
                why: Why::HandedBack,
            }
        }
        Err(TaskError::Cancelled) => Action::Release {
            delay: Duration::ZERO,
            error: None,
            why: Why::HandedBack,
        },
        Err(TaskError::Rejected { retry_after, .. }) => Action::Release {
            // A half-open breaker with every probe out says zero: not a reason to
            // claim the task again at once.
            delay: retry_after.max(MIN_BREAKER_SNOOZE),
            error: None,
            why: Why::Snoozed,
        },
        Err(TaskError::TimedOut) => {
            let after = task.timeout.unwrap_or_default();
            failed(
                shared,
                &task.info,
                HandlerError::Retry(format!("timed out after {after:?}")),
            )
        }
        Err(TaskError::Panicked(message)) => failed(
            shared,
            &task.info,
            HandlerError::Retry(format!("panicked: {message}")),
        ),
        Err(other) => failed(
            shared,
            &task.info,
            HandlerError::Permanent(other.to_string()),
        ),
    }
}

/// A failed attempt: retried after the backoff while attempts are left, else dead.
fn failed(shared: &Shared, task: &TaskInfo, error: HandlerError) -> Action {
    let record = |text: &str| Some(error_record(task.attempt, text, &shared.id));
    match error {
        // Once the worker is stopping (or its manager shutting down, which stops it
        // too), a snooze gives the task back to the queue for another worker: a
        // handler that notices the shutdown answers so.
        HandlerError::Snooze(delay) => Action::Release {
            delay,
            error: None,
            why: if shared.stop.is_cancelled() || shared.mgr.is_shutting_down() {
                Why::HandedBack
            } else {
                Why::Snoozed
            },
        },
        HandlerError::Permanent(text) => finish("dead", record(&text)),
        HandlerError::Retry(text) if task.attempt >= task.max_attempts => {
            finish("dead", record(&text))
        }
        HandlerError::Retry(text) => {
            // Seeded by task and attempt: the delays of one task are replayable, and
            // tasks that failed together spread apart.
            let retry = u32::try_from(task.attempt.saturating_sub(1)).unwrap_or(0);
            let seed = (task.id as u64).rotate_left(17) ^ u64::from(retry);
            let delay = shared
                .settings
                .backoff
                .delays(seed)
                .nth(retry as usize)
                .unwrap_or_default();
            Action::Release {
                delay,
                error: record(&text),
                why: Why::Retried,
            }
        }
    }
}

/// The task leaves for the history in `state`.
fn finish(state: &'static str, error: Option<serde_json::Value>) -> Action {
    Action::Finish { state, error }
}

/// The manager's priority for a task's: above zero is high, below is low.
fn priority(priority: i16) -> Priority {
    match priority {
        p if p > 0 => Priority::High,
        0 => Priority::Normal,
        _ => Priority::Low,
    }
}
