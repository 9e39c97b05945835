//! The programs `cargo xtask bench ingest` runs besides sluice-ingest: restic, borg,
//! b3sum and zstd (Debian packages, installed when missing, saying so), and GNU time
//! for their peak RSS; and running a command timed, with its peak RSS.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The programs needed, and the Debian package of each.
const NEEDED: [(&str, &str); 5] = [
    ("restic", "restic"),
    ("borg", "borgbackup"),
    ("b3sum", "b3sum"),
    ("zstd", "zstd"),
    ("/usr/bin/time", "time"),
];

/// Installs with `apt-get install -y` the packages whose programs are missing.
pub fn install() -> Result<(), String> {
    let missing: Vec<&str> = NEEDED
        .iter()
        .filter(|(program, _)| !found(program))
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!(
        "xtask: installing {} from Debian (apt-get install -y)",
        missing.join(" ")
    );
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            // stdout is the section the bench prints; apt's chatter goes to stderr.
            .stdout(std::io::stderr())
            .status()
            .is_ok_and(|status| status.success())
    };
    let mut install = vec!["install", "-y", "-q"];
    install.extend(&missing);
    // A fresh machine may have no package lists yet: update once, then try again.
    let installed = apt(&install) || (apt(&["update", "-q"]) && apt(&install));
    if !installed {
        return Err(format!(
            "could not install {} with apt-get (install them by hand, or run as root)",
            missing.join(" ")
        ));
    }
    match NEEDED.iter().find(|(program, _)| !found(program)) {
        Some((program, package)) => {
            Err(format!("{package} is installed but {program} is not found"))
        }
        None => Ok(()),
    }
}

fn found(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// What one timed command did.
pub struct Timed {
    /// Wall time.
    pub wall: Duration,
    /// Peak resident set, in KiB.
    pub rss_kib: u64,
    /// What it wrote to stdout.
    pub stdout: String,
}

/// Runs `command` under GNU time for its peak RSS; a failure is an error carrying the
/// end of its stderr. `what` names it in that error.
pub fn timed(what: &str, command: &Command, scratch: &Path) -> Result<Timed, String> {
    let rss_file = scratch.join("rss.txt");
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    let began = Instant::now();
    let output = wrapped
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    let wall = began.elapsed();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "{what} failed ({}):\n{}",
            output.status,
            tail.join("\n")
        ));
    }
    let rss = std::fs::read_to_string(&rss_file).unwrap_or_default();
    let rss_kib = rss
        .lines()
        .rev()
        .find_map(|line| line.trim().parse().ok())
        .ok_or_else(|| format!("{what}: GNU time reported no peak RSS ({rss:?})"))?;
    Ok(Timed {
        wall,
        rss_kib,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
    })
}

/// The first number following `"key":` in `json` (enough for the few flat fields read
/// from restic's, borg's and sluice-ingest's JSON, without a parser).
pub fn json_number(json: &str, key: &str) -> Option<u64> {
    let quoted = format!("\"{key}\"");
    let at = json.find(&quoted)? + quoted.len();
    let rest = json[at..].trim_start().strip_prefix(':')?.trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::json_number;

    #[test]
    fn reads_numbers_from_the_tools_json() {
        let borg =
            r#"{"cache": {"stats": {"total_size": 10, "unique_size": 1234, "unique_csize": 99}}}"#;
        assert_eq!(json_number(borg, "unique_size"), Some(1234));
        let restic = r#"{"total_size":500,"total_uncompressed_size":777,"compression_ratio":1.5}"#;
        assert_eq!(json_number(restic, "total_uncompressed_size"), Some(777));
        assert_eq!(json_number(restic, "missing"), None);
    }
}
