//! A key's turn handed on where its task ended: the next task of the key runs on the
//! same thread with the same permit (one admission for a chain of a key's tasks) while
//! nobody waits at the gate, never ahead of a task that does. (That the chain runs
//! where it was handed on, with no second admission, is proven by its allocations:
//! `tests/allocations.rs`, `a_keys_queued_tasks_run_where_the_one_before_ended`.)

mod common;

use common::{TestResult, watchdog};
use sluice::throttle::ThrottleConfig;
use sluice::{ConcurrencyManager, KeyOrder};
use std::sync::mpsc;
use std::time::Duration;

/// Submits, under a gate of one permit, a key's first task (held until everything is
/// submitted), `behind` more tasks of that key, then one unkeyed task; answers the
/// order in which the bodies ran, the unkeyed one as `None`.
fn order_of(behind: usize, order: KeyOrder) -> Result<Vec<Option<usize>>, String> {
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .cpu_limit(1)
        .key_order(order)
        // Steady: a throttle that lowered the limit would end a chain early.
        .throttle(ThrottleConfig::disabled())
        .build()
        .map_err(|e| e.to_string())?;
    let (ran, runs) = mpsc::channel();
    let (go, gate) = mpsc::channel::<()>();
    let mut handles = Vec::new();
    let first = ran.clone();
    handles.push(mgr.task("chain").key("k").run_cpu(move || {
        // Held until every task is submitted: the rest wait behind it.
        let _ = gate.recv();
        let _ = first.send(Some(0));
    }));
    for i in 1..=behind {
        let ran = ran.clone();
        handles.push(mgr.task("chain").key("k").run_cpu(move || {
            let _ = ran.send(Some(i));
        }));
    }
    let other = ran.clone();
    handles.push(mgr.run_cpu(move || {
        let _ = other.send(None);
    }));
    go.send(()).map_err(|e| e.to_string())?;
    // Received, not waited for: a waiting caller may run a task inline, out of turn
    // with the gate's queue.
    let mut seen = Vec::new();
    for _ in 0..behind + 2 {
        seen.push(
            runs.recv_timeout(Duration::from_secs(20))
                .map_err(|e| e.to_string())?,
        );
    }
    for handle in handles {
        handle.wait().map_err(|e| e.to_string())?;
    }
    Ok(seen)
}

#[test]
fn a_keys_next_task_never_overtakes_a_task_waiting_at_the_gate() -> TestResult {
    watchdog("a key's next task waits behind the gate's waiter", || {
        for order in [KeyOrder::PerKey, KeyOrder::Strict] {
            let seen = order_of(3, order)?;
            // The unkeyed task queued at the gate while the key's first task ran: the
            // key's next task goes to the gate behind it, and the rest of the key's
            // tasks, with nobody waiting any more, follow it on its thread.
            assert_eq!(
                seen,
                vec![Some(0), None, Some(1), Some(2), Some(3)],
                "{order:?}"
            );
        }
        Ok(())
    })
}
