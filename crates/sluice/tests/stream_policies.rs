//! Policies per item of a streamed map: the breaker asked before each item (an open
//! breaker rejects items, not the map), the dependency limit per io item, and the item
//! counts in the snapshot and in the map's record.

mod common;

use common::{TestResult, watchdog};
use sluice::limit::LimitConfig;
use sluice::{
    BreakerConfig, ConcurrencyManager, ItemCounts, RouteKind, StreamOptions, TaskError, TaskRecord,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn items(mgr: &ConcurrencyManager, route: RouteKind) -> ItemCounts {
    mgr.snapshot()
        .route(&route)
        .map(|r| r.items)
        .unwrap_or_default()
}

#[test]
fn an_open_breaker_rejects_items_and_the_map_goes_on() -> TestResult {
    watchdog("breaker per item", || -> TestResult {
        let trips = BreakerConfig::builder()
            .consecutive_failures(3)
            .recovery(Duration::from_secs(600))
            .build()?;
        let mgr = ConcurrencyManager::builder()
            .breaker("cpu-svc", trips.clone())
            .breaker("io-svc", trips)
            .build()?;
        // One item at a time, so the order of failures and refusals is exact.
        let cpu: Vec<_> = mgr
            .stream(StreamOptions::new().breaker("cpu-svc").buffer(1))
            .try_cpu(0..10u32, |x| if x < 5 { Err("down") } else { Ok(x) })
            .into_iter()
            .collect();
        assert!(
            cpu[..3]
                .iter()
                .all(|r| matches!(r, Err(TaskError::Failed("down"))))
        );
        assert!(
            cpu[3..].iter().all(
                |r| matches!(r, Err(TaskError::Rejected { breaker, .. }) if breaker == "cpu-svc")
            ),
            "{cpu:?}"
        );
        let io: Vec<_> = mgr
            .stream(StreamOptions::new().breaker("io-svc").buffer(1))
            .try_io(0..10u32, |x| async move {
                if x < 5 { Err("down") } else { Ok(x) }
            })
            .into_iter()
            .collect();
        let rejected = io
            .iter()
            .filter(|r| matches!(r, Err(TaskError::Rejected { .. })))
            .count();
        assert_eq!(rejected, 7, "{io:?}");
        let counts = items(&mgr, RouteKind::Cpu);
        assert_eq!((counts.failed, counts.rejected, counts.ok), (3, 7, 0));
        // Each map ran to its end: one task each, succeeded.
        assert_eq!(mgr.snapshot().total().succeeded, 2);
        Ok(())
    })
}

#[test]
fn an_unknown_breaker_or_dependency_refuses_the_map() -> TestResult {
    watchdog("unknown names", || -> TestResult {
        let mgr = ConcurrencyManager::builder().build()?;
        let refused: Vec<_> = mgr
            .stream(StreamOptions::new().breaker("nope"))
            .cpu(0..3u32, |x| x)
            .into_iter()
            .collect();
        assert_eq!(refused, [Err(TaskError::UnknownBreaker("nope".into()))]);
        let refused: Vec<_> = mgr
            .stream(StreamOptions::new().limit("nope"))
            .io(0..3u32, |x| async move { x })
            .into_iter()
            .collect();
        assert_eq!(refused, [Err(TaskError::UnknownDependency("nope".into()))]);
        Ok(())
    })
}

#[test]
fn io_items_go_through_the_dependency_limit() -> TestResult {
    watchdog("dependency per item", || -> TestResult {
        let mgr = ConcurrencyManager::builder()
            .dependency("db", LimitConfig::new())
            .build()?;
        let done = mgr
            .stream(StreamOptions::new().limit("db").unordered())
            .io(0..200u32, |x| async move {
                tokio::time::sleep(Duration::from_micros(200)).await;
                x
            })
            .for_each_blocking(|r| r.is_ok());
        assert_eq!(done, 200);
        let db = mgr.snapshot();
        let db = db.dependency("db").ok_or("the dependency is listed")?;
        assert_eq!(db.samples, 200, "every item was measured: {db:?}");
        assert_eq!(db.in_flight, 0);
        Ok(())
    })
}

#[test]
fn a_streamed_maps_record_counts_its_items() -> TestResult {
    watchdog("record", || -> TestResult {
        let records: Arc<Mutex<Vec<TaskRecord>>> = Arc::default();
        let sink = records.clone();
        let mgr = ConcurrencyManager::builder()
            .task_records(move |record| sink.lock().expect("records").push(record.clone()))
            .build()?;
        let answers = mgr
            .stream(StreamOptions::new())
            .try_chunks(0..100u32, |x| match x % 10 {
                0 => Err("tenth"),
                1 => panic!("eleventh"),
                _ => Ok(x),
            })
            .into_iter()
            .count();
        assert_eq!(answers, 100);
        common::eventually("the record", || {
            !records.lock().expect("records").is_empty()
        });
        let record = records.lock().expect("records")[0].clone();
        let counts = record
            .items
            .ok_or("a streamed map's record has item counts")?;
        assert_eq!((counts.ok, counts.failed, counts.panicked), (80, 10, 10));
        assert_eq!(counts.total(), 100);
        assert_eq!(items(&mgr, RouteKind::Chunk), counts);
        Ok(())
    })
}
