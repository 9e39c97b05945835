//! Per-attempt timeouts (`mgr.task(..).timeout(..)`) on every route: io futures are
//! dropped at the deadline; CPU, chunk and blocking work is answered at the deadline,
//! asked to stop, keeps its admission slot until it really ends, and its late result is
//! counted as abandoned — never delivered, never lost.

mod common;

use common::{TestResult, watchdog};
use sluice::{ConcurrencyManager, RouteKind, TaskError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

const SHORT: Duration = Duration::from_millis(30);

#[test]
fn an_io_future_that_never_answers_is_dropped_at_its_deadline() -> TestResult {
    let mgr = ConcurrencyManager::builder().io_limit(1).build()?;
    watchdog("io timeout", move || -> TestResult {
        /// Sets its flag when dropped: proves the future itself was dropped.
        struct DropFlag(Arc<AtomicBool>);
        impl Drop for DropFlag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(dropped.clone());
        let stuck = mgr.task("stuck-call").timeout(SHORT).run_io(async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        });
        assert_eq!(stuck.wait(), Err(TaskError::TimedOut));
        assert!(dropped.load(Ordering::SeqCst), "the future was dropped");
        // Its admission slot came back: the io limit is 1 and this runs.
        assert_eq!(mgr.run_io(async { 5 }).wait(), Ok(5));
        let io = mgr
            .snapshot()
            .route(&RouteKind::Io)
            .map(|r| r.counters)
            .ok_or("io route")?;
        assert_eq!((io.submitted, io.timed_out, io.succeeded), (2, 1, 1));
        assert_eq!((io.running, io.abandoned), (0, 0));
        Ok(())
    })
}

#[test]
fn cpu_work_past_its_deadline_is_answered_on_time_and_abandoned_when_it_ends() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .cpu_limit(1)
        .build()?;
    watchdog("cpu timeout", move || -> TestResult {
        let (release, released) = mpsc::channel::<()>();
        let (saw_cancel, saw) = mpsc::channel::<bool>();
        let slow = mgr.task("slow-parse").timeout(SHORT).run_cpu(move || {
            let _ = released.recv();
            let _ = saw_cancel.send(sluice::is_cancelled());
            "late result"
        });
        // Answered at the deadline while the body is still blocked.
        assert_eq!(slow.wait(), Err(TaskError::TimedOut));

        // The body keeps its slot until it ends: with cpu_limit(1) the next task waits.
        let next_ran = Arc::new(AtomicBool::new(false));
        let flag = next_ran.clone();
        let next = mgr.run_cpu(move || flag.store(true, Ordering::SeqCst));
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !next_ran.load(Ordering::SeqCst),
            "admitted while the timed-out body still ran"
        );
        let cpu = mgr
            .snapshot()
            .route(&RouteKind::Cpu)
            .map(|r| r.counters)
            .ok_or("cpu route")?;
        assert_eq!((cpu.timed_out, cpu.running, cpu.abandoned), (1, 1, 0));

        release.send(())?;
        assert!(
            saw.recv()?,
            "the body saw is_cancelled() after its deadline"
        );
        next.wait()?;
        assert!(next_ran.load(Ordering::SeqCst));
        let cpu = mgr
            .snapshot()
            .route(&RouteKind::Cpu)
            .map(|r| r.counters)
            .ok_or("cpu route")?;
        assert_eq!((cpu.submitted, cpu.timed_out, cpu.succeeded), (2, 1, 1));
        assert_eq!(
            (cpu.running, cpu.abandoned),
            (0, 1),
            "the late result was abandoned"
        );
        assert_eq!(cpu.submitted, cpu.ended());
        Ok(())
    })
}

#[test]
fn work_that_finishes_in_time_is_answered_normally() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    watchdog("in time", move || -> TestResult {
        let quick = Duration::from_secs(30);
        assert_eq!(mgr.task("cpu").timeout(quick).run_cpu(|| 1).wait(), Ok(1));
        assert_eq!(
            mgr.task("chunk").timeout(quick).run_chunk(|| 2).wait(),
            Ok(2)
        );
        assert_eq!(
            mgr.task("blocking")
                .timeout(quick)
                .run_io_blocking(|| 3)
                .wait(),
            Ok(3)
        );
        assert_eq!(
            mgr.task("io").timeout(quick).run_io(async { 4 }).wait(),
            Ok(4)
        );
        let failed = mgr
            .task("parse")
            .timeout(quick)
            .try_run_cpu(|| "x".parse::<u8>())
            .wait();
        assert!(matches!(failed, Err(TaskError::Failed(_))));
        let total = mgr.snapshot().total();
        assert_eq!((total.timed_out, total.abandoned, total.running), (0, 0, 0));
        assert_eq!(total.submitted, total.ended());
        Ok(())
    })
}

#[test]
fn chunk_and_blocking_work_time_out_too() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    watchdog("chunk and blocking timeouts", move || -> TestResult {
        let spin = || {
            while !sluice::is_cancelled() {
                std::hint::spin_loop();
            }
        };
        assert_eq!(
            mgr.task("c").timeout(SHORT).run_chunk(spin).wait(),
            Err(TaskError::TimedOut)
        );
        let blocking = mgr
            .task("b")
            .timeout(SHORT)
            .run_io_blocking(|| std::thread::sleep(Duration::from_millis(200)));
        assert_eq!(blocking.wait(), Err(TaskError::TimedOut));
        let report = mgr.shutdown(Duration::from_secs(10));
        assert!(report.drained, "waits for the abandoned bodies to end");
        let total = report.snapshot.total();
        assert_eq!((total.timed_out, total.abandoned, total.running), (2, 2, 0));
        Ok(())
    })
}

#[test]
fn the_clock_starts_when_the_work_starts_not_while_it_is_queued() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(1)
        .cpu_limit(1)
        .build()?;
    watchdog("timeout excludes queueing", move || -> TestResult {
        let first = mgr.run_cpu(|| std::thread::sleep(Duration::from_millis(150)));
        let queued = mgr
            .task("queued")
            .timeout(Duration::from_millis(100))
            .run_cpu(|| std::thread::sleep(Duration::from_millis(10)));
        first.wait()?;
        assert_eq!(
            queued.wait(),
            Ok(()),
            "150 ms queued, 10 ms run: within 100 ms"
        );
        Ok(())
    })
}

#[test]
fn a_task_builder_names_its_task_and_refuses_during_shutdown() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    let builder = format!("{:?}", mgr.task("hash-file").timeout(SHORT));
    assert!(
        builder.contains("hash-file") && builder.contains("timeout"),
        "{builder}"
    );
    mgr.shutdown(Duration::from_secs(5));
    let refused = mgr.task("late").timeout(SHORT).run_cpu(|| 1).wait();
    assert_eq!(refused, Err(TaskError::ShuttingDown));
    Ok(())
}
