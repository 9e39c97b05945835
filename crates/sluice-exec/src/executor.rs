//! The plug every backend implements.

use std::fmt;

/// A unit of work handed to a backend: run it once, on any thread.
///
/// A job that is dropped without running tells its submitter so (the facade's jobs
/// complete their task as cancelled on drop), so a backend that discards work at
/// shutdown loses nothing.
pub struct Job(Box<dyn FnOnce() + Send + 'static>);

impl Job {
    /// Wraps a closure.
    pub fn new(work: impl FnOnce() + Send + 'static) -> Self {
        Job(Box::new(work))
    }

    /// Runs the job on the calling thread.
    pub fn run(self) {
        (self.0)()
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
