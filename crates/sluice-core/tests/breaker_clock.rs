//! Which results read a [`CircuitBreaker`]'s clock: only those that may open it, so a
//! success through a breaker that trips on failures in a row costs no clock call, and
//! a breaker opened by any result (a failure, a slow success, a success that brings a
//! failure rate to its minimum of calls) still times its open period from the clock.

#![cfg(not(sluice_loom))]

use sluice_core::{BreakerConfig, BreakerState, CircuitBreaker, Clock, ManualClock};
use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The recovery time of every breaker here.
const RECOVERY: Duration = Duration::from_secs(30);
/// When the clock stands while results are recorded.
const NOW: Duration = Duration::from_secs(100);

/// A manual clock that counts its readings.
struct Counting {
    clock: ManualClock,
    reads: AtomicU32,
}

impl Clock for Counting {
    fn now(&self) -> Duration {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.clock.now()
    }
}

impl Counting {
    /// A clock standing at [`NOW`], none of its readings counted yet.
    fn at_now() -> Arc<Self> {
        let clock = ManualClock::new();
        clock.set(NOW);
        Arc::new(Counting {
            clock,
            reads: AtomicU32::new(0),
        })
    }

    /// Readings since the last call.
    fn reads(&self) -> u32 {
        self.reads.swap(0, Ordering::Relaxed)
    }
}

fn open_until(until: Duration) -> BreakerState {
    BreakerState::Open { until }
}

#[test]
fn a_success_that_cannot_open_the_breaker_reads_no_clock() -> Result<(), Box<dyn Error>> {
    let config = BreakerConfig::builder()
        .consecutive_failures(2)
        .recovery(RECOVERY)
        .build()?;
    let clock = Counting::at_now();
    let breaker = CircuitBreaker::new(config, clock.clone());
    let call = breaker.try_acquire()?;
    clock.reads();
    assert_eq!(call.success(Duration::from_millis(1)), None);
    assert_eq!(clock.reads(), 0, "a success read the clock");

    // A failure may open it: it reads the clock, and the open period runs from it.
    breaker.try_acquire()?.failure(Duration::from_millis(1));
    assert_eq!(clock.reads(), 1);
    let transition = breaker.try_acquire()?.failure(Duration::from_millis(1));
    assert_eq!(transition.map(|t| t.to), Some(open_until(NOW + RECOVERY)));
    Ok(())
}

#[test]
fn a_success_that_brings_a_failure_rate_to_its_minimum_opens_from_the_clock()
-> Result<(), Box<dyn Error>> {
    // Half of four calls failed: the fourth, a success, trips it.
    let config = BreakerConfig::builder()
        .failure_rate(0.5, 4, 4)
        .recovery(RECOVERY)
        .build()?;
    let clock = Counting::at_now();
    let breaker = CircuitBreaker::new(config, clock.clone());
    breaker.try_acquire()?.failure(Duration::from_millis(1));
    breaker.try_acquire()?.failure(Duration::from_millis(1));
    assert_eq!(
        breaker.try_acquire()?.success(Duration::from_millis(1)),
        None
    );
    let transition = breaker.try_acquire()?.success(Duration::from_millis(1));
    assert_eq!(
        transition.map(|t| t.to),
        Some(open_until(NOW + RECOVERY)),
        "the open period must run from the clock, not from zero"
    );
    Ok(())
}

#[test]
fn a_slow_success_opens_from_the_clock() -> Result<(), Box<dyn Error>> {
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .slow_call(Duration::from_secs(1))
        .recovery(RECOVERY)
        .build()?;
    let clock = Counting::at_now();
    let breaker = CircuitBreaker::new(config, clock.clone());
    let call = breaker.try_acquire()?;
    assert!(call.is_timed());
    let transition = call.success(Duration::from_secs(2));
    assert_eq!(transition.map(|t| t.to), Some(open_until(NOW + RECOVERY)));
    Ok(())
}
