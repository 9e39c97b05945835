//! A [`Config`] onto a [`ManagerBuilder`]: every value checked, and a bad one named by
//! its key in the file (`defaults.retry.max_attempts`, not the builder method).

use super::{Config, ConfigError, JitterName, KeyOrderName};
use crate::limit::LimitConfig;
use crate::retry::{Backoff, BudgetConfig, Jitter, Retry};
use crate::throttle::ThrottleConfig;
use crate::{BreakerConfig, KeyOrder, ManagerBuilder};
use sluice_core::BreakerConfigError;

/// A builder method that sets a count.
type Setter = fn(ManagerBuilder, usize) -> ManagerBuilder;

/// The builder `config` describes.
pub(super) fn builder(config: &Config) -> Result<ManagerBuilder, ConfigError> {
    let mut builder = crate::ConcurrencyManager::builder();
    let threads = ManagerBuilder::MAX_THREADS;
    let limits = sluice_core::Gate::MAX_LIMIT;
    // Each count's largest value is checked here, so that an error names the file's
    // key rather than the builder method (`cpu.workers`, not `cpu_threads`).
    let counts: [(&str, Option<usize>, usize, Setter); 7] = [
        (
            "cpu.workers",
            config.cpu.workers,
            threads,
            ManagerBuilder::cpu_threads,
        ),
        (
            "cpu.limit",
            config.cpu.limit,
            limits,
            ManagerBuilder::cpu_limit,
        ),
        (
            "chunk.workers",
            config.chunk.workers,
            threads,
            ManagerBuilder::chunk_threads,
        ),
        (
            "chunk.limit",
            config.chunk.limit,
            limits,
            ManagerBuilder::chunk_limit,
        ),
        (
            "io.workers",
            config.io.workers,
            threads,
            ManagerBuilder::io_threads,
        ),
        (
            "io.limit",
            config.io.limit,
            limits,
            ManagerBuilder::io_limit,
        ),
        (
            "io.blocking_threads",
            config.io.blocking_threads,
            threads,
            ManagerBuilder::io_blocking_threads,
        ),
    ];
    for (key, value, max, set) in counts {
        match value {
            Some(0) => return Err(invalid(key, 0, "must be at least 1")),
            Some(value) if value > max => {
                return Err(invalid(key, value, &format!("must be between 1 and {max}")));
            }
            Some(value) => builder = set(builder, value),
            None => {}
        }
    }
    builder = builder.throttle(throttle(config)?);
    if let Some(timeout) = config.defaults.timeout {
        builder = builder.default_timeout(timeout);
    }
    builder = builder.default_retry(retry(config)?);
    builder = builder
        .key_order(match config.keys.order {
            KeyOrderName::PerKey => KeyOrder::PerKey,
            KeyOrderName::Strict => KeyOrder::Strict,
            KeyOrderName::Relaxed => KeyOrder::Relaxed,
        })
        .priority_aging(config.keys.priority_aging);
    builder = builder.max_tracked_keys(config.metrics.max_keys);
    if let Some(interval) = config.metrics.summary_interval {
        if interval < std::time::Duration::from_millis(1) {
            return Err(invalid(
                "metrics.summary_interval",
                format!("{interval:?}"),
                "must be at least 1ms",
            ));
        }
        builder = builder.summary_interval(interval);
    }
    for (name, section) in &config.breakers {
        let breaker = breaker(name, section)?;
        builder = if section.per_key {
            builder.breaker_per_key(name.clone(), breaker)
        } else {
            builder.breaker(name.clone(), breaker)
        };
    }
    for (name, section) in &config.dependencies {
        let limit = LimitConfig::new()
            .initial(section.initial)
            .min(section.min)
            .max(section.max)
            .backoff(section.backoff)
            .build()
            .map_err(|error| {
                renamed(
                    &error.to_string(),
                    "limit.",
                    &format!("dependencies.{name}."),
                )
            })?;
        builder = builder.dependency(name.clone(), limit);
    }
    Ok(builder)
}

