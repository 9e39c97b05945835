//! Sluice's own elastic pool for blocking calls, behind [`IoPool`](crate::IoPool)'s
//! `execute`.
//!
//! Threads named `sluice-io-blocking-N` start lazily, one when a job finds no idle
//! thread, up to the pool's maximum (the manager admits at most that many blocking
//! calls at once, so more are never needed; jobs beyond it queue). Each enters the
//! tokio runtime for its life, so a blocking call sees `Handle::current()` as on
//! `spawn_blocking`'s threads. An idle thread exits after a keep-alive (10 s).
//!
//! Why not `spawn_blocking`: an idle tokio blocking thread parks on a futex at once, so
//! every round trip pays a wakeup. Here an idle thread first spins for up to 50 µs
//! (at most two at a time) watching for a claim, so a caller that submits its next call
//! soon after its last answer reaches a thread without a system call. Beside a busy
//! core a spinner can be slow to see its claim (it yielded its core to a thread that
//! keeps it for a time slice); after two slow pickups in a row, idle threads park at
//! once for a while, as tokio's do, then spin again to see whether it pays
//! (`streak.rs`).
//!
//! # The protocol
//!
//! One mutex guards the queue and the counts (`pool.rs`, `State`): live `threads`, idle
//! threads `spinning` and `parked`, and claims not yet taken up.
//!
//! - **Submit:** under the lock, push the job, then *claim* one idle thread: a spinner
//!   (`spinning -= 1`, `spin_claims += 1`, no system call), else a parked one
//!   (`parked -= 1`, `park_claims += 1`, `notify_one` after the lock), else reserve a
//!   new thread (`threads += 1`, started after the lock is released), else nothing:
//!   every thread is busy and looks at the queue again before it goes idle.
//! - **Worker:** under the lock, pop until the queue is empty (running each job outside
//!   the lock). Then go idle: count itself `spinning` (if a spin slot is free) and spin,
//!   without the lock, until `spin_claims > 0` or the window ends; relock; take a spin
//!   claim if one is left, else move from `spinning` to `parked` and wait on the
//!   condition variable until a park claim, shutdown or the keep-alive.
//!
//! No wakeup is lost: a thread is counted idle only under the lock and after it found
//! the queue empty, and a submitter pushes and claims under the same lock, so a job
//! pushed while the last thread decides to park either was seen by its final pop or
//! claimed it (as a spinner: it finds the claim when it relocks; as a parked thread:
//! the claim is in `park_claims`, checked before each wait). A claim names a class, not
//! a thread; whoever of that class takes it, the counts agree. A claimed thread may find
//! the queue empty (a thread back from its job popped first); it just goes idle again.
//!
//! Jobs run and are dropped only outside the lock: dropping one reports its task, which
//! may submit again. `shutdown` sets `stopping`, takes the queue (dropping each job
//! reports it as never run) and wakes every parked thread; running jobs finish on their
//! own, and no thread is joined, so it never blocks.

mod pool;
mod streak;
mod worker;

pub(crate) use pool::BlockingPool;

#[cfg(test)]
mod tests;
