//! Ending a command's whole process group: `SIGTERM` at once, `SIGKILL` once the grace
//! period has passed, the waiting done on a short-lived thread so that whoever drops
//! the command (a timeout, a cancel, shutdown) never blocks.
//!
//! The group's id is the leader's pid. While the leader is not reaped, that number
//! cannot name anything else; after it is reaped, it is still reserved while any
//! member of the group lives, so a signal to the group reaches only what the command
//! started (or, once the group is empty, nothing: `ESRCH`).

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::thread;
use std::time::{Duration, Instant};
use tokio::process::Child;

/// How long the reaper waits for a killed leader to be reaped before leaving it to
/// tokio's own reaping of dropped children.
const REAP_AFTER_KILL: Duration = Duration::from_secs(1);

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
        let reaper = Reaper {
            pgid: self.pgid,
            leader: self.leader.take(),
            // A grace too long to be an instant never ends: the group is only ever asked.
            deadline: Instant::now().checked_add(self.grace),
            program: std::mem::take(&mut self.program),
        };
        let spawned = thread::Builder::new()
            .name("sluice-reaper".into())
            .spawn(move || reaper.run());
        if let Err(error) = spawned {
            // No thread to wait on: end the group at once rather than leave it running.
            tracing::warn!(%error, "sluice: no reaper thread; killing a command's group now");
            let _ = killpg(self.pgid, Signal::SIGKILL);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.end();
    }
}

/// Waits for a group told to end, and kills what is left of it at the deadline.
struct Reaper {
    pgid: Pid,
    leader: Option<Child>,
    /// When `SIGKILL` is sent; `None`: never.
    deadline: Option<Instant>,
    program: String,
}

impl Reaper {
    fn run(mut self) {
        let mut pause = Duration::from_millis(1);
        loop {
            self.reap_leader();
            if self.leader.is_none() && !alive(self.pgid) {
                return;
            }
            let now = Instant::now();
            let left = self
                .deadline
                .map_or(pause, |deadline| deadline - now.min(deadline));
            if left.is_zero() {
                break;
            }
            thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_millis(20));
        }
        tracing::info!(program = %self.program, pgid = self.pgid.as_raw(), "sluice: a command's group outlived its grace period; SIGKILL");
        let _ = killpg(self.pgid, Signal::SIGKILL);
        let until = Instant::now() + REAP_AFTER_KILL;
        while self.leader.is_some() && Instant::now() < until {
            self.reap_leader();
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Reaps the leader if it has exited.
    fn reap_leader(&mut self) {
        if let Some(leader) = &mut self.leader
            && !matches!(leader.try_wait(), Ok(None))
        {
            self.leader = None;
        }
    }
}

/// Whether any process of group `pgid` exists (zombies included).
fn alive(pgid: Pid) -> bool {
    !matches!(killpg(pgid, None), Err(Errno::ESRCH))
}
