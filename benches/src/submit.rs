//! Submit throughput: `n` tiny tasks (~20 ns of work each) submitted through one route
//! as fast as the caller can, then all waited for.
//!
//! Both sides submit everything first and wait afterwards, the same way: CPU and chunk
//! tasks are waited for from sync code (Sluice's `.wait()`, the anchor's oneshot
//! `blocking_recv`), IO futures and blocking calls are awaited on the caller runtime
//! (Sluice's handles, the anchor's `JoinHandle`s). Sluice's routes admit at most
//! their limit at once (the threads, or [`BLOCKING_THREADS`](crate::fixture::BLOCKING_THREADS)
//! blocking calls) and queue the rest at their gate; the anchors hand everything to
//! their pool's own queue at once.

use crate::Fixture;
use crate::work::work_20ns;
use std::hint::black_box;
use tokio::sync::oneshot;

/// `n` tiny tasks on the rayon pool, each answering on a oneshot; the receivers are
/// collected, then received in turn.
pub fn cpu_anchor(fx: &Fixture, n: usize) {
    let receivers: Vec<_> = (0..n as u64)
        .map(|i| {
            let (tx, rx) = oneshot::channel();
            fx.rayon.spawn(move || {
                let _ = tx.send(work_20ns(i));
            });
            rx
        })
        .collect();
    for rx in receivers {
        black_box(rx.blocking_recv().expect("the job sends"));
    }
}

/// `n` tiny tasks through `run_cpu`, then `.wait()` on each handle.
pub fn cpu_sluice(fx: &Fixture, n: usize) {
    let handles: Vec<_> = (0..n as u64)
        .map(|i| fx.mgr.run_cpu(move || work_20ns(i)))
        .collect();
    for handle in handles {
        black_box(handle.wait().expect("the task runs"));
    }
}

/// `n` tiny futures through `Handle::spawn`; the `JoinHandle`s awaited in turn.
pub fn io_anchor(fx: &Fixture, n: usize) {
    let handle = fx.tokio.handle();
    let joins: Vec<_> = (0..n as u64)
        .map(|i| handle.spawn(async move { work_20ns(i) }))
        .collect();
    fx.caller.block_on(async {
        for join in joins {
            black_box(join.await.expect("the task runs"));
        }
    });
}

/// `n` tiny futures through `run_io`; the handles awaited in turn.
pub fn io_sluice(fx: &Fixture, n: usize) {
    let handles: Vec<_> = (0..n as u64)
        .map(|i| fx.mgr.run_io(async move { work_20ns(i) }))
        .collect();
    fx.caller.block_on(async {
        for handle in handles {
            black_box(handle.await.expect("the task runs"));
        }
    });
}

/// `n` tiny calls through `Handle::spawn_blocking`; the `JoinHandle`s awaited in turn.
pub fn blocking_anchor(fx: &Fixture, n: usize) {
    let handle = fx.tokio.handle();
    let joins: Vec<_> = (0..n as u64)
        .map(|i| handle.spawn_blocking(move || work_20ns(i)))
        .collect();
    fx.caller.block_on(async {
        for join in joins {
            black_box(join.await.expect("the call runs"));
        }
    });
}

/// `n` tiny calls through `run_io_blocking`; the handles awaited in turn.
pub fn blocking_sluice(fx: &Fixture, n: usize) {
    let handles: Vec<_> = (0..n as u64)
        .map(|i| fx.mgr.run_io_blocking(move || work_20ns(i)))
        .collect();
    fx.caller.block_on(async {
        for handle in handles {
            black_box(handle.await.expect("the task runs"));
        }
    });
}

/// `n` tiny jobs on the [`DequePool`](crate::deque_pool::DequePool), each answering
/// on a oneshot; the receivers are collected, then received in turn.
pub fn chunk_anchor(fx: &Fixture, n: usize) {
    let receivers: Vec<_> = (0..n as u64)
        .map(|i| {
            let (tx, rx) = oneshot::channel();
            fx.deque.spawn(move || {
                let _ = tx.send(work_20ns(i));
            });
            rx
        })
        .collect();
    for rx in receivers {
        black_box(rx.blocking_recv().expect("the job sends"));
    }
}

/// `n` tiny tasks through `run_chunk`, then `.wait()` on each handle.
pub fn chunk_sluice(fx: &Fixture, n: usize) {
    let handles: Vec<_> = (0..n as u64)
        .map(|i| fx.mgr.run_chunk(move || work_20ns(i)))
        .collect();
    for handle in handles {
        black_box(handle.wait().expect("the task runs"));
    }
}
