//! Priorities at the gates (`mgr.task(..).priority(..)`): work queued behind a full
//! gate is admitted `High`, then `Normal`, then `Low`, in arrival order within each,
//! on the CPU and io routes alike; aging (`ManagerBuilder::priority_aging`) bounds how
//! many later, more urgent arrivals may pass a waiting task, and aging 0 is plain
//! arrival order.

mod common;

use common::{TestResult, counts, eventually, watchdog};
use sluice::{ConcurrencyManager, Priority, RouteKind, TaskHandle};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use Priority::{High, Low, Normal};

/// A test's own result type.
type Fallible<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Fills the only slot of `route` (CPU or io) with a task that waits for the test,
/// queues `tasks` behind it (each a label and a priority), lets the blocker go, and
/// returns the labels in the order their bodies ran.
fn admitted_order(
    mgr: &ConcurrencyManager,
    route: RouteKind,
    tasks: &[(&'static str, Priority)],
) -> Fallible<Vec<&'static str>> {
    let (started_tx, started) = mpsc::channel();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let blocker = match route {
        RouteKind::Io => mgr.run_io(async move {
            let _ = started_tx.send(());
            released.await.is_ok()
        }),
        _ => mgr.run_cpu(move || {
            let _ = started_tx.send(());
            released.blocking_recv().is_ok()
        }),
    };
    started.recv_timeout(Duration::from_secs(5))?;

    let order = Arc::new(Mutex::new(Vec::new()));
    let queued: Vec<TaskHandle<()>> = tasks
        .iter()
        .map(|&(label, priority)| {
            let order = order.clone();
            let task = mgr.task(label).priority(priority);
            let record = move || order.lock().expect("order").push(label);
            match route {
                RouteKind::Io => task.run_io(async move { record() }),
                _ => task.run_cpu(record),
            }
        })
        .collect();
    eventually("every task waits behind the blocker", || {
        mgr.snapshot().route(&route).map(|r| r.queued) == Some(tasks.len())
    });

    release.send(()).map_err(|()| "the blocker is gone")?;
    assert!(blocker.wait()?);
    for task in queued {
        task.wait()?;
    }
    let c = counts(mgr, route);
    assert_eq!(c.submitted, c.ended());
    let order = order.lock().map_err(|_| "order poisoned")?.clone();
    Ok(order)
}

#[test]
fn queued_cpu_work_is_admitted_high_then_normal_then_low() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .cpu_limit(1)
        .build()?;
    watchdog("cpu priorities", move || -> TestResult {
        let order = admitted_order(
            &mgr,
            RouteKind::Cpu,
            &[("low", Low), ("normal", Normal), ("high", High)],
        )?;
        assert_eq!(order, ["high", "normal", "low"]);

        let order = admitted_order(
            &mgr,
            RouteKind::Cpu,
            &[
                ("L1", Low),
                ("N1", Normal),
                ("H1", High),
                ("L2", Low),
                ("N2", Normal),
                ("H2", High),
            ],
        )?;
        assert_eq!(
            order,
            ["H1", "H2", "N1", "N2", "L1", "L2"],
            "arrival order within a priority"
        );
        Ok(())
    })
}

#[test]
fn queued_io_work_is_admitted_high_then_normal_then_low() -> TestResult {
    let mgr = ConcurrencyManager::builder().io_limit(1).build()?;
    watchdog("io priorities", move || -> TestResult {
        let order = admitted_order(
            &mgr,
            RouteKind::Io,
            &[
                ("L1", Low),
                ("N1", Normal),
                ("H1", High),
                ("L2", Low),
                ("N2", Normal),
                ("H2", High),
            ],
        )?;
        assert_eq!(order, ["H1", "H2", "N1", "N2", "L1", "L2"]);
        Ok(())
    })
}

#[test]
fn aging_bounds_how_many_later_arrivals_pass_a_waiting_task() -> TestResult {
    watchdog("aging", || -> TestResult {
        let order_with = |aging: u64, tasks: &[(&'static str, Priority)]| {
            let mgr = ConcurrencyManager::builder()
                .cpu_threads(2)
                .cpu_limit(1)
                .priority_aging(aging)
                .build()?;
            admitted_order(&mgr, RouteKind::Cpu, tasks)
        };
        let low_then_highs = [
            ("L", Low),
            ("H1", High),
            ("H2", High),
            ("H3", High),
            ("H4", High),
            ("H5", High),
        ];

        // A Low waiter is passed by fewer than 2 * aging later High arrivals.
        assert_eq!(
            order_with(1, &low_then_highs)?,
            ["H1", "L", "H2", "H3", "H4", "H5"],
            "aging 1: passed by one"
        );
        assert_eq!(
            order_with(2, &low_then_highs)?,
            ["H1", "H2", "H3", "L", "H4", "H5"],
            "aging 2: passed by three"
        );
        // A Normal waiter is passed by fewer than `aging` later High arrivals.
        assert_eq!(
            order_with(
                2,
                &[("N", Normal), ("H1", High), ("H2", High), ("H3", High)]
            )?,
            ["H1", "N", "H2", "H3"],
            "aging 2: passed by one"
        );
        // Without aging (the default is 64), six later High arrivals all pass it.
        let mgr = ConcurrencyManager::builder()
            .cpu_threads(2)
            .cpu_limit(1)
            .build()?;
        assert_eq!(
            admitted_order(&mgr, RouteKind::Cpu, &low_then_highs)?,
            ["H1", "H2", "H3", "H4", "H5", "L"]
        );
        Ok(())
    })
}

#[test]
fn aging_zero_is_arrival_order() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .cpu_limit(1)
        .priority_aging(0)
        .build()?;
    watchdog("aging zero", move || -> TestResult {
        let order = admitted_order(
            &mgr,
            RouteKind::Cpu,
            &[
                ("low", Low),
                ("normal", Normal),
                ("high", High),
                ("low again", Low),
            ],
        )?;
        assert_eq!(order, ["low", "normal", "high", "low again"]);
        Ok(())
    })
}
