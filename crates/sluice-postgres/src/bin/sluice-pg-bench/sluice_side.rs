//! The Sluice side: `workers` [`Worker`]s of one process claiming batches and running
//! a no-op on the io route through one manager; and the wake-up latency of an idle
//! worker after an enqueue.

use crate::{ENQUEUE_CHUNK, GIVE_UP, Row, key_of};
use sluice::ConcurrencyManager;
use sluice_postgres::{Handler, NewTask, Queue, TaskInfo, Work, Worker};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The no-op handler; tells `started` (if any) when each task began, and counts the
/// tasks it ran in `ran` (if any).
struct Noop(
    Option<mpsc::UnboundedSender<Instant>>,
    Option<Arc<AtomicUsize>>,
);

impl Handler for Noop {
    type Payload = serde_json::Value;

    fn kind(&self) -> &str {
        "noop"
    }

    fn handle(&self, _task: TaskInfo, _payload: serde_json::Value) -> Work {
        if let Some(started) = &self.0 {
            let _ = started.send(Instant::now());
        }
        let ran = self.1.clone();
        Work::io(async move {
            if let Some(ran) = ran {
                ran.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
    }
}

/// A manager for the bench's workers.
fn manager() -> Result<ConcurrencyManager, Box<dyn std::error::Error>> {
    Ok(ConcurrencyManager::builder()
        .cpu_threads(1)
        .io_threads(2)
        .build()?)
}

/// Runs `row` on queue `queue`, the workers' loops on the manager's io runtime if
/// `on_manager` (else on this one); answers the time from the first enqueue to the last
/// completion.
pub async fn run(
    url: &str,
    queue: &str,
    row: Row,
    on_manager: bool,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let queue = Queue::connect_with(url, row.workers * 2 + 2)
        .await?
        .named(queue);
    open_pool(&queue, row.workers * 2 + 2).await?;
    let mgr = manager()?;
    let ran = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..row.workers {
        let worker = Worker::builder(&queue, mgr.clone())
            .handler(Noop(None, Some(ran.clone())))
            .batch_size(row.batch)
            .max_in_flight(row.batch * 2)
            .build()?;
        let worker = if on_manager {
            // Its loops on the manager's io runtime, beside the tasks they submit.
            mgr.io_handle().spawn(async move { worker.start() }).await?
        } else {
            worker.start()
        };
        workers.push(worker);
    }
    // The workers' own start (the listener's connection, the first claim) before the
    // clock too, as the raw claimers' connections are.
    tokio::time::sleep(WORKERS_START).await;
    let began = Instant::now();
    let mut n = 0;
    while n < row.tasks {
        let end = row.tasks.min(n + ENQUEUE_CHUNK);
        let tasks = (n..end)
            .map(|i| {
                let task = NewTask::new("noop", &())?;
                Ok(match key_of(i, row.keys) {
                    Some(key) => task.key(key),
                    None => task,
                })
            })
            .collect::<Result<Vec<_>, sluice_postgres::Error>>()?;
        queue.enqueue_many(tasks).await?;
        n = end;
    }
    // The clock stops when the last result is written, as the workers' counts say;
    // they are read only once every task has run, because a snapshot of the counts
    // (every tracked key's run times) every half millisecond would cost the workers'
    // process more than the raw loops' counter costs theirs.
    while ran.load(Ordering::Relaxed) < row.tasks {
        if began.elapsed() > GIVE_UP {
            return Err("the Sluice workers gave up waiting for their tasks".into());
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    loop {
        let completed: u64 = workers.iter().map(|w| w.metrics().total().completed).sum();
        if completed >= row.tasks as u64 {
            break;
        }
        if began.elapsed() > GIVE_UP {
            return Err("the Sluice workers gave up waiting for their tasks".into());
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let took = began.elapsed();
    for worker in workers {
        worker.shutdown(Duration::from_secs(10)).await;
    }
    Ok(took)
}

/// How long the workers are given to start before the clock starts.
const WORKERS_START: Duration = Duration::from_millis(50);

/// Opens `connections` of `queue`'s pool before the clock, as the raw loop connects
/// its claimers before it: the pool opens connections as they are first asked for,
/// and a backend's start (a fork, its caches filled) would otherwise be timed on the
/// Sluice side alone. Holding that many at once opens them all: each a look-up of a
/// task that does not exist (two primary-key probes; `status()` would count the
/// history, which grows with every row of the run).
async fn open_pool(queue: &Queue, connections: usize) -> Result<(), sluice_postgres::Error> {
    let reads: Vec<_> = (0..connections).map(|_| queue.history(0)).collect();
    futures_util::future::try_join_all(reads).await?;
    Ok(())
}

/// Wake-up latency of an idle worker: from the start of each enqueue (a one-task
/// transaction) to the handler's start, `samples` times, the worker idle in between.
pub async fn wake_ups(
    url: &str,
    samples: usize,
) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    let queue = Queue::connect_with(url, 4).await?.named("bench_wake");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let worker = Worker::builder(&queue, manager()?)
        .handler(Noop(Some(tx), None))
        .batch_size(1)
        .build()?
        .start();
    let mut latencies = Vec::new();
    // Let the worker reach its idle wait first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..samples {
        let sent = Instant::now();
        queue.enqueue(NewTask::new("noop", &())?).await?;
        let started = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await?
            .ok_or("the worker stopped")?;
        latencies.push(started.saturating_duration_since(sent));
        // Idle again, past the settle of the last one.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worker.shutdown(Duration::from_secs(10)).await;
    Ok(latencies)
}
