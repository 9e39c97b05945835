//! Progress of maps: the observer sees every item counted exactly once, `done` only
//! growing, and ends at the total with `finished`; bytes and failures as the caller
//! reports them; unknown lengths; an observer that panics does not break the map.

mod common;

use common::{TestResult, watchdog};
use sluice::{ConcurrencyManager, Progress, ProgressSnapshot};
use std::sync::{Arc, Mutex};

/// A progress that keeps every state its observer was given.
fn recorded() -> (Progress, Arc<Mutex<Vec<ProgressSnapshot>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let progress = Progress::new().on_update(move |p| log.lock().expect("not poisoned").push(*p));
    (progress, seen)
}

/// Checks what an observer saw: `done` growing to `total`, one last `finished` call.
fn check(seen: &[ProgressSnapshot], total: u64) {
    assert!(!seen.is_empty());
    for pair in seen.windows(2) {
        assert!(pair[1].done >= pair[0].done, "done went back: {pair:?}");
    }
    assert!(seen.iter().all(|p| p.done <= total));
    let last = seen.last().expect("not empty");
    assert_eq!((last.done, last.finished), (total, true));
    assert_eq!(
        seen.iter().filter(|p| p.finished).count(),
        1,
        "one finished call"
    );
    let steps: Vec<u64> = seen.iter().map(|p| p.done).collect();
    assert!(steps.windows(2).filter(|w| w[1] > w[0]).count() >= 1);
}

#[test]
fn cpu_and_chunk_maps_count_every_item_once() -> TestResult {
    watchdog("cpu and chunk progress", || {
        let mgr = ConcurrencyManager::builder().build()?;
        let (progress, seen) = recorded();
        let out = mgr
            .task("lengths")
            .progress(&progress)
            .map_cpu(0..100_000u64, |x| x.count_ones())
            .wait()?;
        assert_eq!(out.len(), 100_000);
        check(&seen.lock().expect("not poisoned"), 100_000);
        let end = progress.snapshot();
        assert_eq!(end.total, Some(100_000));
        assert!(end.items_per_s > 0.0);
        assert_eq!(end.eta, Some(std::time::Duration::ZERO));

        // An input of unknown length: no total, no ETA, still every item.
        let (progress, seen) = recorded();
        let evens = mgr
            .task("evens")
            .progress(&progress)
            .map_chunks((0..50_000u64).filter(|x| x % 2 == 0), |x| x / 2)
            .wait()?;
        assert_eq!(evens.len(), 25_000);
        check(&seen.lock().expect("not poisoned"), 25_000);
        assert_eq!(
            (progress.snapshot().total, progress.snapshot().eta),
            (None, None)
        );
        Ok(())
    })
}

#[test]
fn io_maps_report_each_item_with_bytes_and_failures() -> TestResult {
    watchdog("io progress", || {
        let mgr = ConcurrencyManager::builder().io_limit(8).build()?;
        let (progress, seen) = recorded();
        let reporter = progress.clone();
        let sizes = mgr
            .task("fetch")
            .progress(&progress)
            .map_io(0..200u64, move |i| {
                let reporter = reporter.clone();
                async move {
                    reporter.add_bytes(i);
                    if i % 10 == 0 {
                        reporter.fail(1);
                    }
                    i
                }
            })
            .wait()?;
        assert_eq!(sizes.len(), 200);
        let seen = seen.lock().expect("not poisoned");
        check(&seen, 200);
        // One step per item: 200 steps and the finishing call.
        assert_eq!(seen.len(), 201);
        let end = progress.snapshot();
        assert_eq!((end.bytes, end.failed), ((0..200).sum::<u64>(), 20));
        Ok(())
    })
}

#[test]
fn an_observer_that_panics_does_not_break_the_map() -> TestResult {
    watchdog("panicking observer", || {
        let mgr = ConcurrencyManager::builder().build()?;
        let progress = Progress::new().on_update(|_| panic!("the terminal went away"));
        let out = mgr
            .task("sum")
            .progress(&progress)
            .map_chunks(0..10_000u32, |x| x + 1)
            .wait()?;
        assert_eq!(out.len(), 10_000);
        assert_eq!(progress.snapshot().done, 10_000);
        Ok(())
    })
}
