//! The command line, parsed by hand: every mistake names the flag and the value at fault.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

/// The usage text `--help` prints and usage errors end with.
pub const USAGE: &str = "\
Usage: sluice-ingest [DIR] [--json] [--cpu-threads N] [--io-threads N] [--chunk-threads N] [--max-file-bytes N]

Reads every file under DIR through Sluice: hashes it (BLAKE3), counts its bytes and
lines, tells text from binary, counts words over all text lines, finds duplicate files.

  DIR                 directory to ingest; default: the Rust toolchain's library sources
                      if rust-src is installed, else the workspace this binary was built from
  --json              print the report as JSON instead of text
  --cpu-threads N     threads of the CPU pool (hashing, analysis); default: all cores
  --io-threads N      worker threads of the IO runtime (reading); default: all cores
  --chunk-threads N   threads of the chunk pool (word counting); default: all cores
  --max-file-bytes N  skip files larger than N bytes; default: 8388608 (8 MiB)
  -h, --help          print this help

Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug) to see more than warnings.";

/// Files larger than this are skipped unless `--max-file-bytes` says otherwise.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Print the usage and stop.
    Help,
    /// Ingest a directory.
    Run(Options),
}

/// The settings of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The directory given, or `None` for the default.
    pub dir: Option<PathBuf>,
    /// Print JSON instead of text.
    pub json: bool,
    /// Threads of the CPU pool, when given.
    pub cpu_threads: Option<usize>,
    /// Worker threads of the IO runtime, when given.
    pub io_threads: Option<usize>,
    /// Threads of the chunk pool, when given.
    pub chunk_threads: Option<usize>,
    /// Files larger than this many bytes are skipped.
    pub max_file_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dir: None,
            json: false,
            cpu_threads: None,
            io_threads: None,
            chunk_threads: None,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// A command line that cannot be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgError {
    /// A flag this program does not know.
    UnknownFlag(String),
    /// A flag that needs a value came last.
    MissingValue(&'static str),
    /// A value that is not a whole number.
    NotANumber {
        /// The flag.
        flag: &'static str,
        /// What was given.
        value: String,
    },
    /// A thread count of zero.
    Zero(&'static str),
    /// A value given to a flag that takes none (`--json=yes`).
    UnexpectedValue {
        /// The flag.
        flag: String,
        /// What was given.
        value: String,
    },
    /// A second directory.
    ExtraArgument(String),
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::UnknownFlag(flag) => write!(f, "unknown flag {flag:?}"),
            ArgError::MissingValue(flag) => write!(f, "{flag} needs a value"),
            ArgError::NotANumber { flag, value } => {
                write!(f, "{flag} {value:?}: not a whole number")
            }
            ArgError::Zero(flag) => write!(f, "{flag} 0: must be at least 1"),
            ArgError::UnexpectedValue { flag, value } => {
                write!(f, "{flag}={value:?}: {flag} takes no value")
            }
            ArgError::ExtraArgument(arg) => {
                write!(f, "unexpected argument {arg:?}: only one DIR may be given")
            }
        }
    }
}

impl std::error::Error for ArgError {}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, ArgError> {
    let mut options = Options::default();
    let mut args = args.into_iter();
    let mut flags_done = false;
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if flags_done || !text.starts_with('-') || text == "-" {
            if options.dir.is_some() {
                return Err(ArgError::ExtraArgument(text.into_owned()));
            }
            options.dir = Some(PathBuf::from(arg));
            continue;
        }
        // `--flag=value` is accepted as well as `--flag value`.
        let (flag, inline) = match text.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (text.into_owned(), None),
        };
        let mut value = |name: &'static str| match inline.clone() {
            Some(value) => Ok(value),
            None => args
                .next()
                .map(|v| v.to_string_lossy().into_owned())
                .ok_or(ArgError::MissingValue(name)),
        };
        match flag.as_str() {
            "--" | "-h" | "--help" | "--json" if inline.is_some() => {
                return Err(ArgError::UnexpectedValue {
                    value: inline.unwrap_or_default(),
                    flag,
                });
            }
            "--" => flags_done = true,
            "-h" | "--help" => return Ok(Command::Help),
            "--json" => options.json = true,
            "--cpu-threads" => options.cpu_threads = Some(threads("--cpu-threads", value)?),
            "--io-threads" => options.io_threads = Some(threads("--io-threads", value)?),
            "--chunk-threads" => {
                options.chunk_threads = Some(threads("--chunk-threads", value)?);
            }
            "--max-file-bytes" => {
                let given = value("--max-file-bytes")?;
                options.max_file_bytes = number("--max-file-bytes", &given)?;
            }
            _ => return Err(ArgError::UnknownFlag(flag)),
        }
    }
    Ok(Command::Run(options))
}

