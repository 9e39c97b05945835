//! A retry budget's settings: how long its window is and how many retries it allows.
//!
//! [`BudgetConfig`] takes each setting by value and [`validate`](BudgetConfig::validate)
//! checks them all; [`RetryBudget::new`](super::RetryBudget::new) refuses a config that
//! does not pass, so a budget that exists never re-checks a setting.

use std::error::Error;
use std::fmt;
use std::time::Duration;

/// The window of [`BudgetConfig::new`].
const DEFAULT_WINDOW: Duration = Duration::from_secs(10);
/// The ratio of [`BudgetConfig::new`]: retries may add a fifth to the calls.
const DEFAULT_RATIO: f64 = 0.2;
/// The retries of [`BudgetConfig::new`] allowed per window whatever the calls.
const DEFAULT_MIN: u32 = 10;

/// A retry budget's settings; see [`RetryBudget`](super::RetryBudget).
///
/// Retries allowed in a window: `min_per_window + ratio * calls`, where `calls` are the
/// first attempts made in the window (retries are not calls).
///
/// # Examples
///
/// ```
/// use sluice_core::BudgetConfig;
/// use std::time::Duration;
///
/// let config = BudgetConfig::new().ratio(0.1).min_per_window(3);
/// assert_eq!(config.window_len(), Duration::from_secs(10));
/// assert_eq!((config.retry_ratio(), config.min_retries()), (0.1, 3));
/// assert!(config.validate().is_ok());
///
/// let error = BudgetConfig::new().ratio(-1.0).validate().unwrap_err();
/// assert_eq!(error.to_string(), "retry_budget.ratio = -1: must be between 0 and 10");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetConfig {
    /// How far back calls and retries count.
    window: Duration,
    /// Retries allowed per call in the window.
    ratio: f64,
    /// Retries allowed per window whatever the calls, so low-traffic names can retry.
    min_per_window: u32,
}

/// Why [`BudgetConfig::validate`] refused a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BudgetConfigError {
    /// A setting is outside its allowed range.
    Invalid {
        /// The setting, as `retry_budget.` and the builder method's name.
        setting: &'static str,
        /// The value it was given.
        value: String,
        /// What it must be instead.
        allowed: String,
    },
}

impl BudgetConfig {
    /// The shortest window: a tenth of it is the budget's time resolution.
    pub const MIN_WINDOW: Duration = Duration::from_millis(1);
    /// The longest window. Longer would let a burst of calls from long ago pay for a
    /// retry storm today.
    pub const MAX_WINDOW: Duration = Duration::from_secs(3600);
    /// The largest ratio: ten retries per call is already no limit at all.
    pub const MAX_RATIO: f64 = 10.0;

    /// A window of 10 s, a ratio of 0.2 (retries may add 20% to the window's calls)
    /// and 10 retries per window whatever the calls.
    pub fn new() -> Self {
        BudgetConfig {
            window: DEFAULT_WINDOW,
            ratio: DEFAULT_RATIO,
            min_per_window: DEFAULT_MIN,
        }
    }

    /// Counts calls and retries over the last `window` (1 ms to 1 h).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Allows `ratio` retries per call in the window (0 to 10; counted to a millionth).
    pub fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// Allows `retries` per window whatever the calls (any value; 0 with a ratio of 0
    /// allows no retry at all).
    pub fn min_per_window(mut self, retries: u32) -> Self {
        self.min_per_window = retries;
        self
    }

    /// How far back calls and retries count.
    pub fn window_len(&self) -> Duration {
        self.window
    }

    /// Retries allowed per call in the window.
    pub fn retry_ratio(&self) -> f64 {
        self.ratio
    }

    /// Retries allowed per window whatever the calls.
    pub fn min_retries(&self) -> u32 {
        self.min_per_window
    }

    /// Checks the values; the first one out of range is named in the error, with the
    /// value and what is allowed.
    pub fn validate(&self) -> Result<(), BudgetConfigError> {
        let (min, max) = (Self::MIN_WINDOW, Self::MAX_WINDOW);
        if !(min..=max).contains(&self.window) {
            return Err(invalid(
                "retry_budget.window",
                format!("{:?}", self.window),
                "must be between 1ms and 1h",
            ));
        }
        // NaN is in no range, so it fails here too.
        if !(0.0..=Self::MAX_RATIO).contains(&self.ratio) {
            return Err(invalid(
                "retry_budget.ratio",
                self.ratio.to_string(),
                "must be between 0 and 10",
            ));
        }
        Ok(())
    }
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// The error naming `setting`, its `value` and what is `allowed`.
fn invalid(setting: &'static str, value: String, allowed: &str) -> BudgetConfigError {
    BudgetConfigError::Invalid {
        setting,
        value,
        allowed: allowed.to_owned(),
    }
}

impl fmt::Display for BudgetConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BudgetConfigError::Invalid {
                setting,
                value,
                allowed,
            } => write!(f, "{setting} = {value}: {allowed}"),
        }
    }
}

impl Error for BudgetConfigError {}
