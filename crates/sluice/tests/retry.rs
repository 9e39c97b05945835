//! Retried tasks (`mgr.task(..).retry(..)`), whole-task deadlines (`.deadline(..)`) and
//! per-key breakers, on the real pools: a seeded task waits at least the delays
//! `Backoff::delays` replays; attempts stop at `max_attempts`, at `retry_if`'s verdict,
//! at the name's retry budget, at an open breaker, at `max_elapsed` and at the deadline;
//! a task pausing between attempts answers a cancel, `abort_pending` or shutdown at
//! once, even at the instant it decides to retry; a task answered at its deadline never
//! runs afterwards; a retried task is counted once, with its retries beside it, and
//! keeps its key's turn from its first attempt to the end of its last body.

mod common;

use common::{Calls, EVENTUALLY, TestResult, counts, eventually, watchdog};
use sluice::retry::{Backoff, BudgetConfig, Jitter, Retry, RetryConfigError};
use sluice::{
    BreakerConfig, ConcurrencyManager, ManualClock, OnKeyFailure, RouteKind, TaskError, TaskHandle,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

/// A helper's own result type.
type Fallible<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// What any answer that should come "at once" may take on a slow, shared machine.
const SLACK: Duration = Duration::from_secs(2);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `attempts` in all, 1 ms apart, no budget: attempts stop only where a test says.
fn quick(attempts: u32) -> Result<Retry, RetryConfigError> {
    Retry::builder()
        .max_attempts(attempts)
        .backoff(Backoff::exponential(ms(1)).jitter(Jitter::None))
        .no_budget()
        .build()
}

/// One retry, a minute after the first attempt fails: a failed task stays in its pause
/// until something ends it.
fn a_minute_apart() -> Result<Retry, RetryConfigError> {
    Retry::builder()
        .max_attempts(2)
        .backoff(Backoff::exponential(Duration::from_secs(60)).jitter(Jitter::None))
        .no_budget()
        .build()
}

// ---- attempts and their pauses ----

#[test]
fn a_seeded_task_waits_at_least_the_delays_its_seed_replays() -> TestResult {
    const SEED: u64 = 0x5eed;
    let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
    watchdog("seeded backoff", move || -> TestResult {
        for jitter in [Jitter::Full, Jitter::Equal] {
            let backoff = Backoff::exponential(ms(40)).jitter(jitter);
            let first: Vec<_> = backoff.delays(SEED).take(8).collect();
            assert_eq!(first, backoff.delays(SEED).take(8).collect::<Vec<_>>());
            assert_ne!(first, backoff.delays(SEED + 1).take(8).collect::<Vec<_>>());

            let retry = Retry::builder()
                .max_attempts(4)
                .backoff(backoff)
                .seed(SEED)
                .no_budget()
                .build()?;
            // Two tasks of one policy: the first draws its delays from SEED, the second
            // from SEED + 1.
            let tasks: Vec<_> = (0..2)
                .map(|_| {
                    let starts = Arc::new(Mutex::new(Vec::new()));
                    let log = starts.clone();
                    let handle = mgr
                        .task("seeded")
                        .retry(retry.clone())
                        .try_run_cpu(move || {
                            log.lock().expect("log").push(Instant::now());
                            Err::<(), _>("unavailable")
                        });
                    (handle, starts)
                })
                .collect();
            for (n, (handle, starts)) in (0u64..).zip(tasks) {
                assert_eq!(handle.wait(), Err(TaskError::Failed("unavailable")));
                let starts = starts.lock().map_err(|_| "log poisoned")?.clone();
                assert_eq!(starts.len(), 4, "{jitter:?}: max_attempts(4)");
                let replayed = backoff.delays(SEED + n);
                for (retry, (pair, delay)) in starts.windows(2).zip(replayed).enumerate() {
                    let gap = pair[1] - pair[0];
                    assert!(
                        gap >= delay && gap <= delay + SLACK,
                        "{jitter:?}, task {n}, retry {retry}: attempts {gap:?} apart, the seed says {delay:?}"
                    );
                }
            }
        }
        Ok(())
    })
}

#[test]
fn attempts_stop_at_max_attempts_and_the_task_answers_its_last_error() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    watchdog("max attempts", move || -> TestResult {
        let retry = quick(4)?;
        let failing = |calls: Calls| move || Err::<(), _>(format!("attempt {}", calls.next()));
        for route in [
            RouteKind::Cpu,
            RouteKind::Chunk,
            RouteKind::IoBlocking,
            RouteKind::Io,
        ] {
            let calls = Calls::default();
            let task = mgr.task("always-failing").retry(retry.clone());
            let handle: TaskHandle<(), String> = match route {
                RouteKind::Cpu => task.try_run_cpu(failing(calls.clone())),
                RouteKind::Chunk => task.try_run_chunk(failing(calls.clone())),
                RouteKind::IoBlocking => task.try_run_io_blocking(failing(calls.clone())),
                _ => {
                    let calls = calls.clone();
                    task.try_run_io(move || {
                        let n = calls.next();
                        async move { Err(format!("attempt {n}")) }
                    })
                }
            };
            assert_eq!(handle.wait(), Err(TaskError::Failed("attempt 4".into())));
            assert_eq!(calls.get(), 4, "{route}: called once per attempt");
            let c = counts(&mgr, route.clone());
            assert_eq!(
                (c.submitted, c.failed, c.retries),
                (1, 1, 3),
                "{route}: one failed task, three retries"
            );
            assert_eq!(c.submitted, c.ended(), "{route}");
        }
        Ok(())
    })
}

