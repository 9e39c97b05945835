//! [`Histogram`]: latencies recorded from many threads at once without a lock, read as
//! percentiles.
//!
//! Buckets are log-linear, as in HdrHistogram with one significant binary digit more:
//! values below 8 have a bucket each; above, every power of two is split into 8 equal
//! buckets. A value is therefore known to within 12.5% (a reported percentile is the
//! top of its bucket, never below the true value, and never above the maximum seen),
//! and 496 buckets cover every `u64`. Recording is two relaxed atomic adds (and a
//! `fetch_max` only for a new maximum) on a shard of the histogram picked by the
//! recording thread, so that threads recording at once do not fight over cache lines
//! (measured on 2 cores: 7 ns a record from one thread; 83 ns from each of two threads
//! sharing one set of counters).
//!
//! Invariant, checked by `tests/loom_histogram.rs`: once the recorders are joined, a
//! snapshot counts every recorded value exactly once, in its bucket, with the true
//! maximum and sum. A snapshot taken while others record is a consistent histogram of
//! some of their values (its count is the sum of the buckets it read).
//!
//! # Examples
//!
//! ```
//! use sluice_core::Histogram;
//! use std::time::Duration;
//!
//! let waits = Histogram::new();
//! for micros in 1..=100u64 {
//!     waits.record_duration(Duration::from_micros(micros));
//! }
//! let snapshot = waits.snapshot();
//! assert_eq!(snapshot.count(), 100);
//! assert_eq!(snapshot.max(), 100_000); // nanoseconds
//! let p50 = snapshot.percentile(0.5);
//! assert!((50_000..=50_000 * 9 / 8).contains(&p50), "within one bucket: {p50}");
//! assert_eq!(snapshot.percentile(1.0), 100_000);
//! ```

use crate::loom::sync::atomic::{AtomicU64, Ordering};
use std::fmt;
use std::time::Duration;

/// Sub-buckets per power of two, as a power of two.
const SUB_BITS: u32 = 3;
/// Sub-buckets per power of two.
const SUB: u64 = 1 << SUB_BITS;
/// The highest power of two with buckets of its own; larger values share the last
/// bucket. Every `u64` normally; under loom a few, since each bucket a snapshot reads is
/// one more step for the model checker to interleave.
#[cfg(not(sluice_loom))]
const TOP_EXPONENT: u32 = 63;
#[cfg(sluice_loom)]
const TOP_EXPONENT: u32 = 10;
/// Buckets in all: one per value below `SUB`, then `SUB` per power of two.
const BUCKETS: usize = (SUB + (TOP_EXPONENT + 1 - SUB_BITS) as u64 * SUB) as usize;

/// Shards of a histogram: threads are spread over them round-robin. One under loom,
/// where every atomic is a step to interleave.
#[cfg(not(sluice_loom))]
const SHARDS: usize = 8;
#[cfg(sluice_loom)]
const SHARDS: usize = 1;

/// Latencies (or any `u64`) recorded concurrently; see the module docs.
pub struct Histogram {
    /// Each a full set of counters; a snapshot adds them up.
    shards: Box<[Shard]>,
}

/// One shard's counters, aligned so that two shards' sums never share a cache line.
#[repr(align(128))]
struct Shard {
    /// Values per bucket (an allocation of its own).
    buckets: Box<[AtomicU64]>,
    /// The sum of the values, wrapping (nanoseconds: 584 years before it does).
    sum: AtomicU64,
    /// The largest value.
    max: AtomicU64,
}

/// The shard of the calling thread.
#[cfg(not(sluice_loom))]
fn shard() -> usize {
    use crate::loom::sync::atomic::AtomicUsize;
    /// Hands out shard numbers to threads as they first record.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    std::thread_local! {
        /// This thread's shard.
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|shard| *shard)
}

#[cfg(sluice_loom)]
fn shard() -> usize {
    0
}

/// A [`Histogram`] at one moment.
#[derive(Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Values per bucket.
    buckets: Vec<u64>,
    /// Values in all: the sum of `buckets`.
    count: u64,
    /// Their sum.
    sum: u64,
    /// The largest.
    max: u64,
}

