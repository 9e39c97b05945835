//! Sluice's configuration for this program: `Config::load_reserving` (a `sluice.toml`
//! or the file `SLUICE_CONFIG` names, then `SLUICE_` variables), with this program's
//! own variables (`SLUICE_INGEST_STORE`) left to it rather than refused as unknown
//! library settings.

use sluice::config::Config;

/// This program's own variables start so.
const OWN_PREFIX: &str = "SLUICE_INGEST_";

/// The configuration, with this program's variables left out.
pub fn load() -> Result<Config, String> {
    Config::load_reserving(&[OWN_PREFIX])
        .map_err(|error| format!("bad Sluice configuration: {error}"))
}
