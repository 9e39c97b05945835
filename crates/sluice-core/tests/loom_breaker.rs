//! Loom models of [`sluice_core::CircuitBreaker`].
//!
//! Each model runs two or three threads through one breaker, on a manual clock, under
//! loom's exhaustive scheduler, and checks the invariants the breaker documents:
//!
//! - half-open probes of one period never exceed the limit, and the final state is the
//!   target of the last transition reported, each transition reported once;
//! - a failed probe racing a successful one always reopens, never closes;
//! - a probe dropped while another thread acquires gives its slot back;
//! - a probe of an ended generation, dropped, frees no slot of the next one;
//! - a late result from an old generation racing a new trip neither resets the new
//!   failure streak (the trip still happens) nor adds to it (no trip of its own);
//! - recovery time passing while two threads acquire moves to half-open exactly once.
//!
//! Run with `RUSTFLAGS="--cfg sluice_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release`.

#![cfg(sluice_loom)]

use loom::sync::Arc;
use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::SeqCst;
use loom::thread;
use sluice_core::{
    BreakerConfig, BreakerState, Call, CircuitBreaker, Clock, ManualClock, Transition,
};
use std::time::Duration;

/// The recovery time of every model.
const RECOVERY: Duration = Duration::from_secs(30);
/// An elapsed time that is never slow.
const FAST: Duration = Duration::from_millis(1);

/// The manual clock as the breaker reads it, shared with the test: loom's `Arc` does
/// not coerce to `Arc<dyn Clock>`, so the breaker gets its own `Arc` of this.
struct SharedClock(Arc<ManualClock>);

impl Clock for SharedClock {
    fn now(&self) -> Duration {
        self.0.now()
    }
}

/// A breaker that trips after `failures` in a row, with `probes` half-open probes, on
/// a manual clock at zero.
fn breaker(failures: u32, probes: u32) -> (CircuitBreaker, Arc<ManualClock>) {
    let config = BreakerConfig::builder()
        .consecutive_failures(failures)
        .recovery(RECOVERY)
        .half_open_probes(probes)
        .build()
        .expect("a valid config");
    let clock = Arc::new(ManualClock::new());
    let shared: std::sync::Arc<dyn Clock> = std::sync::Arc::new(SharedClock(clock.clone()));
    (CircuitBreaker::new(config, Arc::from_std(shared)), clock)
}

fn admit(breaker: &CircuitBreaker) -> Call {
    breaker.try_acquire().expect("admitted")
}

/// A one-failure breaker, tripped at zero and with the clock at the end of its recovery
/// time; also the transitions that took.
fn recovered(probes: u32) -> (CircuitBreaker, Arc<ManualClock>, Vec<Transition>) {
    let (breaker, clock) = breaker(1, probes);
    let tripped = admit(&breaker).failure(FAST).expect("one failure trips it");
    clock.set(RECOVERY);
    (breaker, clock, vec![tripped])
}

/// Checks that `reported` (every transition handed out) forms one chain from closed
/// to the breaker's state now, and that the breaker counted exactly those.
fn assert_one_chain(breaker: &CircuitBreaker, mut reported: Vec<Transition>) {
    let snap = breaker.snapshot();
    assert_eq!(
        reported.len() as u64,
        snap.transitions,
        "each reported once"
    );
    reported.sort_by_key(|t| (t.generation, t.to == BreakerState::HalfOpen));
    let mut state = BreakerState::Closed;
    for t in &reported {
        assert_eq!(t.from, state, "a broken chain: {reported:?}");
        state = t.to;
    }
    assert_eq!(reported.last().map_or(0, |t| t.generation), snap.generation);
    match (state, snap.state) {
        // Open past its recovery time reads as half-open until an acquire moves it.
        (BreakerState::Open { until }, BreakerState::HalfOpen) => assert!(until <= RECOVERY),
        (last, now) => assert_eq!(last, now, "{reported:?}"),
    }
    assert_eq!(snap.outstanding(), 0);
    assert_eq!(snap.probes_in_flight, 0);
}

/// `probes + 1` threads (the model's own among them) acquire in half-open with a limit
/// of `probes`, hold their probe while counting themselves in, and record a success.
/// Whatever the order, the probes that get in close it.
fn probes_stay_bounded(probes: u32) {
    loom::model(move || {
        let (breaker, _clock, mut reported) = recovered(probes);
        let active = Arc::new(AtomicUsize::new(0));
        let work = {
            let breaker = breaker.clone();
            let active = active.clone();
            move || {
                let mut mine = Vec::new();
                let Ok(call) = breaker.try_acquire() else {
                    return mine;
                };
                mine.extend(call.transition());
                // Every probe here is of generation 1: a success closes it, and no
                // probe is admitted after that.
                let probe = call.is_probe();
                if probe {
                    let now = active.fetch_add(1, SeqCst) + 1;
                    assert!(now <= probes as usize, "{now} probes, limit {probes}");
                }
                mine.extend(call.success(FAST));
                if probe {
                    active.fetch_sub(1, SeqCst);
                }
                mine
            }
        };
        let others: Vec<_> = (0..probes).map(|_| thread::spawn(work.clone())).collect();
        reported.extend(work());
        for other in others {
            reported.extend(other.join().expect("other thread panicked"));
        }
        assert_one_chain(&breaker, reported);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.snapshot().generation, 2);
    });
}

#[test]
fn half_open_admits_at_most_one_probe() {
    probes_stay_bounded(1);
}

#[test]
fn half_open_admits_at_most_two_probes() {
    probes_stay_bounded(2);
}

