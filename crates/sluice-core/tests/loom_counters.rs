//! Loom models of [`sluice_core::Counters`].
//!
//! Worker threads record `submitted`, `started` and `finished(outcome)` (or `ended`
//! for work that never ran) while the model's own thread takes snapshots. Every
//! snapshot must show no more outcomes than submissions; once the workers are joined,
//! `submitted == outcomes_total()` exactly, nothing is in flight, and the high-water
//! mark is at most the number of workers that ran a body.
//!
//! Run with `RUSTFLAGS="--cfg sluice_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release`.

#![cfg(sluice_loom)]

use loom::sync::Arc;
use loom::thread;
use sluice_core::{Counters, CountersSnapshot, Outcome};

/// One unit of work, as a worker records it.
#[derive(Clone, Copy)]
enum Work {
    /// Submitted, started, finished with this outcome.
    Ran(Outcome),
    /// Submitted and ended with this outcome without running.
    Skipped(Outcome),
}

/// Checks what holds for every snapshot, whenever it was taken.
fn check_any_time(snap: &CountersSnapshot, workers: u64, runners: u64) {
    assert!(
        snap.outcomes_total() <= snap.submitted,
        "more outcomes than submissions: {snap:?}"
    );
    assert!(snap.submitted <= workers, "{snap:?}");
    assert!(snap.started <= runners, "{snap:?}");
    assert!(snap.in_flight <= runners, "{snap:?}");
    assert!(snap.high_water <= runners, "{snap:?}");
    assert_eq!(snap.pending(), snap.submitted - snap.outcomes_total());
}

/// Runs `work` on one thread each while the model's thread takes `snapshots`
/// snapshots, then checks the final sums.
fn record_while_snapshotting(work: &'static [Work], snapshots: usize) {
    loom::model(move || {
        let counters = Arc::new(Counters::new());
        let workers: Vec<_> = work
            .iter()
            .map(|&item| {
                let counters = counters.clone();
                thread::spawn(move || {
                    counters.submitted();
                    match item {
                        Work::Ran(outcome) => {
                            counters.started();
                            counters.finished(outcome);
                        }
                        Work::Skipped(outcome) => counters.ended(outcome),
                    }
                })
            })
            .collect();

        let total = work.len() as u64;
        let runners = work
            .iter()
            .filter(|item| matches!(item, Work::Ran(_)))
            .count() as u64;
        for _ in 0..snapshots {
            check_any_time(&counters.snapshot(), total, runners);
        }
        for worker in workers {
            worker.join().expect("worker panicked");
        }

        let last = counters.snapshot();
        check_any_time(&last, total, runners);
        assert_eq!(last.submitted, total);
        assert_eq!(last.outcomes_total(), total, "{last:?}");
        assert_eq!(last.started, runners);
        assert_eq!(last.in_flight, 0);
        assert!(last.high_water >= u64::from(runners > 0), "{last:?}");
        for outcome in Outcome::ALL {
            let expected = work
                .iter()
                .filter(|item| matches!(item, Work::Ran(o) | Work::Skipped(o) if *o == outcome))
                .count() as u64;
            assert_eq!(counters.count(outcome), expected, "{outcome:?}");
        }
    });
}

#[test]
fn two_runners_and_snapshots() {
    record_while_snapshotting(
        &[Work::Ran(Outcome::Succeeded), Work::Ran(Outcome::Failed)],
        1,
    );
}

#[test]
fn same_outcome_from_two_threads() {
    record_while_snapshotting(
        &[Work::Ran(Outcome::Succeeded), Work::Ran(Outcome::Succeeded)],
        1,
    );
}

#[test]
fn runner_and_skipped_and_snapshots() {
    record_while_snapshotting(
        &[
            Work::Ran(Outcome::Panicked),
            Work::Skipped(Outcome::Rejected),
        ],
        2,
    );
}

#[test]
fn three_workers_and_a_snapshot() {
    record_while_snapshotting(
        &[
            Work::Ran(Outcome::Succeeded),
            Work::Skipped(Outcome::Rejected),
            Work::Skipped(Outcome::Cancelled),
        ],
        1,
    );
}
