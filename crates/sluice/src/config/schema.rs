//! The type of every key of a [`Config`](super::Config), so that a value from the file
//! or the environment is taken only at its own type: no float rounded to a count, no
//! number read as a boolean, no `nan`. Serde alone cannot say this with the key's name
//! (and the environment's values are all strings), so the tree is checked here first.

use serde::Serialize;
use serde_json::Value;

/// The largest count a key of type `usize` takes: a TOML integer is an `i64`.
const COUNT_MAX: u64 = if (usize::MAX as u64) < (i64::MAX as u64) {
    usize::MAX as u64
} else {
    i64::MAX as u64
};

/// What a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A whole number from 0 to this.
    Whole(u64),
    /// `true` or `false`.
    Bool,
    /// A finite number; a whole number is one too.
    Number,
    /// A duration as humantime writes it: `"250ms"`, `"1h 30m"`.
    Duration,
    /// One of these words.
    Choice(&'static [&'static str]),
}

impl Kind {
    /// What a value of this kind must be, as an error says it.
    pub(super) fn allowed(self) -> String {
        match self {
            Kind::Whole(max) => format!("must be a whole number from 0 to {max}"),
            Kind::Bool => "must be true or false".to_owned(),
            Kind::Number => "must be a finite number".to_owned(),
            Kind::Duration => {
                "must be a duration such as \"250ms\", \"30s\" or \"1h 30m\"".to_owned()
            }
            Kind::Choice(words) => {
                let words: Vec<String> = words.iter().map(|word| format!("{word:?}")).collect();
                format!("must be one of {}", words.join(", "))
            }
        }
    }
}

/// Every key (a dotted path, with `<name>` for the name of a breaker or dependency)
/// and its kind.
const KINDS: [(&str, Kind); 40] = [
    ("cpu.workers", COUNT),
    ("cpu.limit", COUNT),
    ("chunk.workers", COUNT),
    ("chunk.limit", COUNT),
    ("io.workers", COUNT),
    ("io.limit", COUNT),
    ("io.blocking_threads", COUNT),
    ("throttle.enabled", Kind::Bool),
    ("throttle.interval", Kind::Duration),
    ("throttle.cpu_threshold", Kind::Number),
    ("throttle.cpu_stall_threshold", Kind::Number),
    ("throttle.memory_threshold", Kind::Number),
    ("throttle.hysteresis", Kind::Number),
    ("throttle.decrease", Kind::Number),
    ("throttle.recovery", Kind::Number),
    ("defaults.timeout", Kind::Duration),
    ("defaults.retry.max_attempts", U32),
    ("defaults.retry.backoff", Kind::Duration),
    ("defaults.retry.max_backoff", Kind::Duration),
    (
        "defaults.retry.jitter",
        Kind::Choice(&["none", "full", "equal"]),
    ),
    ("defaults.retry.max_elapsed", Kind::Duration),
    ("defaults.retry.budget", Kind::Bool),
    ("defaults.retry.budget_ratio", Kind::Number),
    (
        "keys.order",
        Kind::Choice(&["per_key", "strict", "relaxed"]),
    ),
    ("keys.priority_aging", Kind::Whole(i64::MAX as u64)),
    ("breakers.<name>.consecutive_failures", U32),
    ("breakers.<name>.failure_rate", Kind::Number),
    ("breakers.<name>.failure_window", COUNT),
    ("breakers.<name>.failure_min_calls", COUNT),
    ("breakers.<name>.slow_call", Kind::Duration),
    ("breakers.<name>.recovery", Kind::Duration),
    ("breakers.<name>.half_open_probes", U32),
    ("breakers.<name>.per_key", Kind::Bool),
    ("dependencies.<name>.initial", COUNT),
    ("dependencies.<name>.min", COUNT),
    ("dependencies.<name>.max", COUNT),
    ("dependencies.<name>.backoff", Kind::Number),
    ("metrics.summary_interval", Kind::Duration),
    ("metrics.max_keys", COUNT),
    ("shutdown.timeout", Kind::Duration),
];

/// A key of type `usize`.
const COUNT: Kind = Kind::Whole(COUNT_MAX);
/// A key of type `u32`.
const U32: Kind = Kind::Whole(u32::MAX as u64);

/// The kind of the key `pattern` (a dotted path, with `<name>` for the name of a
/// breaker or dependency), or `None` if it is no key.
pub(super) fn kind_of(pattern: &str) -> Option<Kind> {
    KINDS
        .iter()
        .find(|(key, _)| *key == pattern)
        .map(|(_, kind)| *kind)
}

/// The tables whose keys are names chosen by the user, each a table of settings.
pub(super) const NAMED: [&str; 2] = ["breakers", "dependencies"];

/// The pattern of `key` inside the table of pattern `table`: a name under
/// `breakers` or `dependencies` is `<name>`.
pub(super) fn child(table: &str, key: &str) -> String {
    if NAMED.contains(&table) {
        format!("{table}.<name>")
    } else if table.is_empty() {
        key.to_owned()
    } else {
        format!("{table}.{key}")
    }
}

/// Every leaf key of `value` as serialized, as dotted paths (maps that are empty by
/// default, the named breakers and dependencies, are leaves too).
pub(super) fn keys(value: &impl Serialize) -> Vec<String> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(fields) if !fields.is_empty() => {
                for (name, inner) in fields {
                    let path = if prefix.is_empty() {
                        name.clone()
                    } else {
                        format!("{prefix}.{name}")
                    };
                    walk(&path, inner, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    let mut out = Vec::new();
    if let Ok(value) = serde_json::to_value(value) {
        walk("", &value, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn every_key_has_a_kind_and_every_kind_is_a_key() {
        let keys = Config::keys();
        for key in &keys {
            assert!(kind_of(key).is_some(), "{key} has no kind");
        }
        for (key, _) in KINDS {
            assert!(keys.iter().any(|known| known == key), "{key} is no key");
        }
        assert_eq!(kind_of("cpu.wokers"), None);
    }
}