/// The bucket of `value`.
fn bucket(value: u64) -> usize {
    if value < SUB {
        return value as usize;
    }
    let exponent = 63 - value.leading_zeros();
    if exponent > TOP_EXPONENT {
        return BUCKETS - 1;
    }
    let sub = (value >> (exponent - SUB_BITS)) & (SUB - 1);
    (SUB + u64::from(exponent - SUB_BITS) * SUB + sub) as usize
}

/// The largest value of bucket `index`.
fn top(index: usize) -> u64 {
    if index == BUCKETS - 1 {
        return u64::MAX;
    }
    let index = index as u64;
    if index < SUB {
        return index;
    }
    let exponent = (index - SUB) / SUB + u64::from(SUB_BITS);
    let sub = (index - SUB) % SUB;
    let width = 1u64 << (exponent - u64::from(SUB_BITS));
    ((SUB + sub) * width).saturating_add(width - 1)
}

impl Histogram {
    /// An empty histogram of one shard (about 4 KiB instead of 32): for many small
    /// histograms recorded under a lock of their own, where shards buy nothing.
    pub fn single() -> Self {
        Self::with_shards(1)
    }

    /// An empty histogram.
    pub fn new() -> Self {
        Self::with_shards(SHARDS)
    }

    fn with_shards(shards: usize) -> Self {
        let shard = || Shard {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        };
        Histogram {
            shards: (0..shards).map(|_| shard()).collect(),
        }
    }

    /// Records one value.
    pub fn record(&self, value: u64) {
        // Shard counts are powers of two (8, or 1).
        let shard = &self.shards[shard() & (self.shards.len() - 1)];
        // Relaxed: each counter is exact on its own, and a snapshot promises no more
        // than "some of the values recorded so far".
        shard.buckets[bucket(value)].fetch_add(1, Ordering::Relaxed);
        shard.sum.fetch_add(value, Ordering::Relaxed);
        // A read first: a maximum is seldom new, and a read leaves the line shared.
        if value > shard.max.load(Ordering::Relaxed) {
            shard.max.fetch_max(value, Ordering::Relaxed);
        }
    }

    /// Records a duration, in nanoseconds (saturating at `u64::MAX`).
    pub fn record_duration(&self, duration: Duration) {
        self.record(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Empties the histogram for reuse, keeping its memory: cheaper than a new one,
    /// which allocates and zeroes its buckets (about 4 KiB a shard). Takes `&mut self`,
    /// so nobody records meanwhile.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_core::Histogram;
    ///
    /// let mut waits = Histogram::single();
    /// waits.record(250);
    /// waits.clear();
    /// assert_eq!(waits.snapshot().count(), 0);
    /// waits.record(10);
    /// assert_eq!(waits.snapshot().max(), 10);
    /// ```
    pub fn clear(&mut self) {
        for shard in self.shards.iter_mut() {
            for bucket in shard.buckets.iter_mut() {
                bucket.store(0, Ordering::Relaxed);
            }
            shard.sum.store(0, Ordering::Relaxed);
            shard.max.store(0, Ordering::Relaxed);
        }
    }

    /// The histogram now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut buckets = vec![0u64; BUCKETS];
        let (mut sum, mut max) = (0u64, 0u64);
        for shard in self.shards.iter() {
            for (total, bucket) in buckets.iter_mut().zip(shard.buckets.iter()) {
                *total += bucket.load(Ordering::Relaxed);
            }
            sum = sum.wrapping_add(shard.sum.load(Ordering::Relaxed));
            max = max.max(shard.max.load(Ordering::Relaxed));
        }
        HistogramSnapshot {
            count: buckets.iter().sum(),
            buckets,
            sum,
            max,
        }
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.snapshot().fmt(f)
    }
}

impl HistogramSnapshot {
    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest value recorded (0 if none).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The sum of the values recorded.
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// The mean value (0 if none).
    pub fn mean(&self) -> u64 {
        self.sum.checked_div(self.count).unwrap_or(0)
    }

