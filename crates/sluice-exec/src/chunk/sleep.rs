//! How idle chunk workers sleep without missing work.
//!
//! A worker that wants to sleep registers (`sleepers += 1`), then looks for work once
//! more, and only then waits. A submitter pushes its job, then reads `sleepers`; if
//! anyone sleeps, it takes the lock and notifies. Both sides order their write before
//! their read with a `SeqCst` fence, so at least one of them sees the other: either the
//! worker's second look finds the job, or the submitter sees the sleeper and wakes it.
//! The lock around the check-then-wait means the notification cannot fall between them.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::sync::{Condvar, Mutex};

/// The sleeping half of the chunk pool.
#[derive(Default)]
pub(super) struct Sleep {
    /// Workers registered as about to sleep or sleeping.
    sleepers: AtomicUsize,
    /// Set once at shutdown.
    stopping: AtomicBool,
    /// Guards the check-then-wait.
    lock: Mutex<()>,
    /// Where sleepers wait.
    condvar: Condvar,
}

impl Sleep {
    /// Called after pushing a job: wakes one sleeper if there is one.
    pub(super) fn notify_one(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock();
            self.condvar.notify_one();
        }
    }

    /// Puts the calling worker to sleep unless `has_work` finds something once it is
    /// registered, or the pool is stopping.
    pub(super) fn sleep(&self, has_work: impl Fn() -> bool) {
        let guard = match self.lock.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if !has_work() && !self.is_stopping() {
            drop(self.condvar.wait(guard));
        } else {
            drop(guard);
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    /// Wakes every worker for good.
    pub(super) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _guard = self.lock.lock();
        self.condvar.notify_all();
    }

    pub(super) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}
