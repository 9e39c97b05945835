//! A blocking thread's life: take jobs, spin briefly when idle, park, exit.

use super::pool::{Shared, State};
use crate::Job;
use std::hint;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::MutexGuard;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

/// How long an idle thread watches for a claim before it parks. A caller that waits for
/// its call's answer and then submits the next one does so within a few µs when it spun
/// in `wait()`, and within 10–30 µs when a futex woke it (an `.await` on a parked
/// runtime); 50 µs covers both on this machine with room, and caps what an idle pool
/// burns after its last call.
const SPIN_WINDOW: Duration = Duration::from_micros(50);

/// Rounds of pure spinning (each twice the one before, about 127 pause hints in all)
/// before the spinner yields between looks instead, leaving the core to others.
const SPIN_ROUNDS: u32 = 7;

/// Most threads spinning at once. Two, because a caller waiting for its call often
/// submits the next one before the thread that ran it is idle again: with one slot,
/// that thread would find the slot taken by another spinner and park, and every other
/// call would need a wakeup (measured: half of them). More would only take cores from
/// the work (on two cores, from the caller).
const MAX_SPINNING: usize = 2;

/// What an idle spell ended in.
enum Idle<'a> {
    /// Look at the queue again.
    Resume(MutexGuard<'a, State>),
    /// No work came within the keep-alive: the thread has counted itself out.
    Retire,
}

/// The thread's body. It enters the runtime for its life, so that a blocking call can
/// use `Handle::current()`, `tokio::fs` or `Handle::block_on` as on tokio's own
/// blocking threads.
pub(super) fn run(shared: &Shared) {
    let _runtime = shared.handle.enter();
    tracing::trace!("blocking thread started");
    let mut state = shared.lock();
    loop {
        if let Some(job) = state.queue.pop_front() {
            drop(state);
            run_job(job);
            state = shared.lock();
            continue;
        }
        if state.stopping {
            state.threads -= 1;
            break;
        }
        state = match idle(shared, state) {
            Idle::Resume(state) => state,
            Idle::Retire => {
                tracing::trace!("blocking thread idle for its keep-alive, exiting");
                return;
            }
        };
    }
    drop(state);
    tracing::trace!("blocking thread stopped");
}

/// Runs a job, keeping the thread alive if it panics: the facade catches task panics,
/// this catches a plugged-in job's.
fn run_job(job: Job) {
    if catch_unwind(AssertUnwindSafe(|| job.run())).is_err() {
        tracing::error!("a job panicked on the io blocking pool");
    }
}

/// Waits, idle, until a submitter claims this thread (spinning first if fewer than
/// [`MAX_SPINNING`] threads spin and spinning has been paying off, `streak.rs`), the
/// pool stops, or the keep-alive passes. Entered with the queue empty.
fn idle<'a>(shared: &'a Shared, mut state: MutexGuard<'a, State>) -> Idle<'a> {
    if state.spinning < MAX_SPINNING && state.streak.may_spin() {
        state.spinning += 1;
        drop(state);
        spin_until_claimed(shared);
        state = shared.lock();
        if shared.take_spin_claim(&mut state) {
            // The claimer already counted this thread out of `spinning`.
            state.streak.picked_up(Instant::now());
            return Idle::Resume(state);
        }
        state.spinning -= 1;
    }
    park(shared, state)
}

/// Watches `spin_claims` for up to [`SPIN_WINDOW`] without the lock. Whether a claim is
/// really there is decided under the lock afterwards; this only saves the wait.
fn spin_until_claimed(shared: &Shared) {
    let deadline = Instant::now() + SPIN_WINDOW;
    let mut round = 0;
    while shared.spin_claims.load(Ordering::Acquire) == 0 {
        if round < SPIN_ROUNDS {
            for _ in 0..(1u32 << round) {
                hint::spin_loop();
            }
            round += 1;
        } else if Instant::now() < deadline {
            thread::yield_now();
        } else {
            return;
        }
    }
}

/// Parks on the condition variable until claimed, stopped, or the keep-alive passes.
fn park<'a>(shared: &'a Shared, mut state: MutexGuard<'a, State>) -> Idle<'a> {
    state.parked += 1;
    let deadline = Instant::now() + shared.keep_alive;
    loop {
        if state.park_claims > 0 {
            // The claimer already counted a thread out of `parked`; which parked thread
            // takes the claim does not matter.
            state.park_claims -= 1;
            return Idle::Resume(state);
        }
        if state.stopping {
            state.parked -= 1;
            return Idle::Resume(state);
        }
        let now = Instant::now();
        if now >= deadline {
            state.parked -= 1;
            state.threads -= 1;
            return Idle::Retire;
        }
        state = match shared.condvar.wait_timeout(state, deadline - now) {
            Ok((state, _)) => state,
            Err(poisoned) => poisoned.into_inner().0,
        };
    }
}
