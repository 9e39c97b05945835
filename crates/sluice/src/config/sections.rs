//! The sections of a [`Config`](super::Config): one struct per table of the TOML file.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A pool: its threads and how many of its tasks are admitted at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PoolSection {
    /// Threads; unset: one per CPU.
    pub workers: Option<usize>,
    /// Tasks admitted at once; unset: as many as the threads.
    pub limit: Option<usize>,
}

/// The IO pool: the runtime's workers, futures in flight, blocking calls at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct IoSection {
    /// Runtime worker threads; unset: one per CPU.
    pub workers: Option<usize>,
    /// Futures admitted at once; unset: 1024.
    pub limit: Option<usize>,
    /// Blocking calls admitted at once (and threads for them); unset: 64.
    pub blocking_threads: Option<usize>,
}

/// The load throttle (see [`ThrottleConfig`](crate::throttle::ThrottleConfig)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ThrottleSection {
    /// Whether the throttle runs.
    pub enabled: bool,
    /// Time between samples.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Foreign CPU, percent, above which the CPU routes give way.
    pub cpu_threshold: f64,
    /// CPU stall (PSI `some avg10`), percent, above which the CPU routes give way.
    pub cpu_stall_threshold: Option<f64>,
    /// Memory in use, percent of the limit, above which every route gives way.
    pub memory_threshold: f64,
    /// Points below a threshold before limits recover.
    pub hysteresis: f64,
    /// What a limit under pressure is multiplied by.
    pub decrease: f64,
    /// The share of the configured limit given back per interval.
    pub recovery: f64,
}

impl Default for ThrottleSection {
    fn default() -> Self {
        let defaults = crate::throttle::ThrottleConfig::new();
        ThrottleSection {
            enabled: defaults.enabled,
            interval: defaults.interval,
            cpu_threshold: defaults.cpu_threshold,
            cpu_stall_threshold: defaults.cpu_stall_threshold,
            memory_threshold: defaults.memory_threshold,
            hysteresis: defaults.hysteresis,
            decrease: defaults.decrease,
            recovery: defaults.recovery,
        }
    }
}

/// Policies every task starts with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct DefaultsSection {
    /// The timeout of each attempt; unset: none.
    #[serde(with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// The retry policy of `TaskBuilder::retry_default`.
    pub retry: RetrySection,
}

/// A retry policy (see [`Retry`](crate::retry::Retry)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RetrySection {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff delay.
    #[serde(with = "humantime_serde")]
    pub backoff: Duration,
    /// The longest backoff delay.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// `none`, `full` or `equal`.
    pub jitter: JitterName,
    /// No retry starts later than this after the first attempt; unset: no limit.
    #[serde(with = "humantime_serde")]
    pub max_elapsed: Option<Duration>,
    /// Whether retries of a task name are limited by a budget.
    pub budget: bool,
    /// With a budget, retries may add at most this share of a task name's calls.
    pub budget_ratio: f64,
}

impl Default for RetrySection {
    fn default() -> Self {
        RetrySection {
            max_attempts: 3,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            jitter: JitterName::Full,
            max_elapsed: None,
            budget: true,
            budget_ratio: 0.2,
        }
    }
}

/// How backoff delays are spread (see [`Jitter`](crate::retry::Jitter)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JitterName {
    /// Exactly the ceiling.
    None,
    /// Uniform up to the ceiling.
    #[default]
    Full,
    /// Half the ceiling plus up to half again.
    Equal,
}

/// Keyed ordering and priorities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct KeysSection {
    /// `per_key`, `strict` or `relaxed` (see [`KeyOrder`](crate::KeyOrder)).
    pub order: KeyOrderName,
    /// Later, more urgent arrivals that may overtake a waiting task, per step of priority.
    pub priority_aging: u64,
}

impl Default for KeysSection {
    fn default() -> Self {
        KeysSection {
            order: KeyOrderName::PerKey,
            priority_aging: sluice_core::Gate::DEFAULT_AGING,
        }
    }
}

/// The order of keyed tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyOrderName {
    /// One key at a time per key, keys in parallel.
    #[default]
    PerKey,
    /// One keyed task at a time across the manager.
    Strict,
    /// No order.
    Relaxed,
}

/// One named circuit breaker (see [`BreakerConfig`](crate::BreakerConfig)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct BreakerSection {
    /// Opens after this many failures in a row; 0: never on a run of failures (set
    /// `failure_rate` then).
    pub consecutive_failures: u32,
    /// Opens when this share of the window's calls failed (with `failure_window`).
    pub failure_rate: Option<f64>,
    /// Calls in the failure-rate window.
    pub failure_window: usize,
    /// Calls the window needs before the rate counts.
    pub failure_min_calls: usize,
    /// A call slower than this counts as a failure.
    #[serde(with = "humantime_serde")]
    pub slow_call: Option<Duration>,
    /// How long it stays open before probing.
    #[serde(with = "humantime_serde")]
    pub recovery: Duration,
    /// Probe calls admitted while half-open.
    pub half_open_probes: u32,
    /// One breaker per task key instead of one for the name.
    pub per_key: bool,
}

impl Default for BreakerSection {
    fn default() -> Self {
        BreakerSection {
            consecutive_failures: 5,
            failure_rate: None,
            failure_window: 100,
            failure_min_calls: 20,
            slow_call: None,
            recovery: Duration::from_secs(30),
            half_open_probes: 1,
            per_key: false,
        }
    }
}

/// One named dependency's adaptive limit (see [`LimitConfig`](crate::limit::LimitConfig)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct DependencySection {
    /// The limit before any call has ended.
    pub initial: usize,
    /// The lowest the limit may go.
    pub min: usize,
    /// The highest the limit may go.
    pub max: usize,
    /// What a failed or timed-out call multiplies the limit by.
    pub backoff: f64,
}

impl Default for DependencySection {
    fn default() -> Self {
        let defaults = crate::limit::LimitConfig::new();
        DependencySection {
            initial: defaults.initial,
            min: defaults.min,
            max: defaults.max,
            backoff: defaults.backoff,
        }
    }
}

/// Shutdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ShutdownSection {
    /// How long a program's shutdown waits for running work before cancelling it:
    /// `mgr.shutdown(config.shutdown.timeout)`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for ShutdownSection {
    fn default() -> Self {
        ShutdownSection {
            timeout: Duration::from_secs(30),
        }
    }
}

/// What the manager reports about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MetricsSection {
    /// How often the summary log is written; unset: never.
    #[serde(with = "humantime_serde")]
    pub summary_interval: Option<Duration>,
    /// Task keys each route tracks one by one; the rest count as "other".
    pub max_keys: usize,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            summary_interval: None,
            max_keys: 100,
        }
    }
}
