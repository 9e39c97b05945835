//! A raw work-stealing pool on `crossbeam-deque`: the anchor of the chunk route.
//!
//! It is the pool anyone would write from the crate's documentation, and no more: an
//! [`Injector`] takes jobs from outside; each worker owns a [`Worker`] deque and looks,
//! in turn, at its own deque, a batch from the injector, then its peers' [`Stealer`]s.
//! An idle worker takes a few yielding looks before it sleeps on a condvar (rayon's
//! and Sluice's pools both spin a little first, so the comparison is not about idle
//! policy); a submitter wakes one sleeper if there is one. There is no admission
//! limit, no counting, no cancellation: what is left is the cost of the queues.

use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use std::iter;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

/// A job: any sendable closure. The caller brings its own completion (a oneshot).
pub type Job = Box<dyn FnOnce() + Send>;

/// Empty looks (yielding between them) before a worker sleeps: the same as Sluice's
/// chunk pool.
const SPINS_BEFORE_SLEEP: usize = 64;

/// What the pool's threads and handle share.
struct Shared {
    /// Jobs from outside the pool.
    injector: Injector<Job>,
    /// One per worker, to steal from its deque.
    stealers: Vec<Stealer<Job>>,
    /// Workers asleep or about to sleep; a submitter that sees none skips the lock.
    sleepers: AtomicUsize,
    /// Held while a worker decides to sleep and while a submitter wakes one.
    lock: Mutex<()>,
    /// Where sleeping workers wait.
    wake: Condvar,
    /// Set when the pool is dropped.
    stop: AtomicBool,
}

impl Shared {
    fn has_work(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }

    /// Local deque first, then a batch from the injector, then the peers.
    fn find_job(&self, local: &Worker<Job>) -> Option<Job> {
        local.pop().or_else(|| {
            iter::repeat_with(|| {
                self.injector.steal_batch_and_pop(local).or_else(|| {
                    self.stealers
                        .iter()
                        .map(Stealer::steal)
                        .collect::<Steal<Job>>()
                })
            })
            .find(|steal| !steal.is_retry())
            .and_then(Steal::success)
        })
    }

    /// A worker's life: run what it finds, spin a little, sleep, until the pool drops.
    fn work(&self, local: &Worker<Job>) {
        let mut empty_looks = 0;
        loop {
            if let Some(job) = self.find_job(local) {
                // A panicking job is dropped; the worker carries on.
                let _ = catch_unwind(AssertUnwindSafe(job));
                empty_looks = 0;
                continue;
            }
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            if empty_looks < SPINS_BEFORE_SLEEP {
                empty_looks += 1;
                thread::yield_now();
                continue;
            }
            let guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            // Pairs with the fence in `spawn`: either the submitter sees this sleeper,
            // or this look sees its job.
            fence(Ordering::SeqCst);
            if !self.has_work() && !self.stop.load(Ordering::SeqCst) {
                drop(
                    self.wake
                        .wait(guard)
                        .unwrap_or_else(PoisonError::into_inner),
                );
            } else {
                drop(guard);
            }
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            empty_looks = 0;
        }
    }
}

/// A work-stealing pool of `threads` threads that sleep when idle.
pub struct DequePool {
    /// Shared with the threads.
    shared: Arc<Shared>,
    /// The threads, joined on drop.
    threads: Vec<JoinHandle<()>>,
}

impl DequePool {
    /// Starts `threads` threads (at least one).
    pub fn new(threads: usize) -> Self {
        let workers: Vec<Worker<Job>> = (0..threads.max(1)).map(|_| Worker::new_lifo()).collect();
        let shared = Arc::new(Shared {
            injector: Injector::new(),
            stealers: workers.iter().map(Worker::stealer).collect(),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let threads = workers
            .into_iter()
            .enumerate()
            .map(|(n, local)| {
                let shared = shared.clone();
                thread::Builder::new()
                    .name(format!("deque-pool-{n}"))
                    .spawn(move || shared.work(&local))
                    .expect("the pool's thread starts")
            })
            .collect();
        DequePool { shared, threads }
    }

    /// Queues `job` and wakes a sleeping worker if there is one.
    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        self.shared.injector.push(Box::new(job));
        fence(Ordering::SeqCst);
        if self.shared.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self
                .shared
                .lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.shared.wake.notify_one();
        }
    }
}

impl Drop for DequePool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _guard = self
                .shared
                .lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.shared.wake.notify_all();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DequePool;

    #[test]
    fn runs_every_job() {
        let pool = DequePool::new(2);
        let receivers: Vec<_> = (0..1_000u64)
            .map(|i| {
                let (tx, rx) = tokio::sync::oneshot::channel();
                pool.spawn(move || {
                    let _ = tx.send(i * 2);
                });
                rx
            })
            .collect();
        let sum: u64 = receivers
            .into_iter()
            .map(|rx| rx.blocking_recv().expect("the job sends"))
            .sum();
        assert_eq!(sum, 999 * 1_000);
    }
}
