//! A breaker's settings: when it trips, how long it stays open, how it probes.
//!
//! [`BreakerConfig::builder`] takes every setting by value and
//! [`build`](BreakerConfigBuilder::build) checks them all at once, so a
//! [`BreakerConfig`] that exists is valid: the breaker never re-checks a setting.

use std::error::Error;
use std::fmt;
use std::time::Duration;

/// How long the breaker stays open when [`BreakerConfigBuilder::recovery`] is not set.
const DEFAULT_RECOVERY: Duration = Duration::from_secs(30);

/// How many probes a half-open breaker needs when
/// [`BreakerConfigBuilder::half_open_probes`] is not set.
const DEFAULT_PROBES: u32 = 1;

/// The failure-rate trip condition: the share of failures among the last `window`
/// calls, once at least `min_calls` of them were seen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailureRate {
    /// The breaker trips when failures / calls in the window reaches this (0 < x ≤ 1).
    pub threshold: f64,
    /// How many of the most recent calls the window holds.
    pub window: usize,
    /// How many calls the window must hold before the rate counts.
    pub min_calls: usize,
}

/// A circuit breaker's validated settings; made by [`BreakerConfig::builder`].
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// Trip after this many failures in a row.
    consecutive_failures: Option<u32>,
    /// Trip on the failure rate over a sliding window.
    failure_rate: Option<FailureRate>,
    /// A call that took longer than this counts as a failure.
    slow_call: Option<Duration>,
    /// How long the breaker stays open before it lets probes through.
    recovery: Duration,
    /// How many probes may run at once in half-open, and how many must succeed to close.
    half_open_probes: u32,
}

/// Builds a [`BreakerConfig`] by value; see [`BreakerConfig::builder`].
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct BreakerConfigBuilder {
    /// As set, not yet checked.
    consecutive_failures: Option<u32>,
    /// As set, not yet checked.
    failure_rate: Option<FailureRate>,
    /// As set, not yet checked.
    slow_call: Option<Duration>,
    /// As set, not yet checked; 30 s unless set.
    recovery: Duration,
    /// As set, not yet checked; 1 unless set.
    half_open_probes: u32,
}

/// Why [`BreakerConfigBuilder::build`] refused a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakerConfigError {
    /// A setting is outside its allowed range.
    Invalid {
        /// The setting, as the builder method names it (`failure_rate.window` for the
        /// second argument of `failure_rate`).
        setting: &'static str,
        /// The value it was given.
        value: String,
        /// What it must be instead.
        allowed: String,
    },
    /// Neither `consecutive_failures` nor `failure_rate` was set: nothing could trip it.
    NoTripCondition,
}

impl BreakerConfig {
    /// The largest sliding window [`BreakerConfigBuilder::failure_rate`] accepts. The
    /// window keeps one entry per call, so a typo of a few zeros must not allocate
    /// gigabytes.
    pub const MAX_WINDOW: usize = 65_536;

    /// A builder with no trip condition, a recovery time of 30 s and one half-open probe.
    pub fn builder() -> BreakerConfigBuilder {
        BreakerConfigBuilder::default()
    }

    /// Failures in a row that trip the breaker, if that condition is set.
    pub fn consecutive_failures(&self) -> Option<u32> {
        self.consecutive_failures
    }

    /// The failure-rate trip condition, if set.
    pub fn failure_rate(&self) -> Option<FailureRate> {
        self.failure_rate
    }

    /// The duration past which a call counts as a failure, if set.
    pub fn slow_call(&self) -> Option<Duration> {
        self.slow_call
    }

    /// How long the breaker stays open.
    pub fn recovery(&self) -> Duration {
        self.recovery
    }

    /// The half-open probe limit, which is also the number of successes that close it.
    pub fn half_open_probes(&self) -> u32 {
        self.half_open_probes
    }

    /// Whether a call that took `elapsed` counts as slow.
    pub(super) fn is_slow(&self, elapsed: Duration) -> bool {
        self.slow_call.is_some_and(|limit| elapsed > limit)
    }

    /// Whether a success (not slow) can open the breaker: only through the failure
    /// rate, which a success lowers but may bring to its minimum of calls. A
    /// consecutive-failures count (at least 1, checked by `build`) is reset by it, and
    /// a half-open probe's success closes the breaker, never opens it.
    pub(super) fn success_may_open(&self) -> bool {
        self.failure_rate.is_some()
    }
}

impl Default for BreakerConfigBuilder {
    fn default() -> Self {
        BreakerConfigBuilder {
            consecutive_failures: None,
            failure_rate: None,
            slow_call: None,
            recovery: DEFAULT_RECOVERY,
            half_open_probes: DEFAULT_PROBES,
        }
    }
}

