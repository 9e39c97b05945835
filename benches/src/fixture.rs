//! The pools both sides run on, built once per process.

use crate::deque_pool::DequePool;
use sluice::ConcurrencyManager;
use sluice::throttle::ThrottleConfig;
use tokio::runtime::{Builder, Runtime};

/// Most blocking calls at once on each side: Sluice's default admission limit of
/// `run_io_blocking`, and the anchor runtime's `max_blocking_threads`, so that a burst
/// of `spawn_blocking` does not start eight times as many threads as Sluice admits.
pub const BLOCKING_THREADS: usize = 64;

/// Threads on each side: the machine's available parallelism (2 if unknown).
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Everything a scenario needs, built once.
pub struct Fixture {
    /// The manager under test, with its load throttle on (the default).
    pub mgr: ConcurrencyManager,
    /// The same manager with the throttle off: the anchor of the throttle's cost.
    pub unthrottled: ConcurrencyManager,
    /// The anchor of the CPU route and of `par_iter`.
    pub rayon: rayon::ThreadPool,
    /// The anchor of the IO routes: futures on its workers, blocking calls on its
    /// blocking pool.
    pub tokio: Runtime,
    /// The anchor of the chunk route.
    pub deque: DequePool,
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
        let manager = |throttle: ThrottleConfig| {
            ConcurrencyManager::builder()
                .cpu_threads(threads)
                .chunk_threads(threads)
                .io_threads(threads)
                .io_blocking_threads(BLOCKING_THREADS)
                .breaker("bench", never_trips.clone())
                .throttle(throttle)
                .build()
                .expect("the manager builds")
        };
        let rayon = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("the rayon pool builds");
        let tokio = Builder::new_multi_thread()
            .worker_threads(threads)
            .max_blocking_threads(BLOCKING_THREADS)
            .enable_all()
            .build()
            .expect("the tokio runtime builds");
        Fixture {
            mgr: manager(ThrottleConfig::new()),
            unthrottled: manager(ThrottleConfig::disabled()),
            rayon,
            tokio,
            deque: DequePool::new(threads),
            caller: caller(),
        }
    }
}

/// A current-thread runtime for async callers.
pub fn caller() -> Runtime {
    Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the caller runtime builds")
}
