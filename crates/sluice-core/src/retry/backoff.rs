//! How long a task waits before each retry: exponential growth, a cap, and jitter.
//!
//! A [`Backoff`] is plain data and never sleeps: the caller asks it for the delay of a
//! retry and waits that long itself. Jitter draws from a caller's [`Rng`], so a seed
//! replays every delay of a task exactly ([`Backoff::delays`]).

use super::rng::Rng;
use std::time::Duration;

/// The cap of [`Backoff::exponential`] unless its base is longer.
const DEFAULT_MAX: Duration = Duration::from_secs(30);

/// How a backoff delay is randomized.
///
/// Without jitter, tasks that failed together retry together and fail together again;
/// drawing each delay at random spreads them apart (see the AWS Architecture Blog,
/// "Exponential Backoff And Jitter").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// Exactly the ceiling: `min(max, base * 2^retry)`.
    None,
    /// Uniform in `[0, ceiling]`: spreads retries the most.
    #[default]
    Full,
    /// Half the ceiling plus uniform in `[0, ceiling / 2]`: never much shorter than the
    /// ceiling, still spread.
    Equal,
}

/// Exponential backoff: `base * 2^retry`, capped at a maximum delay, with jitter.
///
/// # Examples
///
/// ```
/// use sluice_core::{Backoff, Jitter, Rng};
/// use std::time::Duration;
///
/// let ms = Duration::from_millis;
/// let backoff = Backoff::exponential(ms(100)).max_delay(ms(500));
/// let ceilings: Vec<_> = (0..5).map(|retry| backoff.ceiling(retry)).collect();
/// assert_eq!(ceilings, [ms(100), ms(200), ms(400), ms(500), ms(500)]);
///
/// // Full jitter (the default) draws each delay from [0, ceiling].
/// let mut rng = Rng::seeded(42);
/// assert!(backoff.delay(2, &mut rng) <= ms(400));
///
/// // A seed replays a task's delays exactly.
/// let first: Vec<_> = backoff.delays(42).take(4).collect();
/// let again: Vec<_> = backoff.delays(42).take(4).collect();
/// assert_eq!(first, again);
///
/// let fixed = backoff.jitter(Jitter::None);
/// assert_eq!(fixed.delays(42).nth(1), Some(ms(200)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first retry.
    base: Duration,
    /// No ceiling exceeds this.
    max: Duration,
    /// How a delay is drawn under its ceiling.
    jitter: Jitter,
}

impl Backoff {
    /// Doubling from `base`, capped at 30 s (or at `base` if that is longer), with
    /// [`Jitter::Full`].
    pub fn exponential(base: Duration) -> Self {
        Backoff {
            base,
            max: DEFAULT_MAX.max(base),
            jitter: Jitter::default(),
        }
    }

    /// Caps every ceiling at `max`. A cap below the base makes every ceiling `max`.
    pub fn max_delay(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// Draws delays with `jitter`.
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The ceiling of the first retry.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The cap on every ceiling.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// How delays are drawn under their ceiling.
    pub fn jitter_kind(&self) -> Jitter {
        self.jitter
    }

    /// The ceiling before jitter of retry number `retry` (0 is the first retry):
    /// `min(max, base * 2^retry)`. Saturates at the cap for any `retry`, never overflows.
    pub fn ceiling(&self, retry: u32) -> Duration {
        if self.base.is_zero() {
            return Duration::ZERO;
        }
        // Past 2^127 the factor itself overflows; any nonzero base is then past the cap.
        let grown = 1u128
            .checked_shl(retry)
            .and_then(|factor| self.base.as_nanos().checked_mul(factor));
        match grown {
            Some(nanos) if nanos < self.max.as_nanos() => Duration::from_nanos_u128(nanos),
            _ => self.max,
        }
    }

    /// The delay before retry number `retry`, drawn with `rng` as the jitter says
    /// (one draw from `rng`, none without jitter).
    pub fn delay(&self, retry: u32, rng: &mut Rng) -> Duration {
        let ceiling = self.ceiling(retry);
        match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => uniform(rng, ceiling),
            Jitter::Equal => {
                let half = ceiling / 2;
                half + uniform(rng, ceiling - half)
            }
        }
    }

    /// The delays of retries 0, 1, 2, … for `seed`: what a task with this backoff and
    /// seed waits, for replaying in tests. One [`Rng::seeded`] draws the whole
    /// sequence, as a task's own source does. Never ends.
    pub fn delays(&self, seed: u64) -> impl Iterator<Item = Duration> + use<> {
        let backoff = *self;
        let mut rng = Rng::seeded(seed);
        let mut retry = 0u32;
        std::iter::from_fn(move || {
            let delay = backoff.delay(retry, &mut rng);
            retry = retry.saturating_add(1);
            Some(delay)
        })
    }
}

/// Uniform in `[0, limit]`, to the nanosecond; a limit past `u64::MAX` nanoseconds
/// (about 584 years) is drawn in whole seconds instead.
fn uniform(rng: &mut Rng, limit: Duration) -> Duration {
    match u64::try_from(limit.as_nanos()) {
        Ok(nanos) => Duration::from_nanos(rng.up_to(nanos)),
        Err(_) => Duration::from_secs(rng.up_to(limit.as_secs())),
    }
}
