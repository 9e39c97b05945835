//! The time a breaker reads, injected so that tests and loom models are exact.
//!
//! A breaker never sleeps or waits: it reads [`Clock::now`] when a call is admitted or
//! recorded and compares it with the end of its open period. [`MonotonicClock`] is the
//! real one; [`ManualClock`] moves only when a test sets or advances it.

use crate::loom::sync::atomic::{AtomicU64, Ordering};
use std::fmt;
use std::time::{Duration, Instant};

/// A source of monotonic time: how long since an origin fixed for the clock's life.
///
/// Readings should never go backwards. If one does, the breaker treats the earlier
/// time as a moment when its recovery time had not yet passed; it never panics.
pub trait Clock: Send + Sync {
    /// The time since this clock's origin.
    fn now(&self) -> Duration;
}

/// Real time, from [`Instant`], measured from when the clock was made.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    /// The instant `now()` counts from.
    origin: Instant,
}

impl MonotonicClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        MonotonicClock {
            origin: Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A clock that stands still until it is [`set`](ManualClock::set) or
/// [`advance`](ManualClock::advance)d; for tests. Readings are whole nanoseconds and
/// saturate at `u64::MAX` of them (about 584 years).
pub struct ManualClock {
    /// The current reading in nanoseconds.
    nanos: AtomicU64,
}

/// Nanoseconds in `time`, saturating.
fn nanos(time: Duration) -> u64 {
    u64::try_from(time.as_nanos()).unwrap_or(u64::MAX)
}

impl ManualClock {
    /// A clock that reads zero.
    pub fn new() -> Self {
        Self::starting_at(Duration::ZERO)
    }

    /// A clock that reads `time`.
    pub fn starting_at(time: Duration) -> Self {
        ManualClock {
            nanos: AtomicU64::new(nanos(time)),
        }
    }

    /// Makes the clock read `time` (which may be earlier than now, to test that).
    pub fn set(&self, time: Duration) {
        self.nanos.store(nanos(time), Ordering::Release);
    }

    /// Moves the clock forward by `by`, saturating.
    pub fn advance(&self, by: Duration) {
        let by = nanos(by);
        // The closure always answers `Some`, so this cannot fail.
        let _ = self
            .nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                Some(now.saturating_add(by))
            });
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Acquire))
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}
