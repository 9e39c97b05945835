//! Configuration from a TOML file and the environment: one [`Config`] for everything
//! the builder can set, read in the order built-in defaults < TOML file < environment,
//! and checked before anything starts. A value is taken only at its key's type, never
//! converted (`workers = 2.9`, `enabled = -1`, `SLUICE_CPU__WORKERS=yes` are errors),
//! and every error names the key or variable at fault.
//!
//! - `sections.rs`: one struct per table of the file;
//! - `schema.rs`: the type of every key, which values are checked against;
//! - `file.rs`: the TOML text, parsed and checked key by key before serde reads it;
//! - `env.rs`: `SLUICE_` variables, each parsed at its key's type and laid over the file;
//! - `error.rs`: [`ConfigError`], every refusal naming its key or variable;
//! - `apply.rs`: a `Config` onto a [`ManagerBuilder`](crate::ManagerBuilder), each bad value named by its key.
//!
//! Every key, its default and its environment name are listed in
//! `docs/configuration.md` (a test fails when a field is missing there).
//!
//! # Examples
//!
//! ```
//! use sluice::config::Config;
//!
//! let config = Config::from_toml_str(
//!     r#"
//!     [cpu]
//!     workers = 2
//!
//!     [throttle]
//!     interval = "250ms"
//!     cpu_threshold = 90
//!
//!     [dependencies.pdf-api]
//!     max = 64
//!     "#,
//! )?;
//! assert_eq!(config.cpu.workers, Some(2));
//! let mgr = config.builder()?.build()?;
//! assert_eq!(mgr.run_cpu(|| 6 * 7).wait()?, 42);
//!
//! let typo = Config::from_toml_str("[cpu]\nwokers = 2");
//! assert!(typo.unwrap_err().to_string().contains("unknown field `wokers`"));
//!
//! let rounded = Config::from_toml_str("[cpu]\nworkers = 2.9");
//! assert!(rounded.unwrap_err().to_string().starts_with("cpu.workers = 2.9: must be a whole number"));
//!
//! let bad = Config::from_toml_str("[throttle]\ncpu_threshold = 140")?.builder();
//! assert_eq!(
//!     bad.unwrap_err().to_string(),
//!     "throttle.cpu_threshold = 140: must be between 1 and 100"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod apply;
mod env;
mod error;
mod file;
mod schema;
mod sections;

pub use error::ConfigError;
pub use sections::{
    BreakerSection, DefaultsSection, DependencySection, IoSection, JitterName, KeyOrderName,
    KeysSection, MetricsSection, PoolSection, RetrySection, ShutdownSection, ThrottleSection,
};

use crate::ConcurrencyManager;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Everything a [`ManagerBuilder`](crate::ManagerBuilder) can set, as read from a TOML
/// file and `SLUICE_` environment variables. Every field has a default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// The rayon pool.
    pub cpu: PoolSection,
    /// The work-stealing chunk pool.
    pub chunk: PoolSection,
    /// The tokio runtime and its blocking pool.
    pub io: IoSection,
    /// The load throttle.
    pub throttle: ThrottleSection,
    /// Policies every task starts with.
    pub defaults: DefaultsSection,
    /// Keyed ordering and priorities.
    pub keys: KeysSection,
    /// Circuit breakers by name.
    pub breakers: BTreeMap<String, BreakerSection>,
    /// Adaptive dependency limits by name.
    pub dependencies: BTreeMap<String, DependencySection>,
    /// What the manager reports about itself.
    pub metrics: MetricsSection,
    /// Shutdown.
    pub shutdown: ShutdownSection,
}

/// Names the file `Config::load` reads, if set.
pub const CONFIG_FILE_VAR: &str = "SLUICE_CONFIG";

impl Config {
    /// The defaults, then `sluice.toml` in the working directory if it exists (or the
    /// file `SLUICE_CONFIG` names, which must exist), then `SLUICE_` variables.
    pub fn load() -> Result<Self, ConfigError> {
        match std::env::var_os(CONFIG_FILE_VAR) {
            Some(path) => Self::from_toml_file(PathBuf::from(path)),
            None if Path::new("sluice.toml").is_file() => Self::from_toml_file("sluice.toml"),
            None => Self::from_env(),
        }
    }

