//! A retry budget: retries may add only a share of recent calls, whatever fails.
//!
//! Every task of one name shares a [`RetryBudget`]. Each first attempt
//! [`deposit`](RetryBudget::deposit)s one call; each retry must
//! [`withdraw`](RetryBudget::withdraw) first, and is refused once the window's retries
//! reach `min_per_window + ratio * calls`. A dependency that fails every call then sees
//! at most `1 + ratio` times its normal load instead of a retry storm (as tower's
//! `TpsBudget` and Finagle's `RetryBudget` do).
//!
//! The window is a ring of [`BUCKETS`] time slices, each counting the calls and retries
//! of its slice and tagged with the slice's number; a slice older than the window is
//! reset when its bucket is reused. The window therefore covers the current slice and
//! the nine before it: between nine and ten tenths of its length.
//!
//! One mutex guards the ring: a deposit is one short uncontended lock per task, and a
//! withdraw must check and take the allowance in one step, or two threads racing for
//! the last retry could both get it. The clock is read before the lock is taken.

use super::config::{BudgetConfig, BudgetConfigError};
use crate::breaker::{Clock, MonotonicClock};
use crate::loom::lock;
use crate::loom::sync::{Arc, Mutex};
use std::fmt;

/// How many slices the window is cut into.
const BUCKETS: usize = 10;

/// The ratio counts in millionths, so that `0.29 * 100` allows 29 retries, not the 28
/// that floating point would round it down to.
const PPM: u128 = 1_000_000;

/// Limits retries to a share of recent calls, shared by every task of one name.
///
/// # Examples
///
/// ```
/// use sluice_core::{BudgetConfig, Clock, ManualClock, RetryBudget};
/// use std::{sync::Arc, time::Duration};
///
/// let config = BudgetConfig::new()
///     .window(Duration::from_secs(10))
///     .ratio(0.2)
///     .min_per_window(0);
/// let clock = Arc::new(ManualClock::new());
/// let budget = RetryBudget::with_clock(config, clock.clone())?;
///
/// for _ in 0..10 {
///     budget.deposit(); // ten first attempts
/// }
/// assert!(budget.withdraw() && budget.withdraw(), "20% of 10 calls");
/// assert!(!budget.withdraw(), "a third retry would exceed the budget");
///
/// clock.advance(Duration::from_secs(10));
/// assert_eq!(budget.snapshot().calls, 0, "the window has moved past them");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RetryBudget {
    /// The settings, validated.
    config: BudgetConfig,
    /// Where the time is read.
    time: Time,
    /// The length of one slice in nanoseconds (at least 100 µs).
    slice_nanos: u64,
    /// The ratio in millionths.
    ratio_ppm: u128,
    /// The counts of the window, under the one lock.
    ring: Mutex<Ring>,
}

/// A budget's counts over its current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetSnapshot {
    /// Calls (first attempts) deposited in the window.
    pub calls: u64,
    /// Retries withdrawn in the window.
    pub retries: u64,
    /// Retries the window allows now in total: `min_per_window + ratio * calls`.
    pub allowed: u64,
}

/// The budget's clock: real time is held by value because loom's `Arc` cannot be
/// coerced to `Arc<dyn Clock>`.
enum Time {
    /// [`RetryBudget::new`]'s own clock.
    Real(MonotonicClock),
    /// The caller's clock.
    Injected(Arc<dyn Clock>),
}

/// The bucket ring and the latest slice it has seen.
#[derive(Debug, Default)]
struct Ring {
    /// Bucket `slice % BUCKETS` counts slice `slice`.
    buckets: [Bucket; BUCKETS],
    /// The newest slice seen; a clock reading from before it counts as it, so that a
    /// late or backward reading never resets a bucket still in the window.
    latest: u64,
}

/// The counts of one slice.
#[derive(Debug, Default, Clone, Copy)]
struct Bucket {
    /// The slice counted; counts tagged with an older one are stale.
    slice: u64,
    /// Calls deposited in it.
    calls: u64,
    /// Retries withdrawn in it.
    retries: u64,
}

