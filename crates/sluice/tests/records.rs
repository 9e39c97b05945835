//! Per-task records: exactly one per submitted task, whatever its outcome, with its
//! name, key, route, attempts and times as the task really went.

mod common;

use common::{TestResult, watchdog};
use sluice::{BreakerConfig, ConcurrencyManager, Outcome, RouteKind, TaskError, TaskRecord};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Records as a sink collected them.
type Records = Arc<Mutex<Vec<TaskRecord>>>;

/// A manager whose records land in the returned list.
fn recording(
    builder: sluice::ManagerBuilder,
) -> Result<(ConcurrencyManager, Records), sluice::BuildError> {
    let records = Arc::new(Mutex::new(Vec::new()));
    let sink = records.clone();
    let mgr = builder
        .task_records(move |record| sink.lock().expect("not poisoned").push(record.clone()))
        .build()?;
    Ok((mgr, records))
}

fn find(records: &[TaskRecord], name: &str) -> TaskRecord {
    records
        .iter()
        .find(|r| r.name.as_deref() == Some(name))
        .cloned()
        .unwrap_or_else(|| panic!("no record of {name}: {records:?}"))
}

#[test]
fn every_task_leaves_one_record_of_how_it_went() -> TestResult {
    watchdog("records", || {
        let breaker = BreakerConfig::builder().consecutive_failures(1).build()?;
        let (mgr, records) = recording(
            ConcurrencyManager::builder()
                .cpu_limit(1)
                .breaker("flaky-api", breaker),
        )?;
        mgr.task("parse").key("file-7").run_cpu(|| 1).wait()?;
        let failed = mgr.task("bad").try_run_chunk(|| Err::<(), _>("corrupt"));
        assert!(failed.wait().is_err());
        let slow = mgr
            .task("slow")
            .timeout(Duration::from_millis(5))
            .run_io(std::future::pending::<()>());
        assert_eq!(slow.wait(), Err(TaskError::TimedOut));
        let retry = common::quick_retry(3)?;
        let calls = common::Calls::default();
        let seen = calls.clone();
        let retried = mgr.task("retried").retry(retry).try_run_io(move || {
            let call = seen.next();
            async move { if call < 3 { Err("503") } else { Ok(call) } }
        });
        assert_eq!(retried.wait(), Ok(3));
        // The only CPU slot is taken, so this one waits, and is cancelled waiting.
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let holder = mgr.task("holder").run_cpu(move || blocked.recv().ok());
        let waiting = mgr.task("waiting").run_cpu(|| 2);
        assert!(waiting.cancel());
        release.send(())?;
        holder.wait()?;
        // A breaker opened by one failure rejects the next call.
        let tripped = mgr
            .task("trip")
            .breaker("flaky-api")
            .try_run_cpu(|| Err::<(), _>("down"));
        assert!(tripped.wait().is_err());
        let rejected = mgr.task("rejected").breaker("flaky-api").run_cpu(|| 3);
        assert!(matches!(rejected.wait(), Err(TaskError::Rejected { .. })));
        mgr.task("lengths").map_cpu(0..100u32, |x| x + 1).wait()?;

        let records = records.lock().expect("not poisoned").clone();
        let total = mgr.snapshot().total();
        assert_eq!(records.len() as u64, total.submitted, "one record per task");
        let mut ids: Vec<u64> = records.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), records.len(), "ids are unique");

        let parse = find(&records, "parse");
        assert_eq!(
            (parse.key.as_deref(), &parse.route),
            (Some("file-7"), &RouteKind::Cpu)
        );
        assert_eq!((parse.attempts, parse.outcome), (1, Outcome::Succeeded));
        assert!(parse.queue_wait.is_some() && parse.run_time.is_some());
        assert!(parse.total >= parse.run_time.unwrap_or_default());
        assert_eq!(find(&records, "bad").outcome, Outcome::Failed);
        let slow = find(&records, "slow");
        assert_eq!(
            (slow.outcome, slow.route.clone()),
            (Outcome::TimedOut, RouteKind::Io)
        );
        assert!(
            slow.run_time
                .is_some_and(|run| run >= Duration::from_millis(5))
        );
        let retried = find(&records, "retried");
        assert_eq!((retried.attempts, retried.outcome), (3, Outcome::Succeeded));
        let waiting = find(&records, "waiting");
        assert_eq!(
            (waiting.attempts, waiting.outcome, waiting.run_time),
            (0, Outcome::Cancelled, None)
        );
        let rejected = find(&records, "rejected");
        assert_eq!(
            (rejected.attempts, rejected.outcome),
            (0, Outcome::Rejected)
        );
        assert_eq!(find(&records, "lengths").outcome, Outcome::Succeeded);
        Ok(())
    })
}

#[test]
fn a_sink_that_panics_costs_its_records_and_nothing_else() -> TestResult {
    watchdog("panicking sink", || {
        let mgr = ConcurrencyManager::builder()
            .task_records(|_| panic!("the database is down"))
            .build()?;
        // Keyed tasks still pass the key's turn on; timeouts still fire afterwards.
        for i in 0..3 {
            assert_eq!(mgr.task("t").key("k").run_cpu(move || i).wait()?, i);
        }
        for _ in 0..2 {
            let slow = mgr
                .task("slow")
                .timeout(Duration::from_millis(5))
                .run_cpu(|| while !sluice::is_cancelled() {});
            assert_eq!(slow.wait(), Err(TaskError::TimedOut));
        }
        let total = mgr.snapshot().total();
        assert_eq!(
            (total.submitted, total.succeeded, total.timed_out),
            (5, 3, 2)
        );
        Ok(())
    })
}
