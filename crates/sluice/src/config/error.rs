//! [`ConfigError`]: why a configuration was refused, each variant naming the key (or
//! variable), the value and what it must be.

use crate::BuildError;
use thiserror::Error;

/// Why a configuration could not be read or used. The message names the key (or
/// variable), the value and what is allowed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{origin}: {source}")]
    Read {
        /// The file.
        origin: String,
        /// What the reader said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The file is not TOML.
    #[error("{origin}: TOML syntax error at {place}: {message}")]
    Syntax {
        /// The file.
        origin: String,
        /// Line and column, and the key the line sets if it sets one.
        place: String,
        /// What the parser said.
        message: String,
    },
    /// The file has a key no setting has.
    #[error("{key}: unknown field `{field}`, expected one of {expected}")]
    UnknownKey {
        /// The key's path.
        key: String,
        /// The key's last part.
        field: String,
        /// The keys the table may hold.
        expected: String,
    },
    /// A `SLUICE_` variable names no setting.
    #[error(
        "{var}: no setting {key} (variables are SLUICE_ plus the key's path with __ between levels, as SLUICE_CPU__WORKERS for cpu.workers)"
    )]
    UnknownVariable {
        /// The variable.
        var: String,
        /// The key it spells.
        key: String,
    },
    /// A `SLUICE_` variable's value is not of its key's type.
    #[error("{var} = {value:?} (for {key}): {allowed}")]
    Variable {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
        /// The key it sets.
        key: String,
        /// What the value must be.
        allowed: String,
    },
    /// A `SLUICE_` variable's name or value is not UTF-8.
    #[error("{var}: the {what} is not valid UTF-8")]
    NotUnicode {
        /// The variable, its name made UTF-8 by replacing what is not.
        var: String,
        /// `name` or `value`.
        what: &'static str,
    },
    /// Two `SLUICE_` variables set one key (they differ only in case).
    #[error("{first} and {second} both set {key}")]
    SetTwice {
        /// One variable.
        first: String,
        /// The other.
        second: String,
        /// The key.
        key: String,
    },
    /// A `SLUICE_` variable names a breaker or dependency that the file has under
    /// several names differing only in case.
    #[error("{var}: matches {section} {} of the file", quoted(.names))]
    AmbiguousName {
        /// The variable.
        var: String,
        /// `breakers` or `dependencies`.
        section: String,
        /// The file's names it matches.
        names: Vec<String>,
    },
    /// A value is out of range, or of the wrong type in the file.
    #[error("{key} = {value}: {allowed}")]
    Invalid {
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// What is allowed.
        allowed: String,
    },
    /// A program reserved a variable prefix that library settings also use.
    #[error(
        "{prefix}: a program's own variables cannot take this prefix: the library's {var} starts with it"
    )]
    ReservedPrefix {
        /// The prefix asked for.
        prefix: String,
        /// A library variable it would hide.
        var: String,
    },
    /// A value was refused by the component it configures (its message names it).
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// `names` quoted and joined with "and".
fn quoted(names: &[String]) -> String {
    let names: Vec<String> = names.iter().map(|name| format!("{name:?}")).collect();
    names.join(" and ")
}
