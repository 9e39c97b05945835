//! A key's turn handed on where its task ended: the next task of the key runs on the
//! same thread with the same permit (one admission for a chain of a key's tasks), and
//! overtakes tasks waiting at the gate by a bounded number of tasks only.

mod common;

use common::{TestResult, watchdog};
use sluice::throttle::ThrottleConfig;
use sluice::{ConcurrencyManager, KeyOrder};
use std::sync::mpsc;
use std::time::Duration;

/// How many tasks of one key, run in a row with one permit, may overtake a task that
/// waits at the gate: the library's bound (`KEY_CHAIN`), and the first of the chain.
const CHAIN: usize = 16;

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
fn a_keys_next_task_runs_with_the_permit_of_the_one_before() -> TestResult {
    watchdog("a key's next task runs with its permit", || {
        for order in [KeyOrder::PerKey, KeyOrder::Strict] {
            let seen = order_of(3, order)?;
            // The key's next tasks hold its turn from the first: they run before the
            // task that waited at the gate meanwhile, without being admitted again.
            assert_eq!(
                seen,
                vec![Some(0), Some(1), Some(2), Some(3), None],
                "{order:?}"
            );
        }
        Ok(())
    })
}

#[test]
fn a_keys_chain_overtakes_a_waiting_task_by_a_bounded_number() -> TestResult {
    watchdog("a key's chain is bounded", || {
        let behind = CHAIN + 4;
        let seen = order_of(behind, KeyOrder::PerKey)?;
        let unkeyed = seen
            .iter()
            .position(Option::is_none)
            .ok_or("the unkeyed task never ran")?;
        assert_eq!(unkeyed, CHAIN + 1, "{seen:?}");
        let keyed: Vec<usize> = seen.iter().flatten().copied().collect();
        assert_eq!(keyed, (0..=behind).collect::<Vec<_>>(), "the key's order");
        Ok(())
    })
}
