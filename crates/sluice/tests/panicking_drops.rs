//! User values whose `Drop` panics — a panic's payload, a task's error, its late
//! result, a closure's captures, a future — never leave a task unanswered, a key
//! stuck, a counter wrong or a manager thread dead. Where the caller itself drops such
//! a value (an unread answer), the panic is the caller's and the manager stays whole.

mod common;

use common::{Discard, TestResult, counts, eventually, quick_retry, watchdog};
use sluice::{ConcurrencyManager, RouteKind, TaskError};
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SHORT: Duration = Duration::from_millis(30);

/// A value whose drop panics, as a hostile user's type may; `defuse` drops it quietly.
#[derive(Debug)]
struct Bomb {
    /// Cleared by `defuse`.
    armed: bool,
}

impl Bomb {
    fn armed() -> Self {
        Bomb { armed: true }
    }

    /// Drops it without the panic: for the copies a test receives itself.
    fn defuse(mut self) {
        self.armed = false;
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.armed && !std::thread::panicking() {
            panic!("a value panicked in its drop");
        }
    }
}

/// Panics with a payload whose drop panics.
fn explode() -> u32 {
    panic_any(Bomb::armed())
}

/// Loops until the task is asked to stop (or a minute passes, so a broken timer fails
/// the test instead of spinning for ever).
fn until_cancelled() {
    let give_up = Instant::now() + Duration::from_secs(60);
    while !sluice::is_cancelled() && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_panic_whose_payload_panics_on_drop_is_answered_and_frees_its_key() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
    watchdog(
        "a panic payload that panics on drop",
        move || -> TestResult {
            for route in [RouteKind::Cpu, RouteKind::Chunk, RouteKind::IoBlocking] {
                let task = mgr.task("hostile").key("k");
                let handle = match route {
                    RouteKind::Cpu => task.run_cpu(explode),
                    RouteKind::Chunk => task.run_chunk(explode),
                    _ => task.run_io_blocking(explode),
                };
                let next = mgr.task("next").key("k").run_cpu(|| 7);
                assert!(
                    matches!(handle.wait(), Err(TaskError::Panicked(_))),
                    "{route:?}: answered Panicked"
                );
                assert_eq!(next.wait(), Ok(7), "{route:?}: the key's next task ran");
                assert_eq!(counts(&mgr, route.clone()).panicked, 1, "{route:?}");
            }
            let io = mgr.task("hostile").key("k").run_io(async { explode() });
            let next = mgr.task("next").key("k").run_io(async { 8 });
            let answer = io.wait();
            assert!(matches!(answer, Err(TaskError::Panicked(_))), "{answer:?}");
            assert_eq!(next.wait(), Ok(8));
            assert_eq!(counts(&mgr, RouteKind::Io).panicked, 1);
            Ok(())
        },
    )
}

#[test]
fn a_retried_error_that_panics_on_drop_leaves_the_timer_thread_alive() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
    watchdog(
        "a retried error that panics on drop",
        move || -> TestResult {
            let failing = mgr
                .task("hostile-retry")
                .retry(quick_retry(3)?)
                .try_run_cpu(|| Err::<u32, _>(Bomb::armed()));
            match failing.wait() {
                Err(TaskError::Failed(bomb)) => bomb.defuse(),
                other => panic!("answered {other:?}, not the last attempt's error"),
            }
            assert_eq!(counts(&mgr, RouteKind::Cpu).retries, 2);
            // The timer thread still fires: a timeout and a backoff of the same manager.
            let slow = mgr.task("slow").timeout(SHORT).run_cpu(until_cancelled);
            assert_eq!(slow.wait(), Err(TaskError::TimedOut));
            let calls = common::Calls::default();
            let flaky = mgr.task("flaky").retry(quick_retry(2)?).try_run_cpu({
                let calls = calls.clone();
                move || {
                    if calls.next() == 1 {
                        Err("once")
                    } else {
                        Ok(1)
                    }
                }
            });
            assert_eq!(flaky.wait(), Ok(1));
            Ok(())
        },
    )
}

