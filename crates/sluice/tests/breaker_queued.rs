//! A breaker that opens while tasks wait: the queued tasks ask it again when they are
//! admitted, and are answered `Rejected` (counted as rejected) instead of running
//! against the service that just failed. Time is a `ManualClock`: no sleeps.

mod common;

use common::{Calls, TestResult, counts, watchdog};
use sluice::{BreakerConfig, ConcurrencyManager, ManualClock, RouteKind, TaskError};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

const RECOVERY: Duration = Duration::from_secs(30);

/// A breaker that opens after one failure and lets one probe through.
fn one_strike() -> Result<BreakerConfig, sluice::BreakerConfigError> {
    BreakerConfig::builder()
        .consecutive_failures(1)
        .recovery(RECOVERY)
        .half_open_probes(1)
        .build()
}

#[test]
fn io_calls_queued_behind_the_failure_that_opens_the_breaker_are_rejected() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .io_limit(1)
        .breaker("api", one_strike()?)
        .breaker_clock(Arc::new(ManualClock::new()))
        .build()?;
    watchdog("queued io calls", move || -> TestResult {
        let (fail_now, failing) = tokio::sync::oneshot::channel::<()>();
        let first = mgr.task("fetch").breaker("api").try_run_io(async move {
            let _ = failing.await;
            Err::<(), _>("503")
        });
        let calls = Calls::default();
        let queued: Vec<_> = (0..9)
            .map(|_| {
                let calls = calls.clone();
                mgr.task("fetch")
                    .breaker("api")
                    .try_run_io(async move { Ok::<_, &str>(calls.next()) })
            })
            .collect();
        fail_now
            .send(())
            .map_err(|()| "the first call is waiting")?;
        assert_eq!(first.wait(), Err(TaskError::Failed("503")));
        for handle in queued {
            let answer = handle.wait();
            assert!(
                matches!(&answer, Err(TaskError::Rejected { breaker, .. }) if breaker == "api"),
                "{answer:?}"
            );
        }
        assert_eq!(calls.get(), 0, "no queued call reached the service");
        let io = counts(&mgr, RouteKind::Io);
        assert_eq!((io.submitted, io.failed, io.rejected), (10, 1, 9));
        assert_eq!(io.ended(), io.submitted);
        let view = mgr.snapshot();
        let api = view.breaker("api").ok_or("breaker listed")?;
        assert_eq!((api.state.as_str(), api.failures), ("open", 1));
        Ok(())
    })
}

#[test]
fn cpu_tasks_queued_behind_the_failure_are_rejected_and_release_their_slots() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .cpu_limit(1)
        .breaker("api", one_strike()?)
        .breaker_clock(Arc::new(ManualClock::new()))
        .build()?;
    watchdog("queued cpu tasks", move || -> TestResult {
        let (fail_now, failing) = mpsc::channel::<()>();
        let first = mgr.task("parse").breaker("api").try_run_cpu(move || {
            let _ = failing.recv();
            Err::<(), _>("corrupt")
        });
        let calls = Calls::default();
        let queued: Vec<_> = (0..5)
            .map(|_| {
                let calls = calls.clone();
                mgr.task("parse")
                    .breaker("api")
                    .run_cpu(move || calls.next())
            })
            .collect();
        fail_now.send(())?;
        assert_eq!(first.wait(), Err(TaskError::Failed("corrupt")));
        for handle in queued {
            assert!(matches!(handle.wait(), Err(TaskError::Rejected { .. })));
        }
        assert_eq!(calls.get(), 0);
        // Their slots went back: a task without the breaker still runs.
        assert_eq!(mgr.run_cpu(|| 7).wait(), Ok(7));
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.submitted, cpu.rejected, cpu.succeeded), (7, 5, 1));
        Ok(())
    })
}

#[test]
fn a_keyed_task_waiting_for_its_turn_is_rejected_once_its_breaker_opened() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .breaker("api", one_strike()?)
        .breaker_clock(Arc::new(ManualClock::new()))
        .build()?;
    watchdog("keyed turn", move || -> TestResult {
        let (fail_now, failing) = mpsc::channel::<()>();
        let first = mgr
            .task("write")
            .key("k")
            .breaker("api")
            .try_run_cpu(move || {
                let _ = failing.recv();
                Err::<(), _>("down")
            });
        let next = mgr.task("write").key("k").breaker("api").run_cpu(|| 1);
        fail_now.send(())?;
        assert!(first.wait().is_err());
        assert!(matches!(next.wait(), Err(TaskError::Rejected { .. })));
        // The key's turn was passed on: the key still runs work without the breaker.
        assert_eq!(mgr.task("write").key("k").run_cpu(|| 2).wait(), Ok(2));
        Ok(())
    })
}

#[test]
fn a_probe_admitted_at_submission_still_runs_as_the_probe() -> TestResult {
    let clock = Arc::new(ManualClock::new());
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .cpu_limit(1)
        .breaker("api", one_strike()?)
        .breaker_clock(clock.clone())
        .build()?;
    watchdog("queued probe", move || -> TestResult {
        let tripped = mgr
            .task("parse")
            .breaker("api")
            .try_run_cpu(|| Err::<(), _>("down"));
        assert!(tripped.wait().is_err());
        clock.advance(RECOVERY);
        // The only slot is held, so the probe waits at the gate with its probe slot.
        let (release, held) = mpsc::channel::<()>();
        let holder = mgr.run_cpu(move || held.recv().is_ok());
        let probe = mgr.task("parse").breaker("api").run_cpu(|| "probe");
        let extra = mgr.task("parse").breaker("api").run_cpu(|| "extra");
        assert!(
            matches!(extra.wait(), Err(TaskError::Rejected { retry_after, .. }) if retry_after == Duration::ZERO),
            "the one probe slot is taken"
        );
        release.send(())?;
        assert_eq!(holder.wait(), Ok(true));
        assert_eq!(probe.wait(), Ok("probe"));
        let view = mgr.snapshot();
        assert_eq!(
            view.breaker("api").map(|b| b.state.as_str()),
            Some("closed")
        );
        Ok(())
    })
}