/// A service's errors: one worth retrying, one not.
#[derive(Debug, Clone, PartialEq)]
enum Fetch {
    Busy,
    NotFound,
}

#[test]
fn retry_if_decides_which_failures_are_tried_again() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    watchdog("retry_if", move || -> TestResult {
        let calls = Calls::default();
        let service = calls.clone();
        // Busy twice, then NotFound: the busy answers are retried, not found is final.
        let answer = mgr
            .task("fetch")
            .retry(quick(5)?)
            .retry_if(|error: &TaskError<Fetch>| matches!(error, TaskError::Failed(Fetch::Busy)))
            .try_run_io(move || {
                let n = service.next();
                async move {
                    if n < 3 {
                        Err::<(), _>(Fetch::Busy)
                    } else {
                        Err(Fetch::NotFound)
                    }
                }
            })
            .wait();
        assert_eq!(answer, Err(TaskError::Failed(Fetch::NotFound)));
        assert_eq!(calls.get(), 3, "never retried after not found");
        let io = counts(&mgr, RouteKind::Io);
        assert_eq!((io.submitted, io.failed, io.retries), (1, 1, 2));
        Ok(())
    })
}

#[test]
fn panics_are_final_unless_retry_if_accepts_them() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    watchdog("panics and retry", move || -> TestResult {
        let calls = Calls::default();
        let parser = calls.clone();
        let answer = mgr
            .task("parse")
            .retry(quick(3)?)
            .run_cpu(move || -> u32 {
                parser.next();
                panic!("corrupt page")
            })
            .wait();
        assert_eq!(answer, Err(TaskError::Panicked("corrupt page".into())));
        assert_eq!(calls.get(), 1, "a panic is not retried by default");

        let calls = Calls::default();
        let parser = calls.clone();
        let answer = mgr
            .task("parse")
            .retry(quick(3)?)
            .retry_if(|error: &TaskError| matches!(error, TaskError::Panicked(_)))
            .run_cpu(move || {
                let n = parser.next();
                if n < 3 {
                    panic!("flaky parser, call {n}");
                }
                n
            })
            .wait();
        assert_eq!(answer, Ok(3), "retried until it stopped panicking");
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!(
            (cpu.submitted, cpu.panicked, cpu.succeeded, cpu.retries),
            (2, 1, 1, 2)
        );
        Ok(())
    })
}

#[test]
fn a_spent_budget_stops_retries_across_the_tasks_of_a_name() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
    watchdog("retry budget", move || -> TestResult {
        // Two retries per window whatever the traffic, and none earned by calls.
        let retry = Retry::builder()
            .max_attempts(3)
            .backoff(Backoff::exponential(ms(1)).jitter(Jitter::None))
            .budget(BudgetConfig::new().ratio(0.0).min_per_window(2))
            .build()?;
        let calls = Calls::default();
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let calls = calls.clone();
                mgr.task("lookup")
                    .retry(retry.clone())
                    .try_run_cpu(move || Err::<(), _>(format!("down, call {}", calls.next())))
            })
            .collect();
        for task in tasks {
            assert!(matches!(task.wait(), Err(TaskError::Failed(_))));
        }
        assert_eq!(
            calls.get(),
            10 + 2,
            "ten first attempts, two retries in all"
        );
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.submitted, cpu.failed, cpu.retries), (10, 10, 2));

        // Another name has a budget of its own.
        let calls = Calls::default();
        let other = calls.clone();
        let answer = mgr
            .task("other-lookup")
            .retry(retry)
            .try_run_cpu(move || Err::<(), _>(format!("down, call {}", other.next())))
            .wait();
        assert_eq!(answer, Err(TaskError::Failed("down, call 3".into())));
        assert_eq!(counts(&mgr, RouteKind::Cpu).retries, 4);
        Ok(())
    })
}

#[test]
fn max_elapsed_stops_retries_that_would_start_too_late() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    watchdog("max elapsed", move || -> TestResult {
        // 100 ms apart, none later than 150 ms after the first: two attempts at most
        // on any machine, answered well before the attempts would run out.
        let retry = Retry::builder()
            .max_attempts(100)
            .backoff(
                Backoff::exponential(ms(100))
                    .max_delay(ms(100))
                    .jitter(Jitter::None),
            )
            .max_elapsed(ms(150))
            .no_budget()
            .build()?;
        let calls = Calls::default();
        let service = calls.clone();
        let began = Instant::now();
        let answer = mgr
            .task("poll")
            .retry(retry)
            .try_run_io(move || {
                let n = service.next();
                async move { Err::<(), _>(n) }
            })
            .wait();
        assert!(matches!(answer, Err(TaskError::Failed(n)) if n == calls.get()));
        assert!((1..=2).contains(&calls.get()), "{} calls", calls.get());
        assert!(began.elapsed() < ms(150) + SLACK);
        Ok(())
    })
}

