//! A retried closure task's work is kept by its retry driver (issue 20: no allocation of
//! its own) and called once per attempt: a cancel during the first attempt stops the
//! task with no second call; a task still waiting for its key is counted once by
//! `abort_pending` and never calls its work; shutdown during the first attempt lets it
//! answer and starts no retry; and the work (with what it captured) is dropped once the
//! task is done.

mod common;

use common::{Calls, EVENTUALLY, TestResult, counts, eventually, quick_retry as quick, watchdog};
use sluice::{ConcurrencyManager, RouteKind, TaskError};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

#[test]
fn a_task_cancelled_during_its_first_attempt_is_not_tried_again() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    watchdog("cancel in the first attempt", move || -> TestResult {
        let calls = Calls::default();
        let (started, has_started) = mpsc::channel();
        let upload = calls.clone();
        let handle = mgr
            .task("cancelled-upload")
            .retry(quick(5)?)
            .try_run_cpu(move || {
                upload.next();
                started.send(()).ok();
                while !sluice::is_cancelled() {
                    std::thread::yield_now();
                }
                Err::<(), _>("stopped")
            });
        has_started.recv_timeout(EVENTUALLY)?;
        assert!(handle.cancel());
        // The body saw the cancel and returned its own error: the last answer, final.
        assert_eq!(handle.wait(), Err(TaskError::Failed("stopped")));
        assert_eq!(calls.get(), 1, "no attempt after the cancel");
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.submitted, cpu.retries), (1, 0));
        Ok(())
    })
}

#[test]
fn a_retried_task_waiting_for_its_key_is_aborted_once_and_never_calls_its_work() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    watchdog(
        "abort a retried task waiting for its key",
        move || -> TestResult {
            let (started, has_started) = mpsc::channel();
            let (release, released) = mpsc::channel::<()>();
            let holder = mgr.task("holder").key("customer-7").run_cpu(move || {
                started.send(()).ok();
                released.recv().ok();
            });
            has_started.recv_timeout(EVENTUALLY)?;
            let calls = Calls::default();
            let upload = calls.clone();
            let waiting = mgr
                .task("waiting-upload")
                .key("customer-7")
                .retry(quick(3)?)
                .try_run_cpu(move || {
                    upload.next();
                    Err::<(), _>("503")
                });
            assert_eq!(mgr.abort_pending(), 1, "the waiting task, once");
            assert_eq!(waiting.wait(), Err(TaskError::Cancelled));
            release.send(())?;
            assert_eq!(holder.wait(), Ok(()));
            assert_eq!(calls.get(), 0, "its work never ran");
            let cpu = counts(&mgr, RouteKind::Cpu);
            assert_eq!((cpu.submitted, cpu.cancelled, cpu.succeeded), (2, 1, 1));
            Ok(())
        },
    )
}

#[test]
fn shutdown_during_the_first_attempt_lets_it_answer_and_starts_no_retry() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    watchdog("shutdown in the first attempt", move || -> TestResult {
        let calls = Calls::default();
        let (started, has_started) = mpsc::channel();
        let (fail, failing) = mpsc::channel::<()>();
        // A retried task's work is an `Fn` shared by its attempts: `Sync`.
        let failing = Mutex::new(failing);
        let upload = calls.clone();
        let handle = mgr
            .task("stopped-upload")
            .retry(quick(5)?)
            .try_run_cpu(move || {
                upload.next();
                started.send(()).ok();
                if let Ok(failing) = failing.lock() {
                    failing.recv().ok();
                }
                Err::<(), _>("503")
            });
        has_started.recv_timeout(EVENTUALLY)?;
        // Shutdown begins while the first attempt runs; the attempt then fails.
        let stopping = std::thread::scope(|scope| {
            let stopping = scope.spawn(|| mgr.shutdown(Duration::from_secs(10)));
            eventually("shutdown has begun", || mgr.is_shutting_down());
            fail.send(()).ok();
            stopping.join()
        });
        let report = stopping.map_err(|_| "shutdown panicked")?;
        assert!(report.drained, "{report:?}");
        assert_eq!(handle.wait(), Err(TaskError::Failed("503")));
        assert_eq!(calls.get(), 1, "no retry begins once shutdown has");
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.submitted, cpu.failed, cpu.retries), (1, 1, 0));
        Ok(())
    })
}

#[test]
fn the_work_and_its_captures_are_dropped_once_the_task_is_done() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    watchdog("the work is dropped", move || -> TestResult {
        let captured = Arc::new(());
        let held = captured.clone();
        let calls = Calls::default();
        let upload = calls.clone();
        let handle = mgr
            .task("flaky-upload")
            .retry(quick(3)?)
            .try_run_cpu(move || {
                let _keep = &held;
                if upload.next() < 3 {
                    Err("503")
                } else {
                    Ok("stored")
                }
            });
        assert_eq!(handle.wait(), Ok("stored"));
        assert_eq!(calls.get(), 3);
        eventually("the work's captures are dropped", || {
            Arc::strong_count(&captured) == 1
        });
        Ok(())
    })
}
