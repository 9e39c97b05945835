//! Maps and their inputs and closures: a closure is dropped when its map ends (so a
//! channel it holds closes), and an input that blocks holds one thread, never the pool,
//! and never the map's cancel.

mod common;

use common::{TestResult, eventually, watchdog};
use sluice::{ConcurrencyManager, TaskError};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn a_maps_closure_is_dropped_when_the_map_ends_not_with_its_handle() -> TestResult {
    watchdog("closure dropped at the end", || -> TestResult {
        let mgr = ConcurrencyManager::builder().build()?;
        for route in ["cpu", "chunks", "io"] {
            // The reader ends when every sender is gone; the map's handle is kept
            // until then, so only the map's own end can drop the closure's sender.
            let (tx, rx) = mpsc::sync_channel::<u32>(4);
            let reader = thread::spawn(move || rx.iter().count());
            let handle = match route {
                "cpu" => mgr.map_cpu(0..100u32, move |x| tx.send(x).map(|()| x).ok()),
                "chunks" => mgr.map_chunks(0..100u32, move |x| tx.send(x).map(|()| x).ok()),
                _ => {
                    let tx = std::sync::Arc::new(tx);
                    mgr.map_io(0..100u32, move |x| {
                        let tx = tx.clone();
                        async move { tx.send(x).map(|()| x).ok() }
                    })
                }
            };
            let sent = reader.join().expect("the reader ends");
            assert_eq!(sent, 100, "{route}");
            assert_eq!(handle.wait()?.len(), 100, "{route}");
        }
        Ok(())
    })
}

#[test]
fn an_input_that_blocks_starves_nobody_and_cancel_does_not_wait_for_it() -> TestResult {
    watchdog("blocked input", || -> TestResult {
        let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
        for route in ["cpu", "chunks"] {
            let (tx, rx) = mpsc::channel::<u32>();
            tx.send(1)?;
            let map = match route {
                "cpu" => mgr.map_cpu(rx, |x| x * 10),
                _ => mgr.map_chunks(rx, |x| x * 10),
            };
            // The input now blocks in `recv`: other work still runs on the pool.
            let other = mgr.run_cpu(|| 7).wait()?;
            assert_eq!(other, 7, "{route}");
            let began = Instant::now();
            map.cancel();
            assert!(
                began.elapsed() < Duration::from_secs(5),
                "{route}: cancel returned"
            );
            // Once the input returns, the map answers: cancelled, or whole if the input
            // had ended by then.
            drop(tx);
            let answer = map.wait();
            assert!(
                matches!(answer, Ok(ref out) if out == &[10])
                    || answer == Err(TaskError::Cancelled),
                "{route}: {answer:?}"
            );
        }
        eventually("every task ended", || {
            let total = mgr.snapshot().total();
            total.submitted == total.ended()
        });
        Ok(())
    })
}

#[test]
fn a_small_map_is_mapped_by_its_waiter_without_waiting_for_the_pool() -> TestResult {
    watchdog("small map", || -> TestResult {
        let mgr = ConcurrencyManager::builder().cpu_threads(1).build()?;
        // The one CPU thread is busy until the small map has answered.
        let (release, hold) = mpsc::channel::<()>();
        let busy = mgr.run_cpu(move || hold.recv().is_ok());
        eventually("the blocker runs", || mgr.snapshot().total().running == 1);
        let caller = thread::current().id();
        let threads = mgr
            .map_cpu(0..4u32, move |_| thread::current().id())
            .wait()?;
        assert!(
            threads.iter().all(|id| *id == caller),
            "mapped by the waiter"
        );
        release.send(())?;
        assert!(busy.wait()?);
        Ok(())
    })
}

#[test]
fn a_map_io_over_a_blocked_input_is_answered_cancelled_at_once() -> TestResult {
    watchdog("map_io over a blocked input", || -> TestResult {
        let mgr = ConcurrencyManager::builder().build()?;
        let (tx, rx) = mpsc::channel::<u32>();
        let (ran, first_ran) = mpsc::sync_channel::<()>(1);
        tx.send(1)?;
        let map = mgr.map_io(rx, move |x| {
            let _ = ran.try_send(());
            async move { x * 10 }
        });
        first_ran.recv()?;
        // The driver now blocks in `recv` (or is about to), where the cancel cannot
        // reach it: the caller hears at once all the same, while the input is open.
        map.cancel();
        assert_eq!(map.wait(), Err(TaskError::Cancelled));
        drop(tx);
        // Once the input returns, the driver's end is counted (abandoned if it was
        // inside the input when cancelled): one outcome, nothing left in flight.
        eventually("the driver's end is counted", || {
            let total = mgr.snapshot().total();
            total.running == 0 && total.submitted == total.ended()
        });
        let total = mgr.snapshot().total();
        assert_eq!(total.cancelled, 1);
        assert!(total.abandoned <= 1, "{total:?}");
        let total = mgr.snapshot().total();
        assert_eq!(total.submitted, total.ended());
        Ok(())
    })
}
