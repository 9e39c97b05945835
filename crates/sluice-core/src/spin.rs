//! How long a thread blocked on an answer spins before it parks.
//!
//! Spinning saves the futex round trip of a wakeup (several µs on a virtual machine),
//! but only if the answer comes while the waiter spins; otherwise the spin is lost
//! time, and on a busy machine it is worse than lost: the thread that would give the
//! answer may be queued behind the spinner for the same core. So a waiter spins only
//!
//! - while its work has been taken up by a worker ([`PICKUP`] is all it gives a worker
//!   to take it up: a worker that is awake takes it within that, one that needs our
//!   core cannot take it before we park), and for at most [`RUN`] in all;
//! - while spinning has been paying off on this thread: after [`MISSES`] spins in a
//!   row that ended without the answer, the thread parks at once for its next
//!   [`REST`] waits, then tries a spin again; each rest that follows another without a
//!   caught answer between them is twice as long, up to [`LONGEST_REST`]. An idle
//!   machine keeps its spins; a loaded one parks at once, as a waiter that never spins
//!   does, but for [`MISSES`] spins in [`LONGEST_REST`]: with a core held by other
//!   work, a spin is a loss each time (the worker that would answer may be queued
//!   behind the spinner), and at a fixed rest of [`REST`] those losses were one wait
//!   in nine.
//!
//! The state is the waiting thread's own (a thread-local), so nothing here is shared.
//! Under loom the waiter never spins: loom would explore every turn of the loop.

#[cfg(not(sluice_loom))]
use std::cell::Cell;
#[cfg(not(sluice_loom))]
use std::time::{Duration, Instant};

/// How long a worker is given to take the work up before the waiter parks.
#[cfg(not(sluice_loom))]
const PICKUP: Duration = Duration::from_micros(2);

/// How long a waiter spins at most, pickup included: a trivial task's round trip
/// with room, which is what spinning is for; longer work pays one wakeup, which is
/// small beside it.
#[cfg(not(sluice_loom))]
const RUN: Duration = Duration::from_micros(10);

/// Spins in a row that ended without the answer before the thread rests.
#[cfg(not(sluice_loom))]
const MISSES: u32 = 2;

/// Waits a resting thread parks at once before it spins again, after spins that
/// missed since its last caught answer.
#[cfg(not(sluice_loom))]
const REST: u32 = 16;

/// The longest rest: a thread whose spins keep missing spins [`MISSES`] times in this
/// many waits. A machine that turns idle again is seen within this many waits (a few
/// ms of trivial round trips).
#[cfg(not(sluice_loom))]
const LONGEST_REST: u32 = 512;

/// Pause hints between two looks at the clock: a look costs tens of ns, a hint from
/// one to a hundred depending on the processor.
#[cfg(not(sluice_loom))]
const HINTS_PER_LOOK: u32 = 4;

/// This thread's recent spins.
#[cfg(not(sluice_loom))]
#[derive(Clone, Copy)]
struct Streak {
    /// Spins in a row that ended without the answer.
    misses: u32,
    /// Waits left to park at once.
    resting: u32,
    /// The length of the next rest: [`REST`] after a caught answer, doubled by each
    /// rest up to [`LONGEST_REST`].
    next_rest: u32,
}

#[cfg(not(sluice_loom))]
crate::loom::thread_local! {
    static STREAK: Cell<Streak> = const {
        Cell::new(Streak {
            misses: 0,
            resting: 0,
            next_rest: REST,
        })
    };
}

/// Spins while the answer may come soon (see the module's text); true if `done` turned
/// true meanwhile. `started` says whether a worker has taken the work up.
#[cfg(not(sluice_loom))]
pub(crate) fn spin_until(done: impl Fn() -> bool, started: impl Fn() -> bool) -> bool {
    if done() {
        return true;
    }
    let mut streak = STREAK.with(Cell::get);
    if streak.resting > 0 {
        streak.resting -= 1;
        STREAK.with(|s| s.set(streak));
        return false;
    }
    let caught = spin(&done, &started);
    if caught {
        streak.misses = 0;
        streak.next_rest = REST;
    } else {
        streak.misses += 1;
        if streak.misses >= MISSES {
            streak.misses = 0;
            streak.resting = streak.next_rest;
            streak.next_rest = (streak.next_rest * 2).min(LONGEST_REST);
        }
    }
    STREAK.with(|s| s.set(streak));
    caught
}

