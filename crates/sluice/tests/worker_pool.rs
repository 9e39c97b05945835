//! The worker-pool scenario end to end: 300 io calls of 10 ms with at most 50
//! in flight, some failing once and retried, all answered with their value; and after
//! a run mixing every outcome on every route — values, errors, panics, timeouts,
//! deadlines, cancellations, breaker rejections, retries — each route's counters add
//! up, nothing is left pending or running, and shutdown drains at once.

mod common;

use common::{Calls, TestResult, counts, eventually, watchdog};
use sluice::retry::{Backoff, Jitter, Retry, RetryConfigError};
use sluice::{BreakerConfig, ConcurrencyManager, Counts, ManualClock, RouteKind, TaskError};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `attempts` in all, `pause` apart, no budget.
fn fixed(attempts: u32, pause: Duration) -> Result<Retry, RetryConfigError> {
    Retry::builder()
        .max_attempts(attempts)
        .backoff(
            Backoff::exponential(pause)
                .max_delay(pause)
                .jitter(Jitter::None),
        )
        .no_budget()
        .build()
}

#[test]
fn three_hundred_flaky_calls_with_fifty_in_flight_all_answer() -> TestResult {
    const TASKS: u32 = 300;
    let mgr = ConcurrencyManager::builder().io_limit(50).build()?;
    watchdog("worker pool", move || -> TestResult {
        let retry = fixed(3, ms(5))?;
        // Every 7th item's service fails its first call.
        let flaky = |item: u32| item.is_multiple_of(7);
        let began = Instant::now();
        let calls: Vec<Calls> = (0..TASKS).map(|_| Calls::default()).collect();
        let fetches: Vec<_> = (0..TASKS)
            .zip(&calls)
            .map(|(item, calls)| {
                let calls = calls.clone();
                mgr.task("fetch").retry(retry.clone()).try_run_io(move || {
                    let call = calls.next();
                    async move {
                        tokio::time::sleep(ms(10)).await;
                        if flaky(item) && call == 1 {
                            Err(format!("item {item}: 503"))
                        } else {
                            Ok(item)
                        }
                    }
                })
            })
            .collect();
        for (item, fetch) in (0..TASKS).zip(fetches) {
            assert_eq!(fetch.wait(), Ok(item));
        }
        let took = began.elapsed();

        for (item, calls) in (0..TASKS).zip(&calls) {
            let expected = if flaky(item) { 2 } else { 1 };
            assert_eq!(calls.get(), expected, "item {item}");
        }
        let retried = (0..TASKS).filter(|&item| flaky(item)).count() as u64;
        let io = counts(&mgr, RouteKind::Io);
        assert_eq!((io.submitted, io.succeeded), (300, 300));
        assert_eq!(io.retries, retried, "each flaky item retried once");
        assert!(
            (2..=50).contains(&io.high_water),
            "at most 50 in flight, and more than one: {}",
            io.high_water
        );
        assert_eq!(io.running, 0);
        assert!(took < Duration::from_secs(10), "took {took:?}");
        Ok(())
    })
}

/// A route's outcomes, in the order `submitted, succeeded, failed, panicked, cancelled,
/// timed_out, rejected, retries`.
fn outcomes(c: Counts) -> [u64; 8] {
    [
        c.submitted,
        c.succeeded,
        c.failed,
        c.panicked,
        c.cancelled,
        c.timed_out,
        c.rejected,
        c.retries,
    ]
}

