//! Per-key ordering of tasks (`mgr.task(..).key(k)`): order within a key, no overlap
//! within a key, keys in parallel, strict mode, cancelling the rest of a key after a
//! failure, cancellation and abort of waiting tasks, and timeouts that do not let the
//! next task of a key overlap a body still running.

mod common;

use common::{TestResult, watchdog};
use sluice::{ConcurrencyManager, KeyOrder, OnKeyFailure, TaskError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One task body's report: (key, index in key, start, end).
type Run = (usize, usize, Instant, Instant);
/// What the task bodies report.
type Log = Arc<Mutex<Vec<Run>>>;
/// A test's own result type.
type Fallible<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A tiny xorshift, so durations are random but reproducible.
fn durations(seed: u64, n: usize) -> Vec<Duration> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_micros(x % 2_000)
        })
        .collect()
}

fn run_keyed(order: KeyOrder) -> Fallible<Vec<Run>> {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(8)
        .cpu_limit(8)
        .key_order(order)
        .build()?;
    let log: Log = Arc::default();
    let times = durations(0x5eed, 500);
    let mut handles = Vec::new();
    for i in 0..50 {
        for key in 0..10 {
            let (log, pause) = (log.clone(), times[i * 10 + key]);
            handles.push(mgr.task("step").key(format!("key-{key}")).run_cpu(move || {
                let start = Instant::now();
                std::thread::sleep(pause);
                log.lock()
                    .expect("log")
                    .push((key, i, start, Instant::now()));
            }));
        }
    }
    for handle in handles {
        handle.wait()?;
    }
    let entries = log.lock().map_err(|_| "log poisoned")?.clone();
    Ok(entries)
}

#[test]
fn ten_keys_of_fifty_tasks_keep_their_order_and_never_overlap() -> TestResult {
    watchdog("per-key order", || -> TestResult {
        let log = run_keyed(KeyOrder::PerKey)?;
        assert_eq!(log.len(), 500, "every task ran exactly once");
        let mut by_key: HashMap<usize, Vec<(usize, Instant, Instant)>> = HashMap::new();
        for (key, i, start, end) in &log {
            by_key.entry(*key).or_default().push((*i, *start, *end));
        }
        for (key, mut runs) in by_key {
            runs.sort_by_key(|(_, start, _)| *start);
            let order: Vec<usize> = runs.iter().map(|(i, _, _)| *i).collect();
            assert_eq!(
                order,
                (0..50).collect::<Vec<_>>(),
                "key {key} ran out of order"
            );
            assert!(
                runs.windows(2).all(|w| w[0].2 <= w[1].1),
                "two tasks of key {key} overlapped"
            );
        }
        // Keys ran in parallel: some tasks of different keys overlapped.
        let overlaps = log
            .iter()
            .filter(|a| log.iter().any(|b| a.0 != b.0 && a.2 < b.3 && b.2 < a.3))
            .count();
        assert!(overlaps > 0, "different keys never ran at the same time");
        Ok(())
    })
}

#[test]
fn strict_order_runs_one_keyed_task_at_a_time_in_submission_order() -> TestResult {
    watchdog("strict order", || -> TestResult {
        let mut log = run_keyed(KeyOrder::Strict)?;
        log.sort_by_key(|(_, _, start, _)| *start);
        assert!(
            log.windows(2).all(|w| w[0].3 <= w[1].2),
            "strict mode overlapped"
        );
        let submitted: Vec<(usize, usize)> =
            (0..50).flat_map(|i| (0..10).map(move |k| (k, i))).collect();
        let ran: Vec<(usize, usize)> = log.iter().map(|(k, i, _, _)| (*k, *i)).collect();
        assert_eq!(ran, submitted, "strict mode keeps global submission order");
        Ok(())
    })
}

