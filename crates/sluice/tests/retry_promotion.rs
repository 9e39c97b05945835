//! A retried CPU task starts as an ordinary task and makes its retry driver only when
//! a failure may be retried (issue 20): the edges of that hand-over. A cancel that
//! races the first failure is never lost (no attempt begins after a cancel was
//! accepted); a task refused by its breaker as it starts is answered once and passes
//! its key's turn on; and the task lets its work go once it is over, however it ends
//! (the first task and its driver hold each other until then).

mod common;

use common::{TestResult, counts, eventually, quick_retry, watchdog};
use sluice::retry::{Backoff, Jitter, Retry};
use sluice::{BreakerConfig, ConcurrencyManager, ManualClock, RouteKind, TaskError};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// One retry, a minute after the first attempt fails.
fn a_minute_apart() -> Result<Retry, sluice::retry::RetryConfigError> {
    Retry::builder()
        .max_attempts(2)
        .backoff(Backoff::exponential(Duration::from_secs(60)).jitter(Jitter::None))
        .no_budget()
        .build()
}

/// Waits until nothing but the test holds `work`: the task let its work go.
fn let_go(what: &str, work: &Arc<AtomicU32>) {
    eventually(what, || Arc::strong_count(work) == 1);
}

#[test]
fn a_retried_task_lets_its_work_go_however_it_ends() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
    watchdog("work let go", move || -> TestResult {
        // Never retried.
        let calls = Arc::new(AtomicU32::new(0));
        let work = calls.clone();
        let done = mgr
            .task("import")
            .retry(quick_retry(3)?)
            .run_cpu(move || work.fetch_add(1, Ordering::SeqCst));
        assert_eq!(done.wait(), Ok(0));
        let_go("a task that succeeded at once let its work go", &calls);

        // Retried once, then answered.
        let calls = Arc::new(AtomicU32::new(0));
        let work = calls.clone();
        let retried = mgr
            .task("import")
            .retry(quick_retry(3)?)
            .try_run_cpu(move || match work.fetch_add(1, Ordering::SeqCst) {
                0 => Err("busy"),
                n => Ok(n),
            });
        assert_eq!(retried.wait(), Ok(1));
        let_go("a task retried once let its work go", &calls);

        // Cancelled in its pause, its handle dropped first.
        let calls = Arc::new(AtomicU32::new(0));
        let work = calls.clone();
        let pausing = mgr
            .task("import")
            .retry(a_minute_apart()?)
            .try_run_cpu(move || {
                work.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>("busy")
            });
        eventually("the first attempt ran", || {
            calls.load(Ordering::SeqCst) == 1
        });
        assert!(pausing.cancel());
        // In its pause (or, if the cancel came as the attempt ended, not retried).
        let answer = pausing.wait();
        assert!(
            matches!(
                answer,
                Err(TaskError::Cancelled | TaskError::Failed("busy"))
            ),
            "{answer:?}"
        );
        let_go("a task cancelled in its pause let its work go", &calls);

        // Its handle dropped, its retries spent.
        let calls = Arc::new(AtomicU32::new(0));
        let work = calls.clone();
        drop(
            mgr.task("import")
                .retry(quick_retry(3)?)
                .try_run_cpu(move || {
                    work.fetch_add(1, Ordering::SeqCst);
                    Err::<(), _>("busy")
                }),
        );
        eventually("all three attempts ran", || {
            calls.load(Ordering::SeqCst) == 3
        });
        let_go("an unwatched task let its work go", &calls);
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.submitted, cpu.succeeded), (4, 2));
        assert_eq!(cpu.cancelled + cpu.failed, 2);
        assert_eq!(cpu.retries, 1 + 2);
        Ok(())
    })
}

#[test]
fn a_retried_task_whose_first_body_outlives_its_timeout_lets_its_work_go() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
    watchdog("timed-out body let go", move || -> TestResult {
        let (release, gate) = mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let calls = Arc::new(AtomicU32::new(0));
        let work = calls.clone();
        let handle = mgr
            .task("scan")
            .timeout(Duration::from_millis(20))
            .retry(quick_retry(2)?)
            .run_cpu(move || {
                if work.fetch_add(1, Ordering::SeqCst) == 0 {
                    // The first body runs on past its timeout until released.
                    let _ = gate.lock().map(|gate| gate.recv());
                    "late"
                } else {
                    "retried"
                }
            });
        assert_eq!(handle.wait(), Ok("retried"));
        release.send(())?;
        let_go(
            "the timed-out first body ended and the task let its work go",
            &calls,
        );
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.submitted, cpu.succeeded, cpu.retries), (1, 1, 1));
        eventually("the late body counted abandoned", || {
            counts(&mgr, RouteKind::Cpu).abandoned == 1
        });
        Ok(())
    })
}

