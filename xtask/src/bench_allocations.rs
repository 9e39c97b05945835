//! The "Allocations per task" section of `docs/benchmarks.md`: the benches'
//! `allocations` bin, built in release and run once (counts need no rounds).

use crate::run::release_binary;
use std::process::Command;

/// Builds and runs the allocations bin; its output is the section, in markdown.
pub fn section() -> Result<String, String> {
    let bin = release_binary("sluice-benches", "allocations")?;
    let output = Command::new(bin)
        .output()
        .map_err(|e| format!("allocations: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "allocations failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
