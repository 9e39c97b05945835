//! Sluice's configuration for this program: `Config::load` (a `sluice.toml` or the file
//! `SLUICE_CONFIG` names, then `SLUICE_` variables), except that this program's own
//! variables (`SLUICE_INGEST_STORE`) are not taken for library settings.
//!
//! `Config::load` refuses every `SLUICE_` variable that names no library setting, and
//! offers no way to read the environment filtered. Until it does, when a
//! `SLUICE_INGEST_` variable is set, the library's variables are laid over the file
//! here, key by key, with `Config::keys` and `Config::variable` naming them.

use serde_json::Value;
use sluice::config::{CONFIG_FILE_VAR, Config};
use std::path::Path;

/// This program's own variables start so.
const OWN_PREFIX: &str = "SLUICE_INGEST_";

/// The configuration, with this program's variables left out.
pub fn load() -> Result<Config, String> {
    let bad = |error: &dyn std::fmt::Display| format!("bad Sluice configuration: {error}");
    let vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .filter(|(name, _)| name.starts_with("SLUICE_") && name != CONFIG_FILE_VAR)
        .collect();
    if !vars.iter().any(|(name, _)| name.starts_with(OWN_PREFIX)) {
        return Config::load().map_err(|error| bad(&error));
    }
    let file = match std::env::var_os(CONFIG_FILE_VAR) {
        Some(path) => Some(std::path::PathBuf::from(path)),
        None => Path::new("sluice.toml")
            .is_file()
            .then(|| "sluice.toml".into()),
    };
    let base = match file {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|error| bad(&format!("{}: {error}", path.display())))?;
            Config::from_toml_str(&text).map_err(|error| bad(&error))?
        }
        None => Config::default(),
    };
    let mut tree = serde_json::to_value(&base).map_err(|error| bad(&error))?;
    let keys = Config::keys();
    for (name, text) in vars
        .iter()
        .filter(|(name, _)| !name.starts_with(OWN_PREFIX))
    {
        let key = keys
            .iter()
            .find(|key| Config::variable(key) == *name && !key.contains('<'))
            .ok_or_else(|| {
                bad(&format!(
                    "{name}: no setting of that name (named breakers and dependencies are set in the file while {OWN_PREFIX}* variables are set)"
                ))
            })?;
        set(&mut tree, key, text);
    }
    serde_json::from_value(tree).map_err(|error| bad(&error))
}

/// Sets the leaf at dotted `key` to `text`, typed as the leaf already is (or as a
/// number or a boolean when it reads as one, for a setting that is unset).
fn set(tree: &mut Value, key: &str, text: &str) {
    let mut at = tree;
    for part in key.split('.') {
        if !at.is_object() {
            *at = Value::Object(serde_json::Map::new());
        }
        let Value::Object(fields) = at else { return };
        at = fields.entry(part.to_owned()).or_insert(Value::Null);
    }
    let number = || text.parse::<serde_json::Number>().ok().map(Value::Number);
    let boolean = || text.parse::<bool>().ok().map(Value::Bool);
    *at = match at {
        Value::Number(_) => number(),
        Value::Bool(_) => boolean(),
        Value::Null => number().or_else(boolean),
        _ => None,
    }
    .unwrap_or_else(|| Value::String(text.to_owned()));
}
