//! A keyed task that waits for a later task of its own key (or, in strict order, for
//! any later keyed task) can never be served in order: the later task's turn comes only
//! when the waiter ends. Such a wait is refused at once with
//! `TaskError::WaitOnOwnKey`, on every route, from `wait()` and from `.await`; the later
//! task keeps its place and runs after the waiter, never beside it.

mod common;

use common::{TestResult, eventually, quick_retry, watchdog};
use sluice::{ConcurrencyManager, KeyOrder, RouteKind, TaskError, TaskHandle};
use std::sync::{Arc, Mutex};

/// What the bodies did, in order: ("first" | "later", "start" | "end").
type Log = Arc<Mutex<Vec<(&'static str, &'static str)>>>;

fn note(log: &Log, who: &'static str, what: &'static str) {
    log.lock().expect("log").push((who, what));
}

fn manager(order: KeyOrder) -> Result<ConcurrencyManager, sluice::BuildError> {
    ConcurrencyManager::builder()
        .cpu_threads(2)
        .chunk_threads(2)
        .io_threads(2)
        .key_order(order)
        .build()
}

/// Submits the later task, under `key`, on `route`.
fn later(
    mgr: &ConcurrencyManager,
    key: Option<&str>,
    route: &RouteKind,
    log: &Log,
) -> TaskHandle<()> {
    let task = match key {
        Some(key) => mgr.task("later").key(key),
        None => mgr.task("later"),
    };
    let log = log.clone();
    let body = move || {
        note(&log, "later", "start");
        note(&log, "later", "end");
    };
    match route {
        RouteKind::Cpu => task.run_cpu(body),
        RouteKind::Chunk => task.run_chunk(body),
        RouteKind::IoBlocking => task.run_io_blocking(body),
        _ => task.run_io(async move { body() }),
    }
}

