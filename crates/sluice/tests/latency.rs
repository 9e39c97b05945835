//! Queue wait and run time per route: after a known run, exact counts and percentiles
//! that bracket what the run did (lower bounds from the sleeps; upper bounds generous).

mod common;

use common::{TestResult, watchdog};
use sluice::throttle::ThrottleConfig;
use sluice::{ConcurrencyManager, RouteKind};
use std::time::Duration;

#[test]
fn a_queue_of_sleeps_shows_in_queue_wait_and_run_time() -> TestResult {
    watchdog("latency after a known run", || {
        let mgr = ConcurrencyManager::builder()
            .cpu_limit(1)
            .throttle(ThrottleConfig::disabled())
            .build()?;
        let handles: Vec<_> = (0..20)
            .map(|i| {
                mgr.run_cpu(move || {
                    std::thread::sleep(Duration::from_millis(2));
                    i
                })
            })
            .collect();
        for (i, handle) in handles.into_iter().enumerate() {
            assert_eq!(handle.wait()?, i);
        }
        let cpu = mgr
            .snapshot()
            .route(&RouteKind::Cpu)
            .cloned()
            .ok_or("cpu")?;
        assert_eq!((cpu.queue_wait.count, cpu.run_time.count), (20, 20));
        // Every body slept 2 ms; one at a time, so the last waited for the 19 before it.
        assert!(cpu.run_time.p50_us >= 2_000.0, "{:?}", cpu.run_time);
        assert!(cpu.run_time.p50_us < 500_000.0, "{:?}", cpu.run_time);
        assert!(cpu.run_time.max_us >= cpu.run_time.p99_us);
        assert!(
            cpu.queue_wait.max_us >= 19.0 * 2_000.0,
            "{:?}",
            cpu.queue_wait
        );
        assert!(
            cpu.queue_wait.p50_us >= 8.0 * 2_000.0,
            "{:?}",
            cpu.queue_wait
        );
        let io = mgr.snapshot().route(&RouteKind::Io).cloned().ok_or("io")?;
        assert_eq!((io.queue_wait.count, io.run_time.count), (0, 0));
        assert!(mgr.snapshot().to_json().contains("\"p99_us\""));
        Ok(())
    })
}

#[test]
fn each_attempt_and_each_map_counts_once() -> TestResult {
    watchdog("attempts and maps", || {
        let mgr = ConcurrencyManager::builder().build()?;
        let retry = common::quick_retry(3)?;
        let calls = common::Calls::default();
        let seen = calls.clone();
        let flaky = mgr.task("flaky").retry(retry).try_run_io(move || {
            let call = seen.next();
            async move { if call < 3 { Err("503") } else { Ok(call) } }
        });
        assert_eq!(flaky.wait(), Ok(3));
        let squares = mgr.map_chunks(0..10_000u64, |x| x * x).wait()?;
        assert_eq!(squares.len(), 10_000);
        let snapshot = mgr.snapshot();
        let io = snapshot.route(&RouteKind::Io).ok_or("io")?;
        assert_eq!((io.queue_wait.count, io.run_time.count), (3, 3));
        let chunk = snapshot.route(&RouteKind::Chunk).ok_or("chunk")?;
        assert_eq!((chunk.queue_wait.count, chunk.run_time.count), (1, 1));
        Ok(())
    })
}

#[test]
fn a_retried_tasks_first_attempt_waits_for_its_key_in_queue_wait_as_a_plain_task_does() -> TestResult
{
    watchdog("a retried task's key wait", || {
        let mgr = ConcurrencyManager::builder()
            .cpu_threads(2)
            .throttle(ThrottleConfig::disabled())
            .build()?;
        // The first task holds the key until 50 ms after the second, retried, was
        // submitted behind it.
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = mgr
            .task("holder")
            .key("account-7")
            .run_cpu(move || released.recv().is_ok());
        let retried = mgr
            .task("retried")
            .key("account-7")
            .retry(common::quick_retry(3)?)
            .run_cpu(|| 7);
        std::thread::sleep(Duration::from_millis(50));
        release.send(())?;
        assert!(holder.wait()?);
        assert_eq!(retried.wait()?, 7);
        let cpu = mgr
            .snapshot()
            .route(&RouteKind::Cpu)
            .cloned()
            .ok_or("cpu")?;
        assert_eq!(cpu.queue_wait.count, 2);
        // Its queue wait runs from its submission, as a plain keyed task's does: the
        // 50 ms its key was held are in it.
        assert!(cpu.queue_wait.max_us >= 45_000.0, "{:?}", cpu.queue_wait);
        Ok(())
    })
}
