//! Metrics per task key, bounded: each route tracks at most `max_keys` keys one by one,
//! and counts every other key's tasks under "other". A new key takes the place of the
//! least-counted *idle* tracked key (nothing pending or running; its counts move to
//! "other") — once the table is full, at one arrival of an untracked key in
//! [`EVICT_EVERY`] — so keys that carry much of the traffic stay tracked while rare
//! ones come and go, and the totals always add up: the tracked keys plus "other" are
//! every keyed task of the route.
//!
//! Pending and running counts go up and down, so each task remembers where its rise
//! was counted ([`Bucket`]) and its fall goes to the same place; a key is never evicted
//! while it has anything pending or running, so a remembered key is still there.

use crate::lock::lock;
use crate::policy::keyed::{ByKeyHash, TaskKey};
use crate::snapshot::Latency;
use serde::Serialize;
use sluice_core::{Histogram, Outcome};
use std::collections::HashMap;
use std::sync::Mutex;
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
    keys: HashMap<TaskKey, Stats, ByKeyHash>,
    /// Every key not tracked.
    other: Stats,
    /// Arrivals of untracked keys while the table was full.
    misses: u64,
}

/// When the table is full, one arrival of an untracked key in this many looks for an
/// idle key to replace; the others count under "other" at once. A key that comes
/// often is soon the one that looks, so busy keys still get in, and a stream of
/// one-off keys costs a scan of the table only now and then (measured: tiny keyed
/// tasks over 10,000 keys went from 3.4x to about 1.8x the unkeyed ones).
const EVICT_EVERY: u64 = 32;

/// Where a task's rise of a pending or running count was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bucket {
    /// Under its own key.
    Key,
    /// Under "other".
    Other,
}

/// One key's (or "other"'s) counts.
#[derive(Default)]
struct Stats {
    /// Tasks ended, per outcome, in the order of [`Outcome::ALL`].
    outcomes: [u64; 6],
    /// Tasks submitted and not yet answered.
    pending: u64,
    /// Bodies running (a retried task's attempts, a timed-out body still running).
    running: u64,
    /// The most bodies seen running at once.
    high_water: u64,
    /// Failed attempts tried again.
    retries: u64,
    /// Bodies that ended after their task timed out.
    abandoned: u64,
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
    /// Tasks submitted and not yet answered: waiting (for their key, their gate, a
    /// retry) or running.
    pub pending: u64,
    /// Of them, waiting: `pending` minus the bodies running, at least 0.
    pub waiting: u64,
    /// Bodies running now.
    pub running: u64,
    /// The most bodies seen running at once.
    pub high_water: u64,
    /// Failed attempts tried again.
    pub retries: u64,
    /// Bodies that ended after their task timed out.
    pub abandoned: u64,
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

    fn idle(&self) -> bool {
        self.pending == 0 && self.running == 0
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
        self.retries += other.retries;
        self.abandoned += other.abandoned;
        self.high_water = self.high_water.max(other.high_water);
        // Latencies of an evicted key are not carried over: "other" keeps the counts
        // exact, and its latencies describe the keys it counted from the start.
    }

