//! The system calls of the throwaway server: commands, users, directories, ports.

use super::server::TestServerError;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

/// `url` with its database replaced by `name`.
pub(crate) fn with_database(url: &str, name: &str) -> String {
    match url.rfind('/') {
        Some(slash) if slash > url.find("://").map_or(0, |s| s + 2) => {
            let (base, rest) = url.split_at(slash);
            let query = rest.find('?').map_or("", |q| &rest[q..]);
            format!("{base}/{name}{query}")
        }
        _ => format!("{url}/{name}"),
    }
}

/// Runs `command`, turning a failure into an error with its output.
pub(crate) fn run(command: &mut Command) -> Result<(), TestServerError> {
    let line = format!("{command:?}");
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| TestServerError::Io {
            what: format!("running {line}"),
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(TestServerError::Command {
        command: line,
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    })
}

/// Whether this process runs as root (`initdb` refuses to).
pub(crate) fn is_root() -> Result<bool, TestServerError> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|source| TestServerError::Io {
            what: "running id -u".into(),
            source,
        })?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Creates the system user `postgres` unless it exists.
pub(crate) fn ensure_postgres_user() -> Result<(), TestServerError> {
    let exists = Command::new("id")
        .arg("postgres")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if exists {
        return Ok(());
    }
    run(Command::new("useradd").args(["--system", "--no-create-home", "postgres"]))
}

/// A new directory under the system's temp dir, named by pid and time.
pub(crate) fn unique_temp_dir() -> Result<PathBuf, TestServerError> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    let dir = std::env::temp_dir().join(format!("sluice-pg-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|source| TestServerError::Io {
        what: format!("creating {}", dir.display()),
        source,
    })?;
    Ok(dir)
}

/// A port nobody listens on now (the kernel's pick for port 0).
pub(crate) fn free_port() -> Result<u16, TestServerError> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|source| TestServerError::Io {
            what: "finding a free port".into(),
            source,
        })?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|source| TestServerError::Io {
            what: "finding a free port".into(),
            source,
        })
}

/// Appends `text` to the file at `path`.
pub(crate) fn append(path: &Path, text: &str) -> Result<(), TestServerError> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|source| TestServerError::Io {
            what: format!("writing {}", path.display()),
            source,
        })
}
