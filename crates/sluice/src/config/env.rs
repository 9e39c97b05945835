//! `SLUICE_` environment variables: each is a key's path in capitals with `__` between
//! levels (`SLUICE_THROTTLE__CPU_THRESHOLD` is `throttle.cpu_threshold`), laid over
//! what the defaults and the file gave. Every variable is checked: one that spells no
//! key, is not UTF-8, sets a key another variable sets too, or holds a value not of
//! its key's type (integers only digits, booleans only `true` or `false`, numbers
//! finite, durations as humantime writes them) is an error naming it, so that a typo
//! does not leave a setting silently at its default.
//!
//! The name of a breaker or dependency in a variable (`SLUICE_BREAKERS__PDF-API__…`)
//! is matched against the file's names without regard to case, since variables are
//! written in capitals: one match is set, two (`api` and `API`) are an error, none
//! makes a new entry under the lowercase name.

use super::schema::{self, Kind, NAMED};
use super::{CONFIG_FILE_VAR, ConfigError};
use std::collections::BTreeMap;
use std::ffi::OsString;
use toml::{Table, Value};

/// The prefix of every variable.
const PREFIX: &str = "SLUICE_";

/// Every environment variable of this process (the `SLUICE_` ones are picked later).
pub(super) fn vars() -> Vec<(OsString, OsString)> {
    std::env::vars_os().collect()
}

/// The key a variable spells: `SLUICE_CPU__WORKERS` is `cpu.workers`.
fn key_of(var: &str) -> String {
    var.strip_prefix(PREFIX)
        .unwrap_or(var)
        .to_lowercase()
        .replace("__", ".")
}

/// The variable of a key: `cpu.workers` is `SLUICE_CPU__WORKERS`.
pub(super) fn var_of(key: &str) -> String {
    format!("{PREFIX}{}", key.to_uppercase().replace('.', "__"))
}

/// Lays the `SLUICE_` variables among `vars` over `table`, in the order of their names.
pub(super) fn overlay(
    table: &mut Table,
    vars: Vec<(OsString, OsString)>,
) -> Result<(), ConfigError> {
    let mut ours = BTreeMap::new();
    for (name, value) in vars {
        let shown = name.to_string_lossy().into_owned();
        if !shown.starts_with(PREFIX) || shown == CONFIG_FILE_VAR {
            continue;
        }
        let Ok(name) = name.into_string() else {
            return Err(not_unicode(shown, "name"));
        };
        let Ok(value) = value.into_string() else {
            return Err(not_unicode(name, "value"));
        };
        ours.insert(name, value);
    }
    let mut set_by: BTreeMap<Vec<String>, String> = BTreeMap::new();
    for (var, value) in ours {
        let (path, kind) = target(table, &var)?;
        let key = path.join(".");
        if let Some(first) = set_by.get(&path) {
            return Err(ConfigError::SetTwice {
                first: first.clone(),
                second: var,
                key,
            });
        }
        let value = typed(kind, &value).map_err(|allowed| ConfigError::Variable {
            var: var.clone(),
            value,
            key,
            allowed,
        })?;
        insert(table, &path, value);
        set_by.insert(path, var);
    }
    Ok(())
}

fn not_unicode(var: String, what: &'static str) -> ConfigError {
    ConfigError::NotUnicode { var, what }
}

/// The path in `table` that `var` sets, and its kind.
fn target(table: &Table, var: &str) -> Result<(Vec<String>, Kind), ConfigError> {
    let unknown = || ConfigError::UnknownVariable {
        var: var.to_owned(),
        key: key_of(var),
    };
    let rest = var.strip_prefix(PREFIX).unwrap_or(var);
    let parts: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
    let (path, pattern) = match parts.as_slice() {
        [section, name @ .., field] if NAMED.contains(&section.as_str()) && !name.is_empty() => {
            let name = name.join("__");
            if name.is_empty() {
                return Err(unknown());
            }
            let pattern = format!("{section}.<name>.{field}");
            let name = named(table, var, section, name)?;
            (vec![section.clone(), name, field.clone()], pattern)
        }
        _ => (parts.clone(), parts.join(".")),
    };
    let kind = schema::kind_of(&pattern).ok_or_else(unknown)?;
    Ok((path, kind))
}

/// The file's name of `section` that `name` (lowercase) matches regardless of case,
/// or `name` itself if none does.
fn named(table: &Table, var: &str, section: &str, name: String) -> Result<String, ConfigError> {
    let names: Vec<String> = match table.get(section) {
        Some(Value::Table(entries)) => entries
            .keys()
            .filter(|known| known.to_lowercase() == name)
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    match names.as_slice() {
        [] => Ok(name),
        [one] => Ok(one.clone()),
        _ => Err(ConfigError::AmbiguousName {
            var: var.to_owned(),
            section: section.to_owned(),
            names,
        }),
    }
}

/// `text` as a value of `kind`, or what it must be.
fn typed(kind: Kind, text: &str) -> Result<Value, String> {
    let value = match kind {
        Kind::Whole(max) => {
            let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
            text.parse::<u64>()
                .ok()
                .filter(|&n| digits && n <= max)
                .and_then(|n| i64::try_from(n).ok())
                .map(Value::Integer)
        }
        Kind::Bool => match text {
            "true" => Some(Value::Boolean(true)),
            "false" => Some(Value::Boolean(false)),
            _ => None,
        },
        Kind::Number => text
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Value::Float),
        Kind::Duration => {
            return match humantime::parse_duration(text) {
                Ok(_) => Ok(Value::String(text.to_owned())),
                Err(error) => Err(format!("{} ({error})", kind.allowed())),
            };
        }
        Kind::Choice(words) => words
            .contains(&text)
            .then(|| Value::String(text.to_owned())),
    };
    value.ok_or_else(|| kind.allowed())
}

/// Sets `path` of `table` to `value`, making the tables on the way. The file's tree
/// was checked before, so a table on the way is a table.
fn insert(table: &mut Table, path: &[String], value: Value) {
    let Some((last, tables)) = path.split_last() else {
        return;
    };
    let mut at = table;
    for name in tables {
        let entry = at
            .entry(name.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        let Value::Table(inner) = entry else {
            return;
        };
        at = inner;
    }
    at.insert(last.clone(), value);
}
