//! Running a [`Command`]: spawn it in its own group, feed its input, capture its
//! output, wait for it, and end its group however the wait ends.

use super::capture::{Capture, Keep};
use super::command::Command;
use super::group::Group;
use super::output::{ProcessError, ProcessOutput, StreamName, stderr_tail};
use nix::unistd::Pid;
use std::io;
use std::process::ExitStatus;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::ChildStdin;

/// How long output is still read after the command's group was told to end and its
/// grace period passed: by then `SIGKILL` has closed every pipe the group held, so
/// only a process that left the group can keep one open.
const LINGER: Duration = Duration::from_secs(1);

impl Command {
    /// Runs the command here, in the calling future, and answers as its task would.
    /// [`ConcurrencyManager::run_process`](crate::ConcurrencyManager::run_process) is
    /// this future run as an io task; call it directly to run a command as one step of
    /// a future of your own. Dropping the future ends the command's group.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    /// use sluice::process::Command;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let lines = mgr.try_run_io(async {
    ///     let listing = Command::new("printf").arg("a\\nb\\n").output().await?;
    ///     Ok::<_, sluice::process::ProcessError>(listing.stdout_lossy().lines().count())
    /// });
    /// assert_eq!(lines.wait()?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn output(self) -> Result<ProcessOutput, ProcessError> {
        let program = self.program();
        let mut child = self
            .to_tokio()
            .spawn()
            .map_err(|source| ProcessError::Spawn {
                program: program.clone(),
                source,
            })?;
        let io_error = |what: &'static str| {
            let program = program.clone();
            move |source| ProcessError::Io {
                program,
                what,
                source,
            }
        };
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) else {
            // Only a child already reaped has no id, and this one was just started.
            return Err(io_error("waiting")(io::Error::other(
                "the child has no pid",
            )));
        };
        let mut group = Group::new(Pid::from_raw(pid), child, self.grace, program.clone());

        let mut out = Capture::new(self.stdout_limit, Keep::Head);
        let mut err = Capture::new(self.stderr_limit, Keep::Tail);
        let status: io::Result<ExitStatus>;
        let streams: Option<Result<(), (&'static str, io::Error)>>;
        {
            let io = async {
                let (fed, read_out, read_err) = tokio::join!(
                    feed(stdin, self.stdin.as_deref()),
                    async {
                        match stdout {
                            Some(stdout) => out.read_from(stdout).await,
                            None => Ok(()),
                        }
                    },
                    async {
                        match stderr {
                            Some(stderr) => err.read_from(stderr).await,
                            None => Ok(()),
                        }
                    },
                );
                fed.map_err(|e| ("writing stdin", e))
                    .and(read_out.map_err(|e| ("reading stdout", e)))
                    .and(read_err.map_err(|e| ("reading stderr", e)))
            };
            tokio::pin!(io);
            let mut io_done = None;
            status = match group.leader() {
                Some(leader) => tokio::select! {
                    status = leader.wait() => status,
                    done = &mut io => {
                        io_done = Some(done);
                        leader.wait().await
                    }
                },
                None => Err(io::Error::other("the child was already reaped")),
            };
            group.leader_reaped();
            // Whatever the command left in its group ends with it; that also closes
            // the pipes those processes inherited, which ends the reads below.
            group.end();
            streams = match io_done {
                Some(done) => Some(done),
                None => tokio::time::timeout(self.grace.saturating_add(LINGER), &mut io)
                    .await
                    .ok(),
            };
        }
        let status = status.map_err(io_error("waiting"))?;
        match streams {
            Some(Err((what, source))) => return Err(io_error(what)(source)),
            Some(Ok(())) => {}
            None => tracing::warn!(
                program = %program,
                "sluice: a command's output was still open after its group ended; \
                 a process it started left the group"
            ),
        }
        let (stdout, stdout_truncated) = out.finish();
        let (stderr, stderr_truncated) = err.finish();
        if self.truncation_fails {
            for (truncated, stream, limit) in [
                (stdout_truncated, StreamName::Stdout, self.stdout_limit),
                (stderr_truncated, StreamName::Stderr, self.stderr_limit),
            ] {
                if truncated {
                    return Err(ProcessError::OutputTooLarge {
                        program,
                        stream,
                        limit,
                    });
                }
            }
        }
        let output = ProcessOutput {
            status,
            stdout,
            stderr,
            stdout_truncated,
            stderr_truncated,
        };
        if output.status.success() {
            Ok(output)
        } else {
            Err(ProcessError::Exited {
                program,
                status: output.status,
                stderr_tail: stderr_tail(&output.stderr),
                output: Box::new(output),
            })
        }
    }
}

/// Writes `input` to the command's standard input and closes it. A command that exits
/// (or closes its input) before reading everything is not an error.
async fn feed(stdin: Option<ChildStdin>, input: Option<&[u8]>) -> io::Result<()> {
    let (Some(mut stdin), Some(input)) = (stdin, input) else {
        return Ok(());
    };
    match stdin.write_all(input).await {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e),
        Ok(()) => match stdin.shutdown().await {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        },
    }
}
