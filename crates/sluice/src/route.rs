//! A route: one backend with its admission gate and its counters.

use crate::keys::KeyMetrics;
use crate::policy::keyed::TaskKey;
use crate::records::{RecordSink, TaskRecord, deliver};
use crate::task::TaskInfo;
use serde::Serialize;
use sluice_core::{Counters, Gate, Histogram, Outcome};
use sluice_exec::Executor;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Which kind of work a route runs; the names used in snapshots and logs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    /// `run_cpu`, `map_cpu`: the rayon pool.
    Cpu,
    /// `run_io`, `map_io`: futures on the tokio runtime.
    Io,
    /// `run_io_blocking`: blocking calls on the runtime's blocking pool.
    IoBlocking,
    /// `run_chunk`, `map_chunks`: the work-stealing chunk pool.
    Chunk,
    /// `run_on(name, ..)`: a backend registered by the user.
    Custom(String),
}

impl fmt::Display for RouteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteKind::Cpu => f.write_str("cpu"),
            RouteKind::Io => f.write_str("io"),
            RouteKind::IoBlocking => f.write_str("io_blocking"),
            RouteKind::Chunk => f.write_str("chunk"),
            RouteKind::Custom(name) => f.write_str(name),
        }
    }
}

/// Everything a task needs of its route.
pub(crate) struct Route {
    /// What this route is.
    pub(crate) kind: RouteKind,
    /// Admission: at most `limit` of this route's tasks are handed to the backend.
    pub(crate) gate: Gate,
    /// Outcome accounting.
    pub(crate) counters: Counters,
    /// Time from submission to the start of the body, per task (or attempt).
    pub(crate) queue_wait: Histogram,
    /// Time from the start of the body to its end, per task (or attempt).
    pub(crate) run_time: Histogram,
    /// Where each task's record goes, if anywhere.
    pub(crate) records: Option<RecordSink>,
    /// Metrics per task key, unless no key is tracked.
    pub(crate) keys: Option<KeyMetrics>,
    /// The backend; for the `Io` route, the blocking side of the IO pool.
    pub(crate) executor: Arc<dyn Executor>,
    /// Whether a waiting task may run this route's work inline on its own thread: CPU
    /// and chunk work only. Blocking calls keep to their own bounded pool, and a custom
    /// backend may hold resources bound to its own threads.
    pub(crate) inline_ok: bool,
    /// How the items of its streamed maps ended.
    pub(crate) items: crate::items::ItemCounters,
}

impl Route {
    /// A task refused without running (shutting down, an open breaker): counted as
    /// submitted and rejected, and recorded.
    pub(crate) fn reject(&self, name: Option<&Arc<str>>, key: Option<&TaskKey>) {
        self.counters.submitted();
        self.counters.ended(Outcome::Rejected);
        if let (Some(keys), Some(key)) = (&self.keys, key) {
            keys.rejected(key);
        }
        if let Some(sink) = &self.records {
            let info = TaskInfo::new(name.cloned(), key.cloned());
            deliver(
                sink,
                &TaskRecord {
                    id: info.id,
                    name: info.name,
                    key: info.key.as_ref().map(TaskKey::shared),
                    route: self.kind.clone(),
                    attempts: 0,
                    queue_wait: None,
                    run_time: None,
                    total: Duration::ZERO,
                    outcome: Outcome::Rejected,
                    retry_refused_by_budget: false,
                    items: None,
                },
            );
        }
    }

    pub(crate) fn new(
        kind: RouteKind,
        executor: Arc<dyn Executor>,
        limit: usize,
        (aging, records, max_keys): (u64, Option<RecordSink>, usize),
    ) -> Arc<Self> {
        let inline_ok = matches!(kind, RouteKind::Cpu | RouteKind::Chunk);
        Arc::new(Route {
            kind,
            gate: Gate::with_aging(limit, aging),
            counters: Counters::new(),
            queue_wait: Histogram::new(),
            run_time: Histogram::new(),
            records,
            keys: (max_keys > 0).then(|| KeyMetrics::new(max_keys)),
            executor,
            inline_ok,
            items: crate::items::ItemCounters::default(),
        })
    }
}
