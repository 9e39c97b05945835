//! Metrics per task key, bounded: each route tracks at most `max_keys` keys one by one,
//! and counts every other key's tasks under "other". A new key takes the place of the
//! least-counted *idle* tracked key (nothing pending or running; its counts move to
//! "other") — once the table is full, at one arrival of an untracked key in
//! [`EVICT_EVERY`], less often while the looks find every tracked key busy — so keys
//! that carry much of the traffic stay tracked while rare ones come and go, and the
//! totals always add up: the tracked keys plus "other" are every keyed task of the
//! route.
//!
//! Pending and running counts go up and down, so each task keeps the counts its rise
//! went to ([`Bucket`]) and its fall goes to the same place, with no lock; a key is
//! never evicted while it has anything pending or running, so no task holds the counts
//! of an evicted key. The counts themselves are in `stats.rs`.

mod stats;

pub use stats::KeySnapshot;

use crate::policy::keyed::{ByKeyHash, TaskKey};
use sluice_core::Outcome;
use stats::Stats;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
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
struct Table {
    /// By key.
    keys: HashMap<TaskKey, Arc<Stats>, ByKeyHash>,
    /// Every key not tracked.
    other: Arc<Stats>,
    /// The arrival of an untracked key (counted in `misses`) that looks for an idle
    /// key to replace next, once the table is full.
    next_scan: u64,
    /// Arrivals between two looks: [`EVICT_EVERY`], doubled after each look that
    /// found no idle key, up to [`EVICT_AT_MOST_EVERY`].
    scan_every: u64,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            keys: HashMap::default(),
            other: Arc::default(),
            next_scan: EVICT_EVERY,
            scan_every: EVICT_EVERY,
        }
    }
}

/// When the table is full, one arrival of an untracked key in this many looks for an
/// idle key to replace; the others count under "other" at once. A key that comes
/// often is soon the one that looks, so busy keys still get in, and a stream of
/// one-off keys costs a scan of the table only now and then (measured: tiny keyed
/// tasks over 10,000 keys went from 3.4x to about 1.8x the unkeyed ones).
const EVICT_EVERY: u64 = 32;

/// The longest wait between two looks for an idle key, in arrivals of untracked keys:
/// while every tracked key stays busy (a burst over more keys than are tracked), each
/// look reads every tracked key's counts, lines the workers write, and finds nothing.
/// Measured on tiny tasks over 10,000 keys, looking every 32 arrivals was a dozen
/// such lines per task.
const EVICT_AT_MOST_EVERY: u64 = 1024;

/// Where a task's rise of a pending or running count was counted: the counts its fall
/// goes to, held by the task, so that a fall (a body's end, an answer) takes no lock
/// and looks nothing up. Made once per rise and consumed by its fall, so no count
/// falls twice.
pub(crate) struct Bucket(Arc<Stats>);

impl Bucket {
    /// The task counted pending here was answered with `outcome`: no lock, no look-up.
    pub(crate) fn answered(
        self,
        outcome: Outcome,
        (queue_wait, run_time): (Option<Duration>, Option<Duration>),
    ) {
        self.0.answered(outcome, queue_wait, run_time);
    }

    /// The body of the task counted pending here began: counted running in the same
    /// place, which cannot be evicted while the task is pending, with no lock and no
    /// look-up (the table's read lock is one cache line every thread's tasks write).
    /// Returns where it was counted, for [`body_ended`](Self::body_ended).
    pub(crate) fn body_started(&self) -> Bucket {
        self.0.body_started();
        Bucket(self.0.clone())
    }

    /// The body counted running here ended.
    pub(crate) fn body_ended(self) {
        self.0.running.fetch_sub(1, Ordering::Release);
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
            stats.submitted.fetch_add(1, Ordering::Relaxed);
        })
    }

    /// A task of `key` refused at submission: submitted and answered at once.
    pub(crate) fn rejected(&self, key: &TaskKey) {
        self.submitted(key)
            .answered(Outcome::Rejected, (None, None));
    }

    /// A body of `key` began. Returns where it was counted, for
    /// [`Bucket::body_ended`].
    pub(crate) fn body_started(&self, key: &TaskKey) -> Bucket {
        self.rise(key, false, Stats::body_started)
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
            if full && !self.evicts(arrival, table.next_scan) {
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

    /// Whether this lookup of an untracked key, the table being full, is one that
    /// looks for a key to replace: the arrival numbered `next_scan` or a later one
    /// (only a task's arrival counts).
    fn evicts(&self, arrival: bool, next_scan: u64) -> bool {
        if !arrival || self.max_keys == 0 {
            return false;
        }
        let misses = self.misses.fetch_add(1, Ordering::Relaxed) + 1;
        misses >= next_scan
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
            let evicted = least.and_then(|least| table.keys.remove(&least));
            // Under the write lock: no other look decides meanwhile.
            table.scan_every = match evicted {
                Some(_) => EVICT_EVERY,
                None => (table.scan_every * 2).min(EVICT_AT_MOST_EVERY),
            };
            table.next_scan = self.misses.load(Ordering::Relaxed) + table.scan_every;
            let Some(evicted) = evicted else {
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