impl RetryBudget {
    /// A budget with `config`, on real time ([`MonotonicClock`]).
    pub fn new(config: BudgetConfig) -> Result<Self, BudgetConfigError> {
        Self::build(config, Time::Real(MonotonicClock::new()))
    }

    /// A budget with `config`, reading the time from `clock`.
    pub fn with_clock(
        config: BudgetConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, BudgetConfigError> {
        Self::build(config, Time::Injected(clock))
    }

    /// Validates `config` and makes an empty budget reading `time`.
    fn build(config: BudgetConfig, time: Time) -> Result<Self, BudgetConfigError> {
        config.validate()?;
        let window = config.window_len().as_nanos();
        // Validation keeps the window within an hour, so a slice fits in u64.
        let slice_nanos = u64::try_from(window / BUCKETS as u128).unwrap_or(u64::MAX);
        let ratio_ppm = (config.retry_ratio() * PPM as f64).round() as u128;
        Ok(RetryBudget {
            config,
            time,
            slice_nanos,
            ratio_ppm,
            ring: Mutex::new(Ring::default()),
        })
    }

    /// A call (a task's first attempt) was made: adds to the allowance.
    pub fn deposit(&self) {
        let slice = self.slice_now();
        let mut ring = lock(&self.ring);
        let current = ring.advance(slice);
        let bucket = &mut ring.buckets[current];
        bucket.calls = bucket.calls.saturating_add(1);
    }

    /// Asks to retry once: true (and the retry is counted) while the window's retries
    /// stay within `min_per_window + ratio * calls`; false otherwise. Checked and
    /// counted in one step, so racing threads never overdraw.
    pub fn withdraw(&self) -> bool {
        let slice = self.slice_now();
        let mut ring = lock(&self.ring);
        let current = ring.advance(slice);
        let (calls, retries) = ring.totals();
        if retries >= self.allowed(calls) {
            return false;
        }
        let bucket = &mut ring.buckets[current];
        bucket.retries = bucket.retries.saturating_add(1);
        true
    }

    /// The calls and retries inside the current window, and the retries it allows.
    pub fn snapshot(&self) -> BudgetSnapshot {
        let slice = self.slice_now();
        let mut ring = lock(&self.ring);
        ring.advance(slice);
        let (calls, retries) = ring.totals();
        BudgetSnapshot {
            calls,
            retries,
            allowed: self.allowed(calls),
        }
    }

    /// The settings it was made with.
    pub fn config(&self) -> &BudgetConfig {
        &self.config
    }

    /// The number of the slice the clock is in now.
    fn slice_now(&self) -> u64 {
        let now = match &self.time {
            Time::Real(clock) => clock.now(),
            Time::Injected(clock) => clock.now(),
        };
        // In u64: a u128 division is a call of its own, once per task of the name (a
        // u64 of nanoseconds lasts 584 years).
        u64::try_from(now.as_nanos()).unwrap_or(u64::MAX) / self.slice_nanos
    }

    /// Retries allowed in a window holding `calls`, saturating.
    fn allowed(&self, calls: u64) -> u64 {
        let share = u128::from(calls) * self.ratio_ppm / PPM;
        let total = share + u128::from(self.config.min_retries());
        u64::try_from(total).unwrap_or(u64::MAX)
    }
}

impl Ring {
    /// Moves to `slice` (never back) and returns the index of its bucket, reset if it
    /// held an older slice.
    fn advance(&mut self, slice: u64) -> usize {
        let slice = slice.max(self.latest);
        self.latest = slice;
        let index = (slice % BUCKETS as u64) as usize;
        let bucket = &mut self.buckets[index];
        if bucket.slice != slice {
            *bucket = Bucket {
                slice,
                calls: 0,
                retries: 0,
            };
        }
        index
    }

    /// (calls, retries) of the slices within the window that ends at `latest`.
    fn totals(&self) -> (u64, u64) {
        let live = self
            .buckets
            .iter()
            .filter(|bucket| self.latest - bucket.slice < BUCKETS as u64);
        live.fold((0, 0), |(calls, retries), bucket| {
            let calls = calls.saturating_add(bucket.calls);
            (calls, retries.saturating_add(bucket.retries))
        })
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("config", &self.config)
            .field("window", &self.snapshot())
            .finish_non_exhaustive()
    }
}
