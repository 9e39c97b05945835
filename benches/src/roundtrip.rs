//! Route round trips: submit one trivial task, wait for its answer, repeat `n` times.
//!
//! Every route is measured both ways a caller waits:
//! - sync: Sluice's `.wait()` against the anchor's job sending on a tokio oneshot that
//!   the caller takes with `blocking_recv`;
//! - async: Sluice's handle `.await`ed on a current-thread caller runtime against the
//!   anchor's oneshot or `JoinHandle` awaited on the same runtime.
//!
//! | route | anchor |
//! | --- | --- |
//! | `run_cpu` | `rayon::ThreadPool::spawn` |
//! | `run_io` | `Handle::spawn` on a multi-thread runtime |
//! | `run_io_blocking` | `Handle::spawn_blocking` on that runtime |
//! | `run_chunk` | [`DequePool::spawn`](crate::deque_pool::DequePool::spawn) |

use crate::Fixture;
use sluice::ConcurrencyManager;
use std::hint::black_box;
use tokio::sync::oneshot;

/// `n` sync round trips where `submit` starts a job that sends `i` on the sender it is
/// given, and the caller blocks on the receiver.
fn anchor_sync(n: usize, submit: impl Fn(usize, oneshot::Sender<usize>)) {
    for i in 0..n {
        let (tx, rx) = oneshot::channel();
        submit(i, tx);
        black_box(rx.blocking_recv().expect("the job sends"));
    }
}

/// As [`anchor_sync`], awaiting the receiver on the caller runtime.
fn anchor_async(fx: &Fixture, n: usize, submit: impl Fn(usize, oneshot::Sender<usize>)) {
    fx.caller.block_on(async {
        for i in 0..n {
            let (tx, rx) = oneshot::channel();
            submit(i, tx);
            black_box(rx.await.expect("the job sends"));
        }
    });
}

/// `n` sync round trips: `rayon::ThreadPool::spawn` and a oneshot.
pub fn cpu_sync_anchor(fx: &Fixture, n: usize) {
    anchor_sync(n, |i, tx| {
        fx.rayon.spawn(move || {
            let _ = tx.send(black_box(i));
        });
    });
}

/// `n` sync round trips: `run_cpu(f).wait()`.
pub fn cpu_sync_sluice(fx: &Fixture, n: usize) {
    cpu_sync_on(&fx.mgr, n);
}

/// `n` sync round trips through `mgr`: `run_cpu(f).wait()`. With and without the
/// throttle, its cost on an idle pool.
pub fn cpu_sync_on(mgr: &ConcurrencyManager, n: usize) {
    for i in 0..n {
        let handle = mgr.run_cpu(move || black_box(i));
        black_box(handle.wait().expect("the task runs"));
    }
}

/// `n` async round trips: `rayon::ThreadPool::spawn` and a oneshot, awaited.
pub fn cpu_async_anchor(fx: &Fixture, n: usize) {
    anchor_async(fx, n, |i, tx| {
        fx.rayon.spawn(move || {
            let _ = tx.send(black_box(i));
        });
    });
}

/// `n` async round trips: `run_cpu(f).await`.
pub fn cpu_async_sluice(fx: &Fixture, n: usize) {
    fx.caller.block_on(async {
        for i in 0..n {
            let handle = fx.mgr.run_cpu(move || black_box(i));
            black_box(handle.await.expect("the task runs"));
        }
    });
}

/// `n` sync round trips: `Handle::spawn` of a future that sends on a oneshot.
pub fn io_sync_anchor(fx: &Fixture, n: usize) {
    let handle = fx.tokio.handle();
    anchor_sync(n, |i, tx| {
        drop(handle.spawn(async move {
            let _ = tx.send(black_box(i));
        }));
    });
}

/// `n` sync round trips: `run_io(fut).wait()`.
pub fn io_sync_sluice(fx: &Fixture, n: usize) {
    for i in 0..n {
        let handle = fx.mgr.run_io(async move { black_box(i) });
        black_box(handle.wait().expect("the task runs"));
    }
}

/// `n` async round trips: `Handle::spawn(fut).await` (the `JoinHandle`).
pub fn io_async_anchor(fx: &Fixture, n: usize) {
    let handle = fx.tokio.handle();
    fx.caller.block_on(async {
        for i in 0..n {
            let joined = handle.spawn(async move { black_box(i) }).await;
            black_box(joined.expect("the task runs"));
        }
    });
}

/// `n` async round trips: `run_io(fut).await`.
pub fn io_async_sluice(fx: &Fixture, n: usize) {
    fx.caller.block_on(async {
        for i in 0..n {
            let handle = fx.mgr.run_io(async move { black_box(i) });
            black_box(handle.await.expect("the task runs"));
        }
    });
}

