//! Per-task records: one [`TaskRecord`] for each task as its outcome is counted, handed
//! to a sink set with
//! [`ManagerBuilder::task_records`](crate::ManagerBuilder::task_records), for users
//! who keep every task in their own store.

use crate::RouteKind;
use sluice_core::Outcome;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

/// Where records go.
pub(crate) type RecordSink = Arc<dyn Fn(&TaskRecord) + Send + Sync>;

/// One task, as it ended.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TaskRecord {
    /// Unique in the process (the `id` of its `sluice.task` spans).
    pub id: u64,
    /// Given with `mgr.task(name)`.
    pub name: Option<Arc<str>>,
    /// Given with `.key(..)`.
    pub key: Option<Arc<str>>,
    /// Where it ran.
    pub route: RouteKind,
    /// Attempts whose body started: 1 unless retried, 0 if no body ever started (it
    /// was cancelled, rejected or timed out before). An attempt launched but never
    /// started (cancelled in its queue, refused by its breaker) is not counted. Summed
    /// over a route's tasks, `attempts - 1` (for tasks with attempts) is the route's
    /// [`retries`](crate::Counts::retries).
    pub attempts: u32,
    /// From submission to the start of its first body (for a task run as attempts —
    /// a retried task, a task with a `deadline`, a map through `mgr.task(..)` — the
    /// first attempt's); `None` if no body started.
    pub queue_wait: Option<Duration>,
    /// From the start of its first body to its answer, pauses between attempts
    /// included (for a task answered at its timeout, to that answer); `None` as for
    /// `queue_wait`. So for a task that started, `queue_wait + run_time` is its
    /// `total` (less the instant between the readings).
    pub run_time: Option<Duration>,
    /// From submission to its answer.
    pub total: Duration,
    /// How it ended.
    pub outcome: Outcome,
    /// Whether the retry budget of its name refused a retry its policy asked for (the
    /// task was then answered with its last attempt's result). Counted per name in
    /// [`Snapshot::retry_budgets`](crate::Snapshot::retry_budgets).
    pub retry_refused_by_budget: bool,
    /// A streamed map's items, by how each ended (`None` for any other task).
    pub items: Option<crate::ItemCounts>,
}

/// Hands `record` to `sink`. A sink that panics costs that record, logged, and nothing
/// else: it runs where tasks end, on pool and timer threads that must carry on.
pub(crate) fn deliver(sink: &RecordSink, record: &TaskRecord) {
    if catch_unwind(AssertUnwindSafe(|| sink(record))).is_err() {
        tracing::error!(
            task = record.id,
            "sluice: the task record sink panicked; record dropped"
        );
    }
}
