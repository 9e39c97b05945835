//! Per-item outcomes of streamed maps: a map counts as one task, and its items get
//! counts of their own — per route in the snapshot, per map in its task record.

use crate::TaskError;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// How the items of streamed maps ended.
///
/// # Examples
///
/// ```
/// use sluice::{ConcurrencyManager, RouteKind, StreamOptions};
///
/// let mgr = ConcurrencyManager::builder().build()?;
/// let parsed = mgr
///     .stream(StreamOptions::new())
///     .try_cpu(["1", "two", "3"], |s: &str| s.parse::<u32>());
/// assert_eq!(parsed.into_iter().count(), 3);
/// let items = mgr.snapshot().route(&RouteKind::Cpu).map(|r| r.items).unwrap_or_default();
/// assert_eq!((items.ok, items.failed), (2, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ItemCounts {
    /// Items that answered a value.
    pub ok: u64,
    /// Items whose function answered its own error.
    pub failed: u64,
    /// Items whose function panicked.
    pub panicked: u64,
    /// Items answered at their time limit.
    pub timed_out: u64,
    /// Items refused by their breaker.
    pub rejected: u64,
    /// Items answered otherwise (cancelled, refused for an unknown policy name).
    pub other: u64,
    /// Attempts made again by a streamed map's retry policy
    /// ([`StreamBuilder::retry`](crate::StreamBuilder::retry)): not an outcome (a
    /// retried item still answers once, counted above), so not in [`total`](Self::total).
    pub retried: u64,
}

impl ItemCounts {
    /// Every item counted.
    pub fn total(&self) -> u64 {
        self.ok + self.failed + self.panicked + self.timed_out + self.rejected + self.other
    }
}

/// The counts, shared by the threads that answer items.
#[derive(Debug, Default)]
pub(crate) struct ItemCounters {
    /// One per outcome field of [`ItemCounts`], in its order.
    counts: [AtomicU64; 6],
    /// Retries, apart: only retried maps touch it.
    retried: AtomicU64,
}

/// Which count an item's answer goes to.
fn slot<T, E>(result: &Result<T, TaskError<E>>) -> usize {
    match result {
        Ok(_) => 0,
        Err(TaskError::Failed(_)) => 1,
        Err(TaskError::Panicked(_)) => 2,
        Err(TaskError::TimedOut) => 3,
        Err(TaskError::Rejected { .. }) => 4,
        Err(_) => 5,
    }
}

/// Counts kept by one thread for a unit of items, added to the shared ones at once:
/// two threads counting every item of a fast map would fight over the counters' line.
#[derive(Debug, Default)]
pub(crate) struct Tally([u64; 6]);

impl Tally {
    /// Counts one item's answer.
    pub(crate) fn note<T, E>(&mut self, result: &Result<T, TaskError<E>>) {
        self.0[slot(result)] += 1;
    }
}

impl ItemCounters {
    /// Counts one item's answer.
    pub(crate) fn record<T, E>(&self, result: &Result<T, TaskError<E>>) {
        self.counts[slot(result)].fetch_add(1, Ordering::Relaxed);
    }

    /// Adds a unit's tally.
    pub(crate) fn add(&self, tally: &Tally) {
        for (count, &more) in self.counts.iter().zip(&tally.0) {
            if more > 0 {
                count.fetch_add(more, Ordering::Relaxed);
            }
        }
    }

    /// Counts one retry of an item.
    pub(crate) fn retried(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub(crate) fn snapshot(&self) -> ItemCounts {
        let [ok, failed, panicked, timed_out, rejected, other] = self
            .counts
            .each_ref()
            .map(|count| count.load(Ordering::Relaxed));
        ItemCounts {
            ok,
            failed,
            panicked,
            timed_out,
            rejected,
            other,
            retried: self.retried.load(Ordering::Relaxed),
        }
    }
}