/// `n` sync round trips: `Handle::spawn_blocking` of a call that sends on a oneshot.
pub fn blocking_sync_anchor(fx: &Fixture, n: usize) {
    let handle = fx.tokio.handle();
    anchor_sync(n, |i, tx| {
        drop(handle.spawn_blocking(move || {
            let _ = tx.send(black_box(i));
        }));
    });
}

/// `n` sync round trips: `run_io_blocking(f).wait()`.
pub fn blocking_sync_sluice(fx: &Fixture, n: usize) {
    for i in 0..n {
        let handle = fx.mgr.run_io_blocking(move || black_box(i));
        black_box(handle.wait().expect("the task runs"));
    }
}

/// `n` async round trips: `Handle::spawn_blocking(f).await` (the `JoinHandle`).
pub fn blocking_async_anchor(fx: &Fixture, n: usize) {
    let handle = fx.tokio.handle();
    fx.caller.block_on(async {
        for i in 0..n {
            let joined = handle.spawn_blocking(move || black_box(i)).await;
            black_box(joined.expect("the call runs"));
        }
    });
}

/// `n` async round trips: `run_io_blocking(f).await`.
pub fn blocking_async_sluice(fx: &Fixture, n: usize) {
    fx.caller.block_on(async {
        for i in 0..n {
            let handle = fx.mgr.run_io_blocking(move || black_box(i));
            black_box(handle.await.expect("the task runs"));
        }
    });
}

/// `n` sync round trips: [`DequePool::spawn`](crate::deque_pool::DequePool::spawn)
/// and a oneshot.
pub fn chunk_sync_anchor(fx: &Fixture, n: usize) {
    anchor_sync(n, |i, tx| {
        fx.deque.spawn(move || {
            let _ = tx.send(black_box(i));
        });
    });
}

/// `n` sync round trips: `run_chunk(f).wait()`.
pub fn chunk_sync_sluice(fx: &Fixture, n: usize) {
    for i in 0..n {
        let handle = fx.mgr.run_chunk(move || black_box(i));
        black_box(handle.wait().expect("the task runs"));
    }
}

/// `n` async round trips: [`DequePool::spawn`](crate::deque_pool::DequePool::spawn)
/// and a oneshot, awaited.
pub fn chunk_async_anchor(fx: &Fixture, n: usize) {
    anchor_async(fx, n, |i, tx| {
        fx.deque.spawn(move || {
            let _ = tx.send(black_box(i));
        });
    });
}

/// `n` async round trips: `run_chunk(f).await`.
pub fn chunk_async_sluice(fx: &Fixture, n: usize) {
    fx.caller.block_on(async {
        for i in 0..n {
            let handle = fx.mgr.run_chunk(move || black_box(i));
            black_box(handle.await.expect("the task runs"));
        }
    });
}

/// The round-trip rows by name, for `pairs --run` (a fixed workload for a profiler).
pub const NAMES: [&str; 8] = [
    "trip-cpu-wait",
    "trip-cpu-await",
    "trip-io-wait",
    "trip-io-await",
    "trip-blocking-wait",
    "trip-blocking-await",
    "trip-chunk-wait",
    "trip-chunk-await",
];

/// One side (`sluice` or `anchor`) of the round-trip row named `name` (one of
/// [`NAMES`]).
pub fn by_name(side: &str, name: &str) -> Option<fn(&Fixture, usize)> {
    let sluice = side == "sluice";
    if !sluice && side != "anchor" {
        return None;
    }
    let pick = |s: fn(&Fixture, usize), a: fn(&Fixture, usize)| if sluice { s } else { a };
    Some(match name {
        "trip-cpu-wait" => pick(cpu_sync_sluice, cpu_sync_anchor),
        // The throttle's row: the manager with the throttle off on both sides.
        "trip-cpu-wait-unthrottled" => |fx: &Fixture, n| cpu_sync_on(&fx.unthrottled, n),
        "trip-cpu-await" => pick(cpu_async_sluice, cpu_async_anchor),
        "trip-io-wait" => pick(io_sync_sluice, io_sync_anchor),
        "trip-io-await" => pick(io_async_sluice, io_async_anchor),
        "trip-blocking-wait" => pick(blocking_sync_sluice, blocking_sync_anchor),
        "trip-blocking-await" => pick(blocking_async_sluice, blocking_async_anchor),
        "trip-chunk-wait" => pick(chunk_sync_sluice, chunk_sync_anchor),
        "trip-chunk-await" => pick(chunk_async_sluice, chunk_async_anchor),
        _ => return None,
    })
}
