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

use crate::policy::keyed::{ByKeyHash, TaskKey};
use crate::snapshot::Latency;
use serde::Serialize;
use sluice_core::{Histogram, Outcome};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// One route's keys.
pub(crate) struct KeyMetrics {
    /// How many keys are tracked one by one.
    max_keys: usize,
    /// The tracked keys, and "other": read to count under a key, written only to add
    /// or evict one.
    table: RwLock<Table>,
    /// Arrivals of untracked keys while the table was full.
    misses: AtomicU64,
}

/// The tracked keys and the rest.
#[derive(Default)]
struct Table {
    /// By key.
    keys: HashMap<TaskKey, Arc<Stats>, ByKeyHash>,
    /// Every key not tracked.
    other: Arc<Stats>,
}

/// When the table is full, one arrival of an untracked key in this many looks for an
/// idle key to replace; the others count under "other" at once. A key that comes
/// often is soon the one that looks, so busy keys still get in, and a stream of
/// one-off keys costs a scan of the table only now and then (measured: tiny keyed
/// tasks over 10,000 keys went from 3.4x to about 1.8x the unkeyed ones).
const EVICT_EVERY: u64 = 32;

/// Where a task's rise of a pending or running count was counted: the counts its fall
/// goes to, held by the task, so that a fall (a body's end, an answer) takes no lock
/// and looks nothing up. Made once per rise and consumed by its fall, so no count
/// falls twice.
pub(crate) struct Bucket(Arc<Stats>);

