//! Loom models of [`sluice_core::Histogram`]: values recorded from two threads while a
//! third takes snapshots are each counted once, in their bucket, with the true maximum
//! and sum; a snapshot taken meanwhile is a histogram of some of them.
//!
//! Run with `RUSTFLAGS="--cfg sluice_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release`.

#![cfg(sluice_loom)]

use loom::sync::Arc;
use loom::thread;
use sluice_core::Histogram;

#[test]
fn concurrent_records_are_each_counted_once() {
    loom::model(|| {
        let histogram = Arc::new(Histogram::new());
        let recorders: Vec<_> = [[3u64, 1_000], [1_000, 70]]
            .into_iter()
            .map(|values| {
                let histogram = histogram.clone();
                thread::spawn(move || {
                    for value in values {
                        histogram.record(value);
                    }
                })
            })
            .collect();
        let during = histogram.snapshot();
        assert!(during.count() <= 4);
        assert!(during.max() <= 1_000);
        for recorder in recorders {
            recorder.join().expect("recorder panicked");
        }
        let after = histogram.snapshot();
        assert_eq!(after.count(), 4);
        assert_eq!(after.count_at(1_000), 2);
        assert_eq!(after.count_at(3), 1);
        assert_eq!(after.count_at(70), 1);
        assert_eq!((after.max(), after.sum()), (1_000, 2_073));
        assert_eq!(after.percentile(1.0), 1_000);
    });
}