/// Runs a task under `key` on `route` that submits the later task (`later_key`, on
/// `later_route`) and waits for it; returns what its wait answered.
fn first_waits_for_later(
    mgr: &ConcurrencyManager,
    (key, route): (&'static str, RouteKind),
    (later_key, later_route): (Option<&'static str>, RouteKind),
    log: &Log,
) -> Result<Result<(), TaskError>, TaskError> {
    let task = mgr.task("first").key(key);
    let (inner, log) = (mgr.clone(), log.clone());
    if route == RouteKind::Io {
        return task
            .run_io(async move {
                note(&log, "first", "start");
                let answer = later(&inner, later_key, &later_route, &log).await;
                note(&log, "first", "end");
                answer
            })
            .wait();
    }
    let body = move || {
        note(&log, "first", "start");
        let answer = later(&inner, later_key, &later_route, &log).wait();
        note(&log, "first", "end");
        answer
    };
    match route {
        RouteKind::Cpu => task.run_cpu(body),
        RouteKind::Chunk => task.run_chunk(body),
        _ => task.run_io_blocking(body),
    }
    .wait()
}

/// The waiter was refused, and the later task ran after it, alone.
fn assert_refused_then_in_order(
    mgr: &ConcurrencyManager,
    first: (&'static str, RouteKind),
    later: (Option<&'static str>, RouteKind),
) {
    let case = format!("{first:?} waiting for {later:?}");
    let log = Log::default();
    let answer = first_waits_for_later(mgr, first, later, &log);
    assert_eq!(answer, Ok(Err(TaskError::WaitOnOwnKey)), "{case}");
    eventually("the later task runs", || {
        log.lock().expect("log").len() == 4
    });
    let order = log.lock().expect("log").clone();
    assert_eq!(
        order,
        [
            ("first", "start"),
            ("first", "end"),
            ("later", "start"),
            ("later", "end")
        ],
        "{case}: the later task ran after the first, not beside it"
    );
}

const ROUTES: [RouteKind; 4] = [
    RouteKind::Cpu,
    RouteKind::Chunk,
    RouteKind::IoBlocking,
    RouteKind::Io,
];

#[test]
fn waiting_for_a_later_task_of_the_own_key_is_refused_on_every_route() -> TestResult {
    let mgr = manager(KeyOrder::PerKey)?;
    watchdog("per-key self-waits", move || -> TestResult {
        for first in ROUTES {
            for later in ROUTES {
                assert_refused_then_in_order(&mgr, ("k", first.clone()), (Some("k"), later));
            }
        }
        Ok(())
    })
}

#[test]
fn in_strict_order_waiting_for_any_later_keyed_task_is_refused() -> TestResult {
    let mgr = manager(KeyOrder::Strict)?;
    watchdog("strict self-waits", move || -> TestResult {
        for route in ROUTES {
            assert_refused_then_in_order(&mgr, ("a", route.clone()), (Some("b"), route));
        }
        Ok(())
    })
}

#[test]
fn waiting_for_another_key_or_an_unkeyed_task_is_served() -> TestResult {
    let per_key = manager(KeyOrder::PerKey)?;
    let strict = manager(KeyOrder::Strict)?;
    watchdog("waits that can be served", move || -> TestResult {
        for route in ROUTES {
            let log = Log::default();
            let other_key = (Some("other"), route.clone());
            assert_eq!(
                first_waits_for_later(&per_key, ("k", route.clone()), other_key, &log),
                Ok(Ok(()))
            );
            let unkeyed = (None, route.clone());
            assert_eq!(
                first_waits_for_later(&strict, ("k", route.clone()), unkeyed, &log),
                Ok(Ok(()))
            );
        }
        Ok(())
    })
}

#[test]
fn retried_tasks_are_refused_both_as_waiter_and_as_awaited() -> TestResult {
    let mgr = manager(KeyOrder::PerKey)?;
    watchdog("retried self-waits", move || -> TestResult {
        let inner = mgr.clone();
        let waiter = mgr
            .task("first")
            .key("k")
            .retry(quick_retry(2)?)
            .run_cpu(move || inner.task("later").key("k").run_cpu(|| 1).wait());
        assert_eq!(waiter.wait(), Ok(Err(TaskError::WaitOnOwnKey)));

        let inner = mgr.clone();
        let retry = quick_retry(2)?;
        let waiter = mgr.task("first").key("k").run_cpu(move || {
            inner
                .task("later")
                .key("k")
                .retry(retry)
                .run_cpu(|| 2)
                .wait()
        });
        assert_eq!(waiter.wait(), Ok(Err(TaskError::WaitOnOwnKey)));
        // Both later tasks ran once the key was free again.
        eventually("the later tasks end", || {
            common::counts(&mgr, RouteKind::Cpu).succeeded == 4
        });
        Ok(())
    })
}

#[test]
fn a_waiter_never_runs_a_keyed_task_inline_before_its_turn() -> TestResult {
    let mgr = manager(KeyOrder::PerKey)?;
    watchdog(
        "inline run of a task waiting for its turn",
        move || -> TestResult {
            let log = Log::default();
            let (release, released) = std::sync::mpsc::channel::<()>();
            let (started, first_started) = std::sync::mpsc::channel();
            let first = mgr.task("first").key("k").run_cpu({
                let log = log.clone();
                move || {
                    note(&log, "first", "start");
                    let _ = started.send(());
                    let _ = released.recv();
                    note(&log, "first", "end");
                }
            });
            first_started.recv()?;
            let later = later(&mgr, Some("k"), &RouteKind::Cpu, &log);
            // An unkeyed task waits for the later one: it may lend its slot, but must not
            // run the later task on its own thread while the first still runs.
            let (waiting, waiter_waits) = std::sync::mpsc::channel();
            let waiter = mgr.run_cpu(move || {
                let _ = waiting.send(());
                later.wait()
            });
            waiter_waits.recv()?;
            // Gives a wrongly inlined run the time to show itself before the key frees.
            std::thread::sleep(std::time::Duration::from_millis(50));
            release.send(())?;
            assert_eq!(first.wait(), Ok(()));
            assert_eq!(waiter.wait(), Ok(Ok(())));
            let order = log.lock().map_err(|_| "log")?.clone();
            assert_eq!(
                order,
                [
                    ("first", "start"),
                    ("first", "end"),
                    ("later", "start"),
                    ("later", "end")
                ]
            );
            Ok(())
        },
    )
}

#[test]
fn a_keyed_map_whose_items_wait_for_a_later_task_of_its_key_is_refused() -> TestResult {
    let mgr = manager(KeyOrder::PerKey)?;
    watchdog("keyed map self-waits", move || -> TestResult {
        let refused = Ok(vec![Err(TaskError::WaitOnOwnKey); 3]);
        let inner = mgr.clone();
        let item = move |i: u32| inner.task("later").key("k").run_cpu(move || i).wait();
        let cpu = mgr.task("map").key("k").map_cpu(0..3, item.clone()).wait();
        assert_eq!(cpu, refused, "map_cpu");
        let chunks = mgr.task("map").key("k").map_chunks(0..3, item).wait();
        assert_eq!(chunks, refused, "map_chunks");
        let inner = mgr.clone();
        let io = mgr
            .task("map")
            .key("k")
            .map_io(0..3, move |i| {
                inner.task("later").key("k").run_io(async move { i })
            })
            .wait();
        assert_eq!(io, refused, "map_io");
        // The later tasks ran once each map was done.
        eventually("the later tasks end", || {
            let cpu = common::counts(&mgr, RouteKind::Cpu).succeeded;
            let io = common::counts(&mgr, RouteKind::Io).succeeded;
            cpu == 1 + 6 && io == 1 + 3
        });
        Ok(())
    })
}