/// One key's (or "other"'s) counts: atomics, so that the tasks of a key count their
/// falls without the table's lock. A rise is counted under the table's read lock and
/// a key is evicted under its write lock, only when nothing is pending or running, so
/// no task holds the counts of an evicted key.
#[derive(Default)]
struct Stats {
    /// Tasks ended, per outcome, in the order of [`Outcome::ALL`].
    outcomes: [AtomicU64; 6],
    /// Tasks submitted and not yet answered.
    pending: AtomicU64,
    /// Bodies running (a retried task's attempts, a timed-out body still running).
    running: AtomicU64,
    /// The most bodies seen running at once.
    high_water: AtomicU64,
    /// Failed attempts tried again.
    retries: AtomicU64,
    /// Bodies that ended after their task timed out.
    abandoned: AtomicU64,
    /// Time from submission to the body's start.
    queue_wait: OnceLock<Histogram>,
    /// Time the body ran.
    run_time: OnceLock<Histogram>,
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
        self.outcomes
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .sum()
    }

    /// Nothing pending or running. Acquire: a task's last fall comes after its other
    /// counts, so counts read after this see them all (an eviction's absorb).
    fn idle(&self) -> bool {
        self.pending.load(Ordering::Acquire) == 0 && self.running.load(Ordering::Acquire) == 0
    }

    /// A task's answer: its outcome and latencies, then its pending count's fall
    /// (last, Release: see [`idle`](Self::idle)).
    fn answered(&self, outcome: Outcome, queue_wait: Option<Duration>, run_time: Option<Duration>) {
        if let Some(slot) = Outcome::ALL.iter().position(|o| *o == outcome) {
            self.outcomes[slot].fetch_add(1, Ordering::Relaxed);
        }
        let histogram = |h: &OnceLock<Histogram>, value: Option<Duration>| {
            if let Some(value) = value {
                h.get_or_init(Histogram::single).record_duration(value);
            }
        };
        histogram(&self.queue_wait, queue_wait);
        histogram(&self.run_time, run_time);
        self.pending.fetch_sub(1, Ordering::Release);
    }

    /// A body began.
    fn body_started(&self) {
        let running = self.running.fetch_add(1, Ordering::Relaxed) + 1;
        // A read first: a new high is rare, and a read leaves the line shared.
        if running > self.high_water.load(Ordering::Relaxed) {
            self.high_water.fetch_max(running, Ordering::Relaxed);
        }
    }

    /// Fresh counts for a new key, with `evicted`'s histograms emptied if nobody else
    /// holds it (a task that has just counted its last fall may still): a table full
    /// of keys that come and go would otherwise allocate and zero two histograms
    /// (8 KiB) at each eviction.
    fn recycling(evicted: Arc<Stats>) -> Stats {
        let Some(evicted) = Arc::into_inner(evicted) else {
            return Stats::default();
        };
        let emptied = |h: OnceLock<Histogram>| {
            let mut h = h.into_inner()?;
            h.clear();
            Some(h)
        };
        let lock = |h: Option<Histogram>| h.map_or_else(OnceLock::new, OnceLock::from);
        Stats {
            queue_wait: lock(emptied(evicted.queue_wait)),
            run_time: lock(emptied(evicted.run_time)),
            ..Stats::default()
        }
    }

    /// Adds `other`'s counts (an idle evicted key's) into these.
    fn absorb(&self, other: &Stats) {
        for (mine, theirs) in self.outcomes.iter().zip(&other.outcomes) {
            mine.fetch_add(theirs.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        let add = |mine: &AtomicU64, theirs: &AtomicU64| {
            mine.fetch_add(theirs.load(Ordering::Relaxed), Ordering::Relaxed);
        };
        add(&self.retries, &other.retries);
        add(&self.abandoned, &other.abandoned);
        self.high_water
            .fetch_max(other.high_water.load(Ordering::Relaxed), Ordering::Relaxed);
        // Latencies of an evicted key are not carried over: "other" keeps the counts
        // exact, and its latencies describe the keys it counted from the start.
    }

    fn snapshot(&self, key: Option<String>) -> KeySnapshot {
        let latency =
            |h: &OnceLock<Histogram>| h.get().map(|h| h.snapshot().into()).unwrap_or_default();
        let [succeeded, failed, panicked, cancelled, timed_out, rejected] =
            self.outcomes.each_ref().map(|n| n.load(Ordering::Relaxed));
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let (pending, running) = (load(&self.pending), load(&self.running));
        KeySnapshot {
            key,
            pending,
            waiting: pending.saturating_sub(running),
            running,
            high_water: load(&self.high_water),
            retries: load(&self.retries),
            abandoned: load(&self.abandoned),
            ended: succeeded + failed + panicked + cancelled + timed_out + rejected,
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

/// Reads `table`, poisoned or not (nothing is left half-updated under it).
fn read(table: &RwLock<Table>) -> RwLockReadGuard<'_, Table> {
    table
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes `table`, poisoned or not.
fn write(table: &RwLock<Table>) -> RwLockWriteGuard<'_, Table> {
    table
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl KeyMetrics {
    pub(crate) fn new(max_keys: usize) -> Self {
        KeyMetrics {
            max_keys,
            table: RwLock::new(Table::default()),
            misses: AtomicU64::new(0),
        }
    }

    /// A task of `key` was submitted: pending until answered. Returns where it
    /// was counted, for [`answered`](Self::answered).
    pub(crate) fn submitted(&self, key: &TaskKey) -> Bucket {
        self.rise(key, true, |stats| {
            stats.pending.fetch_add(1, Ordering::Relaxed);
        })
    }

    /// A task counted pending in `bucket` was answered with `outcome` (of `_key`,
    /// which the bucket already names: no lock, no look-up).
    pub(crate) fn answered(
        &self,
        _key: &TaskKey,
        bucket: Bucket,
        outcome: Outcome,
        (queue_wait, run_time): (Option<Duration>, Option<Duration>),
    ) {
        bucket.0.answered(outcome, queue_wait, run_time);
    }

    /// A task of `key` refused at submission: submitted and answered at once.
    pub(crate) fn rejected(&self, key: &TaskKey) {
        let bucket = self.submitted(key);
        self.answered(key, bucket, Outcome::Rejected, (None, None));
    }

    /// A body of `key` began. Returns where it was counted, for
    /// [`body_ended`](Self::body_ended).
    pub(crate) fn body_started(&self, key: &TaskKey) -> Bucket {
        self.rise(key, false, Stats::body_started)
    }

    /// A body counted running in `bucket` ended (of `_key`, which the bucket names).
    pub(crate) fn body_ended(&self, _key: &TaskKey, bucket: Bucket) {
        bucket.0.running.fetch_sub(1, Ordering::Release);
    }

    /// An attempt of a task of `key` failed and is tried again.
    pub(crate) fn retried(&self, key: &TaskKey) {
        self.add(key, |stats| &stats.retries);
    }

    /// A body of `key` ended after its task had been answered (it timed out).
    pub(crate) fn abandoned(&self, key: &TaskKey) {
        self.add(key, |stats| &stats.abandoned);
    }

    /// Adds one to a count that only grows: under the key if tracked, else "other".
    fn add(&self, key: &TaskKey, count: impl FnOnce(&Stats) -> &AtomicU64) {
        let table = read(&self.table);
        let stats = table.keys.get(key).unwrap_or(&table.other);
        count(stats).fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a rise (`rise`) where `key`'s rises are counted: its own entry, or
    /// "other"; under the table's lock, so that no key is evicted between the look-up
    /// and the count. A tracked key (the usual case) takes only the read lock; an
    /// untracked one is added, if the table has room, under the write lock.
    fn rise(&self, key: &TaskKey, arrival: bool, rise: impl Fn(&Stats)) -> Bucket {
        let evict = {
            let table = read(&self.table);
            if let Some(stats) = table.keys.get(key) {
                rise(stats);
                return Bucket(stats.clone());
            }
            let full = table.keys.len() >= self.max_keys;
            if full && !self.evicts(arrival) {
                rise(&table.other);
                return Bucket(table.other.clone());
            }
            full
        };
        let mut table = write(&self.table);
        let stats = self.place(&mut table, key, evict);
        rise(&stats);
        Bucket(stats)
    }

    /// Whether this lookup of an untracked key, the table being full, is the one in
    /// [`EVICT_EVERY`] that looks for a key to replace (only a task's arrival counts).
    fn evicts(&self, arrival: bool) -> bool {
        if !arrival || self.max_keys == 0 {
            return false;
        }
        let misses = self.misses.fetch_add(1, Ordering::Relaxed) + 1;
        misses.is_multiple_of(EVICT_EVERY)
    }

    /// Under the write lock: `key`'s entry — there already (another thread added it
    /// meanwhile), made if the table has room, or, if this lookup is one that may
    /// `evict`, made in place of the least-counted idle key — else "other".
    fn place(&self, table: &mut Table, key: &TaskKey, evict: bool) -> Arc<Stats> {
        if let Some(stats) = table.keys.get(key) {
            return stats.clone();
        }
        if table.keys.len() >= self.max_keys {
            if !evict {
                return table.other.clone();
            }
            let least = table
                .keys
                .iter()
                .filter(|(_, stats)| stats.idle())
                .min_by_key(|(_, stats)| stats.total())
                .map(|(key, _)| key.clone());
            let Some(evicted) = least.and_then(|least| table.keys.remove(&least)) else {
                return table.other.clone();
            };
            table.other.absorb(&evicted);
            let stats = Arc::new(Stats::recycling(evicted));
            table.keys.insert(key.clone(), stats.clone());
            return stats;
        }
        table.keys.entry(key.clone()).or_default().clone()
    }

    /// The tracked keys, most tasks first, then "other" if it counted anything.
    pub(crate) fn snapshot(&self) -> Vec<KeySnapshot> {
        let table = read(&self.table);
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