impl BreakerConfigBuilder {
    /// Trip after `count` failures in a row (at least 1). A success resets the count.
    pub fn consecutive_failures(mut self, count: u32) -> Self {
        self.consecutive_failures = Some(count);
        self
    }

    /// Trip when at least `threshold` (above 0, at most 1) of the last `window` calls
    /// failed, once the window holds at least `min_calls` (1 to `window`) calls.
    /// `window` is at most [`BreakerConfig::MAX_WINDOW`].
    pub fn failure_rate(mut self, threshold: f64, window: usize, min_calls: usize) -> Self {
        self.failure_rate = Some(FailureRate {
            threshold,
            window,
            min_calls,
        });
        self
    }

    /// Count a call that took longer than `limit` (above 0) as a failure, whatever it
    /// returned.
    pub fn slow_call(mut self, limit: Duration) -> Self {
        self.slow_call = Some(limit);
        self
    }

    /// Stay open for `recovery` (above 0) before admitting half-open probes.
    pub fn recovery(mut self, recovery: Duration) -> Self {
        self.recovery = recovery;
        self
    }

    /// Admit at most `probes` (at least 1) calls at once while half-open; that many
    /// successes close the breaker.
    pub fn half_open_probes(mut self, probes: u32) -> Self {
        self.half_open_probes = probes;
        self
    }

    /// Checks every setting; the first one out of range is named in the error.
    pub fn build(self) -> Result<BreakerConfig, BreakerConfigError> {
        if let Some(count) = self.consecutive_failures {
            check(
                count >= 1,
                "consecutive_failures",
                count,
                "must be at least 1",
            )?;
        }
        if let Some(rate) = self.failure_rate {
            check_rate(rate)?;
        }
        if let Some(limit) = self.slow_call {
            check(
                !limit.is_zero(),
                "slow_call",
                Debugged(limit),
                "must be above 0",
            )?;
        }
        let recovery = self.recovery;
        check(
            !recovery.is_zero(),
            "recovery",
            Debugged(recovery),
            "must be above 0",
        )?;
        let probes = self.half_open_probes;
        check(
            probes >= 1,
            "half_open_probes",
            probes,
            "must be at least 1",
        )?;
        if self.consecutive_failures.is_none() && self.failure_rate.is_none() {
            return Err(BreakerConfigError::NoTripCondition);
        }
        Ok(BreakerConfig {
            consecutive_failures: self.consecutive_failures,
            failure_rate: self.failure_rate,
            slow_call: self.slow_call,
            recovery,
            half_open_probes: probes,
        })
    }
}

/// Checks the three parts of the failure-rate condition, the window before `min_calls`
/// (whose range depends on it).
fn check_rate(rate: FailureRate) -> Result<(), BreakerConfigError> {
    let FailureRate {
        threshold,
        window,
        min_calls,
    } = rate;
    let in_unit = (0.0..=1.0).contains(&threshold);
    check(
        in_unit,
        "failure_rate",
        threshold,
        "must be between 0 and 1",
    )?;
    let rule = "must be above 0 (a rate of 0 would trip on every call)";
    check(threshold > 0.0, "failure_rate", threshold, rule)?;
    let max = BreakerConfig::MAX_WINDOW;
    let rule = format!("must be between 1 and {max}");
    check(
        (1..=max).contains(&window),
        "failure_rate.window",
        window,
        rule,
    )?;
    let rule = format!("must be between 1 and the window ({window})");
    check(
        (1..=window).contains(&min_calls),
        "failure_rate.min_calls",
        min_calls,
        rule,
    )
}

/// `Ok` if `ok`, else the error naming `setting`, its `value` and what is `allowed`.
fn check(
    ok: bool,
    setting: &'static str,
    value: impl fmt::Display,
    allowed: impl Into<String>,
) -> Result<(), BreakerConfigError> {
    if ok {
        return Ok(());
    }
    Err(BreakerConfigError::Invalid {
        setting,
        value: value.to_string(),
        allowed: allowed.into(),
    })
}

/// Shows a value (a `Duration`) through its `Debug` form, as in "250ms".
struct Debugged<T>(T);

impl<T: fmt::Debug> fmt::Display for Debugged<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for BreakerConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakerConfigError::Invalid {
                setting,
                value,
                allowed,
            } => write!(f, "{setting} = {value}: {allowed}"),
            BreakerConfigError::NoTripCondition => {
                f.write_str("no trip condition: set consecutive_failures or failure_rate (or both)")
            }
        }
    }
}

impl Error for BreakerConfigError {}