    /// [`load`](Self::load) for a program with `SLUICE_` variables of its own: those
    /// starting with one of `own` (say `SLUICE_INGEST_`) are left to the program
    /// instead of being refused as unknown settings. A prefix that a library variable
    /// starts with is refused ([`ConfigError::ReservedPrefix`]), so a program can never
    /// hide one of the library's settings.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::config::Config;
    ///
    /// // A program whose own settings are `SLUICE_INGEST_*`.
    /// let config = Config::load_reserving(&["SLUICE_INGEST_"])?;
    /// assert!(Config::load_reserving(&["SLUICE_CPU"]).is_err()); // would hide SLUICE_CPU__WORKERS
    /// # let _ = config;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load_reserving(own: &[&str]) -> Result<Self, ConfigError> {
        let library: Vec<String> = Self::keys().iter().map(|key| Self::variable(key)).collect();
        for prefix in own {
            if let Some(var) = library.iter().find(|var| var.starts_with(prefix)) {
                return Err(ConfigError::ReservedPrefix {
                    prefix: (*prefix).to_owned(),
                    var: var.clone(),
                });
            }
        }
        let vars: Vec<(OsString, OsString)> = env::vars()
            .into_iter()
            .filter(|(name, _)| {
                let name = name.to_string_lossy();
                !own.iter().any(|prefix| name.starts_with(prefix))
            })
            .collect();
        let file = match std::env::var_os(CONFIG_FILE_VAR) {
            Some(path) => Some(PathBuf::from(path)),
            None => Path::new("sluice.toml")
                .is_file()
                .then(|| PathBuf::from("sluice.toml")),
        };
        let file = match file {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|error| ConfigError::Read {
                    origin: path.display().to_string(),
                    source: Box::new(error),
                })?;
                Some((path.display().to_string(), text))
            }
            None => None,
        };
        Self::read(file, vars)
    }

    /// The defaults, then `SLUICE_` variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(None, env::vars())
    }

    /// The defaults, then the TOML file at `path`, then `SLUICE_` variables.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            origin: path.display().to_string(),
            source: Box::new(error),
        })?;
        Self::read(Some((path.display().to_string(), text)), env::vars())
    }

    /// The defaults, then the TOML in `text` (no environment): for tests and embedded
    /// configurations.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        Self::read(
            Some(("the TOML text".to_owned(), text.to_owned())),
            Vec::new(),
        )
    }

    /// The defaults, then the TOML in `toml` if given, then the `SLUICE_` variables
    /// among `vars` (others are skipped): what [`from_toml_file`](Self::from_toml_file)
    /// does with the process's environment, with an environment of your own, so that
    /// tests need not change the process's.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::config::Config;
    ///
    /// let config = Config::load_from(
    ///     Some("[cpu]\nworkers = 2\n\n[breakers.PDF-Api]\nrecovery = \"10s\""),
    ///     [("SLUICE_CPU__WORKERS", "3"), ("SLUICE_BREAKERS__PDF-API__RECOVERY", "5s"), ("HOME", "/root")],
    /// )?;
    /// assert_eq!(config.cpu.workers, Some(3));
    /// assert_eq!(config.breakers["PDF-Api"].recovery.as_secs(), 5); // the file's breaker
    ///
    /// let yes = Config::load_from(None, [("SLUICE_THROTTLE__ENABLED", "yes")]);
    /// assert_eq!(
    ///     yes.unwrap_err().to_string(),
    ///     "SLUICE_THROTTLE__ENABLED = \"yes\" (for throttle.enabled): must be true or false"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load_from<I, K, V>(toml: Option<&str>, vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let vars = vars
            .into_iter()
            .map(|(name, value)| (name.into(), value.into()))
            .collect();
        let file = toml.map(|text| ("the TOML text".to_owned(), text.to_owned()));
        Self::read(file, vars)
    }

    /// Reads `file` over the defaults, then `vars` (`SLUICE_` variables) over it.
    fn read(
        file: Option<(String, String)>,
        vars: Vec<(OsString, OsString)>,
    ) -> Result<Self, ConfigError> {
        let (origin, mut table) = match file {
            Some((origin, text)) => {
                let table = file::parse(&origin, &text)?;
                (origin, table)
            }
            None => ("the defaults".to_owned(), toml::Table::new()),
        };
        env::overlay(&mut table, vars)?;
        // Every value was checked against its key's kind: serde cannot fail here but
        // for a defect, which is reported rather than hidden.
        toml::Value::Table(table)
            .try_into()
            .map_err(|error| ConfigError::Read {
                origin,
                source: Box::new(error),
            })
    }

    /// Every key a configuration can set, as dotted paths; the fields of a named
    /// breaker or dependency appear under the name `<name>`
    /// (`breakers.<name>.recovery`).
    pub fn keys() -> Vec<String> {
        let named = |prefix: &str, fields: Vec<String>| {
            fields
                .into_iter()
                .map(move |field| format!("{prefix}.<name>.{field}"))
                .collect::<Vec<_>>()
        };
        let mut keys: Vec<String> = schema::keys(&Config::default())
            .into_iter()
            .filter(|key| key != "breakers" && key != "dependencies")
            .collect();
        keys.extend(named("breakers", schema::keys(&BreakerSection::default())));
        keys.extend(named(
            "dependencies",
            schema::keys(&DependencySection::default()),
        ));
        keys
    }

    /// The environment variable of `key`: `cpu.workers` is `SLUICE_CPU__WORKERS`.
    pub fn variable(key: &str) -> String {
        env::var_of(key)
    }

    /// A builder with every setting of this configuration, each checked: the first bad
    /// value is named by its key.
    pub fn builder(&self) -> Result<crate::ManagerBuilder, ConfigError> {
        apply::builder(self)
    }
}

impl ConcurrencyManager {
    /// A manager configured by the defaults and `SLUICE_` environment variables
    /// (`SLUICE_CPU__WORKERS=8`, `SLUICE_THROTTLE__CPU_THRESHOLD=85`); see
    /// [`Config`].
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Config::from_env()?.builder()?.build()?)
    }

    /// A manager configured by the defaults, the TOML file at `path`, then `SLUICE_`
    /// environment variables; see [`Config`].
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Ok(Config::from_toml_file(path)?.builder()?.build()?)
    }
}
