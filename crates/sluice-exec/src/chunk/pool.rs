//! The chunk pool's threads, queues and stealing.

use super::sleep::Sleep;
use crate::{ExecError, Executor, Job};
use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use std::cell::RefCell;
use std::fmt;
use std::iter;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

/// Tells pools apart in a thread's local state.
static NEXT_POOL_ID: AtomicUsize = AtomicUsize::new(1);

/// How many empty looks a worker takes (yielding between them) before it sleeps: a
/// few microseconds that spare a wakeup when work arrives in bursts.
const SPINS_BEFORE_SLEEP: usize = 64;

thread_local! {
    /// On a chunk worker: its pool's id and its own deque.
    static LOCAL: RefCell<Option<(usize, Worker<Job>)>> = const { RefCell::new(None) };
}

/// What the pool's threads and handle share.
struct Shared {
    /// This pool's id, to recognise its own threads.
    id: usize,
    /// Jobs from outside the pool.
    injector: Injector<Job>,
    /// One per worker, to steal from its deque.
    stealers: Vec<Stealer<Job>>,
    /// Idle workers wait here.
    sleep: Sleep,
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
}

/// A work-stealing pool of `sluice-chunk-N` threads that sleep when idle.
pub struct ChunkPool {
    /// Shared with the threads.
    shared: Arc<Shared>,
    /// Thread count.
    threads: usize,
}

impl ChunkPool {
    /// Starts `threads` threads.
    pub fn new(threads: usize) -> Result<Self, ExecError> {
        if threads == 0 {
            return Err(ExecError::NoThreads { pool: "chunk" });
        }
        let workers: Vec<Worker<Job>> = (0..threads).map(|_| Worker::new_lifo()).collect();
        let shared = Arc::new(Shared {
            id: NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed),
            injector: Injector::new(),
            stealers: workers.iter().map(Worker::stealer).collect(),
            sleep: Sleep::default(),
        });
        for (index, worker) in workers.into_iter().enumerate() {
            let shared_for_thread = shared.clone();
            let name = format!("sluice-chunk-{index}");
            let spawned = thread::Builder::new()
                .name(name.clone())
                .spawn(move || run_worker(&shared_for_thread, worker));
            if let Err(source) = spawned {
                shared.sleep.stop();
                return Err(ExecError::Thread { name, source });
            }
        }
        Ok(ChunkPool { shared, threads })
    }
}

/// Runs a job, keeping the thread alive if it panics: the facade catches task panics,
/// this catches a plugged-in job's.
fn run_job(job: Job) {
    if catch_unwind(AssertUnwindSafe(|| job.run())).is_err() {
        tracing::error!("a job panicked on the chunk pool");
    }
}

fn run_worker(shared: &Shared, worker: Worker<Job>) {
    LOCAL.with(|local| *local.borrow_mut() = Some((shared.id, worker)));
    let mut idle = 0;
    loop {
        let job = LOCAL.with(|local| {
            local
                .borrow()
                .as_ref()
                .and_then(|(_, worker)| shared.find_job(worker))
        });
        match job {
            Some(job) => {
                idle = 0;
                run_job(job);
            }
            None if shared.sleep.is_stopping() => break,
            None if idle < SPINS_BEFORE_SLEEP => {
                idle += 1;
                thread::yield_now();
            }
            None => {
                idle = 0;
                shared.sleep.sleep(|| shared.has_work());
            }
        }
    }
    // Jobs still queued are dropped with the deque, which reports each as not run.
    LOCAL.with(|local| local.borrow_mut().take());
}

impl Executor for ChunkPool {
    fn name(&self) -> &str {
        "chunk"
    }

    fn parallelism(&self) -> usize {
        self.threads
    }

    fn execute(&self, job: Job) {
        let id = self.shared.id;
        let rejected = LOCAL.with(|local| match local.try_borrow().as_deref() {
            Ok(Some((pool, worker))) if *pool == id => {
                worker.push(job);
                None
            }
            _ => Some(job),
        });
        if let Some(job) = rejected {
            self.shared.injector.push(job);
        }
        self.shared.sleep.notify_one();
        if self.shared.sleep.is_stopping() {
            // The workers may have exited already: drop what nobody will run, which
            // reports each job as not run, rather than strand it in the queue.
            loop {
                match self.shared.injector.steal() {
                    Steal::Success(job) => drop(job),
                    Steal::Retry => continue,
                    Steal::Empty => break,
                }
            }
        }
    }

    fn shutdown(&self) {
        self.shared.sleep.stop();
    }
}

impl Drop for ChunkPool {
    fn drop(&mut self) {
        // Threads finish what is queued and exit; they are not joined, so dropping the
        // pool never waits on a job and is safe from one of its own threads.
        self.shared.sleep.stop();
    }
}

impl fmt::Debug for ChunkPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkPool")
            .field("threads", &self.threads)
            .finish()
    }
}
