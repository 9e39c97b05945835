//! [`ThrottleConfig`]: when the throttle gives way, by how much, and how it recovers.

use std::time::Duration;
use thiserror::Error;

/// How the load throttle moves the routes' limits (see
/// [`ManagerBuilder::throttle`](crate::ManagerBuilder::throttle)).
///
/// Every `interval` the controller takes a [`LoadSample`](crate::throttle::LoadSample).
/// A route under pressure has its limit multiplied by `decrease` (never below 1); once
/// every signal it listens to is `hysteresis` points below its threshold, it gets
/// `recovery` of its configured limit back per interval, up to the configured limit.
/// Between the two it holds, so a signal hovering at its threshold does not make the
/// limit saw up and down.
///
/// The signals, each a percentage:
/// - foreign CPU: the share of the CPU this process may use that *other* processes
///   took (a saturated pool of this process is the goal, not pressure); moves the cpu
///   and chunk routes and custom backends;
/// - CPU stall (Linux PSI, `some avg10`), only if `cpu_stall_threshold` is set: it
///   counts this process's own waiting threads too, so it is off by default; moves the
///   same routes;
/// - memory: in use against the limit that applies (the container's, if any); moves
///   every route.
///
/// IO routes are not moved by CPU signals: their tasks spend their time waiting, so
/// fewer of them would cut throughput without freeing CPU.
///
/// Defaults: enabled, every 500 ms, foreign CPU 85%, memory 80%, hysteresis 10 points,
/// decrease to half, recover a tenth of the configured limit per interval.
///
/// # Examples
///
/// ```
/// use sluice::throttle::ThrottleConfig;
/// use std::time::Duration;
///
/// let config = ThrottleConfig::new()
///     .interval(Duration::from_secs(1))
///     .cpu_threshold(90.0)
///     .memory_threshold(75.0)
///     .build()?;
/// assert!(config.is_enabled());
///
/// let bad = ThrottleConfig::new().cpu_threshold(140.0).build();
/// assert_eq!(
///     bad.unwrap_err().to_string(),
///     "throttle.cpu_threshold = 140: must be between 1 and 100"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a configuration does nothing until given to the builder"]
pub struct ThrottleConfig {
    /// Whether the controller runs at all.
    pub(crate) enabled: bool,
    /// Time between samples.
    pub(crate) interval: Duration,
    /// Foreign CPU, percent, above which the CPU routes give way.
    pub(crate) cpu_threshold: f64,
    /// CPU stall (PSI `some avg10`), percent, above which the CPU routes give way.
    pub(crate) cpu_stall_threshold: Option<f64>,
    /// Memory in use, percent of the limit, above which every route gives way.
    pub(crate) memory_threshold: f64,
    /// Points below a threshold a signal must fall before limits recover.
    pub(crate) hysteresis: f64,
    /// What a limit under pressure is multiplied by.
    pub(crate) decrease: f64,
    /// The share of the configured limit given back per interval.
    pub(crate) recovery: f64,
}

/// A throttle setting out of range; the message names the setting, its value and what
/// is allowed.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ThrottleConfigError {
    /// A threshold outside 1..=100.
    #[error("throttle.{setting} = {value}: must be between 1 and 100")]
    Threshold {
        /// Which threshold.
        setting: &'static str,
        /// The value given.
        value: f64,
    },
    /// `hysteresis` outside 0..100.
    #[error("throttle.hysteresis = {0}: must be at least 0 and less than 100")]
    Hysteresis(f64),
    /// `decrease` outside (0, 1).
    #[error("throttle.decrease = {0}: must be more than 0 and less than 1")]
    Decrease(f64),
    /// `recovery` outside (0, 1].
    #[error("throttle.recovery = {0}: must be more than 0 and at most 1")]
    Recovery(f64),
    /// `interval` shorter than a millisecond.
    #[error("throttle.interval = {0:?}: must be at least 1ms")]
    Interval(Duration),
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            enabled: true,
            interval: Duration::from_millis(500),
            cpu_threshold: 85.0,
            cpu_stall_threshold: None,
            memory_threshold: 80.0,
            hysteresis: 10.0,
            decrease: 0.5,
            recovery: 0.1,
        }
    }
}

impl ThrottleConfig {
    /// The defaults (see the type's documentation).
    pub fn new() -> Self {
        Self::default()
    }

    /// A throttle that never runs: limits stay as configured.
    pub fn disabled() -> Self {
        ThrottleConfig {
            enabled: false,
            ..Self::default()
        }
    }

    /// Whether the controller runs.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Turns the controller on or off.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Time between samples.
    pub fn interval(mut self, every: Duration) -> Self {
        self.interval = every;
        self
    }

    /// Foreign CPU, percent, above which the CPU routes give way.
    pub fn cpu_threshold(mut self, percent: f64) -> Self {
        self.cpu_threshold = percent;
        self
    }

    /// CPU stall time (PSI `some avg10`), percent, above which the CPU routes give
    /// way; `None` (the default) ignores stall time.
    pub fn cpu_stall_threshold(mut self, percent: Option<f64>) -> Self {
        self.cpu_stall_threshold = percent;
        self
    }

    /// Memory in use, percent of the limit that applies, above which every route
    /// gives way.
    pub fn memory_threshold(mut self, percent: f64) -> Self {
        self.memory_threshold = percent;
        self
    }

    /// Points below each threshold a signal must fall before limits recover.
    pub fn hysteresis(mut self, points: f64) -> Self {
        self.hysteresis = points;
        self
    }

    /// What a limit under pressure is multiplied by, each interval.
    pub fn decrease(mut self, factor: f64) -> Self {
        self.decrease = factor;
        self
    }

    /// The share of the configured limit given back each interval once pressure is
    /// gone (at least one permit).
    pub fn recovery(mut self, share: f64) -> Self {
        self.recovery = share;
        self
    }

    /// Time between samples.
    pub fn sample_interval(&self) -> Duration {
        self.interval
    }

    /// Checks every setting.
    pub fn build(self) -> Result<Self, ThrottleConfigError> {
        let thresholds = [
            ("cpu_threshold", Some(self.cpu_threshold)),
            ("memory_threshold", Some(self.memory_threshold)),
            ("cpu_stall_threshold", self.cpu_stall_threshold),
        ];
        for (setting, value) in thresholds {
            if let Some(value) = value.filter(|value| !(1.0..=100.0).contains(value)) {
                return Err(ThrottleConfigError::Threshold { setting, value });
            }
        }
        if !(0.0..100.0).contains(&self.hysteresis) {
            return Err(ThrottleConfigError::Hysteresis(self.hysteresis));
        }
        if !(self.decrease > 0.0 && self.decrease < 1.0) {
            return Err(ThrottleConfigError::Decrease(self.decrease));
        }
        if !(self.recovery > 0.0 && self.recovery <= 1.0) {
            return Err(ThrottleConfigError::Recovery(self.recovery));
        }
        if self.interval < Duration::from_millis(1) {
            return Err(ThrottleConfigError::Interval(self.interval));
        }
        Ok(self)
    }
}
