//! Tests of [`sluice_core::completion`] with real threads: every way to wait on its
//! own, then many pairs filled and awaited across threads with exact sums, some
//! completers dropped unfilled.
//!
//! Anything that could hang runs under a watchdog that fails the test instead.

#![cfg(not(sluice_loom))]

mod common;

use common::*;

use sluice_core::{Completer, Completion, completion};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

/// How long a small test may take before it counts as hung.
const HANG: Duration = Duration::from_secs(10);
/// How long a stress test may take before it counts as hung.
const STRESS_HANG: Duration = Duration::from_secs(120);

/// A value that counts how many times it was dropped.
struct Tracked {
    value: u64,
    drops: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

#[test]
fn smoke() {
    let (completer, waiter) = completion::<u32>();
    assert!(!waiter.is_closed());
    assert_eq!(waiter.try_take(), None);
    assert!(format!("{waiter:?}").contains("closed: false"));
    assert!(format!("{completer:?}").starts_with("Completer"));
    completer.complete(7);
    assert!(waiter.is_closed());
    assert!(format!("{waiter:?}").contains("closed: true"));
    assert_eq!(waiter.wait(), Some(7));

    let (completer, waiter) = completion::<u32>();
    drop(completer);
    assert!(waiter.is_closed());
    assert_eq!(waiter.wait(), None, "dropped unfilled");

    let (completer, waiter) = completion::<String>();
    completer.complete("once".to_owned());
    assert_eq!(waiter.try_take().as_deref(), Some("once"));
    assert_eq!(waiter.try_take(), None, "taken once");
    assert_eq!(waiter.wait(), None, "already taken");
}

#[test]
fn smoke_wait_timeout() {
    let (completer, waiter) = completion::<u32>();
    let waiter = match waiter.wait_timeout(Duration::from_millis(1)) {
        Err(waiter) => waiter,
        Ok(value) => panic!("nothing was sent, got {value:?}"),
    };
    let waiter = match waiter.wait_timeout(Duration::ZERO) {
        Err(waiter) => waiter,
        Ok(value) => panic!("nothing was sent, got {value:?}"),
    };
    completer.complete(3);
    assert_eq!(waiter.wait_timeout(Duration::ZERO).ok(), Some(Some(3)));

    let (completer, waiter) = completion::<u32>();
    drop(completer);
    assert_eq!(
        waiter.wait_timeout(Duration::from_secs(60)).ok(),
        Some(None)
    );
}

/// `wait_timeout(Duration::MAX)` on a slot that is already filled should return the
/// value. It panics instead: the deadline `Instant::now() + timeout` overflows before
/// the slot is even looked at.
#[test]
fn wait_timeout_with_huge_timeout() {
    let (completer, waiter) = completion::<u32>();
    completer.complete(4);
    assert_eq!(waiter.wait_timeout(Duration::MAX).ok(), Some(Some(4)));
}

#[test]
fn smoke_future() {
    let wakes = Arc::new(CountingWaker::default());
    let waker = Waker::from(wakes.clone());

    let (completer, mut waiter) = completion::<u32>();
    assert!(poll_with(&mut waiter, &waker).is_pending());
    assert!(poll_with(&mut waiter, &waker).is_pending());
    assert_eq!(wakes.0.load(SeqCst), 0);
    completer.complete(5);
    assert_eq!(wakes.0.load(SeqCst), 1, "completing wakes the future once");
    assert_eq!(poll_with(&mut waiter, &waker), Poll::Ready(Some(5)));

    let (completer, mut waiter) = completion::<u32>();
    assert!(poll_with(&mut waiter, &waker).is_pending());
    drop(completer);
    assert_eq!(wakes.0.load(SeqCst), 2, "dropping unfilled wakes it too");
    assert_eq!(poll_with(&mut waiter, &waker), Poll::Ready(None));

    let (completer, waiter) = completion::<u32>();
    completer.complete(9);
    assert_eq!(
        block_on(waiter),
        Some(9),
        "ready at once when already filled"
    );
}

#[test]
fn smoke_value_dropped_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (completer, waiter) = completion::<Tracked>();
    completer.complete(Tracked {
        value: 1,
        drops: drops.clone(),
    });
    drop(waiter);
    assert_eq!(
        drops.load(SeqCst),
        1,
        "an unclaimed value is dropped with the slot"
    );

    let (completer, waiter) = completion::<Tracked>();
    completer.complete(Tracked {
        value: 2,
        drops: drops.clone(),
    });
    let value = waiter.wait().expect("filled");
    assert_eq!(value.value, 2);
    assert_eq!(drops.load(SeqCst), 1);
    drop(value);
    assert_eq!(drops.load(SeqCst), 2);
}

