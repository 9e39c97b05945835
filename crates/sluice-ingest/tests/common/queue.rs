//! The queue tests' side: a database on the throwaway PostgreSQL server, worker and
//! enqueuer processes, the generated tree, and the comparison with a single-process
//! ingest.

use super::noise;
use sluice_ingest::commands::{restore, verify};
use sluice_ingest::store::Store;
use sluice_postgres::testing::TestServer;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub const SMALL: [&str; 6] = [
    "--min-chunk",
    "1K",
    "--avg-chunk",
    "4K",
    "--max-chunk",
    "16K",
];

/// A database of its own on the shared throwaway server.
pub fn database() -> Result<String, Box<dyn std::error::Error>> {
    let server = TestServer::shared()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(server.fresh_database())?)
}

/// `sluice-ingest` on `store`.
pub fn program(store: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice-ingest"));
    command
        .env_remove("SLUICE_INGEST_QUEUE")
        .env("SLUICE_INGEST_STORE", store);
    command
}

/// A worker process, killed when the test ends however it ends.
pub struct WorkerProcess(pub Child);

impl WorkerProcess {
    pub fn start(store: &Path, url: &str, read_delay_ms: u32) -> std::io::Result<Self> {
        program(store)
            .env("SLUICE_INGEST_QUEUE", url)
            .args(["worker", "--lease-secs", "2", "--cpu-threads", "1"])
            .args(["--io-threads", "1", "--read-delay-ms"])
            .arg(read_delay_ms.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map(Self)
    }

    /// SIGTERM, then what it printed; it must end on its own, successfully.
    pub fn stop(mut self) -> Result<String, Box<dyn std::error::Error>> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()?;
        assert!(sent.success());
        let until = Instant::now() + Duration::from_secs(60);
        while self.0.try_wait()?.is_none() {
            assert!(Instant::now() < until, "a worker ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
        let Output {
            status,
            stdout,
            stderr,
        } = replace_child(&mut self.0).wait_with_output()?;
        assert!(status.success(), "{}", String::from_utf8_lossy(&stderr));
        Ok(String::from_utf8(stdout)?)
    }
}

/// Takes the child out of `slot`, leaving an exited stand-in for the drop.
fn replace_child(slot: &mut Child) -> Child {
    let stand_in = Command::new("true").spawn().expect("`true` runs");
    std::mem::replace(slot, stand_in)
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A tree of 48 files in 4 directories: noise of many sizes, exact duplicates
/// and copies shifted by a byte, so that workers meet the same chunks at once.
pub fn make_tree(root: &Path) -> std::io::Result<()> {
    for n in 0..48u32 {
        let dir = root.join(format!("d{}", n % 4));
        std::fs::create_dir_all(&dir)?;
        let mut bytes = noise(2_000 + (n as usize % 7) * 9_000, n / 3);
        if n % 3 == 2 {
            bytes.insert(0, b'!');
        }
        std::fs::write(dir.join(format!("f{n:02}.bin")), bytes)?;
    }
    std::os::unix::fs::symlink("d0/f00.bin", root.join("link"))
}

/// The latest snapshot: each entry's path, kind, size and chunk list; whether it is
/// complete; and the set of chunk hashes in the store.
pub type Content = (Vec<String>, bool, Vec<String>);

pub fn content(store: &Path) -> Result<Content, Box<dyn std::error::Error>> {
    let store = Store::existing(store)?;
    let catalog = store.catalog()?;
    let latest = catalog.snapshots()?.pop().ok_or("no snapshot")?;
    let mut files: Vec<String> = catalog
        .files(latest.id, Path::new(""))?
        .into_iter()
        .map(|f| {
            format!(
                "{} {:?} {} {:?}",
                f.path.display(),
                f.kind,
                f.stat.size,
                f.chunks
            )
        })
        .collect();
    files.sort();
    let mut chunks: Vec<String> = catalog
        .chunks()?
        .iter()
        .map(|c| format!("{:?}", c.hash))
        .collect();
    chunks.sort();
    Ok((files, latest.complete, chunks))
}

/// The JSON report of a run that must have succeeded (its stderr shown if not).
pub fn json_report(out: Output) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Ingests `tree` into a store of its own in one process; answers the store.
pub fn single_process(dir: &Path, tree: &Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let store = dir.join("single");
    let out = program(&store)
        .arg("ingest")
        .arg(tree)
        .arg("--json")
        .args(SMALL)
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(store)
}

/// `ingest --queue` of `tree` into `store`, in small batches.
pub fn enqueuer(store: &Path, url: &str, tree: &Path) -> Command {
    let mut command = program(store);
    command
        .env("SLUICE_INGEST_QUEUE", url)
        .arg("ingest")
        .arg(tree)
        .args(["--json", "--batch-files", "3"])
        .args(SMALL)
        .stdin(Stdio::null());
    command
}

/// The distributed store equals the single-process one, verifies, and restores the
/// tree byte for byte.
pub fn check_same(single: &Path, store: &Path, tree: &Path, dir: &Path) -> TestResult {
    let (files, complete, chunks) = content(store)?;
    assert!(complete, "the queued snapshot is not complete");
    assert_eq!((files, complete, chunks), content(single)?);
    let opened = Store::existing(store)?;
    let checked = verify::verify(&opened)?;
    assert!(checked.ok() && checked.chunks > 0, "{checked:?}");
    let dest = dir.join("restored");
    let latest = opened
        .catalog()?
        .snapshots()?
        .pop()
        .ok_or("no snapshot")?
        .id;
    restore::restore(&opened, latest, Path::new("."), &dest)?;
    for n in 0..48u32 {
        let path = format!("d{}/f{n:02}.bin", n % 4);
        assert_eq!(
            std::fs::read(dest.join(&path))?,
            std::fs::read(tree.join(&path))?,
            "{path}"
        );
    }
    Ok(())
}
