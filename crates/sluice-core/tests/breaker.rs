//! Tests of [`sluice_core::CircuitBreaker`] with real threads and a manual clock: every
//! transition, tripping on failures in a row and on a failure rate over a sliding
//! window, slow calls, the half-open probe limit, probes given back on drop, late
//! results from ended generations, configuration errors, and a stress run whose
//! reported transitions must form one unbroken chain.
//!
//! Time moves only when a test moves it: nothing here sleeps. Anything that could hang
//! runs under a watchdog that fails the test instead.

#![cfg(not(sluice_loom))]

mod common;

use common::*;

use sluice_core::{
    BreakerConfig, BreakerConfigBuilder, BreakerConfigError, BreakerState, CircuitBreaker, Clock,
    FailureRate, ManualClock, MonotonicClock, Rejected, Transition,
};
use std::collections::HashMap;
use std::error::Error;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

/// How long a stress test may take before it counts as hung.
const STRESS_HANG: Duration = Duration::from_secs(120);
/// The recovery time of most tests.
const RECOVERY: Duration = Duration::from_secs(30);
/// An elapsed time well below any slow-call limit used here.
const FAST: Duration = Duration::from_millis(1);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

/// A breaker built from `builder` (with [`RECOVERY`]) on a manual clock at zero.
fn breaker(builder: BreakerConfigBuilder) -> (CircuitBreaker, Arc<ManualClock>) {
    let config = builder.recovery(RECOVERY).build().expect("a valid config");
    let clock = Arc::new(ManualClock::new());
    (CircuitBreaker::new(config, clock.clone()), clock)
}

/// Trips after `n` failures in a row, with `probes` half-open probes.
fn consecutive(n: u32, probes: u32) -> (CircuitBreaker, Arc<ManualClock>) {
    breaker(
        BreakerConfig::builder()
            .consecutive_failures(n)
            .half_open_probes(probes),
    )
}

fn fail(breaker: &CircuitBreaker) -> Option<Transition> {
    breaker.try_acquire().expect("admitted").failure(FAST)
}

fn succeed(breaker: &CircuitBreaker) -> Option<Transition> {
    breaker.try_acquire().expect("admitted").success(FAST)
}

/// Trips a one-failure breaker now and moves the clock to its recovery time.
fn trip_and_recover(breaker: &CircuitBreaker, clock: &ManualClock) {
    let tripped = fail(breaker).expect("one failure trips it");
    let BreakerState::Open { until } = tripped.to else {
        panic!("tripped into {:?}", tripped.to);
    };
    clock.set(until);
}

fn open_until(until: Duration) -> BreakerState {
    BreakerState::Open { until }
}

#[test]
fn closed_admits_every_call_and_counts_it() {
    let (breaker, _clock) = consecutive(3, 1);
    for _ in 0..10 {
        assert_eq!(succeed(&breaker), None);
    }
    let snap = breaker.snapshot();
    assert_eq!(snap.state, BreakerState::Closed);
    assert_eq!((snap.calls, snap.successes, snap.failures), (10, 10, 0));
    assert_eq!(
        (snap.generation, snap.transitions, snap.outstanding()),
        (0, 0, 0)
    );
}

#[test]
fn consecutive_failures_trip_closed_to_open() {
    let (breaker, clock) = consecutive(3, 1);
    clock.set(secs(100));
    assert_eq!(fail(&breaker), None);
    assert_eq!(fail(&breaker), None);
    assert_eq!(breaker.snapshot().consecutive_failures, 2);
    let tripped = fail(&breaker).expect("the third failure trips it");
    let until = secs(100) + RECOVERY;
    let expected = Transition {
        from: BreakerState::Closed,
        to: open_until(until),
        generation: 1,
    };
    assert_eq!(tripped, expected);
    assert_eq!(breaker.state(), open_until(until));
    let snap = breaker.snapshot();
    assert_eq!((snap.generation, snap.transitions), (1, 1));
    assert_eq!(
        snap.consecutive_failures, 0,
        "the open period starts afresh"
    );
}