#[test]
fn a_final_failure_can_cancel_the_rest_of_its_key() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    watchdog("cancel rest", move || -> TestResult {
        let ran = Arc::new(AtomicUsize::new(0));
        let (release, released) = mpsc::channel::<()>();
        let first = mgr
            .task("load")
            .key("file-7")
            .run_cpu(move || released.recv().is_ok());
        let failing = mgr
            .task("parse")
            .key("file-7")
            .on_key_failure(OnKeyFailure::CancelRest)
            .try_run_cpu(|| Err::<(), _>("corrupt header"));
        let behind: Vec<_> = (0..3)
            .map(|_| {
                let ran = ran.clone();
                mgr.task("index")
                    .key("file-7")
                    .run_cpu(move || ran.fetch_add(1, Ordering::SeqCst))
            })
            .collect();
        let other_key = mgr.task("index").key("file-8").run_cpu(|| "ok");
        release.send(())?;
        assert!(first.wait()?);
        assert!(matches!(failing.wait(), Err(TaskError::Failed(_))));
        for task in behind {
            assert_eq!(task.wait(), Err(TaskError::Cancelled));
        }
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "the rest of the key never ran"
        );
        assert_eq!(other_key.wait()?, "ok", "other keys go on");
        // The key is usable again afterwards.
        assert_eq!(mgr.task("again").key("file-7").run_cpu(|| 1).wait()?, 1);
        let total = mgr.snapshot().total();
        assert_eq!(total.submitted, total.ended());
        Ok(())
    })
}

#[test]
fn a_waiting_keyed_task_can_be_cancelled_or_aborted() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    watchdog("keyed cancel", move || -> TestResult {
        let (release, released) = mpsc::channel::<()>();
        let head = mgr
            .task("head")
            .key("k")
            .run_cpu(move || released.recv().is_ok());
        let cancelled = mgr.task("second").key("k").run_cpu(|| 2);
        let third = mgr.task("third").key("k").run_io(async { 3 });
        assert!(cancelled.cancel());
        assert_eq!(cancelled.wait(), Err(TaskError::Cancelled));
        let aborted_later = mgr.task("fourth").key("k").run_cpu(|| 4);
        release.send(())?;
        assert!(head.wait()?);
        assert_eq!(third.wait()?, 3, "the key went on past the cancelled task");
        assert_eq!(aborted_later.wait()?, 4);

        // A fresh key: the turn of "k" passes on only after its last body returned, a
        // moment after that task answered, so a new task of "k" may still wait for it.
        let (release, released) = mpsc::channel::<()>();
        let (started, has_started) = mpsc::channel::<()>();
        let head = mgr.task("head").key("k2").run_cpu(move || {
            let _ = started.send(());
            released.recv().is_ok()
        });
        // Running, not waiting for admission: abort_pending must not count it.
        has_started.recv_timeout(Duration::from_secs(10))?;
        let waiting: Vec<_> = (0..4)
            .map(|i| mgr.task("w").key("k2").run_cpu(move || i))
            .collect();
        assert_eq!(mgr.abort_pending(), 4, "the four waiting for the key");
        for task in waiting {
            assert_eq!(task.wait(), Err(TaskError::Cancelled));
        }
        release.send(())?;
        assert!(head.wait()?);
        Ok(())
    })
}

#[test]
fn a_timed_out_task_keeps_its_key_until_its_body_ends() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
    watchdog("keyed timeout", move || -> TestResult {
        let (release, released) = mpsc::channel::<()>();
        let body_done = Arc::new(AtomicUsize::new(0));
        let done = body_done.clone();
        let slow = mgr
            .task("slow")
            .key("k")
            .timeout(Duration::from_millis(20))
            .run_cpu(move || {
                let _ = released.recv();
                done.store(1, Ordering::SeqCst);
            });
        let seen = body_done.clone();
        let next = mgr
            .task("next")
            .key("k")
            .run_cpu(move || seen.load(Ordering::SeqCst));
        assert_eq!(slow.wait(), Err(TaskError::TimedOut));
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            !next.is_finished(),
            "the next task of the key started while the body ran"
        );
        release.send(())?;
        assert_eq!(next.wait()?, 1, "it ran after the timed-out body ended");
        Ok(())
    })
}