#[test]
fn failed_probe_racing_successful_probe_reopens() {
    loom::model(|| {
        let (breaker, _clock, mut reported) = recovered(2);
        let failing = admit(&breaker);
        let succeeding = admit(&breaker);
        reported.extend(failing.transition());
        let failer = thread::spawn(move || failing.failure(FAST));
        let closed = succeeding.success(FAST);
        assert_eq!(closed, None, "one success of two closes nothing");
        let reopened = failer.join().expect("failer panicked");
        let reopened = reopened.expect("a failed probe always reopens");
        assert_eq!(reopened.from, BreakerState::HalfOpen);
        assert_eq!(reopened.generation, 2);
        reported.push(reopened);
        assert_one_chain(&breaker, reported);
        assert!(matches!(breaker.state(), BreakerState::Open { .. }));
    });
}

#[test]
fn dropped_probe_racing_acquire_gives_its_slot_back() {
    loom::model(|| {
        let (breaker, _clock, mut reported) = recovered(1);
        let probe = admit(&breaker);
        reported.extend(probe.transition());
        let dropper = thread::spawn(move || drop(probe));
        let raced = breaker.try_acquire();
        dropper.join().expect("dropper panicked");
        // Rejected only if it came before the drop; either way one probe closes it.
        let probe = match raced {
            Ok(call) => call,
            Err(rejected) => {
                assert!(rejected.is_half_open());
                breaker
                    .try_acquire()
                    .expect("the dropped probe's slot came back")
            }
        };
        assert!(probe.is_probe());
        reported.extend(probe.success(FAST));
        assert_one_chain(&breaker, reported);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.snapshot().abandoned, 1);
    });
}

#[test]
fn stale_probe_dropped_frees_no_new_slot() {
    loom::model(|| {
        let (breaker, clock, mut reported) = recovered(2);
        let failing = admit(&breaker);
        let stale = admit(&breaker);
        reported.extend(failing.transition());
        let reopened = failing.failure(FAST).expect("reopens");
        reported.push(reopened);
        clock.set(RECOVERY * 2);
        let dropper = thread::spawn(move || drop(stale));
        let first = admit(&breaker);
        let second = admit(&breaker);
        assert!(
            breaker.try_acquire().is_err(),
            "two probes of generation 2 out"
        );
        dropper.join().expect("dropper panicked");
        assert!(
            breaker.try_acquire().is_err(),
            "the stale drop freed nothing"
        );
        reported.extend(first.transition());
        reported.extend(first.success(FAST));
        reported.extend(second.success(FAST));
        assert_one_chain(&breaker, reported);
        assert_eq!(breaker.state(), BreakerState::Closed);
    });
}

/// A breaker tripping after two failures in a row, moved to generation 2 (closed
/// again) while a call of generation 0 is still out; also the transitions so far.
fn closed_again_with_a_call_out() -> (CircuitBreaker, Call, Vec<Transition>) {
    let (breaker, clock) = breaker(2, 1);
    let old = admit(&breaker);
    let mut reported = Vec::new();
    reported.extend(admit(&breaker).failure(FAST));
    reported.extend(admit(&breaker).failure(FAST));
    clock.set(RECOVERY);
    let probe = admit(&breaker);
    reported.extend(probe.transition());
    reported.extend(probe.success(FAST));
    assert_eq!(reported.len(), 3, "tripped, half-open, closed");
    (breaker, old, reported)
}

#[test]
fn late_success_racing_new_trip_does_not_reset_the_streak() {
    loom::model(|| {
        let (breaker, old, mut reported) = closed_again_with_a_call_out();
        let first = admit(&breaker);
        let second = admit(&breaker);
        let late = thread::spawn(move || old.success(FAST));
        assert_eq!(first.failure(FAST), None);
        let tripped = second.failure(FAST).expect("two failures in a row trip it");
        assert_eq!(late.join().expect("late thread panicked"), None);
        assert_eq!(tripped.generation, 3);
        reported.push(tripped);
        assert_one_chain(&breaker, reported);
        assert_eq!(breaker.snapshot().stale_results, 1);
    });
}

#[test]
fn late_failure_racing_new_failure_does_not_trip() {
    loom::model(|| {
        let (breaker, old, reported) = closed_again_with_a_call_out();
        let fresh = admit(&breaker);
        let late = thread::spawn(move || old.failure(FAST));
        assert_eq!(fresh.failure(FAST), None, "one failure of generation 2");
        assert_eq!(late.join().expect("late thread panicked"), None);
        assert_one_chain(&breaker, reported);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.snapshot().consecutive_failures, 1);
    });
}

#[test]
fn recovery_passing_while_two_threads_acquire() {
    loom::model(|| {
        let (breaker, clock) = breaker(1, 1);
        let tripped = admit(&breaker).failure(FAST).expect("trips");
        let ticker = thread::spawn(move || clock.set(RECOVERY));
        let acquirer = {
            let breaker = breaker.clone();
            thread::spawn(move || breaker.try_acquire().ok().map(|call| call.transition()))
        };
        let mine = breaker.try_acquire().ok().map(|call| call.transition());
        ticker.join().expect("ticker panicked");
        let theirs = acquirer.join().expect("acquirer panicked");
        // A probe dropped at once gives its slot back, so both may get in; only the
        // first admission makes (and reports) the move to half-open.
        let admitted: Vec<_> = [mine, theirs].into_iter().flatten().collect();
        let moves: Vec<_> = admitted.iter().flatten().copied().collect();
        assert_eq!(moves.len(), usize::from(!admitted.is_empty()), "{moves:?}");
        let mut reported = vec![tripped];
        reported.extend(moves);
        assert_one_chain(&breaker, reported);
    });
}