#[test]
fn wait_across_threads() {
    bounded(HANG, || {
        let (completer, waiter) = completion::<u32>();
        let filler = thread::spawn(move || completer.complete(11));
        assert_eq!(waiter.wait(), Some(11));
        filler.join().expect("filler panicked");

        let (completer, waiter) = completion::<u32>();
        let filler = thread::spawn(move || completer.complete(12));
        assert_eq!(block_on(waiter), Some(12));
        filler.join().expect("filler panicked");

        let (completer, waiter) = completion::<u32>();
        let dropper = thread::spawn(move || drop(completer));
        assert_eq!(block_on(waiter), None);
        dropper.join().expect("dropper panicked");

        let (completer, waiter) = completion::<u32>();
        let filler = thread::spawn(move || completer.complete(13));
        assert_eq!(
            waiter.wait_timeout(Duration::from_secs(60)).ok(),
            Some(Some(13))
        );
        filler.join().expect("filler panicked");
    });
}

/// How a stress waiter waits.
fn wait_somehow(waiter: Completion<Tracked>, how: u64) -> Option<Tracked> {
    match how % 4 {
        0 => waiter.wait(),
        1 => block_on(waiter),
        2 => {
            let mut waiter = waiter;
            loop {
                match waiter.wait_timeout(Duration::from_micros(50)) {
                    Ok(value) => return value,
                    Err(again) => waiter = again,
                }
            }
        }
        _ => {
            if let Some(value) = waiter.try_take() {
                return Some(value);
            }
            waiter.wait()
        }
    }
}

/// Four filler threads complete (or drop) completers handed to them through a shared
/// queue while four waiter threads wait on the other halves in every way there is.
/// Every value arrives exactly once, every dropped completer reads `None`, and every
/// value is dropped exactly once.
#[test]
fn stress_fill_and_wait() {
    const PAIRS: u64 = 20_000;
    const THREADS: usize = 4;
    bounded(STRESS_HANG, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut completers: VecDeque<(u64, Completer<Tracked>)> = VecDeque::new();
        let mut waiters: Vec<Vec<(u64, Completion<Tracked>)>> =
            (0..THREADS).map(|_| Vec::new()).collect();
        for id in 0..PAIRS {
            let (completer, waiter) = completion();
            completers.push_back((id, completer));
            waiters[(id % THREADS as u64) as usize].push((id, waiter));
        }
        let completers = Arc::new(Mutex::new(completers));
        let start = Arc::new(Barrier::new(2 * THREADS));

        let fillers: Vec<_> = (0..THREADS)
            .map(|_| {
                let completers = completers.clone();
                let drops = drops.clone();
                let start = start.clone();
                thread::spawn(move || {
                    start.wait();
                    loop {
                        let next = completers.lock().expect("queue poisoned").pop_front();
                        let Some((id, completer)) = next else { return };
                        if id % 5 == 0 {
                            drop(completer);
                        } else {
                            completer.complete(Tracked {
                                value: id,
                                drops: drops.clone(),
                            });
                        }
                    }
                })
            })
            .collect();
        let waiter_threads: Vec<_> = waiters
            .into_iter()
            .map(|mine| {
                let start = start.clone();
                thread::spawn(move || {
                    start.wait();
                    let (mut sum, mut nones, mut count) = (0_u64, 0_u64, 0_u64);
                    for (id, waiter) in mine {
                        match wait_somehow(waiter, id / THREADS as u64) {
                            Some(tracked) => {
                                assert_eq!(tracked.value, id, "delivered to the wrong waiter");
                                assert_ne!(id % 5, 0, "a dropped completer delivered a value");
                                sum += tracked.value;
                                count += 1;
                            }
                            None => {
                                assert_eq!(id % 5, 0, "a filled completer delivered nothing");
                                nones += 1;
                            }
                        }
                    }
                    (sum, nones, count)
                })
            })
            .collect();

        for filler in fillers {
            filler.join().expect("filler panicked");
        }
        let (mut sum, mut nones, mut count) = (0, 0, 0);
        for waiter in waiter_threads {
            let (s, n, c) = waiter.join().expect("waiter panicked");
            sum += s;
            nones += n;
            count += c;
        }
        let expected_sum: u64 = (0..PAIRS).filter(|id| id % 5 != 0).sum();
        assert_eq!(sum, expected_sum);
        assert_eq!(nones, PAIRS.div_ceil(5));
        assert_eq!(count + nones, PAIRS);
        assert_eq!(
            drops.load(SeqCst) as u64,
            count,
            "each value dropped exactly once"
        );
    });
}

#[test]
fn a_one_shot_whose_waiter_left_hands_a_later_value_back() {
    let slot = sluice_core::OneShot::new();
    assert_eq!(slot.abandon(), None);
    assert_eq!(slot.complete("late"), Err("late"));
    assert!(slot.is_closed());
}

#[test]
fn a_one_shot_abandoned_after_its_value_came_gives_the_value_up_once() {
    let slot = sluice_core::OneShot::new();
    assert_eq!(slot.complete(7), Ok(()));
    assert_eq!(slot.abandon(), Some(7));
    assert_eq!(slot.try_take(), None);
    assert_eq!(slot.complete(8), Err(8), "filled once only");
}
