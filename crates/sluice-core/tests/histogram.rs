//! [`Histogram`] under real threads: values recorded from four threads at once, while a
//! fifth takes snapshots, are each counted once with the true sum and maximum.

#![cfg(not(sluice_loom))]

use sluice_core::Histogram;
use std::sync::Arc;
use std::thread;

#[test]
fn stampede() {
    const PER_THREAD: u64 = 50_000;
    let histogram = Arc::new(Histogram::new());
    let recorders: Vec<_> = (0..4u64)
        .map(|t| {
            let histogram = histogram.clone();
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    // Thread t records 10^t + i % 7: four decades, seven values each.
                    histogram.record(10u64.pow(t as u32) * 1_000 + i % 7);
                }
            })
        })
        .collect();
    let mut last = 0;
    while recorders.iter().any(|r| !r.is_finished()) {
        let snapshot = histogram.snapshot();
        assert!(snapshot.count() >= last, "counts only grow");
        assert!(snapshot.count() <= 4 * PER_THREAD);
        last = snapshot.count();
    }
    for recorder in recorders {
        recorder.join().expect("recorder panicked");
    }
    let snapshot = histogram.snapshot();
    assert_eq!(snapshot.count(), 4 * PER_THREAD);
    assert_eq!(snapshot.max(), 1_000_000 + 6);
    let sum: u64 = (0..4u64)
        .map(|t| {
            (0..PER_THREAD)
                .map(|i| 10u64.pow(t as u32) * 1_000 + i % 7)
                .sum::<u64>()
        })
        .sum();
    assert_eq!(snapshot.sum(), sum);
    // A quarter of the values per decade: the median lies in the second or third.
    let p50 = snapshot.percentile(0.5);
    assert!((10_000..=100_000 * 9 / 8).contains(&p50), "p50 {p50}");
    assert_eq!(snapshot.percentile(1.0), 1_000_006);
}
