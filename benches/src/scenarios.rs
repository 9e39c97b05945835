//! Seed scenarios: IO workloads whose ideal time is known, on Sluice and on raw tokio.
//!
//! - in flight: `tasks` futures each sleeping `sleep`, at most [`IN_FLIGHT`] at once
//!   (Sluice's `io_limit`; the anchor's `tokio::sync::Semaphore`). Ideal: one `sleep`
//!   per wave of [`IN_FLIGHT`]. The same with blocking calls (`std::thread::sleep` in
//!   `run_io_blocking`, against `spawn_blocking` on a runtime of [`IN_FLIGHT`] blocking
//!   threads) shows what the timer costs: tokio's timer counts whole milliseconds, so a
//!   10 ms sleep takes 10–11 ms, while a thread's sleep is exact to a few µs.
//! - per key: `keys` keys × `per_key` futures each sleeping `sleep`, one at a time per
//!   key in submission order, at most [`KEYED_IN_FLIGHT`] at once. Sluice orders them
//!   with `task(..).key(k)` under `KeyOrder::PerKey`; the anchor runs one sequential
//!   chain per key, each step holding a permit of a `Semaphore` of
//!   [`KEYED_IN_FLIGHT`]. Ideal: the busier of one key's chain and the total work over
//!   the limit.
//! - strict: the same tasks under `KeyOrder::Strict`, one at a time across all keys;
//!   the anchor is one sequential loop. Ideal: the sum of the sleeps.
//!
//! Tasks are submitted key after key (all of key 0's, then key 1's …), so a key's
//! queued tasks must not hold back the other keys. The scenario managers run with the
//! load throttle off: on a shared machine it would rightly give way to a neighbour's
//! build, which is its job but not what these rows measure.

use sluice::throttle::ThrottleConfig;
use sluice::{ConcurrencyManager, KeyOrder};
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::{Builder, Runtime};
use tokio::sync::Semaphore;

/// Most tasks in flight in the in-flight scenario.
pub const IN_FLIGHT: usize = 50;
/// Most tasks in flight in the keyed scenarios.
pub const KEYED_IN_FLIGHT: usize = 5;

/// The in-flight scenario's size.
#[derive(Clone, Copy, Debug)]
pub struct Flight {
    /// Tasks in all.
    pub tasks: usize,
    /// How long each sleeps.
    pub sleep: Duration,
}

impl Flight {
    /// One `sleep` per wave of [`IN_FLIGHT`] tasks.
    pub fn ideal(&self) -> Duration {
        self.sleep * self.tasks.div_ceil(IN_FLIGHT) as u32
    }
}

/// The keyed scenarios' size.
#[derive(Clone, Copy, Debug)]
pub struct Keyed {
    /// Distinct keys.
    pub keys: usize,
    /// Tasks per key.
    pub per_key: usize,
    /// How long each sleeps.
    pub sleep: Duration,
}

impl Keyed {
    /// Per-key order at [`KEYED_IN_FLIGHT`]: the longer of one key's chain and all the
    /// work spread over the limit.
    pub fn ideal_per_key(&self) -> Duration {
        let waves = (self.keys * self.per_key).div_ceil(KEYED_IN_FLIGHT);
        self.sleep * waves.max(self.per_key) as u32
    }

    /// Strict order: every task after the last.
    pub fn ideal_strict(&self) -> Duration {
        self.sleep * (self.keys * self.per_key) as u32
    }

    /// Every task's key, key after key.
    fn keys(&self) -> impl Iterator<Item = String> + use<> {
        let per_key = self.per_key;
        (0..self.keys).flat_map(move |k| std::iter::repeat_n(format!("key-{k}"), per_key))
    }
}

/// The managers and the anchor runtime of the scenarios, built once.
pub struct Scenarios {
    /// `io_limit(IN_FLIGHT)` and `io_blocking_threads(IN_FLIGHT)`.
    pub flight: ConcurrencyManager,
    /// `io_limit(KEYED_IN_FLIGHT)`, per-key order.
    pub per_key: ConcurrencyManager,
    /// `io_limit(KEYED_IN_FLIGHT)`, strict order.
    pub strict: ConcurrencyManager,
    /// The anchor: a multi-thread runtime of as many workers, with at most
    /// [`IN_FLIGHT`] blocking threads.
    pub tokio: Runtime,
}

