//! A producer and a worker against a real PostgreSQL server:
//!
//! ```sh
//! cargo run -p sluice-postgres --example worker -- postgresql://user:password@host/db
//! ```
//!
//! Without a URL it starts a throwaway server (needs the `testing` feature:
//! `cargo run -p sluice-postgres --features testing --example worker`). It enqueues
//! 1,000 tasks over 20 keys, runs one worker until they are done, and prints the
//! queue's status and the worker's metrics. Run it in several terminals against one
//! database to see several workers share the queue.
#![allow(clippy::print_stdout)]

use serde::{Deserialize, Serialize};
use sluice::ConcurrencyManager;
use sluice_postgres::{Handler, HandlerError, NewTask, Queue, TaskInfo, Work, Worker};
use std::time::Duration;

/// One line to checksum.
#[derive(Serialize, Deserialize)]
struct Line {
    /// The text.
    text: String,
}

/// Checksums a line on the cpu route; every 97th task fails once and is retried.
struct Checksum;

impl Handler for Checksum {
    type Payload = Line;

    fn kind(&self) -> &str {
        "checksum"
    }

    fn handle(&self, task: TaskInfo, line: Line) -> Work {
        Work::cpu(move || {
            if task.id % 97 == 0 && task.attempt == 1 {
                return Err(HandlerError::retry(
                    "first attempts of every 97th task fail",
                ));
            }
            let sum = line
                .text
                .bytes()
                .fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(b));
            std::hint::black_box(sum);
            Ok(())
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = match std::env::args().nth(1) {
        Some(url) => url,
        None => throwaway_database().await?,
    };
    let queue = Queue::connect(&url).await?.named("example");
    let tasks = (0..1000)
        .map(|n| {
            NewTask::new(
                "checksum",
                &Line {
                    text: format!("line {n}"),
                },
            )
            .map(|task| task.key(format!("file-{}", n % 20)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    queue.enqueue_many(tasks).await?;

    let mgr = ConcurrencyManager::builder().build()?;
    let worker = Worker::builder(&queue, mgr)
        .handler(Checksum)
        .batch_size(50)
        .backoff(sluice::retry::Backoff::exponential(Duration::from_millis(
            10,
        )))
        .build()?
        .start();
    loop {
        let status = queue.status().await?;
        if status.count("pending") + status.count("running") == 0 {
            println!("{status:#?}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let metrics = worker.metrics();
    let report = worker.shutdown(Duration::from_secs(10)).await;
    println!("{metrics:#?}\n{report:?}");
    Ok(())
}

/// A database on a throwaway server (feature `testing`).
#[cfg(feature = "testing")]
async fn throwaway_database() -> Result<String, Box<dyn std::error::Error>> {
    let server = sluice_postgres::testing::TestServer::shared()?;
    Ok(server.fresh_database().await?)
}

/// Without the `testing` feature a URL is needed.
#[cfg(not(feature = "testing"))]
async fn throwaway_database() -> Result<String, Box<dyn std::error::Error>> {
    Err("give a database URL, or build with --features testing for a throwaway server".into())
}
