//! A streamed map whose consumer drops the stream while its input blocks (a channel
//! with nothing to read) is counted cancelled, as `MapStream` promises, even when the
//! input ends after the drop. Found by the stress harness's blocked inputs (h10).

mod common;

use common::{TestResult, counts, eventually, watchdog};
use sluice::{ConcurrencyManager, RouteKind};
use std::sync::mpsc;

#[test]
fn a_stream_dropped_while_its_input_blocks_is_counted_cancelled() -> TestResult {
    watchdog("dropped stream over a blocked input", || -> TestResult {
        let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
        let (tx, rx) = mpsc::channel::<u32>();
        let doubled = mgr.stream_cpu(rx, |x| x * 2);
        // The map's one puller now waits in `recv`.
        eventually("the map runs", || counts(&mgr, RouteKind::Cpu).running == 1);
        drop(doubled);
        // The input ends only after the consumer has gone.
        drop(tx);
        eventually("the map ended", || {
            counts(&mgr, RouteKind::Cpu).ended() == 1
        });
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.cancelled, cpu.succeeded), (1, 0), "{cpu:?}");
        Ok(())
    })
}