#[test]
fn bad_retry_settings_are_named_in_the_error() {
    let error = Retry::builder().max_attempts(0).build().unwrap_err();
    assert_eq!(error, RetryConfigError::MaxAttempts(0));
    assert_eq!(
        error.to_string(),
        "retry.max_attempts = 0: must be at least 1"
    );

    let error = Retry::builder()
        .max_elapsed(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(error, RetryConfigError::MaxElapsed(Duration::ZERO));
    assert!(
        error.to_string().starts_with("retry.max_elapsed = "),
        "{error}"
    );

    let error = Retry::builder()
        .budget(BudgetConfig::new().ratio(-1.0))
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "retry_budget.ratio = -1: must be between 0 and 10"
    );
}

// ---- a task pausing between attempts ----

/// Submits a CPU task that fails and pauses a minute before its retry, and returns once
/// it is in that pause.
fn failing_then_pausing(
    mgr: &ConcurrencyManager,
    name: &str,
    calls: &Calls,
) -> Fallible<TaskHandle<(), &'static str>> {
    // The event a task logs when it decides to retry comes once its pause is armed.
    let (paused, go_on) = trap::next_retry_of(name);
    let upload = calls.clone();
    let handle = mgr
        .task(name)
        .retry(a_minute_apart()?)
        .try_run_cpu(move || {
            upload.next();
            Err("503")
        });
    paused.recv_timeout(EVENTUALLY)?;
    go_on.send(())?;
    Ok(handle)
}

#[test]
fn a_task_cancelled_in_its_pause_answers_cancelled_at_once() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    watchdog("cancel in backoff", move || -> TestResult {
        let calls = Calls::default();
        let upload = failing_then_pausing(&mgr, "cancelled-upload", &calls)?;
        let began = Instant::now();
        assert!(upload.cancel());
        assert_eq!(upload.wait(), Err(TaskError::Cancelled));
        assert!(began.elapsed() < SLACK, "answered {:?}", began.elapsed());
        assert_eq!(calls.get(), 1, "no attempt after the cancel");
        let cpu = counts(&mgr, RouteKind::Cpu);
        // A pause cut short is no retry: no attempt started again.
        assert_eq!((cpu.submitted, cpu.cancelled, cpu.retries), (1, 1, 0));
        Ok(())
    })
}

#[test]
fn abort_pending_ends_a_task_in_its_pause() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    watchdog("abort in backoff", move || -> TestResult {
        let calls = Calls::default();
        let upload = failing_then_pausing(&mgr, "aborted-pausing-upload", &calls)?;
        let began = Instant::now();
        assert!(mgr.abort_pending() >= 1);
        assert_eq!(upload.wait(), Err(TaskError::Cancelled));
        assert!(began.elapsed() < SLACK, "answered {:?}", began.elapsed());
        assert_eq!(calls.get(), 1);
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.submitted, cpu.cancelled), (1, 1));
        Ok(())
    })
}

#[test]
fn shutdown_answers_a_pausing_task_its_last_error_and_drains_at_once() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    watchdog("shutdown in backoff", move || -> TestResult {
        let calls = Calls::default();
        let upload = failing_then_pausing(&mgr, "stopped-pausing-upload", &calls)?;
        let report = mgr.shutdown(Duration::from_secs(10));
        assert!(report.drained, "{report:?}");
        assert!(report.elapsed < SLACK, "took {:?}", report.elapsed);
        assert_eq!(upload.wait(), Err(TaskError::Failed("503")));
        assert_eq!(calls.get(), 1, "no retry begins once shutdown has");
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.submitted, cpu.failed, cpu.cancelled), (1, 1, 0));
        Ok(())
    })
}

// ---- io attempts, and timed-out attempts ----

#[test]
fn a_flaky_io_service_is_retried_until_it_answers() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    watchdog("flaky io", move || -> TestResult {
        let calls = Calls::default();
        let service = calls.clone();
        let manifest = mgr
            .task("fetch-manifest")
            .retry(quick(5)?)
            .try_run_io(move || {
                let service = service.clone();
                async move {
                    let n = service.next();
                    tokio::time::sleep(ms(1)).await;
                    if n < 3 {
                        Err(format!("503 on call {n}"))
                    } else {
                        Ok(format!("manifest from call {n}"))
                    }
                }
            })
            .wait();
        assert_eq!(manifest, Ok("manifest from call 3".to_owned()));
        assert_eq!(calls.get(), 3);
        let io = counts(&mgr, RouteKind::Io);
        assert_eq!((io.submitted, io.succeeded, io.retries), (1, 1, 2));
        Ok(())
    })
}

