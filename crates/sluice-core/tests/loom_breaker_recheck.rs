//! Loom models of `Call::recheck`, the second question a call that waited asks its
//! breaker before it starts:
//!
//! - a stale call (admitted while closed, the breaker since tripped and recovered)
//!   rechecking while another thread acquires: at most one of them becomes the single
//!   half-open probe, and the move to half-open is reported once;
//! - a call rechecking while another call's failure trips the breaker: it either runs
//!   in the closed generation (recheck first) or is refused (trip first), never both.
//!
//! Run with `RUSTFLAGS="--cfg sluice_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release`.

#![cfg(sluice_loom)]

use loom::sync::Arc;
use loom::thread;
use sluice_core::{BreakerConfig, BreakerState, CircuitBreaker, Clock, ManualClock};
use std::time::Duration;

const RECOVERY: Duration = Duration::from_secs(30);
const FAST: Duration = Duration::from_millis(1);

/// The manual clock as the breaker reads it (loom's `Arc` does not coerce to
/// `Arc<dyn Clock>`).
struct SharedClock(Arc<ManualClock>);

impl Clock for SharedClock {
    fn now(&self) -> Duration {
        self.0.now()
    }
}

/// A breaker that trips on one failure and lets one probe through.
fn one_strike() -> (CircuitBreaker, Arc<ManualClock>) {
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .recovery(RECOVERY)
        .half_open_probes(1)
        .build()
        .expect("a valid config");
    let clock = Arc::new(ManualClock::new());
    let shared: std::sync::Arc<dyn Clock> = std::sync::Arc::new(SharedClock(clock.clone()));
    (CircuitBreaker::new(config, Arc::from_std(shared)), clock)
}

#[test]
fn a_stale_call_and_a_new_one_share_the_single_probe() {
    loom::model(|| {
        let (breaker, clock) = one_strike();
        let stale = breaker.try_acquire().expect("closed");
        breaker
            .try_acquire()
            .expect("closed")
            .failure(FAST)
            .expect("trips");
        clock.set(RECOVERY);
        let other = breaker.clone();
        let fresh = thread::spawn(move || other.try_acquire().ok());
        let rechecked = stale.recheck().ok();
        let fresh = fresh.join().expect("no panic");
        let probes: Vec<_> = rechecked.iter().chain(fresh.iter()).collect();
        assert_eq!(probes.len(), 1, "exactly one probe");
        assert!(probes[0].is_probe());
        let moves = probes.iter().filter(|c| c.transition().is_some()).count();
        assert_eq!(moves, 1, "the move to half-open is reported once");
        assert_eq!(breaker.snapshot().probes_in_flight, 1);
    });
}

#[test]
fn a_recheck_racing_a_trip_either_runs_closed_or_is_refused() {
    loom::model(|| {
        let (breaker, _clock) = one_strike();
        let waiting = breaker.try_acquire().expect("closed");
        let failing = breaker.try_acquire().expect("closed");
        let trip = thread::spawn(move || failing.failure(FAST));
        let rechecked = waiting.recheck();
        let tripped = trip
            .join()
            .expect("no panic")
            .expect("one failure trips it");
        match rechecked {
            Ok(call) => {
                assert_eq!(call.generation(), 0, "admitted before the trip");
                // Its result belongs to the ended closed period and changes nothing.
                assert_eq!(call.success(FAST), None);
                assert!(matches!(breaker.state(), BreakerState::Open { .. }));
            }
            Err(rejected) => assert_eq!(rejected.retry_after(), RECOVERY),
        }
        assert_eq!(tripped.generation, 1);
    });
}
