//! A retried task's record and counters, one definition each: `attempts` counts the
//! bodies that started, `queue_wait` runs from submission to the first body's start,
//! `run_time` from there to the answer, and the route's `retries` counts the attempts
//! that started after the first — so records and counters always agree.

mod common;

use common::{Calls, TestResult, counts, quick_retry, watchdog};
use sluice::retry::{Backoff, Retry};
use sluice::{ConcurrencyManager, Outcome, RouteKind, TaskError, TaskRecord};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// Records as a sink collected them.
type Records = Arc<Mutex<Vec<TaskRecord>>>;

fn recording(cpu_limit: usize) -> Result<(ConcurrencyManager, Records), sluice::BuildError> {
    let records = Records::default();
    let sink = records.clone();
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .cpu_limit(cpu_limit)
        .task_records(move |record| sink.lock().expect("not poisoned").push(record.clone()))
        .build()?;
    Ok((mgr, records))
}

fn record_of(records: &Records, name: &str) -> Result<TaskRecord, String> {
    let records = records.lock().expect("not poisoned");
    let found = records
        .iter()
        .find(|r| r.name.as_deref() == Some(name))
        .cloned();
    found.ok_or_else(|| format!("no record of {name}: {records:?}"))
}

#[test]
fn a_retried_task_records_its_wait_and_run_time() -> TestResult {
    let (mgr, records) = recording(2)?;
    watchdog("retried times", move || -> TestResult {
        let calls = Calls::default();
        let seen = calls.clone();
        let flaky = mgr
            .task("flaky")
            .retry(quick_retry(3)?)
            .try_run_cpu(move || {
                if seen.next() < 3 {
                    Err("503")
                } else {
                    Ok("done")
                }
            });
        assert_eq!(flaky.wait(), Ok("done"));
        let record = record_of(&records, "flaky")?;
        assert_eq!((record.attempts, record.outcome), (3, Outcome::Succeeded));
        let (wait, run) = (
            record.queue_wait.ok_or("queue wait")?,
            record.run_time.ok_or("run time")?,
        );
        assert!(wait + run <= record.total, "{record:?}");
        Ok(())
    })
}

#[test]
fn a_retried_task_cancelled_while_queued_made_no_attempt() -> TestResult {
    let (mgr, records) = recording(1)?;
    watchdog("cancelled while queued", move || -> TestResult {
        let (release, held) = mpsc::channel::<()>();
        let holder = mgr.run_cpu(move || held.recv().is_ok());
        let queued = mgr.task("queued").retry(quick_retry(3)?).run_cpu(|| 1);
        assert!(queued.cancel());
        release.send(())?;
        assert_eq!(holder.wait(), Ok(true));
        assert_eq!(queued.wait(), Err(TaskError::Cancelled));
        let record = record_of(&records, "queued")?;
        assert_eq!(
            (
                record.attempts,
                record.outcome,
                record.queue_wait,
                record.run_time
            ),
            (0, Outcome::Cancelled, None, None)
        );
        Ok(())
    })
}

#[test]
fn a_backoff_cancelled_before_the_next_attempt_is_no_retry() -> TestResult {
    let (mgr, records) = recording(2)?;
    watchdog("cancelled backoff", move || -> TestResult {
        let slow = Retry::builder()
            .max_attempts(3)
            .backoff(Backoff::exponential(Duration::from_secs(60)))
            .no_budget()
            .build()?;
        let calls = Calls::default();
        let seen = calls.clone();
        let pausing = mgr.task("pausing").retry(slow).try_run_cpu(move || {
            seen.next();
            Err::<(), _>("503")
        });
        common::eventually("the first attempt failed", || {
            calls.get() == 1 && counts(&mgr, RouteKind::Cpu).running == 0
        });
        assert!(pausing.cancel());
        assert_eq!(pausing.wait(), Err(TaskError::Cancelled));
        let record = record_of(&records, "pausing")?;
        assert_eq!((record.attempts, record.outcome), (1, Outcome::Cancelled));
        assert_eq!(
            counts(&mgr, RouteKind::Cpu).retries,
            0,
            "no attempt ran again"
        );
        Ok(())
    })
}

#[test]
fn records_and_counters_agree_on_retries() -> TestResult {
    let (mgr, records) = recording(2)?;
    watchdog("records against counters", move || -> TestResult {
        let handles: Vec<_> = (0..40u32)
            .map(|i| {
                let calls = Calls::default();
                mgr.task("mixed")
                    .retry(quick_retry(4).expect("valid"))
                    .try_run_cpu(move || {
                        if calls.next() <= i % 5 {
                            Err("503")
                        } else {
                            Ok(i)
                        }
                    })
            })
            .collect();
        for (i, handle) in handles.into_iter().enumerate() {
            if i % 3 == 0 {
                handle.cancel();
            }
            let _ = handle.wait();
        }
        let records = records.lock().expect("not poisoned").clone();
        assert_eq!(records.len(), 40);
        let retried: u64 = records
            .iter()
            .map(|r| u64::from(r.attempts.saturating_sub(1)))
            .sum();
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!(retried, cpu.retries, "{records:?}");
        for record in &records {
            assert_eq!(record.run_time.is_some(), record.attempts > 0, "{record:?}");
            assert_eq!(
                record.queue_wait.is_some(),
                record.attempts > 0,
                "{record:?}"
            );
        }
        Ok(())
    })
}