/// Counts its drops: proves a future was dropped, not leaked.
struct DropCount(Arc<AtomicU32>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn each_io_attempt_is_dropped_at_its_timeout_and_the_last_answers_timed_out() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    watchdog("io timeout and retry", move || -> TestResult {
        let made = Calls::default();
        let dropped = Arc::new(AtomicU32::new(0));
        let (make, drops) = (made.clone(), dropped.clone());
        let answer = mgr
            .task("stuck-call")
            .timeout(ms(30))
            .retry(quick(3)?)
            .run_io(move || {
                make.next();
                let flag = DropCount(drops.clone());
                async move {
                    let _flag = flag;
                    std::future::pending::<()>().await;
                }
            })
            .wait();
        assert_eq!(answer, Err(TaskError::TimedOut));
        assert_eq!(made.get(), 3, "one future per attempt");
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            3,
            "each dropped at its timeout"
        );
        let io = counts(&mgr, RouteKind::Io);
        assert_eq!((io.submitted, io.timed_out, io.retries), (1, 1, 2));
        assert_eq!((io.running, io.abandoned), (0, 0));
        Ok(())
    })
}

#[test]
fn a_cpu_attempt_past_its_timeout_is_retried_and_abandoned_when_it_ends() -> TestResult {
    // The timed-out body keeps its slot until it ends: two slots, so the retry runs.
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .cpu_limit(2)
        .build()?;
    watchdog("cpu timeout and retry", move || -> TestResult {
        let (release, released) = mpsc::channel::<()>();
        let released = Mutex::new(released);
        let calls = Calls::default();
        let render = calls.clone();
        let thumbnail = mgr
            .task("thumbnail")
            .timeout(ms(50))
            .retry(quick(2)?)
            .run_cpu(move || {
                let n = render.next();
                if n == 1 {
                    // Stuck past its timeout until the test lets it go.
                    let stuck = released.lock().expect("one stuck attempt");
                    let _ = stuck.recv_timeout(EVENTUALLY);
                }
                n
            });
        assert_eq!(thumbnail.wait(), Ok(2), "answered by the second attempt");
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.succeeded, cpu.retries, cpu.timed_out), (1, 1, 0));
        assert_eq!(
            (cpu.running, cpu.abandoned),
            (1, 0),
            "the first body still runs"
        );

        release.send(())?;
        eventually("the first body ended and was abandoned", || {
            let cpu = counts(&mgr, RouteKind::Cpu);
            (cpu.running, cpu.abandoned) == (0, 1)
        });
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.submitted, cpu.succeeded), (1, 1));
        assert_eq!(cpu.submitted, cpu.ended());
        Ok(())
    })
}

// ---- keys ----

/// What the bodies of a keyed test did, in order.
type Events = Arc<Mutex<Vec<String>>>;

fn note(events: &Events, event: String) {
    events.lock().expect("events").push(event);
}

#[test]
fn the_next_task_of_a_key_waits_for_every_attempt_of_a_retried_one() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
    watchdog("key order with retries", move || -> TestResult {
        let events: Events = Arc::default();
        let calls = Calls::default();
        let (log, write) = (events.clone(), calls.clone());
        let a = mgr
            .task("write")
            .key("k")
            .retry(quick(3)?)
            .try_run_cpu(move || {
                let n = write.next();
                note(&log, format!("A{n} start"));
                std::thread::sleep(ms(5));
                note(&log, format!("A{n} end"));
                if n < 3 { Err("conflict") } else { Ok("A") }
            });
        let log = events.clone();
        let b = mgr
            .task("write")
            .key("k")
            .run_cpu(move || note(&log, "B start".into()));
        assert_eq!(a.wait(), Ok("A"));
        b.wait()?;
        let events = events.lock().map_err(|_| "events poisoned")?.clone();
        assert_eq!(
            events,
            [
                "A1 start", "A1 end", "A2 start", "A2 end", "A3 start", "A3 end", "B start"
            ]
        );
        Ok(())
    })
}

#[test]
fn a_timed_out_body_still_running_keeps_the_next_task_of_its_key_waiting() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(3)
        .cpu_limit(3)
        .build()?;
    watchdog(
        "key order with timed-out attempts",
        move || -> TestResult {
            let events: Events = Arc::default();
            let (release, released) = mpsc::channel::<()>();
            let released = Mutex::new(released);
            let calls = Calls::default();
            let (log, write) = (events.clone(), calls.clone());
            let a = mgr
                .task("write")
                .key("k")
                .timeout(ms(30))
                .retry(quick(2)?)
                .run_cpu(move || {
                    let n = write.next();
                    note(&log, format!("A{n} start"));
                    if n == 1 {
                        let stuck = released.lock().expect("one stuck attempt");
                        let _ = stuck.recv_timeout(EVENTUALLY);
                    }
                    note(&log, format!("A{n} end"));
                    n
                });
            let b_ran = Arc::new(AtomicBool::new(false));
            let (log, ran) = (events.clone(), b_ran.clone());
            let b = mgr.task("write").key("k").run_cpu(move || {
                ran.store(true, Ordering::SeqCst);
                note(&log, "B start".into());
            });
            assert_eq!(a.wait(), Ok(2));
            std::thread::sleep(ms(50));
            assert!(
                !b_ran.load(Ordering::SeqCst),
                "B started while A's first body still ran"
            );
            release.send(())?;
            b.wait()?;
            let events = events.lock().map_err(|_| "events poisoned")?.clone();
            assert_eq!(
                events,
                ["A1 start", "A2 start", "A2 end", "A1 end", "B start"]
            );
            Ok(())
        },
    )
}

