//! Shared by the test binaries: a fresh database on the throwaway server, a handler
//! made of a closure, quick worker settings, and waiting for a condition.
#![allow(dead_code)] // each test binary uses a part

use serde::de::DeserializeOwned;
use sluice::ConcurrencyManager;
use sluice::retry::Backoff;
use sluice_postgres::testing::TestServer;
use sluice_postgres::{
    Handler, HandlerError, Queue, Status, TaskInfo, Work, Worker, WorkerBuilder,
};
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// A queue in a database of its own.
pub async fn queue() -> Queue {
    let server = TestServer::shared().expect("a throwaway PostgreSQL server");
    let url = server.fresh_database().await.expect("a fresh database");
    Queue::connect_with(&url, 8)
        .await
        .expect("connecting to the test database")
}

/// A small manager for one worker.
pub fn manager() -> ConcurrencyManager {
    ConcurrencyManager::builder()
        .cpu_threads(2)
        .io_threads(2)
        .build()
        .expect("a manager")
}

/// A worker builder with settings that keep tests short: a quick poll, retries after
/// a few milliseconds, maintenance every 100 ms.
pub fn worker(queue: &Queue) -> WorkerBuilder {
    Worker::builder(queue, manager())
        .poll_interval(Duration::from_millis(50))
        .backoff(
            Backoff::exponential(Duration::from_millis(5)).max_delay(Duration::from_millis(20)),
        )
        .maintenance_interval(Duration::from_millis(100))
}

/// A handler made of a closure.
pub struct FnHandler<P, F> {
    kind: &'static str,
    work: F,
    payload: PhantomData<fn() -> P>,
}

/// A handler of `kind` whose work `work` makes.
pub fn handler<P, F>(kind: &'static str, work: F) -> FnHandler<P, F>
where
    P: DeserializeOwned + Send + 'static,
    F: Fn(TaskInfo, P) -> Work + Send + Sync + 'static,
{
    FnHandler {
        kind,
        work,
        payload: PhantomData,
    }
}

impl<P, F> Handler for FnHandler<P, F>
where
    P: DeserializeOwned + Send + 'static,
    F: Fn(TaskInfo, P) -> Work + Send + Sync + 'static,
{
    type Payload = P;

    fn kind(&self) -> &str {
        self.kind
    }

    fn handle(&self, task: TaskInfo, payload: P) -> Work {
        (self.work)(task, payload)
    }
}

/// A handler of `kind` over `u32` payloads: a task whose payload `held` picks waits
/// for the returned gate (closed at first; `add_permits` opens it one task at a time)
/// before it answers `answer(payload)`; the others answer at once.
pub fn gated<H, A>(kind: &'static str, held: H, answer: A) -> (Arc<Semaphore>, impl Handler)
where
    H: Fn(u32) -> bool + Send + Sync + 'static,
    A: Fn(u32) -> Result<(), HandlerError> + Send + Sync + 'static,
{
    let gate = Arc::new(Semaphore::new(0));
    let gate_in = gate.clone();
    let answer = Arc::new(answer);
    let work = handler(kind, move |_task, n: u32| {
        let gate = held(n).then(|| gate_in.clone());
        let answer = answer.clone();
        Work::io(async move {
            if let Some(gate) = gate {
                let _open = gate.acquire().await;
            }
            answer(n)
        })
    });
    (gate, work)
}

/// Waits until `done` holds for the queue's status; fails the test after a minute
/// (a hang, not a timing claim).
pub async fn wait_for_status(queue: &Queue, what: &str, done: impl Fn(&Status) -> bool) -> Status {
    wait_for(what, || async {
        // An error is "not yet": right after a server restart, a pooled connection
        // may be found closed once before the pool replaces it.
        let status = queue.status().await.ok()?;
        done(&status).then_some(status)
    })
    .await
}

/// Waits until `probe` answers something; fails the test after a minute.
pub async fn wait_for<T, Fut: Future<Output = Option<T>>>(
    what: &str,
    probe: impl Fn() -> Fut,
) -> T {
    for _ in 0..3000 {
        if let Some(value) = probe().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("gave up waiting for {what}");
}

/// Runs `sql` on the queue's database (to simulate what a test cannot cause otherwise).
pub async fn sql(queue: &Queue, sql: &str) -> u64 {
    let (client, connection) = tokio_postgres::connect(&database_url(queue), tokio_postgres::NoTls)
        .await
        .expect("a direct connection");
    tokio::spawn(connection);
    client
        .execute(sql, &[])
        .await
        .expect("the test's statement")
}

/// The queue's database URL (the test server has no password).
fn database_url(queue: &Queue) -> String {
    queue.url().to_owned()
}
