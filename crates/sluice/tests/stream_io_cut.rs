//! An io stream whose input has ended but whose items still run when shutdown stops
//! them: those items never answer, so the stream must end with the map's early end
//! (`Cancelled`), not as if every item had been seen. Found by the stress harness
//! (h15): an unordered io stream of one item ended after none of them, with no early
//! end.

mod common;

use common::{TestResult, eventually, watchdog};
use sluice::{ConcurrencyManager, StreamOptions, TaskError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[test]
fn items_stopped_by_shutdown_after_the_input_ended_end_the_stream_cancelled() -> TestResult {
    watchdog("io items cut by shutdown", || -> TestResult {
        let mgr = ConcurrencyManager::builder().build()?;
        let began = Arc::new(AtomicBool::new(false));
        let flag = began.clone();
        let mut stream = mgr
            .stream(StreamOptions::new().unordered())
            .io([1u32], move |n| {
                let flag = flag.clone();
                async move {
                    flag.store(true, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(600)).await;
                    n
                }
            });
        eventually("the item runs", || began.load(Ordering::SeqCst));
        // Long enough for the map's driver to find the input's end.
        std::thread::sleep(Duration::from_millis(50));
        let report = mgr.shutdown(Duration::from_millis(20));
        assert!(!report.drained, "the item was still running");
        assert_eq!(stream.next_blocking(), Some(Err(TaskError::Cancelled)));
        assert_eq!(stream.next_blocking(), None);
        Ok(())
    })
}
