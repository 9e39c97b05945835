//! Policy overhead: what retry, a timeout, a circuit breaker, keys and the load
//! throttle cost when configured but never triggered, against the bare route.
//!
//! All tasks here are CPU tasks submitted at once and then waited for, so the pool is
//! saturated and a policy's cost shows as lost throughput.

use crate::Fixture;
use crate::work::{busy_item, work_20ns};
use sluice::ConcurrencyManager;
use std::hint::black_box;
use std::time::Duration;

/// `n` tasks of about `micros` µs each with no policy: the anchor of
/// [`tasks_with_policies`].
pub fn tasks_plain(fx: &Fixture, n: usize, micros: u64) {
    tasks_on(&fx.mgr, n, micros);
}

/// `n` tasks of about `micros` µs each through `mgr`, submitted at once and waited
/// for: with and without the throttle, its cost on a saturated pool.
pub fn tasks_on(mgr: &ConcurrencyManager, n: usize, micros: u64) {
    let handles: Vec<_> = (0..n as u64)
        .map(|i| mgr.run_cpu(move || busy_item(i, micros)))
        .collect();
    for handle in handles {
        black_box(handle.wait().expect("the task runs"));
    }
}

/// The same tasks with retry, a timeout and a circuit breaker configured, none of
/// which ever triggers (the work never fails, a minute-long timeout, a breaker that
/// never trips); with `keyed`, each task also ordered by a key of its own, so nothing
/// waits on order.
pub fn tasks_with_policies(fx: &Fixture, n: usize, micros: u64, keyed: bool) {
    let retry = sluice::retry::Retry::default();
    let handles: Vec<_> = (0..n as u64)
        .map(|i| {
            let task = fx
                .mgr
                .task("bench")
                .timeout(Duration::from_secs(60))
                .breaker("bench");
            let task = if keyed { task.key(i.to_string()) } else { task };
            task.retry(retry.clone())
                .run_cpu(move || busy_item(i, micros))
        })
        .collect();
    for handle in handles {
        black_box(handle.wait().expect("the task runs"));
    }
}

/// `n` tiny tasks (~20 ns of work) submitted at once with no key, then waited for:
/// the anchor of [`keyed_tasks`].
pub fn unkeyed_tasks(fx: &Fixture, n: usize) {
    let handles: Vec<_> = (0..n as u64)
        .map(|i| fx.mgr.run_cpu(move || work_20ns(i)))
        .collect();
    for handle in handles {
        black_box(handle.wait().expect("the task runs"));
    }
}

/// The same tasks spread over `keys` keys in per-key order: admission through the
/// manager's key queue. With one key they run one at a time, by design.
pub fn keyed_tasks(fx: &Fixture, n: usize, keys: usize) {
    let names: Vec<String> = (0..keys).map(|k| format!("key-{k}")).collect();
    let handles: Vec<_> = (0..n as u64)
        .map(|i| {
            let key = &names[i as usize % keys];
            fx.mgr
                .task("keyed")
                .key(key.as_str())
                .run_cpu(move || work_20ns(i))
        })
        .collect();
    for handle in handles {
        black_box(handle.wait().expect("the task runs"));
    }
}
