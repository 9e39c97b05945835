//! Who a task is, for its `tracing` span: a number unique in the process, its name and
//! key, and for an attempt of a retried task, which attempt.

use crate::policy::keyed::TaskKey;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Numbers tasks in the order they are made.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A task's identity, shared by its attempts.
#[derive(Debug, Clone)]
pub(crate) struct TaskInfo {
    /// Unique in the process.
    pub(crate) id: u64,
    /// Given with `mgr.task(name)`.
    pub(crate) name: Option<Arc<str>>,
    /// Given with `.key(..)`.
    pub(crate) key: Option<TaskKey>,
}

impl TaskInfo {
    /// A new task's identity.
    pub(crate) fn new(name: Option<Arc<str>>, key: Option<TaskKey>) -> Self {
        TaskInfo {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            name,
            key,
        }
    }
}

/// The span a task's body runs in: `sluice.task` at debug level, with the task's id,
/// name, route, key, attempt (for a retried task) and the worker thread.
pub(crate) fn span(
    info: &TaskInfo,
    route: &crate::RouteKind,
    attempt: Option<u32>,
) -> tracing::Span {
    tracing::debug_span!(
        "sluice.task",
        id = info.id,
        name = info.name.as_deref(),
        route = %route,
        key = info.key.as_ref().map(|key| key.name()),
        attempt,
        thread = std::thread::current().name(),
    )
}