#[test]
fn a_success_resets_the_failure_streak() {
    let (breaker, _clock) = consecutive(2, 1);
    for _ in 0..5 {
        assert_eq!(fail(&breaker), None);
        assert_eq!(succeed(&breaker), None);
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert!(fail(&breaker).is_none());
    assert!(fail(&breaker).is_some(), "two in a row trip it");
}

#[test]
fn open_rejects_with_the_time_left() {
    let (breaker, clock) = consecutive(1, 1);
    assert!(fail(&breaker).is_some());
    let rejected = breaker.try_acquire().expect_err("open");
    assert_eq!(rejected.retry_after(), RECOVERY);
    assert!(!rejected.is_half_open());
    assert_eq!(rejected.to_string(), "circuit breaker is open");
    clock.advance(secs(29));
    let rejected = breaker.try_acquire().expect_err("still open");
    assert_eq!(rejected.retry_after(), secs(1));
    assert_eq!(breaker.state(), open_until(RECOVERY));
    assert_eq!(breaker.snapshot().rejections, 2);
    assert_eq!(breaker.snapshot().calls, 1, "rejections are not calls");
}

#[test]
fn open_moves_to_half_open_once_recovery_has_passed() {
    let (breaker, clock) = consecutive(1, 2);
    assert!(fail(&breaker).is_some());
    clock.set(RECOVERY);
    assert_eq!(
        breaker.state(),
        BreakerState::HalfOpen,
        "reads half-open at once"
    );
    assert_eq!(
        breaker.snapshot().transitions,
        1,
        "the move waits for an acquire"
    );
    let first = breaker.try_acquire().expect("a probe");
    let expected = Transition {
        from: open_until(RECOVERY),
        to: BreakerState::HalfOpen,
        generation: 1,
    };
    assert_eq!(first.transition(), Some(expected));
    assert!(first.is_probe());
    assert_eq!(first.generation(), 1);
    let second = breaker.try_acquire().expect("a second probe");
    assert_eq!(second.transition(), None, "reported once");
    assert_eq!(breaker.snapshot().transitions, 2);
    assert_eq!(breaker.snapshot().probes_in_flight, 2);
    drop((first, second));
}

#[test]
fn probe_successes_close_it_in_a_new_generation() {
    let (breaker, clock) = consecutive(1, 2);
    trip_and_recover(&breaker, &clock);
    let first = breaker.try_acquire().expect("probe");
    let second = breaker.try_acquire().expect("probe");
    assert_eq!(first.success(FAST), None, "one success of two");
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    let closed = second.success(FAST).expect("the second success closes it");
    let expected = Transition {
        from: BreakerState::HalfOpen,
        to: BreakerState::Closed,
        generation: 2,
    };
    assert_eq!(closed, expected);
    let call = breaker.try_acquire().expect("closed");
    assert!(!call.is_probe());
    assert_eq!(call.generation(), 2);
    drop(call);
}

#[test]
fn a_failed_probe_reopens_it_and_restarts_recovery() {
    let (breaker, clock) = consecutive(1, 2);
    trip_and_recover(&breaker, &clock);
    let failing = breaker.try_acquire().expect("probe");
    let other = breaker.try_acquire().expect("probe");
    clock.advance(secs(5));
    let reopened = failing.failure(FAST).expect("one failed probe reopens it");
    let until = RECOVERY + secs(5) + RECOVERY;
    let expected = Transition {
        from: BreakerState::HalfOpen,
        to: open_until(until),
        generation: 2,
    };
    assert_eq!(reopened, expected);
    assert_eq!(
        other.success(FAST),
        None,
        "the other probe's generation ended"
    );
    assert_eq!(breaker.state(), open_until(until));
    let rejected = breaker.try_acquire().expect_err("open again");
    assert_eq!(rejected.retry_after(), RECOVERY);
}

#[test]
fn half_open_admits_at_most_the_probe_limit() {
    let (breaker, clock) = consecutive(1, 3);
    trip_and_recover(&breaker, &clock);
    let probes: Vec<_> = (0..3)
        .map(|_| breaker.try_acquire().expect("a probe"))
        .collect();
    let rejected = breaker
        .try_acquire()
        .expect_err("the fourth is one too many");
    assert!(rejected.is_half_open());
    assert_eq!(rejected.retry_after(), Duration::ZERO);
    assert_eq!(
        rejected.to_string(),
        "circuit breaker is half-open and its probes are all out"
    );
    assert_eq!(breaker.snapshot().probes_in_flight, 3);
    assert_eq!(breaker.snapshot().rejections, 1);
    drop(probes);
}

#[test]
fn half_open_admits_no_more_probes_than_successes_still_needed() {
    let (breaker, clock) = consecutive(1, 2);
    trip_and_recover(&breaker, &clock);
    let first = breaker.try_acquire().expect("probe");
    let second = breaker.try_acquire().expect("probe");
    assert_eq!(first.success(FAST), None);
    assert!(
        breaker.try_acquire().is_err(),
        "one success is in and one probe is out: that is all it needs"
    );
    assert!(second.success(FAST).is_some());
}

#[test]
fn a_dropped_probe_gives_its_slot_back() {
    let (breaker, clock) = consecutive(1, 1);
    trip_and_recover(&breaker, &clock);
    let probe = breaker.try_acquire().expect("probe");
    assert!(breaker.try_acquire().is_err(), "the only slot is out");
    drop(probe); // cancelled or timed out
    let snap = breaker.snapshot();
    assert_eq!((snap.abandoned, snap.probes_in_flight), (1, 0));
    assert_eq!(
        snap.state,
        BreakerState::HalfOpen,
        "a drop records no result"
    );
    let again = breaker.try_acquire().expect("the slot came back");
    assert!(again.is_probe());
    assert_eq!(again.transition(), None, "already half-open");
    assert!(again.success(FAST).is_some());
}

#[test]
fn a_dropped_closed_call_records_nothing() {
    let (breaker, _clock) = breaker(
        BreakerConfig::builder()
            .consecutive_failures(2)
            .failure_rate(0.5, 4, 2),
    );
    assert!(fail(&breaker).is_none());
    drop(breaker.try_acquire().expect("closed"));
    let snap = breaker.snapshot();
    assert_eq!((snap.consecutive_failures, snap.window_calls), (1, 1));
    assert_eq!((snap.calls, snap.abandoned, snap.outstanding()), (2, 1, 0));
    assert_eq!(snap.state, BreakerState::Closed);
}

fn rate(threshold: f64, window: usize, min_calls: usize) -> (CircuitBreaker, Arc<ManualClock>) {
    breaker(BreakerConfig::builder().failure_rate(threshold, window, min_calls))
}

#[test]
fn the_rate_counts_only_once_the_window_holds_min_calls() {
    let (breaker, _clock) = rate(0.5, 10, 4);
    for _ in 0..3 {
        assert_eq!(fail(&breaker), None, "100% of fewer than 4 calls");
    }
    let tripped = succeed(&breaker).expect("3 of 4 failed: 75% >= 50%");
    assert_eq!(tripped.from, BreakerState::Closed);
    assert_eq!(tripped.to, open_until(RECOVERY));
}

#[test]
fn the_rate_trips_at_exactly_the_threshold() {
    let (breaker, _clock) = rate(0.3, 10, 10);
    for _ in 0..7 {
        assert_eq!(succeed(&breaker), None);
    }
    assert_eq!(fail(&breaker), None);
    assert_eq!(fail(&breaker), None);
    assert!(fail(&breaker).is_some(), "3 of 10 is 0.3");
}

#[test]
fn the_rate_stays_below_the_threshold() {
    let (breaker, _clock) = rate(0.5, 10, 10);
    for _ in 0..100 {
        for _ in 0..4 {
            assert_eq!(fail(&breaker), None);
        }
        for _ in 0..6 {
            assert_eq!(succeed(&breaker), None);
        }
    }
    assert_eq!(breaker.snapshot().failures, 400);
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn successes_slide_out_of_the_window() {
    let (breaker, _clock) = rate(0.5, 4, 4);
    for _ in 0..4 {
        assert_eq!(succeed(&breaker), None);
    }
    assert_eq!(fail(&breaker), None, "1 of the last 4");
    let tripped = fail(&breaker).expect("2 of the last 4, though only 2 of 6 in all");
    assert_eq!(tripped.to, open_until(RECOVERY));
}

#[test]
fn failures_slide_out_of_the_window() {
    let (breaker, _clock) = rate(0.75, 4, 4);
    let gauges = |b: &CircuitBreaker| {
        let snap = b.snapshot();
        (snap.window_calls, snap.window_failures)
    };
    assert_eq!(fail(&breaker), None);
    assert_eq!(fail(&breaker), None);
    assert_eq!(succeed(&breaker), None);
    assert_eq!(succeed(&breaker), None);
    assert_eq!(gauges(&breaker), (4, 2));
    assert_eq!(succeed(&breaker), None);
    assert_eq!(gauges(&breaker), (4, 1), "the oldest failure left");
    assert_eq!(succeed(&breaker), None);
    assert_eq!(gauges(&breaker), (4, 0));
    assert_eq!(fail(&breaker), None);
    assert_eq!(fail(&breaker), None);
    assert!(fail(&breaker).is_some(), "3 of the last 4");
}

#[test]
fn either_condition_trips_it() {
    let builder = || {
        BreakerConfig::builder()
            .consecutive_failures(3)
            .failure_rate(0.5, 10, 6)
    };
    let (by_streak, _clock) = breaker(builder());
    assert_eq!(fail(&by_streak), None);
    assert_eq!(fail(&by_streak), None);
    assert!(fail(&by_streak).is_some(), "3 in a row, before 6 calls");

    let (by_rate, _clock) = breaker(builder());
    for _ in 0..2 {
        assert_eq!(fail(&by_rate), None);
        assert_eq!(succeed(&by_rate), None);
    }
    assert_eq!(fail(&by_rate), None, "3 of 5: fewer than 6 calls");
    assert!(succeed(&by_rate).is_some(), "3 of 6, never 2 in a row");
}

#[test]
fn a_closed_period_starts_with_an_empty_window() {
    let (breaker, clock) = breaker(
        BreakerConfig::builder()
            .failure_rate(0.6, 4, 2)
            .half_open_probes(1),
    );
    assert_eq!(fail(&breaker), None);
    let tripped = fail(&breaker).expect("2 of 2");
    let BreakerState::Open { until } = tripped.to else {
        panic!("tripped into {:?}", tripped.to);
    };
    clock.set(until);
    assert!(succeed(&breaker).is_some(), "the probe closes it");
    assert_eq!(breaker.snapshot().window_calls, 0);
    assert_eq!(succeed(&breaker), None);
    // With the old failures still in, this would be 3 of 4.
    assert_eq!(fail(&breaker), None, "1 of 2: the old failures are gone");
}

fn slow(limit: Duration) -> BreakerConfigBuilder {
    BreakerConfig::builder().slow_call(limit)
}

#[test]
fn slow_successes_count_as_failures() {
    let (breaker, _clock) = breaker(slow(ms(100)).consecutive_failures(2));
    let call = breaker.try_acquire().expect("closed");
    assert_eq!(
        call.success(ms(100)),
        None,
        "exactly the limit is not slower"
    );
    assert_eq!(breaker.snapshot().consecutive_failures, 0);
    assert_eq!(
        breaker.try_acquire().expect("closed").success(ms(101)),
        None
    );
    let tripped = breaker.try_acquire().expect("closed").success(secs(3));
    assert!(tripped.is_some(), "two slow calls in a row");
    let snap = breaker.snapshot();
    assert_eq!((snap.successes, snap.failures, snap.slow_calls), (1, 2, 2));
}

#[test]
fn slow_failures_are_failures_once() {
    let (breaker, _clock) = breaker(slow(ms(100)).consecutive_failures(3));
    assert_eq!(
        breaker.try_acquire().expect("closed").failure(secs(1)),
        None
    );
    let snap = breaker.snapshot();
    assert_eq!((snap.failures, snap.slow_calls), (1, 1));
    assert_eq!(snap.consecutive_failures, 1);
}

#[test]
fn slow_calls_fill_the_rate_window() {
    let (breaker, _clock) = breaker(slow(ms(100)).failure_rate(0.5, 4, 4));
    for _ in 0..2 {
        assert_eq!(breaker.try_acquire().expect("closed").success(FAST), None);
    }
    assert_eq!(
        breaker.try_acquire().expect("closed").success(ms(500)),
        None
    );
    let tripped = breaker.try_acquire().expect("closed").success(ms(500));
    assert!(tripped.is_some(), "2 slow of 4");
}

#[test]
fn a_slow_probe_reopens_it() {
    let (breaker, clock) = breaker(slow(ms(100)).consecutive_failures(1));
    trip_and_recover(&breaker, &clock);
    let probe = breaker.try_acquire().expect("probe");
    let reopened = probe.success(ms(200)).expect("slow counts as failed");
    assert_eq!(reopened.from, BreakerState::HalfOpen);
    assert_eq!(reopened.to, open_until(RECOVERY + RECOVERY));
}

#[test]
fn a_late_failure_never_trips_a_later_generation() {
    let (breaker, clock) = consecutive(1, 1);
    let old = breaker.try_acquire().expect("closed, generation 0");
    trip_and_recover(&breaker, &clock);
    assert!(succeed(&breaker).is_some(), "the probe closes it");
    assert_eq!(breaker.snapshot().generation, 2);
    assert_eq!(old.failure(FAST), None, "generation 0 ended long ago");
    let snap = breaker.snapshot();
    assert_eq!(snap.state, BreakerState::Closed);
    assert_eq!((snap.stale_results, snap.consecutive_failures), (1, 0));
    assert_eq!(snap.failures, 2, "counted, though ignored");
    assert!(fail(&breaker).is_some(), "a current failure still trips it");
}

#[test]
fn a_late_success_never_closes_a_half_open_breaker() {
    let (breaker, clock) = consecutive(1, 1);
    let old = breaker.try_acquire().expect("closed, generation 0");
    trip_and_recover(&breaker, &clock);
    let probe = breaker.try_acquire().expect("probe");
    assert_eq!(old.success(FAST), None);
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    assert_eq!(breaker.snapshot().probes_in_flight, 1);
    assert!(probe.success(FAST).is_some());
}

#[test]
fn a_late_success_never_resets_the_current_streak() {
    let (breaker, clock) = consecutive(1, 1);
    let old = breaker.try_acquire().expect("closed, generation 0");
    trip_and_recover(&breaker, &clock);
    let probe = breaker.try_acquire().expect("probe");
    assert!(probe.success(FAST).is_some());
    drop(old);
    let (breaker, clock) = consecutive(2, 1);
    let old = breaker.try_acquire().expect("closed, generation 0");
    assert_eq!(fail(&breaker), None);
    assert!(fail(&breaker).is_some());
    clock.set(RECOVERY);
    assert!(succeed(&breaker).is_some());
    assert_eq!(fail(&breaker), None, "1 of 2 in generation 2");
    assert_eq!(old.success(FAST), None);
    assert_eq!(breaker.snapshot().consecutive_failures, 1, "not reset");
    assert!(fail(&breaker).is_some());
}

#[test]
fn a_probe_of_a_reopened_generation_neither_closes_nor_frees_a_slot() {
    let (breaker, clock) = consecutive(1, 2);
    trip_and_recover(&breaker, &clock);
    let failing = breaker.try_acquire().expect("probe");
    let late = breaker.try_acquire().expect("probe");
    let dropped = breaker.try_acquire();
    assert!(dropped.is_err(), "two probes out");
    let reopened = failing.failure(FAST).expect("reopens");
    let BreakerState::Open { until } = reopened.to else {
        panic!("reopened into {:?}", reopened.to);
    };
    clock.set(until);
    let fresh = breaker.try_acquire().expect("a probe of generation 2");
    let stale_drop = breaker.try_acquire().expect("the second slot");
    assert_eq!(stale_drop.generation(), 2);
    assert_eq!(late.generation(), 1);
    assert_eq!(late.success(FAST), None, "ended generation");
    assert_eq!(breaker.snapshot().probes_in_flight, 2, "no slot freed");
    assert!(breaker.try_acquire().is_err());
    assert_eq!(fresh.success(FAST), None);
    assert!(
        stale_drop.success(FAST).is_some(),
        "two current successes close it"
    );
}

#[test]
fn dropping_a_probe_of_an_ended_generation_frees_nothing() {
    let (breaker, clock) = consecutive(1, 2);
    trip_and_recover(&breaker, &clock);
    let failing = breaker.try_acquire().expect("probe");
    let old = breaker.try_acquire().expect("probe");
    let reopened = failing.failure(FAST).expect("reopens");
    let BreakerState::Open { until } = reopened.to else {
        panic!("reopened into {:?}", reopened.to);
    };
    clock.set(until);
    let held: Vec<_> = (0..2)
        .map(|_| breaker.try_acquire().expect("a new probe"))
        .collect();
    drop(old);
    assert_eq!(breaker.snapshot().probes_in_flight, 2);
    assert!(
        breaker.try_acquire().is_err(),
        "the old drop freed no new slot"
    );
    drop(held);
    assert_eq!(breaker.snapshot().probes_in_flight, 0);
    assert_eq!(breaker.snapshot().abandoned, 3);
}

#[test]
fn a_clock_going_backwards_keeps_it_open() {
    let (breaker, clock) = consecutive(1, 1);
    clock.set(secs(50));
    assert!(fail(&breaker).is_some());
    clock.set(secs(10));
    let rejected = breaker.try_acquire().expect_err("open");
    assert_eq!(rejected.retry_after(), secs(70));
    clock.set(secs(80));
    assert!(breaker.try_acquire().is_ok_and(|probe| probe.is_probe()));
}

#[test]
fn displays_are_lowercase_and_name_the_states() {
    let transition = Transition {
        from: BreakerState::Closed,
        to: open_until(secs(30)),
        generation: 1,
    };
    assert_eq!(
        transition.to_string(),
        "circuit breaker closed -> open until 30s (generation 1)"
    );
    assert_eq!(BreakerState::HalfOpen.to_string(), "half-open");
}

/// Builds `builder` and answers its error.
fn refused(builder: BreakerConfigBuilder) -> BreakerConfigError {
    builder.build().expect_err("the config is invalid")
}

/// The setting an error names.
fn setting(error: &BreakerConfigError) -> &'static str {
    match error {
        BreakerConfigError::Invalid { setting, .. } => setting,
        other => panic!("not a setting error: {other:?}"),
    }
}

#[test]
fn config_errors_name_the_setting_the_value_and_the_range() {
    let trips = || BreakerConfig::builder().consecutive_failures(3);
    let cases = [
        (
            BreakerConfig::builder().consecutive_failures(0),
            "consecutive_failures = 0: must be at least 1",
        ),
        (
            trips().failure_rate(1.5, 20, 10),
            "failure_rate = 1.5: must be between 0 and 1",
        ),
        (
            trips().failure_rate(-0.1, 20, 10),
            "failure_rate = -0.1: must be between 0 and 1",
        ),
        (
            trips().failure_rate(f64::NAN, 20, 10),
            "failure_rate = NaN: must be between 0 and 1",
        ),
        (
            trips().failure_rate(0.0, 20, 10),
            "failure_rate = 0: must be above 0 (a rate of 0 would trip on every call)",
        ),
        (
            trips().failure_rate(0.5, 0, 0),
            "failure_rate.window = 0: must be between 1 and 65536",
        ),
        (
            trips().failure_rate(0.5, 1_000_000, 10),
            "failure_rate.window = 1000000: must be between 1 and 65536",
        ),
        (
            trips().failure_rate(0.5, 20, 0),
            "failure_rate.min_calls = 0: must be between 1 and the window (20)",
        ),
        (
            trips().failure_rate(0.5, 20, 21),
            "failure_rate.min_calls = 21: must be between 1 and the window (20)",
        ),
        (
            trips().slow_call(Duration::ZERO),
            "slow_call = 0ns: must be above 0",
        ),
        (
            trips().recovery(Duration::ZERO),
            "recovery = 0ns: must be above 0",
        ),
        (
            trips().half_open_probes(0),
            "half_open_probes = 0: must be at least 1",
        ),
    ];
    for (builder, message) in cases {
        let error = refused(builder);
        assert_eq!(error.to_string(), message);
        assert!(message.starts_with(setting(&error)), "{error:?}");
        assert!(error.source().is_none());
    }
}

#[test]
fn a_config_needs_a_trip_condition() {
    let error = refused(
        BreakerConfig::builder()
            .slow_call(ms(100))
            .recovery(secs(5))
            .half_open_probes(2),
    );
    assert_eq!(error, BreakerConfigError::NoTripCondition);
    assert_eq!(
        error.to_string(),
        "no trip condition: set consecutive_failures or failure_rate (or both)"
    );
    let boxed: Box<dyn Error + Send + Sync> = Box::new(error);
    assert!(boxed.to_string().starts_with("no trip condition"));
}

#[test]
fn a_bad_setting_is_reported_before_a_missing_trip_condition() {
    let error = refused(BreakerConfig::builder().half_open_probes(0));
    assert_eq!(setting(&error), "half_open_probes");
}

#[test]
fn config_defaults_accessors_and_last_setting_wins() {
    let config = BreakerConfig::builder()
        .consecutive_failures(0)
        .consecutive_failures(5)
        .build()
        .expect("the second count replaces the first");
    assert_eq!(config.consecutive_failures(), Some(5));
    assert_eq!(config.failure_rate(), None);
    assert_eq!(config.slow_call(), None);
    assert_eq!(config.recovery(), secs(30));
    assert_eq!(config.half_open_probes(), 1);

    let config = BreakerConfig::builder()
        .failure_rate(1.0, BreakerConfig::MAX_WINDOW, 1)
        .slow_call(ms(250))
        .recovery(secs(5))
        .half_open_probes(4)
        .build()
        .expect("all at the edge of their ranges");
    let expected = FailureRate {
        threshold: 1.0,
        window: 65_536,
        min_calls: 1,
    };
    assert_eq!(config.failure_rate(), Some(expected));
    assert_eq!(config.consecutive_failures(), None);
    assert_eq!(config.slow_call(), Some(ms(250)));
    let clock = Arc::new(MonotonicClock::new());
    let breaker = CircuitBreaker::new(config.clone(), clock);
    assert_eq!(breaker.config(), &config);
}

#[test]
fn manual_clock_sets_advances_and_saturates() {
    let clock = ManualClock::new();
    assert_eq!(clock.now(), Duration::ZERO);
    clock.advance(ms(1500));
    assert_eq!(clock.now(), ms(1500));
    clock.set(secs(1));
    assert_eq!(clock.now(), secs(1), "set may move it back");
    clock.advance(Duration::MAX);
    assert_eq!(clock.now(), Duration::from_nanos(u64::MAX));
    let start = ManualClock::starting_at(secs(7));
    assert_eq!(start.now(), secs(7));
    assert_eq!(format!("{start:?}"), "ManualClock { now: 7s }");
}

#[test]
fn monotonic_clock_never_goes_back() {
    let clock = MonotonicClock::default();
    let mut last = clock.now();
    for _ in 0..1000 {
        let now = clock.now();
        assert!(now >= last);
        last = now;
    }
}

#[test]
fn a_huge_recovery_saturates() {
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .recovery(Duration::MAX)
        .build()
        .expect("valid");
    let clock = Arc::new(ManualClock::starting_at(secs(1)));
    let breaker = CircuitBreaker::new(config, clock);
    let tripped = fail(&breaker).expect("trips");
    assert_eq!(tripped.to, open_until(Duration::MAX));
}

#[test]
fn the_types_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<CircuitBreaker>();
    send_sync::<sluice_core::Call>();
    send_sync::<Rejected>();
    send_sync::<BreakerConfigError>();
    send_sync::<ManualClock>();
}

