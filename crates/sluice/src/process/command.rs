//! `Command`: what to run, with what input, and how much of its output to keep.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How much of each output stream is kept unless set otherwise: 1 MiB.
pub const DEFAULT_CAPTURE_LIMIT: usize = 1 << 20;

/// How long a command's process group gets between `SIGTERM` and `SIGKILL` unless set
/// otherwise: 5 seconds.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// An external command to run as a task: the program, its arguments, environment and
/// working directory, the bytes fed to its standard input, how much of its output is
/// kept, and the grace period its process group gets between `SIGTERM` and `SIGKILL`.
///
/// Cheap to clone (its input is shared), so a retried task runs it again as it was.
/// Its standard input is empty (`/dev/null`) unless [`stdin`](Self::stdin) gives it
/// bytes: a command never reads the program's own terminal.
///
/// # Examples
///
/// ```
/// use sluice::ConcurrencyManager;
/// use sluice::process::Command;
/// use std::time::Duration;
///
/// let mgr = ConcurrencyManager::builder().build()?;
/// let cmd = Command::new("sh")
///     .arg("-c")
///     .arg("read name; echo \"hello, $name ($GREETING)\"")
///     .env("GREETING", "from sluice")
///     .stdin("ada\n")
///     .stdout_limit(64 * 1024)
///     .grace(Duration::from_secs(1));
/// let output = mgr.run_process(cmd).wait()?;
/// assert_eq!(output.stdout_lossy(), "hello, ada (from sluice)\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
#[must_use = "a command does nothing until it is run"]
pub struct Command {
    /// The program, found on `PATH` when it names no directory.
    pub(super) program: OsString,
    /// Its arguments, in order.
    pub(super) args: Vec<OsString>,
    /// Variables set (`Some`) or removed (`None`), in order.
    pub(super) env: Vec<(OsString, Option<OsString>)>,
    /// Whether the environment starts empty instead of inherited.
    pub(super) env_clear: bool,
    /// Its working directory; unset: the program's own.
    pub(super) cwd: Option<PathBuf>,
    /// What is written to its standard input, which is then closed.
    pub(super) stdin: Option<Arc<[u8]>>,
    /// How many bytes of standard output are kept (the first ones).
    pub(super) stdout_limit: usize,
    /// How many bytes of standard error are kept (the last ones).
    pub(super) stderr_limit: usize,
    /// Whether output past a limit fails the task instead of being cut.
    pub(super) truncation_fails: bool,
    /// Between `SIGTERM` and `SIGKILL` to its group.
    pub(super) grace: Duration,
}

impl Command {
    /// A command that runs `program` (looked up on `PATH` when it names no directory)
    /// with no arguments.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Command {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            env_clear: false,
            cwd: None,
            stdin: None,
            stdout_limit: DEFAULT_CAPTURE_LIMIT,
            stderr_limit: DEFAULT_CAPTURE_LIMIT,
            truncation_fails: false,
            grace: DEFAULT_GRACE,
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments, in order.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the command.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Removes an environment variable from what the command inherits.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Starts the command with an empty environment; variables set with
    /// [`env`](Self::env) are still set.
    pub fn env_clear(mut self) -> Self {
        self.env_clear = true;
        self.env.retain(|(_, value)| value.is_some());
        self
    }

    /// Runs the command in `dir`.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Feeds `input` to the command's standard input, then closes it. A command that
    /// exits without reading all of it is not an error.
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(Arc::from(input.into()));
        self
    }

    /// Keeps at most the first `bytes` of standard output (default
    /// [`DEFAULT_CAPTURE_LIMIT`]); the rest is read and dropped, and
    /// [`ProcessOutput::stdout_truncated`](super::ProcessOutput::stdout_truncated) says
    /// so. `0` sends it to `/dev/null`.
    pub fn stdout_limit(mut self, bytes: usize) -> Self {
        self.stdout_limit = bytes;
        self
    }

    /// Keeps at most the last `bytes` of standard error (default
    /// [`DEFAULT_CAPTURE_LIMIT`]) — the end is where the reason for a failure usually
    /// is; [`ProcessOutput::stderr_truncated`](super::ProcessOutput::stderr_truncated)
    /// says whether anything was dropped. `0` sends it to `/dev/null`.
    pub fn stderr_limit(mut self, bytes: usize) -> Self {
        self.stderr_limit = bytes;
        self
    }

    /// Makes output past a limit fail the task with
    /// [`ProcessError::OutputTooLarge`](super::ProcessError::OutputTooLarge) (by default
    /// it is cut and flagged).
    pub fn truncation_fails(mut self, fails: bool) -> Self {
        self.truncation_fails = fails;
        self
    }

    /// How long the command's process group gets to end after `SIGTERM` before
    /// `SIGKILL` (default [`DEFAULT_GRACE`]).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The program's name, as the errors spell it.
    pub fn program(&self) -> String {
        self.program.to_string_lossy().into_owned()
    }

    /// The `tokio` command this describes, in a process group of its own.
    pub(super) fn to_tokio(&self) -> tokio::process::Command {
        use std::process::Stdio;
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args);
        if self.env_clear {
            cmd.env_clear();
        }
        for (key, value) in &self.env {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        let piped_or_null = |wanted: bool| {
            if wanted {
                Stdio::piped()
            } else {
                Stdio::null()
            }
        };
        cmd.stdin(piped_or_null(self.stdin.is_some()))
            .stdout(piped_or_null(self.stdout_limit > 0))
            .stderr(piped_or_null(self.stderr_limit > 0))
            // Its own group, so that one signal reaches everything it starts; our
            // guard, not tokio's kill_on_drop (the leader alone), ends it.
            .process_group(0)
            .kill_on_drop(false);
        cmd
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The input's length, not its bytes: a prompt can be large.
        f.debug_struct("Command")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("env", &self.env)
            .field("env_clear", &self.env_clear)
            .field("cwd", &self.cwd)
            .field("stdin_len", &self.stdin.as_ref().map(|input| input.len()))
            .field("stdout_limit", &self.stdout_limit)
            .field("stderr_limit", &self.stderr_limit)
            .field("truncation_fails", &self.truncation_fails)
            .field("grace", &self.grace)
            .finish()
    }
}
