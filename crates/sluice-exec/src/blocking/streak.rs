//! Whether the pool's idle threads spin for the next call or park at once.
//!
//! A spinning thread saves the next call the futex wake of a parked one, but only if it
//! sees its claim soon. Beside a busy core it may not: a spinner that yields to a thread
//! holding its core runs again only after that thread's time slice, while a thread
//! woken from a futex is placed on a free core or preempts at once. So the pool
//! watches how long its spinners take to take a claim up: after [`MISSES`] slow pickups
//! in a row, its next [`REST`] idle spells park at once, as `spawn_blocking`'s threads
//! do, then one spins again to see whether spinning pays once more; if its pickup is
//! slow too, the next rest is twice as long, up to [`LONGEST_REST`]. An idle machine
//! keeps its spinners; a loaded one wakes parked threads, as `spawn_blocking` does, but
//! for one spin in [`LONGEST_REST`] + 1 once the load has lasted.
//!
//! The streak lives under the pool's lock (`State::streak`): a submitter stamps its
//! claim there, the spinner that takes it reads the stamp there.

use std::time::{Duration, Instant};

/// A pickup slower than this cost more than the futex wake it was to save (a few µs
/// on a virtual machine, tens with the wakee's core asleep).
const SLOW_PICKUP: Duration = Duration::from_micros(20);

/// Slow pickups in a row before the pool's threads rest from spinning.
const MISSES: u32 = 2;

/// Idle spells that park at once before a thread spins again, after a streak of slow
/// pickups.
const REST: u32 = 16;

/// The longest rest: each slow pickup right after a rest doubles the next one, up to
/// this; a quick pickup brings it back to [`REST`]. At about 20 µs a loaded round trip,
/// a machine whose load has gone is noticed within about 20 ms.
const LONGEST_REST: u32 = 1024;

/// The pool's recent spins and the claim on a spinner last made.
#[derive(Debug)]
pub(super) struct Streak {
    /// Slow pickups in a row.
    slow: u32,
    /// Idle spells left to park at once.
    resting: u32,
    /// The length of the next rest.
    next_rest: u32,
    /// When a submitter last claimed a spinner.
    claimed_at: Option<Instant>,
}

impl Default for Streak {
    fn default() -> Self {
        Streak {
            slow: 0,
            resting: 0,
            next_rest: REST,
            claimed_at: None,
        }
    }
}

impl Streak {
    /// Whether a thread going idle now may spin; counts down a rest.
    pub(super) fn may_spin(&mut self) -> bool {
        if self.resting > 0 {
            self.resting -= 1;
            if self.resting == 0 {
                // The spin after a rest is a probe: one slow pickup rests again.
                self.slow = MISSES - 1;
            }
            return false;
        }
        true
    }

    /// A submitter claims a spinner now.
    pub(super) fn claimed(&mut self, now: Instant) {
        self.claimed_at = Some(now);
    }

    /// A spinner took a claim up at `now`: a slow pickup counts toward a rest, a quick
    /// one clears the count.
    pub(super) fn picked_up(&mut self, now: Instant) {
        let waited = self
            .claimed_at
            .take()
            .map_or(Duration::ZERO, |at| now.saturating_duration_since(at));
        if waited <= SLOW_PICKUP {
            self.slow = 0;
            self.next_rest = REST;
            return;
        }
        self.slow += 1;
        if self.slow >= MISSES {
            self.slow = 0;
            self.resting = self.next_rest;
            self.next_rest = (self.next_rest * 2).min(LONGEST_REST);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{LONGEST_REST, MISSES, REST, SLOW_PICKUP, Streak};
    use std::time::{Duration, Instant};

    /// A claim at `at`, taken up `after` later.
    fn pickup(streak: &mut Streak, at: Instant, after: Duration) {
        streak.claimed(at);
        streak.picked_up(at + after);
    }

    #[test]
    fn quick_pickups_keep_the_threads_spinning() {
        let mut streak = Streak::default();
        let now = Instant::now();
        for _ in 0..10 * MISSES {
            pickup(&mut streak, now, Duration::from_micros(1));
            assert!(streak.may_spin());
        }
    }

    #[test]
    fn slow_pickups_in_a_row_rest_the_spinners_then_they_try_again() {
        let mut streak = Streak::default();
        let now = Instant::now();
        let slow = SLOW_PICKUP * 2;
        for _ in 0..MISSES - 1 {
            pickup(&mut streak, now, slow);
            assert!(streak.may_spin(), "one slow pickup is not yet a streak");
        }
        pickup(&mut streak, now, slow);
        for spell in 0..REST {
            assert!(!streak.may_spin(), "idle spell {spell} of the rest parks");
        }
        assert!(streak.may_spin(), "after its rest the pool spins again");
    }

    /// Parks for `spells` idle spells, then spins and picks up slowly.
    fn rest_then_slow_probe(streak: &mut Streak, spells: u32) {
        for spell in 0..spells {
            assert!(!streak.may_spin(), "idle spell {spell} of the rest parks");
        }
        assert!(streak.may_spin(), "after its rest the pool spins again");
        pickup(streak, Instant::now(), SLOW_PICKUP * 2);
    }

    #[test]
    fn a_slow_probe_after_a_rest_rests_twice_as_long_up_to_a_bound() {
        let mut streak = Streak::default();
        for _ in 0..MISSES {
            pickup(&mut streak, Instant::now(), SLOW_PICKUP * 2);
        }
        let mut rest = REST;
        while rest < LONGEST_REST {
            rest_then_slow_probe(&mut streak, rest);
            rest *= 2;
        }
        rest_then_slow_probe(&mut streak, LONGEST_REST);
        rest_then_slow_probe(&mut streak, LONGEST_REST);
    }

    #[test]
    fn a_quick_probe_brings_the_short_rest_back() {
        let mut streak = Streak::default();
        for _ in 0..MISSES {
            pickup(&mut streak, Instant::now(), SLOW_PICKUP * 2);
        }
        rest_then_slow_probe(&mut streak, REST);
        for _ in 0..2 * REST {
            assert!(!streak.may_spin());
        }
        assert!(streak.may_spin());
        pickup(&mut streak, Instant::now(), Duration::ZERO);
        for _ in 0..MISSES {
            assert!(streak.may_spin(), "spins until a streak of slow pickups");
            pickup(&mut streak, Instant::now(), SLOW_PICKUP * 2);
        }
        rest_then_slow_probe(&mut streak, REST);
    }

    #[test]
    fn a_quick_pickup_between_slow_ones_breaks_the_streak() {
        let mut streak = Streak::default();
        let now = Instant::now();
        for _ in 0..5 {
            pickup(&mut streak, now, SLOW_PICKUP * 2);
            pickup(&mut streak, now, Duration::ZERO);
        }
        assert!(streak.may_spin());
    }

    #[test]
    fn a_pickup_with_no_stamp_counts_as_quick() {
        let mut streak = Streak::default();
        let now = Instant::now();
        pickup(&mut streak, now, SLOW_PICKUP * 2);
        streak.picked_up(now + SLOW_PICKUP * 100);
        pickup(&mut streak, now, SLOW_PICKUP * 2);
        assert!(streak.may_spin(), "the unstamped pickup broke the streak");
    }
}
