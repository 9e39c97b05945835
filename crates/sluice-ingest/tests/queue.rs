//! Several `sluice-ingest worker` processes over the throwaway PostgreSQL server
//! (sluice-postgres's test server; `SLUICE_TEST_DATABASE_URL` points at another)
//! ingest one tree into one store: the snapshot equals a single-process ingest of the
//! same tree, `verify` passes and a restore gives the same bytes — also when a worker
//! is killed with SIGKILL in the middle of a batch.

mod common;

use common::{noise, scratch};
use sluice_ingest::commands::{restore, verify};
use sluice_ingest::distributed::QUEUE;
use sluice_ingest::store::Store;
use sluice_postgres::Queue;
use sluice_postgres::testing::TestServer;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const SMALL: [&str; 6] = [
    "--min-chunk",
    "1K",
    "--avg-chunk",
    "4K",
    "--max-chunk",
    "16K",
];

/// A database of its own on the shared throwaway server.
fn database() -> Result<String, Box<dyn std::error::Error>> {
    let server = TestServer::shared()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(server.fresh_database())?)
}

/// `sluice-ingest` on `store`.
fn program(store: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice-ingest"));
    command
        .env_remove("SLUICE_INGEST_QUEUE")
        .env("SLUICE_INGEST_STORE", store);
    command
}

/// A worker process, killed when the test ends however it ends.
struct WorkerProcess(Child);

impl WorkerProcess {
    fn start(store: &Path, url: &str, read_delay_ms: u32) -> std::io::Result<Self> {
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
    fn stop(mut self) -> Result<String, Box<dyn std::error::Error>> {
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
fn make_tree(root: &Path) -> std::io::Result<()> {
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
type Content = (Vec<String>, bool, Vec<String>);

fn content(store: &Path) -> Result<Content, Box<dyn std::error::Error>> {
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

/// Ingests `tree` into a store of its own in one process; answers the store.
fn single_process(dir: &Path, tree: &Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
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
fn enqueuer(store: &Path, url: &str, tree: &Path) -> Command {
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
fn check_same(single: &Path, store: &Path, tree: &Path, dir: &Path) -> TestResult {
    let (files, complete, chunks) = content(store)?;
    assert!(complete, "the queued snapshot is not complete");
    assert_eq!((files, complete, chunks), content(single)?);
    let opened = Store::existing(store)?;
    let checked = verify::verify(&opened)?;
    assert!(checked.ok() && checked.chunks > 0, "{checked:?}");
    let dest = dir.join("restored");
    restore::restore(&opened, 1, Path::new("."), &dest)?;
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

#[test]
fn three_worker_processes_ingest_what_one_process_does() -> TestResult {
    let dir = scratch("queue-three")?;
    let tree = dir.join("tree");
    make_tree(&tree)?;
    let single = single_process(&dir, &tree)?;
    let url = database()?;
    let store = dir.join("shared");
    let workers = (0..3)
        .map(|_| WorkerProcess::start(&store, &url, 30))
        .collect::<Result<Vec<_>, _>>()?;

    let out = enqueuer(&store, &url, &tree).output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(
        report["totals"]["files_read"].as_u64(),
        Some(48),
        "{report}"
    );
    assert_eq!(
        report["totals"]["problems"].as_array().map(Vec::len),
        Some(0)
    );
    check_same(&single, &store, &tree, &dir)?;

    // Every worker stops on SIGTERM and says what it did; the batches were shared.
    let mut busy = 0;
    for worker in workers {
        let said = worker.stop()?;
        assert!(said.contains("worker stopped"), "{said}");
        busy += usize::from(!said.contains(" 0 batches done"));
    }
    assert!(busy >= 2, "only {busy} worker(s) took batches");

    // An unchanged tree: nothing to read, nothing enqueued, the same snapshot.
    let again = enqueuer(&store, &url, &tree).output()?;
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&again.stdout)?;
    assert_eq!(report["totals"]["files_unchanged"].as_u64(), Some(48));
    assert_eq!(content(&store)?.0, content(&single)?.0);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn a_worker_killed_mid_batch_loses_nothing() -> TestResult {
    let dir = scratch("queue-kill")?;
    let tree = dir.join("tree");
    make_tree(&tree)?;
    let single = single_process(&dir, &tree)?;
    let url = database()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let queue = runtime.block_on(Queue::connect_with(&url, 2))?.named(QUEUE);
    let store = dir.join("shared");
    // The first worker reads slowly: once every worker holds a batch, it is in the
    // middle of one, with packs open, when it is killed.
    let mut slow = WorkerProcess::start(&store, &url, 400)?;
    let fast = (0..2)
        .map(|_| WorkerProcess::start(&store, &url, 30))
        .collect::<Result<Vec<_>, _>>()?;
    let enqueuing = enqueuer(&store, &url, &tree)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let until = Instant::now() + Duration::from_secs(60);
    // One batch at a time each: three running means the slow one holds one.
    while runtime.block_on(queue.status())?.count("running") < 3 {
        assert!(
            Instant::now() < until,
            "the three workers never all held a batch"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    slow.0.kill()?;
    slow.0.wait()?;

    let out = enqueuing.wait_with_output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(
        report["totals"]["files_read"].as_u64(),
        Some(48),
        "{report}"
    );
    check_same(&single, &store, &tree, &dir)?;
    // The killed worker's batch went back to the queue when its lease expired, and
    // another worker did it (task ids of a fresh database start at 1).
    let mut rescued = 0;
    for id in 1..=64 {
        if let Some(task) = runtime.block_on(queue.history(id))? {
            assert_eq!(task.state, "completed", "{task:?}");
            rescued += usize::from(task.errors.iter().any(|e| e.error == "lease expired"));
        }
    }
    assert_eq!(rescued, 1);
    for worker in fast {
        worker.stop()?;
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
