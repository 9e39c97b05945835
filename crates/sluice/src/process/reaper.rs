//! The one thread (`sluice-reaper`, started at the first need) that sees command groups
//! to their end: it looks at every group told to end each few milliseconds, reaps its
//! leader, and sends `SIGKILL` to what is left at the end of its grace period. One
//! thread for all, so that a shutdown ending hundreds of commands starts no more.

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::sync::OnceLock;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};
use tokio::process::Child;

/// How often each group is looked at.
const POLL: Duration = Duration::from_millis(10);

/// How long a killed leader is waited for to be reaped before it is left to tokio's
/// own reaping of dropped children.
const REAP_AFTER_KILL: Duration = Duration::from_secs(1);

/// The reaper thread's inbox; `None` when the thread could not start.
static REAPER: OnceLock<Option<Sender<Ending>>> = OnceLock::new();

/// A group that was sent `SIGTERM`, until it is gone.
#[derive(Debug)]
pub(super) struct Ending {
    /// The group's id.
    pgid: Pid,
    /// The leader, until it is reaped.
    leader: Option<Child>,
    /// When `SIGKILL` is due; `None`: never.
    deadline: Option<Instant>,
    /// The program, for the log.
    program: String,
    /// When `SIGKILL` was sent.
    killed_at: Option<Instant>,
}

impl Ending {
    pub(super) fn new(
        pgid: Pid,
        leader: Option<Child>,
        deadline: Option<Instant>,
        program: String,
    ) -> Self {
        Ending {
            pgid,
            leader,
            deadline,
            program,
            killed_at: None,
        }
    }

    /// One look at the group; true when nothing is left to do.
    fn step(&mut self, now: Instant) -> bool {
        if let Some(leader) = &mut self.leader
            && !matches!(leader.try_wait(), Ok(None))
        {
            self.leader = None;
        }
        if let Some(killed_at) = self.killed_at {
            return self.leader.is_none() || now.duration_since(killed_at) >= REAP_AFTER_KILL;
        }
        if self.leader.is_none() && !alive(self.pgid) {
            return true;
        }
        if self.deadline.is_some_and(|deadline| now >= deadline) {
            tracing::info!(program = %self.program, pgid = self.pgid.as_raw(), "sluice: a command's group outlived its grace period; SIGKILL");
            let _ = killpg(self.pgid, Signal::SIGKILL);
            self.killed_at = Some(now);
        }
        false
    }
}

/// Hands `ending` to the reaper thread; without one, kills the group at once rather
/// than leave it running.
pub(super) fn hand_over(ending: Ending) {
    let refused = match REAPER.get_or_init(start) {
        Some(inbox) => match inbox.send(ending) {
            Ok(()) => return,
            Err(mpsc::SendError(ending)) => ending,
        },
        None => ending,
    };
    tracing::warn!(program = %refused.program, "sluice: no reaper thread; killing a command's group now");
    let _ = killpg(refused.pgid, Signal::SIGKILL);
}

fn start() -> Option<Sender<Ending>> {
    let (inbox, endings) = mpsc::channel();
    match thread::Builder::new()
        .name("sluice-reaper".into())
        .spawn(move || run(&endings))
    {
        Ok(_) => Some(inbox),
        Err(error) => {
            tracing::warn!(%error, "sluice: could not start the reaper thread");
            None
        }
    }
}

/// Sleeps while no group is ending; otherwise looks at each every [`POLL`].
fn run(inbox: &mpsc::Receiver<Ending>) {
    let mut endings: Vec<Ending> = Vec::new();
    loop {
        if endings.is_empty() {
            match inbox.recv() {
                Ok(ending) => endings.push(ending),
                Err(_) => return,
            }
        }
        let now = Instant::now();
        endings.retain_mut(|ending| !ending.step(now));
        if endings.is_empty() {
            continue;
        }
        match inbox.recv_timeout(POLL) {
            Ok(ending) => endings.push(ending),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => thread::sleep(POLL),
        }
    }
}

/// Whether any process of group `pgid` exists (zombies included).
fn alive(pgid: Pid) -> bool {
    !matches!(killpg(pgid, None), Err(Errno::ESRCH))
}
