//! An enqueuer stopped by SIGTERM cancels the batches no worker has done and closes a
//! partial snapshot that the next run completes; a worker stopped by SIGTERM in the
//! middle of a batch records the files in flight and hands the batch back; a worker
//! pointed at another store refuses the batches, and the run says so instead of
//! waiting for ever.

mod common;

use common::queue::{
    TestResult, WorkerProcess, check_same, content, database, enqueuer, json_report, make_tree,
    single_process,
};
use common::scratch;
use sluice_ingest::distributed::QUEUE;
use sluice_postgres::Queue;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The tree's 48 files in batches of 3.
const BATCHES: i64 = 16;

#[test]
fn a_stopped_enqueuer_cancels_its_batches_and_the_next_run_completes() -> TestResult {
    let dir = scratch("queue-stop")?;
    let tree = dir.join("tree");
    make_tree(&tree)?;
    let single = single_process(&dir, &tree)?;
    let url = database()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let queue = runtime.block_on(Queue::connect_with(&url, 2))?.named(QUEUE);
    let store = dir.join("shared");

    // No worker yet: the batches wait in the queue until the enqueuer is stopped.
    let waiting = enqueuer(&store, &url, &tree)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let until = Instant::now() + Duration::from_secs(60);
    while runtime.block_on(queue.status())?.count("pending") < BATCHES {
        assert!(Instant::now() < until, "the batches never came");
        std::thread::sleep(Duration::from_millis(10));
    }
    let sent = Command::new("kill")
        .args(["-TERM", &waiting.id().to_string()])
        .status()?;
    assert!(sent.success());
    let report = json_report(waiting.wait_with_output()?)?;
    assert_eq!(report["totals"]["stopped"], true, "{report}");
    assert_eq!(report["totals"]["files_read"].as_u64(), Some(0));
    let status = runtime.block_on(queue.status())?;
    assert_eq!(
        (status.count("pending"), status.count("cancelled")),
        (0, BATCHES)
    );
    assert!(
        !content(&store)?.1,
        "the stopped snapshot is marked complete"
    );

    // With workers, the next run reads every file and completes the snapshot.
    let workers = (0..2)
        .map(|_| WorkerProcess::start(&store, &url, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let report = json_report(enqueuer(&store, &url, &tree).output()?)?;
    assert_eq!(
        report["totals"]["files_read"].as_u64(),
        Some(48),
        "{report}"
    );
    check_same(&single, &store, &tree, &dir)?;
    for worker in workers {
        worker.stop()?;
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn a_worker_given_another_store_refuses_the_batches_and_the_run_says_so() -> TestResult {
    let dir = scratch("queue-foreign")?;
    let tree = dir.join("tree");
    make_tree(&tree)?;
    let url = database()?;
    let elsewhere = WorkerProcess::start(&dir.join("elsewhere"), &url, 0)?;
    let report = json_report(enqueuer(&dir.join("store"), &url, &tree).output()?)?;
    let problems = report["totals"]["problems"]
        .as_array()
        .ok_or("no problems listed")?;
    assert_eq!(problems.len(), 48, "{report}");
    let said = problems[0].to_string();
    assert!(
        said.contains("its batch failed")
            && said.contains("give the worker the enqueuer's --store"),
        "{said}"
    );
    assert_eq!(report["totals"]["stopped"], true);
    assert!(!elsewhere.stop()?.contains(" 0 failed"));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn a_worker_stopped_mid_batch_hands_it_back_to_another() -> TestResult {
    let dir = scratch("queue-worker-stop")?;
    let tree = dir.join("tree");
    make_tree(&tree)?;
    let single = single_process(&dir, &tree)?;
    let url = database()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let queue = runtime.block_on(Queue::connect_with(&url, 2))?.named(QUEUE);
    let store = dir.join("shared");
    // One slow worker holds one of the batches when it is told to stop.
    let slow = WorkerProcess::start(&store, &url, 500)?;
    let enqueuing = enqueuer(&store, &url, &tree)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let until = Instant::now() + Duration::from_secs(60);
    while runtime.block_on(queue.status())?.count("running") < 1 {
        assert!(Instant::now() < until, "the worker never took a batch");
        std::thread::sleep(Duration::from_millis(10));
    }
    let said = slow.stop()?;
    // Exactly the batch it held (it takes one at a time). The count came out 2 or 3
    // under load when it added every snooze of the worker's life (as a batch snoozed
    // while the store was locked), hand-backs fenced off after a lapsed lease, and a
    // second batch claimed after SIGTERM had closed the manager. It is now the batches
    // the queue took back because of the stop, and a worker claims nothing once its
    // manager is shutting down.
    let handed_back: u64 = said
        .split(" handed back")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert_eq!(handed_back, 1, "{said}");
    // Nothing is lost: the batch is pending again, its attempt not counted.
    let status = runtime.block_on(queue.status())?;
    assert_eq!(
        (status.count("running"), status.count("dead")),
        (0, 0),
        "{status:?}"
    );

    let fast = WorkerProcess::start(&store, &url, 0)?;
    let report = json_report(enqueuing.wait_with_output()?)?;
    assert_eq!(
        report["totals"]["files_read"].as_u64(),
        Some(48),
        "{report}"
    );
    check_same(&single, &store, &tree, &dir)?;
    fast.stop()?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
