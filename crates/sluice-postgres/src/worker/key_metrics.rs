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

/// One key's (or the others') counts.
#[derive(Default)]
struct Tally {
    /// The counts (times filled in at snapshot).
    counts: KindMetrics,
    /// Tasks of this entry claimed and not yet settled here.
    held: u64,
}

/// A tracked key: its counts and run times.
struct Entry {
    /// The counts.
    tally: Tally,
    /// Run times recorded since the key entered the table.
    times: Histogram,
}

impl Entry {
    /// An empty entry.
    fn new() -> Entry {
        Entry {
            tally: Tally::default(),
            times: Histogram::single(),
        }
    }

    /// The counts with the run times' mean and p99.
    fn view(&self, times: &HistogramSnapshot) -> KindMetrics {
        KindMetrics {
            mean_us: times.mean(),
            p99_us: times.percentile(0.99),
            ..self.tally.counts
        }
    }
}

/// The per-key table of one kind.
///
/// The others' run times are not kept apart: every keyed task's time is also recorded
/// in `keyed`, and the others' are `keyed` less the tracked keys' at snapshot. A key
/// that leaves the table so takes nothing with it (with 2,000 keys and 64 tracked, one
/// leaves at nearly every claim: copying and merging its histogram, about 4 KiB, each
/// time cost more than the claim itself), and its entry, cleared, serves the key that
/// takes its place.
pub(crate) struct KeyTable {
    /// The tracked keys.
    tracked: HashMap<String, Entry>,
    /// Every other key, added up (their times are in `keyed`).
    others: Tally,
    /// The run times of every keyed task, tracked or not.
    keyed: Histogram,
}

impl KeyTable {
    /// An empty table.
    pub(crate) fn new() -> KeyTable {
        KeyTable {
            tracked: HashMap::new(),
            others: Tally::default(),
            keyed: Histogram::single(),
        }
    }

    /// A task of `key` was claimed: answers whether it is counted under its key
    /// (true) or under the others (false) for the rest of its run here.
    pub(crate) fn claimed(&mut self, key: &str, limit: usize) -> bool {
        let entry = match self.tracked.get_mut(key) {
            Some(entry) => entry,
            None => {
                let Some(fresh) = self.make_room(limit) else {
                    self.others.held += 1;
                    self.others.counts.claimed += 1;
                    return false;
                };
                self.tracked.entry(key.to_owned()).or_insert(fresh)
            }
        };
        entry.tally.held += 1;
        entry.tally.counts.claimed += 1;
        true
    }

    /// An empty entry for one more key, if the table has room or can make it: when
    /// full, the least active key with nothing held here leaves for the others, and
    /// its entry, cleared, is the one answered. None when every key is busy.
    fn make_room(&mut self, limit: usize) -> Option<Entry> {
        if self.tracked.len() < limit {
            return Some(Entry::new());
        }
        let victim = self
            .tracked
            .iter()
            .filter(|(_, entry)| entry.tally.held == 0)
            .min_by_key(|(_, entry)| entry.tally.counts.claimed)
            .map(|(key, _)| key.clone())?;
        let mut entry = self.tracked.remove(&victim)?;
        let (a, b) = (&mut self.others.counts, entry.tally.counts);
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
        // Its times stay in `keyed`, where they now count for the others.
        entry.tally = Tally::default();
        entry.times.clear();
        Some(entry)
    }

    /// The counts a task counts under.
    fn tally(&mut self, key: &str, tracked: bool) -> &mut Tally {
        if tracked && let Some(entry) = self.tracked.get_mut(key) {
            return &mut entry.tally;
        }
        &mut self.others
    }

    /// A task of `key` was submitted to the manager.
    pub(crate) fn started(&mut self, key: &str, tracked: bool) {
        let counts = &mut self.tally(key, tracked).counts;
        counts.running += 1;
        counts.high_water = counts.high_water.max(counts.running);
    }

    /// A task of `key` was answered after `took`.
    pub(crate) fn ended(&mut self, key: &str, tracked: bool, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.keyed.record(micros);
        if tracked && let Some(entry) = self.tracked.get_mut(key) {
            entry.times.record(micros);
        }
        let counts = &mut self.tally(key, tracked).counts;
        counts.running = counts.running.saturating_sub(1);
    }

    /// A task of `key` was settled: `change` counts how; it is no longer held here.
    pub(crate) fn settled(
        &mut self,
        key: &str,
        tracked: bool,
        change: impl FnOnce(&mut KindMetrics),
    ) {
        let tally = self.tally(key, tracked);
        tally.held = tally.held.saturating_sub(1);
        change(&mut tally.counts);
    }

    /// The tracked keys' counts, and the others'.
    pub(crate) fn view(&self) -> (Vec<(String, KindMetrics)>, KindMetrics) {
        let mut tracked_times = HistogramSnapshot::empty();
        let keys = self
            .tracked
            .iter()
            .map(|(key, entry)| {
                let times = entry.times.snapshot();
                tracked_times = tracked_times.merged(&times);
                (key.clone(), entry.view(&times))
            })
            .collect();
        // Under the worker's metrics lock: nothing was recorded between the snapshots.
        let others = self.keyed.snapshot().since(&tracked_times);
        let others = KindMetrics {
            mean_us: others.mean(),
            p99_us: others.percentile(0.99),
            ..self.others.counts
        };
        (keys, others)
    }
}

#[cfg(test)]
mod tests {
    use super::KeyTable;
    use std::time::Duration;

    /// One task of `key` claimed, run for `micros`, and completed, in a table of `limit`.
    fn run_one(table: &mut KeyTable, key: &str, limit: usize, micros: u64) {
        let tracked = table.claimed(key, limit);
        table.started(key, tracked);
        table.ended(key, tracked, Duration::from_micros(micros));
        table.settled(key, tracked, |counts| counts.completed += 1);
    }

    #[test]
    fn a_key_that_leaves_the_table_takes_its_times_to_the_others() {
        let mut table = KeyTable::new();
        run_one(&mut table, "a", 1, 100);
        run_one(&mut table, "a", 1, 300);
        // "b" takes "a"'s place: "a"'s two tasks now count for the others.
        run_one(&mut table, "b", 1, 5_000);
        let (keys, others) = table.view();
        assert_eq!(keys.len(), 1);
        let (key, b) = &keys[0];
        assert_eq!((key.as_str(), b.claimed, b.completed), ("b", 1, 1));
        assert_eq!(b.mean_us, 5_000);
        assert_eq!((others.claimed, others.completed), (2, 2));
        assert_eq!(others.mean_us, 200, "{others:?}");
        assert!(others.p99_us >= 300 && others.p99_us < 5_000, "{others:?}");
    }

    #[test]
    fn a_task_not_tracked_counts_its_time_for_the_others_only() {
        let mut table = KeyTable::new();
        // "a" is held (claimed, not settled): it cannot leave, so "b" is not tracked.
        assert!(table.claimed("a", 1));
        run_one(&mut table, "b", 1, 40);
        table.started("a", true);
        table.ended("a", true, Duration::from_micros(1_000));
        let (keys, others) = table.view();
        assert_eq!(keys[0].1.mean_us, 1_000);
        assert_eq!(
            (others.claimed, others.completed, others.mean_us),
            (1, 1, 40)
        );
        assert_eq!(keys[0].1.running + others.running, 0);
    }
}
