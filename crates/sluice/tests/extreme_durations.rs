//! Durations too long to add to `Instant::now()` (`Duration::MAX`, a configuration's
//! `"300000000000y"`): every setting that turns one into a point in time reads it as
//! "never" instead of panicking with `overflow when adding duration to instant`.

mod common;

use common::{TestResult, watchdog};
use sluice::config::Config;
use sluice::retry::{Backoff, Jitter, Retry};
use sluice::throttle::ThrottleConfig;
use sluice::{BreakerConfig, ConcurrencyManager, TaskError};
use std::time::Duration;

/// Longer than any `Instant` can be pushed forward.
const FOREVER: Duration = Duration::MAX;

fn small() -> sluice::ManagerBuilder {
    ConcurrencyManager::builder()
        .cpu_threads(1)
        .chunk_threads(1)
        .io_threads(1)
        .throttle(ThrottleConfig::disabled())
}

#[test]
fn shutdown_with_an_endless_timeout_waits_for_the_work_and_returns() -> TestResult {
    watchdog("shutdown(Duration::MAX)", || {
        let mgr = small().build()?;
        let work = mgr.run_cpu(|| 6 * 7);
        let report = mgr.shutdown(FOREVER);
        assert!(report.drained);
        assert_eq!(work.wait()?, 42);
        assert_eq!(mgr.run_cpu(|| 0).wait(), Err(TaskError::ShuttingDown));
        Ok(())
    })
}

#[test]
fn a_configured_shutdown_timeout_of_eons_is_accepted_and_works() -> TestResult {
    watchdog("[shutdown] timeout = 300000000000y", || {
        let config = Config::from_toml_str("[shutdown]\ntimeout = \"300000000000y\"")?;
        let mgr = config.builder()?.cpu_threads(1).build()?;
        let work = mgr.run_io(async { "done" });
        assert!(mgr.shutdown(config.shutdown.timeout).drained);
        assert_eq!(work.wait()?, "done");
        Ok(())
    })
}

#[test]
fn endless_attempt_timeouts_and_deadlines_never_fire() -> TestResult {
    watchdog("timeouts of Duration::MAX", || {
        let mgr = small().default_timeout(FOREVER).build()?;
        assert_eq!(mgr.run_cpu(|| 1).wait()?, 1);
        assert_eq!(
            mgr.task("t").timeout(FOREVER).run_io(async { 2 }).wait()?,
            2
        );
        assert_eq!(mgr.task("d").deadline(FOREVER).run_chunk(|| 3).wait()?, 3);
        let retry = Retry::builder()
            .max_attempts(2)
            .max_elapsed(FOREVER)
            .no_budget()
            .backoff(Backoff::exponential(Duration::from_millis(1)))
            .build()?;
        let tries = std::sync::atomic::AtomicU32::new(0);
        let tries = std::sync::Arc::new(tries);
        let seen = tries.clone();
        let answer = mgr
            .task("r")
            .timeout(FOREVER)
            .deadline(FOREVER)
            .retry(retry)
            .try_run_cpu(move || {
                if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    Err("first")
                } else {
                    Ok(4)
                }
            })
            .wait();
        assert_eq!(answer, Ok(4));
        mgr.shutdown(Duration::from_secs(5));
        Ok(())
    })
}

#[test]
fn an_endless_backoff_means_no_retry_and_the_failure_is_answered() -> TestResult {
    watchdog("backoff of Duration::MAX", || {
        let mgr = small().build()?;
        let retry = Retry::builder()
            .max_attempts(3)
            .no_budget()
            .backoff(
                Backoff::exponential(FOREVER)
                    .max_delay(FOREVER)
                    .jitter(Jitter::None),
            )
            .build()?;
        let answer = mgr
            .task("r")
            .retry(retry)
            .try_run_cpu(|| Err::<u8, _>("down"))
            .wait();
        assert!(matches!(answer, Err(TaskError::Failed(_))), "{answer:?}");
        mgr.shutdown(Duration::from_secs(5));
        Ok(())
    })
}

#[test]
fn an_endless_breaker_recovery_keeps_it_open() -> TestResult {
    watchdog("breaker recovery of Duration::MAX", || {
        let breaker = BreakerConfig::builder()
            .consecutive_failures(1)
            .recovery(FOREVER)
            .build()?;
        let mgr = small().breaker("api", breaker).build()?;
        let fail = mgr
            .task("t")
            .breaker("api")
            .try_run_cpu(|| Err::<u8, _>("down"));
        assert!(fail.wait().is_err());
        let refused = mgr.task("t").breaker("api").run_cpu(|| 1).wait();
        assert!(
            matches!(refused, Err(TaskError::Rejected { .. })),
            "{refused:?}"
        );
        mgr.shutdown(Duration::from_secs(5));
        Ok(())
    })
}

#[test]
fn endless_throttle_and_summary_intervals_build_and_stop() -> TestResult {
    watchdog("intervals of Duration::MAX", || {
        let mgr = small()
            .throttle(ThrottleConfig::new().interval(FOREVER))
            .summary_interval(FOREVER)
            .build()?;
        assert_eq!(mgr.run_cpu(|| 5).wait()?, 5);
        assert!(mgr.shutdown(Duration::from_secs(5)).drained);
        Ok(())
    })
}
