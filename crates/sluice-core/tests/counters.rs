//! Tests of [`sluice_core::Counters`] with real threads: each counter on its own, then
//! many threads recording while another takes snapshots, with exact sums at the end.
//!
//! Anything that could hang runs under a watchdog that fails the test instead.

#![cfg(not(sluice_loom))]

mod common;

use common::*;

use sluice_core::{Counters, CountersSnapshot, Outcome};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::mpsc::{self};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

/// How long a test may take before it counts as hung.
const HANG: Duration = Duration::from_secs(120);

/// The snapshot field that counts `outcome`.
fn field(snap: &CountersSnapshot, outcome: Outcome) -> u64 {
    match outcome {
        Outcome::Succeeded => snap.succeeded,
        Outcome::Failed => snap.failed,
        Outcome::Panicked => snap.panicked,
        Outcome::Cancelled => snap.cancelled,
        Outcome::TimedOut => snap.timed_out,
        Outcome::Rejected => snap.rejected,
    }
}

#[test]
fn smoke() {
    let counters = Counters::new();
    assert_eq!(counters.snapshot(), CountersSnapshot::default());
    assert_eq!(Counters::default().snapshot(), CountersSnapshot::default());
    assert!(format!("{counters:?}").starts_with("Counters"));

    for (index, outcome) in Outcome::ALL.into_iter().enumerate() {
        counters.submitted();
        counters.started();
        let during = counters.snapshot();
        assert_eq!(during.in_flight, 1);
        assert_eq!(during.pending(), 1);
        counters.finished(outcome);
        assert_eq!(counters.count(outcome), 1, "{outcome:?}");
        let snap = counters.snapshot();
        assert_eq!(field(&snap, outcome), 1, "{outcome:?}");
        assert_eq!(snap.submitted, index as u64 + 1);
        assert_eq!(snap.started, index as u64 + 1);
        assert_eq!(snap.outcomes_total(), index as u64 + 1);
        assert_eq!((snap.in_flight, snap.pending()), (0, 0));
    }

    counters.submitted();
    counters.ended(Outcome::Rejected);
    let snap = counters.snapshot();
    assert_eq!(snap.rejected, 2);
    assert_eq!(snap.started, 6, "ended does not count a start");
    assert_eq!(snap.submitted, snap.outcomes_total());
    assert_eq!(snap.high_water, 1);
}

#[test]
fn smoke_high_water() {
    let counters = Counters::new();
    for _ in 0..3 {
        counters.submitted();
        counters.started();
    }
    assert_eq!(counters.snapshot().in_flight, 3);
    for _ in 0..3 {
        counters.finished(Outcome::Succeeded);
    }
    counters.submitted();
    counters.started();
    let snap = counters.snapshot();
    assert_eq!((snap.in_flight, snap.high_water), (1, 3));
    counters.finished(Outcome::Failed);
    let snap = counters.snapshot();
    assert_eq!((snap.in_flight, snap.high_water), (0, 3));
    assert_eq!((snap.succeeded, snap.failed), (3, 1));
}

#[test]
fn pending_saturates() {
    // A snapshot assembled by hand can be inconsistent; `pending` does not underflow.
    let snap = CountersSnapshot {
        submitted: 1,
        succeeded: 2,
        ..CountersSnapshot::default()
    };
    assert_eq!(snap.pending(), 0);
    assert_eq!(snap.outcomes_total(), 2);
}

/// Eight threads record tasks with every outcome while another thread takes
/// snapshots. No snapshot shows more outcomes than submissions or more running than
/// threads; at the end every sum is exact.
#[test]
fn stress_exact_sums() {
    const THREADS: u64 = 8;
    const TASKS: u64 = 20_000;
    bounded(HANG, || {
        let counters = Arc::new(Counters::new());
        let start = Arc::new(Barrier::new(THREADS as usize + 1));
        let done = Arc::new(AtomicBool::new(false));

        let watcher = {
            let counters = counters.clone();
            let start = start.clone();
            let done = done.clone();
            thread::spawn(move || {
                start.wait();
                let mut snapshots = 0_u64;
                let mut last = CountersSnapshot::default();
                loop {
                    let finished = done.load(SeqCst);
                    let snap = counters.snapshot();
                    assert!(snap.outcomes_total() <= snap.submitted, "{snap:?}");
                    assert!(snap.in_flight <= THREADS, "{snap:?}");
                    assert!(snap.high_water <= THREADS, "{snap:?}");
                    // Every counter only grows.
                    assert!(snap.submitted >= last.submitted);
                    assert!(snap.outcomes_total() >= last.outcomes_total());
                    assert!(snap.high_water >= last.high_water);
                    last = snap;
                    snapshots += 1;
                    if finished {
                        return snapshots;
                    }
                }
            })
        };

        let workers: Vec<_> = (0..THREADS)
            .map(|thread_index| {
                let counters = counters.clone();
                let start = start.clone();
                thread::spawn(move || {
                    start.wait();
                    for task in 0..TASKS {
                        counters.submitted();
                        let outcome = Outcome::ALL[((task + thread_index) % 6) as usize];
                        if task % 7 == 0 {
                            counters.ended(outcome);
                        } else {
                            counters.started();
                            if task % 97 == 0 {
                                thread::yield_now();
                            }
                            counters.finished(outcome);
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("worker panicked");
        }
        done.store(true, SeqCst);
        assert!(watcher.join().expect("watcher panicked") > 0);

        let snap = counters.snapshot();
        let total = THREADS * TASKS;
        let skipped = THREADS * TASKS.div_ceil(7);
        assert_eq!(snap.submitted, total);
        assert_eq!(snap.outcomes_total(), total);
        assert_eq!(snap.started, total - skipped);
        assert_eq!(snap.in_flight, 0);
        assert_eq!(snap.pending(), 0);
        assert!((1..=THREADS).contains(&snap.high_water), "{snap:?}");
        for (index, outcome) in Outcome::ALL.into_iter().enumerate() {
            let expected: u64 = (0..THREADS)
                .map(|thread_index| {
                    (0..TASKS)
                        .filter(|task| ((task + thread_index) % 6) as usize == index)
                        .count() as u64
                })
                .sum();
            assert_eq!(field(&snap, outcome), expected, "{outcome:?}");
            assert_eq!(counters.count(outcome), expected, "{outcome:?}");
        }
    });
}

/// Tasks are submitted on one thread and ended on another (handed over through a
/// channel), as a pool does; the sums are still exact.
#[test]
fn stress_handed_over() {
    const TASKS: u64 = 50_000;
    bounded(HANG, || {
        let counters = Arc::new(Counters::new());
        let (hand, take) = mpsc::sync_channel::<Outcome>(64);
        let runner = {
            let counters = counters.clone();
            thread::spawn(move || {
                for outcome in take {
                    counters.started();
                    counters.finished(outcome);
                }
            })
        };
        for task in 0..TASKS {
            counters.submitted();
            let snap = counters.snapshot();
            assert!(snap.outcomes_total() < snap.submitted, "{snap:?}");
            hand.send(Outcome::ALL[(task % 6) as usize])
                .expect("runner alive");
        }
        drop(hand);
        runner.join().expect("runner panicked");
        let snap = counters.snapshot();
        assert_eq!(snap.submitted, TASKS);
        assert_eq!(snap.started, TASKS);
        assert_eq!(snap.outcomes_total(), TASKS);
        assert_eq!(snap.high_water, 1);
        assert_eq!(snap.in_flight, 0);
    });
}