fn throttle(config: &Config) -> Result<ThrottleConfig, ConfigError> {
    let t = &config.throttle;
    ThrottleConfig::new()
        .enabled(t.enabled)
        .interval(t.interval)
        .cpu_threshold(t.cpu_threshold)
        .cpu_stall_threshold(t.cpu_stall_threshold)
        .memory_threshold(t.memory_threshold)
        .hysteresis(t.hysteresis)
        .decrease(t.decrease)
        .recovery(t.recovery)
        .build()
        // Its messages already name `throttle.<key>`.
        .map_err(|error| renamed(&error.to_string(), "", ""))
}

fn retry(config: &Config) -> Result<Retry, ConfigError> {
    let r = &config.defaults.retry;
    if r.backoff > r.max_backoff {
        return Err(ConfigError::Invalid {
            key: "defaults.retry.backoff".to_owned(),
            value: format!("{:?}", r.backoff),
            allowed: format!(
                "must be at most defaults.retry.max_backoff ({:?})",
                r.max_backoff
            ),
        });
    }
    let backoff = Backoff::exponential(r.backoff)
        .max_delay(r.max_backoff)
        .jitter(match r.jitter {
            JitterName::None => Jitter::None,
            JitterName::Full => Jitter::Full,
            JitterName::Equal => Jitter::Equal,
        });
    let mut retry = Retry::builder()
        .max_attempts(r.max_attempts)
        .backoff(backoff);
    if let Some(limit) = r.max_elapsed {
        retry = retry.max_elapsed(limit);
    }
    retry = if r.budget {
        retry.budget(BudgetConfig::new().ratio(r.budget_ratio))
    } else {
        retry.no_budget()
    };
    retry.build().map_err(|error| {
        let message = error.to_string().replace("retry_budget.", "retry.budget_");
        renamed(&message, "retry.", "defaults.retry.")
    })
}

fn breaker(name: &str, section: &super::BreakerSection) -> Result<BreakerConfig, ConfigError> {
    let mut config = BreakerConfig::builder()
        .recovery(section.recovery)
        .half_open_probes(section.half_open_probes);
    // 0 is "unset": the file has no null, and the builder refuses 0 anyway.
    if section.consecutive_failures > 0 {
        config = config.consecutive_failures(section.consecutive_failures);
    }
    if let Some(rate) = section.failure_rate {
        config = config.failure_rate(rate, section.failure_window, section.failure_min_calls);
    }
    if let Some(limit) = section.slow_call {
        config = config.slow_call(limit);
    }
    config.build().map_err(|error| match error {
        BreakerConfigError::Invalid {
            setting,
            value,
            allowed,
        } => ConfigError::Invalid {
            key: format!(
                "breakers.{name}.{}",
                setting.replace("failure_rate.", "failure_")
            ),
            value,
            allowed,
        },
        _ => ConfigError::Invalid {
            key: format!("breakers.{name}.consecutive_failures"),
            value: "0".to_owned(),
            allowed: "set it above 0, or set failure_rate: nothing else can open the breaker"
                .to_owned(),
        },
    })
}

/// An error of a component's own settings, its `from` prefix replaced by the key path.
fn renamed(message: &str, from: &str, to: &str) -> ConfigError {
    let message = if from.is_empty() {
        message.to_owned()
    } else {
        message.replace(from, to)
    };
    match message.split_once(" = ") {
        Some((key, rest)) => match rest.split_once(": ") {
            Some((value, allowed)) => ConfigError::Invalid {
                key: key.to_owned(),
                value: value.to_owned(),
                allowed: allowed.to_owned(),
            },
            None => invalid(key, rest, "out of range"),
        },
        None => invalid("configuration", message, "out of range"),
    }
}

fn invalid(key: &str, value: impl ToString, allowed: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        value: value.to_string(),
        allowed: allowed.to_owned(),
    }
}
