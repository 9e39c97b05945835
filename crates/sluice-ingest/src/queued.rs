//! `ingest --queue` and `worker`: the command line's side of ingesting through a
//! PostgreSQL queue — the runtime the queue's connections live on, signals, and what
//! is printed. The URL is only ever shown without its password.

use crate::cli::WorkerArgs;
use sluice::ConcurrencyManager;
use sluice::signal::SignalOptions;
use sluice_ingest::IngestOptions;
use sluice_ingest::distributed::{BatchHandler, Batching, QUEUE, ingest_via_queue};
use sluice_ingest::report::Report;
use sluice_ingest::store::Store;
use sluice_postgres::{Queue, Worker};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Connections a process keeps to the queue's database.
const POOL_SIZE: usize = 4;

/// How often a worker looks for expired leases at most.
const MAINTENANCE: Duration = Duration::from_secs(10);

/// How often a worker looks for a signal.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// The runtime the queue's connections and the worker's loops live on: its own, so
/// that a signal shutting the manager down does not close them under a running batch.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sluice-ingest-queue")
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the queue's runtime: {error}"))
}

/// Connects to the queue at `url`; the error names the URL without its password.
fn connect(runtime: &tokio::runtime::Runtime, url: &str) -> Result<Queue, String> {
    runtime
        .block_on(Queue::connect_with(url, POOL_SIZE))
        .map(|queue| queue.named(QUEUE))
        .map_err(|error| format!("cannot use the queue: {error}"))
}

/// `ingest DIR --queue URL`: enqueues the tree's files in batches, waits for the
/// workers, and answers the snapshot's report.
pub fn ingest(
    mgr: &ConcurrencyManager,
    url: &str,
    dir: &Path,
    store: &Store,
    opts: &IngestOptions,
    batching: Batching,
    stop: &Arc<AtomicBool>,
) -> Result<Report, String> {
    let runtime = runtime()?;
    let queue = connect(&runtime, url)?;
    tracing::info!(queue = %queue.url(), "enqueuing batches; `sluice-ingest worker` processes ingest them");
    let report = ingest_via_queue(
        mgr,
        runtime.handle(),
        &queue,
        dir,
        store,
        opts,
        batching,
        stop,
    )
    .map_err(|error| error.to_string());
    runtime.shutdown_timeout(Duration::from_secs(1));
    report
}

/// `worker --queue URL`: claims batches and ingests them into the store until SIGTERM
/// or SIGINT, then stops claiming, lets the batches in hand finish (files in flight
/// are recorded, the rest handed back) and prints what it did.
pub fn worker(args: &WorkerArgs, url: &str, store_dir: &Path, json: bool) -> Result<(), String> {
    if args.batches == 0 {
        return Err("--batches must be at least 1".to_owned());
    }
    if args.lease_secs == 0 {
        return Err("--lease-secs must be at least 1".to_owned());
    }
    let store = Store::open(store_dir).map_err(|e| e.to_string())?;
    let mut builder = crate::sluice_config::load()?
        .builder()
        .map_err(|e| format!("bad Sluice configuration: {e}"))?;
    if let Some(n) = args.cpu_threads {
        builder = builder.cpu_threads(n);
    }
    if let Some(n) = args.io_threads {
        builder = builder.io_threads(n);
    }
    let mgr = builder
        .build()
        .map_err(|e| format!("cannot start Sluice: {e}"))?;
    let runtime = runtime()?;
    let queue = connect(&runtime, url)?;
    let signals = mgr
        .shutdown_on_signal(SignalOptions::new().deadline(crate::SIGNAL_DEADLINE))
        .map_err(|e| format!("cannot listen for signals: {e}"))?;
    let handler =
        BatchHandler::new(store, mgr.clone()).read_hook(crate::read_delay(args.read_delay_ms));
    let lease = Duration::from_secs(args.lease_secs);
    let worker = {
        let _inside = runtime.enter();
        Worker::builder(&queue, mgr.clone())
            .handler(handler)
            .batch_size(1)
            .max_in_flight(args.batches)
            .lease(lease)
            // Expired leases (a worker that died) are looked for a few times a lease.
            .maintenance_interval((lease / 3).min(MAINTENANCE))
            .build()
            .map_err(|e| e.to_string())?
            .start()
    };
    if !json {
        crate::show::line(&format!(
            "worker {} takes batches from {} into the store {}\n",
            worker.id(),
            queue.url(),
            store_dir.display()
        ))?;
    }
    while !signals.triggered() {
        std::thread::sleep(SIGNAL_POLL);
    }
    // The counts are the stop report's: taken once every result was written (a
    // batch snoozed back at the stop is written after its handler returned). Its
    // "handed back" holds the batches the queue took back because of the stop, the
    // ones snoozed by the shutdown among them; not a batch snoozed earlier because
    // the store was locked, nor a hand-back refused because the lease had lapsed.
    let stopped = runtime.block_on(worker.shutdown(crate::SIGNAL_DEADLINE));
    let metrics = stopped.metrics.total();
    runtime.shutdown_timeout(Duration::from_secs(1));
    let line = if json {
        serde_json::json!({
            "batches_done": metrics.completed,
            "batches_failed": metrics.retried + metrics.dead,
            "handed_back": stopped.handed_back,
            "drained": stopped.drained,
        })
        .to_string()
            + "\n"
    } else {
        format!(
            "worker stopped: {} batches done, {} failed, {} handed back\n",
            metrics.completed,
            metrics.retried + metrics.dead,
            stopped.handed_back
        )
    };
    crate::show::line(&line)
}
