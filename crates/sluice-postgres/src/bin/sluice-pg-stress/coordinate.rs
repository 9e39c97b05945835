//! The coordinator: a server, the tasks, the worker processes, the faults in turn as
//! the run progresses, the stop, and the judge.

use crate::Plan;
use crate::judge::{self, SCHEMA};
use sluice_postgres::testing::TestServer;
use sluice_postgres::{NewTask, Queue};
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error>;

/// Says what happens, on stderr (the report is on stdout).
fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "sluice-pg-stress: {text}");
}

/// The whole run; an error if any check failed.
pub async fn run(plan: Plan) -> Result<(), Error> {
    let began = Instant::now();
    let server = TestServer::start()?;
    let url = server.fresh_database().await?;
    let queue = Queue::connect_with(&url, 4).await?;
    let client = connect(&url).await?;
    // Commits reach the operating system before they are acknowledged, so the
    // immediate stop loses none of them (fsync stays off: the OS does not crash).
    client
        .batch_execute("ALTER SYSTEM SET synchronous_commit = on")
        .await?;
    client.batch_execute("SELECT pg_reload_conf()").await?;
    client.batch_execute(SCHEMA).await?;

    let (planned_dead, planned_retry) = enqueue(&queue, plan).await?;
    say(&format!(
        "{} tasks over {} keys enqueued ({planned_retry} fail once, {planned_dead} fail for good); {} workers",
        plan.tasks, plan.keys, plan.workers
    ));
    let exe = std::env::current_exe()?;
    let mut workers = Fleet(
        (0..plan.workers)
            .map(|_| {
                Command::new(&exe)
                    .args(["worker", &url, &plan.lease_ms.to_string()])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
            })
            .collect::<Result<_, _>>()?,
    );
    let workers = &mut workers.0;

    let total = plan.tasks as i64;
    wait_until(&url, total / 5, &plan, began).await?;
    say("kill -9 of worker 0");
    workers[0].kill()?;
    let _ = workers[0].wait();

    wait_until(&url, total * 7 / 20, &plan, began).await?;
    let stopped = workers[1].id().to_string();
    say("SIGSTOP of worker 1, past its lease");
    signal("-STOP", &stopped)?;
    tokio::time::sleep(Duration::from_millis(plan.lease_ms * 5 / 2)).await;
    signal("-CONT", &stopped)?;
    say("SIGCONT of worker 1");

    wait_until(&url, total * 11 / 20, &plan, began).await?;
    say("immediate restart of the server");
    server.restart()?;

    wait_until(&url, total, &plan, began).await?;
    say(&format!(
        "every task finished after {:.1} s; stopping the workers",
        began.elapsed().as_secs_f64()
    ));
    let mut refused = 0;
    for mut child in workers.drain(1..) {
        drop(child.stdin.take());
        let output = child.wait_with_output()?;
        let text = String::from_utf8_lossy(&output.stdout);
        for line in text.lines() {
            say(&format!("worker: {line}"));
            refused += field(line, "refused");
        }
    }
    let client = connect(&url).await?;
    let verdict = judge::judge(&client).await?;
    let expected_dead = planned_dead as i64;
    let mut out = std::io::stdout();
    write!(out, "{}", verdict.describe())?;
    writeln!(out, "late results refused (fenced): {refused}")?;
    if !verdict.clean(total - expected_dead, expected_dead) {
        return Err(format!(
            "violations, or counts not equal to the {} completed and {expected_dead} dead planned",
            total - expected_dead
        )
        .into());
    }
    if refused == 0 {
        say("note: the stopped worker had no late result to refuse this time");
    }
    writeln!(
        out,
        "clean: {} tasks, {:.1} s",
        plan.tasks,
        began.elapsed().as_secs_f64()
    )?;
    Ok(())
}

/// Enqueues the plan's tasks: key `n % keys`, each key's sequence in order; every
/// 20th fails once, every 20th (offset by 10) fails for good. Answers (dead, retry).
async fn enqueue(queue: &Queue, plan: Plan) -> Result<(usize, usize), Error> {
    let (mut dead, mut retry) = (0, 0);
    let mut batch = Vec::new();
    for n in 0..plan.tasks {
        let fail = match n % 20 {
            0 => "retry_once",
            10 => "dead",
            _ => "none",
        };
        match fail {
            "dead" => dead += 1,
            "retry_once" => retry += 1,
            _ => {}
        }
        let seq = n / plan.keys;
        let job = serde_json::json!({"seq": seq, "fail": fail});
        batch.push(
            NewTask::new("stress", &job)?
                .key(format!("k{}", n % plan.keys))
                .max_attempts(20),
        );
        if batch.len() == 1000 {
            queue.enqueue_many(std::mem::take(&mut batch)).await?;
        }
    }
    queue.enqueue_many(batch).await?;
    Ok((dead, retry))
}

/// Waits until at least `finished` tasks are in the history (reconnecting across the
/// restart).
async fn wait_until(url: &str, finished: i64, plan: &Plan, began: Instant) -> Result<(), Error> {
    loop {
        if began.elapsed() > Duration::from_secs(plan.give_up_s) {
            return Err(format!("gave up waiting for {finished} finished tasks").into());
        }
        if let Ok(client) = connect(url).await
            && let Ok(row) = client
                .query_one("SELECT count(*) FROM sluice_task_done", &[])
                .await
            && row.get::<_, i64>(0) >= finished
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The worker processes; any still running when the run ends early (an error) are
/// killed, so that none outlives the coordinator.
struct Fleet(Vec<Child>);

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A client on its own connection.
async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Sends `signal` (`-STOP`, `-CONT`) to process `pid`.
fn signal(signal: &str, pid: &str) -> Result<(), Error> {
    let status = Command::new("kill").args([signal, pid]).status()?;
    if !status.success() {
        return Err(format!("kill {signal} {pid} failed").into());
    }
    Ok(())
}

/// The number after `name=` in a worker's report line (0 if absent).
fn field(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .filter_map(|word| word.split_once('='))
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
}
