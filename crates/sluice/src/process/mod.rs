//! External commands as tasks: [`Command`], run by
//! [`ConcurrencyManager::run_process`](crate::ConcurrencyManager::run_process) or
//! through [`TaskBuilder::run_process`](crate::TaskBuilder::run_process) with a task's
//! policies.
//!
//! A command runs in a process group of its own. Whenever its task ends before the
//! command does — a timeout, [`cancel`](crate::TaskHandle::cancel),
//! [`abort_pending`](crate::ConcurrencyManager::abort_pending), shutdown — the whole
//! group gets `SIGTERM`, then `SIGKILL` once the command's grace period has passed, so
//! the grandchildren of a `sh -c` line end with it. Processes the command leaves in its
//! group when it exits get the same treatment. The waiting for the grace period is done
//! by one thread for all commands (`sluice-reaper`), so the task that drops a command
//! never waits for it.
//! A process that moves itself to another group or session (`setsid`, a shell with job
//! control) leaves the command's reach, as it would a terminal's.
//!
//! Standard input can be fed (a prompt); standard output and error are captured up to
//! a limit each, and the exit status is the task's outcome: a non-zero exit is
//! [`ProcessError::Exited`], naming the program, its status and the tail of its
//! standard error.
//!
//! Commands are started by tokio on the manager's runtime, which needs its IO driver: a
//! runtime attached by `Handle` must be built with `enable_io` (or `enable_all`), or
//! the task answers [`TaskError::Panicked`](crate::TaskError::Panicked) with tokio's
//! message.
//!
//! # Examples
//!
//! ```
//! use sluice::ConcurrencyManager;
//! use sluice::process::{Command, ProcessError};
//! use sluice::TaskError;
//! use std::time::Duration;
//!
//! let mgr = ConcurrencyManager::builder().build()?;
//!
//! let upper = mgr.run_process(Command::new("tr").args(["a-z", "A-Z"]).stdin("hello"));
//! assert_eq!(upper.wait()?.stdout, b"HELLO");
//!
//! // A command that outlives its timeout is ended with its whole group.
//! let stuck = mgr
//!     .task("sleepy")
//!     .timeout(Duration::from_millis(50))
//!     .run_process(Command::new("sh").args(["-c", "sleep 100 & sleep 100 & wait"]));
//! assert!(matches!(stuck.wait(), Err(TaskError::TimedOut)));
//!
//! let failed = mgr.run_process(Command::new("sh").args(["-c", "echo bad input >&2; exit 3"]));
//! match failed.wait() {
//!     Err(TaskError::Failed(ProcessError::Exited { program, status, stderr_tail, .. })) => {
//!         assert_eq!(program, "sh");
//!         assert_eq!(status.code(), Some(3));
//!         assert_eq!(stderr_tail, "bad input");
//!     }
//!     other => panic!("unexpected: {other:?}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod capture;
mod command;
mod group;
mod output;
mod reaper;
mod run;
mod submit;

pub use command::{Command, DEFAULT_CAPTURE_LIMIT, DEFAULT_GRACE};
pub use output::{ProcessError, ProcessOutput, StreamName};