impl Scenarios {
    /// Runtimes of `threads` worker threads on both sides.
    pub fn new(threads: usize) -> Self {
        let manager = |limit: usize, order: KeyOrder| {
            ConcurrencyManager::builder()
                .io_threads(threads)
                .io_limit(limit)
                .io_blocking_threads(IN_FLIGHT)
                .key_order(order)
                .throttle(ThrottleConfig::disabled())
                .build()
                .expect("the manager builds")
        };
        let tokio = Builder::new_multi_thread()
            .worker_threads(threads)
            .max_blocking_threads(IN_FLIGHT)
            .enable_all()
            .build()
            .expect("the tokio runtime builds");
        Scenarios {
            flight: manager(IN_FLIGHT, KeyOrder::PerKey),
            per_key: manager(KEYED_IN_FLIGHT, KeyOrder::PerKey),
            strict: manager(KEYED_IN_FLIGHT, KeyOrder::Strict),
            tokio,
        }
    }

    /// In flight on raw tokio: every task spawned at once, each sleeping while it
    /// holds a permit of a `Semaphore` of [`IN_FLIGHT`].
    pub fn flight_anchor(&self, shape: Flight) {
        let permits = Arc::new(Semaphore::new(IN_FLIGHT));
        let joins: Vec<_> = (0..shape.tasks)
            .map(|_| {
                let permits = permits.clone();
                self.tokio.spawn(async move {
                    let _permit = permits.acquire().await.expect("never closed");
                    tokio::time::sleep(shape.sleep).await;
                })
            })
            .collect();
        self.join_all(joins);
    }

    /// In flight on Sluice: every task through `run_io` at once, the manager's
    /// `io_limit` keeping [`IN_FLIGHT`] in flight.
    pub fn flight_sluice(&self, shape: Flight) {
        let handles: Vec<_> = (0..shape.tasks)
            .map(|_| {
                self.flight
                    .run_io(async move { tokio::time::sleep(shape.sleep).await })
            })
            .collect();
        for handle in handles {
            handle.wait().expect("the task runs");
        }
    }

    /// In flight with blocking calls on raw tokio: `spawn_blocking` of a thread sleep,
    /// the runtime's [`IN_FLIGHT`] blocking threads keeping that many in flight.
    pub fn flight_blocking_anchor(&self, shape: Flight) {
        let joins: Vec<_> = (0..shape.tasks)
            .map(|_| {
                self.tokio
                    .spawn_blocking(move || std::thread::sleep(shape.sleep))
            })
            .collect();
        self.join_all(joins);
    }

    /// In flight with blocking calls on Sluice: `run_io_blocking` of a thread sleep,
    /// at most [`IN_FLIGHT`] admitted at once.
    pub fn flight_blocking_sluice(&self, shape: Flight) {
        let handles: Vec<_> = (0..shape.tasks)
            .map(|_| {
                self.flight
                    .run_io_blocking(move || std::thread::sleep(shape.sleep))
            })
            .collect();
        for handle in handles {
            handle.wait().expect("the task runs");
        }
    }

    /// Per key on raw tokio: one task per key running its sleeps in turn, each sleep
    /// holding a permit of a `Semaphore` of [`KEYED_IN_FLIGHT`].
    pub fn per_key_anchor(&self, shape: Keyed) {
        let permits = Arc::new(Semaphore::new(KEYED_IN_FLIGHT));
        let joins: Vec<_> = (0..shape.keys)
            .map(|_| {
                let permits = permits.clone();
                self.tokio.spawn(async move {
                    for _ in 0..shape.per_key {
                        let _permit = permits.acquire().await.expect("never closed");
                        tokio::time::sleep(shape.sleep).await;
                    }
                })
            })
            .collect();
        self.join_all(joins);
    }

    /// Per key on Sluice: every task through `task(..).key(k).run_io` at once.
    pub fn per_key_sluice(&self, shape: Keyed) {
        keyed_on(&self.per_key, shape);
    }

    /// Strict on raw tokio: one loop of all the sleeps.
    pub fn strict_anchor(&self, shape: Keyed) {
        let joined = self.tokio.spawn(async move {
            for _ in 0..shape.keys * shape.per_key {
                tokio::time::sleep(shape.sleep).await;
            }
        });
        self.join_all(vec![joined]);
    }

    /// Strict on Sluice: the per-key workload on a manager in `KeyOrder::Strict`.
    pub fn strict_sluice(&self, shape: Keyed) {
        keyed_on(&self.strict, shape);
    }

    /// Waits for the anchor's tasks.
    fn join_all(&self, joins: Vec<tokio::task::JoinHandle<()>>) {
        self.tokio.block_on(async {
            for join in joins {
                join.await.expect("the task runs");
            }
        });
    }
}

/// The keyed workload through `mgr`, submitted key after key, then waited for.
fn keyed_on(mgr: &ConcurrencyManager, shape: Keyed) {
    let handles: Vec<_> = shape
        .keys()
        .map(|key| {
            mgr.task("scenario")
                .key(key)
                .run_io(async move { tokio::time::sleep(shape.sleep).await })
        })
        .collect();
    for handle in handles {
        handle.wait().expect("the task runs");
    }
}
