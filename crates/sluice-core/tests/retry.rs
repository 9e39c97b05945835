//! Tests of [`sluice_core::Backoff`], [`sluice_core::Rng`] and
//! [`sluice_core::RetryBudget`]: delays replayed exactly from a seed, each jitter within
//! its bounds, ceilings that saturate instead of overflowing, a budget's allowance from
//! its ratio and its minimum, the window forgetting old calls, configuration errors, and
//! threads racing for the last retry.
//!
//! Time moves only when a test moves it: nothing here sleeps.

#![cfg(not(sluice_loom))]

mod common;

use common::bounded;
use sluice_core::{
    Backoff, BudgetConfig, BudgetConfigError, BudgetSnapshot, Jitter, ManualClock, RetryBudget, Rng,
};
use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

const WINDOW: Duration = Duration::from_secs(10);

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn first(backoff: Backoff, seed: u64, n: usize) -> Vec<Duration> {
    backoff.delays(seed).take(n).collect()
}

#[test]
fn a_seed_replays_the_same_delays() {
    let backoff = Backoff::exponential(ms(100));
    let delays = first(backoff, 99, 12);
    assert_eq!(delays, first(backoff, 99, 12));
    let mut rng = Rng::seeded(99);
    let by_hand: Vec<_> = (0..12).map(|n| backoff.delay(n, &mut rng)).collect();
    assert_eq!(delays, by_hand, "one rng across the sequence");
    assert_ne!(delays, first(backoff, 100, 12), "another seed differs");
}

#[test]
fn two_rngs_with_one_seed_agree_and_other_seeds_differ() {
    let (mut a, mut b) = (Rng::seeded(5), Rng::seeded(5));
    let mut c = Rng::seeded(6);
    let xs: Vec<_> = (0..64).map(|_| a.next_u64()).collect();
    let ys: Vec<_> = (0..64).map(|_| b.next_u64()).collect();
    let zs: Vec<_> = (0..64).map(|_| c.next_u64()).collect();
    assert_eq!(xs, ys);
    assert_ne!(xs, zs);
    // SplitMix64's published first output for seed 0.
    assert_eq!(Rng::seeded(0).next_u64(), 0xE220_A839_7B1D_CDAF);
}

#[test]
fn up_to_is_inclusive_and_covers_its_range() {
    let mut rng = Rng::seeded(1);
    assert_eq!(rng.up_to(0), 0);
    let seen: HashSet<_> = (0..1000).map(|_| rng.up_to(3)).collect();
    assert_eq!(seen, HashSet::from([0, 1, 2, 3]));
    let _ = rng.up_to(u64::MAX);
}

#[test]
fn from_entropy_differs_every_call() {
    let mut mine: Vec<_> = (0..100).map(|_| Rng::from_entropy().next_u64()).collect();
    let theirs = thread::spawn(|| Rng::from_entropy().next_u64());
    mine.push(theirs.join().expect("the thread ran"));
    let distinct: HashSet<_> = mine.iter().collect();
    assert_eq!(distinct.len(), mine.len());
}

#[test]
fn no_jitter_doubles_up_to_the_cap() {
    let backoff = Backoff::exponential(ms(100))
        .max_delay(secs(1))
        .jitter(Jitter::None);
    let expected = [100, 200, 400, 800, 1000, 1000].map(ms);
    assert_eq!(first(backoff, 0, 6), expected);
    assert_eq!(backoff.jitter_kind(), Jitter::None);
}

#[test]
fn defaults_cap_at_thirty_seconds_or_the_base() {
    let backoff = Backoff::exponential(ms(100));
    assert_eq!(backoff.jitter_kind(), Jitter::Full);
    assert_eq!((backoff.base(), backoff.max()), (ms(100), secs(30)));
    assert_eq!(backoff.ceiling(20), secs(30));
    assert_eq!(Backoff::exponential(secs(60)).max(), secs(60));
    let below_base = Backoff::exponential(secs(2)).max_delay(secs(1));
    assert_eq!(below_base.ceiling(0), secs(1));
    assert_eq!(
        Backoff::exponential(Duration::ZERO).ceiling(500),
        Duration::ZERO
    );
}

