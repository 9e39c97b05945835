//! Circuit breakers on tasks (`mgr.task(..).breaker(name)`): every transition, rejected
//! calls answered at once and counted, probe leases given back by cancelled tasks, one
//! breaker shared by tasks of several routes. Time is a `ManualClock`: no sleeps.

mod common;

use common::{TestResult, watchdog};
use sluice::{BreakerConfig, BuildError, ConcurrencyManager, ManualClock, RouteKind, TaskError};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

const RECOVERY: Duration = Duration::from_secs(30);

fn manager(
    clock: &Arc<ManualClock>,
    failures: u32,
) -> Result<ConcurrencyManager, Box<dyn std::error::Error + Send + Sync>> {
    let config = BreakerConfig::builder()
        .consecutive_failures(failures)
        .recovery(RECOVERY)
        .half_open_probes(1)
        .build()?;
    Ok(ConcurrencyManager::builder()
        .cpu_threads(2)
        .breaker("pdf-api", config)
        .breaker_clock(clock.clone())
        .build()?)
}

fn failing_call(mgr: &ConcurrencyManager) -> Result<u32, TaskError<String>> {
    mgr.task("render")
        .breaker("pdf-api")
        .try_run_cpu(|| Err::<u32, _>("503".to_owned()))
        .wait()
}

#[test]
fn it_opens_rejects_probes_and_closes() -> TestResult {
    let clock = Arc::new(ManualClock::new());
    let mgr = manager(&clock, 3)?;
    watchdog("breaker transitions", move || -> TestResult {
        for _ in 0..3 {
            assert!(matches!(failing_call(&mgr), Err(TaskError::Failed(_))));
        }
        assert_eq!(
            mgr.snapshot().breaker("pdf-api").map(|b| b.state.as_str()),
            Some("open")
        );

        // Open: answered at once, the body never runs, counted as rejected.
        let (ran, never) = mpsc::channel::<()>();
        let rejected = mgr
            .task("render")
            .breaker("pdf-api")
            .run_cpu(move || ran.send(()).is_ok())
            .wait();
        assert!(
            matches!(&rejected, Err(TaskError::Rejected { breaker, retry_after }) if breaker == "pdf-api" && *retry_after == RECOVERY),
            "{rejected:?}"
        );
        assert!(never.try_recv().is_err(), "a rejected task never runs");

        // After the recovery time one probe goes through; its success closes the breaker.
        clock.advance(RECOVERY);
        let probe = mgr.task("render").breaker("pdf-api").run_cpu(|| 7).wait();
        assert_eq!(probe, Ok(7));
        let view = mgr.snapshot();
        let breaker = view.breaker("pdf-api").ok_or("breaker listed")?;
        assert_eq!(breaker.state, "closed");
        assert_eq!(
            breaker.transitions, 3,
            "closed -> open -> half-open -> closed"
        );
        assert_eq!(
            (breaker.calls, breaker.failures, breaker.rejections),
            (4, 3, 1)
        );

        let cpu = view
            .route(&RouteKind::Cpu)
            .map(|r| r.counters)
            .ok_or("cpu route")?;
        assert_eq!(
            (cpu.submitted, cpu.failed, cpu.rejected, cpu.succeeded),
            (5, 3, 1, 1)
        );
        assert_eq!(cpu.submitted, cpu.ended());
        Ok(())
    })
}

#[test]
fn a_failed_probe_reopens_it() -> TestResult {
    let clock = Arc::new(ManualClock::new());
    let mgr = manager(&clock, 1)?;
    watchdog("failed probe", move || -> TestResult {
        assert!(matches!(failing_call(&mgr), Err(TaskError::Failed(_))));
        clock.advance(RECOVERY);
        assert!(
            matches!(failing_call(&mgr), Err(TaskError::Failed(_))),
            "the probe ran and failed"
        );
        assert!(
            matches!(failing_call(&mgr), Err(TaskError::Rejected { .. })),
            "open again"
        );
        Ok(())
    })
}