/// One spin: until `done`, or the work is not taken up within [`PICKUP`], or [`RUN`]
/// has passed.
#[cfg(not(sluice_loom))]
fn spin(done: &impl Fn() -> bool, started: &impl Fn() -> bool) -> bool {
    let begun = Instant::now();
    let mut taken_up = false;
    loop {
        for _ in 0..HINTS_PER_LOOK {
            if done() {
                return true;
            }
            std::hint::spin_loop();
        }
        let spun = begun.elapsed();
        if spun >= RUN {
            return done();
        }
        if !taken_up {
            taken_up = started();
            if !taken_up && spun >= PICKUP {
                return done();
            }
        }
    }
}

/// Under loom a waiter parks at once.
#[cfg(sluice_loom)]
pub(crate) fn spin_until(done: impl Fn() -> bool, _started: impl Fn() -> bool) -> bool {
    done()
}

#[cfg(all(test, not(sluice_loom)))]
mod tests {
    use super::{LONGEST_REST, MISSES, REST, spin_until};
    use std::cell::Cell;

    /// Waits for work that no worker takes up; returns how often the waiter asked
    /// whether it had started (zero: it parked at once).
    fn wait_for_untaken_work() -> u32 {
        let asked = Cell::new(0);
        let caught = spin_until(
            || false,
            || {
                asked.set(asked.get() + 1);
                false
            },
        );
        assert!(!caught, "nothing answers this wait");
        asked.get()
    }

    #[test]
    fn an_answer_already_there_is_taken_without_asking_anything() {
        let asked = Cell::new(false);
        assert!(spin_until(
            || true,
            || {
                asked.set(true);
                true
            }
        ));
        assert!(!asked.get());
    }

    #[test]
    fn a_spin_that_keeps_missing_rests_then_tries_again() {
        for _ in 0..MISSES {
            assert!(wait_for_untaken_work() > 0, "a fresh thread spins");
        }
        for wait in 0..REST {
            assert_eq!(
                wait_for_untaken_work(),
                0,
                "wait {wait} of the rest parks at once"
            );
        }
        assert!(
            wait_for_untaken_work() > 0,
            "after its rest the thread spins again"
        );
    }

    /// Misses until the thread rests, then counts the waits of the rest (those that
    /// park at once), then misses again until the thread rests anew.
    fn rest_after_misses() -> u32 {
        for _ in 0..MISSES {
            assert!(
                wait_for_untaken_work() > 0,
                "the thread spins before it rests"
            );
        }
        let mut rested = 0;
        while wait_for_untaken_work() == 0 {
            rested += 1;
        }
        // The spin that ended the rest missed too: one miss of the next streak.
        for _ in 1..MISSES {
            assert!(wait_for_untaken_work() > 0);
        }
        rested
    }

    #[test]
    fn each_rest_without_a_catch_between_is_twice_as_long_up_to_the_longest() {
        assert_eq!(rest_after_misses(), REST, "a fresh thread's first rest");
        let mut expected = REST;
        for _ in 0..8 {
            expected = (expected * 2).min(LONGEST_REST);
            let mut rested = 0;
            while wait_for_untaken_work() == 0 {
                rested += 1;
            }
            for _ in 1..MISSES {
                assert!(wait_for_untaken_work() > 0);
            }
            assert_eq!(rested, expected);
        }
        assert_eq!(expected, LONGEST_REST, "the rests reached the longest");
    }

    #[test]
    fn a_caught_answer_makes_the_next_rest_short_again() {
        assert_eq!(rest_after_misses(), REST);
        let mut rested = 0;
        while wait_for_untaken_work() == 0 {
            rested += 1;
        }
        assert_eq!(rested, 2 * REST, "a second rest without a catch is longer");
        let looks = Cell::new(0);
        assert!(spin_until(
            || {
                looks.set(looks.get() + 1);
                looks.get() > 3
            },
            || true,
        ));
        assert_eq!(
            rest_after_misses(),
            REST,
            "after a catch the rest is short again"
        );
    }

    #[test]
    fn a_caught_answer_clears_the_misses() {
        for _ in 0..MISSES - 1 {
            wait_for_untaken_work();
        }
        let looks = Cell::new(0);
        let caught = spin_until(
            || {
                looks.set(looks.get() + 1);
                looks.get() > 3
            },
            || true,
        );
        assert!(caught, "the answer came while the waiter spun");
        assert!(
            wait_for_untaken_work() > 0,
            "one miss after a catch does not rest"
        );
    }

    #[test]
    fn work_running_elsewhere_is_spun_on_until_it_answers() {
        let looks = Cell::new(0u32);
        let caught = spin_until(
            || {
                looks.set(looks.get() + 1);
                looks.get() > 20
            },
            || true,
        );
        assert!(caught);
    }
}