#[test]
fn cancel_rest_follows_the_final_failure_not_a_retried_one() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
    watchdog("cancel rest with retries", move || -> TestResult {
        // A task of each key holds its key until released, so that the rest queue behind.
        let (release, released) = mpsc::channel::<()>();
        let released = Mutex::new(released);
        let first = mgr.task("open").key("file-7").run_cpu(move || {
            let released = released.lock().expect("one first task");
            released.recv_timeout(EVENTUALLY).is_ok()
        });

        // Fails on every attempt: the rest of file-7 is cancelled.
        let calls = Calls::default();
        let parse = calls.clone();
        let failing = mgr
            .task("parse")
            .key("file-7")
            .on_key_failure(OnKeyFailure::CancelRest)
            .retry(quick(3)?)
            .try_run_cpu(move || {
                parse.next();
                Err::<(), _>("corrupt header")
            });
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let behind = mgr
            .task("index")
            .key("file-7")
            .run_cpu(move || flag.store(true, Ordering::SeqCst));

        // Fails twice, then succeeds: the rest of file-8 runs.
        let recovering = mgr
            .task("parse")
            .key("file-8")
            .on_key_failure(OnKeyFailure::CancelRest)
            .retry(quick(3)?)
            .try_run_cpu({
                let calls = Calls::default();
                move || {
                    if calls.next() < 3 {
                        Err("busy")
                    } else {
                        Ok(())
                    }
                }
            });
        let after_recovery = mgr.task("index").key("file-8").run_cpu(|| "indexed");

        release.send(())?;
        assert!(first.wait()?);
        assert_eq!(failing.wait(), Err(TaskError::Failed("corrupt header")));
        assert_eq!(calls.get(), 3, "the key's failure is its last attempt's");
        assert_eq!(behind.wait(), Err(TaskError::Cancelled));
        assert!(!ran.load(Ordering::SeqCst), "the rest of the key never ran");
        assert_eq!(recovering.wait(), Ok(()));
        assert_eq!(after_recovery.wait(), Ok("indexed"));
        let total = mgr.snapshot().total();
        assert_eq!(total.submitted, total.ended());
        Ok(())
    })
}

// ---- breakers ----

#[test]
fn each_attempt_asks_the_breaker_and_none_runs_once_it_is_open() -> TestResult {
    let clock = Arc::new(ManualClock::new());
    let config = BreakerConfig::builder()
        .consecutive_failures(2)
        .recovery(Duration::from_secs(30))
        .build()?;
    let mgr = ConcurrencyManager::builder()
        .breaker("flaky-api", config)
        .breaker_clock(clock)
        .build()?;
    watchdog("breaker and retry", move || -> TestResult {
        // Rejections are retried too, but no sooner than the breaker's recovery, which
        // is past max_elapsed: the first rejection is final.
        let retry = Retry::builder()
            .max_attempts(5)
            .backoff(Backoff::exponential(ms(1)).jitter(Jitter::None))
            .max_elapsed(Duration::from_secs(1))
            .no_budget()
            .build()?;
        let calls = Calls::default();
        let call = calls.clone();
        let began = Instant::now();
        let answer = mgr
            .task("call")
            .breaker("flaky-api")
            .retry(retry)
            .retry_if(|error: &TaskError<&str>| {
                matches!(error, TaskError::Failed(_) | TaskError::Rejected { .. })
            })
            .try_run_cpu(move || {
                call.next();
                Err::<(), _>("503")
            })
            .wait();
        assert!(
            matches!(&answer, Err(TaskError::Rejected { breaker, .. }) if breaker == "flaky-api"),
            "{answer:?}"
        );
        assert!(began.elapsed() < SLACK);
        assert_eq!(calls.get(), 2, "no attempt ran once the breaker opened");
        let snapshot = mgr.snapshot();
        let breaker = snapshot.breaker("flaky-api").ok_or("breaker listed")?;
        assert_eq!(breaker.state, "open");
        assert_eq!(
            (breaker.calls, breaker.failures, breaker.rejections),
            (2, 2, 1)
        );
        let cpu = counts(&mgr, RouteKind::Cpu);
        // One retry ran (the second attempt); the third was refused before it began.
        assert_eq!(
            (cpu.submitted, cpu.rejected, cpu.failed, cpu.retries),
            (1, 1, 0, 1)
        );
        Ok(())
    })
}

