//! One key's (or "other"'s) counts, and what a snapshot shows of them.

use crate::snapshot::Latency;
use serde::Serialize;
use sluice_core::{Histogram, Outcome};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// One key's (or "other"'s) counts: atomics, so that the tasks of a key count their
/// falls without the table's lock. A rise is counted under the table's read lock and
/// a key is evicted under its write lock, only when nothing is pending or running, so
/// no task holds the counts of an evicted key.
///
/// The submitting thread writes only [`submitted`](Self::submitted), the workers only
/// the rest, on lines of their own: with a pending count that the caller raised and
/// the workers lowered, every task moved that line from one core to the other and
/// back. Pending is what was submitted and has not ended.
#[derive(Default)]
#[repr(C)]
pub(super) struct Stats {
    /// Tasks submitted (the caller's side).
    pub(super) submitted: AtomicU64,
    /// Everything the workers count.
    ran: Ran,
}

/// What the workers' threads count, away from the caller's line.
#[derive(Default)]
#[repr(align(128))]
pub(super) struct Ran {
    /// Tasks ended, per outcome, in the order of [`Outcome::ALL`]; their sum is what
    /// `submitted` is no longer pending.
    outcomes: [AtomicU64; 6],
    /// Bodies running (a retried task's attempts, a timed-out body still running).
    pub(super) running: AtomicU64,
    /// The most bodies seen running at once.
    high_water: AtomicU64,
    /// Failed attempts tried again.
    pub(super) retries: AtomicU64,
    /// Bodies that ended after their task timed out.
    pub(super) abandoned: AtomicU64,
    /// Time from submission to the body's start.
    queue_wait: OnceLock<Histogram>,
    /// Time the body ran.
    run_time: OnceLock<Histogram>,
}

impl std::ops::Deref for Stats {
    type Target = Ran;

    fn deref(&self) -> &Ran {
        &self.ran
    }
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
    /// Tasks ended. Acquire: an answer's outcome is counted last, so counts read
    /// after this see the rest of the answers it counts.
    pub(super) fn total(&self) -> u64 {
        self.outcomes
            .iter()
            .map(|n| n.load(Ordering::Acquire))
            .sum()
    }

    /// Tasks submitted and not yet answered: the ended ones read first, so that every
    /// answer counted was of a task whose submission is counted too.
    fn pending(&self) -> u64 {
        let ended = self.total();
        self.submitted.load(Ordering::Acquire).saturating_sub(ended)
    }

    /// Nothing pending or running: counts read after this see every fall (an
    /// eviction's absorb).
    pub(super) fn idle(&self) -> bool {
        self.pending() == 0 && self.running.load(Ordering::Acquire) == 0
    }

    /// A task's answer: its latencies, then its outcome, which ends its pending (last,
    /// Release: see [`idle`](Self::idle)).
    pub(super) fn answered(
        &self,
        outcome: Outcome,
        queue_wait: Option<Duration>,
        run_time: Option<Duration>,
    ) {
        let histogram = |h: &OnceLock<Histogram>, value: Option<Duration>| {
            if let Some(value) = value {
                h.get_or_init(Histogram::single).record_duration(value);
            }
        };
        histogram(&self.queue_wait, queue_wait);
        histogram(&self.run_time, run_time);
        // Every outcome has its slot; the last one stands for any other, so that an
        // answer always ends its task's pending.
        let slot = Outcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(Outcome::ALL.len() - 1);
        self.outcomes[slot].fetch_add(1, Ordering::Release);
    }

    /// A body began.
    pub(super) fn body_started(&self) {
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
    pub(super) fn recycling(evicted: Arc<Stats>) -> Stats {
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
            submitted: AtomicU64::new(0),
            ran: Ran {
                queue_wait: lock(emptied(evicted.ran.queue_wait)),
                run_time: lock(emptied(evicted.ran.run_time)),
                ..Ran::default()
            },
        }
    }

    /// Adds `other`'s counts (an idle evicted key's) into these.
    pub(super) fn absorb(&self, other: &Stats) {
        // Submitted as many as ended (it is idle): what these have pending stays so.
        self.submitted
            .fetch_add(other.submitted.load(Ordering::Relaxed), Ordering::Relaxed);
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

    pub(super) fn snapshot(&self, key: Option<String>) -> KeySnapshot {
        let latency =
            |h: &OnceLock<Histogram>| h.get().map(|h| h.snapshot().into()).unwrap_or_default();
        let [succeeded, failed, panicked, cancelled, timed_out, rejected] =
            self.outcomes.each_ref().map(|n| n.load(Ordering::Relaxed));
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let (pending, running) = (self.pending(), load(&self.running));
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
