//! A small seedable random source for jitter, so a seed replays a task's delays exactly.
//!
//! SplitMix64 (Steele, Lea and Flood, 2014): one 64-bit word of state, a fixed odd
//! increment and a mixing function. It passes BigCrush and is more than enough to spread
//! retries apart; it is not for cryptography.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The golden-ratio increment of SplitMix64.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

std::thread_local! {
    /// How many times this thread has called [`Rng::from_entropy`]: two calls on one
    /// thread within one clock tick must still differ.
    static ENTROPY_CALLS: Cell<u64> = const { Cell::new(0) };
}

/// A small seedable random source (SplitMix64). Deterministic for a seed.
///
/// # Examples
///
/// ```
/// use sluice_core::Rng;
///
/// let mut a = Rng::seeded(7);
/// let mut b = Rng::seeded(7);
/// assert_eq!(a.next_u64(), b.next_u64(), "one seed, one sequence");
/// let roll = a.up_to(6);
/// assert!(roll <= 6, "the bound is inclusive");
/// assert_eq!(Rng::seeded(1).up_to(0), 0);
/// ```
#[derive(Debug, Clone)]
pub struct Rng {
    /// Moves by [`GAMMA`] on every draw; each output is this word, mixed.
    state: u64,
}

impl Rng {
    /// A source whose sequence is fixed by `seed`: the same seed gives the same numbers
    /// on every platform and in every release.
    pub fn seeded(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// Seeded from the clock, the thread and fresh keys: different for every call.
    ///
    /// The seed hashes, with a freshly keyed [`RandomState`] (whose keys std draws from
    /// the operating system once per thread and bumps on every use), the wall clock, a
    /// monotonic instant, the thread's id and a per-thread call count; so two calls
    /// differ on one thread, across threads and across processes.
    pub fn from_entropy() -> Self {
        let mut hasher = RandomState::new().build_hasher();
        let wall = SystemTime::now().duration_since(UNIX_EPOCH);
        wall.unwrap_or_default().as_nanos().hash(&mut hasher);
        Instant::now().hash(&mut hasher);
        std::thread::current().id().hash(&mut hasher);
        ENTROPY_CALLS.with(|calls| {
            calls.set(calls.get().wrapping_add(1));
            calls.get().hash(&mut hasher);
        });
        Rng::seeded(hasher.finish())
    }

    /// The next 64 uniformly distributed bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, bound]`, inclusive (a bound of 0 gives 0), without modulo bias.
    pub fn up_to(&mut self, bound: u64) -> u64 {
        let Some(span) = bound.checked_add(1) else {
            return self.next_u64();
        };
        // Lemire's multiply-and-shift: the high word of `x * span` is uniform once the
        // few low words that would favour some results are rejected.
        let threshold = span.wrapping_neg() % span;
        loop {
            let wide = u128::from(self.next_u64()) * u128::from(span);
            if (wide as u64) >= threshold {
                return (wide >> 64) as u64;
            }
        }
    }
}
