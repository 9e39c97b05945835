//! `run_process`: a [`Command`] submitted as an io task, plain or with a task's
//! policies.

use super::command::Command;
use super::output::{ProcessError, ProcessOutput};
use crate::retry::{NoRetry, RetryIf, Retrying};
use crate::{ConcurrencyManager, TaskBuilder, TaskHandle};

impl ConcurrencyManager {
    /// Runs an external command as an io task: it answers the command's
    /// [`ProcessOutput`] when it exits successfully, and
    /// [`TaskError::Failed`](crate::TaskError::Failed) with a [`ProcessError`] when it
    /// cannot start or exits unsuccessfully. When the task ends first (cancelled,
    /// aborted, shut down), the command's whole process group is ended (see
    /// [`process`](crate::process)). For a timeout, a breaker, a key or retries, use
    /// [`TaskBuilder::run_process`].
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, TaskError};
    /// use sluice::process::{Command, ProcessError};
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let echoed = mgr.run_process(Command::new("cat").stdin("prompt: go\n")).wait()?;
    /// assert_eq!(echoed.stdout, b"prompt: go\n");
    ///
    /// let missing = mgr.run_process(Command::new("no-such-tool")).wait();
    /// let Err(TaskError::Failed(error @ ProcessError::Spawn { .. })) = missing else {
    ///     panic!("a missing program is a spawn error: {missing:?}");
    /// };
    /// assert!(error.to_string().starts_with("could not start `no-such-tool`"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_process(&self, command: Command) -> TaskHandle<ProcessOutput, ProcessError> {
        self.try_run_io(command.output())
    }
}

impl TaskBuilder<'_, NoRetry> {
    /// As [`ConcurrencyManager::run_process`], with this task's policies: at its
    /// [`timeout`](Self::timeout) or [`deadline`](Self::deadline) the command's group
    /// is ended and the task answers [`TaskError::TimedOut`](crate::TaskError::TimedOut);
    /// a [`breaker`](Self::breaker) counts a failed command as a failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, TaskError};
    /// use sluice::process::Command;
    /// use std::time::Duration;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let slow = mgr
    ///     .task("convert")
    ///     .timeout(Duration::from_millis(50))
    ///     .run_process(Command::new("sleep").arg("30"));
    /// assert!(matches!(slow.wait(), Err(TaskError::TimedOut)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_process(self, command: Command) -> TaskHandle<ProcessOutput, ProcessError> {
        self.try_run_io(command.output())
    }
}

impl<C: RetryIf<ProcessError>> TaskBuilder<'_, Retrying<C>> {
    /// As [`ConcurrencyManager::run_process`], retried: each attempt runs the command
    /// again from the start (its input fed again), with the attempt's own timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    /// use sluice::process::Command;
    /// use sluice::retry::{Backoff, Retry};
    /// use std::time::Duration;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let marker = std::env::temp_dir().join(format!("sluice-doc-retry-{}", std::process::id()));
    /// // Fails the first time (no marker yet), succeeds the second.
    /// let script = format!("test -e {0} || {{ touch {0}; exit 1; }}", marker.display());
    /// let retry = Retry::builder()
    ///     .max_attempts(3)
    ///     .backoff(Backoff::exponential(Duration::from_millis(1)))
    ///     .build()?;
    /// let flaky = mgr.task("flaky").retry(retry).run_process(Command::new("sh").args(["-c", &script]));
    /// assert!(flaky.wait()?.status.success());
    /// std::fs::remove_file(marker)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_process(self, command: Command) -> TaskHandle<ProcessOutput, ProcessError> {
        self.try_run_io(move || command.clone().output())
    }
}
