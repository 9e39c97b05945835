//! One key's latency histogram, in a few shards by recording thread, so that the
//! workers that end the key's tasks do not write the same cache lines.
//!
//! A key's tasks end on every worker in turn, and each end records two latencies. In
//! one histogram the bucket counters and the sum were lines that moved from one
//! worker's core to the other's at nearly every task: measured, the largest cost a key
//! added to a tiny task after the key queue itself. The route's histograms have eight
//! shards; a key's have [`SHARDS`], each made when a thread of its index first records
//! (about 4 KiB), so a key that only one or two workers ever ran costs what it did.

use sluice_core::{Histogram, HistogramSnapshot};
use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Shards per key histogram: a power of two, small because a route may track many keys.
const SHARDS: usize = 4;

/// Threads that recorded a key latency so far, to give each the next shard.
static THREADS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard index, given when it first records.
    static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The shard the calling thread records in: the same one for each of its records.
fn shard() -> usize {
    SHARD.with(|shard| {
        shard.get().unwrap_or_else(|| {
            let index = THREADS.fetch_add(1, Ordering::Relaxed) % SHARDS;
            shard.set(Some(index));
            index
        })
    })
}

/// One key's latencies of one kind: values recorded by any thread, read as one.
#[derive(Default)]
#[repr(align(64))]
pub(super) struct Latencies {
    /// A histogram per shard, made on its first record.
    shards: [OnceLock<Histogram>; SHARDS],
}

impl Latencies {
    /// Records `value` in the calling thread's shard.
    pub(super) fn record(&self, value: Duration) {
        self.shards[shard()]
            .get_or_init(Histogram::single)
            .record_duration(value);
    }

    /// Every value recorded so far, if any shard has been made.
    pub(super) fn snapshot(&self) -> Option<HistogramSnapshot> {
        self.shards
            .iter()
            .filter_map(OnceLock::get)
            .map(Histogram::snapshot)
            .reduce(|all, one| all.merged(&one))
    }

    /// These shards emptied for reuse, their memory kept (a new key's counts, when it
    /// takes an evicted key's place).
    pub(super) fn emptied(self) -> Self {
        let shards = self.shards.map(|shard| {
            let Some(mut histogram) = shard.into_inner() else {
                return OnceLock::new();
            };
            histogram.clear();
            OnceLock::from(histogram)
        });
        Latencies { shards }
    }
}
