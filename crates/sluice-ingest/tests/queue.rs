//! Several `sluice-ingest worker` processes over the throwaway PostgreSQL server
//! (sluice-postgres's test server; `SLUICE_TEST_DATABASE_URL` points at another)
//! ingest one tree into one store: the snapshot equals a single-process ingest of the
//! same tree, `verify` passes and a restore gives the same bytes — also when a worker
//! is killed with SIGKILL in the middle of a batch.

mod common;

use common::queue::{
    TestResult, WorkerProcess, check_same, content, database, enqueuer, json_report, make_tree,
    single_process,
};
use common::scratch;
use sluice_ingest::distributed::QUEUE;
use sluice_postgres::Queue;
use std::process::Stdio;
use std::time::{Duration, Instant};

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

    let report = json_report(enqueuer(&store, &url, &tree).output()?)?;
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

    // A copy of the tree under another root: the workers' batches find every chunk
    // already stored (they ask the catalog, loading none of it), store nothing again,
    // and still record every file.
    let copy = dir.join("copy");
    make_tree(&copy)?;
    let report = json_report(enqueuer(&store, &url, &copy).output()?)?;
    let totals = &report["totals"];
    assert_eq!(totals["files_read"].as_u64(), Some(48), "{report}");
    // 48 files, 4 directories and a link.
    assert_eq!(
        totals["write"]["files_recorded"].as_u64(),
        Some(53),
        "{report}"
    );
    assert_eq!(
        totals["compress_time"].as_f64(),
        Some(0.0),
        "nothing compressed"
    );
    assert_eq!(
        totals["write"]["chunks_stored"].as_u64(),
        Some(0),
        "{report}"
    );
    assert_eq!(totals["write"]["dead_chunks"].as_u64(), Some(0), "{report}");
    assert_eq!(content(&store)?, content(&single)?, "the copy's snapshot");

    // Every worker stops on SIGTERM and says what it did; the batches were shared.
    let mut busy = 0;
    for worker in workers {
        let said = worker.stop()?;
        assert!(said.contains("worker stopped"), "{said}");
        busy += usize::from(!said.contains(" 0 batches done"));
    }
    assert!(busy >= 2, "only {busy} worker(s) took batches");

    // An unchanged tree: nothing to read, nothing enqueued, the same snapshot.
    let report = json_report(enqueuer(&store, &url, &tree).output()?)?;
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
    // All three up and listening before the batches exist: on a loaded machine the
    // slow one could otherwise start after the fast two had taken every batch (16
    // batches of about 0.1 s each), and never hold one.
    let until = Instant::now() + Duration::from_secs(60);
    while runtime.block_on(queue.status())?.workers_alive < 3 {
        assert!(
            Instant::now() < until,
            "the three workers never all started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
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

    let report = json_report(enqueuing.wait_with_output()?)?;
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
    // (More than one only if a live worker's heartbeat came late on a loaded machine.)
    assert!(rescued >= 1, "no batch was rescued");
    for worker in fast {
        worker.stop()?;
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