#[test]
fn abort_pending_settles_a_queued_closure_whose_capture_panics_on_drop() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .cpu_limit(1)
        .build()?;
    watchdog("abort with a hostile capture", move || -> TestResult {
        let (started, blocker_started) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let blocker = mgr.run_cpu(move || {
            let _ = started.send(());
            released.recv().is_ok()
        });
        blocker_started.recv()?;
        let bomb = Bomb::armed();
        let hostile = mgr.run_cpu(move || {
            bomb.defuse();
        });
        let behind: Vec<_> = (0..3).map(|i| mgr.run_cpu(move || i)).collect();
        let aborted = catch_unwind(AssertUnwindSafe(|| mgr.abort_pending()));
        assert_eq!(
            aborted.ok(),
            Some(4),
            "abort_pending answered, without a panic"
        );
        assert_eq!(hostile.wait(), Err(TaskError::Cancelled));
        for handle in behind {
            assert_eq!(handle.wait(), Err(TaskError::Cancelled));
        }
        release.send(())?;
        assert_eq!(blocker.wait(), Ok(true));
        let report = mgr.shutdown(Duration::from_secs(5));
        assert!(report.drained, "{report:?}");
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.submitted, cpu.cancelled, cpu.running), (5, 4, 0));
        Ok(())
    })
}

#[test]
fn a_closure_dropped_by_its_backend_or_at_shutdown_is_answered_cancelled() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(1)
        .cpu_limit(1)
        .executor("discard", Arc::new(Discard))
        .build()?;
    watchdog("hostile captures dropped unrun", move || -> TestResult {
        let bomb = Bomb::armed();
        let dropped = mgr.run_on("discard", move || bomb.defuse());
        assert_eq!(dropped.wait(), Err(TaskError::Cancelled));

        let (started, blocker_started) = mpsc::channel();
        let blocker = mgr.run_cpu(move || {
            let _ = started.send(());
            until_cancelled();
        });
        blocker_started.recv()?;
        let bomb = Bomb::armed();
        let queued = mgr.run_cpu(move || bomb.defuse());
        let report = catch_unwind(AssertUnwindSafe(|| mgr.shutdown(SHORT)));
        let report = report.map_err(|_| "shutdown panicked")?;
        assert_eq!(report.cancelled_queued, 1, "{report:?}");
        assert_eq!(queued.wait(), Err(TaskError::Cancelled));
        assert_eq!(blocker.wait(), Ok(()));
        Ok(())
    })
}

#[test]
fn a_late_result_that_panics_on_drop_is_counted_abandoned() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
    watchdog("a late hostile result", move || -> TestResult {
        let late = mgr.task("late").timeout(SHORT).run_cpu(|| {
            until_cancelled();
            Bomb::armed()
        });
        match late.wait() {
            Err(TaskError::TimedOut) => {}
            Ok(bomb) => {
                bomb.defuse();
                panic!("answered with the late value")
            }
            Err(other) => panic!("answered {other:?}"),
        }
        eventually("the late body is counted abandoned", || {
            counts(&mgr, RouteKind::Cpu).abandoned == 1
        });
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.timed_out, cpu.running), (1, 0));
        let report = mgr.shutdown(Duration::from_secs(5));
        assert!(report.drained, "{report:?}");
        Ok(())
    })
}

#[test]
fn an_io_future_that_panics_when_dropped_at_its_timeout_answers_timed_out() -> TestResult {
    let mgr = ConcurrencyManager::builder().io_limit(1).build()?;
    watchdog("a hostile future at its timeout", move || -> TestResult {
        let bomb = Bomb::armed();
        let stuck = mgr.task("stuck").timeout(SHORT).run_io(async move {
            let _bomb = bomb;
            std::future::pending::<()>().await;
        });
        assert_eq!(stuck.wait(), Err(TaskError::TimedOut));
        // Its slot came back: the io limit is 1.
        assert_eq!(mgr.run_io(async { 5 }).wait(), Ok(5));
        let io = counts(&mgr, RouteKind::Io);
        assert_eq!((io.timed_out, io.cancelled, io.succeeded), (1, 0, 1));
        assert_eq!(io.running, 0);

        let bomb = Bomb::armed();
        let cancelled = mgr.run_io(async move {
            let _bomb = bomb;
            std::future::pending::<()>().await;
        });
        eventually("the future runs", || {
            counts(&mgr, RouteKind::Io).running == 1
        });
        assert!(cancelled.cancel());
        assert_eq!(cancelled.wait(), Err(TaskError::Cancelled));
        assert_eq!(mgr.run_io(async { 6 }).wait(), Ok(6));
        Ok(())
    })
}

