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
    /// Attempts made: 1 unless retried, 0 if it never started.
    pub attempts: u32,
    /// From submission to the start of its body; `None` if it never started, and for
    /// a task run as attempts (a retried task, a task with a `deadline`, a map
    /// submitted through `mgr.task(..)`), whose bodies are its attempts'.
    pub queue_wait: Option<Duration>,
    /// From the start of its body to its answer (for a task answered at its timeout,
    /// to that answer); `None` as for `queue_wait`.
    pub run_time: Option<Duration>,
    /// From submission to its answer.
    pub total: Duration,
    /// How it ended.
    pub outcome: Outcome,
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
