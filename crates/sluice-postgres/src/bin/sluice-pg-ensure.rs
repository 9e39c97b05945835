//! `sluice-pg-ensure`: makes sure PostgreSQL's server binaries are installed (Debian's
//! `postgresql` package where none are found), so that CI's test binaries do not race
//! to install them. Prints the binary directory.

use std::process::ExitCode;

fn main() -> ExitCode {
    match sluice_postgres::testing::ensure_installed() {
        Ok(dir) => {
            #[allow(clippy::print_stdout)] // this program's answer
            {
                println!("{}", dir.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            #[allow(clippy::print_stderr)] // this program's failure
            {
                eprintln!("sluice-pg-ensure: {error}");
            }
            ExitCode::FAILURE
        }
    }
}
