//! The single-task calls: `run_*` and `try_run_*` on each route, and `run_on` /
//! `try_run_on` for registered backends.

use super::ConcurrencyManager;
#[cfg(doc)] // only named by `run_on`'s doc link
use crate::builder::ManagerBuilder;
use crate::task::TaskHandle;
use std::future::Future;

impl ConcurrencyManager {
    /// Runs CPU-bound work (parsing, hashing, compression) on the rayon pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let bytes = std::fs::read("Cargo.toml")?;
    /// // FNV-1a over the file's bytes, off the calling thread.
    /// let hash = mgr
    ///     .run_cpu(move || {
    ///         bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
    ///             (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    ///         })
    ///     })
    ///     .wait()?;
    /// assert_ne!(hash, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_cpu<F, T>(&self, work: F) -> TaskHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.plain_task().run_cpu(work)
    }

    /// Runs fallible CPU-bound work; its `Err(e)` answers [`TaskError::Failed`](crate::TaskError::Failed)`(e)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, TaskError};
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let port = mgr.try_run_cpu(|| "8080".parse::<u16>()).wait()?;
    /// assert_eq!(port, 8080);
    ///
    /// // The task's own error comes back flat, as `TaskError::Failed`.
    /// let bad = mgr.try_run_cpu(|| "80x80".parse::<u16>()).wait();
    /// assert!(matches!(bad, Err(TaskError::Failed(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_run_cpu<F, T, E>(&self, work: F) -> TaskHandle<T, E>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.plain_task().try_run_cpu(work)
    }

    /// Runs a small piece of work on the work-stealing chunk pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let record = "2024-05-01,sensor-7,21.5";
    /// let fields = mgr.run_chunk(move || record.split(',').count()).wait()?;
    /// assert_eq!(fields, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_chunk<F, T>(&self, work: F) -> TaskHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.plain_task().run_chunk(work)
    }

    /// Runs a fallible small piece of work on the chunk pool; its `Err(e)` answers
    /// [`TaskError::Failed`](crate::TaskError::Failed)`(e)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, TaskError};
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let reading = mgr.try_run_chunk(|| "21.5".parse::<f64>()).wait()?;
    /// assert_eq!(reading, 21.5);
    ///
    /// let missing = mgr.try_run_chunk(|| "".parse::<f64>()).wait();
    /// assert!(matches!(missing, Err(TaskError::Failed(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_run_chunk<F, T, E>(&self, work: F) -> TaskHandle<T, E>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.plain_task().try_run_chunk(work)
    }

    /// Runs a blocking call (file system, a synchronous client) on the runtime's
    /// bounded blocking pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// // Blocking directory listing, kept off the CPU pool and the runtime's workers.
    /// let sources = mgr
    ///     .run_io_blocking(|| std::fs::read_dir("src").map(|dir| dir.count()).unwrap_or(0))
    ///     .wait()?;
    /// assert!(sources > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_io_blocking<F, T>(&self, work: F) -> TaskHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.plain_task().run_io_blocking(work)
    }

    /// Runs a fallible blocking call on the runtime's blocking pool; its `Err(e)` answers
    /// [`TaskError::Failed`](crate::TaskError::Failed)`(e)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, TaskError};
    /// use std::io::ErrorKind;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let manifest = mgr.try_run_io_blocking(|| std::fs::read_to_string("Cargo.toml")).wait()?;
    /// assert!(manifest.contains("[package]"));
    ///
    /// let missing = mgr.try_run_io_blocking(|| std::fs::read("no-such-file.csv")).wait();
    /// assert!(matches!(missing, Err(TaskError::Failed(e)) if e.kind() == ErrorKind::NotFound));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_run_io_blocking<F, T, E>(&self, work: F) -> TaskHandle<T, E>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.plain_task().try_run_io_blocking(work)
    }

    /// Runs a future on the IO runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let len = mgr.run_io(async {
    ///     tokio::fs::read("Cargo.toml").await.map(|bytes| bytes.len()).unwrap_or(0)
    /// });
    /// // Waited for from synchronous code here; from async code, `.await` it instead.
    /// assert!(len.wait()? > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_io<Fut>(&self, future: Fut) -> TaskHandle<Fut::Output>
    where
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        self.plain_task().run_io(future)
    }

    /// Runs a fallible future on the IO runtime; its `Err(e)` answers
    /// [`TaskError::Failed`](crate::TaskError::Failed)`(e)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, TaskError};
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let manifest = mgr.try_run_io(tokio::fs::read_to_string("Cargo.toml")).wait()?;
    /// assert!(manifest.contains("name = \"sluice\""));
    ///
    /// let missing = mgr.try_run_io(tokio::fs::read("no-such-file.json")).wait();
    /// assert!(matches!(missing, Err(TaskError::Failed(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_run_io<Fut, T, E>(&self, future: Fut) -> TaskHandle<T, E>
    where
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.plain_task().try_run_io(future)
    }

    /// Runs work on a backend registered with
    /// [`ManagerBuilder::executor`]; an unknown name answers
    /// [`TaskError::UnknownExecutor`](crate::TaskError::UnknownExecutor) at once (nothing is submitted or counted).
    ///
    /// Work for a registered backend is never run inline by a waiting task: it always
    /// runs on the backend's own threads.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, Executor, Job, TaskError};
    /// use std::sync::{Arc, Mutex, mpsc};
    ///
    /// /// Runs every job on one dedicated thread, in order.
    /// struct OneThread(Mutex<mpsc::Sender<Job>>);
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
    /// let (tx, rx) = mpsc::channel::<Job>();
    /// std::thread::spawn(move || rx.into_iter().for_each(Job::run));
    /// let mgr = ConcurrencyManager::builder()
    ///     .executor("one-thread", Arc::new(OneThread(Mutex::new(tx))))
    ///     .build()?;
    ///
    /// let rows = mgr.run_on("one-thread", || "id,name\n1,ada\n2,bob".lines().skip(1).count());
    /// assert_eq!(rows.wait()?, 2);
    ///
    /// let unknown = mgr.run_on("gpu", || ()).wait();
    /// assert_eq!(unknown, Err(TaskError::UnknownExecutor("gpu".into())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_on<F, T>(&self, executor: &str, work: F) -> TaskHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.plain_task().run_on(executor, work)
    }

    /// Runs fallible work on a registered backend; its `Err(e)` answers
    /// [`TaskError::Failed`](crate::TaskError::Failed)`(e)`, and an unknown name answers
    /// [`TaskError::UnknownExecutor`](crate::TaskError::UnknownExecutor) as with [`run_on`](Self::run_on).
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, TaskError};
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// // No backend named "gpu" was registered: answered at once, never run.
    /// let answer = mgr.try_run_on("gpu", || "7".parse::<u8>()).wait();
    /// assert!(matches!(answer, Err(TaskError::UnknownExecutor(name)) if name == "gpu"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_run_on<F, T, E>(&self, executor: &str, work: F) -> TaskHandle<T, E>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.plain_task().try_run_on(executor, work)
    }
}