    /// The value below which a share `q` (0 to 1) of the values lie: the top of the
    /// bucket holding that rank, at most the maximum. 0 if nothing was recorded.
    pub fn percentile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return top(index).min(self.max);
            }
        }
        self.max
    }

    /// What was recorded after `earlier` (a snapshot of the same histogram taken
    /// before this one): for rates and percentiles over an interval. The maximum is
    /// the interval's highest bucket's top, at most this snapshot's maximum.
    pub fn since(&self, earlier: &HistogramSnapshot) -> HistogramSnapshot {
        let buckets: Vec<u64> = self
            .buckets
            .iter()
            .zip(&earlier.buckets)
            .map(|(now, then)| now.saturating_sub(*then))
            .collect();
        let max = buckets
            .iter()
            .rposition(|&n| n > 0)
            .map_or(0, |index| top(index).min(self.max));
        HistogramSnapshot {
            count: buckets.iter().sum(),
            buckets,
            sum: self.sum.wrapping_sub(earlier.sum),
            max,
        }
    }

    /// This snapshot and `other` together, as if recorded into one histogram.
    pub fn merged(&self, other: &HistogramSnapshot) -> HistogramSnapshot {
        let buckets: Vec<u64> = self
            .buckets
            .iter()
            .zip(&other.buckets)
            .map(|(a, b)| a + b)
            .collect();
        HistogramSnapshot {
            count: buckets.iter().sum(),
            buckets,
            sum: self.sum.wrapping_add(other.sum),
            max: self.max.max(other.max),
        }
    }

    /// An empty snapshot, to merge into.
    pub fn empty() -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: vec![0; BUCKETS],
            count: 0,
            sum: 0,
            max: 0,
        }
    }

    /// Values recorded in the bucket holding `value`.
    pub fn count_at(&self, value: u64) -> u64 {
        self.buckets[bucket(value)]
    }
}

impl fmt::Debug for HistogramSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HistogramSnapshot")
            .field("count", &self.count)
            .field("p50", &self.percentile(0.5))
            .field("p99", &self.percentile(0.99))
            .field("max", &self.max)
            .finish()
    }
}

#[cfg(all(test, not(sluice_loom)))]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order_and_within_an_eighth() {
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
        assert_eq!(top(BUCKETS - 1), u64::MAX);
        let mut values: Vec<u64> = (0..64u32)
            .flat_map(|exponent| {
                let base = 1u64 << exponent;
                [0, 1, base / 3, base / 2, base - 1].map(|offset| base.saturating_add(offset))
            })
            .collect();
        values.sort_unstable();
        values.dedup();
        let mut previous = 0;
        for value in values {
            {
                let index = bucket(value);
                assert!(index >= previous, "buckets grow with values");
                previous = index;
                assert!(top(index) >= value, "{value} is within its bucket");
                if index > 0 {
                    assert!(top(index - 1) < value, "{value} is above the bucket before");
                }
                assert!(top(index) - value <= value / 8, "{value}: bucket too wide");
            }
        }
    }

    #[test]
    fn percentiles_of_a_known_spread() {
        let h = Histogram::new();
        for value in 1..=1000u64 {
            h.record(value);
        }
        let s = h.snapshot();
        assert_eq!(
            (s.count(), s.max(), s.sum(), s.mean()),
            (1000, 1000, 500_500, 500)
        );
        for (q, exact) in [(0.5, 500u64), (0.9, 900), (0.99, 990), (1.0, 1000)] {
            let p = s.percentile(q);
            assert!(
                p >= exact && p <= exact + exact / 8,
                "p{q}: {p} for {exact}"
            );
        }
        assert_eq!(s.percentile(0.0), 1);
        assert_eq!(Histogram::new().snapshot().percentile(0.99), 0);
    }

    #[test]
    fn intervals_and_merges() {
        let h = Histogram::new();
        h.record(10);
        h.record(5_000);
        let before = h.snapshot();
        h.record(200);
        h.record(300);
        let interval = h.snapshot().since(&before);
        assert_eq!((interval.count(), interval.sum()), (2, 500));
        assert!(
            (300..=300 * 9 / 8).contains(&interval.max()),
            "{}",
            interval.max()
        );
        let both = interval.merged(&before);
        assert_eq!((both.count(), both.sum(), both.max()), (4, 5_510, 5_000));
        assert_eq!(HistogramSnapshot::empty().merged(&before), before);
    }
}
