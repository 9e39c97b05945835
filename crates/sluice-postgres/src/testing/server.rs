//! Starting, sharing and stopping one throwaway server, and handing out databases.

use super::install::ensure_installed;
use super::system::{
    append, ensure_postgres_user, free_port, is_root, run, unique_temp_dir, with_database,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The variable that points tests at an existing server (a URL whose user may create
/// databases) instead of starting one.
pub const DATABASE_URL_VAR: &str = "SLUICE_TEST_DATABASE_URL";

/// Why a throwaway server could not be had.
#[derive(Debug, thiserror::Error)]
pub enum TestServerError {
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// A command ran and failed.
    #[error("`{command}` failed: {output}")]
    Command {
        /// The command line.
        command: String,
        /// What it printed on stderr (and stdout, for `pg_ctl`).
        output: String,
    },
    /// The package was installed but no server binaries were found after it.
    #[error(
        "postgresql is installed but no initdb was found (pg_config --bindir, /usr/lib/postgresql/*/bin)"
    )]
    NotInstalled,
    /// Creating a test database failed.
    #[error("creating a test database on {url}: {source}")]
    Database {
        /// The server's URL, without its password.
        url: String,
        /// The server's answer.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The server was not started by this value (it came from
    /// `SLUICE_TEST_DATABASE_URL`), so it is not this value's to restart.
    #[error("the server at SLUICE_TEST_DATABASE_URL is not ours to restart")]
    NotOurs,
    /// The shared server failed to start earlier in this process.
    #[error("the shared test server failed to start: {0}")]
    Shared(String),
}

/// A PostgreSQL server for tests: started here ([`TestServer::start`]) or an existing
/// one named by `SLUICE_TEST_DATABASE_URL`.
#[derive(Debug)]
pub struct TestServer {
    /// The URL of its `postgres` database, for administration.
    admin_url: String,
    /// The temporary directory of a server started here (data, socket, logs).
    dir: Option<PathBuf>,
    /// Where `pg_ctl` is, for stopping a server started here.
    bindir: PathBuf,
}

impl TestServer {
    /// The server shared by every test of this process, started on first use (or the
    /// one `SLUICE_TEST_DATABASE_URL` names). It stops when the process exits.
    pub fn shared() -> Result<&'static TestServer, TestServerError> {
        static SHARED: OnceLock<Result<TestServer, String>> = OnceLock::new();
        let server = SHARED.get_or_init(|| {
            let started = match std::env::var(DATABASE_URL_VAR) {
                Ok(url) if !url.is_empty() => Ok(TestServer::existing(url)),
                _ => TestServer::start().inspect(TestServer::stop_at_exit),
            };
            started.map_err(|error| error.to_string())
        });
        server
            .as_ref()
            .map_err(|error| TestServerError::Shared(error.clone()))
    }

    /// An existing server at `admin_url`; never stopped by this value.
    pub fn existing(admin_url: String) -> TestServer {
        TestServer {
            admin_url,
            dir: None,
            bindir: PathBuf::new(),
        }
    }

    /// Starts a new server in a temporary directory: `initdb` (as the unprivileged
    /// user `postgres` when running as root, created if missing), fsync off, a free
    /// port on 127.0.0.1. Stopped and removed when the value is dropped.
    pub fn start() -> Result<TestServer, TestServerError> {
        let bindir = ensure_installed()?;
        let dir = unique_temp_dir()?;
        let mut server = TestServer {
            admin_url: String::new(),
            dir: Some(dir.clone()),
            bindir,
        };
        let owner = if is_root()? {
            ensure_postgres_user()?;
            run(Command::new("chown").arg("postgres").arg(&dir))?;
            Some("postgres")
        } else {
            None
        };
        let data = dir.join("data");
        let mut initdb = server.as_owner(owner, "initdb");
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        run(&mut initdb)?;
        let port = free_port()?;
        let settings = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             fsync = off\nfull_page_writes = off\nsynchronous_commit = off\nmax_connections = 200\n",
            dir.display()
        );
        append(&data.join("postgresql.conf"), &settings)?;
        server.pg_ctl_start(&dir)?;
        server.admin_url = format!("postgresql://postgres@127.0.0.1:{port}/postgres");
        Ok(server)
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`), and
    /// starts it again: for testing that clients reconnect. Refused for a server this
    /// value did not start.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let server = sluice_postgres::testing::TestServer::start()?;
    /// server.restart()?;
    /// # Ok::<(), sluice_postgres::testing::TestServerError>(())
    /// ```
    pub fn restart(&self) -> Result<(), TestServerError> {
        let Some(dir) = &self.dir else {
            return Err(TestServerError::NotOurs);
        };
        run(Command::new("sh").args(["-c", &self.stop_command_line(dir)]))?;
        self.pg_ctl_start(dir)
    }

    /// `pg_ctl start` on the data directory in `dir`, waiting until it accepts
    /// connections.
    fn pg_ctl_start(&self, dir: &Path) -> Result<(), TestServerError> {
        let owner = self.dir_owned_by_postgres().then_some("postgres");
        let mut start = self.as_owner(owner, "pg_ctl");
        start
            .arg("-D")
            .arg(dir.join("data"))
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-w", "-t", "60", "start"]);
        run(&mut start)
    }

    /// The URL of the server's `postgres` database.
    pub fn url(&self) -> &str {
        &self.admin_url
    }

    /// Creates a new, empty database `t_<pid>_<n>` and returns its URL: each test its own.
    pub async fn fresh_database(&self) -> Result<String, TestServerError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let failed = |source| TestServerError::Database {
            url: crate::redact::redact_url(&self.admin_url),
            source,
        };
        let (client, connection) = tokio_postgres::connect(&self.admin_url, tokio_postgres::NoTls)
            .await
            .map_err(failed)?;
        let driver = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .map_err(failed)?;
        drop(client);
        let _ = driver.await;
        Ok(with_database(&self.admin_url, &name))
    }

    /// A command running `program` from the server's binaries, as `owner` if given.
    fn as_owner(&self, owner: Option<&str>, program: &str) -> Command {
        let path = self.bindir.join(program);
        match owner {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(path);
                command
            }
            None => Command::new(path),
        }
    }

    /// Spawns a detached watchdog that stops the server and removes its directory once
    /// this process has exited: the shared server is a static, never dropped.
    fn stop_at_exit(&self) {
        let Some(dir) = &self.dir else { return };
        let stop = self.stop_command_line(dir);
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            dir = dir.display(),
        );
        let spawned = Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Err(error) = spawned {
            tracing::warn!(%error, dir = %dir.display(), "sluice-postgres: no watchdog for the test server");
        }
    }

    /// The shell command that stops the server at once.
    fn stop_command_line(&self, dir: &Path) -> String {
        let pg_ctl = self.bindir.join("pg_ctl");
        let data = dir.join("data");
        let prefix = if self.dir_owned_by_postgres() {
            "runuser -u postgres -- "
        } else {
            ""
        };
        format!(
            "{prefix}'{}' -D '{}' stop -m immediate",
            pg_ctl.display(),
            data.display()
        )
    }

    /// Whether the server runs as the `postgres` user (we started it as root).
    fn dir_owned_by_postgres(&self) -> bool {
        is_root().unwrap_or(false)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        let stop = self.stop_command_line(&dir);
        let _ = Command::new("sh")
            .args(["-c", &stop])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