#[test]
fn full_and_equal_jitter_stay_within_their_bounds() {
    let full = Backoff::exponential(ms(10)).max_delay(secs(5));
    let equal = full.jitter(Jitter::Equal);
    let (mut below_half, mut rng) = (false, Rng::seeded(7));
    for retry in 0..40 {
        for _ in 0..50 {
            let ceiling = full.ceiling(retry);
            let delay = full.delay(retry, &mut rng);
            assert!(delay <= ceiling, "{delay:?} > {ceiling:?}");
            below_half |= delay < ceiling / 2;
            let delay = equal.delay(retry, &mut rng);
            assert!(ceiling / 2 <= delay && delay <= ceiling, "{delay:?}");
        }
    }
    assert!(below_half, "full jitter reaches below half the ceiling");
}

#[test]
fn ceilings_saturate_instead_of_overflowing() {
    let huge = Backoff::exponential(Duration::MAX).max_delay(Duration::MAX);
    let long = Backoff::exponential(secs(3600)).max_delay(Duration::MAX);
    for retry in [0, 1, 63, 64, 127, 128, 200, u32::MAX] {
        assert_eq!(huge.ceiling(retry), Duration::MAX);
        assert!(long.ceiling(retry) >= secs(3600));
    }
    assert_eq!(long.ceiling(200), Duration::MAX);
    let capped = Backoff::exponential(ms(1));
    assert_eq!(capped.ceiling(200), secs(30));
    let mut rng = Rng::seeded(3);
    for jitter in [Jitter::None, Jitter::Full, Jitter::Equal] {
        assert!(huge.jitter(jitter).delay(200, &mut rng) <= Duration::MAX);
        assert!(capped.jitter(jitter).delay(u32::MAX, &mut rng) <= secs(30));
    }
    assert_eq!(first(capped, 1, 300).len(), 300);
}

/// A budget with `ratio` and `min` over [`WINDOW`], on a manual clock at zero.
fn budget(ratio: f64, min: u32) -> (RetryBudget, Arc<ManualClock>) {
    let config = BudgetConfig::new()
        .window(WINDOW)
        .ratio(ratio)
        .min_per_window(min);
    let clock = Arc::new(ManualClock::new());
    let budget = RetryBudget::with_clock(config, clock.clone()).expect("a valid config");
    (budget, clock)
}

fn withdrawals(budget: &RetryBudget) -> usize {
    (0..10_000).take_while(|_| budget.withdraw()).count()
}

#[test]
fn retries_are_a_ratio_of_calls() {
    let (budget, _clock) = budget(0.2, 0);
    assert!(!budget.withdraw(), "no calls, no minimum");
    (0..100).for_each(|_| budget.deposit());
    assert_eq!(withdrawals(&budget), 20);
    assert!(!budget.withdraw());
    let expected = BudgetSnapshot {
        calls: 100,
        retries: 20,
        allowed: 20,
    };
    assert_eq!(budget.snapshot(), expected);
}

#[test]
fn ratios_count_exactly_where_floating_point_would_round_down() {
    // 0.29 * 100.0 is 28.999999999999996 in f64.
    let (budget, _clock) = budget(0.29, 0);
    (0..100).for_each(|_| budget.deposit());
    assert_eq!(withdrawals(&budget), 29);
}

#[test]
fn the_minimum_lets_retries_through_without_calls() {
    let (budget, _clock) = budget(0.2, 3);
    assert_eq!(withdrawals(&budget), 3);
    (0..10).for_each(|_| budget.deposit());
    assert_eq!(withdrawals(&budget), 2, "3 + 20% of 10, less the 3 taken");
}

