//! What a finished command hands back, and how running one can fail.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::process::ExitStatus;

/// How many bytes of standard error a [`ProcessError::Exited`] quotes.
const STDERR_TAIL: usize = 1024;

/// A command that exited successfully: its status and what it wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessOutput {
    /// How it exited.
    pub status: ExitStatus,
    /// The first bytes of its standard output, up to the command's limit.
    pub stdout: Vec<u8>,
    /// The last bytes of its standard error, up to the command's limit.
    pub stderr: Vec<u8>,
    /// Whether standard output went past its limit (the rest was dropped).
    pub stdout_truncated: bool,
    /// Whether standard error went past its limit (its beginning was dropped).
    pub stderr_truncated: bool,
}

impl ProcessOutput {
    /// Standard output as text, invalid UTF-8 replaced.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    /// use sluice::process::Command;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let output = mgr.run_process(Command::new("echo").arg("done")).wait()?;
    /// assert_eq!(output.stdout_lossy().trim(), "done");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stdout_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }

    /// Standard error as text, invalid UTF-8 replaced.
    pub fn stderr_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stderr)
    }
}

/// One of a command's two output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamName {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StreamName::Stdout => "stdout",
            StreamName::Stderr => "stderr",
        })
    }
}

/// Why a command did not succeed. Each error names the program.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The command could not be started: the program does not exist, is not
    /// executable, or its working directory is missing.
    #[error("could not start `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// What the operating system said.
        source: io::Error,
    },
    /// The command ran and exited unsuccessfully (a non-zero code, or a signal).
    #[error("`{program}` failed ({status}){}", tail_suffix(stderr_tail))]
    Exited {
        /// The program.
        program: String,
        /// How it exited.
        status: ExitStatus,
        /// The end of its standard error (at most 1 KiB, trimmed, invalid UTF-8
        /// replaced), for the message.
        stderr_tail: String,
        /// Everything it wrote, as captured.
        output: Box<ProcessOutput>,
    },
    /// Output went past its limit and the command was set to
    /// [`truncation_fails`](super::Command::truncation_fails).
    #[error("`{program}` wrote more than {limit} bytes to {stream}")]
    OutputTooLarge {
        /// The program.
        program: String,
        /// The stream that went past its limit.
        stream: StreamName,
        /// The limit, in bytes.
        limit: usize,
    },
    /// Feeding, reading or waiting for the command failed.
    #[error("`{program}`: {what} failed: {source}")]
    Io {
        /// The program.
        program: String,
        /// What was being done: `writing stdin`, `reading stdout`, `waiting`.
        what: &'static str,
        /// What the operating system said.
        source: io::Error,
    },
}

/// `: <tail>` after an exit status, or nothing when standard error was empty.
fn tail_suffix(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!(": {tail}")
    }
}

/// The last [`STDERR_TAIL`] bytes of `stderr` as trimmed text.
pub(super) fn stderr_tail(stderr: &[u8]) -> String {
    let start = stderr.len().saturating_sub(STDERR_TAIL);
    String::from_utf8_lossy(&stderr[start..]).trim().to_owned()
}
