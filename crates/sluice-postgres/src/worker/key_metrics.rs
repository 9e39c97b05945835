//! A worker's counts per kind *and key*, bounded: the most active keys of each kind
//! are tracked one by one, every other key is added up in one "others" entry, as the
//! library's `breaker_per_key` keeps a bounded number of idle breakers.
//!
//! A key enters the table when one of its tasks is claimed; when the table is full,
//! the least active key with no task held here leaves it (its counts move to
//! "others"). A task remembers at its claim whether its key was tracked, and all its
//! later counts go to the same entry, so a key never leaves while one of its tasks is
//! held here and "running" stays exact in both places.

use super::metrics::KindMetrics;
use sluice_core::{Histogram, HistogramSnapshot};
use std::collections::HashMap;
use std::time::Duration;

/// Keys tracked one by one per kind unless
/// [`WorkerBuilder::key_metrics`](crate::WorkerBuilder::key_metrics) says otherwise.
pub(crate) const DEFAULT_TRACKED_KEYS: usize = 64;

/// One key's (or the others') counts and run times.
struct Entry {
    /// The counts (times filled in at snapshot).
    counts: KindMetrics,
    /// Run times recorded since the entry was made.
    times: Histogram,
    /// Run times of keys that left the table (the others' entry only).
    left: Option<HistogramSnapshot>,
    /// Tasks of this entry claimed and not yet settled here.
    held: u64,
}

impl Entry {
    /// An empty entry.
    fn new() -> Entry {
        Entry {
            counts: KindMetrics::default(),
            times: Histogram::single(),
            left: None,
            held: 0,
        }
    }

    /// The counts with the run times' mean and p99.
    fn view(&self) -> KindMetrics {
        let mut times = self.times.snapshot();
        if let Some(left) = &self.left {
            times = times.merged(left);
        }
        KindMetrics {
            mean_us: times.mean(),
            p99_us: times.percentile(0.99),
            ..self.counts
        }
    }
}

/// The per-key table of one kind.
pub(crate) struct KeyTable {
    /// The tracked keys.
    tracked: HashMap<String, Entry>,
    /// Every other key, added up.
    others: Entry,
}

impl KeyTable {
    /// An empty table.
    pub(crate) fn new() -> KeyTable {
        KeyTable {
            tracked: HashMap::new(),
            others: Entry::new(),
        }
    }

    /// A task of `key` was claimed: answers whether it is counted under its key
    /// (true) or under the others (false) for the rest of its run here.
    pub(crate) fn claimed(&mut self, key: &str, limit: usize) -> bool {
        if !self.tracked.contains_key(key) && !self.make_room(limit) {
            self.others.held += 1;
            self.others.counts.claimed += 1;
            return false;
        }
        let entry = self
            .tracked
            .entry(key.to_owned())
            .or_insert_with(Entry::new);
        entry.held += 1;
        entry.counts.claimed += 1;
        true
    }

    /// Makes room for one more key if the table is full: the least active key with
    /// nothing held here leaves for the others. False when every key is busy.
    fn make_room(&mut self, limit: usize) -> bool {
        if self.tracked.len() < limit {
            return true;
        }
        let victim = self
            .tracked
            .iter()
            .filter(|(_, entry)| entry.held == 0)
            .min_by_key(|(_, entry)| entry.counts.claimed)
            .map(|(key, _)| key.clone());
        let Some(entry) = victim.and_then(|key| self.tracked.remove(&key)) else {
            return false;
        };
        let others = &mut self.others;
        let left = entry.times.snapshot();
        others.left = Some(match others.left.take() {
            Some(earlier) => earlier.merged(&left),
            None => left,
        });
        let (a, b) = (&mut others.counts, entry.counts);
        a.claimed += b.claimed;
        a.completed += b.completed;
        a.retried += b.retried;
        a.dead += b.dead;
        a.snoozed += b.snoozed;
        a.cancelled += b.cancelled;
        a.handed_back += b.handed_back;
        a.refused += b.refused;
        // Nothing of the key runs now (nothing is held): its high water stays its own.
        a.high_water = a.high_water.max(b.high_water);
        true
    }

    /// The entry a task counts under.
    fn entry(&mut self, key: &str, tracked: bool) -> &mut Entry {
        if tracked && let Some(entry) = self.tracked.get_mut(key) {
            return entry;
        }
        &mut self.others
    }

    /// A task of `key` was submitted to the manager.
    pub(crate) fn started(&mut self, key: &str, tracked: bool) {
        let counts = &mut self.entry(key, tracked).counts;
        counts.running += 1;
        counts.high_water = counts.high_water.max(counts.running);
    }

    /// A task of `key` was answered after `took`.
    pub(crate) fn ended(&mut self, key: &str, tracked: bool, took: Duration) {
        let entry = self.entry(key, tracked);
        entry.counts.running = entry.counts.running.saturating_sub(1);
        entry
            .times
            .record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
    }

    /// A task of `key` was settled: `change` counts how; it is no longer held here.
    pub(crate) fn settled(
        &mut self,
        key: &str,
        tracked: bool,
        change: impl FnOnce(&mut KindMetrics),
    ) {
        let entry = self.entry(key, tracked);
        entry.held = entry.held.saturating_sub(1);
        change(&mut entry.counts);
    }

    /// The tracked keys' counts, and the others'.
    pub(crate) fn view(&self) -> (Vec<(String, KindMetrics)>, KindMetrics) {
        let keys = self
            .tracked
            .iter()
            .map(|(key, entry)| (key.clone(), entry.view()))
            .collect();
        (keys, self.others.view())
    }
}