#[test]
fn every_outcome_adds_up_after_a_mixed_run() -> TestResult {
    let breaker = BreakerConfig::builder()
        .consecutive_failures(1)
        .recovery(Duration::from_secs(30))
        .build()?;
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .breaker("search-api", breaker)
        .breaker_clock(Arc::new(ManualClock::new()))
        .build()?;
    watchdog("mixed run", move || -> TestResult {
        // Trip the breaker first: one failed io call.
        let tripped = mgr
            .task("search")
            .breaker("search-api")
            .try_run_io(async { Err::<(), _>("503") })
            .wait();
        assert_eq!(tripped, Err(TaskError::Failed("503")));

        let mut answers: Vec<Result<(), TaskError<String>>> = Vec::new();
        let mut pending = Vec::new();
        // cpu: 5 values, 3 errors after one retry each, 2 panics, 1 past its deadline.
        for i in 0..5u32 {
            pending.push(mgr.try_run_cpu(move || Ok(i)));
        }
        for _ in 0..3 {
            pending.push(
                mgr.task("parse")
                    .retry(fixed(2, ms(1))?)
                    .try_run_cpu(|| Err("corrupt".to_owned())),
            );
        }
        for _ in 0..2 {
            pending.push(mgr.try_run_cpu(|| -> Result<u32, String> { panic!("bad row") }));
        }
        pending.push(mgr.task("scan").deadline(ms(20)).try_run_cpu(|| {
            while !sluice::is_cancelled() {
                std::hint::spin_loop();
            }
            Ok(0)
        }));
        // chunk: 4 values, each after one failed attempt.
        for _ in 0..4 {
            let calls = Calls::default();
            pending.push(
                mgr.task("split")
                    .retry(fixed(2, ms(1))?)
                    .try_run_chunk(move || {
                        if calls.next() == 1 {
                            Err("busy".to_owned())
                        } else {
                            Ok(1)
                        }
                    }),
            );
        }
        // io: 2 values, 3 timeouts after one retry each, 3 breaker rejections.
        for i in 0..2u32 {
            pending.push(mgr.try_run_io(async move { Ok(i) }));
        }
        for _ in 0..3 {
            pending.push(
                mgr.task("hang")
                    .timeout(ms(20))
                    .retry(fixed(2, ms(1))?)
                    .try_run_io(std::future::pending::<Result<u32, String>>),
            );
        }
        for _ in 0..3 {
            pending.push(
                mgr.task("search")
                    .breaker("search-api")
                    .retry(fixed(3, ms(1))?)
                    .try_run_io(|| async { Ok(1) }),
            );
        }
        // io_blocking: 2 values, 1 cancelled while it pauses before its retry.
        for i in 0..2u32 {
            pending.push(mgr.try_run_io_blocking(move || Ok(i)));
        }
        // Asked whether to retry, the task decides under its lock, which a cancel then
        // waits for: once asked, a cancel finds it pausing.
        let (asked, deciding) = std::sync::mpsc::channel();
        let upload = mgr
            .task("upload")
            .retry(fixed(2, Duration::from_secs(60))?)
            .retry_if(move |_: &TaskError<String>| asked.send(()).is_ok())
            .try_run_io_blocking(|| Err::<u32, _>("503".to_owned()));
        deciding.recv()?;
        assert!(upload.cancel());
        pending.push(upload);

        for task in pending {
            answers.push(task.wait().map(drop));
        }
        let count = |want: fn(&Result<(), TaskError<String>>) -> bool| {
            answers.iter().filter(|&answer| want(answer)).count()
        };
        assert_eq!(count(|a| a.is_ok()), 5 + 4 + 2 + 2);
        assert_eq!(count(|a| matches!(a, Err(TaskError::Rejected { .. }))), 3);

        // A body's slot is given back just after it stops counting as running.
        eventually("no body is left running or holding a slot", || {
            let snapshot = mgr.snapshot();
            snapshot
                .routes
                .iter()
                .all(|route| (route.counters.running, route.queued, route.admitted) == (0, 0, 0))
        });
        for route in mgr.snapshot().routes {
            let c = route.counters;
            assert_eq!(
                c.submitted,
                c.ended(),
                "{}: every task ended once",
                route.route
            );
            assert_eq!(c.pending(), 0, "{}", route.route);
        }
        // submitted, succeeded, failed, panicked, cancelled, timed_out, rejected, retries
        let expected = [
            (RouteKind::Cpu, [11, 5, 3, 2, 0, 1, 0, 3]),
            (RouteKind::Chunk, [4, 4, 0, 0, 0, 0, 0, 4]),
            (RouteKind::Io, [9, 2, 1, 0, 0, 3, 3, 3]),
            // The upload's pause was cut short: no attempt started again, no retry.
            (RouteKind::IoBlocking, [3, 2, 0, 0, 1, 0, 0, 0]),
        ];
        for (route, want) in expected {
            assert_eq!(outcomes(counts(&mgr, route.clone())), want, "{route}");
        }

        let report = mgr.shutdown(Duration::from_secs(5));
        assert!(report.drained && report.unanswered == 0, "{report:?}");
        assert_eq!(mgr.run_cpu(|| 0).wait(), Err(TaskError::ShuttingDown));
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!(
            (cpu.submitted, cpu.rejected),
            (12, 1),
            "refused work counts too"
        );
        Ok(())
    })
}
