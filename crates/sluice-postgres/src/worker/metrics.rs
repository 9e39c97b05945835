//! A worker's counts by kind: what it claimed and how each task ended here.

use sluice_core::Histogram;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

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
    /// Tasks of this kind running (submitted to the manager, not yet answered) now.
    pub running: u64,
    /// The most that ever ran at once.
    pub high_water: u64,
    /// Mean run time in the manager (queue wait at its gate included), µs.
    pub mean_us: u64,
    /// 99th percentile of that run time, µs (within 12.5%).
    pub p99_us: u64,
}

/// A worker's counts, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerMetrics {
    /// Counts by kind.
    pub kinds: BTreeMap<String, KindMetrics>,
}

impl WorkerMetrics {
    /// All kinds' counts added up (`high_water` is the sum of the kinds'; times are
    /// left at zero: read them per kind).
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
                running: a.running + b.running,
                high_water: a.high_water + b.high_water,
                // Times do not add up across kinds; see each kind.
                mean_us: 0,
                p99_us: 0,
            })
    }
}

/// The live counts behind [`WorkerMetrics`].
#[derive(Default)]
pub(crate) struct Metrics {
    /// Counts and run times by kind, under a lock taken once per batch or task.
    kinds: Mutex<BTreeMap<String, (KindMetrics, Histogram)>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Applies `change` to `kind`'s counts.
    pub(crate) fn record(&self, kind: &str, change: impl FnOnce(&mut KindMetrics)) {
        self.with(kind, |counts, _| change(counts));
    }

    /// A task of `kind` was submitted to the manager.
    pub(crate) fn started(&self, kind: &str) {
        self.with(kind, |counts, _| {
            counts.running += 1;
            counts.high_water = counts.high_water.max(counts.running);
        });
    }

    /// A task of `kind` was answered after `took`.
    pub(crate) fn ended(&self, kind: &str, took: Duration) {
        self.with(kind, |counts, times| {
            counts.running = counts.running.saturating_sub(1);
            times.record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        });
    }

    /// Runs `f` on `kind`'s entry, made on first use.
    fn with(&self, kind: &str, f: impl FnOnce(&mut KindMetrics, &Histogram)) {
        let mut kinds = self
            .kinds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((counts, times)) = kinds.get_mut(kind) {
            return f(counts, times);
        }
        let (counts, times) = kinds
            .entry(kind.to_owned())
            .or_insert_with(|| (KindMetrics::default(), Histogram::single()));
        f(counts, times);
    }

    /// A copy of the counts, with the run times' mean and p99.
    pub(crate) fn snapshot(&self) -> WorkerMetrics {
        let kinds = self
            .kinds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let kinds = kinds
            .iter()
            .map(|(kind, (counts, times))| {
                let times = times.snapshot();
                let counts = KindMetrics {
                    mean_us: times.mean(),
                    p99_us: times.percentile(0.99),
                    ..*counts
                };
                (kind.clone(), counts)
            })
            .collect();
        WorkerMetrics { kinds }
    }
}