/// Checks that `reported` (every transition any thread was handed) forms one chain
/// from closed to `last` (the state read at `now`), with one opening or closing per
/// generation.
fn assert_one_chain(mut reported: Vec<Transition>, last: BreakerState, now: Duration) {
    // Within a generation the opening or closing comes before the move to half-open.
    reported.sort_by_key(|t| (t.generation, t.to == BreakerState::HalfOpen));
    let mut state = BreakerState::Closed;
    for (i, t) in reported.iter().enumerate() {
        assert_eq!(
            t.from, state,
            "transition {i} does not follow: {reported:?}"
        );
        state = t.to;
    }
    let entries = reported
        .iter()
        .filter(|t| t.to != BreakerState::HalfOpen)
        .count();
    let generations = reported.last().map_or(0, |t| t.generation);
    assert_eq!(entries as u64, generations, "one opening or closing each");
    match (state, last) {
        (BreakerState::Open { until }, BreakerState::HalfOpen) => {
            assert!(until <= now, "reads half-open only once past {until:?}");
        }
        _ => assert_eq!(state, last),
    }
}

#[test]
fn stress_probes_stay_bounded_and_transitions_chain() {
    const THREADS: u64 = 8;
    const ROUNDS: u64 = 5_000;
    const PROBES: u32 = 2;
    bounded(STRESS_HANG, || {
        let config = BreakerConfig::builder()
            .consecutive_failures(3)
            .failure_rate(0.5, 8, 4)
            .slow_call(ms(100))
            .recovery(ms(5))
            .half_open_probes(PROBES)
            .build()
            .expect("valid");
        let clock = Arc::new(ManualClock::new());
        let breaker = CircuitBreaker::new(config, clock.clone());
        let probes = Arc::new(Mutex::new(HashMap::<u64, u32>::new()));
        let reported = Arc::new(Mutex::new(Vec::new()));
        let start = Arc::new(Barrier::new(THREADS as usize));
        let workers: Vec<_> = (0..THREADS)
            .map(|seed| {
                let (breaker, clock) = (breaker.clone(), clock.clone());
                let (probes, reported, start) = (probes.clone(), reported.clone(), start.clone());
                thread::spawn(move || {
                    let mut rng = Rng::new(seed + 1);
                    let mut mine = Vec::new();
                    start.wait();
                    for _ in 0..ROUNDS {
                        clock.advance(Duration::from_micros(rng.below(300)));
                        let Ok(call) = breaker.try_acquire() else {
                            continue;
                        };
                        mine.extend(call.transition());
                        // Probe slots belong to one half-open period: a probe of an
                        // ended generation may still be running, and holds none.
                        let probe = call.is_probe().then_some(call.generation());
                        if let Some(generation) = probe {
                            let mut probes = probes.lock().expect("poisoned");
                            let now = probes.entry(generation).or_insert(0);
                            *now += 1;
                            assert!(*now <= PROBES, "{now} probes at once");
                        }
                        let elapsed = ms(rng.below(120));
                        // Uncounted before the breaker frees the slot: counted after, a
                        // probe admitted into the freed slot would be seen as one too many.
                        if let Some(generation) = probe {
                            let mut probes = probes.lock().expect("poisoned");
                            *probes.get_mut(&generation).expect("counted") -= 1;
                        }
                        let ended = match rng.below(10) {
                            0 => {
                                drop(call);
                                None
                            }
                            1..=3 => call.failure(elapsed),
                            _ => call.success(elapsed),
                        };
                        mine.extend(ended);
                    }
                    reported.lock().expect("poisoned").extend(mine);
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("worker panicked");
        }
        let snap = breaker.snapshot();
        let reported = std::mem::take(&mut *reported.lock().expect("poisoned"));
        assert_eq!(
            reported.len() as u64,
            snap.transitions,
            "each reported once"
        );
        assert!(snap.transitions > 10, "the run should move a lot: {snap:?}");
        assert_eq!(snap.outstanding(), 0);
        assert_eq!(snap.probes_in_flight, 0);
        assert_eq!(snap.calls + snap.rejections, THREADS * ROUNDS);
        assert_one_chain(reported, snap.state, clock.now());
    });
}