#[test]
fn a_result_nobody_reads_that_panics_on_drop_leaves_the_key_free() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
    watchdog("an unread hostile result", move || -> TestResult {
        // The handle is gone before the body answers: the worker drops the value.
        let (go, gate) = mpsc::channel::<()>();
        let unread = mgr.task("unread").key("k").run_cpu(move || {
            let _ = gate.recv();
            Bomb::armed()
        });
        drop(unread);
        go.send(())?;
        assert_eq!(mgr.task("next").key("k").run_cpu(|| 1).wait(), Ok(1));

        // The caller drops an answer it has not read: its own panic, nothing else.
        let finished = mgr.task("finished").key("k").run_cpu(Bomb::armed);
        eventually("the answer arrives", || finished.is_finished());
        assert!(catch_unwind(AssertUnwindSafe(|| drop(finished))).is_err());
        assert_eq!(mgr.task("next").key("k").run_cpu(|| 2).wait(), Ok(2));
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.submitted, cpu.succeeded, cpu.running), (4, 4, 0));
        Ok(())
    })
}

#[test]
fn a_map_item_whose_panic_payload_panics_on_drop_ends_the_map_panicked() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
    watchdog("a hostile payload in a map", move || -> TestResult {
        let item = |i: u32| if i == 500 { explode() } else { i };
        let cpu = mgr.map_cpu(0..1_000u32, item);
        assert!(matches!(cpu.wait(), Err(TaskError::Panicked(_))));
        let chunks = mgr.map_chunks(0..1_000u32, item);
        assert!(matches!(chunks.wait(), Err(TaskError::Panicked(_))));
        let io = mgr.map_io(0..1_000u32, move |i| async move { item(i) });
        let answer = io.wait();
        assert!(matches!(answer, Err(TaskError::Panicked(_))), "{answer:?}");
        let input = (0..1_000u32).map(item);
        assert!(matches!(
            mgr.map_cpu(input, |i| i).wait(),
            Err(TaskError::Panicked(_))
        ));
        for route in [RouteKind::Cpu, RouteKind::Chunk, RouteKind::Io] {
            let counted = counts(&mgr, route.clone());
            assert_eq!(counted.running, 0, "{route:?}");
        }
        assert_eq!(counts(&mgr, RouteKind::Cpu).panicked, 2);
        Ok(())
    })
}

#[test]
fn a_map_whose_outputs_panic_on_drop_still_answers_when_an_item_panics() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
    watchdog("hostile outputs of a failed map", move || -> TestResult {
        let item = |i: u32| {
            assert!(i != 700, "item 700 is bad");
            Bomb::armed()
        };
        let answer = mgr.map_cpu(0..1_000u32, item).wait();
        assert!(matches!(answer, Err(TaskError::Panicked(_))), "cpu");
        let answer = mgr.map_chunks(0..1_000u32, item).wait();
        assert!(matches!(answer, Err(TaskError::Panicked(_))), "chunks");
        let answer = mgr
            .map_io(0..1_000u32, move |i| async move { item(i) })
            .wait();
        assert!(matches!(answer, Err(TaskError::Panicked(_))), "io");
        for route in [RouteKind::Cpu, RouteKind::Chunk, RouteKind::Io] {
            let counted = counts(&mgr, route.clone());
            assert_eq!((counted.panicked, counted.running), (1, 0), "{route:?}");
        }
        Ok(())
    })
}
