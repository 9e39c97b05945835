//! `sluice-pg-ensure`: makes sure PostgreSQL's server binaries are installed (Debian's
//! `postgresql` package where none are found), so that CI's test binaries do not race
//! to install them. Prints the binary directory.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    match sluice_postgres::testing::ensure_installed() {
        Ok(dir) => {
            let _ = writeln!(std::io::stdout(), "{}", dir.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "sluice-pg-ensure: {error}");
            ExitCode::FAILURE
        }
    }
}
