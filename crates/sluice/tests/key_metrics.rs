//! Metrics per task key: exact counts per key, a bounded number of keys tracked with
//! the rest under "other", and totals that always add up.

mod common;

use common::{TestResult, watchdog};
use sluice::{ConcurrencyManager, KeySnapshot, RouteKind, TaskError};

fn keys_of(mgr: &ConcurrencyManager, route: RouteKind) -> Vec<KeySnapshot> {
    mgr.snapshot()
        .route(&route)
        .map(|r| r.keys.clone())
        .unwrap_or_default()
}

fn of<'a>(keys: &'a [KeySnapshot], key: Option<&str>) -> &'a KeySnapshot {
    keys.iter()
        .find(|k| k.key.as_deref() == key)
        .unwrap_or_else(|| panic!("no entry for {key:?}: {keys:?}"))
}

#[test]
fn each_key_counts_its_own_outcomes() -> TestResult {
    watchdog("per-key counts", || {
        let mgr = ConcurrencyManager::builder().build()?;
        for i in 0..6u32 {
            mgr.task("ok").key("tenant-a").run_cpu(move || i).wait()?;
        }
        for _ in 0..2 {
            let failed = mgr
                .task("bad")
                .key("tenant-b")
                .try_run_cpu(|| Err::<(), _>("no"));
            assert!(matches!(failed.wait(), Err(TaskError::Failed(_))));
        }
        mgr.task("ok").key("tenant-b").run_cpu(|| 0).wait()?;
        mgr.task("unkeyed").run_cpu(|| 0).wait()?;
        let keys = keys_of(&mgr, RouteKind::Cpu);
        assert_eq!(keys.len(), 2, "unkeyed tasks are not per-key: {keys:?}");
        let a = of(&keys, Some("tenant-a"));
        assert_eq!((a.ended, a.succeeded, a.failed), (6, 6, 0));
        assert_eq!(a.run_time.count, 6);
        let b = of(&keys, Some("tenant-b"));
        assert_eq!((b.ended, b.succeeded, b.failed), (3, 1, 2));
        assert_eq!(keys[0].key.as_deref(), Some("tenant-a"), "most tasks first");
        Ok(())
    })
}

#[test]
fn a_full_table_keeps_the_busy_keys_and_counts_the_rest_as_other() -> TestResult {
    watchdog("bounded keys", || {
        let mgr = ConcurrencyManager::builder().max_tracked_keys(2).build()?;
        let run = |key: &str, times: u32| -> TestResult {
            for _ in 0..times {
                mgr.task("t").key(key).run_chunk(|| ()).wait()?;
            }
            Ok(())
        };
        run("busy", 10)?;
        run("medium", 5)?;
        // The table is full: a new key counts under "other", and one arrival in 32
        // looks for the least-counted idle key to replace. So a key that keeps coming
        // gets in at its 32nd task, and "medium" (5) leaves, its counts to "other".
        run("newcomer", 40)?;
        let keys = keys_of(&mgr, RouteKind::Chunk);
        assert_eq!(keys.len(), 3, "{keys:?}");
        assert_eq!(of(&keys, Some("busy")).ended, 10);
        assert_eq!(of(&keys, Some("newcomer")).ended, 9);
        assert_eq!(of(&keys, None).ended, 31 + 5);

        // Ten thousand keys: bounded, and the totals still add up.
        let mgr = ConcurrencyManager::builder().build()?;
        let handles: Vec<_> = (0..10_000u32)
            .map(|i| mgr.task("t").key(i.to_string()).run_cpu(move || i))
            .collect();
        for handle in handles {
            handle.wait()?;
        }
        let keys = keys_of(&mgr, RouteKind::Cpu);
        assert!(keys.len() <= 101, "{} entries", keys.len());
        assert_eq!(keys.iter().map(|k| k.ended).sum::<u64>(), 10_000);
        let none = ConcurrencyManager::builder().max_tracked_keys(0).build()?;
        none.task("t").key("k").run_cpu(|| ()).wait()?;
        assert!(keys_of(&none, RouteKind::Cpu).is_empty());
        Ok(())
    })
}

#[test]
fn pending_running_retries_and_abandoned_per_key() -> TestResult {
    watchdog("per-key live counts", || {
        use std::time::Duration;
        let mgr = ConcurrencyManager::builder().cpu_limit(1).build()?;
        // One body of tenant-a holds the only CPU slot; two more wait behind it (the
        // first for the slot, the second for its key's turn).
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = std::sync::mpsc::channel();
        let holder = mgr.task("hold").key("tenant-a").run_cpu(move || {
            started_tx.send(()).ok();
            blocked.recv().ok();
        });
        started.recv()?;
        let queued: Vec<_> = (0..2)
            .map(|_| mgr.task("next").key("tenant-a").run_cpu(|| ()))
            .collect();
        let a = keys_of(&mgr, RouteKind::Cpu);
        let a = of(&a, Some("tenant-a"));
        assert_eq!(
            (a.pending, a.running, a.waiting, a.high_water),
            (3, 1, 2, 1)
        );
        release.send(())?;
        holder.wait()?;
        for handle in queued {
            handle.wait()?;
        }
        let a = keys_of(&mgr, RouteKind::Cpu);
        let a = of(&a, Some("tenant-a"));
        assert_eq!((a.pending, a.running, a.waiting, a.ended), (0, 0, 0, 3));

        // A retried io task of tenant-b: two failed attempts tried again.
        let retry = common::quick_retry(3)?;
        let calls = common::Calls::default();
        let seen = calls.clone();
        let flaky = mgr
            .task("fetch")
            .key("tenant-b")
            .retry(retry)
            .try_run_io(move || {
                let call = seen.next();
                async move { if call < 3 { Err("503") } else { Ok(call) } }
            });
        assert_eq!(flaky.wait(), Ok(3));
        let b = keys_of(&mgr, RouteKind::Io);
        let b = of(&b, Some("tenant-b"));
        assert_eq!(
            (b.retries, b.ended, b.succeeded, b.pending, b.running),
            (2, 1, 1, 0, 0)
        );

        // A CPU body of tenant-c that outlives its timeout: abandoned when it ends.
        let (finish, wait) = std::sync::mpsc::channel::<()>();
        let late = mgr
            .task("late")
            .key("tenant-c")
            .timeout(Duration::from_millis(5))
            .run_cpu(move || wait.recv().ok());
        assert_eq!(late.wait(), Err(TaskError::TimedOut));
        let c = keys_of(&mgr, RouteKind::Cpu);
        let c = of(&c, Some("tenant-c"));
        assert_eq!(
            (c.pending, c.running, c.timed_out),
            (0, 1, 1),
            "answered, still running"
        );
        finish.send(())?;
        common::eventually("the late body is counted abandoned", || {
            let keys = keys_of(&mgr, RouteKind::Cpu);
            let c = of(&keys, Some("tenant-c"));
            (c.running, c.abandoned) == (0, 1)
        });
        Ok(())
    })
}
