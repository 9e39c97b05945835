//! Metrics per task key, bounded: each route tracks at most `max_keys` keys one by one,
//! and counts every other key's tasks under "other". A new key takes the place of the
//! least-counted tracked key (whose counts move to "other"), so keys that carry much
//! of the traffic stay tracked while rare ones come and go, and the totals always add
//! up: the tracked keys plus "other" are every keyed task of the route.

use crate::lock::lock;
use crate::snapshot::Latency;
use serde::Serialize;
use sluice_core::{Histogram, Outcome};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One route's keys.
pub(crate) struct KeyMetrics {
    /// How many keys are tracked one by one.
    max_keys: usize,
    /// The tracked keys, and "other".
    table: Mutex<Table>,
}

/// The tracked keys and the rest.
#[derive(Default)]
struct Table {
    /// By key.
    keys: HashMap<Arc<str>, Stats>,
    /// Every key not tracked.
    other: Stats,
}

/// One key's (or "other"'s) counts.
#[derive(Default)]
struct Stats {
    /// Tasks ended, per outcome, in the order of [`Outcome::ALL`].
    outcomes: [u64; 6],
    /// Time from submission to the body's start.
    queue_wait: Option<Histogram>,
    /// Time the body ran.
    run_time: Option<Histogram>,
}

/// One key (or "other") at one moment, in
/// [`RouteSnapshot::keys`](crate::RouteSnapshot::keys).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct KeySnapshot {
    /// The key; `None` for every key not tracked one by one.
    pub key: Option<String>,
    /// Tasks ended.
    pub ended: u64,
    /// Of them, with a value.
    pub succeeded: u64,
    /// With their own error.
    pub failed: u64,
    /// In a caught panic.
    pub panicked: u64,
    /// Cancelled.
    pub cancelled: u64,
    /// Past a deadline.
    pub timed_out: u64,
    /// Refused without running.
    pub rejected: u64,
    /// Time from submission to the body's start.
    pub queue_wait: Latency,
    /// Time each body ran.
    pub run_time: Latency,
}

impl Stats {
    fn total(&self) -> u64 {
        self.outcomes.iter().sum()
    }

    fn record(
        &mut self,
        outcome: Outcome,
        queue_wait: Option<Duration>,
        run_time: Option<Duration>,
    ) {
        if let Some(slot) = Outcome::ALL.iter().position(|o| *o == outcome) {
            self.outcomes[slot] += 1;
        }
        let histogram = |h: &mut Option<Histogram>, value: Option<Duration>| {
            if let Some(value) = value {
                h.get_or_insert_with(Histogram::single)
                    .record_duration(value);
            }
        };
        histogram(&mut self.queue_wait, queue_wait);
        histogram(&mut self.run_time, run_time);
    }

    /// Adds `other`'s counts (an evicted key's) into these.
    fn absorb(&mut self, other: Stats) {
        for (mine, theirs) in self.outcomes.iter_mut().zip(other.outcomes) {
            *mine += theirs;
        }
        // Latencies of an evicted key are not carried over: "other" keeps the counts
        // exact, and its latencies describe the keys it counted from the start.
    }

    fn snapshot(&self, key: Option<String>) -> KeySnapshot {
        let latency =
            |h: &Option<Histogram>| h.as_ref().map(|h| h.snapshot().into()).unwrap_or_default();
        let [succeeded, failed, panicked, cancelled, timed_out, rejected] = self.outcomes;
        KeySnapshot {
            key,
            ended: self.total(),
            succeeded,
            failed,
            panicked,
            cancelled,
            timed_out,
            rejected,
            queue_wait: latency(&self.queue_wait),
            run_time: latency(&self.run_time),
        }
    }
}

impl KeyMetrics {
    pub(crate) fn new(max_keys: usize) -> Self {
        KeyMetrics {
            max_keys,
            table: Mutex::new(Table::default()),
        }
    }

    /// A task of `key` ended with `outcome`.
    pub(crate) fn record(
        &self,
        key: &Arc<str>,
        outcome: Outcome,
        queue_wait: Option<Duration>,
        run_time: Option<Duration>,
    ) {
        let mut table = lock(&self.table);
        if !table.keys.contains_key(key) && table.keys.len() >= self.max_keys {
            let least = table
                .keys
                .iter()
                .min_by_key(|(_, stats)| stats.total())
                .map(|(key, _)| key.clone());
            match least.and_then(|least| table.keys.remove(&least)) {
                Some(evicted) => table.other.absorb(evicted),
                // Tracking no key at all: everything is "other".
                None => {
                    table.other.record(outcome, queue_wait, run_time);
                    return;
                }
            }
        }
        table
            .keys
            .entry(key.clone())
            .or_default()
            .record(outcome, queue_wait, run_time);
    }

    /// The tracked keys, most tasks first, then "other" if it counted anything.
    pub(crate) fn snapshot(&self) -> Vec<KeySnapshot> {
        let table = lock(&self.table);
        let mut keys: Vec<KeySnapshot> = table
            .keys
            .iter()
            .map(|(key, stats)| stats.snapshot(Some(key.to_string())))
            .collect();
        keys.sort_by(|a, b| b.ended.cmp(&a.ended).then_with(|| a.key.cmp(&b.key)));
        if table.other.total() > 0 {
            keys.push(table.other.snapshot(None));
        }
        keys
    }
}
