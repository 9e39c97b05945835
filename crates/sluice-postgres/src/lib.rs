//! A durable task queue on PostgreSQL whose workers run tasks through a Sluice
//! [`ConcurrencyManager`](sluice::ConcurrencyManager).
//!
//! Producers in any process [`enqueue`](Queue::enqueue) typed tasks — JSON payloads
//! through serde, or raw bytes ([`NewTask::bytes`], received as [`Bytes`]) — (or
//! enqueue them in their own transaction, [`Queue::enqueue_many_in`]); [`Worker`]s in any
//! number of processes, on any machines, claim them in batches (`FOR UPDATE SKIP
//! LOCKED`: never two owners of one task), run each through the manager's cpu, io,
//! blocking or chunk route under its limits and policies, and write results back in
//! batches, **fenced** by attempt and lease owner: a worker that lost its lease cannot
//! complete or fail the task. Leases are extended by a heartbeat; every worker
//! rescues expired ones, and a maintenance leader (advisory lock) removes old history
//! (24 h for finished tasks, 7 days for dead ones, settable). Tasks of one key run one at a time in enqueue order
//! across all workers and across retries ([`Fifo`]). Each worker counts its tasks by
//! kind and by key (the most active keys one by one, the rest together:
//! [`WorkerMetrics`]). The schema is embedded and migrated on connect.
//!
//! # Examples
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use sluice::ConcurrencyManager;
//! use sluice_postgres::{Handler, HandlerError, NewTask, Queue, TaskInfo, Work, Worker};
//! use std::time::Duration;
//!
//! #[derive(Serialize, Deserialize)]
//! struct Ingest { path: String }
//!
//! struct IngestHandler;
//!
//! impl Handler for IngestHandler {
//!     type Payload = Ingest;
//!     fn kind(&self) -> &str { "ingest" }
//!     fn handle(&self, _task: TaskInfo, job: Ingest) -> Work {
//!         Work::blocking(move || {
//!             std::fs::metadata(&job.path).map_err(HandlerError::retry)?;
//!             Ok(())
//!         })
//!     }
//! }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let queue = Queue::connect("postgresql://app:secret@db.internal/jobs").await?;
//! let task = NewTask::new("ingest", &Ingest { path: "/data/a.csv".into() })?.key("tenant-1");
//! queue.enqueue(task).await?;
//!
//! let mgr = ConcurrencyManager::builder().build()?;
//! let worker = Worker::builder(&queue, mgr).handler(IngestHandler).build()?.start();
//! // ... on SIGTERM:
//! let report = worker.shutdown(Duration::from_secs(30)).await;
//! println!("handed back {}", report.handed_back);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod admin;
mod chain;
mod enqueue;
mod error;
#[cfg(feature = "metrics")]
mod export;
mod migrate;
mod payload;
mod produce;
mod queries;
mod queue;
mod redact;
mod status;
#[cfg(feature = "testing")]
pub mod testing;
mod worker;

pub use admin::Cancelled;
pub use enqueue::{Fifo, NewTask, TaskId};
pub use error::{Error, Result};
pub use payload::Bytes;
pub use queue::Queue;
pub use status::{AttemptError, Status, TaskHistory};
pub use worker::handler::{Handler, HandlerError, HandlerResult, TaskInfo, Work};
pub use worker::{
    KindMetrics, StopHandle, StopReport, Worker, WorkerBuilder, WorkerHandle, WorkerMetrics,
};
