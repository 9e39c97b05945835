//! Finding PostgreSQL's server binaries, and installing them where none are found.

use super::server::TestServerError;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where concurrent installers wait for each other: two `apt-get`s at once fail on
/// dpkg's own lock instead of waiting.
const INSTALL_LOCK: &str = "/tmp/sluice-postgres-install.lock";

/// The directory holding `initdb`, `pg_ctl` and `postgres`, if they are installed:
/// `pg_config --bindir` first, then the newest `/usr/lib/postgresql/*/bin`.
///
/// # Examples
///
/// ```no_run
/// if let Some(bin) = sluice_postgres::testing::find_bindir() {
///     assert!(bin.join("initdb").exists());
/// }
/// ```
pub fn find_bindir() -> Option<PathBuf> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    if let Some(dir) = from_pg_config.filter(|dir| has_server(dir)) {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_server(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

/// Whether `dir` holds the programs a throwaway server needs.
fn has_server(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|name| dir.join(name).is_file())
}

/// The server's binary directory, installing Debian's `postgresql` package first when
/// none is found (said on stderr: it takes about 20 s). Concurrent callers, in this
/// process or others, wait for one installer.
///
/// # Examples
///
/// ```no_run
/// let bin = sluice_postgres::testing::ensure_installed()?;
/// assert!(bin.join("pg_ctl").exists());
/// # Ok::<(), sluice_postgres::testing::TestServerError>(())
/// ```
pub fn ensure_installed() -> Result<PathBuf, TestServerError> {
    if let Some(dir) = find_bindir() {
        return Ok(dir);
    }
    let lock = File::create(INSTALL_LOCK).map_err(|source| TestServerError::Io {
        what: format!("creating {INSTALL_LOCK}"),
        source,
    })?;
    lock.lock().map_err(|source| TestServerError::Io {
        what: format!("locking {INSTALL_LOCK}"),
        source,
    })?;
    // Another installer may have finished while this one waited.
    if let Some(dir) = find_bindir() {
        return Ok(dir);
    }
    // Said on stderr, not only in a log: it tells why the first test takes 20 s more.
    let _ = writeln!(
        std::io::stderr(),
        "sluice-postgres: no PostgreSQL server found; installing Debian's postgresql package"
    );
    run_apt(&["update"])?;
    run_apt(&["install", "-y", "--no-install-recommends", "postgresql"])?;
    find_bindir().ok_or(TestServerError::NotInstalled)
}

/// Runs `apt-get` with `args`, non-interactively.
fn run_apt(args: &[&str]) -> Result<(), TestServerError> {
    let out = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .map_err(|source| TestServerError::Io {
            what: "running apt-get".into(),
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(TestServerError::Command {
            command: format!("apt-get {}", args.join(" ")),
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}
