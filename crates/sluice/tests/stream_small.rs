//! Small streamed maps cost what they cost: a map of a few items (its length known)
//! starts at its consumer's first read, and a blocking consumer maps it on its own
//! thread — no pool round trip; an async consumer gets the pool; a small map never
//! read is counted only as cancelled when dropped, and leaves shutdown nothing to
//! wait for.

mod common;

use common::{TestResult, counts, watchdog};
use futures::StreamExt;
use sluice::{ConcurrencyManager, RouteKind, StreamOptions};
use std::thread::{self, ThreadId};
use std::time::Duration;

#[test]
fn a_blocking_consumer_maps_a_small_stream_on_its_own_thread() -> TestResult {
    watchdog("small stream inline", || -> TestResult {
        let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
        let consumer = thread::current().id();
        let ran_on: Vec<ThreadId> = mgr
            .stream_cpu(0..4u32, |_| thread::current().id())
            .into_iter()
            .collect::<Result<_, _>>()?;
        assert_eq!(ran_on, [consumer; 4], "no item went to the pool");
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.submitted, cpu.succeeded), (1, 1));
        Ok(())
    })
}

#[test]
fn an_async_consumer_of_a_small_stream_gets_the_pool() -> TestResult {
    watchdog("small stream async", || -> TestResult {
        let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
        let consumer = thread::current().id();
        let ran_on: Vec<_> = futures::executor::block_on(
            mgr.stream(StreamOptions::new())
                .cpu(0..4u32, |_| thread::current().id())
                .collect::<Vec<_>>(),
        );
        assert_eq!(ran_on.len(), 4);
        for thread in ran_on {
            assert_ne!(thread?, consumer, "an async consumer does not block to map");
        }
        Ok(())
    })
}

#[test]
fn a_small_stream_never_read_is_counted_cancelled_and_holds_up_no_shutdown() -> TestResult {
    watchdog("small stream unread", || -> TestResult {
        let mgr = ConcurrencyManager::builder().build()?;
        let unread = mgr.stream_cpu(0..4u32, |x| x + 1);
        let kept = mgr.stream_cpu(0..4u32, |x| x + 1);
        drop(unread);
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.submitted, cpu.cancelled), (1, 1));
        let report = mgr.shutdown(Duration::from_secs(5));
        assert!(
            report.drained,
            "a small map not yet read is not work to wait for"
        );
        assert_eq!(report.unanswered, 0);
        drop(kept);
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.submitted, cpu.cancelled), (2, 2));
        Ok(())
    })
}
