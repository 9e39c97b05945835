//! The blocking pool's handle: the queue, the counts of who does what, and submission.

use super::streak::Streak;
use super::worker;
use crate::Job;
use std::collections::VecDeque;
use std::fmt;
use std::mem;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// How long an idle thread waits for work before it exits: tokio's default for its own
/// blocking threads. Long enough that a steady trickle of calls keeps its threads (a
/// thread start costs tens of µs, the price of a round trip), short enough that a
/// manager that has gone quiet soon holds none.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// What the lock guards: the queue and who is doing what.
pub(super) struct State {
    /// Jobs not yet taken by a thread.
    pub(super) queue: VecDeque<Job>,
    /// Live threads, counting those reserved and still starting.
    pub(super) threads: usize,
    /// Idle threads spinning that no submitter has claimed yet.
    pub(super) spinning: usize,
    /// Idle threads parked on the condition variable that no submitter has claimed yet.
    pub(super) parked: usize,
    /// Claims on parked threads not yet taken up (a claimer counted one out of `parked`).
    pub(super) park_claims: usize,
    /// Set once by `shutdown`; from then on nothing is queued.
    pub(super) stopping: bool,
    /// Whether spinning has been paying off, and when a spinner was last claimed.
    pub(super) streak: Streak,
    /// The number in the next thread's name.
    next_name: usize,
}

/// What the handle and the threads share.
pub(super) struct Shared {
    /// The queue and the counts.
    pub(super) state: Mutex<State>,
    /// Where parked threads wait.
    pub(super) condvar: Condvar,
    /// Claims on spinning threads not yet taken up. Changed only under the lock, so it
    /// agrees with `State::spinning`; read without it by spinners, which is the point:
    /// a spinner sees its claim without a system call.
    pub(super) spin_claims: AtomicUsize,
    /// The runtime every thread enters for its life.
    pub(super) handle: Handle,
    /// Most threads at once.
    max_threads: usize,
    /// How long an idle thread waits before it exits.
    pub(super) keep_alive: Duration,
}

impl Shared {
    /// Locks the state. The lock is never held while a job runs or is dropped, so a
    /// poisoned lock can only come from a bug here; its counts are still the best there is.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a claim made on a spinning thread, if any is left. Under the lock.
    pub(super) fn take_spin_claim(&self, _state: &mut State) -> bool {
        let claimed = self.spin_claims.load(Ordering::Relaxed) > 0;
        if claimed {
            self.spin_claims.fetch_sub(1, Ordering::Relaxed);
        }
        claimed
    }
}

/// An elastic pool of `sluice-io-blocking-N` threads for blocking calls.
pub(crate) struct BlockingPool {
    /// Shared with the threads.
    shared: Arc<Shared>,
}

impl BlockingPool {
    /// A pool of at most `max_threads` threads, none started yet, entering `handle`'s
    /// runtime.
    pub(crate) fn new(handle: Handle, max_threads: usize) -> Self {
        Self::with_keep_alive(handle, max_threads, KEEP_ALIVE)
    }

    /// As [`new`](Self::new), with idle threads exiting after `keep_alive`.
    pub(crate) fn with_keep_alive(
        handle: Handle,
        max_threads: usize,
        keep_alive: Duration,
    ) -> Self {
        let state = State {
            queue: VecDeque::new(),
            threads: 0,
            spinning: 0,
            parked: 0,
            park_claims: 0,
            stopping: false,
            streak: Streak::default(),
            next_name: 0,
        };
        BlockingPool {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                condvar: Condvar::new(),
                spin_claims: AtomicUsize::new(0),
                handle,
                max_threads: max_threads.max(1),
                keep_alive,
            }),
        }
    }

    /// Queues `job` and makes sure a thread will take it: an idle one (a spinner first,
    /// which costs no system call), else a new one, else one of the busy ones once its
    /// own job ends. Never blocks on a job; after shutdown, drops it at once.
    pub(crate) fn execute(&self, job: Job) {
        let shared = &*self.shared;
        let mut state = shared.lock();
        if state.stopping {
            drop(state);
            // Dropping reports the job as never run; outside the lock, since that report
            // may submit again.
            drop(job);
            return;
        }
        state.queue.push_back(job);
        let mut wake = false;
        let start = if state.spinning > 0 {
            state.spinning -= 1;
            state.streak.claimed(Instant::now());
            shared.spin_claims.fetch_add(1, Ordering::Release);
            None
        } else if state.parked > 0 {
            state.parked -= 1;
            state.park_claims += 1;
            wake = true;
            None
        } else if state.threads < shared.max_threads {
            state.threads += 1;
            state.next_name += 1;
            Some(state.next_name - 1)
        } else {
            // Every thread is busy: each looks at the queue again before it goes idle.
            None
        };
        drop(state);
        // After the lock, so the woken thread does not wake only to wait for it. The
        // claim is already recorded, and the parked thread was waiting before we could
        // lock, so the notification cannot miss it.
        if wake {
            shared.condvar.notify_one();
        }
        if let Some(index) = start {
            self.start_thread(index);
        }
    }

    /// Starts thread `index`, already counted in `threads`.
    fn start_thread(&self, index: usize) {
        let name = format!("sluice-io-blocking-{index}");
        let shared = self.shared.clone();
        let started = thread::Builder::new()
            .name(name.clone())
            .spawn(move || worker::run(&shared));
        if let Err(error) = started {
            tracing::error!(%error, thread = name, "failed to start a blocking thread");
            let mut state = self.shared.lock();
            state.threads -= 1;
            // With no thread left, nobody would take the queue: drop it, which reports
            // each job as never run. Otherwise the busy threads take it in turn.
            let orphans = if state.threads == 0 {
                mem::take(&mut state.queue)
            } else {
                VecDeque::new()
            };
            drop(state);
            drop(orphans);
        }
    }

    /// Stops the pool without waiting: queued jobs are dropped (reported as never run),
    /// running ones finish on their own, and every thread exits when it is next idle.
    pub(crate) fn shutdown(&self) {
        let mut state = self.shared.lock();
        if state.stopping {
            return;
        }
        state.stopping = true;
        let queued = mem::take(&mut state.queue);
        self.shared.condvar.notify_all();
        drop(state);
        if !queued.is_empty() {
            tracing::debug!(
                dropped = queued.len(),
                "blocking pool stopped with jobs queued"
            );
        }
        drop(queued);
    }

    /// Live threads, for tests.
    #[cfg(test)]
    pub(crate) fn threads(&self) -> usize {
        self.shared.lock().threads
    }
}

impl Drop for BlockingPool {
    fn drop(&mut self) {
        // The threads hold the shared state, not the pool: without this, idle threads
        // would linger for their keep-alive.
        self.shutdown();
    }
}

impl fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("BlockingPool")
            .field("max_threads", &self.shared.max_threads)
            .field("threads", &state.threads)
            .field("queued", &state.queue.len())
            .field("stopping", &state.stopping)
            .finish()
    }
}
