//! A throwaway PostgreSQL server for tests (feature `testing`).
//!
//! [`TestServer::shared`] starts one server per test binary the first time a test asks
//! for it — finding the server's binaries, installing Debian's `postgresql` package
//! where none are found — and every test takes its own database from it with
//! [`TestServer::fresh_database`]. The server listens on a free port of 127.0.0.1 and
//! a socket in its temporary directory; it is stopped and the directory removed when
//! the test process ends, also when a test failed (a detached watchdog does it, since
//! a static is never dropped). `SLUICE_TEST_DATABASE_URL` points the tests at an
//! existing server instead.
//!
//! # Examples
//!
//! ```no_run
//! use sluice_postgres::testing::TestServer;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let server = TestServer::shared()?;
//! let url = server.fresh_database().await?;
//! let queue = sluice_postgres::Queue::connect(&url).await?;
//! # drop(queue);
//! # Ok(())
//! # }
//! ```

mod install;
mod server;
mod system;

pub use install::{ensure_installed, find_bindir};
pub use server::{DATABASE_URL_VAR, TestServer, TestServerError};

/// The statements the queue runs (`queries.rs`), for benchmarks and stress judges
/// that drive the same protocol without the worker, to compare against it.
pub mod sql {
    pub use crate::queries::{
        CLAIM, ENQUEUE, LINK_CHAINS, LOCK_CHAINS, LOCK_LIVE_CHAINS, NOTIFY, RESERVE_IDS, SETTLE,
    };
}