/// A thread count: a whole number of at least one.
fn threads(
    flag: &'static str,
    mut value: impl FnMut(&'static str) -> Result<String, ArgError>,
) -> Result<usize, ArgError> {
    let given = value(flag)?;
    match number(flag, &given)? {
        0 => Err(ArgError::Zero(flag)),
        n => usize::try_from(n).map_err(|_| ArgError::NotANumber { flag, value: given }),
    }
}

/// A whole number, with `_` allowed as a separator (`8_388_608`).
fn number(flag: &'static str, value: &str) -> Result<u64, ArgError> {
    value
        .replace('_', "")
        .parse()
        .map_err(|_| ArgError::NotANumber {
            flag,
            value: value.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Command, ArgError> {
        parse(args.iter().map(OsString::from))
    }

    fn options(args: &[&str]) -> Options {
        match run(args) {
            Ok(Command::Run(options)) => options,
            other => panic!("expected options from {args:?}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_when_empty() {
        assert_eq!(options(&[]), Options::default());
        assert_eq!(Options::default().max_file_bytes, 8 * 1024 * 1024);
    }

    #[test]
    fn every_flag_and_the_dir() {
        let got = options(&[
            "some/dir",
            "--json",
            "--cpu-threads",
            "3",
            "--io-threads=2",
            "--chunk-threads",
            "5",
            "--max-file-bytes",
            "1_000",
        ]);
        assert_eq!(
            got,
            Options {
                dir: Some(PathBuf::from("some/dir")),
                json: true,
                cpu_threads: Some(3),
                io_threads: Some(2),
                chunk_threads: Some(5),
                max_file_bytes: 1000,
            }
        );
    }

    #[test]
    fn help_wins() {
        assert_eq!(run(&["--json", "--help"]), Ok(Command::Help));
        assert_eq!(run(&["-h"]), Ok(Command::Help));
    }

    #[test]
    fn double_dash_ends_flags() {
        assert_eq!(
            options(&["--", "--json"]).dir,
            Some(PathBuf::from("--json"))
        );
    }

    #[test]
    fn errors_name_flag_and_value() {
        let cases: &[(&[&str], &str)] = &[
            (&["--verbose"], "unknown flag \"--verbose\""),
            (&["--cpu-threads"], "--cpu-threads needs a value"),
            (
                &["--io-threads", "many"],
                "--io-threads \"many\": not a whole number",
            ),
            (
                &["--chunk-threads=-1"],
                "--chunk-threads \"-1\": not a whole number",
            ),
            (
                &["--cpu-threads", "0"],
                "--cpu-threads 0: must be at least 1",
            ),
            (
                &["--max-file-bytes", "8MiB"],
                "--max-file-bytes \"8MiB\": not a whole number",
            ),
            (
                &["a", "b"],
                "unexpected argument \"b\": only one DIR may be given",
            ),
            (&["--json=yes"], "--json=\"yes\": --json takes no value"),
        ];
        for (args, message) in cases {
            match run(args) {
                Err(error) => assert_eq!(error.to_string(), *message, "for {args:?}"),
                Ok(command) => panic!("{args:?} parsed as {command:?}"),
            }
        }
    }

    #[test]
    fn zero_max_file_bytes_is_allowed() {
        assert_eq!(options(&["--max-file-bytes", "0"]).max_file_bytes, 0);
    }
}
