//! A cpu stream's default buffer: how many results a map makes ahead of a consumer
//! that has stopped reading, when the caller sets no buffer. It bounds the memory of
//! a stream of large results (issue 17: 200 k results of 10 KB in 32 MB).

mod common;

use common::{TestResult, watchdog};
use sluice::ConcurrencyManager;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn a_cpu_stream_makes_at_most_512_results_per_thread_ahead_by_default() -> TestResult {
    watchdog("default buffer", || -> TestResult {
        let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
        let pulled = Arc::new(AtomicUsize::new(0));
        let counter = pulled.clone();
        let input = (0..1_000_000u64).inspect(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        let mut stream = mgr.stream_cpu(input, |x| vec![x as u8; 64]);
        for _ in 0..10 {
            stream.next_blocking().transpose()?;
        }
        // Give the map every chance to run ahead, until its pulling stops.
        let until = Instant::now() + Duration::from_secs(10);
        let mut last = usize::MAX;
        while Instant::now() < until {
            let now = pulled.load(Ordering::Relaxed);
            if now == last {
                break;
            }
            last = now;
            thread::sleep(Duration::from_millis(50));
        }
        let pulled_now = pulled.load(Ordering::Relaxed);
        assert!(
            pulled_now <= 10 + 2 * 512,
            "{pulled_now} items pulled for 10 read and two threads of 512"
        );
        drop(stream);
        Ok(())
    })
}
