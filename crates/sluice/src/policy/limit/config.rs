//! [`LimitConfig`]: the bounds and tuning of one dependency's adaptive limit.

use std::time::Duration;
use thiserror::Error;

/// How one dependency's adaptive concurrency limit moves (see
/// [`ManagerBuilder::dependency`](crate::ManagerBuilder::dependency)).
///
/// The limit follows TCP Vegas as Netflix's `concurrency-limits` applies it to
/// requests: it estimates how many calls are queued inside the dependency from how far
/// the latency has risen over its lowest (`limit * (1 - min_rtt / rtt)`), grows while
/// that queue is short and shrinks when it is long or a call fails or times out.
///
/// Defaults: start at 20, between 1 and 1,000; a queue of `alpha` (3) to `beta` (6)
/// calls per decade of the limit is left alone; failures and timeouts cut the limit
/// to `backoff` (0.9) of itself; the lowest latency is measured again every
/// `probe_every` (30) limits' worth of calls, so that a dependency which got slower
/// for good is not held to its old best.
///
/// # Examples
///
/// ```
/// use sluice::limit::LimitConfig;
///
/// let config = LimitConfig::new().initial(10).max(64).build()?;
/// assert_eq!(config.initial_limit(), 10);
///
/// let bad = LimitConfig::new().initial(100).max(64).build();
/// assert_eq!(
///     bad.unwrap_err().to_string(),
///     "limit.initial = 100: must be between limit.min (1) and limit.max (64)"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a configuration does nothing until given to the builder"]
pub struct LimitConfig {
    /// The limit before any call has ended.
    pub(crate) initial: usize,
    /// The limit never goes below this.
    pub(crate) min: usize,
    /// The limit never goes above this.
    pub(crate) max: usize,
    /// Queued calls (per decade of the limit) below which the limit grows.
    pub(crate) alpha: f64,
    /// Queued calls (per decade of the limit) above which the limit shrinks.
    pub(crate) beta: f64,
    /// What a failed or timed-out call multiplies the limit by.
    pub(crate) backoff: f64,
    /// Samples between fresh measurements of the lowest latency, in limits' worth.
    pub(crate) probe_every: usize,
    /// Latencies shorter than this are taken as this, so that timer granularity does
    /// not read as a huge queue.
    pub(crate) min_rtt_floor: Duration,
}

/// A dependency limit setting out of range; the message names the setting, its value
/// and what is allowed.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum LimitConfigError {
    /// `min` was zero.
    #[error("limit.min = 0: must be at least 1")]
    Min,
    /// `max` above what a gate holds ([`Gate::MAX_LIMIT`](sluice_core::Gate::MAX_LIMIT)).
    #[error("limit.max = {max}: must be at most {most}")]
    MaxTooLarge {
        /// The value given.
        max: usize,
        /// The largest allowed.
        most: usize,
    },
    /// `max` below `min`.
    #[error("limit.max = {max}: must be at least limit.min ({min})")]
    Max {
        /// The value given.
        max: usize,
        /// The minimum it must reach.
        min: usize,
    },
    /// `initial` outside `min..=max`.
    #[error("limit.initial = {initial}: must be between limit.min ({min}) and limit.max ({max})")]
    Initial {
        /// The value given.
        initial: usize,
        /// The lower bound.
        min: usize,
        /// The upper bound.
        max: usize,
    },
    /// `alpha` not positive, or `beta` not above it.
    #[error("limit.alpha = {alpha}, limit.beta = {beta}: need 0 < alpha < beta")]
    Thresholds {
        /// The value given for alpha.
        alpha: f64,
        /// The value given for beta.
        beta: f64,
    },
    /// `backoff` outside `(0, 1)`.
    #[error("limit.backoff = {0}: must be more than 0 and less than 1")]
    Backoff(f64),
    /// `probe_every` was zero.
    #[error("limit.probe_every = 0: must be at least 1")]
    ProbeEvery,
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig {
            initial: 20,
            min: 1,
            max: 1000,
            alpha: 3.0,
            beta: 6.0,
            backoff: 0.9,
            probe_every: 30,
            min_rtt_floor: Duration::from_micros(100),
        }
    }
}

impl LimitConfig {
    /// The defaults (see the type's documentation).
    pub fn new() -> Self {
        Self::default()
    }

    /// The limit before any call has ended.
    pub fn initial(mut self, limit: usize) -> Self {
        self.initial = limit;
        self
    }

    /// The lowest the limit may go (at least 1).
    pub fn min(mut self, limit: usize) -> Self {
        self.min = limit;
        self
    }

    /// The highest the limit may go: the dependency's configured limit.
    pub fn max(mut self, limit: usize) -> Self {
        self.max = limit;
        self
    }

    /// Queued calls per decade of the limit: below `alpha` the limit grows, above
    /// `beta` it shrinks, between them it holds.
    pub fn thresholds(mut self, alpha: f64, beta: f64) -> Self {
        self.alpha = alpha;
        self.beta = beta;
        self
    }

    /// What a failed or timed-out call multiplies the limit by.
    pub fn backoff(mut self, factor: f64) -> Self {
        self.backoff = factor;
        self
    }

    /// How often the lowest latency is measured afresh, in limits' worth of calls.
    pub fn probe_every(mut self, limits: usize) -> Self {
        self.probe_every = limits;
        self
    }

    /// The limit before any call has ended.
    pub fn initial_limit(&self) -> usize {
        self.initial
    }

    /// The highest the limit may go.
    pub fn max_limit(&self) -> usize {
        self.max
    }

    /// Checks every setting.
    pub fn build(self) -> Result<Self, LimitConfigError> {
        if self.min == 0 {
            return Err(LimitConfigError::Min);
        }
        if self.max > sluice_core::Gate::MAX_LIMIT {
            return Err(LimitConfigError::MaxTooLarge {
                max: self.max,
                most: sluice_core::Gate::MAX_LIMIT,
            });
        }
        if self.max < self.min {
            return Err(LimitConfigError::Max {
                max: self.max,
                min: self.min,
            });
        }
        if !(self.min..=self.max).contains(&self.initial) {
            return Err(LimitConfigError::Initial {
                initial: self.initial,
                min: self.min,
                max: self.max,
            });
        }
        if !(self.alpha > 0.0 && self.beta > self.alpha && self.beta.is_finite()) {
            return Err(LimitConfigError::Thresholds {
                alpha: self.alpha,
                beta: self.beta,
            });
        }
        if !(self.backoff > 0.0 && self.backoff < 1.0) {
            return Err(LimitConfigError::Backoff(self.backoff));
        }
        if self.probe_every == 0 {
            return Err(LimitConfigError::ProbeEvery);
        }
        Ok(self)
    }
}
