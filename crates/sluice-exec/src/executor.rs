//! The plug every backend implements.

use std::fmt;
use std::sync::Arc;

/// A unit of work handed to a backend: run it once, on any thread.
///
/// A job that is dropped without running tells its submitter so (the facade's jobs
/// complete their task as cancelled on drop), so a backend that discards work at
/// shutdown loses nothing.
pub struct Job(Option<Work>);

/// What a job runs: a boxed closure, or a shared task that needs no box of its own.
enum Work {
    /// A closure, boxed.
    Boxed(Box<dyn FnOnce() + Send + 'static>),
    /// A task already behind an `Arc`: the facade's tasks, so that handing one to a
    /// backend allocates nothing more.
    Shared(Arc<dyn Runnable>),
}

/// Work already shared behind an `Arc` that a [`Job`] can carry without boxing it
/// again: one allocation fewer per job than [`Job::new`].
///
/// # Examples
///
/// ```
/// use sluice_exec::{Job, Runnable};
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// struct Flag(AtomicBool);
///
/// impl Runnable for Flag {
///     fn run(self: Arc<Self>) {
///         self.0.store(true, Ordering::Release);
///     }
///     fn dropped(self: Arc<Self>) {}
/// }
///
/// let flag = Arc::new(Flag(AtomicBool::new(false)));
/// Job::shared(flag.clone()).run();
/// assert!(flag.0.load(Ordering::Acquire));
/// ```
pub trait Runnable: Send + Sync + 'static {
    /// Runs the work: called at most once per job that carries it.
    fn run(self: Arc<Self>);

    /// The job carrying it was dropped without running (a backend that will never
    /// run it): the work's owner learns so here.
    fn dropped(self: Arc<Self>);
}

impl Job {
    /// Wraps a closure.
    pub fn new(work: impl FnOnce() + Send + 'static) -> Self {
        Job(Some(Work::Boxed(Box::new(work))))
    }

    /// Carries shared work without another allocation; if the job is dropped unrun,
    /// [`Runnable::dropped`] is called instead of [`Runnable::run`].
    pub fn shared(work: Arc<dyn Runnable>) -> Self {
        Job(Some(Work::Shared(work)))
    }

    /// Runs the job on the calling thread.
    pub fn run(mut self) {
        match self.0.take() {
            Some(Work::Boxed(work)) => work(),
            Some(Work::Shared(work)) => work.run(),
            None => {}
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Some(Work::Shared(work)) = self.0.take() {
            work.dropped();
        }
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job").finish_non_exhaustive()
    }
}

/// A backend: something that runs [`Job`]s.
///
/// Implement it to give Sluice a pool of your own (one that holds a GPU, a remote
/// queue, a single dedicated thread) and register it with the manager's builder.
///
/// # Contract
/// - `execute` must not run the job on the calling thread before returning: the caller
///   may hold locks or be inside another job. Hand it to a thread.
/// - Every job is either run once or dropped; dropping is how a backend reports that it
///   will never run it.
///
/// # Examples
///
/// ```
/// use sluice_exec::{Executor, Job};
/// use std::sync::{mpsc, Mutex};
/// use std::thread;
///
/// /// Runs every job on one dedicated thread, in order.
/// struct OneThread(Mutex<mpsc::Sender<Job>>);
///
/// impl OneThread {
///     fn start() -> Self {
///         let (tx, rx) = mpsc::channel::<Job>();
///         thread::spawn(move || rx.into_iter().for_each(Job::run));
///         OneThread(Mutex::new(tx))
///     }
/// }
///
/// impl Executor for OneThread {
///     fn name(&self) -> &str {
///         "one-thread"
///     }
///     fn parallelism(&self) -> usize {
///         1
///     }
///     fn execute(&self, job: Job) {
///         // A send error means the thread is gone: the job is dropped, which reports it.
///         let _ = self.0.lock().unwrap().send(job);
///     }
/// }
///
/// let exec = OneThread::start();
/// let (tx, rx) = mpsc::channel();
/// exec.execute(Job::new(move || tx.send("ran").unwrap()));
/// assert_eq!(rx.recv().unwrap(), "ran");
/// ```
pub trait Executor: Send + Sync + 'static {
    /// A short name for logs and snapshots.
    fn name(&self) -> &str;

    /// How many jobs it runs at once; the manager's default admission limit for it.
    fn parallelism(&self) -> usize;

    /// Runs `job` once, soon, on one of its threads.
    fn execute(&self, job: Job);

    /// Stops taking jobs and lets the threads go. Must not block on running jobs and
    /// must not panic, even when called from one of the backend's own threads.
    fn shutdown(&self) {}
}

#[cfg(test)]
mod tests {
    use super::{Job, Runnable};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Counts runs and drops unrun.
    #[derive(Default)]
    struct Tally {
        ran: AtomicU32,
        dropped: AtomicU32,
    }

    impl Runnable for Tally {
        fn run(self: Arc<Self>) {
            self.ran.fetch_add(1, Ordering::Relaxed);
        }
        fn dropped(self: Arc<Self>) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn a_shared_job_runs_once_or_reports_that_it_never_will() {
        let tally = Arc::new(Tally::default());
        Job::shared(tally.clone()).run();
        drop(Job::shared(tally.clone()));
        assert_eq!(tally.ran.load(Ordering::Relaxed), 1);
        assert_eq!(tally.dropped.load(Ordering::Relaxed), 1);
    }
}
