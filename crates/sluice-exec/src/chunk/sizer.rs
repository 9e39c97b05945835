//! Adaptive sizing of work units over a stream of items.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Chooses how many items the next work unit takes, from how long items have taken.
///
/// It starts with one item, measures, and then sizes each unit to about `target` of
/// work, never more than a quarter of what is left per thread (when the total is
/// known), so the last units are small and every thread finishes near the same time.
/// It is shared by the threads pulling from one stream; estimates are atomics.
///
/// # Examples
///
/// ```
/// use sluice_exec::BlockSizer;
/// use std::time::Duration;
///
/// let sizer = BlockSizer::new(Duration::from_micros(100), 2);
/// assert_eq!(sizer.next(None), 1, "first a single item, to measure");
/// sizer.record(1, Duration::from_nanos(20));
/// let size = sizer.next(None);
/// assert!(size > 1_000, "20 ns items come in large units, got {size}");
/// assert!(sizer.next(Some(100)) <= 100 / 8 + 1, "the tail is split among threads");
/// ```
#[derive(Debug)]
pub struct BlockSizer {
    /// The time one unit should take, in nanoseconds.
    target_nanos: usize,
    /// Threads sharing the stream.
    threads: usize,
    /// Estimated nanoseconds per item, times 16 for precision; 0 until measured.
    per_item_x16: AtomicUsize,
}

/// The most items one unit takes, whatever the estimate: bounds the memory of a unit.
const MAX_UNIT: usize = 1 << 16;

impl BlockSizer {
    /// A sizer aiming at units of `target` for `threads` threads.
    pub fn new(target: Duration, threads: usize) -> Self {
        BlockSizer {
            target_nanos: usize::try_from(target.as_nanos())
                .unwrap_or(usize::MAX)
                .max(1),
            threads: threads.max(1),
            per_item_x16: AtomicUsize::new(0),
        }
    }

    /// How many items the next unit should take; `remaining` is how many are left, when
    /// known.
    pub fn next(&self, remaining: Option<usize>) -> usize {
        let per_item_x16 = self.per_item_x16.load(Ordering::Relaxed);
        let by_time = match per_item_x16 {
            0 => 1,
            x => (self.target_nanos.saturating_mul(16) / x).clamp(1, MAX_UNIT),
        };
        match remaining {
            Some(left) => by_time.min(left / (self.threads * 4)).max(1),
            None => by_time,
        }
    }

    /// Records that `items` items took `elapsed`.
    pub fn record(&self, items: usize, elapsed: Duration) {
        if items == 0 {
            return;
        }
        let nanos = usize::try_from(elapsed.as_nanos()).unwrap_or(usize::MAX);
        let sample = (nanos.saturating_mul(16) / items).max(1);
        let old = self.per_item_x16.load(Ordering::Relaxed);
        // A moving average with weight 1/4 for the new sample: item costs drift, and a
        // racing update lost now and then only delays the estimate by one unit.
        let new = match old {
            0 => sample,
            old => old - old / 4 + sample / 4,
        };
        self.per_item_x16.store(new.max(1), Ordering::Relaxed);
    }
}