#[test]
fn a_per_key_breaker_trips_for_its_own_key_only() -> TestResult {
    let config = BreakerConfig::builder()
        .consecutive_failures(2)
        .recovery(Duration::from_secs(30))
        .build()?;
    let mgr = ConcurrencyManager::builder()
        .breaker_per_key("crawl", config)
        .breaker_clock(Arc::new(ManualClock::new()))
        .build()?;
    watchdog("per-key breakers", move || -> TestResult {
        let fetch = |host: &str, up: bool| {
            mgr.task("fetch")
                .breaker("crawl")
                .key(host)
                .retry(quick(2).expect("a valid policy"))
                .try_run_io(move || async move {
                    if up {
                        Ok("page")
                    } else {
                        Err("connection refused")
                    }
                })
                .wait()
        };
        // Two failed attempts of one retried task trip down.example's breaker.
        assert_eq!(
            fetch("down.example", false),
            Err(TaskError::Failed("connection refused"))
        );
        assert!(matches!(
            fetch("down.example", true),
            Err(TaskError::Rejected { .. })
        ));
        assert_eq!(fetch("up.example", true), Ok("page"));

        let snapshot = mgr.snapshot();
        let state = |name: &str| snapshot.breaker(name).map(|b| b.state.clone());
        assert_eq!(state("crawl[down.example]").as_deref(), Some("open"));
        assert_eq!(state("crawl[up.example]").as_deref(), Some("closed"));
        assert_eq!(state("crawl"), None, "only per-key breakers were made");
        Ok(())
    })
}

// ---- whole-task deadlines ----

#[test]
fn an_io_future_that_never_answers_ends_at_the_task_deadline() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    watchdog("io deadline", move || -> TestResult {
        let began = Instant::now();
        let stuck = mgr
            .task("stuck-call")
            .deadline(ms(30))
            .run_io(std::future::pending::<()>());
        assert_eq!(stuck.wait(), Err(TaskError::TimedOut));
        assert!(began.elapsed() < ms(30) + SLACK);
        let io = counts(&mgr, RouteKind::Io);
        assert_eq!((io.submitted, io.timed_out), (1, 1));
        eventually("the dropped future left the route", || {
            counts(&mgr, RouteKind::Io).running == 0
        });
        Ok(())
    })
}

#[test]
fn a_queued_task_is_answered_at_its_deadline_and_never_runs() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .cpu_limit(1)
        .build()?;
    watchdog("deadline while queued", move || -> TestResult {
        let (started_tx, started) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let blocker = mgr.run_cpu(move || {
            let _ = started_tx.send(());
            released.recv_timeout(EVENTUALLY).is_ok()
        });
        started.recv_timeout(EVENTUALLY)?;

        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let late = mgr
            .task("report")
            .deadline(ms(30))
            .run_cpu(move || flag.store(true, Ordering::SeqCst));
        assert_eq!(late.wait(), Err(TaskError::TimedOut));
        assert!(
            !blocker.is_finished(),
            "answered while the gate was still full"
        );

        release.send(())?;
        assert!(blocker.wait()?);
        // One slot, handed out in order: this runs after anything queued before it.
        mgr.run_cpu(|| ()).wait()?;
        assert!(!ran.load(Ordering::SeqCst), "ran after its deadline");
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.submitted, cpu.succeeded, cpu.timed_out), (3, 2, 1));
        assert_eq!(cpu.submitted, cpu.ended());
        Ok(())
    })
}

/// A waker that runs `on_wake` (once) on the thread that wakes it: the thread that
/// answers the task, at the moment it answers.
struct OnWake(Mutex<Option<Box<dyn FnOnce() + Send>>>);

impl Wake for OnWake {
    fn wake(self: Arc<Self>) {
        let on_wake = self.0.lock().expect("on_wake").take();
        if let Some(on_wake) = on_wake {
            on_wake();
        }
    }
}

#[test]
fn a_queued_task_past_its_deadline_never_runs_even_if_its_caller_acts_at_once() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .cpu_limit(1)
        .build()?;
    watchdog(
        "deadline while queued, caller at once",
        move || -> TestResult {
            let (started_tx, started) = mpsc::channel();
            let (release, released) = mpsc::channel::<()>();
            let blocker = mgr.run_cpu(move || {
                let _ = started_tx.send(());
                released.recv_timeout(EVENTUALLY).is_ok()
            });
            started.recv_timeout(EVENTUALLY)?;

            let ran = Arc::new(AtomicBool::new(false));
            let flag = ran.clone();
            let mut late = mgr
                .task("report")
                .deadline(ms(30))
                .run_cpu(move || flag.store(true, Ordering::SeqCst));
            // The caller is an executor that, woken by the answer, frees the gate at once
            // (and gives the pool a moment to use it) before it even reads the answer.
            let flag = ran.clone();
            let waker = Waker::from(Arc::new(OnWake(Mutex::new(Some(Box::new(move || {
                let _ = release.send(());
                let until = Instant::now() + ms(200);
                while !flag.load(Ordering::SeqCst) && Instant::now() < until {
                    std::thread::sleep(ms(1));
                }
            }))))));
            let mut cx = Context::from_waker(&waker);
            assert!(Pin::new(&mut late).poll(&mut cx).is_pending());
            eventually("the deadline answered the task", || late.is_finished());
            assert_eq!(late.wait(), Err(TaskError::TimedOut));

            assert!(blocker.wait()?);
            mgr.run_cpu(|| ()).wait()?;
            assert!(
                !ran.load(Ordering::SeqCst),
                "ran after it was answered TimedOut"
            );
            Ok(())
        },
    )
}