/// A cancel and the first attempt's failure race many times: a cancel accepted
/// (`cancel()` true) is never lost between the failure and the driver it makes, so no
/// attempt that ignores nothing begins after it and answers `Ok`; every task is
/// answered and counted once.
#[test]
fn a_cancel_racing_the_first_failure_is_never_lost() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
    watchdog("cancel races the first failure", move || -> TestResult {
        let retry = Retry::builder()
            .max_attempts(2)
            .backoff(Backoff::exponential(Duration::ZERO))
            .no_budget()
            .build()?;
        let rounds = 2_000;
        for round in 0..rounds {
            let calls = Arc::new(AtomicU32::new(0));
            let work = calls.clone();
            let handle = mgr
                .task("upload")
                .retry(retry.clone())
                .try_run_cpu(move || {
                    if work.fetch_add(1, Ordering::SeqCst) == 0 {
                        // A little work, so that the cancel lands before, during or after.
                        for _ in 0..round % 200 {
                            std::hint::spin_loop();
                        }
                        Err("503")
                    } else if sluice::is_cancelled() {
                        Err("stopped")
                    } else {
                        Ok(())
                    }
                });
            let cancelled = handle.cancel();
            let answer = handle.wait();
            if cancelled {
                assert!(
                    answer.is_err(),
                    "round {round}: accepted a cancel, answered {answer:?}"
                );
            }
        }
        eventually("every task counted", || {
            let cpu = counts(&mgr, RouteKind::Cpu);
            cpu.submitted == rounds && cpu.ended() == rounds && cpu.running == 0
        });
        Ok(())
    })
}

#[test]
fn a_retried_task_refused_as_it_starts_is_answered_once_and_passes_its_turn_on() -> TestResult {
    let strike = BreakerConfig::builder()
        .consecutive_failures(1)
        .recovery(Duration::from_secs(30))
        .build()?;
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .breaker("api", strike)
        .breaker_clock(Arc::new(ManualClock::new()))
        .build()?;
    watchdog("refused as it starts", move || -> TestResult {
        let (fail_now, failing) = mpsc::channel::<()>();
        // Holds the key's turn until it fails, which opens the breaker.
        let first = mgr
            .task("sync")
            .key("account-7")
            .breaker("api")
            .try_run_cpu(move || {
                let _ = failing.recv();
                Err::<(), _>("corrupt")
            });
        let calls = Arc::new(AtomicU32::new(0));
        let work = calls.clone();
        let retried = mgr
            .task("sync")
            .key("account-7")
            .breaker("api")
            .retry(quick_retry(3)?)
            .try_run_cpu(move || {
                work.fetch_add(1, Ordering::SeqCst);
                Ok::<_, &str>(())
            });
        let after = mgr.task("sync").key("account-7").run_cpu(|| "next");
        fail_now.send(())?;
        assert_eq!(first.wait(), Err(TaskError::Failed("corrupt")));
        let answer = retried.wait();
        assert!(
            matches!(&answer, Err(TaskError::Rejected { breaker, .. }) if breaker == "api"),
            "{answer:?}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 0, "no attempt ran");
        assert_eq!(after.wait(), Ok("next"), "the key's next task ran");
        let_go("the refused task let its work go", &calls);
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!(
            (
                cpu.submitted,
                cpu.failed,
                cpu.rejected,
                cpu.succeeded,
                cpu.retries
            ),
            (3, 1, 1, 1, 0)
        );
        Ok(())
    })
}

#[test]
fn abort_pending_cancels_a_retried_task_still_queued_for_its_first_attempt() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .cpu_limit(1)
        .build()?;
    watchdog("abort a queued first attempt", move || -> TestResult {
        let (release, gate) = mpsc::channel::<()>();
        let (running, started) = mpsc::channel::<()>();
        // Holds the route's one slot, so the retried task waits at the gate.
        let busy = mgr.run_cpu(move || {
            running.send(()).ok();
            gate.recv().ok()
        });
        started.recv()?;
        let calls = Arc::new(AtomicU32::new(0));
        let work = calls.clone();
        let queued = mgr
            .task("import")
            .retry(quick_retry(3)?)
            .try_run_cpu(move || {
                work.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>("busy")
            });
        assert!(mgr.abort_pending() >= 1);
        assert_eq!(queued.wait(), Err(TaskError::Cancelled));
        release.send(())?;
        busy.wait()?;
        assert_eq!(calls.load(Ordering::SeqCst), 0, "it never ran");
        let_go("the aborted task let its work go", &calls);
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.submitted, cpu.cancelled, cpu.retries), (2, 1, 0));
        Ok(())
    })
}

#[test]
fn a_first_attempt_that_fails_after_shutdown_began_is_not_retried() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
    watchdog("fail after shutdown began", move || -> TestResult {
        let (fail_now, failing) = mpsc::channel::<()>();
        let (running, started) = mpsc::channel::<()>();
        let calls = Arc::new(AtomicU32::new(0));
        let work = calls.clone();
        let failing = Arc::new(Mutex::new(failing));
        let handle = mgr
            .task("import")
            .retry(quick_retry(3)?)
            .try_run_cpu(move || {
                if work.fetch_add(1, Ordering::SeqCst) == 0 {
                    running.send(()).ok();
                    let _ = failing.lock().map(|failing| failing.recv());
                }
                Err::<(), _>("busy")
            });
        started.recv()?;
        let stopper = mgr.clone();
        let shutdown = std::thread::spawn(move || stopper.shutdown(Duration::from_secs(10)));
        eventually("shutdown began", || {
            mgr.run_cpu(|| ()).wait() == Err(TaskError::ShuttingDown)
        });
        fail_now.send(())?;
        assert_eq!(handle.wait(), Err(TaskError::Failed("busy")));
        let report = shutdown.join().map_err(|_| "shutdown panicked")?;
        assert!(report.drained, "{report:?}");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "no retry begins once shutdown has"
        );
        let_go("the task let its work go", &calls);
        Ok(())
    })
}