    fn snapshot(&self, key: Option<String>) -> KeySnapshot {
        let latency =
            |h: &Option<Histogram>| h.as_ref().map(|h| h.snapshot().into()).unwrap_or_default();
        let [succeeded, failed, panicked, cancelled, timed_out, rejected] = self.outcomes;
        KeySnapshot {
            key,
            pending: self.pending,
            waiting: self.pending.saturating_sub(self.running),
            running: self.running,
            high_water: self.high_water,
            retries: self.retries,
            abandoned: self.abandoned,
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

impl Table {
    /// The entry a task counted in `bucket` falls from. A key with anything pending or
    /// running is never evicted, so a task counted under its key finds it still there.
    fn of(&mut self, key: &TaskKey, bucket: Bucket) -> &mut Stats {
        // One lookup and no clone of the key: it is there (see above). Were it not, its
        // fall would go to "other", which is where an untracked key's tasks count.
        match bucket {
            Bucket::Key => match self.keys.get_mut(key) {
                Some(stats) => stats,
                None => &mut self.other,
            },
            Bucket::Other => &mut self.other,
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

    /// A task of `key` was submitted: pending until answered. Returns where it
    /// was counted, for [`answered`](Self::answered).
    pub(crate) fn submitted(&self, key: &TaskKey) -> Bucket {
        let mut table = lock(&self.table);
        let (bucket, stats) = self.place(&mut table, key, true);
        stats.pending += 1;
        bucket
    }

    /// A task of `key`, counted pending in `bucket`, was answered with `outcome`.
    pub(crate) fn answered(
        &self,
        key: &TaskKey,
        bucket: Bucket,
        outcome: Outcome,
        (queue_wait, run_time): (Option<Duration>, Option<Duration>),
    ) {
        let mut table = lock(&self.table);
        let stats = table.of(key, bucket);
        stats.pending = stats.pending.saturating_sub(1);
        stats.record(outcome, queue_wait, run_time);
    }

    /// A task of `key` refused at submission: submitted and answered at once.
    pub(crate) fn rejected(&self, key: &TaskKey) {
        let bucket = self.submitted(key);
        self.answered(key, bucket, Outcome::Rejected, (None, None));
    }

    /// A body of `key` began. Returns where it was counted, for
    /// [`body_ended`](Self::body_ended).
    pub(crate) fn body_started(&self, key: &TaskKey) -> Bucket {
        let mut table = lock(&self.table);
        let (bucket, stats) = self.place(&mut table, key, false);
        stats.running += 1;
        stats.high_water = stats.high_water.max(stats.running);
        bucket
    }

    /// A body of `key`, counted running in `bucket`, ended.
    pub(crate) fn body_ended(&self, key: &TaskKey, bucket: Bucket) {
        let mut table = lock(&self.table);
        let stats = table.of(key, bucket);
        stats.running = stats.running.saturating_sub(1);
    }

    /// An attempt of a task of `key` failed and is tried again.
    pub(crate) fn retried(&self, key: &TaskKey) {
        self.add(key, |stats| stats.retries += 1);
    }

    /// A body of `key` ended after its task had been answered (it timed out).
    pub(crate) fn abandoned(&self, key: &TaskKey) {
        self.add(key, |stats| stats.abandoned += 1);
    }

    /// Adds to a count that only grows: under the key if tracked, else "other".
    fn add(&self, key: &TaskKey, add: impl FnOnce(&mut Stats)) {
        let mut table = lock(&self.table);
        let bucket = if table.keys.contains_key(key) {
            Bucket::Key
        } else {
            Bucket::Other
        };
        add(table.of(key, bucket));
    }

    /// Where `key`'s rises are counted: its own entry (made, if need be and `arrival`
    /// is a task's submission, in place of the least-counted idle key), or "other".
    fn place<'t>(
        &self,
        table: &'t mut Table,
        key: &TaskKey,
        arrival: bool,
    ) -> (Bucket, &'t mut Stats) {
        // A table with room needs one lookup (the entry below); a full one asks first
        // whether the key is tracked.
        if table.keys.len() >= self.max_keys && !table.keys.contains_key(key) {
            table.misses += u64::from(arrival);
            if !arrival || self.max_keys == 0 || !table.misses.is_multiple_of(EVICT_EVERY) {
                return (Bucket::Other, &mut table.other);
            }
            let least = table
                .keys
                .iter()
                .filter(|(_, stats)| stats.idle())
                .min_by_key(|(_, stats)| stats.total())
                .map(|(key, _)| key.clone());
            match least.and_then(|least| table.keys.remove(&least)) {
                Some(evicted) => table.other.absorb(evicted),
                None => return (Bucket::Other, &mut table.other),
            }
        }
        (Bucket::Key, table.keys.entry(key.clone()).or_default())
    }

    /// The tracked keys, most tasks first, then "other" if it counted anything.
    pub(crate) fn snapshot(&self) -> Vec<KeySnapshot> {
        let table = lock(&self.table);
        let mut keys: Vec<KeySnapshot> = table
            .keys
            .iter()
            .map(|(key, stats)| stats.snapshot(Some(key.name().to_string())))
            .collect();
        keys.sort_by(|a, b| b.ended.cmp(&a.ended).then_with(|| a.key.cmp(&b.key)));
        if table.other.total() > 0 || !table.other.idle() {
            keys.push(table.other.snapshot(None));
        }
        keys
    }
}