#[test]
fn a_call_taken_while_closed_becomes_a_probe_if_the_breaker_reopened_meanwhile() -> TestResult {
    let clock = Arc::new(ManualClock::new());
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .cpu_limit(1)
        .breaker("api", one_strike()?)
        .breaker_clock(clock.clone())
        .build()?;
    watchdog("stale call", move || -> TestResult {
        let (release, held) = mpsc::channel::<()>();
        let holder = mgr.run_cpu(move || held.recv().is_ok());
        // Admitted by the closed breaker; waits for the cpu slot.
        let waiting = mgr.task("parse").breaker("api").run_cpu(|| "ran");
        // Meanwhile an io call fails and opens the breaker; its recovery time passes.
        let failed = mgr
            .task("fetch")
            .breaker("api")
            .try_run_io(async { Err::<(), _>("503") });
        assert!(failed.wait().is_err());
        clock.advance(RECOVERY);
        release.send(())?;
        assert_eq!(holder.wait(), Ok(true));
        // Asked again at admission, the waiting task got the half-open probe slot, and
        // its success closed the breaker.
        assert_eq!(waiting.wait(), Ok("ran"));
        let view = mgr.snapshot();
        let api = view.breaker("api").ok_or("listed")?;
        assert_eq!(api.state, "closed");
        assert_eq!(api.transitions, 3, "closed -> open -> half-open -> closed");
        Ok(())
    })
}

#[test]
fn a_retried_task_whose_attempt_waited_while_the_breaker_opened_is_rejected() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .cpu_limit(1)
        .breaker("api", one_strike()?)
        .breaker_clock(Arc::new(ManualClock::new()))
        .build()?;
    watchdog("queued attempt", move || -> TestResult {
        let (release, held) = mpsc::channel::<()>();
        let holder = mgr.run_cpu(move || held.recv().is_ok());
        let calls = Calls::default();
        let seen = calls.clone();
        // Its first attempt is admitted by the closed breaker and waits for the slot.
        let retried = mgr
            .task("parse")
            .breaker("api")
            .retry(common::quick_retry(3)?)
            .run_cpu(move || seen.next());
        let failed = mgr
            .task("fetch")
            .breaker("api")
            .try_run_io(async { Err::<(), _>("503") });
        assert!(failed.wait().is_err());
        release.send(())?;
        assert_eq!(holder.wait(), Ok(true));
        assert!(matches!(retried.wait(), Err(TaskError::Rejected { .. })));
        assert_eq!(calls.get(), 0, "no attempt ran");
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.submitted, cpu.rejected, cpu.retries), (2, 1, 0));
        Ok(())
    })
}

/// Panics when dropped (unless the thread is already panicking).
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("a capture panicked in its drop");
        }
    }
}

/// Found by the stress harness once panicking drops and the breaker's second look met:
/// work refused at its start is dropped unrun, and a capture that panics there must not
/// leave the task unanswered or its counts wrong.
#[test]
fn work_refused_at_its_start_is_settled_whatever_its_captures_do() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_limit(1)
        .io_limit(1)
        .breaker("api", one_strike()?)
        .breaker("io-api", one_strike()?)
        .breaker_clock(Arc::new(ManualClock::new()))
        .build()?;
    watchdog(
        "hostile captures refused at start",
        move || -> TestResult {
            // cpu: the failing task holds the one cpu slot; the hostile one waits behind it.
            let (fail_now, failing) = mpsc::channel::<()>();
            let first = mgr.task("render").breaker("api").try_run_cpu(move || {
                let _ = failing.recv();
                Err::<(), _>("503")
            });
            let bomb = Bomb;
            let queued = mgr.task("render").breaker("api").try_run_cpu(move || {
                let _keep = &bomb;
                Ok::<(), &str>(())
            });
            fail_now.send(())?;
            assert_eq!(first.wait(), Err(TaskError::Failed("503")));
            assert!(matches!(queued.wait(), Err(TaskError::Rejected { .. })));
            // io: the same with futures.
            let (fail_now, failing) = tokio::sync::oneshot::channel::<()>();
            let first = mgr.task("fetch").breaker("io-api").try_run_io(async move {
                let _ = failing.await;
                Err::<(), _>("503")
            });
            let bomb = Bomb;
            let queued = mgr.task("fetch").breaker("io-api").try_run_io(async move {
                let _keep = &bomb;
                Ok::<(), &str>(())
            });
            fail_now.send(()).map_err(|()| "the first call waits")?;
            assert_eq!(first.wait(), Err(TaskError::Failed("503")));
            assert!(matches!(queued.wait(), Err(TaskError::Rejected { .. })));
            let total = mgr.snapshot().total();
            assert_eq!(total.submitted, total.ended());
            assert_eq!(total.running, 0);
            Ok(())
        },
    )
}
