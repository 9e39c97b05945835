//! Runs the built binary on a directory made for the test and checks its JSON report,
//! and its exit codes on bad command lines.

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> std::io::Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "sluice-ingest-{tag}-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }

    fn write(&self, name: &str, contents: &[u8]) -> std::io::Result<()> {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(path, contents)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn ingest(args: &[&str]) -> std::io::Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_sluice-ingest"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
}

fn path_arg(dir: &Path) -> Result<&str, Box<dyn std::error::Error>> {
    dir.to_str().ok_or_else(|| "temp dir is not UTF-8".into())
}

#[test]
fn json_report_counts_files_duplicates_and_lines() -> TestResult {
    let dir = TempDir::new("json")?;
    let hello = b"Hello world\nhello Sluice\n";
    dir.write("a.txt", hello)?; // 2 lines
    dir.write("sub/copy-of-a.txt", hello)?; // 2 lines, duplicate of a.txt
    dir.write("sub/deeper/c.rs", b"fn main() {}\n// one two three")?; // 2 lines
    dir.write(
        "image.bin",
        &[0x89, b'P', b'N', b'G', 0, 0, 0xff, b'\n', 0xfe],
    )?; // binary
    dir.write("empty.txt", b"")?; // text, 0 lines, not a duplicate of anything
    dir.write("big.txt", &[b'x'; 5000])?; // over --max-file-bytes
    dir.write("target/debug/ignored.txt", b"ignored ignored\n")?;
    dir.write(".git/HEAD", b"ref: refs/heads/main\n")?;
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.0.join("a.txt"), dir.0.join("link.txt"))?;

    let out = ingest(&[path_arg(&dir.0)?, "--json", "--max-file-bytes", "4096"])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout)?;

    assert_eq!(report["files"], 5);
    assert_eq!(report["text_files"], 4);
    assert_eq!(report["lines"], 6);
    assert_eq!(
        report["bytes"],
        2 * hello.len() + "fn main() {}\n// one two three".len() + 9
    );
    assert_eq!(report["duplicates"]["groups"], 1);
    assert_eq!(report["duplicates"]["files"], 2);
    assert_eq!(report["duplicates"]["bytes_wasted"], hello.len());
    assert_eq!(
        report["duplicates"]["largest"][0]["paths"],
        serde_json::json!(["a.txt", "sub/copy-of-a.txt"])
    );
    assert_eq!(report["skipped"]["too_large"], 1);
    assert_eq!(report["skipped"]["dirs"], 2);
    #[cfg(unix)]
    assert_eq!(report["skipped"]["symlinks"], 1);
    assert_eq!(report["read_errors"], 0);
    assert_eq!(report["walk_errors"], 0);
    // hello x4, world x2, sluice x2, fn, main, one, two, three.
    assert_eq!(report["distinct_words"], 8);
    assert_eq!(report["top_words"][0]["word"], "hello");
    assert_eq!(report["top_words"][0]["count"], 4);
    assert_eq!(report["directory_source"], "given on the command line");

    let totals = &report["sluice"]["totals"];
    assert_eq!(totals["submitted"], totals["succeeded"]);
    assert_eq!(totals["failed"], 0);
    assert_eq!(report["sluice"]["shutdown_drained"], true);
    Ok(())
}

#[test]
fn text_report_names_the_directory() -> TestResult {
    let dir = TempDir::new("text")?;
    dir.write("one.txt", b"just one line\n")?;
    let out = ingest(&[path_arg(&dir.0)?])?;
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout)?;
    assert!(text.contains(path_arg(&dir.0)?), "{text}");
    assert!(text.contains("1 read"), "{text}");
    assert!(text.contains("MB/s"), "{text}");
    Ok(())
}

#[test]
fn bad_command_lines_exit_2_naming_the_flag() -> TestResult {
    let cases: &[(&[&str], &str)] = &[
        (&["--frobnicate"], "--frobnicate"),
        (&["--cpu-threads", "0"], "--cpu-threads 0"),
        (&["--io-threads", "lots"], "\"lots\""),
        (&["--chunk-threads"], "--chunk-threads needs a value"),
    ];
    for (args, expected) in cases {
        let out = ingest(args)?;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr)?;
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    Ok(())
}

#[test]
fn help_and_missing_dir() -> TestResult {
    let help = ingest(&["--help"])?;
    assert!(help.status.success());
    assert!(String::from_utf8(help.stdout)?.starts_with("Usage: sluice-ingest"));

    let missing = ingest(&["/no/such/dir/for/sluice-ingest", "--json"])?;
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8(missing.stderr)?.contains("cannot walk"));
    Ok(())
}
