//! Benchmark scenarios: each Sluice route next to its raw anchor.
//!
//! Both the criterion bench (`benches/overhead.rs`, detailed per-function profiles) and
//! the interleaved runner (`src/bin/pairs.rs`, driven by `cargo xtask bench`, which
//! writes `docs/benchmarks.md`) call these functions, so the two always measure the
//! same code. The anchor and Sluice get the same number of threads.

use rayon::prelude::*;
use sluice::ConcurrencyManager;
use std::hint::black_box;
use tokio::runtime::{Builder, Runtime};

/// Everything a scenario needs, built once.
pub struct Fixture {
    /// The manager under test, with its load throttle on (the default).
    pub mgr: ConcurrencyManager,
    /// The same manager with the throttle off: the anchor of the throttle's cost.
    pub unthrottled: ConcurrencyManager,
    /// The anchor for the CPU route and for `par_iter`.
    pub rayon: rayon::ThreadPool,
    /// The anchor for the IO route.
    pub tokio: Runtime,
    /// A current-thread runtime the async callers run on, for both sides.
    pub caller: Runtime,
}

impl Fixture {
    /// Pools of `threads` threads on both sides.
    pub fn new(threads: usize) -> Self {
        let never_trips = sluice::BreakerConfig::builder()
            .consecutive_failures(1_000_000)
            .build()
            .expect("a valid breaker config");
        let manager = |throttle: sluice::throttle::ThrottleConfig| {
            ConcurrencyManager::builder()
                .cpu_threads(threads)
                .chunk_threads(threads)
                .io_threads(threads)
                .breaker("bench", never_trips.clone())
                .throttle(throttle)
                .build()
                .expect("the manager builds")
        };
        let mgr = manager(sluice::throttle::ThrottleConfig::new());
        let unthrottled = manager(sluice::throttle::ThrottleConfig::disabled());
        let rayon = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("the rayon pool builds");
        let tokio = Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .expect("the tokio runtime builds");
        let caller = Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the caller runtime builds");
        Fixture {
            mgr,
            unthrottled,
            rayon,
            tokio,
            caller,
        }
    }
}

/// About 20 ns of arithmetic on this machine's cores: the "tiny item" of the map
/// scenarios. Opaque to the optimiser.
#[inline]
pub fn work_20ns(item: u64) -> u64 {
    let mut x = black_box(item);
    for _ in 0..22 {
        x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ item;
    }
    x
}

/// About `micros` microseconds of busy work: the "heavy item" of the map scenarios.
pub fn busy_item(item: u64, micros: u64) -> u64 {
    let until = std::time::Instant::now() + std::time::Duration::from_micros(micros);
    let mut x = item;
    while std::time::Instant::now() < until {
        x = work_20ns(x);
    }
    x
}

/// `par_iter` over `n` heavy items on the anchor pool.
pub fn map_heavy_par_iter(fx: &Fixture, n: u64, micros: u64) -> Vec<u64> {
    fx.rayon.install(|| {
        (0..n)
            .into_par_iter()
            .map(|i| busy_item(i, micros))
            .collect()
    })
}

/// `map_chunks` over `n` heavy items.
pub fn map_heavy_sluice(fx: &Fixture, n: u64, micros: u64) -> Vec<u64> {
    fx.mgr
        .map_chunks(0..n, move |i| busy_item(i, micros))
        .wait()
        .expect("the map runs")
}

/// `n` tasks of about `micros` µs each, submitted at once and then waited for.
pub fn tasks_plain(fx: &Fixture, n: usize, micros: u64) {
    tasks_on(&fx.mgr, n, micros);
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
                .timeout(std::time::Duration::from_secs(60))
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

/// `n` sequential round trips: `rayon::ThreadPool::spawn` and a oneshot, waited on.
pub fn cpu_roundtrip_anchor(fx: &Fixture, n: usize) {
    for i in 0..n {
        let (tx, rx) = tokio::sync::oneshot::channel();
        fx.rayon.spawn(move || {
            let _ = tx.send(black_box(i));
        });
        black_box(rx.blocking_recv().expect("the job sends"));
    }
}

/// `n` sequential round trips: `run_cpu(..).wait()`.
pub fn cpu_roundtrip_sluice(fx: &Fixture, n: usize) {
    cpu_roundtrip_on(&fx.mgr, n);
}

/// `n` sequential round trips through `mgr`: `run_cpu(..).wait()`.
pub fn cpu_roundtrip_on(mgr: &ConcurrencyManager, n: usize) {
    for i in 0..n {
        black_box(
            mgr.run_cpu(move || black_box(i))
                .wait()
                .expect("the task runs"),
        );
    }
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

/// `n` sequential round trips from async code: `rayon::spawn` and a oneshot, awaited.
pub fn cpu_roundtrip_async_anchor(fx: &Fixture, n: usize) {
    fx.caller.block_on(async {
        for i in 0..n {
            let (tx, rx) = tokio::sync::oneshot::channel();
            fx.rayon.spawn(move || {
                let _ = tx.send(black_box(i));
            });
            black_box(rx.await.expect("the job sends"));
        }
    });
}

/// `n` sequential round trips from async code: `run_cpu(..).await`.
pub fn cpu_roundtrip_async_sluice(fx: &Fixture, n: usize) {
    fx.caller.block_on(async {
        for i in 0..n {
            black_box(
                fx.mgr
                    .run_cpu(move || black_box(i))
                    .await
                    .expect("the task runs"),
            );
        }
    });
}

/// `n` sequential round trips: `tokio::spawn(fut).await` onto a multi-thread runtime.
pub fn io_roundtrip_anchor(fx: &Fixture, n: usize) {
    let handle = fx.tokio.handle().clone();
    fx.caller.block_on(async {
        for i in 0..n {
            black_box(
                handle
                    .spawn(async move { black_box(i) })
                    .await
                    .expect("the task runs"),
            );
        }
    });
}

/// `n` sequential round trips: `run_io(fut).await`.
pub fn io_roundtrip_sluice(fx: &Fixture, n: usize) {
    fx.caller.block_on(async {
        for i in 0..n {
            black_box(
                fx.mgr
                    .run_io(async move { black_box(i) })
                    .await
                    .expect("the task runs"),
            );
        }
    });
}

/// `(0..n).into_par_iter().map(work_20ns).collect()` on the anchor pool.
pub fn map_par_iter(fx: &Fixture, n: u64) -> Vec<u64> {
    fx.rayon
        .install(|| (0..n).into_par_iter().map(work_20ns).collect())
}

/// `map_chunks(0..n, work_20ns)`.
pub fn map_sluice(fx: &Fixture, n: u64) -> Vec<u64> {
    fx.mgr
        .map_chunks(0..n, work_20ns)
        .wait()
        .expect("the map runs")
}

/// The same map on the calling thread alone.
pub fn map_sequential(n: u64) -> Vec<u64> {
    (0..n).map(work_20ns).collect()
}