#[test]
fn the_allowance_resets_once_the_window_has_passed() {
    let (budget, clock) = budget(0.5, 1);
    (0..10).for_each(|_| budget.deposit());
    assert_eq!(withdrawals(&budget), 6);
    clock.advance(WINDOW / 2);
    assert!(!budget.withdraw(), "still within the window");
    clock.advance(WINDOW / 2);
    let fresh = BudgetSnapshot {
        calls: 0,
        retries: 0,
        allowed: 1,
    };
    assert_eq!(budget.snapshot(), fresh, "old calls and retries forgotten");
    assert_eq!(withdrawals(&budget), 1);
}

#[test]
fn calls_roll_off_slice_by_slice() {
    let (budget, clock) = budget(1.0, 0);
    budget.deposit();
    clock.advance(secs(5));
    budget.deposit();
    clock.advance(secs(5));
    assert_eq!(
        budget.snapshot().calls,
        1,
        "the first slice has left the window"
    );
    clock.set(secs(6)); // backwards: counts as the latest reading, forgets nothing
    assert_eq!(budget.snapshot().calls, 1);
    clock.advance(secs(60));
    assert_eq!(budget.snapshot().calls, 0);
}

#[test]
fn bad_values_are_named_in_the_error() {
    let cases = [
        (
            BudgetConfig::new().window(Duration::ZERO),
            "retry_budget.window = 0ns: must be between 1ms and 1h",
        ),
        (
            BudgetConfig::new().window(secs(3601)),
            "retry_budget.window = 3601s: must be between 1ms and 1h",
        ),
        (
            BudgetConfig::new().ratio(-1.0),
            "retry_budget.ratio = -1: must be between 0 and 10",
        ),
        (
            BudgetConfig::new().ratio(10.5),
            "retry_budget.ratio = 10.5: must be between 0 and 10",
        ),
        (
            BudgetConfig::new().ratio(f64::NAN),
            "retry_budget.ratio = NaN: must be between 0 and 10",
        ),
        (
            BudgetConfig::new().ratio(f64::INFINITY),
            "retry_budget.ratio = inf: must be between 0 and 10",
        ),
    ];
    for (config, message) in cases {
        let error = config.validate().expect_err(message);
        assert_eq!(error.to_string(), message);
        assert!(matches!(error, BudgetConfigError::Invalid { .. }));
        let refused = RetryBudget::new(config).expect_err("refused");
        assert_eq!(refused, error);
    }
    let edges = [
        BudgetConfig::default(),
        BudgetConfig::new()
            .window(BudgetConfig::MIN_WINDOW)
            .ratio(0.0),
        BudgetConfig::new()
            .window(BudgetConfig::MAX_WINDOW)
            .ratio(10.0),
    ];
    for config in edges {
        assert_eq!(config.validate(), Ok(()), "{config:?}");
    }
    let defaults = BudgetConfig::new();
    assert_eq!(defaults.window_len(), WINDOW);
    assert_eq!((defaults.retry_ratio(), defaults.min_retries()), (0.2, 10));
}

#[test]
fn threads_racing_never_overdraw() {
    const THREADS: usize = 8;
    let (budget, _clock) = budget(0.25, 5);
    let budget = Arc::new(budget);
    let start = Arc::new(Barrier::new(THREADS));
    let granted: usize = bounded(Duration::from_secs(60), move || {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let (budget, start) = (budget.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    (0..1000)
                        .map(|_| {
                            budget.deposit();
                            usize::from(budget.withdraw()) + usize::from(budget.withdraw())
                        })
                        .sum::<usize>()
                })
            })
            .collect();
        let granted = workers.into_iter().map(|w| w.join().expect("worker")).sum();
        let snap = budget.snapshot();
        assert_eq!(snap.calls, (THREADS * 1000) as u64, "no deposit lost");
        assert_eq!(snap.retries, granted as u64, "every grant counted");
        granted
    });
    assert_eq!(granted, 5 + THREADS * 1000 / 4, "exactly the allowance");
}