#[test]
fn panics_and_timeouts_count_as_failures() -> TestResult {
    let clock = Arc::new(ManualClock::new());
    let mgr = manager(&clock, 2)?;
    watchdog("panics and timeouts", move || -> TestResult {
        let panicked = mgr
            .task("t")
            .breaker("pdf-api")
            .run_cpu(|| -> u32 { panic!("bad page") })
            .wait();
        assert!(matches!(panicked, Err(TaskError::Panicked(_))));
        let stuck = mgr
            .task("t")
            .breaker("pdf-api")
            .timeout(Duration::from_millis(20))
            .run_io(std::future::pending::<()>())
            .wait();
        assert_eq!(stuck, Err(TaskError::TimedOut));
        assert!(
            matches!(failing_call(&mgr), Err(TaskError::Rejected { .. })),
            "two failures opened it"
        );
        Ok(())
    })
}

#[test]
fn a_cancelled_probe_gives_its_lease_back() -> TestResult {
    let clock = Arc::new(ManualClock::new());
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .recovery(RECOVERY)
        .half_open_probes(1)
        .build()?;
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(1)
        .cpu_limit(1)
        .breaker("pdf-api", config)
        .breaker_clock(clock.clone())
        .build()?;
    watchdog("probe lease", move || -> TestResult {
        assert!(matches!(failing_call(&mgr), Err(TaskError::Failed(_))));
        clock.advance(RECOVERY);
        // Hold the only CPU slot so that the probe stays queued.
        let (release, released) = mpsc::channel::<()>();
        let blocker = mgr.run_cpu(move || released.recv().is_ok());
        let probe = mgr.task("probe").breaker("pdf-api").run_cpu(|| 1);
        assert!(
            matches!(failing_call(&mgr), Err(TaskError::Rejected { retry_after, .. }) if retry_after == Duration::ZERO),
            "the one probe slot is taken"
        );
        assert!(probe.cancel());
        assert_eq!(probe.wait(), Err(TaskError::Cancelled));
        release.send(())?;
        blocker.wait()?;
        // The cancelled probe's lease came back: a new probe is admitted and closes it.
        assert_eq!(
            mgr.task("probe").breaker("pdf-api").run_cpu(|| 2).wait(),
            Ok(2)
        );
        assert_eq!(
            mgr.snapshot().breaker("pdf-api").map(|b| b.state.as_str()),
            Some("closed")
        );
        Ok(())
    })
}

#[test]
fn one_breaker_guards_tasks_of_every_route() -> TestResult {
    let clock = Arc::new(ManualClock::new());
    let mgr = manager(&clock, 3)?;
    watchdog("shared breaker", move || -> TestResult {
        let io = mgr
            .task("a")
            .breaker("pdf-api")
            .try_run_io(async { Err::<(), _>("timeout") })
            .wait();
        let blocking = mgr
            .task("b")
            .breaker("pdf-api")
            .try_run_io_blocking(|| Err::<(), _>("refused"))
            .wait();
        let chunk = mgr
            .task("c")
            .breaker("pdf-api")
            .try_run_chunk(|| Err::<(), _>("bad"))
            .wait();
        assert!(
            [io, blocking, chunk]
                .iter()
                .all(|r| matches!(r, Err(TaskError::Failed(_))))
        );
        let io_rejected = mgr.task("d").breaker("pdf-api").run_io(async { 1 }).wait();
        assert!(matches!(io_rejected, Err(TaskError::Rejected { .. })));
        let io = mgr
            .snapshot()
            .route(&RouteKind::Io)
            .map(|r| r.counters)
            .ok_or("io route")?;
        assert_eq!((io.failed, io.rejected), (1, 1));
        Ok(())
    })
}

#[test]
fn unknown_and_duplicate_breakers_are_errors() -> TestResult {
    let clock = Arc::new(ManualClock::new());
    let mgr = manager(&clock, 3)?;
    let unknown = mgr.task("x").breaker("nope").run_cpu(|| 1).wait();
    assert_eq!(unknown, Err(TaskError::UnknownBreaker("nope".into())));
    assert_eq!(mgr.snapshot().total().submitted, 0, "nothing was submitted");

    let config = BreakerConfig::builder().consecutive_failures(1).build()?;
    let twice = ConcurrencyManager::builder()
        .breaker("db", config.clone())
        .breaker("db", config)
        .build()
        .expect_err("two breakers named db");
    assert!(matches!(&twice, BuildError::DuplicateBreaker(name) if name == "db"));
    assert_eq!(
        twice.to_string(),
        "circuit breaker name \"db\" is already taken"
    );
    Ok(())
}
