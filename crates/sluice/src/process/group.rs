//! Ending a command's whole process group: `SIGTERM` at once, then the reaper thread
//! (`reaper.rs`) sends `SIGKILL` once the grace period has passed, so that whoever drops
//! the command (a timeout, a cancel, shutdown) never blocks.
//!
//! The group's id is the leader's pid. While the leader is not reaped, that number
//! cannot name anything else; after it is reaped, it is still reserved while any
//! member of the group lives, so a signal to the group reaches only what the command
//! started (or, once the group is empty, nothing: `ESRCH`).

use super::reaper::{Ending, hand_over};
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::time::{Duration, Instant};
use tokio::process::Child;

/// A running command's process group: ended when told to, or when dropped (its task
/// timed out, was cancelled or shut down).
#[derive(Debug)]
pub(super) struct Group {
    /// The group's id: the leader's pid.
    pgid: Pid,
    /// The leader, until it is reaped.
    leader: Option<Child>,
    /// Between `SIGTERM` and `SIGKILL`.
    grace: Duration,
    /// The program, for the log.
    program: String,
    /// Set once the group has been told to end.
    ended: bool,
}

impl Group {
    pub(super) fn new(pgid: Pid, leader: Child, grace: Duration, program: String) -> Self {
        Group {
            pgid,
            leader: Some(leader),
            grace,
            program,
            ended: false,
        }
    }

    /// The leader, to wait for while it runs.
    pub(super) fn leader(&mut self) -> Option<&mut Child> {
        self.leader.as_mut()
    }

    /// The leader has been reaped.
    pub(super) fn leader_reaped(&mut self) {
        self.leader = None;
    }

    /// Ends whatever is left of the group: `SIGTERM` now, `SIGKILL` after the grace
    /// period if anything is still there. Never blocks.
    pub(super) fn end(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        match killpg(self.pgid, Signal::SIGTERM) {
            // Nothing left: the usual end of a command that started nothing else.
            Err(Errno::ESRCH) if self.leader.is_none() => return,
            Err(Errno::ESRCH) => {}
            Err(error) => {
                tracing::warn!(program = %self.program, pgid = self.pgid.as_raw(), %error, "sluice: could not signal a command's group");
            }
            Ok(()) => {
                tracing::debug!(program = %self.program, pgid = self.pgid.as_raw(), "sluice: SIGTERM sent to a command's group");
            }
        }
        // A grace too long to be an instant never ends: the group is only ever asked.
        let deadline = Instant::now().checked_add(self.grace);
        let program = std::mem::take(&mut self.program);
        hand_over(Ending::new(
            self.pgid,
            self.leader.take(),
            deadline,
            program,
        ));
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.end();
    }
}