#[test]
fn a_task_waiting_for_its_key_is_answered_at_its_deadline() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
    watchdog("deadline while waiting for a key", move || -> TestResult {
        let (release, released) = mpsc::channel::<()>();
        let first = mgr
            .task("append")
            .key("k")
            .run_cpu(move || released.recv_timeout(EVENTUALLY).is_ok());
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let late = mgr
            .task("append")
            .key("k")
            .deadline(ms(30))
            .run_cpu(move || flag.store(true, Ordering::SeqCst));
        assert_eq!(late.wait(), Err(TaskError::TimedOut));
        release.send(())?;
        assert!(first.wait()?);
        assert_eq!(mgr.task("append").key("k").run_cpu(|| 1).wait(), Ok(1));
        assert!(!ran.load(Ordering::SeqCst), "ran after its deadline");
        let total = mgr.snapshot().total();
        assert_eq!((total.submitted, total.timed_out), (3, 1));
        assert_eq!(total.submitted, total.ended());
        Ok(())
    })
}

#[test]
fn a_retried_task_answers_by_its_deadline_whatever_its_backoff() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    watchdog("deadline and retry", move || -> TestResult {
        let deadline = ms(200);
        // A pause that would end past the deadline is not taken: the last error now.
        let long = Retry::builder()
            .max_attempts(5)
            .backoff(Backoff::exponential(Duration::from_secs(10)).jitter(Jitter::None))
            .no_budget()
            .build()?;
        // Pauses that fit, growing until one does not (or an attempt is cut short).
        let growing = Retry::builder()
            .max_attempts(100)
            .backoff(Backoff::exponential(ms(10)).jitter(Jitter::None))
            .no_budget()
            .build()?;
        for (retry, most_calls) in [(long, 1), (growing, 100)] {
            let calls = Calls::default();
            let service = calls.clone();
            let began = Instant::now();
            let answer = mgr
                .task("sync")
                .deadline(deadline)
                .retry(retry)
                .try_run_io(move || {
                    service.next();
                    async { Err::<(), _>("503") }
                })
                .wait();
            let took = began.elapsed();
            assert!(
                matches!(answer, Err(TaskError::Failed("503") | TaskError::TimedOut)),
                "{answer:?}"
            );
            assert!(took < deadline + SLACK, "answered after {took:?}");
            assert!((1..=most_calls).contains(&calls.get()));
        }
        let io = counts(&mgr, RouteKind::Io);
        assert_eq!(io.submitted, 2);
        assert_eq!(io.failed + io.timed_out, 2, "each counted once");
        Ok(())
    })
}

#[test]
fn the_default_timeout_applies_to_plain_calls() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .default_timeout(ms(30))
        .build()?;
    watchdog("default timeout", move || -> TestResult {
        assert_eq!(
            mgr.run_io(std::future::pending::<()>()).wait(),
            Err(TaskError::TimedOut)
        );
        let spin = || {
            while !sluice::is_cancelled() {
                std::hint::spin_loop();
            }
        };
        assert_eq!(mgr.run_cpu(spin).wait(), Err(TaskError::TimedOut));
        // A task's own timeout wins over the default.
        let patient = mgr
            .task("patient")
            .timeout(Duration::from_secs(30))
            .run_io(async {
                tokio::time::sleep(ms(60)).await;
                "done"
            });
        assert_eq!(patient.wait(), Ok("done"));
        let total = mgr.snapshot().total();
        assert_eq!((total.timed_out, total.succeeded), (2, 1));
        Ok(())
    })
}

// ---- the moment between deciding to retry and pausing ----

mod trap {
    //! A tracing layer that holds a retried task at the event it logs when it decides
    //! to retry: its pause armed, before it checks whether an abort or shutdown swept
    //! the pauses meanwhile.

    use std::fmt;
    use std::sync::mpsc::{self, Receiver, Sender};
    use std::sync::{Mutex, Once};
    use std::time::Duration;
    use tracing::field::{Field, Visit};
    use tracing::{Event, Subscriber};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

    /// One task to catch: its name, who to tell, and what to wait for.
    type Armed = (String, Sender<()>, Receiver<()>);

    /// The tasks to catch.
    static ARMED: Mutex<Vec<Armed>> = Mutex::new(Vec::new());

