//! The defaults a bare `sluice-ingest` run uses: which tree, and which store.

use std::path::{Path, PathBuf};

/// The default store: `<cache dir>/sluice-ingest` (e.g. `~/.cache/sluice-ingest`), else
/// `sluice-ingest-store` beside this program (inside the target directory).
pub fn store_dir() -> Result<PathBuf, String> {
    if let Some(cache) = dirs::cache_dir() {
        return Ok(cache.join("sluice-ingest"));
    }
    let exe = std::env::current_exe()
        .map_err(|e| format!("no cache directory and no program path ({e}); give --store"))?;
    exe.parent()
        .map(|dir| dir.join("sluice-ingest-store"))
        .ok_or_else(|| "no cache directory; give --store".to_owned())
}

/// The directory to ingest and why: the one given; else the toolchain's library
/// sources; else the crate sources cargo downloaded to build this program (always there
/// after a build, thousands of real files); else the workspace this binary was built from.
pub fn choose_dir(given: Option<PathBuf>) -> (PathBuf, String) {
    if let Some(dir) = given {
        return (dir, "given on the command line".to_owned());
    }
    let library_missing = match rust_library_sources() {
        Ok(dir) => {
            return (
                dir,
                "default: the Rust toolchain's library sources, from `rustc --print sysroot`"
                    .to_owned(),
            );
        }
        Err(why_not) => why_not,
    };
    if let Some(registry) = cargo_registry_sources() {
        return (
            registry,
            format!("default: the crate sources cargo downloaded, since {library_missing}"),
        );
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let workspace = workspace.canonicalize().unwrap_or(workspace);
    (
        workspace,
        format!(
            "default: this workspace, since {library_missing} and no cargo registry sources were found"
        ),
    )
}

/// `$CARGO_HOME/registry/src` (or `~/.cargo/registry/src`), if it exists.
fn cargo_registry_sources() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))?;
    let sources = home.join("registry").join("src");
    sources.is_dir().then_some(sources)
}

/// `$(rustc --print sysroot)/lib/rustlib/src/rust/library`, if it exists; else why not.
fn rust_library_sources() -> Result<PathBuf, String> {
    let output = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map_err(|error| format!("`rustc --print sysroot` could not run: {error}"))?;
    if !output.status.success() {
        return Err(format!("`rustc --print sysroot` failed: {}", output.status));
    }
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let library = Path::new(&sysroot).join("lib/rustlib/src/rust/library");
    if library.is_dir() {
        Ok(library)
    } else {
        Err(format!(
            "{} does not exist (`rustup component add rust-src` installs it)",
            library.display()
        ))
    }
}
