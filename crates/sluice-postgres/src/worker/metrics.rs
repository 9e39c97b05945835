//! A worker's counts by kind: what it claimed and how each task ended here.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// One kind's counts on one worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindMetrics {
    /// Tasks claimed.
    pub claimed: u64,
    /// Completed (the write was accepted).
    pub completed: u64,
    /// Failed and put back for another attempt.
    pub retried: u64,
    /// Dead: a permanent error, a payload that does not deserialize, or attempts used up.
    pub dead: u64,
    /// Snoozed, or refused by a breaker (the attempt did not count).
    pub snoozed: u64,
    /// Cancelled on request.
    pub cancelled: u64,
    /// Handed back at a stop deadline.
    pub handed_back: u64,
    /// Results refused because this worker no longer held the task's lease: another
    /// worker took it over (late results are never written).
    pub refused: u64,
}

/// A worker's counts, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerMetrics {
    /// Counts by kind.
    pub kinds: BTreeMap<String, KindMetrics>,
}

impl WorkerMetrics {
    /// All kinds added up.
    pub fn total(&self) -> KindMetrics {
        self.kinds
            .values()
            .fold(KindMetrics::default(), |a, b| KindMetrics {
                claimed: a.claimed + b.claimed,
                completed: a.completed + b.completed,
                retried: a.retried + b.retried,
                dead: a.dead + b.dead,
                snoozed: a.snoozed + b.snoozed,
                cancelled: a.cancelled + b.cancelled,
                handed_back: a.handed_back + b.handed_back,
                refused: a.refused + b.refused,
            })
    }
}

/// The live counts behind [`WorkerMetrics`].
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// Counts by kind, under a lock taken once per batch or task.
    kinds: Mutex<BTreeMap<String, KindMetrics>>,
}

impl Metrics {
    /// Applies `change` to `kind`'s counts.
    pub(crate) fn record(&self, kind: &str, change: impl FnOnce(&mut KindMetrics)) {
        let mut kinds = self
            .kinds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match kinds.get_mut(kind) {
            Some(counts) => change(counts),
            None => change(kinds.entry(kind.to_owned()).or_default()),
        }
    }

    /// A copy of the counts.
    pub(crate) fn snapshot(&self) -> WorkerMetrics {
        let kinds = self
            .kinds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        WorkerMetrics {
            kinds: kinds.clone(),
        }
    }
}