    /// Catches the next retry decision of the task named `task`: the first channel
    /// says it was caught, the second lets it go on.
    pub fn next_retry_of(task: &str) -> (Receiver<()>, Sender<()>) {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            let _ =
                tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Trap));
        });
        let (caught_tx, caught) = mpsc::channel();
        let (release, released) = mpsc::channel();
        let mut armed = ARMED.lock().expect("trap");
        armed.push((task.to_owned(), caught_tx, released));
        (caught, release)
    }

    struct Trap;

    impl<S: Subscriber> Layer<S> for Trap {
        fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
            let mut fields = Fields::default();
            event.record(&mut fields);
            if fields.message != "attempt failed; retrying" {
                return;
            }
            let caught = {
                let mut armed = ARMED.lock().expect("trap");
                let at = armed
                    .iter()
                    .position(|(task, ..)| fields.task.as_deref() == Some(task.as_str()));
                at.map(|at| armed.swap_remove(at))
            };
            if let Some((_, caught, released)) = caught {
                let _ = caught.send(());
                let _ = released.recv_timeout(Duration::from_secs(10));
            }
        }
    }

    /// The two fields of the event the trap looks for.
    #[derive(Default)]
    struct Fields {
        message: String,
        task: Option<String>,
    }

    impl Visit for Fields {
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "task" {
                self.task = Some(value.to_owned());
            }
        }

        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            if field.name() == "message" {
                self.message = format!("{value:?}");
            }
        }
    }
}

/// Submits a task that fails, pauses a minute, and is caught by the trap after its
/// retry is counted and before its pause is armed. Lets it go on when `release` sends.
fn caught_deciding_to_retry(
    mgr: &ConcurrencyManager,
    name: &str,
    calls: &Calls,
) -> Fallible<(TaskHandle<(), &'static str>, mpsc::Sender<()>)> {
    let (caught, release) = trap::next_retry_of(name);
    let upload = calls.clone();
    let handle = mgr
        .task(name)
        .retry(a_minute_apart()?)
        .try_run_cpu(move || {
            upload.next();
            Err("503")
        });
    caught.recv_timeout(EVENTUALLY)?;
    Ok((handle, release))
}

#[test]
fn abort_pending_reaches_a_task_that_has_just_decided_to_retry() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
    watchdog("abort while arming a backoff", move || -> TestResult {
        let calls = Calls::default();
        let (upload, release) = caught_deciding_to_retry(&mgr, "aborted-upload", &calls)?;
        // Caught at its retry decision, its pause is armed: abort_pending must reach
        // it, whether it sweeps before or after the task re-checks the epoch.
        let aborted = mgr.abort_pending();
        release.send(())?;
        eventually(
            &format!("abort_pending() (which counted {aborted}) ended the pausing task"),
            || upload.is_finished(),
        );
        assert_eq!(upload.wait(), Err(TaskError::Cancelled));
        assert_eq!(calls.get(), 1);
        Ok(())
    })
}

#[test]
fn shutdown_reaches_a_task_that_has_just_decided_to_retry() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
    watchdog("shutdown while arming a backoff", move || -> TestResult {
        let calls = Calls::default();
        let (upload, release) = caught_deciding_to_retry(&mgr, "stopped-upload", &calls)?;
        let stopper = mgr.clone();
        let shutdown = std::thread::spawn(move || stopper.shutdown(Duration::from_secs(1)));
        eventually("shutdown began", || {
            mgr.run_cpu(|| ()).wait() == Err(TaskError::ShuttingDown)
        });
        // Shutdown cuts the pauses short right after it refuses new work.
        std::thread::sleep(ms(50));
        release.send(())?;
        let report = shutdown.join().map_err(|_| "shutdown panicked")?;
        let answer = upload.wait();
        assert!(
            report.drained,
            "not drained after {:?}; the task answered {answer:?}",
            report.elapsed
        );
        assert_eq!(answer, Err(TaskError::Failed("503")));
        assert_eq!(calls.get(), 1);
        Ok(())
    })
}

/// A retried keyed task handed its key's turn just as `abort_pending` ran was refused
/// at its start by the abort and then settled by nobody: never answered, and holding
/// the turn, so every later task of its key (of the manager, in strict order) waited
/// for ever (found by `cargo xtask stress`). Here the turn's hand-over races the abort
/// many times; every task must be answered.
#[test]
fn a_retried_task_refused_by_an_abort_as_its_turn_arrives_is_answered() -> TestResult {
    watchdog("abort races a turn", || -> TestResult {
        let mgr = ConcurrencyManager::builder()
            .key_order(sluice::KeyOrder::Strict)
            .cpu_threads(2)
            .build()?;
        let retry = quick(2)?;
        for _ in 0..3_000 {
            let (release, gate) = mpsc::channel::<()>();
            let (started_tx, started) = mpsc::channel::<()>();
            let first = mgr.task("append").key("k").run_cpu(move || {
                started_tx.send(()).ok();
                gate.recv().ok();
            });
            let second = mgr
                .task("append")
                .key("k")
                .retry(retry.clone())
                .run_cpu(|| ());
            started.recv()?;
            std::thread::scope(|s| {
                s.spawn(|| release.send(()));
                s.spawn(|| mgr.abort_pending());
            });
            first.wait()?;
            // Answered either way: run, or cancelled by the abort.
            let _ = second.wait();
            mgr.task("append").key("k").run_cpu(|| ()).wait()?;
        }
        Ok(())
    })
}
