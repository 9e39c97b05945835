//! `SLUICE_` environment variables: each is a key's path in capitals with `__` between
//! levels (`SLUICE_THROTTLE__CPU_THRESHOLD` is `throttle.cpu_threshold`), laid over
//! what the defaults and the file gave. A variable that spells no key is an error, so
//! that a typo does not leave a setting silently at its default.

use super::{BreakerSection, Config, ConfigError, DependencySection, parse};
use serde::Serialize;
use serde_json::Value;

/// The `SLUICE_` variables of this process, but `SLUICE_CONFIG`, which names a file.
pub(super) fn vars() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .filter(|(name, _)| name.starts_with("SLUICE_") && name != super::CONFIG_FILE_VAR)
        .collect()
}

/// The key a variable spells: `SLUICE_CPU__WORKERS` is `cpu.workers`.
pub(super) fn key_of(var: &str) -> String {
    var.trim_start_matches("SLUICE_")
        .to_lowercase()
        .replace("__", ".")
}

/// The variable of a key: `cpu.workers` is `SLUICE_CPU__WORKERS`.
pub(super) fn var_of(key: &str) -> String {
    format!("SLUICE_{}", key.to_uppercase().replace('.', "__"))
}

/// Lays `vars` over `config`.
pub(super) fn overlay(config: &mut Config, vars: Vec<(String, String)>) -> Result<(), ConfigError> {
    if vars.is_empty() {
        return Ok(());
    }
    let read = |source| ConfigError::Read {
        origin: "environment".to_owned(),
        source: Box::new(source),
    };
    let mut sources =
        config::Config::builder().add_source(config::Config::try_from(&*config).map_err(read)?);
    for (var, value) in vars {
        let key = key_of(&var);
        if !is_key(&key) {
            return Err(ConfigError::UnknownVariable { var, key });
        }
        sources = sources.set_override(key, value).map_err(read)?;
    }
    *config = parse("environment", sources)?;
    Ok(())
}

/// Whether `key` is a setting: a leaf of `Config`, or a field of a named breaker or
/// dependency.
fn is_key(key: &str) -> bool {
    let named = |prefix: &str, fields: &[String]| {
        key.strip_prefix(prefix)
            .and_then(|rest| rest.split_once('.'))
            .is_some_and(|(name, field)| !name.is_empty() && fields.iter().any(|f| f == field))
    };
    keys(&Config::default()).iter().any(|known| known == key)
        || named("breakers.", &keys(&BreakerSection::default()))
        || named("dependencies.", &keys(&DependencySection::default()))
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
