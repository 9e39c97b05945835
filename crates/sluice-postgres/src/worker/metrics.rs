//! A worker's counts by kind (and by key, `key_metrics.rs`): what it claimed and how
//! each task ended here.

use super::key_metrics::KeyTable;
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
    /// Handed back because the worker stopped (held at the stop's deadline, or
    /// snoozed by the handler once the stop was asked) or its manager shut down;
    /// only those the database took back (a fenced-off one is counted as refused).
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

/// A worker's counts, by kind, and by kind and key (bounded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerMetrics {
    /// Counts by kind.
    pub kinds: BTreeMap<String, KindMetrics>,
    /// Counts by kind, then key: the most active keys of each kind, at most
    /// [`WorkerBuilder::key_metrics`](crate::WorkerBuilder::key_metrics) of them (a
    /// key that left the table for a more active one is counted in `other_keys`).
    pub keys: BTreeMap<String, BTreeMap<String, KindMetrics>>,
    /// By kind, every keyed task not counted in `keys`, added up (`high_water` is the
    /// most that ran at once among them). Tasks without a key are in neither.
    pub other_keys: BTreeMap<String, KindMetrics>,
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

/// One kind's live counts: its own, and its keys'.
struct KindEntry {
    /// The kind's counts.
    counts: KindMetrics,
    /// The kind's run times.
    times: Histogram,
    /// Its keys' counts.
    keys: KeyTable,
}

/// The live counts behind [`WorkerMetrics`].
pub(crate) struct Metrics {
    /// Counts and run times by kind, under a lock taken once per batch or task.
    kinds: Mutex<BTreeMap<String, KindEntry>>,
    /// Keys tracked one by one per kind.
    key_limit: usize,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// No counts yet; `key_limit` keys per kind tracked one by one.
    pub(crate) fn new(key_limit: usize) -> Metrics {
        Metrics {
            kinds: Mutex::default(),
            key_limit,
        }
    }

    /// Tasks of these kinds and keys were claimed; answers, for each, whether its key
    /// is tracked (to give to the task's later counts). One lock for the batch.
    pub(crate) fn claimed_all<'a>(
        &self,
        tasks: impl Iterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Vec<bool> {
        let limit = self.key_limit;
        let mut kinds = self.lock();
        tasks
            .map(|(kind, key)| {
                Self::apply(&mut kinds, kind, |entry| {
                    entry.counts.claimed += 1;
                    key.is_some_and(|key| entry.keys.claimed(key, limit))
                })
            })
            .collect()
    }

    /// Tasks of these kinds and keys (tracked or not) were settled; `slot` says which
    /// count each adds one to. One lock for the batch.
    pub(crate) fn settled_all<'a, T: 'a>(
        &self,
        tasks: impl Iterator<Item = (&'a str, Option<&'a str>, bool, T)>,
        slot: impl for<'c> Fn(&'c mut KindMetrics, &T) -> &'c mut u64,
    ) {
        let mut kinds = self.lock();
        for (kind, key, tracked, how) in tasks {
            Self::apply(&mut kinds, kind, |entry| {
                *slot(&mut entry.counts, &how) += 1;
                if let Some(key) = key {
                    entry
                        .keys
                        .settled(key, tracked, |counts| *slot(counts, &how) += 1);
                }
            });
        }
    }

    /// A task of `kind` and `key` was submitted to the manager.
    pub(crate) fn started(&self, kind: &str, key: Option<&str>, tracked: bool) {
        self.with(kind, |entry| {
            entry.counts.running += 1;
            entry.counts.high_water = entry.counts.high_water.max(entry.counts.running);
            if let Some(key) = key {
                entry.keys.started(key, tracked);
            }
        });
    }

    /// A task of `kind` and `key` was answered after `took`.
    pub(crate) fn ended(&self, kind: &str, key: Option<&str>, tracked: bool, took: Duration) {
        self.with(kind, |entry| {
            entry.counts.running = entry.counts.running.saturating_sub(1);
            entry
                .times
                .record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
            if let Some(key) = key {
                entry.keys.ended(key, tracked, took);
            }
        });
    }

    /// Runs `f` on `kind`'s entry, made on first use.
    fn with<T>(&self, kind: &str, f: impl FnOnce(&mut KindEntry) -> T) -> T {
        Self::apply(&mut self.lock(), kind, f)
    }

    /// The counts by kind, locked.
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, KindEntry>> {
        self.kinds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on `kind`'s entry in `kinds`, made on first use.
    fn apply<T>(
        kinds: &mut BTreeMap<String, KindEntry>,
        kind: &str,
        f: impl FnOnce(&mut KindEntry) -> T,
    ) -> T {
        if let Some(entry) = kinds.get_mut(kind) {
            return f(entry);
        }
        f(kinds.entry(kind.to_owned()).or_insert_with(|| KindEntry {
            counts: KindMetrics::default(),
            times: Histogram::single(),
            keys: KeyTable::new(),
        }))
    }

    /// A copy of the counts, with the run times' mean and p99.
    pub(crate) fn snapshot(&self) -> WorkerMetrics {
        let kinds = self
            .kinds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut view = WorkerMetrics::default();
        for (kind, entry) in kinds.iter() {
            let times = entry.times.snapshot();
            let counts = KindMetrics {
                mean_us: times.mean(),
                p99_us: times.percentile(0.99),
                ..entry.counts
            };
            view.kinds.insert(kind.clone(), counts);
            let (keys, others) = entry.keys.view();
            if !keys.is_empty() {
                view.keys.insert(kind.clone(), keys.into_iter().collect());
            }
            if others.claimed > 0 {
                view.other_keys.insert(kind.clone(), others);
            }
        }
        view
    }
}
