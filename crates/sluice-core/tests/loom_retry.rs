//! Loom models of [`sluice_core::RetryBudget`].
//!
//! Each model runs two or three threads through one budget, on a manual clock, under
//! loom's exhaustive scheduler, and checks the invariants the budget documents:
//!
//! - two threads racing for the last allowed retry (from calls or from the minimum):
//!   exactly one gets it;
//! - two deposits racing lose neither: each thread's withdraw after its own deposit is
//!   granted;
//! - deposits and withdraws racing each other lose no count: the calls all arrive, the
//!   retries counted are exactly those granted, and what is left of the allowance is
//!   exactly the allowance less them;
//! - the clock moving a whole window on while a thread withdraws: the old calls and
//!   retries are forgotten, and a fresh deposit allows a retry again;
//! - a deposit whose clock reading is from before a rollover that another thread has
//!   already made never resets the new slice (it counts in it instead).
//!
//! Run with `RUSTFLAGS="--cfg sluice_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release`.

#![cfg(sluice_loom)]

use loom::sync::Arc;
use loom::thread;
use sluice_core::{BudgetConfig, BudgetSnapshot, Clock, ManualClock, RetryBudget};
use std::time::Duration;

/// The window of every model (ten slices of a second).
const WINDOW: Duration = Duration::from_secs(10);

/// The manual clock as the budget reads it, shared with the test: loom's `Arc` does
/// not coerce to `Arc<dyn Clock>`, so the budget gets its own `Arc` of this.
struct SharedClock(Arc<ManualClock>);

impl Clock for SharedClock {
    fn now(&self) -> Duration {
        self.0.now()
    }
}

/// A budget allowing `min + ratio * calls` retries per [`WINDOW`], on a manual clock at
/// zero, after `calls` deposits.
fn budget(ratio: f64, min: u32, calls: u32) -> (Arc<RetryBudget>, Arc<ManualClock>) {
    let config = BudgetConfig::new()
        .window(WINDOW)
        .ratio(ratio)
        .min_per_window(min);
    let clock = Arc::new(ManualClock::new());
    let shared: std::sync::Arc<dyn Clock> = std::sync::Arc::new(SharedClock(clock.clone()));
    let budget = RetryBudget::with_clock(config, Arc::from_std(shared)).expect("a valid config");
    (0..calls).for_each(|_| budget.deposit());
    (Arc::new(budget), clock)
}

/// How many more retries the budget grants now, taking them all.
fn drain(budget: &RetryBudget) -> u64 {
    (0..100).take_while(|_| budget.withdraw()).count() as u64
}

#[test]
fn the_last_retry_goes_to_exactly_one_thread() {
    loom::model(|| {
        let (budget, _clock) = budget(1.0, 0, 2);
        assert!(budget.withdraw(), "one of two taken beforehand");
        let other = {
            let budget = budget.clone();
            thread::spawn(move || budget.withdraw())
        };
        let mine = budget.withdraw();
        let theirs = other.join().expect("other thread panicked");
        assert!(mine ^ theirs, "exactly one gets it: {mine} {theirs}");
        let drained = BudgetSnapshot {
            calls: 2,
            retries: 2,
            allowed: 2,
        };
        assert_eq!(budget.snapshot(), drained);
    });
}

#[test]
fn the_minimum_goes_to_exactly_one_thread() {
    loom::model(|| {
        let (budget, _clock) = budget(0.0, 1, 0);
        let other = {
            let budget = budget.clone();
            thread::spawn(move || budget.withdraw())
        };
        let mine = budget.withdraw();
        let theirs = other.join().expect("other thread panicked");
        assert!(mine ^ theirs, "exactly one gets it: {mine} {theirs}");
        assert_eq!(budget.snapshot().retries, 1);
    });
}

#[test]
fn racing_deposits_lose_no_count() {
    loom::model(|| {
        let (budget, _clock) = budget(1.0, 0, 0);
        let other = {
            let budget = budget.clone();
            thread::spawn(move || {
                budget.deposit();
                budget.withdraw()
            })
        };
        budget.deposit();
        let mine = budget.withdraw();
        let theirs = other.join().expect("other thread panicked");
        // Each withdraw follows its own deposit, so the later one sees both calls.
        assert!(
            mine && theirs,
            "a lost deposit refused a retry: {mine} {theirs}"
        );
        let both = BudgetSnapshot {
            calls: 2,
            retries: 2,
            allowed: 2,
        };
        assert_eq!(budget.snapshot(), both);
    });
}

#[test]
fn racing_deposits_and_withdraws_lose_no_count() {
    loom::model(|| {
        let (budget, _clock) = budget(1.0, 0, 1);
        let depositor = {
            let budget = budget.clone();
            thread::spawn(move || {
                budget.deposit();
                budget.deposit();
            })
        };
        let withdrawer = {
            let budget = budget.clone();
            thread::spawn(move || u64::from(budget.withdraw()))
        };
        let mine = budget.withdraw();
        let second = budget.withdraw();
        depositor.join().expect("depositor panicked");
        let theirs = withdrawer.join().expect("withdrawer panicked");
        let granted = u64::from(mine) + u64::from(second) + theirs;
        assert!(
            mine || theirs == 1,
            "the first withdraw always had a call behind it"
        );
        let snap = budget.snapshot();
        assert_eq!(snap.calls, 3, "no deposit lost");
        assert_eq!(snap.retries, granted, "every grant counted, no other");
        assert_eq!(snap.allowed, 3);
        assert_eq!(drain(&budget), 3 - granted, "the rest of the allowance");
    });
}

#[test]
fn a_window_passing_during_a_withdraw_forgets_old_calls() {
    loom::model(|| {
        let (budget, clock) = budget(1.0, 0, 2);
        assert!(budget.withdraw());
        let ticker = thread::spawn(move || clock.advance(WINDOW));
        // Granted if it read the clock before the window passed, refused after.
        let _either = budget.withdraw();
        ticker.join().expect("ticker panicked");
        let forgotten = BudgetSnapshot {
            calls: 0,
            retries: 0,
            allowed: 0,
        };
        assert_eq!(budget.snapshot(), forgotten);
        assert!(!budget.withdraw(), "old calls pay for nothing");
        budget.deposit();
        assert_eq!(drain(&budget), 1, "a new call pays for a retry");
    });
}

#[test]
fn a_late_reading_never_resets_the_new_slice() {
    loom::model(|| {
        let (budget, clock) = budget(1.0, 0, 1);
        let rollover = {
            let budget = budget.clone();
            thread::spawn(move || {
                clock.set(WINDOW);
                budget.deposit();
            })
        };
        // May read the clock at zero and take the lock after the rollover's deposit,
        // whose bucket it shares (slice 0 and slice 10 are both bucket 0).
        budget.deposit();
        rollover.join().expect("rollover panicked");
        let calls = budget.snapshot().calls;
        assert!(
            (1..=2).contains(&calls),
            "the new slice's deposit survives, the old one is gone: {calls}"
        );
    });
}
