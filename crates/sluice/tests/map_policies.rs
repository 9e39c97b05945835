//! Policies on maps (`mgr.task(..).map_cpu / map_chunks / map_io`): a map is one task —
//! it waits for its key's turn, asks its breaker once, answers `TimedOut` at its timeout
//! or deadline, queues its pullers at its priority — and it is counted once.

mod common;

use common::{counts, eventually, watchdog};
use sluice::{BreakerConfig, ConcurrencyManager, Priority, RouteKind, TaskError};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn a_keyed_map_waits_for_the_task_of_its_key_before_it() {
    watchdog("keyed map", || {
        let mgr = ConcurrencyManager::builder().build().expect("builds");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (release, blocked) = mpsc::channel::<()>();
        let first_log = log.clone();
        let first = mgr.task("load").key("batch").run_io_blocking(move || {
            blocked.recv().ok();
            first_log.lock().expect("log").push("load");
        });
        let map_log = log.clone();
        let map = mgr.task("index").key("batch").map_cpu(0..100u32, move |x| {
            if x == 0 {
                map_log.lock().expect("log").push("index");
            }
            x * 2
        });
        std::thread::sleep(Duration::from_millis(20));
        assert!(!map.is_finished(), "the map waits for its key's turn");
        release.send(()).expect("the first task waits");
        first.wait().expect("the first task runs");
        assert_eq!(map.wait().expect("the map runs")[99], 198);
        assert_eq!(*log.lock().expect("log"), ["load", "index"]);
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!(
            (cpu.submitted, cpu.succeeded),
            (1, 1),
            "the map is one task"
        );
    });
}

#[test]
fn a_map_past_its_timeout_answers_timed_out_and_its_units_stop() {
    watchdog("map timeout", || {
        let mgr = ConcurrencyManager::builder().build().expect("builds");
        let map = mgr
            .task("scan")
            .timeout(Duration::from_millis(30))
            .map_chunks(0..1_000_000u64, |x| {
                std::thread::sleep(Duration::from_millis(1));
                x
            });
        assert_eq!(map.wait(), Err(TaskError::TimedOut));
        eventually("the map's units stop", || {
            counts(&mgr, RouteKind::Chunk).running == 0
        });
        let chunk = counts(&mgr, RouteKind::Chunk);
        assert_eq!((chunk.submitted, chunk.timed_out), (1, 1));
    });
}

#[test]
fn a_map_io_past_its_deadline_answers_timed_out() {
    watchdog("map deadline", || {
        let mgr = ConcurrencyManager::builder().build().expect("builds");
        let map = mgr
            .task("fetch-all")
            .deadline(Duration::from_millis(30))
            .map_io(0..10, |_| std::future::pending::<()>());
        assert_eq!(map.wait(), Err(TaskError::TimedOut));
        eventually("the map's futures are dropped", || {
            counts(&mgr, RouteKind::Io).running == 0
        });
    });
}

#[test]
fn an_open_breaker_rejects_a_map_and_a_failed_map_is_recorded() {
    watchdog("map breaker", || {
        let config = BreakerConfig::builder()
            .consecutive_failures(1)
            .recovery(Duration::from_secs(60))
            .build()
            .expect("valid");
        let mgr = ConcurrencyManager::builder()
            .breaker("parser", config)
            .build()
            .expect("builds");
        let panicked = mgr.task("parse").breaker("parser").map_cpu(0..10u32, |x| {
            assert!(x != 5, "bad record");
            x
        });
        assert!(matches!(panicked.wait(), Err(TaskError::Panicked(_))));
        let rejected = mgr.task("parse").breaker("parser").map_cpu(0..10u32, |x| x);
        assert!(matches!(rejected.wait(), Err(TaskError::Rejected { .. })));
        let cpu = counts(&mgr, RouteKind::Cpu);
        assert_eq!((cpu.panicked, cpu.rejected), (1, 1));
        assert_eq!(cpu.submitted, cpu.ended());
    });
}

#[test]
fn a_high_priority_map_overtakes_queued_normal_work() {
    watchdog("map priority", || {
        let mgr = ConcurrencyManager::builder()
            .cpu_threads(1)
            .build()
            .expect("builds");
        let order = Arc::new(Mutex::new(Vec::new()));
        let (started_tx, started) = mpsc::channel();
        let (release, blocked) = mpsc::channel::<()>();
        let blocker = mgr.run_cpu(move || {
            started_tx.send(()).ok();
            blocked.recv().ok();
        });
        started.recv().expect("the blocker starts");
        let normal_order = order.clone();
        let normal = mgr.run_cpu(move || normal_order.lock().expect("order").push("normal"));
        let map_order = order.clone();
        let map = mgr
            .task("urgent")
            .priority(Priority::High)
            .map_cpu([1], move |x| {
                map_order.lock().expect("order").push("map");
                x
            });
        release.send(()).expect("the blocker waits");
        blocker.wait().expect("runs");
        assert_eq!(map.wait().expect("runs"), [1]);
        normal.wait().expect("runs");
        assert_eq!(*order.lock().expect("order"), ["map", "normal"]);
    });
}
