//! The TOML file, read strictly: parsed into a tree (a syntax error named by its line,
//! column and the key there), then every value checked against its key's kind before
//! serde reads it, so that `workers = 2.9` is refused with its key instead of rounded.

use super::ConfigError;
use super::schema::{self, Kind};
use toml::{Table, Value};

/// The tree of the TOML `text` read from `origin`, every value of the right type.
pub(super) fn parse(origin: &str, text: &str) -> Result<Table, ConfigError> {
    let table: Table = toml::from_str(text).map_err(|error| syntax(origin, text, &error))?;
    check_table("", "", &table, &super::Config::keys())?;
    Ok(table)
}

/// Checks each entry of `table`, found at `path` (of pattern `pattern`); `known` is
/// every key's pattern.
fn check_table(
    path: &str,
    pattern: &str,
    table: &Table,
    known: &[String],
) -> Result<(), ConfigError> {
    for (key, value) in table {
        let inner_path = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        let inner = schema::child(pattern, key);
        if let Some(kind) = schema::kind_of(&inner) {
            check_value(&inner_path, kind, value)?;
        } else if is_table(&inner, known) {
            match value {
                Value::Table(fields) => check_table(&inner_path, &inner, fields, known)?,
                other => {
                    return Err(ConfigError::Invalid {
                        key: inner_path,
                        value: shown(other),
                        allowed: "must be a table".to_owned(),
                    });
                }
            }
        } else {
            return Err(ConfigError::UnknownKey {
                key: inner_path,
                field: key.clone(),
                expected: fields_of(pattern, known).join(", "),
            });
        }
    }
    Ok(())
}

/// Refuses `value` at `key` unless it is of `kind`.
pub(super) fn check_value(key: &str, kind: Kind, value: &Value) -> Result<(), ConfigError> {
    let mut allowed = kind.allowed();
    let ok = match (kind, value) {
        (Kind::Whole(max), Value::Integer(n)) => u64::try_from(*n).is_ok_and(|n| n <= max),
        (Kind::Bool, Value::Boolean(_)) | (Kind::Number, Value::Integer(_)) => true,
        (Kind::Number, Value::Float(x)) => x.is_finite(),
        (Kind::Duration, Value::String(text)) => match humantime::parse_duration(text) {
            Ok(_) => true,
            Err(error) => {
                allowed = format!("{allowed} ({error})");
                false
            }
        },
        (Kind::Choice(words), Value::String(word)) => words.contains(&word.as_str()),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            key: key.to_owned(),
            value: shown(value),
            allowed,
        })
    }
}

/// Whether `pattern` is a table: some key lies below it.
fn is_table(pattern: &str, known: &[String]) -> bool {
    known.iter().any(|key| {
        key.strip_prefix(pattern)
            .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// The names of the entries the table of pattern `pattern` may hold.
fn fields_of(pattern: &str, known: &[String]) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    for key in known {
        let rest = if pattern.is_empty() {
            Some(key.as_str())
        } else {
            key.strip_prefix(pattern)
                .and_then(|rest| rest.strip_prefix('.'))
        };
        if let Some(field) = rest.and_then(|rest| rest.split('.').next())
            && !fields.iter().any(|seen| seen == field)
        {
            fields.push(field.to_owned());
        }
    }
    fields
}

/// A value as an error shows it: as written in TOML for a scalar.
pub(super) fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => format!("{text:?}"),
        Value::Integer(n) => n.to_string(),
        Value::Float(x) if x.is_nan() => "nan".to_owned(),
        Value::Float(x) if x.is_infinite() => if *x > 0.0 { "inf" } else { "-inf" }.to_owned(),
        Value::Float(x) => format!("{x:?}"),
        Value::Boolean(b) => b.to_string(),
        Value::Datetime(when) => when.to_string(),
        Value::Array(_) => "an array".to_owned(),
        Value::Table(_) => "a table".to_owned(),
    }
}

/// A TOML syntax error, placed by line, column and (when the line sets one) the key.
fn syntax(origin: &str, text: &str, error: &toml::de::Error) -> ConfigError {
    let place = match error.span() {
        Some(span) => locate(text, span.start),
        None => "an unknown place".to_owned(),
    };
    ConfigError::Syntax {
        origin: origin.to_owned(),
        place,
        message: error.message().trim().to_owned(),
    }
}

/// "line L, column C" of byte `offset` of `text`, with ", at <key>" when its line is
/// `key = value` (the key prefixed by the table the nearest header above opens).
fn locate(text: &str, offset: usize) -> String {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    let mut place = format!("line {line}, column {column}");
    let this_line = text[line_start..].lines().next().unwrap_or("");
    if !this_line.trim_start().starts_with('[')
        && let Some((key, _)) = this_line.split_once('=')
    {
        let header = before[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|line| line.starts_with('['))
            .map(|line| {
                let inside = line.split(']').next().unwrap_or("");
                inside.trim_start_matches('[').trim()
            });
        let key = key.trim();
        match header {
            Some(table) if !table.is_empty() => place.push_str(&format!(", at {table}.{key}")),
            _ => place.push_str(&format!(", at {key}")),
        }
    }
    place
}
